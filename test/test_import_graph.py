"""The package's import graph, built from the source with ``ast``: no cycles, ROS only in ``ros/``, layers.

Every import statement counts, at module level or inside a function: a function-level import that
closes a cycle is still a cycle (it only moves the failure to run time).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from import_graph import LAYERS, build_graph, find_cycles, layer_of, ros_imports

PKG = Path(__file__).resolve().parents[1] / 'vsync_ros'


@pytest.fixture(scope='module')
def graph():
    return build_graph(PKG)


def test_graph_covers_the_package(graph):
    files = {p for p in PKG.rglob('*.py')}
    assert len(graph.modules) == len(files) > 50
    # a few edges that must exist, so an empty graph cannot pass the checks below
    assert 'vsync_ros.geometry.camera' in graph.edges['vsync_ros.geometry.epipolar']
    assert 'vsync_ros.inference.pipeline' in graph.all_targets('vsync_ros.ros.sync_node')


def test_no_import_cycles(graph):
    cycles = find_cycles(graph.edges)
    assert not cycles, 'import cycles between files:\n' + '\n'.join(' -> '.join(c + [c[0]]) for c in cycles)


def test_rclpy_and_ros_messages_only_in_ros_layer(graph):
    offenders = []
    for module, path in graph.modules.items():
        if module.startswith('vsync_ros.ros.') or module == 'vsync_ros.ros':
            continue
        for name, line in ros_imports(ast.parse(path.read_text())):
            offenders.append(f'{path.relative_to(PKG.parent)}:{line} imports {name}')
    assert not offenders, 'ROS imports outside vsync_ros/ros/:\n' + '\n'.join(offenders)


def test_layers_import_only_downwards(graph):
    bad = []
    for module, targets in graph.edges.items():
        src = layer_of(module)
        for target in targets:
            dst = layer_of(target)
            if dst not in LAYERS[src]['may_import']:
                bad.append(f'{module} ({src}) imports {target} ({dst})')
    assert not bad, 'imports against the layer table (README, "Architecture"):\n' + '\n'.join(sorted(bad))


def test_package_docstrings_state_their_layer():
    for init in sorted(PKG.rglob('__init__.py')):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f'{init.relative_to(PKG.parent)} has no docstring'
        if init.parent == PKG:
            continue
        assert 'May import' in doc, f'{init.relative_to(PKG.parent)}: the docstring must say what the layer may import'


def test_checker_finds_a_planted_cycle_and_ros_import(tmp_path):
    pkg = tmp_path / 'vsync_ros'
    (pkg / 'geometry').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'geometry' / '__init__.py').write_text('')
    (pkg / 'geometry' / 'a.py').write_text('from vsync_ros.geometry import b\n')
    (pkg / 'geometry' / 'b.py').write_text('def f():\n    from vsync_ros.geometry.a import x\n    import rclpy\n')
    g = build_graph(pkg)
    assert find_cycles(g.edges) == [['vsync_ros.geometry.a', 'vsync_ros.geometry.b']]
    assert [n for n, _ in ros_imports(ast.parse((pkg / 'geometry' / 'b.py').read_text()))] == ['rclpy']
