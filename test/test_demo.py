"""vsync-demo end to end on real rclpy topics: 3 frames, two untrained checkpoints written at test time."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip('rclpy', reason='rclpy is not installed')

from pipeline_support import make_checkpoint  # noqa: E402
from ros_support import ros_env  # noqa: E402

from vsync_ros.ros import demo  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # the demo graph in real time
DOMAIN_ID = 62


def test_demo_runs_end_to_end_and_writes_its_outputs(tmp_path, capsys):
    torch.set_num_threads(1)
    base = make_checkpoint(tmp_path / 'plaza_base_u.pt', 'base', seed=1)
    cls = make_checkpoint(tmp_path / 'cls.pt', 'cls_epi', seed=2)
    out = tmp_path / 'demo'
    with ros_env(DOMAIN_ID):
        rc = demo.main(['--frames', '3', '--out', str(out), '--checkpoints', str(base), f'CLS-epi={cls}',
                        '--device', 'cpu', '--no-progress', '--seed', '5', '--start-s', '20'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 3 and summary['frames_without_output'] == 0
    assert [m['label'] for m in summary['models']] == ['BaseU', 'CLS-epi']  # label from the file name / given
    assert [m['method'] for m in summary['models']] == ['base', 'cls_epi']
    rows = summary['per_frame']
    assert [r['k'] for r in rows] == [0, 1, 2]
    for m in summary['models']:
        errs = [abs(r['pred'][m['label']] - r['gt']) for r in rows]
        assert m['mae'] == pytest.approx(float(np.mean(errs)))
        assert m['mean_inference_ms'] > 0
    for r in rows:
        assert r['gt'] >= 0 and abs(r['offsets_s'][0]) < 1e-9 and max(abs(o) for o in r['offsets_s']) <= 5.0
        assert (out / r['image']).is_file()
        assert f'frame {r["k"]:3d}' in printed
    assert (out / 'counts.png').is_file()
    assert 'MAE' in printed and 'BaseU' in printed and 'CLS-epi' in printed

    # the counts that went through the sync nodes are the pipeline's on the same (re-rendered) frames
    from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
    from vsync_ros.inference.pipeline import load_pipeline
    world = CrowdWorld(CrowdWorldConfig(image_size=(192, 144), seed=5, gp_cell_m=0.4))
    r = rows[1]
    frames = [world.render(v, r['time_s'] + r['offsets_s'][v]) for v in range(3)]
    assert load_pipeline(cls, 'cpu').run(frames, 0).count == pytest.approx(r['pred']['CLS-epi'], rel=1e-5)
    assert world.ground_truth(r['time_s'], view_density=False)['count'] == r['gt']


def test_missing_checkpoints_say_how_to_train_them(tmp_path, capsys):
    rc = demo.main(['--frames', '1', '--out', str(tmp_path / 'o'),
                    '--checkpoints', f'BaseU={tmp_path / "plaza_base_u.pt"}', str(tmp_path / 'plaza_cls_epi.pt')])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'missing checkpoint(s)' in err and 'BaseU: ' in err and 'CLS-epi: ' in err
    assert 'vsync-train --config config/train/small_base_u.yaml' in err
    assert 'vsync-train --config config/train/small_cls_epi.yaml' in err and 'vsync-synth' in err
    assert not (tmp_path / 'o' / 'summary.json').exists()


def test_checkpoint_specs_and_defaults():
    specs = demo.parse_checkpoints(None)
    assert [(s.label, s.path.name) for s in specs] == [('BaseU', 'plaza_base_u.pt'), ('CLS-epi', 'plaza_cls_epi.pt')]
    specs = demo.parse_checkpoints(['a/plaza_cls_cor.pt', 'Mine=/x/y.pt', '/z/other.pt'])
    assert [s.label for s in specs] == ['CLS-cor', 'Mine', 'other']
    with pytest.raises(demo.DemoError, match='distinct'):
        demo.parse_checkpoints(['A=/a.pt', 'A=/b.pt'])


def test_a_failing_model_stops_the_demo_with_the_reason(tmp_path, capsys, monkeypatch):
    torch.set_num_threads(1)
    from vsync_ros.inference.pipeline import load_pipeline
    path = make_checkpoint(tmp_path / 'plaza_base_u.pt', 'base', seed=1)

    class Failing:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def run(self, images, ref_index):
            raise RuntimeError('out of memory (simulated)')

    monkeypatch.setattr(demo, 'load_models', lambda specs, device: [load_pipeline(path, 'cpu'),
                                                                     Failing(load_pipeline(path, 'cpu'))])
    with ros_env(DOMAIN_ID):
        rc = demo.main(['--frames', '2', '--out', str(tmp_path / 'o'), '--checkpoints', f'A={path}', f'B={path}',
                        '--no-progress', '--no-images', '--start-s', '20'])
    err = capsys.readouterr().err
    assert rc == 2 and 'frame 0: inference failed: B: pipeline failed: RuntimeError: out of memory' in err
