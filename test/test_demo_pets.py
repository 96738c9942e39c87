"""vsync-demo --pets-root: the demo on PETS2009's real rig and test sequences.

The option, its help and its errors need no data (a missing data root, missing default checkpoints); the
frame schedule reads the PETS2009 data root (``pets_data.py``) and the end-to-end run also needs rclpy: it
renders the test sequences from the real calibration and runs two sync nodes over real topics, on a BaseU and
a CLS-epi trained for a few steps at test time on a tiny PETS2009 data set. Each skips with the reason when
what it needs is absent.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pets_data import have_pets_data, pets_data_root

from vsync_ros import paths
from vsync_ros.ros import demo

DATA = pets_data_root()
needs_data = pytest.mark.skipif(not have_pets_data(),
                                reason=f'the PETS2009 data root {DATA} is absent (set VSYNC_PETS2009_ROOT)')
TEST_SEQUENCES = ['S1L1-1', 'S1L1-2', 'S1L2-1', 'S1L2-2']
DOMAIN_ID = 65
TINY = ['model.image_height=48', 'model.image_width=64', 'model.encoder_channels=[4,4,8,8]',
        'model.flow_encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]', 'model.flow_width=0.125',
        'data.gp_cell_m=0.8', 'train.max_steps=2', 'train.threads=1', 'train.log_every=1']


def _fake_data_root(root: Path, sequences: list[str]) -> Path:
    """Empty stand-ins of the calibration and annotation files (only their presence is checked first)."""
    (root / 'calibration').mkdir(parents=True)
    (root / 'annotations').mkdir()
    for v in (1, 2, 3):
        (root / 'calibration' / f'View_00{v}.xml').write_text('<x/>')
    for s in sequences:
        (root / 'annotations' / f'PETS2009-{s}.xml').write_text('<x/>')
    return root


def test_pets_root_option_parses_and_its_help_is_torch_free():
    args = demo.build_parser().parse_args(['--pets-root', '../shared/data/pets2009', '--frames', '3'])
    assert args.pets_root == Path('../shared/data/pets2009') and args.frames == 3
    assert demo.build_parser().parse_args([]).pets_root is None
    code = ('import sys\nfrom vsync_ros.ros import demo\ntry:\n    demo.main(["--help"])\nexcept SystemExit:\n'
            '    pass\nprint("loaded", "torch" in sys.modules, "rclpy" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True).stdout
    text = ' '.join(out.split())
    assert '--pets-root DIR' in text and 'the PETS2009 data root, e.g. ../shared/data/pets2009' in text
    assert 'runs/pets2009/seed0/base_u.pt' in text and out.strip().endswith('loaded False False')


def test_a_missing_data_root_exits_2_naming_the_folder_and_file(tmp_path, capsys):
    missing = tmp_path / 'no_such_root'
    run = subprocess.run([sys.executable, '-m', 'vsync_ros.ros.demo', '--pets-root', str(missing),
                          '--out', str(tmp_path / 'o')], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert f'PETS2009 data root {missing}: no calibration/View_001.xml' in run.stderr
    assert 'Traceback' not in run.stderr and not (tmp_path / 'o').exists()
    # calibration there, annotations of the test sequences not: the missing ones are named
    root = _fake_data_root(tmp_path / 'partial', ['S2L2'])
    assert demo.main(['--pets-root', str(root), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert f'PETS2009 data root {root}: no annotations for {", ".join(TEST_SEQUENCES)} (found: S2L2)' in err


def test_missing_default_checkpoints_say_to_run_the_reproduce_script(tmp_path, monkeypatch):
    repo = tmp_path / 'repo'                       # a checkout without runs/ (the real one may have them)
    repo.mkdir()
    (repo / 'package.xml').write_text('<package/>')
    monkeypatch.setattr(paths, '_SOURCE_ROOT', repo)
    monkeypatch.chdir(tmp_path)
    root = _fake_data_root(tmp_path / 'pets2009', TEST_SEQUENCES)
    specs = demo.parse_checkpoints(None, pets=True)
    assert [(m.label, m.path) for m in specs] == [('BaseU', repo / 'runs/pets2009/seed0/base_u.pt'),
                                                  ('CLS-epi', repo / 'runs/pets2009/seed0/cls_epi.pt')]
    with pytest.raises(demo.DemoError) as info:
        demo.run_demo(1, tmp_path / 'o', pets_root=root, progress=False, write_images=False)
    msg = str(info.value)
    assert f'BaseU: {repo}/runs/pets2009/seed0/base_u.pt' in msg
    assert f'CLS-epi: {repo}/runs/pets2009/seed0/cls_epi.pt' in msg
    assert 'scripts/reproduce_pets2009.sh DATA_ROOT' in msg and f'scripts/reproduce_pets2009.sh {root.resolve()}' in msg
    assert 'vsync-train' not in msg and not (tmp_path / 'o').exists()


def test_pets_checkpoint_names_get_their_labels():
    specs = demo.parse_checkpoints(['runs/pets2009/seed0/base_u.pt', '/x/runs/pets2009/seed1/cls_epi_w.pt',
                                    'runs/pets2009/seed0/cls_epi.pt', 'other/cls_epi.pt', 'a/plaza_sls.pt'])
    assert [s.label for s in specs] == ['BaseU', 'CLS-epi-W', 'CLS-epi', 'cls_epi', 'SLS']
    names = ['base_u', 'base_s', 'base_su', 'sls', 'cls_cat', 'cls_cor', 'cls_epi', 'cls_epi_w']
    labels = [demo.parse_checkpoints([f'runs/pets2009/seed0/{n}.pt'])[0].label for n in names]
    assert labels == ['BaseU', 'BaseS', 'BaseSU', 'SLS', 'CLS-cat', 'CLS-cor', 'CLS-epi', 'CLS-epi-W']


@needs_data
def test_reference_times_are_spread_over_the_test_sequences_with_every_view_inside():
    from vsync_ros.data.pets_world import pets_timeline
    tl = pets_timeline(DATA, train=(), test=TEST_SEQUENCES)
    ranges = dict(zip(tl.names, tl.ranges_s()))
    for mode, bound in (('constant', 5.0), ('random', 5.0), ('pets', 5.0), ('sync', 0.0)):
        profile, ticks, where, n = demo.pets_reference_ticks(tl, 8, seed=3, n_views=3, desync=mode)
        assert len(ticks) == len(where) == 8 and {w[0] for w in where} == set(TEST_SEQUENCES)
        times = [t[-1].content_s for t in ticks]
        assert np.all(np.diff(times) > 0)
        for tick, (seq, local) in zip(ticks, where):
            lo, hi = ranges[seq]
            t = tick[-1].content_s
            assert tick[0].content_s == t and local == pytest.approx(t - tl.start_s[tl.names.index(seq)])
            for v in (0, 1, 2):                        # every view time inside the sequence, one stamp per set
                assert lo - 1e-6 <= tick[v].content_s <= hi + 1e-6 and tick[v].stamp_s == t
                assert abs(tick[v].content_s - t) <= bound + 1e-9
            if mode == 'constant':                     # the paper: +5 s / -5 s for views 2 / 3
                assert [tick[v].content_s - t for v in (1, 2)] == pytest.approx([5.0, -5.0])
    # all frame sets when more are asked for than fit: the paper's 514 test sets at +5 / -5 s
    _, ticks, _, n = demo.pets_reference_ticks(tl, 10_000, seed=3, n_views=3, desync='constant')
    assert n == len(ticks) == 514


@needs_data
@pytest.mark.slow  # synthesizes a data set, trains two models, runs the demo graph over rclpy in real time
@pytest.mark.ros
@pytest.mark.usefixtures('one_torch_thread')
def test_demo_runs_on_the_pets2009_rig_over_ros(tmp_path, capsys, repo_root):
    pytest.importorskip('rclpy', reason='rclpy is not installed')
    from ros_support import ros_env

    from vsync_ros.data import cli as synth_cli
    from vsync_ros.engine import train
    from vsync_ros.inference.pipeline import load_pipeline

    # two tiny models trained for two steps on PETS2009 frames of the real rig (64x48 input, 0.8 m cells)
    data = tmp_path / 'data'
    assert synth_cli.main([str(data), '--world', 'pets', '--data-root', str(DATA), '--sequence', 'S1L1-1',
                           '--n-train', '2', '--n-test', '1', '--size', '64x48', '--no-progress', '--no-sheet']) == 0
    runs = tmp_path / 'runs' / 'pets2009' / 'seed0'
    cfg = repo_root / 'config' / 'train'
    for name, config, extra in (('base_u', 'small_base_u.yaml', []),
                                ('cls_epi', 'small_cls_epi.yaml', ['loss.sync_loss=sim', 'loss.gamma=10'])):
        assert train.main(['--config', str(cfg / config), f'data.root={data}', *TINY, *extra,
                           f'train.out={runs / f"{name}.pt"}', '--no-progress']) == 0
    capsys.readouterr()

    out = tmp_path / 'demo'
    with ros_env(DOMAIN_ID):
        rc = demo.main(['--pets-root', str(DATA), '--frames', '3', '--out', str(out), '--no-images', '--no-progress',
                        '--device', 'cpu', '--seed', '5', '--checkpoints', str(runs / 'base_u.pt'),
                        str(runs / 'cls_epi.pt')])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['world']['type'] == 'pets2009' and summary['world']['sequences'] == TEST_SEQUENCES
    assert summary['world']['frame_sets'] == 514 and summary['start_s'] is None
    assert summary['frames'] == 3 and summary['frames_without_output'] == 0
    assert [m['label'] for m in summary['models']] == ['BaseU', 'CLS-epi']      # labels from runs/pets2009/...
    assert [(m['method'], m['synchronizes']) for m in summary['models']] == [('base', False), ('cls_epi', True)]
    rows = summary['per_frame']
    assert [r['sequence'] for r in rows] == ['S1L1-1', 'S1L1-2', 'S1L2-2']      # first, middle, last frame set
    assert not list(out.glob('frame_*.png'))
    for r in rows:
        assert r['offsets_s'] == pytest.approx([0.0, 5.0, -5.0], abs=1e-6) and r['gt'] > 0
        assert f'frame {r["k"]:3d}  {r["sequence"]} t=' in printed
    for m in summary['models']:
        errs = [abs(r['pred'][m['label']] - r['gt']) for r in rows]
        assert m['mae'] == pytest.approx(float(np.mean(errs))) and m['ground_error'] >= m['mae'] - 1e-6
    assert 'PETS2009 (' in printed and f'RESULT: {summary["comparison"]["headline"]}' in printed
    assert summary['comparison']['headline'].startswith(
        'view2 shows the scene 5 s later, view3 shows the scene 5 s earlier than view1')

    # what went through the sync node is the pipeline's count on the same PETS2009 frames, and the ground
    # truth is the annotated people of that time
    pipe = load_pipeline(runs / 'cls_epi.pt', 'cpu')
    source, _ = demo.make_pets_scene(pipe, DATA, seed=5)
    r = rows[1]
    frames = [source.frame(v, r['time_s'] + r['offsets_s'][v]) for v in range(3)]
    assert pipe.run(frames, 0).count == pytest.approx(r['pred']['CLS-epi'], rel=1e-5)
    gt = source.ground_truth(r['time_s'])
    assert gt['count'] == r['gt']
