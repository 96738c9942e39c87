"""Static checks of launch files, parameter files and the RViz layout (the launch stack is not needed).

The launch files' own code (``generate_launch_description`` and the sync node's OpaqueFunction) also runs
here against recording stand-ins of the launch modules, with a fake launch context. With the ROS 2 launch
stack installed, the launch descriptions are built for real as well.
"""
from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from vsync_ros.ros.replay_node import PARAMETERS as REPLAY_PARAMETERS
from vsync_ros.ros.sync_node import PARAMETERS as SYNC_PARAMETERS
from vsync_ros.runtime.schedules import desync_profile, schedule

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
    for call in _calls(tree, 'Node') + _calls(tree, 'LifecycleNode'):
        pkg, exe = (getattr(_kw(call, k), 'value', None) for k in ('package', 'executable'))
        if pkg == 'vsync_ros':
            assert exe in scripts, f'{exe} is not a console script of the installed package'
            module, func = scripts[exe].split(':')
            assert callable(getattr(importlib.import_module(module), func))


def test_counting_launch_arguments_and_conditions():
    tree = ast.parse((LAUNCH / 'counting.launch.py').read_text())
    declared = {c.args[0].value for c in _calls(tree, 'DeclareLaunchArgument')}
    assert {'params_file', 'use_replay', 'use_rviz', 'rviz_config', 'checkpoint', 'device', 'autostart',
            'use_sim_time', 'namespace', 'log_level'} <= declared
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
    pytest.importorskip('ament_index_python', reason='ament_index_python is not installed here')
    launch = importlib.import_module('launch')  # the real package (the repo's launch/ folder is not one)
    from launch.actions import OpaqueFunction
    from launch.utilities import perform_substitutions
    from launch_ros.actions import LifecycleNode
    mods = {}
    for name in ('counting.launch.py', 'replay.launch.py', 'pose.launch.py'):
        spec = importlib.util.spec_from_file_location(name.replace('.', '_'), LAUNCH / name)
        mods[name] = mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ld = mod.generate_launch_description()
        assert isinstance(ld, launch.LaunchDescription)
        assert ld.get_launch_arguments()
    # the sync node: a LifecycleNode from the OpaqueFunction, evaluated in a real launch context
    ld = mods['counting.launch.py'].generate_launch_description()
    (opaque,) = [e for e in ld.entities if isinstance(e, OpaqueFunction)]
    context = launch.LaunchContext()
    context.launch_configurations.update({**COUNTING_DEFAULTS, 'checkpoint': '/m.pt'})
    (node,) = opaque.execute(context)
    assert isinstance(node, LifecycleNode)
    # what `ros2 launch vsync_ros pose.launch.py --show-args` lists (first declaration of a name wins)
    pose_args = {a.name: a for a in mods['pose.launch.py'].generate_launch_description().get_launch_arguments()}
    assert perform_substitutions(launch.LaunchContext(), pose_args['rig'].default_value) == 'studio'
    assert 'studio_pose' in pose_args['checkpoint'].description


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


# ------------------------------------------------------------------ launch files run against recording stand-ins
class _Recorded:
    """Stand-in of a launch class: records its constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f'{type(self).__name__}{self.args}{self.kwargs}'


class _LaunchConfiguration(_Recorded):
    """Stand-in of launch.substitutions.LaunchConfiguration (``perform`` as the real one)."""

    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


FAKE_MODULES = ('launch', 'launch.actions', 'launch.conditions', 'launch.launch_description_sources',
                'launch.substitutions', 'launch_ros', 'launch_ros.actions', 'launch_ros.parameter_descriptions',
                'launch_ros.substitutions')


@pytest.fixture
def fake_launch(monkeypatch):
    """Replace the launch modules by stand-ins whose every class records its arguments; yields a file loader."""
    classes: dict[str, type] = {'LaunchConfiguration': _LaunchConfiguration}

    def lookup(attr: str) -> type:
        if attr.startswith('__'):
            raise AttributeError(attr)
        return classes.setdefault(attr, type(attr, (_Recorded,), {}))
    for name in FAKE_MODULES:
        mod = types.ModuleType(name)
        mod.__path__ = []  # a package, so its submodules import
        mod.__getattr__ = lookup
        monkeypatch.setitem(sys.modules, name, mod)

    def load(name: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name.replace('.', '_'), LAUNCH / name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


def _entities(ld: _Recorded, cls: str) -> list[_Recorded]:
    return [e for e in ld.args[0] if type(e).__name__ == cls]


def _declared(ld: _Recorded) -> dict[str, _Recorded]:
    return {a.args[0]: a for a in _entities(ld, 'DeclareLaunchArgument')}


COUNTING_DEFAULTS = {'params_file': '/share/config/counting.yaml', 'namespace': '', 'checkpoint': '', 'device': '',
                     'autostart': '', 'log_level': 'info'}


def _sync_node(mod, **given: str) -> _Recorded:
    """The nodes the counting launch's OpaqueFunction returns for launch arguments ``given`` (fake context)."""
    ld = mod.generate_launch_description()
    (opaque,) = _entities(ld, 'OpaqueFunction')
    context = SimpleNamespace(launch_configurations={**COUNTING_DEFAULTS, **given})
    (node,) = opaque.kwargs['function'](context)
    return node


def test_counting_sync_node_is_a_lifecycle_node_with_autostart(fake_launch):
    mod = fake_launch('counting.launch.py')
    ld = mod.generate_launch_description()
    assert not [n for n in _entities(ld, 'Node') if n.kwargs.get('executable') == 'sync_node']
    declared = _declared(ld)
    assert declared['autostart'].kwargs['choices'] == ['', 'true', 'false']
    node = _sync_node(mod)
    assert type(node).__name__ == 'LifecycleNode'
    kw = node.kwargs
    assert (kw['package'], kw['executable'], kw['name']) == ('vsync_ros', 'sync_node', 'sync_node')
    assert kw['namespace'].args == ('namespace',)  # the namespace argument, as before
    params_file = kw['parameters'][0]
    assert isinstance(params_file, _LaunchConfiguration) and params_file.args == ('params_file',)
    assert '--log-level' in kw['arguments']
    # autostart:=false / true reaches the node as a boolean parameter (ros2 lifecycle then drives it)
    assert _sync_node(mod, autostart='false').kwargs['parameters'][-1] == {'autostart': False}
    assert _sync_node(mod, autostart='True').kwargs['parameters'][-1] == {'autostart': True}
    with pytest.raises(ValueError, match='autostart must be true or false'):
        _sync_node(mod, autostart='yes')


def test_counting_arguments_override_the_params_file_only_when_given(fake_launch):
    mod = fake_launch('counting.launch.py')
    declared = _declared(mod.generate_launch_description())
    for name in ('checkpoint', 'fallback_checkpoint', 'device', 'autostart'):
        assert declared[name].kwargs['default_value'] == '', f'{name}: the default must mean "not given"'
    # not given: the params file is the only parameter source (its checkpoint / device / autostart stand)
    assert len(_sync_node(mod).kwargs['parameters']) == 1
    assert len(_sync_node(mod, checkpoint='  ', device='').kwargs['parameters']) == 1  # blank = not given
    # given: a last parameter dict with exactly the given ones (later entries win in launch_ros)
    # (a checkpoint of one's own drops the params file's fallback, which belongs to the shipped model)
    params = _sync_node(mod, checkpoint='/models/plaza_sls.pt').kwargs['parameters']
    assert len(params) == 2 and params[-1] == {'checkpoint': '/models/plaza_sls.pt', 'fallback_checkpoint': ''}
    params = _sync_node(mod, checkpoint='/m.pt', device='cpu').kwargs['parameters']
    assert params[-1] == {'checkpoint': '/m.pt', 'device': 'cpu', 'fallback_checkpoint': ''}
    params = _sync_node(mod, checkpoint='/m.pt', fallback_checkpoint='/b.pt').kwargs['parameters']
    assert params[-1] == {'checkpoint': '/m.pt', 'fallback_checkpoint': '/b.pt'}
    assert _sync_node(mod, fallback_checkpoint='None').kwargs['parameters'][-1] == {'fallback_checkpoint': ''}
    assert _sync_node(mod, device='cuda:1').kwargs['parameters'][-1] == {'device': 'cuda:1'}
    assert mod.given_overrides({'checkpoint': '', 'device': 'auto', 'rig': 'plaza'}) == {'device': 'auto'}


def test_pose_launch_arguments_describe_the_pose_defaults(fake_launch):
    ld = fake_launch('pose.launch.py').generate_launch_description()
    declared = _declared(ld)
    entities = ld.args[0]
    include = _entities(ld, 'IncludeLaunchDescription')[0]
    # declared before the include: `--show-args` keeps the first declaration of a name, so these win
    assert max(entities.index(a) for a in declared.values()) < entities.index(include)
    assert declared['rig'].kwargs['default_value'] == 'studio' and declared['rig'].kwargs['choices'] == ['studio']
    checkpoint = declared['checkpoint'].kwargs
    assert checkpoint['default_value'] == '' and 'studio_pose' in checkpoint['description']
    assert 'plaza' not in checkpoint['description']
    passed = dict(include.kwargs['launch_arguments'])
    assert all(isinstance(v, _LaunchConfiguration) and v.args == (k,) for k, v in passed.items())
    assert set(declared) <= set(passed)  # every pose default reaches counting.launch.py


# ---------------------------------------------------------------------- pose defaults give a live skeleton stream
def _outputs_per_second(profile, max_frame_age_s: float, min_views: int, duration_s: float = 20.0) -> float:
    """Reference frames per second that find enough fresh views, by the sync node's freshness rule.

    A view is fresh while its latest frame *arrived* at most ``max_frame_age_s`` ago (vsync_ros.runtime.
    sync_core). Judged at the moment the reference frame arrives, before frames published at the same
    instant by the other views (a lower bound: the real node judges after them).
    """
    last_arrival: dict[int, float] = {}
    outputs = 0
    for ev in schedule(profile, duration_s, ground_truth=False):
        if ev.dropped:
            continue
        if ev.view == profile.reference_view:
            fresh = 1 + sum(1 for v, t in last_arrival.items()
                            if v != ev.view and ev.publish_s - t <= max_frame_age_s)
            outputs += fresh >= min_views
        last_arrival[ev.view] = ev.publish_s
    return outputs / duration_s


def _pose_replay_defaults() -> dict[str, str]:
    tree = ast.parse((LAUNCH / 'pose.launch.py').read_text())
    return {c.args[0].value: _kw(c, 'default_value').value for c in _calls(tree, 'DeclareLaunchArgument')
            if isinstance(_kw(c, 'default_value'), ast.Constant)}


def test_pose_launch_replay_defaults_give_a_live_skeleton_stream():
    """pose.launch.py use_replay:=true with its defaults: >= 3 outputs/s under config/pose.yaml's freshness rule."""
    sync = yaml.safe_load((ROOT / 'config' / 'pose.yaml').read_text())['/**']['ros__parameters']
    defaults = _pose_replay_defaults()
    n_views = len(sync['camera_topics'])
    replay_defaults = {k: REPLAY_PARAMETERS[k].default for k in ('latency_s', 'jitter_s', 'drop_prob', 'seed')}
    profile = desync_profile(defaults['desync_preset'], n_views, float(defaults['rate_hz']),
                             float(defaults['desync_s']), sync['reference_view'], **replay_defaults)
    assert 1.0 / profile.rate_hz < sync['max_frame_age_s']  # consecutive frames of a view are never stale
    rate = _outputs_per_second(profile, sync['max_frame_age_s'], sync['min_views'])
    assert rate >= 3.0, f'{defaults["desync_preset"]} with pose.yaml: {rate:.2f} outputs/s'
    # the rule is the one that made the old default (h36m_test: a frame every 1.28 s) useless
    old = desync_profile('h36m_test', n_views, 10.0, 0.64, sync['reference_view'], **replay_defaults)
    assert _outputs_per_second(old, sync['max_frame_age_s'], sync['min_views']) == 0.0
