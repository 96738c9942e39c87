"""vsync-demo end to end on real rclpy topics: 3 frames, two untrained checkpoints written at test time.

Plus the ROS-free parts of its result: the ground-plane error (GAME), the paired comparison and its one-line
verdict, the frame schedule (spacing, offsets) and an instant ``--help``.
"""
from __future__ import annotations

import json
import subprocess
import sys

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
    for r in rows:  # default desync: cam2 shows the scene 5 s later, cam3 5 s earlier
        assert r['gt'] >= 0 and r['offsets_s'] == pytest.approx([0.0, 5.0, -5.0], abs=1e-6)
        assert (out / r['image']).is_file()
        assert f'frame {r["k"]:3d}' in printed
    assert [r['time_s'] for r in rows] == pytest.approx([rows[0]['time_s'] + 2.0 * i for i in range(3)])
    assert (out / 'counts.png').is_file()
    assert 'MAE' in printed and 'BaseU' in printed and 'CLS-epi' in printed
    for m in summary['models']:  # ground error = mean of the per-frame GAME(3)
        assert m['ground_error'] == pytest.approx(float(np.mean([r['ground_err'][m['label']] for r in rows])))
        assert m['ground_error'] >= m['mae'] - 1e-6  # GAME(3) >= GAME(0) = |count error|, per frame hence on average
    assert [m['synchronizes'] for m in summary['models']] == [False, True]

    # the result line: the model that does not synchronize vs the one that does, paired over the frames
    cmp = summary['comparison']
    assert (cmp['baseline'], cmp['other']) == ('BaseU', 'CLS-epi')
    diffs = [r['abs_err']['BaseU'] - r['abs_err']['CLS-epi'] for r in rows]
    assert cmp['count']['diff'] == pytest.approx(float(np.mean(diffs)))
    assert cmp['count']['se'] == pytest.approx(float(np.std(diffs, ddof=1) / np.sqrt(3)))
    assert cmp['count']['significant'] == (abs(cmp['count']['diff']) > demo.NOISE_SE * cmp['count']['se'])
    assert cmp['count']['baseline'] == pytest.approx(summary['models'][0]['mae'])
    assert f'RESULT: {cmp["headline"]}' in printed
    assert cmp['headline'].startswith('cam2 shows the scene 5 s later, cam3 shows the scene 5 s earlier than cam1')
    assert ('within noise' in cmp['headline']) == (not cmp['count']['significant'])
    assert f'{cmp["count"]["baseline"]:.2f}' in cmp['headline'] and f'{cmp["count"]["other"]:.2f}' in cmp['headline']

    # the counts that went through the sync nodes are the pipeline's on the same (re-rendered) frames
    from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
    from vsync_ros.inference.pipeline import load_pipeline
    world = CrowdWorld(CrowdWorldConfig(image_size=(192, 144), seed=5, gp_cell_m=0.4))
    r = rows[1]
    frames = [world.render(v, r['time_s'] + r['offsets_s'][v]) for v in range(3)]
    result = load_pipeline(cls, 'cpu').run(frames, 0)
    gt = world.ground_truth(r['time_s'], view_density=False)
    assert result.count == pytest.approx(r['pred']['CLS-epi'], rel=1e-5)
    assert gt['count'] == r['gt']
    assert demo.ground_error(result.density, gt['gp_density']) == pytest.approx(r['ground_err']['CLS-epi'], rel=1e-4)


def test_ground_error_counts_people_in_the_wrong_place():
    gt = np.zeros((60, 50), np.float32)
    gt[5, 5] = 1.0
    moved = np.zeros_like(gt)
    moved[50, 40] = 1.0                                   # same count, other end of the plaza
    nearby = np.zeros_like(gt)
    nearby[6, 5] = 1.0                                    # same 3 m patch
    assert demo.ground_error(gt, gt) == 0.0
    assert demo.ground_error(moved, gt, level=0) == pytest.approx(0.0)   # GAME(0): the count error only
    assert demo.ground_error(moved, gt) == pytest.approx(2.0)            # missing here, extra there
    assert demo.ground_error(nearby, gt) == pytest.approx(0.0)
    assert demo.ground_error(gt * 0.5, gt) == pytest.approx(0.5)
    with pytest.raises(ValueError, match='must be the same'):
        demo.ground_error(gt[:10], gt)
    # the evaluation's GAME (vsync_ros.engine.tasks.counting.game_errors) on an uneven split of random maps
    from vsync_ros.engine.tasks.counting import game_errors
    rng = np.random.default_rng(0)
    a, b = rng.random((89, 76)), rng.random((89, 76))
    want = game_errors(torch.as_tensor(a)[None, None], torch.as_tensor(b)[None, None], (0, 3))[0]
    assert [demo.ground_error(a, b, 0), demo.ground_error(a, b)] == pytest.approx(want.tolist())


def _records(errors_a: list[float], errors_b: list[float]) -> list:
    return [demo.FrameRecord(k, k, float(k), [0.0, 5.0, -5.0], 10.0, {'A': 10.0 + a, 'B': 10.0 - b},
                             ground_err={'A': 2 * abs(a), 'B': 2 * abs(b)})
            for k, (a, b) in enumerate(zip(errors_a, errors_b))]


MODELS = [{'label': 'A', 'synchronizes': False, 'role': 'assumes synchronized cameras'},
          {'label': 'B', 'synchronizes': True, 'role': 'synchronizes the views'}]


def test_comparison_reports_a_clear_gain():
    rng = np.random.default_rng(0)
    a = list(4.0 + rng.uniform(-1, 1, 40))
    b = list(1.0 + rng.uniform(-1, 1, 40))
    cmp = demo.compare(_records(a, b), MODELS, 'cam2 5 s late')
    mae_a, mae_b = float(np.mean(np.abs(a))), float(np.mean(np.abs(b)))
    assert cmp['count']['baseline'] == pytest.approx(mae_a) and cmp['count']['other'] == pytest.approx(mae_b)
    assert cmp['count']['significant'] and cmp['ground']['significant']
    assert cmp['headline'].startswith('cam2 5 s late. B (synchronizes the views) vs A (assumes synchronized cameras)')
    pct = 100 * (mae_a - mae_b) / mae_a
    assert f'{mae_a:.2f} -> {mae_b:.2f} people per frame ({pct:.0f} % lower)' in cmp['headline']
    assert 'within noise' not in cmp['headline'] and 'ground error' in cmp['headline']
    g = cmp['ground']
    assert f'ground error {g["baseline"]:.1f} -> {g["other"]:.1f} ({100 * g["diff"] / g["baseline"]:.0f} % lower)' \
        in cmp['headline']


def test_comparison_calls_a_small_difference_noise():
    rng = np.random.default_rng(1)
    a = list(rng.uniform(0, 3, 30))
    b = list(np.array(a)[rng.permutation(30)])           # same errors, other frames: no real difference
    cmp = demo.compare(_records(a, b), MODELS[::-1], 'synchronized')   # order of the models does not matter
    assert (cmp['baseline'], cmp['other']) == ('A', 'B')
    assert not cmp['count']['significant'] and abs(cmp['count']['diff']) <= demo.NOISE_SE * cmp['count']['se']
    assert 'difference within noise' in cmp['headline'] and 'ground error' in cmp['headline']
    assert demo.compare([], MODELS, 'x') is None and demo.compare(_records(a, b), MODELS[:1], 'x') is None


def test_schedule_spacing_and_offsets():
    profile, ticks = demo.reference_ticks(4, seed=3, n_views=3, start_s=60.0, desync='constant', offset_s=5.0,
                                          every_s=2.0)
    times = [t[0].content_s for t in ticks]
    assert np.diff(times) == pytest.approx([2.0] * 3)
    assert [t[1].content_s - t[0].content_s for t in ticks] == pytest.approx([5.0] * 4)
    assert [t[2].content_s - t[0].content_s for t in ticks] == pytest.approx([-5.0] * 4)
    assert demo.describe_desync(profile, ['cam1', 'cam2', 'cam3']) == (
        'cam2 shows the scene 5 s later, cam3 shows the scene 5 s earlier than cam1')
    profile, ticks = demo.reference_ticks(3, seed=3, n_views=3, start_s=60.0, desync='sync')
    assert all(t[v].content_s == t[0].content_s for t in ticks for v in (1, 2))
    assert demo.describe_desync(profile, ['cam1', 'cam2', 'cam3']) == 'all cameras synchronized with cam1'
    profile, ticks = demo.reference_ticks(20, seed=3, n_views=3, start_s=60.0, desync='random', offset_s=2.0)
    offsets = [t[v].content_s - t[0].content_s for t in ticks for v in (1, 2) if v in t]
    assert max(abs(o) for o in offsets) <= 2.0 and len(set(np.round(offsets, 6))) > 10
    assert 'random offset within +-2 s' in demo.describe_desync(profile, ['cam1', 'cam2', 'cam3'])
    with pytest.raises(demo.DemoError, match='--desync'):
        demo.reference_ticks(1, 0, 3, 60.0, desync='late')


def test_help_does_not_load_torch_or_ros():
    code = ('import sys\nfrom vsync_ros.ros import demo\ntry:\n    demo.main(["--help"])\nexcept SystemExit:\n'
            '    pass\nprint("loaded", "torch" in sys.modules, "rclpy" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert '--desync' in out and out.strip().endswith('loaded False False')


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
    assert [(s.label, s.path.name) for s in specs] == [('BaseS', 'plaza_base_s.pt'), ('CLS-epi', 'plaza_cls_epi.pt')]
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

    monkeypatch.setattr(demo, 'load_models', lambda specs, device, pets_root=None: [
        load_pipeline(path, 'cpu'), Failing(load_pipeline(path, 'cpu'))])
    with ros_env(DOMAIN_ID):
        rc = demo.main(['--frames', '2', '--out', str(tmp_path / 'o'), '--checkpoints', f'A={path}', f'B={path}',
                        '--no-progress', '--no-images', '--start-s', '20'])
    err = capsys.readouterr().err
    assert rc == 2 and 'frame 0: inference failed: B: pipeline failed: RuntimeError: out of memory' in err
