"""A rig folder as the camera set-up of the replay, the sync node and counting.launch.py (the ROS-free core).

The launch file's own code runs here too, against recording stand-ins of the launch modules (as in
test_ros_launch_files.py). The nodes on real rclpy: test_ros_rig_nodes.py.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rig_support import SQUARE, square_cameras, write_square_rig

from vsync_ros.geometry import GroundRegion
from vsync_ros.geometry.camera import CalibrationError
from vsync_ros.geometry.presets import plaza_cameras
from vsync_ros.runtime.calibration_check import rig_region_problem
from vsync_ros.runtime.rig_folder import deployment_rig, find_rig_folder, rig_node_parameters, rig_spec
from vsync_ros.runtime.sources import make_source
from vsync_ros.runtime.toy_world import ToyWorld

ROOT = Path(__file__).resolve().parents[1]
NAMES = ['north', 'east', 'south', 'west']


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_square_rig(tmp_path / 'rigs' / 'mine')


def test_a_rig_value_is_a_preset_or_a_rig_folder(folder, tmp_path, monkeypatch):
    assert find_rig_folder('') is None and find_rig_folder('plaza') is None and find_rig_folder(' studio ') is None
    assert find_rig_folder(str(folder)) == folder.resolve()
    monkeypatch.chdir(tmp_path)  # relative to the working directory, as typed on a command line
    assert find_rig_folder('rigs/mine') == folder.resolve() and rig_spec('rigs/mine') == str(folder.resolve())
    assert rig_spec('plaza') == 'plaza'
    with pytest.raises(ValueError, match=r"rig 'rigs/none' is neither a preset \(plaza \| studio\) nor a rig folder: "
                                         r'.*rigs/none/rig\.yaml does not exist'):
        find_rig_folder('rigs/none')
    (tmp_path / 'rigs' / 'empty').mkdir()
    with pytest.raises(ValueError, match=r'rigs/empty/rig\.yaml does not exist'):
        rig_node_parameters('rigs/empty')


def test_node_parameters_of_a_rig_folder(folder):
    params = rig_node_parameters(str(folder))
    assert params == {'rig': str(folder.resolve()),
                      'camera_topics': [f'/{n}/image_raw' for n in NAMES],
                      'camera_info_topics': [f'/{n}/camera_info' for n in NAMES],
                      'failover_order': [1, 2, 3]}
    assert rig_node_parameters('plaza') == {} and rig_node_parameters('') == {}


def test_deployment_rig_reads_the_folder_at_its_own_image_sizes(folder):
    cams, region, label = deployment_rig(str(folder))
    assert label == str(folder.resolve()) and region == SQUARE
    assert [(c.name, c.width, c.height) for c in cams] == [(n, 640, 480) for n in NAMES]
    np.testing.assert_allclose(cams[2].P, square_cameras()[2].P)
    cams, region, label = deployment_rig('plaza')
    assert label == 'plaza' and [c.name for c in cams] == ['cam1', 'cam2', 'cam3']
    cam = folder / 'cameras' / 'east.yaml'
    cam.write_text(cam.read_text().replace('translation:', 'translaton:'))
    with pytest.raises(CalibrationError, match=r'east\.yaml lacks field extrinsics\.translation'):
        deployment_rig(str(folder))


def test_replay_sources_on_a_rig_folder(folder):
    toy = make_source('toy', rig_spec(str(folder)), n_people=5, image_scale=0.1, seed=2)
    assert isinstance(toy, ToyWorld) and toy.region == SQUARE
    assert [(c.name, c.width, c.height) for c in toy.cameras] == [(n, 64, 48) for n in NAMES]
    assert toy.frame(3, 1.0).shape == (48, 64, 3) and toy.ground_truth(1.0)['gp_density'].shape == SQUARE.shape
    with pytest.raises(ValueError, match='unknown rig'):
        make_source('toy', str(folder.parent / 'other'))


@pytest.mark.slow  # renders the crowd world
def test_replay_world_source_renders_the_crowd_on_the_rig(folder):
    world = make_source('world', str(folder), seed=3, image_scale=0.1)
    assert [(c.name, c.width, c.height) for c in world.cameras] == [(n, 64, 48) for n in NAMES]
    assert world.region == SQUARE.with_cell(0.4) and world.world.rig_source['name'] == 'mine'
    frames = [world.frame(v, 12.0) for v in range(4)]
    assert all(f.shape == (48, 64, 3) and f.std() > 5 for f in frames)
    gt = world.ground_truth(12.0)
    assert gt['gp_density'].shape == (30, 30) and abs(gt['gp_density'].sum() - gt['count']) < 0.05 * gt['count'] + 0.05


def test_rig_region_is_compared_by_corner_and_extent():
    model = SimpleNamespace(task='counting', region=GroundRegion(0.0, 0.0, 12.0, 12.0, 0.8))
    assert rig_region_problem(model, SQUARE) == ''  # cell 0.4 m vs the model's 0.8 m: the model's grid is used
    problem = rig_region_problem(model, GroundRegion(0.0, 0.0, 14.0, 12.0, 0.4))
    assert 'ground region width_m is 14' in problem and "the model's is 12" in problem
    assert 'x0 is -1' in rig_region_problem(model, GroundRegion(-1.0, 0.0, 12.0, 12.0, 0.4))
    pose = SimpleNamespace(task='pose', region=GroundRegion(-5.0, -5.0, 10.0, 10.0, 0.5))
    assert rig_region_problem(pose, SQUARE) == ''  # a pose model has no counting region


# ------------------------------------------------------------------ counting.launch.py rig:= (fake launch modules)
FAKE_MODULES = ('launch', 'launch.actions', 'launch.conditions', 'launch.launch_description_sources',
                'launch.substitutions', 'launch_ros', 'launch_ros.actions', 'launch_ros.parameter_descriptions',
                'launch_ros.substitutions')


class _Recorded:
    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def counting_launch(monkeypatch):
    """counting.launch.py loaded against stand-ins of the launch modules (every class records its arguments)."""
    def lookup(attr: str) -> type:
        if attr.startswith('__'):
            raise AttributeError(attr)
        return type(attr, (_Recorded,), {})
    for name in FAKE_MODULES:
        mod = types.ModuleType(name)
        mod.__path__ = []
        mod.__getattr__ = lookup
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location('counting_launch_rig', ROOT / 'launch' / 'counting.launch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sync_node_parameters(mod, **given: str) -> list:
    context = SimpleNamespace(launch_configurations={'params_file': '/share/config/counting.yaml', **given})
    (node,) = mod.sync_node_actions(context)
    return node.kwargs['parameters']


def test_launch_rig_folder_sets_the_sync_node_rig_and_topics(counting_launch, folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _sync_node_parameters(counting_launch, rig='rigs/mine', checkpoint='runs/mine.pt')
    assert len(params) == 2  # the params file, then the rig folder's and the given overrides
    assert params[-1] == {**rig_node_parameters(str(folder)), 'checkpoint': 'runs/mine.pt', 'fallback_checkpoint': ''}
    params = _sync_node_parameters(counting_launch, rig='rigs/mine', fallback_checkpoint='runs/mine_fb.pt')
    assert params[-1]['fallback_checkpoint'] == 'runs/mine_fb.pt'  # given: kept
    assert params[-1]['rig'] == str(folder.resolve()) and params[-1]['camera_topics'][1] == '/east/image_raw'
    assert len(_sync_node_parameters(counting_launch, rig='plaza')) == 1  # a preset: the params file as it is
    assert len(_sync_node_parameters(counting_launch)) == 1
    with pytest.raises(ValueError, match=r'rigs/typo/rig\.yaml does not exist'):
        _sync_node_parameters(counting_launch, rig='rigs/typo')
    declared = {a.args[0]: a for a in counting_launch.generate_launch_description().args[0]
                if type(a).__name__ == 'DeclareLaunchArgument'}
    assert 'choices' not in declared['rig'].kwargs and 'rig folder' in declared['rig'].kwargs['description']


def test_plaza_cameras_are_not_a_rig_folder_by_accident(tmp_path, monkeypatch):
    """A folder called plaza in the working directory does not shadow the preset."""
    write_square_rig(tmp_path / 'plaza', plaza_cameras())
    monkeypatch.chdir(tmp_path)
    assert find_rig_folder('plaza') is None and deployment_rig('plaza')[2] == 'plaza'
