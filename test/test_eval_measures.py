"""Evaluation measures beyond MAE / NAE: GAME(L), the zero-flow ablation, the per-sequence breakdown."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pipeline_support import make_checkpoint, plaza_calibration

from vsync_ros.engine.checkpoint import load_model
from vsync_ros.engine.tasks.counting import game_errors, per_sequence, summarize_rows, warp_alignment


def blob(rows: int, cols: int, r: int, c: int, mass: float = 1.0) -> torch.Tensor:
    """A (1, 1, rows, cols) map with ``mass`` people in cell (r, c)."""
    d = torch.zeros(1, 1, rows, cols)
    d[0, 0, r, c] = mass
    return d


def test_game_zero_for_identical_maps_and_level_0_is_the_count_error():
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 1, 13, 11, generator=gen)
    pred = torch.rand(2, 1, 13, 11, generator=gen)
    assert torch.all(game_errors(gt, gt) == 0)
    g = game_errors(pred, gt)
    assert g.shape == (2, 4)
    np.testing.assert_allclose(g[:, 0].numpy(), (pred - gt).double().sum(dim=(1, 2, 3)).abs().numpy(), rtol=1e-12)


def test_game_counts_a_misplaced_person_that_the_total_hides():
    gt = blob(16, 16, 2, 2)       # one person in the top-left quadrant
    pred = blob(16, 16, 13, 13)   # estimated in the bottom-right one
    g = game_errors(pred, gt)[0].tolist()
    assert g[0] == pytest.approx(0.0)
    assert g[1:] == pytest.approx([2.0, 2.0, 2.0])
    near = blob(16, 16, 2, 1)     # one cell over: the same 4x4 cell up to level 2, another 2x2 cell at level 3
    assert game_errors(near, gt)[0].tolist() == pytest.approx([0.0, 0.0, 0.0, 2.0])


def test_game_is_non_decreasing_in_level_and_bounded_by_the_cellwise_error():
    gen = torch.Generator().manual_seed(1)
    for rows, cols in [(89, 76), (50, 60), (7, 5)]:   # sizes not divisible by 8 included
        pred, gt = torch.rand(3, 1, rows, cols, generator=gen), torch.rand(3, 1, rows, cols, generator=gen)
        g = game_errors(pred, gt)
        assert torch.all(g[:, 1:] >= g[:, :-1] - 1e-9)
        assert torch.all(g[:, -1] <= (pred - gt).double().abs().sum(dim=(1, 2, 3)) + 1e-9)


def test_game_refuses_maps_of_different_shapes():
    with pytest.raises(ValueError, match='same'):
        game_errors(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


class FakeSequences:
    """A data set stand-in whose frames before 10 s are sequence A, later ones B."""

    @staticmethod
    def sequence_of(t: float) -> str | None:
        return 'A' if t < 10 else 'B'


def test_per_sequence_groups_frames_by_their_sequence():
    rows = [{'time_s': t, 'gt': gt, 'pred': p, 'abs_err': abs(p - gt)}
            for t, gt, p in [(1, 10, 12), (2, 20, 20), (11, 5, 4), (12, 0, 1)]]
    seqs = per_sequence(rows, FakeSequences())
    assert set(seqs) == {'A', 'B'}
    assert seqs['A']['n'] == 2 and seqs['A']['mae'] == pytest.approx(1.0)
    assert seqs['B']['mae'] == pytest.approx(1.0) and seqs['B']['nae'] == pytest.approx(0.2)  # gt 0 excluded
    assert summarize_rows(rows)['mae'] == pytest.approx(1.0)
    assert per_sequence(rows, object()) == {}


def test_warp_alignment_credits_a_flow_that_moves_people_to_the_reference_time():
    """Views 1 and 2 see a person 48 px left of where it stands at the reference time (two GAME(3) cells)."""
    h, w = 144, 192
    density = torch.zeros(1, 3, 1, h, w)
    sync = torch.zeros(1, 3, 1, h, w)
    density[0, 1:, 0, 70, 100] = 1.0
    sync[0, 1:, 0, 70, 148] = 1.0
    level_hw = (9, 12)                            # stride 16
    right = torch.zeros(1, 2, 2, *level_hw)
    right[:, :, 0] = -48.0 / 16                   # backward warp: look 48 px to the left, in level pixels
    unwarped, warped = warp_alignment(right, density, sync)
    assert unwarped.shape == (1, 2)
    assert unwarped[0].tolist() == pytest.approx([2.0, 2.0])
    assert warped[0].tolist() == pytest.approx([0.0, 0.0], abs=1e-5)
    same, same_warped = warp_alignment(torch.zeros(1, 2, 2, *level_hw), density, sync)
    torch.testing.assert_close(same, same_warped, rtol=0, atol=1e-4)  # bilinear resampling at integer positions
    wrong, wrong_warped = warp_alignment(-right, density, sync)   # moves the person further from the truth
    assert wrong_warped[0].tolist() == pytest.approx([2.0, 2.0]) and torch.equal(wrong, unwarped)


def test_summary_averages_the_warp_check_of_the_rows_that_have_it():
    rows = [{'gt': 2.0, 'pred': 1.0, 'abs_err': 1.0, 'warp_check': {'unwarped': 4.0, 'warped': 1.0}},
            {'gt': 2.0, 'pred': 2.0, 'abs_err': 0.0, 'warp_check': {'unwarped': 2.0, 'warped': 2.0}},
            {'gt': 2.0, 'pred': 2.0, 'abs_err': 0.0}]   # e.g. a frame set the fallback estimated
    check = summarize_rows(rows)['warp_check']
    assert check['n'] == 2 and check['level'] == 3
    assert (check['unwarped'], check['warped'], check['ratio']) == pytest.approx((3.0, 1.5, 0.5))
    assert 'warp_check' not in summarize_rows(rows[2:])


@pytest.mark.parametrize('method', ['cls_epi', 'sls'])
def test_zero_flow_removes_the_motion_nets_influence(tmp_path, method):
    """With zero_flow the output no longer depends on the motion nets; without it, it does."""
    torch.manual_seed(0)
    cams, region = plaza_calibration()
    path = make_checkpoint(tmp_path / f'{method}.pt', method, cams, region.with_cell(0.8), seed=2,
                           flow_bias_px=2.0)
    model, _ = load_model(path, cameras=cams, region=region.with_cell(0.8))
    model.eval()
    images = torch.rand(1, 3, 3, 144, 192)

    def outputs() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            model.zero_flow = False
            a = model({'images': images})['density']
            model.zero_flow = True
            out = model({'images': images})
        assert all(torch.all(f == 0) for f in out['flows'])
        return a, out['density']
    before, zero_before = outputs()
    nets = model.cls.nets if model.cls is not None else model.sls.nets
    with torch.no_grad():
        for p in nets.parameters():
            p.add_(0.5 * torch.randn_like(p))
    after, zero_after = outputs()
    assert not torch.allclose(before, after)
    torch.testing.assert_close(zero_before, zero_after, rtol=0, atol=0)


@pytest.mark.slow  # synthesizes a small data set
def test_vsync_eval_zero_flow_and_game_on_a_data_set(tmp_path, capsys):
    from vsync_ros.data.crowd_world import CrowdWorldConfig
    from vsync_ros.data.desync import pets
    from vsync_ros.data.generate import generate_dataset
    from vsync_ros.engine.evaluate import main
    torch.set_num_threads(1)
    generate_dataset(tmp_path / 'data', CrowdWorldConfig(image_size=(192, 144), seed=3), pets(), n_train=1,
                     n_test=3, progress=False)
    from vsync_ros.data.dataset import SyncDataset
    ds = SyncDataset(tmp_path / 'data', 'test', gp_cell_m=0.8, load_sync=False)
    ckpt = make_checkpoint(tmp_path / 'cls_epi.pt', 'cls_epi', ds.cameras, ds.region, seed=1, flow_bias_px=2.0)
    base = make_checkpoint(tmp_path / 'base.pt', 'base', ds.cameras, ds.region, seed=1)
    docs = {}
    for name, extra in [('plain', []), ('zero', ['--zero-flow'])]:
        out = tmp_path / f'{name}.json'
        assert main(['--checkpoint', str(ckpt), '--data', str(tmp_path / 'data'), '--no-progress',
                     '--json', str(out), *extra]) == 0
        docs[name] = json.loads(out.read_text())
    assert docs['zero']['zero_flow'] is True and docs['plain']['zero_flow'] is False
    assert '(zero flow)' in capsys.readouterr().out
    for doc in docs.values():
        assert set(doc['game']) == {'0', '1', '2', '3'}
        assert doc['game']['3'] >= doc['game']['0']
        assert 'per_sequence' not in doc          # the plaza world has no recorded sequences
    assert docs['zero']['mae'] != pytest.approx(docs['plain']['mae'], abs=1e-9)
    zero, plain = docs['zero']['warp_check'], docs['plain']['warp_check']
    assert zero['n'] == plain['n'] == 3 and zero['ratio'] == pytest.approx(1.0, abs=1e-4)
    assert plain['unwarped'] == pytest.approx(zero['unwarped']) and plain['warped'] != pytest.approx(zero['warped'])
    assert all('warp_check' in r for r in docs['plain']['per_frame'])
    assert main(['--checkpoint', str(base), '--data', str(tmp_path / 'data'), '--no-progress', '--zero-flow']) == 2
    assert 'base model' in capsys.readouterr().err
