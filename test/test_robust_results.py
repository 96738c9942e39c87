"""vsync_ros.reports.robust_results: seed statistics, the four checks' verdicts, the cards and bad input."""
from __future__ import annotations

import json

import pytest

from vsync_ros.reports import robust_results as rr
from vsync_ros.reports.seeds import fmt, seed_stats

GT = {'heldout_new_scenes': 12.0, 'heldout_train_scene': 14.0, 'heldout_dense': 31.0}
CAMS = ('cam1', 'cam2', 'cam3')


def metrics(mae: float, nae: float, mean_gt: float, mean_pred: float) -> dict:
    """The summary fields of a vsync-eval result (as in a real file: n, mae, nae, means, GAME)."""
    return {'n': 300, 'mae': mae, 'nae': nae, 'mean_gt': mean_gt, 'mean_pred': mean_pred,
            'game': {'0': mae, '1': mae + 0.5, '2': mae + 1.5, '3': mae + 2.5}}


def eval_doc(model: str, data: str, mae: float, nae: float, pred: float) -> dict:
    """A ``vsync-eval --json`` document of a held-out set, in the layout of the real files."""
    frame = {'index': 0, 'time_s': 20.5, 'gt': 16.0, 'pred': 15.0, 'abs_err': 1.0, 'offsets_s': [0.0, -3.9, -3.1],
             'view_valid': [True, True, True], 'game': {'0': 1.0, '1': 1.0, '2': 1.2, '3': 1.5}}
    return {'checkpoint': f'runs/plaza_robust/seed0/{model}.pt', 'data': f'runs/plaza_robust_data/{data}',
            'split': 'test', 'sync_input': False, 'zero_flow': False, 'method': model, 'wall_time_s': 40.0,
            **metrics(mae, nae, GT[data], pred), 'nae_frames': 300, 'per_frame': [frame]}


def views_doc(model: str, all_mae: float, missing: list[float]) -> dict:
    """A ``vsync-eval --each-view-missing --json`` document (new scenes): all views and each view missing."""
    doc = eval_doc(model, 'heldout_new_scenes', all_mae, all_mae / 10, 13.0)
    doc.update({'drop_views': [], 'failover': 'unsynced'})
    doc['each_view_missing'] = {
        'failover': 'unsynced', 'all': metrics(all_mae, all_mae / 10, 12.0, 13.0),
        'missing': {str(i): {'view': CAMS[i], **metrics(m, m / 10, 12.0, 11.0), 'mae_ratio': m / all_mae}
                    for i, m in enumerate(missing)}}
    return doc


def write_model(runs, seed: int, model: str, new: tuple, train: float, dense_nae: float,
                views: tuple | None = None, views_fb: tuple | None = None) -> None:
    """The evaluation files of one model and seed; new = (MAE, NAE, mean prediction) on new scenes;
    views / views_fb = (all-views MAE, MAE per missing view) without / with the fallback model."""
    folder = runs / f'seed{seed}' / 'eval'
    folder.mkdir(parents=True, exist_ok=True)
    docs = {'heldout_new_scenes': eval_doc(model, 'heldout_new_scenes', *new),
            'heldout_train_scene': eval_doc(model, 'heldout_train_scene', train, train / 14, 14.5),
            'heldout_dense': eval_doc(model, 'heldout_dense', 4.0, dense_nae, 33.0)}
    if views:
        docs['each_view_missing'] = views_doc(model, *views)
    if views_fb:
        docs['each_view_missing_fallback'] = views_doc(model, *views_fb)
    for name, doc in docs.items():
        (folder / f'{model}_{name}.json').write_text(json.dumps(doc, indent=1))


@pytest.fixture()
def runs(tmp_path):
    """Two seeds: CLS-epi and BaseU in both (BaseU's seed 1 without lost-camera run), BaseSU in seed 0 only."""
    root = tmp_path / 'plaza_robust'
    write_model(root, 0, 'cls_epi', (3.0, 0.28, 15.0), 2.5, 0.12, (3.0, [3.3, 4.2, 3.1]))
    write_model(root, 1, 'cls_epi', (3.4, 0.30, 15.4), 2.5, 0.16, (3.4, [3.4, 4.93, 3.5]))
    write_model(root, 0, 'base_u', (2.9, 0.27, 14.0), 2.4, 0.10, (3.3, [4.8, 3.5, 3.4]))
    write_model(root, 1, 'base_u', (3.1, 0.29, 14.2), 2.6, 0.11)
    write_model(root, 0, 'base_su', (1.5, 0.15, 13.0), 1.5, 0.07, (1.5, [2.7, 1.8, 1.9]), (1.5, [2.1, 1.6, 1.7]))
    write_model(root, 0, 'cls_epi', (3.0, 0.28, 15.0), 2.5, 0.12, (3.0, [3.3, 4.2, 3.1]), (3.0, [4.6, 3.3, 3.4]))
    (root / 'seed1' / 'notes').mkdir()           # not an eval folder: ignored
    return root


def test_statistics_per_model_over_the_seeds_it_has(runs):
    res = rr.collect(runs)
    assert set(res) == {'cls_epi', 'base_u', 'base_su'}           # models without files are absent
    assert sorted(res['cls_epi']) == [0, 1] and sorted(res['base_su']) == [0]
    s = rr.summarize(res['cls_epi'])
    assert s['new']['mae']['mean'] == pytest.approx(3.2) and s['new']['mae']['spread'] == pytest.approx(0.4)
    assert s['views']['1']['mean'] == pytest.approx((4.2 + 4.93) / 2)
    u = rr.summarize(res['base_u'])
    assert u['seeds'] == [0, 1] and u['views']['0']['seeds'] == [0]
    assert rr.summarize(res['base_su'])['new']['mae']['values'] == [1.5]


def test_the_four_checks_and_their_verdicts(runs):
    chk = rr.checks(rr.collect(runs))
    c1 = chk['cls_epi_new_vs_train_mae']        # 3.2 / 2.5 over both seeds; seed 1 alone is above 1.3
    assert c1['ratio'] == pytest.approx(1.28) and c1['met']
    assert c1['per_seed'] == {0: pytest.approx(1.2), 1: pytest.approx(1.36)}
    c2 = chk['cls_epi_vs_base_u_new_mae']       # +0.2 worse, but the larger seed range is 0.4: a tie
    assert c2['diff'] == pytest.approx(0.2) and c2['spread'] == pytest.approx(0.4) and c2['verdict'] == 'tie'
    views = chk['one_view_missing']
    assert views['cls_epi']['met'] and views['cls_epi']['worst']['ratio'] == pytest.approx(4.93 / 3.4)
    assert (views['cls_epi']['worst']['seed'], views['cls_epi']['worst']['view']) == (1, 'cam2')
    assert not views['base_su']['met'] and views['base_su']['worst']['ratio'] == pytest.approx(1.8)
    assert views['base_u']['worst']['view'] == 'cam1'
    c4 = chk['cls_epi_dense_vs_sparse_nae']
    assert c4['ratio'] == pytest.approx(0.14 / 0.29) and c4['met']
    text = '\n'.join(rr.verdicts(chk))
    assert 'CLS-epi MAE new scenes / training scenes = 3.20 / 2.50 = 1.28 (target <= 1.3: met; ' \
           'per seed 1.20 (seed 0), 1.36 (seed 1))' in text
    assert '= +0.20 (seeds 0, 1, larger seed range 0.40): tie' in text
    assert 'BaseSU: with one camera missing at most 1.80x its all-views MAE (cam1 (the reference) missing, ' \
           'seed 0; target <= 1.5: missed)' in text
    assert 'Every model within 1.5x with any one camera missing: missed (BaseSU).' in text
    fb = chk['one_view_missing_with_fallback']            # only the models with fallback files
    assert set(fb) == {'base_su', 'cls_epi'} and fb['base_su']['met'] and not fb['cls_epi']['met']
    assert fb['base_su']['worst']['ratio'] == pytest.approx(2.1 / 1.5)
    assert fb['cls_epi']['worst']['ratio'] == pytest.approx(4.6 / 3.0) and fb['cls_epi']['worst']['seed'] == 0
    assert 'BaseSU with the fallback model (BaseU fallback (view dropout 0.45)): with one camera missing at most ' \
           '1.40x its all-views MAE (cam1 (the reference) missing, seed 0; target <= 1.5: met).' in text
    assert 'Every model with the fallback model (BaseU fallback (view dropout 0.45)) within 1.5x with any one ' \
           'camera missing: missed (CLS-epi (l_s)).' in text


def test_worse_by_more_than_the_seed_range_is_missed_and_one_seed_calls_no_tie():
    def recs(*maes):
        return {s: {'new': {'mae': m}} for s, m in enumerate(maes)}

    c = rr.not_worse_check(recs(3.6, 3.8), recs(3.0, 3.2), 'new.mae')
    assert c['verdict'] == 'missed' and c['diff'] == pytest.approx(0.6)
    assert rr.not_worse_check(recs(2.9, 3.0), recs(3.3, 3.4), 'new.mae')['verdict'] == 'met'
    one = rr.not_worse_check(recs(3.03), recs(3.05, 2.0), 'new.mae')      # only seed 0 is common
    assert one['seeds'] == [0] and one['verdict'] == 'met'
    assert 'no seed range, so no tie can be called' in rr.verdicts({'cls_epi_vs_base_u_new_mae': one})[0]
    missed = rr.ratio_check({0: {'new': {'mae': 3.0}, 'train': {'mae': 2.0}}}, 'new.mae', 'train.mae', 1.3)
    assert missed['ratio'] == pytest.approx(1.5) and not missed['met']


def test_markdown_json_and_idempotent_cards(runs, tmp_path):
    cards = tmp_path / 'models'
    cards.mkdir()
    (cards / 'plaza_cls_epi.md').write_text('# plaza_cls_epi.pt\n\n- Regime: CLS-epi\n')
    (cards / 'plaza_base_su.md').write_text(f'# plaza_base_su.pt\n\n## {rr.CARD_SECTION}\n\nold numbers\n\n'
                                            '## Notes\n\nkept\n')
    md, js = tmp_path / 'out' / 'plaza_robust.md', tmp_path / 'out' / 'plaza_robust.json'
    argv = ['--runs', str(runs), '--out-md', str(md), '--out-json', str(js), '--cards', str(cards)]
    assert rr.main(argv) == 0
    first = {p.name: p.read_text() for p in cards.iterdir()}
    assert rr.main(argv) == 0
    assert {p.name: p.read_text() for p in cards.iterdir()} == first    # running twice changes nothing
    assert sorted(first) == ['plaza_base_su.md', 'plaza_cls_epi.md']   # no card is created
    su = first['plaza_base_su.md']
    assert su.count(f'## {rr.CARD_SECTION}') == 1 and 'old numbers' not in su and su.endswith('## Notes\n\nkept\n')
    assert 'cam1 2.70 (1.80x) / cam2 1.80 (1.20x)' in su
    assert "With the node's fallback model" in su and 'cam1 2.10 (1.40x) / cam2 1.60 (1.07x)' in su
    epi = first['plaza_cls_epi.md']
    assert epi.startswith('# plaza_cls_epi.pt\n\n- Regime: CLS-epi\n\n## Robustness')
    assert '| new scenes, 10-30 people | 300 | 3.00 | 0.280 | 12.00 | 15.00 |' in epi      # seed 0 only

    text = md.read_text()
    assert '| CLS-epi (l_s) | 2 | 3.20 ± 0.20 | 2.50 ± 0.00 | 1.28 | 0.140 ± 0.020 | 0.290 ± 0.010 | 0.48 |' in text
    assert '| BaseSU | 1 | 1.50 | 1.50 | 1.00 |' in text                 # one seed: the value alone
    assert '| 2.10 (1.40x) / 1.60 (1.07x) / 1.70 (1.13x) |' in text    # BaseSU with the fallback model
    assert '4.60 [seed 0] (1.53x)' in text                             # CLS-epi's seed 1 has no fallback run
    assert '4.80 [seed 0] (1.45x)' in text                              # BaseU's lost cameras: seed 0 only
    assert '15.20 ± 0.20 / 12.00 (+3.20)' in text                       # mean prediction vs GT on new scenes
    assert 'CLS-cor' not in text
    doc = json.loads(js.read_text())
    assert doc['stats']['cls_epi']['new']['mae']['values'] == [3.0, 3.4]
    assert doc['checks']['cls_epi_vs_base_u_new_mae']['verdict'] == 'tie' and doc['verdicts'] == rr.verdicts(
        rr.checks(rr.collect(runs)))


def test_replace_section_appends_then_replaces():
    once = rr.replace_section('# card\n', 'R', 'a')
    assert once == '# card\n\n## R\n\na\n'
    assert rr.replace_section(once, 'R', 'b') == '# card\n\n## R\n\nb\n'
    assert rr.replace_section(rr.replace_section(once, 'R', 'b'), 'R', 'b') == '# card\n\n## R\n\nb\n'


def test_a_corrupt_or_incomplete_file_is_named(runs, tmp_path, capsys):
    bad = runs / 'seed1' / 'eval' / 'cls_epi_heldout_dense.json'
    bad.write_text('{"n": 300, "mae": ')
    out = ['--out-md', str(tmp_path / 'a.md'), '--out-json', str(tmp_path / 'a.json')]
    assert rr.main(['--runs', str(runs), *out]) == 2
    assert str(bad) in capsys.readouterr().err and not (tmp_path / 'a.md').exists()
    doc = views_doc('base_u', 3.0, [3.1, 3.2, 3.3])
    del doc['each_view_missing']['missing']['2']['mae']
    path = runs / 'seed0' / 'eval' / 'base_u_each_view_missing.json'
    with pytest.raises(rr.ReportInputError, match=r"missing.json: lacks key 'each_view_missing.missing.2.mae'"):
        rr.views_record(doc, path)
    with pytest.raises(rr.ReportInputError, match='heldout_dense.json'):
        rr.collect(runs)
    assert rr.main(['--runs', str(tmp_path / 'none')]) == 2
    assert 'no evaluations in' in capsys.readouterr().err


def test_one_seed_prints_the_value_without_a_range():
    assert fmt(seed_stats([3.03])) == '3.03' and fmt(seed_stats([3.0, 3.4])) == '3.20 ± 0.20'


def test_the_fallback_models_card_is_created_with_its_role(runs, tmp_path):
    from pipeline_support import make_checkpoint
    write_model(runs, 0, 'base_u_fallback', (1.6, 0.13, 12.5), 1.8, 0.12, (1.6, [1.5, 1.2, 1.3]))
    cards = tmp_path / 'models'
    cards.mkdir()
    make_checkpoint(cards / 'plaza_base_u_fallback.pt', 'base')
    out = ['--out-md', str(tmp_path / 'a.md'), '--out-json', str(tmp_path / 'a.json')]
    assert rr.main(['--runs', str(runs), *out, '--cards', str(cards)]) == 0
    card = (cards / 'plaza_base_u_fallback.md').read_text()
    assert card.startswith('# plaza_base_u_fallback.pt\n\n- Regime:') and 'fallback model' in card
    assert '| evaluated as |' not in card                              # no empty table
    assert f'## {rr.CARD_SECTION}' in card and 'cam1 1.50 (0.94x)' in card
    assert rr.main(['--runs', str(runs), *out, '--cards', str(cards)]) == 0
    assert (cards / 'plaza_base_u_fallback.md').read_text() == card     # kept, section replaced in place
    assert 'BaseU fallback (view dropout 0.45)' in (tmp_path / 'a.md').read_text()
