"""Restructuring must not change behaviour: the recorded eval numbers and 20-step loss curves still hold.

The baseline (``test/data/behaviour_baseline.json``) was recorded with the code before the layer
restructuring of issue 9; see ``behaviour_baseline.py`` for how it is measured and re-recorded.
"""
from __future__ import annotations

import math

import pytest
from behaviour_baseline import load_baseline, measure

pytestmark = pytest.mark.slow


def _assert_close(got, want, path, rel):
    if isinstance(want, dict):
        assert set(got) >= set(want), f'{path}: missing {sorted(set(want) - set(got))}'
        for k in want:
            _assert_close(got[k], want[k], f'{path}/{k}', rel)
    elif isinstance(want, list):
        assert len(got) == len(want), f'{path}: {len(got)} entries, baseline {len(want)}'
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, f'{path}[{i}]', rel)
    elif isinstance(want, float):
        assert math.isclose(got, want, rel_tol=rel, abs_tol=rel), f'{path}: {got!r} vs baseline {want!r}'
    else:
        assert got == want, f'{path}: {got!r} vs baseline {want!r}'


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
    return measure(tmp_path_factory.mktemp('behaviour'))


def test_shipped_checkpoints_give_the_recorded_eval_numbers(measured):
    base = load_baseline()
    assert len(base['eval']) == 10  # every shipped checkpoint (8 counting, 2 pose)
    _assert_close(measured['eval'], base['eval'], 'eval', 1e-6)


@pytest.mark.parametrize('run', ['counting_cls_epi_warp', 'pose_cls_epi_sim'])
def test_twenty_step_training_gives_the_recorded_loss_curve(measured, run):
    want = load_baseline()['train'][run]
    assert len(want['losses']) == 20
    _assert_close(measured['train'][run], want, run, 1e-5)
