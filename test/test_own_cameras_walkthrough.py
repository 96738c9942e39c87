"""README "Your own cameras", end to end: calibration files -> rig -> data -> model -> evaluation -> count.

The commands are read from the README's first code block of that section and run, in order, through their
Python entry points in a temporary folder, with only tiny sizes appended (the last value of an option or
override wins): the folder first gets four ROS camera_info YAML files (with an ``extrinsics`` block, metres)
of cameras looking at a 12 m x 12 m square from its four sides. The ``ros2 launch`` line needs a ROS 2
install; in its place the trained checkpoint is loaded with the rig's cameras as the sync node loads it and
counts one frame set, and is refused for a rig whose ``east`` camera stands elsewhere.
"""
from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from vsync_ros.data import cli as synth_cli
from vsync_ros.data import rig_cli
from vsync_ros.engine import evaluate, train
from vsync_ros.geometry.camera import Camera

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_torch_thread')]  # synthesizes, trains

ROOT = Path(__file__).resolve().parents[1]
CENTRE = (6.0, 6.0, 0.0)  # the square is x, y in [0, 12] m
SPOTS = {'north': (6.0, 20.0, 6.5), 'east': (20.5, 6.5, 6.0), 'south': (5.5, -8.5, 6.5), 'west': (-8.0, 6.0, 7.0)}
ENTRY_POINTS = {'vsync-rig': rig_cli.main, 'vsync-synth': synth_cli.main, 'vsync-train': train.main,
                'vsync-eval': evaluate.main}
TINY = {  # appended to each README command: small and fast, nothing else changed
    'vsync-synth': ['--size', '96x72', '--n-train', '6', '--n-test', '3', '--people', '4', '10', '--no-progress'],
    'vsync-train': ['model.image_width=64', 'model.image_height=48', 'model.encoder_channels=[4,4,8,8]',
                    'model.flow_encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]', 'model.flow_width=0.125',
                    'data.gp_cell_m=0.8', 'train.max_steps=6', 'train.epochs=1', 'train.threads=1',
                    'train.device=cpu', '--no-progress'],
    'vsync-eval': ['--device', 'cpu', '--json', 'runs/eval.json', '--no-progress'],
}


def readme_commands(containing: str = '') -> list[list[str]]:
    """The commands of the first code block under README "## Your own cameras" that contains ``containing``
    (comments dropped, backslash-continued lines joined)."""
    text = (ROOT / 'README.md').read_text()
    section = text[text.index('## Your own cameras'):]
    section = section[:section.index('\n## ', 1)]
    block = next(b for b in re.findall(r'```bash\n(.*?)```', section, re.S) if containing in b)
    block = block.replace('\\\n', ' ')
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def write_camera_info(path: Path, name: str, eye, width: int = 640, height: int = 480, hfov_deg: float = 62.0,
                      eye_shift=(0.0, 0.0, 0.0)) -> None:
    """A ROS camera_info YAML with an extrinsics block (world -> camera, metres), as a user would write it."""
    cam = Camera.look_at(name, eye=np.add(eye, eye_shift), target=CENTRE, width=width, height=height,
                         hfov_deg=hfov_deg, dist=(-0.05, 0.01, 0.0, 0.0, 0.0))
    K, R, t = cam.K, cam.R, cam.t

    def matrix(a: np.ndarray, decimals: int) -> dict:
        return {'rows': a.shape[0], 'cols': a.shape[1], 'data': [round(float(x), decimals) for x in a.ravel()]}
    doc = {'image_width': width, 'image_height': height, 'camera_name': name, 'frame_id': f'{name}_optical',
           'camera_matrix': matrix(K, 4), 'distortion_model': 'plumb_bob',
           'distortion_coefficients': matrix(cam.dist.reshape(1, 5), 6),
           'rectification_matrix': matrix(np.eye(3), 1),
           'projection_matrix': matrix(np.hstack([K, np.zeros((3, 1))]), 4),
           'extrinsics': {'world_frame': 'world', 'rotation': matrix(R, 7),
                          'translation': [round(float(x), 4) for x in t]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))


def run(argv: list[str], capsys) -> str:
    """Run one README command (plus its tiny sizes) through its entry point; returns what it printed."""
    name, args = argv[0], [a.replace('config/train/', f'{ROOT}/config/train/') for a in argv[1:]]
    rc = ENTRY_POINTS[name]([*args, *TINY.get(name, [])])
    out = capsys.readouterr()
    assert rc == 0, f'{shlex.join(argv)} exited with {rc}: {out.err}'
    return out.out


@pytest.fixture(scope='module')
def walkthrough(tmp_path_factory) -> Path:
    """The folder the walkthrough runs in, with calib/<camera>.yaml written (the user's calibration files)."""
    cwd = tmp_path_factory.mktemp('own_cameras')
    for name, eye in SPOTS.items():
        write_camera_info(cwd / 'calib' / f'{name}.yaml', name, eye)
    return cwd


def test_readme_walkthrough_runs_in_order(walkthrough, capsys, monkeypatch):
    monkeypatch.chdir(walkthrough)
    commands = readme_commands()
    names = [c[0] if c[0] != 'vsync-rig' else f'vsync-rig {c[1]}' for c in commands]
    assert names == ['vsync-rig import', 'vsync-rig show', 'vsync-synth', 'vsync-train', 'vsync-eval', 'ros2'], names
    imp, show, synth, fit, ev, launch = commands
    assert launch == ['ros2', 'launch', 'vsync_ros', 'counting.launch.py', 'rig:=rigs/mine',
                      'checkpoint:=runs/mine_cls_epi.pt']  # needs ROS 2: test_ros_rig_nodes.py runs its parts

    # 1. import: the four cameras in the order given, the 12 m x 12 m region, every cell seen by >= 2 views
    out = run(imp, capsys)
    assert re.search(r'^4 views .*\n  0: north .*640x480 px.*\n  1: east .*\n  2: south .*\n  3: west ', out, re.M)
    assert 'ground region (given): x0 0 y0 0 m, 12 x 12 m, cell 0.4 m (30 x 30 cells)' in out
    assert '100 % of the region is seen by >= 2 views' in out
    # 2. show: the same summary, and coverage.png is a real picture
    out = run(show, capsys)
    assert '12 x 12 m' in out and 'coverage.png' in out
    picture = cv2.imread(str(walkthrough / 'rigs' / 'mine' / 'coverage.png'))
    assert picture is not None and picture.shape[0] > 200 and picture.shape[1] > 200 and picture.std() > 10

    # 3. synthesize on the rig: its cameras at 96x72, its region, the manifest naming the rig
    out = run(synth, capsys)
    assert 'rig mine: 4 views (north, east, south, west), 640x480 px -> 96x72 images' in out
    assert 'wrote 9 samples x 4 views' in out
    man = json.loads((walkthrough / 'data' / 'mine' / 'manifest.json').read_text())
    assert man['views'] == list(SPOTS) and man['image_size'] == [96, 72] and man['n_views'] == 4
    assert man['rig'] == {'name': 'mine', 'folder': str((walkthrough / 'rigs' / 'mine').resolve())}
    assert man['region'] == {'x0': 0.0, 'y0': 0.0, 'width_m': 12.0, 'height_m': 12.0, 'cell_m': 0.4}
    stored = Camera.from_yaml(walkthrough / 'data' / 'mine' / 'cameras' / 'east.yaml')
    assert (stored.width, stored.height) == (96, 72)
    gts = [np.load(p) for p in sorted((walkthrough / 'data' / 'mine' / 'train' / 'gt').glob('*.npz'))]
    assert sum(float(g['count']) for g in gts) > 0  # people in the region
    assert all(math.isclose(float(g['gp_density'].sum()), float(g['count']), abs_tol=0.05 + 0.02 * float(g['count']))
               for g in gts)

    # 4. train (6 steps) and 5. evaluate on the test split
    out = run(fit, capsys)
    assert (walkthrough / 'runs' / 'mine_cls_epi.pt').is_file()
    out = run(ev, capsys)
    assert 'n=3' in out
    result = json.loads((walkthrough / 'runs' / 'eval.json').read_text())
    assert result['n'] == 3 and math.isfinite(result['mae'])


def test_trained_checkpoint_counts_on_the_rig_and_is_refused_elsewhere(walkthrough, monkeypatch):
    """In place of the ros2 launch line: the node's loading path, one frame set, and another rig refused."""
    monkeypatch.chdir(walkthrough)
    ckpt = walkthrough / 'runs' / 'mine_cls_epi.pt'
    if not ckpt.is_file():
        pytest.skip('the walkthrough test did not train the checkpoint')
    from vsync_ros.inference.loading import open_pipeline
    from vsync_ros.runtime.calibration_check import rig_region_problem
    from vsync_ros.runtime.rig_folder import deployment_rig, rig_node_parameters
    from vsync_ros.runtime.sources import make_source

    # what counting.launch.py rig:=rigs/mine gives the sync node, and what the node loads
    params = rig_node_parameters('rigs/mine')
    assert params['camera_topics'] == [f'/{n}/image_raw' for n in SPOTS] and params['failover_order'] == [1, 2, 3]
    cameras, region, label = deployment_rig(params['rig'])
    assert [(c.name, c.width, c.height) for c in cameras] == [(n, 640, 480) for n in SPOTS]
    pipe = open_pipeline(str(ckpt), device='cpu', cameras=cameras)
    assert rig_region_problem(pipe, region) == ''
    assert [c.name for c in pipe.cameras] == list(SPOTS) and pipe.region.shape == (15, 15)
    # one frame set as the replay node renders it on the rig (the crowd world, 128x96: resized to the model)
    source = make_source('world', params['rig'], seed=5, image_scale=0.2)
    frames = [source.frame(v, 30.0) for v in range(4)]
    assert all(f.shape == (96, 128, 3) for f in frames)
    res = pipe.run(frames, 0)
    assert res.density.shape == (15, 15) and math.isfinite(res.count) and res.count >= 0
    assert math.isclose(res.count, float(res.density.sum()), rel_tol=1e-4, abs_tol=1e-4)

    # another rig: east 3 m further along x -> refused, naming the view and the camera
    for name, eye in SPOTS.items():
        write_camera_info(walkthrough / 'calib2' / f'{name}.yaml', name, eye,
                          eye_shift=(3.0, 0.0, 0.0) if name == 'east' else (0.0, 0.0, 0.0))
    files = [str(walkthrough / 'calib2' / f'{n}.yaml') for n in SPOTS]
    assert rig_cli.main(['import', '--from', 'camera_info', *files, '--region', '0', '0', '12', '12',
                         '--out', 'rigs/other']) == 0
    other, _, _ = deployment_rig('rigs/other')
    with pytest.raises(RuntimeError, match=r'view 1 \(east\): calibration differs') as err:
        open_pipeline(str(ckpt), device='cpu', cameras=other)
    assert 'north' not in str(err.value) and 'retrain on this camera rig' in str(err.value)


def test_readme_fallback_model_for_ones_own_rig(walkthrough, capsys, monkeypatch):
    """The README's fallback block: train a BaseU, fine-tune it with view dropout, evaluate the pair, load it."""
    monkeypatch.chdir(walkthrough)
    if not (walkthrough / 'runs' / 'mine_cls_epi.pt').is_file():
        pytest.skip('the walkthrough test did not train the checkpoint')
    commands = readme_commands('mine_base_u_fallback')
    assert [c[0] for c in commands] == ['vsync-train', 'vsync-train', 'vsync-eval', 'ros2'], commands
    base, fallback, ev, launch = commands
    assert launch[-1] == 'fallback_checkpoint:=runs/mine_base_u_fallback.pt'
    run(base, capsys)
    run(fallback, capsys)
    out = run(ev, capsys)
    assert 'fallback runs/mine_base_u_fallback.pt when any_missing' in out and 'view 0 (north)' in out
    doc = json.loads((walkthrough / 'runs' / 'eval.json').read_text())
    assert doc['fallback_checkpoint'] == 'runs/mine_base_u_fallback.pt'
    assert len(doc['each_view_missing']['missing']) == 4

    from vsync_ros.inference.fallback import FallbackPipeline
    from vsync_ros.inference.loading import open_pipeline
    from vsync_ros.runtime.rig_folder import deployment_rig
    from vsync_ros.runtime.sources import make_source
    cameras, _, _ = deployment_rig('rigs/mine')
    pipe = open_pipeline('runs/mine_cls_epi.pt', device='cpu', cameras=cameras,
                         fallback_checkpoint='runs/mine_base_u_fallback.pt', fallback_when='any_missing')
    assert isinstance(pipe, FallbackPipeline) and pipe.fallback.method == 'base'
    source = make_source('world', 'rigs/mine', seed=5, image_scale=0.2)
    frames = [source.frame(v, 30.0) for v in range(4)]
    assert pipe.run(frames, 0).note == ''
    res = pipe.run([frames[0], None, frames[2], frames[3]], 0)
    assert 'east missing: estimate from the fallback model base' in res.note and math.isfinite(res.count)
