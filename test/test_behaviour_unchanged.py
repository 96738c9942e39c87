"""Restructuring must not change behaviour: the recorded eval numbers and 20-step loss curves still hold.

The baseline (``test/data/behaviour_baseline.json``) was recorded with the code before the layer
restructuring of issue 9; see ``behaviour_baseline.py`` for how it is measured and re-recorded.
"""
from __future__ import annotations

import math

import pytest
from behaviour_baseline import load_baseline, measure

pytestmark = pytest.mark.slow


def _assert_close(got, want, path, rel, abs_tol=None):
    if isinstance(want, dict):
        assert set(got) >= set(want), f'{path}: missing {sorted(set(want) - set(got))}'
        for k in want:
            _assert_close(got[k], want[k], f'{path}/{k}', rel, abs_tol)
    elif isinstance(want, list):
        assert len(got) == len(want), f'{path}: {len(got)} entries, baseline {len(want)}'
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, f'{path}[{i}]', rel, abs_tol)
    elif isinstance(want, float):
        tol = rel if abs_tol is None else abs_tol
        assert math.isclose(got, want, rel_tol=rel, abs_tol=tol), f'{path}: {got!r} vs baseline {want!r}'
    else:
        assert got == want, f'{path}: {got!r} vs baseline {want!r}'


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
    return measure(tmp_path_factory.mktemp('behaviour'))


def test_shipped_checkpoints_give_the_recorded_eval_numbers(measured):
    base = load_baseline()
    assert len(base['eval']) == 10  # every shipped checkpoint (8 counting, 2 pose)
    # float rounding differs between CPUs (measured on another machine: counting numbers 1.1e-6 relative,
    # pose joints, written with 5 decimals, one last digit); a behaviour change moves them by far more
    _assert_close(measured['eval'], base['eval'], 'eval', 1e-5, abs_tol=2e-5)


# (run, training steps compared, relative tolerance). The counting run stays within 1e-5 of the recorded losses
# over all 20 steps on another CPU (its validation MAE within 8e-5). The pose run does not: its per-op rounding
# differences (1e-7) grow to 5 % by step 19 (a 20-step run on 4 frame sets, chaotic), so only its forward pass
# and first update (steps 0 and 1, within 3e-5 there) are compared; a change of the model, loss or optimizer
# moves those by far more.
CURVES = [('counting_cls_epi_warp', 20, 2e-4), ('pose_cls_epi_sim', 2, 1e-4)]


@pytest.mark.parametrize('run, steps, rel', CURVES)
def test_twenty_step_training_gives_the_recorded_loss_curve(measured, run, steps, rel):
    want = load_baseline()['train'][run]
    assert len(want['losses']) == 20 and len(measured['train'][run]['losses']) == 20
    _assert_close(measured['train'][run]['losses'][:steps], want['losses'][:steps], f'{run}/losses', rel)
    if steps == 20:
        _assert_close(measured['train'][run]['history'], want['history'], f'{run}/history', rel)
