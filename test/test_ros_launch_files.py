"""Static checks of launch files, parameter files and the RViz layout (the launch stack is not needed).

With the ROS 2 launch stack installed, the launch descriptions are also built for real.
"""
from __future__ import annotations

import ast
import importlib
import importlib.metadata
from pathlib import Path

import pytest
import yaml

from vsync_ros.ros.replay_node import PARAMETERS as REPLAY_PARAMETERS
from vsync_ros.ros.sync_node import PARAMETERS as SYNC_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch'


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def _kw(call: ast.Call, key: str):
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _console_scripts() -> dict[str, str]:
    """Console scripts of the installed distribution: name -> 'module:function'."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group='console_scripts')
            if ep.dist is not None and ep.dist.name == 'vsync_ros'}


def _string_tuples(tree: ast.AST) -> set[tuple[str, ...]]:
    """Consecutive string pairs in call arguments and list literals, e.g. ('config', 'counting.yaml') of a path join."""
    out = set()
    for node in ast.walk(tree):
        items = node.args if isinstance(node, ast.Call) else node.elts if isinstance(node, ast.List) else []
        strings = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in items]
        out.update((a, b) for a, b in zip(strings, strings[1:]) if a is not None and b is not None)
    return out


@pytest.mark.parametrize('name', ['counting.launch.py', 'replay.launch.py', 'pose.launch.py'])
def test_launch_file_nodes_use_declared_executables(name):
    tree = ast.parse((LAUNCH / name).read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description' for n in tree.body)
    scripts = _console_scripts()
    for call in _calls(tree, 'Node'):
        pkg, exe = (getattr(_kw(call, k), 'value', None) for k in ('package', 'executable'))
        if pkg == 'vsync_ros':
            assert exe in scripts, f'{exe} is not a console script of the installed package'
            module, func = scripts[exe].split(':')
            assert callable(getattr(importlib.import_module(module), func))


def test_counting_launch_arguments_and_conditions():
    tree = ast.parse((LAUNCH / 'counting.launch.py').read_text())
    declared = {c.args[0].value for c in _calls(tree, 'DeclareLaunchArgument')}
    assert {'params_file', 'use_replay', 'use_rviz', 'rviz_config', 'checkpoint', 'device', 'use_sim_time',
            'namespace', 'log_level'} <= declared
    used = {c.args[0].value for c in _calls(tree, 'LaunchConfiguration')}
    assert used <= declared, f'LaunchConfiguration of undeclared arguments: {used - declared}'
    assert len(_calls(tree, 'IfCondition')) == 2  # replay and RViz are optional
    assert {('config', 'counting.yaml'), ('rviz', 'vsync.rviz'), ('launch', 'replay.launch.py')} <= _string_tuples(tree)
    replay_tree = ast.parse((LAUNCH / 'replay.launch.py').read_text())
    replay_args = {c.args[0].value for c in _calls(replay_tree, 'DeclareLaunchArgument')
                   if isinstance(c.args[0], ast.Constant)} | _replay_arguments(replay_tree)
    include = _calls(tree, 'IncludeLaunchDescription')[0]
    passed = {k.value for k in _kw(include, 'launch_arguments').func.value.keys}
    assert passed <= replay_args | {'namespace', 'log_level'}


def _replay_arguments(tree: ast.AST) -> set[str]:
    args = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == 'ARGUMENTS')
    return {k.value for k in args.value.keys}


def test_replay_launch_covers_replay_parameters():
    tree = ast.parse((LAUNCH / 'replay.launch.py').read_text())
    args = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == 'ARGUMENTS')
    assert _replay_arguments(tree) <= set(REPLAY_PARAMETERS)
    for k, v in zip(args.value.keys, args.value.values):
        default, vtype = v.elts[0].value, v.elts[1].id
        expected = type(REPLAY_PARAMETERS[k.value].default).__name__
        assert vtype == expected, f'{k.value}: launch type {vtype}, parameter type {expected}'
        {'str': str, 'int': int, 'float': float, 'bool': lambda s: {'true': True, 'false': False}[s]}[vtype](default)


@pytest.mark.parametrize('name', ['counting.yaml', 'pose.yaml'])
def test_params_files_match_declared_parameters(name):
    doc = yaml.safe_load((ROOT / 'config' / name).read_text())
    params = doc['/**']['ros__parameters']
    assert set(params) <= set(SYNC_PARAMETERS), set(params) - set(SYNC_PARAMETERS)
    for key, value in params.items():
        spec = SYNC_PARAMETERS[key]
        if isinstance(spec.default, tuple):  # array parameters
            assert isinstance(value, list) and value and len({type(x) for x in value}) == 1
        else:
            assert type(value) is type(spec.default), f'{key}: {type(value).__name__} vs {type(spec.default).__name__}'
        assert not spec.check(value), spec.check(value)  # type, choices and range
    n = len(params['camera_topics'])
    assert len(params['camera_info_topics']) == n and len(params['calibration_files']) == n
    for f in params['calibration_files']:
        assert (ROOT / f).is_file(), f
    assert sorted([params['reference_view'], *params['failover_order']]) == list(range(n))


def test_rviz_layout_shows_node_outputs():
    doc = yaml.safe_load((ROOT / 'rviz' / 'vsync.rviz').read_text())
    vm = doc['Visualization Manager']
    assert vm['Global Options']['Fixed Frame'] == 'world'
    topics = {d['Topic']['Value']: d for d in vm['Displays'] if 'Topic' in d}
    assert topics['/sync_node/markers']['Topic']['Durability Policy'] == 'Transient Local'
    assert topics['/sync_node/density_color']['Class'] == 'rviz_default_plugins/Image'
    for cam in ('cam1', 'cam2', 'cam3'):
        assert topics[f'/{cam}/image_raw']['Topic']['Reliability Policy'] == 'Best Effort'


def test_launch_descriptions_build_with_the_launch_stack():
    pytest.importorskip('launch_ros', reason='the ROS 2 launch stack (launch_ros) is not installed here')
    pytest.importorskip('launch.actions', reason='the ROS 2 launch stack is not installed here')
    import importlib.util
    launch = importlib.import_module('launch')  # the real package (the repo's launch/ folder is not one)
    for name in ('counting.launch.py', 'replay.launch.py', 'pose.launch.py'):
        spec = importlib.util.spec_from_file_location(name.replace('.', '_'), LAUNCH / name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ld = mod.generate_launch_description()
        assert isinstance(ld, launch.LaunchDescription)
        assert ld.get_launch_arguments()


def test_pose_launch_is_counting_launch_with_pose_defaults():
    tree = ast.parse((LAUNCH / 'pose.launch.py').read_text())
    assert {('config', 'pose.yaml'), ('launch', 'counting.launch.py')} <= _string_tuples(tree)
    counting = ast.parse((LAUNCH / 'counting.launch.py').read_text())
    counting_args = {c.args[0].value for c in _calls(counting, 'DeclareLaunchArgument')}
    include = _calls(tree, 'IncludeLaunchDescription')[0]
    passed = {k.value for k in _kw(include, 'launch_arguments').func.value.keys}
    assert {'params_file', 'rig'} <= passed <= counting_args
    declared = {c.args[0].value for c in _calls(tree, 'DeclareLaunchArgument')}
    assert declared <= counting_args  # only defaults that differ; every other argument passes through
    assert {c.args[0].value for c in _calls(tree, 'LaunchConfiguration')} <= declared
