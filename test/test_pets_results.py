"""vsync_ros.reports.pets_results: which evaluations run, seed statistics, ties, tables and verdicts."""
from __future__ import annotations

import numpy as np
import pytest
from eval_docs import fake_eval
from eval_docs import write_runs as write_eval_runs

from vsync_ros.reports import pets_results as pr


def write_runs(root, values: dict[tuple[int, str, str], dict]) -> None:
    """Fake checkpoints and cached evaluations under ``root`` (runs/pets2009 layout, with its data set)."""
    (root / 'data_random').mkdir(parents=True)
    (root / 'data_random' / 'manifest.json').write_text('{}')
    write_eval_runs(root, values)


def test_evaluation_jobs_cover_every_variant_and_only_sync_models_get_zero_flow(tmp_path):
    for m in pr.MODELS:
        (tmp_path / 'seed0').mkdir(exist_ok=True)
        (tmp_path / 'seed0' / f'{m.name}.pt').write_bytes(b'')
    jobs = pr.evaluation_jobs(tmp_path, [0, 1])        # seed 1 has no checkpoints: no jobs
    names = {out.name for out, _ in jobs}
    assert len(jobs) == 3 * len(pr.MODELS) + sum(m.sync for m in pr.MODELS)
    assert 'cls_epi_random_zero_flow.json' in names and 'base_u_random_zero_flow.json' not in names
    argv = dict((out.name, a) for out, a in jobs)['cls_epi_random_sync.json']
    assert '--sync' in argv and str(tmp_path / 'data_random') in argv and '--threads' in argv
    argv = dict((out.name, a) for out, a in jobs)['base_s_constant.json']
    assert str(tmp_path / 'data_constant') in argv


def test_seed_statistics_ties_and_verdicts(tmp_path):
    vals = {}
    for seed, (u, epi, zero) in enumerate([(4.0, 2.8, 3.9), (4.4, 3.0, 4.1)]):
        vals[(seed, 'base_u', 'random')] = fake_eval(u, 10.0 + seed, {'S1L1-1': u, 'S1L2-2': u + 1})
        vals[(seed, 'cls_epi', 'random')] = fake_eval(epi, 9.0, {'S1L1-1': epi, 'S1L2-2': epi + 1})
        vals[(seed, 'cls_epi', 'random_zero_flow')] = fake_eval(zero, 11.0)
        vals[(seed, 'cls_epi', 'random_sync')] = fake_eval(epi - 0.5, 8.0)
    write_runs(tmp_path, vals)
    res = pr.collect(tmp_path, [0, 1])
    assert res['base_u']['random']['mae'] == {'mean': pytest.approx(4.2), 'spread': pytest.approx(0.4),
                                              'values': [4.0, 4.4]}
    assert res['cls_epi']['per_sequence']['S1L2-2']['mae']['mean'] == pytest.approx(3.9)
    chk = pr.checks(res)
    c = chk['cls_epi_vs_base_u_mae']
    assert c['ratio'] == pytest.approx(2.9 / 4.2) and not c['tie'] and c['spread'] == pytest.approx(0.4)
    # BaseU GAME(3) 10 / 11 (spread 1), CLS-epi 9: a difference of 1.5 > 1
    assert chk['cls_epi_vs_base_u_game3']['diff'] == pytest.approx(-1.5)
    assert chk['cls_epi_zero_flow_vs_cls_epi_mae']['diff'] == pytest.approx(1.1)
    text = '\n'.join(pr.verdicts(chk))
    assert 'target <= 0.75: met' in text and 'CLS-epi lower' in text and 'the flow matters' in text
    md = pr.markdown(res, [0, 1])
    assert '| l_p | BaseU | - | - | - | 6.18 | 0.187 |' in md        # no constant run: dashes, paper numbers
    assert '4.20 ± 0.20' in md and '+31 %' in md                      # mean ± half range; gain vs BaseU
    assert '| CLS-epi | l_p, l_s | 2.90 ± 0.10 | 2.40 ± 0.10 | +0.50 | 4.00 ± 0.10 |' in md


def test_a_difference_within_the_spread_is_a_tie():
    a, b = pr.seed_stats([3.0, 3.6]), pr.seed_stats([3.2, 3.3])
    c = pr.compare(a, b)
    assert c['tie'] and c['spread'] == pytest.approx(0.6)
    assert not pr.compare(pr.seed_stats([2.0, 2.1]), b)['tie']


def test_missing_seed_leaves_the_row_empty_rather_than_half_averaged(tmp_path):
    write_runs(tmp_path, {(0, 'base_u', 'random'): fake_eval(4.0, 10.0)})
    assert pr.collect(tmp_path, [0, 1]) == {}


def test_paper_gains_are_those_of_the_paper_tables():
    assert pr.paper_gain('III', 'CLS-cor', 'random') == f'{100 * (6.22 - 4.34) / 6.22:+.0f} %'
    assert pr.paper_gain('II', 'CLS-epi', 'constant') == f'{100 * (4.36 - 3.95) / 4.36:+.0f} %'


def test_main_without_runs_says_what_to_run(tmp_path, capsys):
    assert pr.main(['--runs', str(tmp_path / 'nothing')]) == 2
    assert 'reproduce_pets2009.sh' in capsys.readouterr().err


@pytest.mark.slow  # synthesizes a tiny PETS2009 data set
def test_results_figure_on_the_real_rig(tmp_path):
    from pets_data import have_pets_data, pets_data_root
    if not have_pets_data():
        pytest.skip(f'PETS2009 data root not found ({pets_data_root()}; set VSYNC_PETS2009_ROOT)')
    import cv2
    from pipeline_support import make_checkpoint

    from vsync_ros.data.cli import main as synth
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.reports.pets_figures import crop_to_seen, pick_frame, results_figure
    data = tmp_path / 'pets'
    assert synth([str(data), '--world', 'pets', '--data-root', str(pets_data_root()), '--train-sequences', 'S2L3',
                  '--test-sequences', 'S1L2-2', '--n-train', '1', '--n-test', '4', '--size', '192x144',
                  '--no-progress', '--no-sheet']) == 0
    ds = SyncDataset(data, 'test', gp_cell_m=0.8, load_sync=False)
    k = pick_frame(ds)
    offsets = [min(abs(o) for o in ds.index['offsets_s'][i][1:]) for i in range(len(ds))]
    assert offsets[k] == max(offsets)
    ckpts = [make_checkpoint(tmp_path / f'{m}.pt', m, ds.cameras, ds.region) for m in ('base', 'cls_epi')]
    out = results_figure(data, *ckpts, tmp_path / 'fig.png')
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 800 and img.shape[1] > 700
    seen = np.zeros((10, 12), bool)
    seen[3:5, 4:6] = True
    assert crop_to_seen(seen, 1.0, margin_m=2.0) == (slice(1, 7), slice(2, 8))
    assert crop_to_seen(np.zeros((3, 3), bool), 1.0) == (slice(None), slice(None))
