"""The shipped CLS-epi pose checkpoint beats the shipped BaseU on a fresh held-out world (issue 6).

The test world is generated here with a seed no training or reported evaluation used (training worlds 11-16,
reported test world 99, bag tests 7), at the hardest latency of the paper's pose tables (kappa = 64/50 s).
"Beats" is measured on the absolute MPJPE, the error desynchronization causes (a person misplaced in time is
misplaced in space); the pelvis-aligned MPJPE of the shipped pair is equal (README, 3D human pose), so the
test prints it but does not order it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsync_ros.data.cli import main as synth_main
from vsync_ros.engine.evaluate import main as eval_main

pytestmark = pytest.mark.slow  # synthesizes a fresh world and evaluates the shipped models on it

ROOT = Path(__file__).resolve().parents[1]
FRESH_SEED = 2026
N_FRAMES = 60


@pytest.fixture(scope='module')
def fresh_world(tmp_path_factory):
    data = tmp_path_factory.mktemp('pose_fresh') / 'data'
    assert synth_main([str(data), '--world', 'pose', '--segment-s', '6', '--size', '160x160', '--no-progress',
                       '--no-sheet', '--preset', 'h36m_test', '--kappa', '1.28', '--n-train', '0',
                       '--n-test', str(N_FRAMES), '--seed', str(FRESH_SEED)]) == 0
    return data


def _evaluate(ckpt: Path, data: Path, out: Path) -> dict:
    if not ckpt.is_file():
        pytest.fail(f'the shipped checkpoint {ckpt} is missing')
    assert eval_main(['--checkpoint', str(ckpt), '--data', str(data), '--threads', '2', '--no-progress',
                      '--json', str(out)]) == 0
    return json.loads(out.read_text())


def test_shipped_cls_epi_places_people_better_than_base_u_on_a_fresh_world(fresh_world, tmp_path, capsys):
    base = _evaluate(ROOT / 'models' / 'studio_pose_base_u.pt', fresh_world, tmp_path / 'base_u.json')
    cls = _evaluate(ROOT / 'models' / 'studio_pose_cls_epi.pt', fresh_world, tmp_path / 'cls_epi.json')
    assert base['n'] == cls['n'] == N_FRAMES
    with capsys.disabled():
        print(f'\nfresh world seed {FRESH_SEED}, kappa 64/50 s, {N_FRAMES} frames, BaseU / CLS-epi: MPJPE '
              f'{base["mpjpe_mm"]:.1f} / {cls["mpjpe_mm"]:.1f} mm, absolute {base["abs_mpjpe_mm"]:.1f} / '
              f'{cls["abs_mpjpe_mm"]:.1f} mm')
    assert cls['abs_mpjpe_mm'] < base['abs_mpjpe_mm']
