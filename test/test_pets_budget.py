"""vsync_ros.reports.pets_budget: its evaluations, the oracle / view-1 bounds, the table and the verdicts."""
from __future__ import annotations

import json

import pytest
from eval_docs import fake_eval, write_runs

from vsync_ros.reports import pets_budget as pb


def test_evaluation_jobs_follow_each_rows_variants(tmp_path):
    for row in pb.ROWS:
        (tmp_path / 'seed1').mkdir(exist_ok=True)
        (tmp_path / 'seed1' / f'{row.name}.pt').write_bytes(b'')
    data = tmp_path / 'data_random'
    jobs = {out.relative_to(tmp_path).as_posix(): argv for out, argv in pb.evaluation_jobs(tmp_path, data, [0, 1])}
    assert len(jobs) == sum(len(r.variants) for r in pb.ROWS)       # seed 0 has no checkpoints: no jobs
    assert set(jobs) >= {'eval/seed1/base_s_random_sync.json', 'eval/seed1/view1_random_view1.json',
                         'eval/seed1/cls_epi_random_zero_flow.json'}
    assert 'eval/seed1/base_u_random_zero_flow.json' not in jobs    # no flow in a base model
    argv = jobs['eval/seed1/view1_random_view1.json']
    assert argv[argv.index('--drop-view') + 1] == '1' and argv[-1] == '2' and str(data) in argv
    assert '--sync' in jobs['eval/seed1/base_u_random_sync.json']
    assert '--sync' not in jobs['eval/seed1/base_s_random.json']


def _runs(tmp_path, oracle: tuple[float, float], view1: tuple[float, float]):
    vals = {}
    for seed in (0, 1):
        u = 4.0 + 0.2 * seed
        vals[(seed, 'base_u', 'random')] = fake_eval(u, 6.0)
        vals[(seed, 'base_u', 'random_sync')] = fake_eval(u - 0.1, 6.0)
        vals[(seed, 'base_u', 'random_view1')] = fake_eval(u + 3, 9.0)
        vals[(seed, 'cls_epi', 'random')] = fake_eval(4.3, 6.5)
        vals[(seed, 'cls_epi', 'random_sync')] = fake_eval(4.3, 6.5)
        vals[(seed, 'cls_epi', 'random_zero_flow')] = fake_eval(4.4, 6.6)
        vals[(seed, 'base_s', 'random_sync')] = fake_eval(oracle[seed], 5.0)
        vals[(seed, 'base_s', 'random')] = fake_eval(7.0, 9.0)
        vals[(seed, 'view1', 'random_view1')] = fake_eval(view1[seed], 6.0)
    write_runs(tmp_path, vals)
    return pb.collect(tmp_path, [0, 1])


def test_oracle_that_cannot_reach_the_target_and_a_view1_tie(tmp_path):
    res = _runs(tmp_path, oracle=(3.9, 4.1), view1=(4.0, 4.3))
    room = pb.headroom(res)
    assert room['oracle_vs_base_u']['ratio'] == pytest.approx(4.0 / 4.1)
    assert room['base_u_sync_vs_base_u']['diff'] == pytest.approx(-0.1)
    assert room['view1_vs_base_u']['tie'] and room['view1_vs_base_u']['spread'] == pytest.approx(0.3)
    text = '\n'.join(pb.headroom_verdicts(room))
    assert 'could not reach the 0.75 target' in text and 'latency penalty is 0.10 MAE' in text
    assert 'views 2 and 3 add nothing measurable' in text
    # GAME(3): oracle 5.0 against BaseU 6.0 (no spread): synchronized views localize better
    assert room['oracle_vs_base_u_game3']['diff'] == pytest.approx(-1.0)
    assert 'GAME(3): perfect synchronization - BaseU = -1.00 (spread 0.00; synchronized views localize better)' in text
    md = pb.markdown(res, [0, 1])
    assert '| BaseU | unsynchronized frames | 4.10 ± 0.10 | 6.00 ± 0.00 | 4.00 ± 0.10 | 6.00 ± 0.00 | - | - |' in md
    assert '| View 1 only |' in md and md.splitlines()[-1].endswith('| 4.15 ± 0.15 | 6.00 ± 0.00 |')


def test_oracle_that_could_reach_it_and_views_that_help(tmp_path):
    room = pb.headroom(_runs(tmp_path, oracle=(2.5, 2.6), view1=(6.0, 6.2)))
    assert room['oracle_vs_base_u']['ratio'] <= pb.TARGET_RATIO and not room['oracle_vs_base_u']['tie']
    text = '\n'.join(pb.headroom_verdicts(room))
    assert 'could reach the 0.75 target' in text and 'views 2 and 3 help' in text


@pytest.mark.parametrize('warped, verdict', [((3.0, 3.2), 'the flow moves people towards the reference time'),
                                              ((4.9, 5.3), 'a tie: the flow does not measurably synchronize'),
                                              ((6.0, 6.1), 'the flow moves people away from the reference time')])
def test_cls_epi_warp_check_compares_warped_with_unwarped_views(tmp_path, warped, verdict):
    _runs(tmp_path, oracle=(3.9, 4.1), view1=(4.0, 4.3))
    for seed in (0, 1):   # the same test frames for both seeds: the unwarped error is the same
        doc = fake_eval(4.3, 6.5)
        doc['warp_check'] = {'n': 10, 'level': 3, 'unwarped': 5.0, 'warped': warped[seed]}
        write_runs(tmp_path, {(seed, 'cls_epi', 'random'): doc})
    res = pb.collect(tmp_path, [0, 1])
    assert 'warp_warped' not in res['base_u']['random']     # a base model has no flow to check
    c = pb.headroom(res)['cls_epi_warp']
    assert c['ratio'] == pytest.approx(sum(warped) / 2 / 5.0) and c['spread'] == pytest.approx(warped[1] - warped[0])
    text = '\n'.join(pb.headroom_verdicts(pb.headroom(res)))
    assert f"5.00 unwarped, {sum(warped) / 2:.2f} warped" in text and verdict in text


def test_cls_epi_trained_with_l_w_against_l_s_from_the_same_checkpoint(tmp_path):
    res = _runs(tmp_path, oracle=(3.9, 4.1), view1=(4.0, 4.3))
    assert 'cls_epi_w_vs_cls_epi' not in pb.headroom(res)          # not trained: no comparison, no sentence
    for seed in (0, 1):
        doc = fake_eval(3.0 + 0.2 * seed, 5.0)                      # CLS-epi (l_s): 4.3 MAE, 6.5 GAME(3)
        doc['warp_check'] = {'n': 10, 'level': 3, 'unwarped': 5.0, 'warped': 3.5}
        write_runs(tmp_path, {(seed, 'cls_epi_w', v): doc for v in ('random', 'random_sync', 'random_zero_flow')})
    res = pb.collect(tmp_path, [0, 1])
    room = pb.headroom(res)
    assert room['cls_epi_w_vs_cls_epi']['diff'] == pytest.approx(3.1 - 4.3) and not room['cls_epi_w_vs_cls_epi']['tie']
    assert room['cls_epi_w_vs_cls_epi_game3']['diff'] == pytest.approx(-1.5)
    assert room['cls_epi_w_warp']['ratio'] == pytest.approx(0.7) and 'cls_epi_warp' not in room
    text = '\n'.join(pb.headroom_verdicts(room))
    assert 'CLS-epi trained with l_W against l_s, MAE: -1.20 (ratio 0.72, spread 0.20; l_W better)' in text
    assert "CLS-epi (l_W)'s flow on views 2 and 3" in text and 'the flow moves people towards the reference' in text
    md = pb.markdown(res, [0, 1])
    assert '| CLS-epi (l_W) | unsynchronized frames + synchronized ones for l_W, from BaseU | 3.10 ± 0.10 |' in md


def test_a_seed_without_its_evaluation_leaves_the_cell_empty(tmp_path):
    write_runs(tmp_path, {(0, 'base_u', 'random'): fake_eval(4.0, 6.0)})
    assert pb.collect(tmp_path, [0, 1]) == {}
    assert pb.headroom({}) == {} and pb.headroom_verdicts({}) == []


def test_main_writes_the_report_from_cached_evaluations(tmp_path, capsys):
    _runs(tmp_path, oracle=(3.9, 4.1), view1=(4.0, 4.3))
    data = tmp_path / 'data_random'
    data.mkdir()
    (data / 'manifest.json').write_text('{}')
    md, js = tmp_path / 'out.md', tmp_path / 'out.json'
    assert pb.main(['--runs', str(tmp_path), '--data', str(data), '--markdown', str(md), '--json', str(js)]) == 0
    doc = json.loads(js.read_text())
    assert doc['checks']['cls_epi_vs_base_u_mae']['ratio'] == pytest.approx(4.3 / 4.1)
    assert 'target <= 0.75: missed' in md.read_text() and 'Perfect synchronization' in md.read_text()
    assert pb.main(['--runs', str(tmp_path), '--data', str(tmp_path / 'none')]) == 2
    assert 'pets2009_data.sh' in capsys.readouterr().err
