"""vsync-bench over input sizes (--sizes, --json), interleaved and sequential timing, and the cost figure of
vsync_ros.reports.bench_figures."""
import argparse
import contextlib
import io
import json
import multiprocessing as mp
import re
import struct
import time

import pytest
import torch

from vsync_ros.reports import bench, bench_figures

# the small config with thin encoders and a coarse ground grid: fast children, the real model code paths
TINY = ['model.encoder_channels=[4,4,8,8]', 'model.flow_encoder_channels=[4,4,8,8]', 'model.decoder_channels=[8,8]',
        'data.gp_cell_m=1.0']


def png_size(path) -> tuple[int, int]:
    """(width, height) pixels from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def test_parse_size_and_size_error():
    assert bench.parse_size('384x288') == (384, 288)
    assert bench.parse_size('96X64') == (96, 64)
    with pytest.raises(argparse.ArgumentTypeError, match='96by64'):
        bench.parse_size('96by64')
    with pytest.raises(argparse.ArgumentTypeError, match='0x64'):
        bench.parse_size('0x64')
    assert bench.size_error([(192, 144), (768, 576)], 3) is None
    msg = bench.size_error([(192, 144), (200, 144)], 3)
    assert '--sizes 200x144' in msg and 'multiples of 16' in msg and 'model.num_scales' in msg
    # the constraint follows the config: 2 scales need multiples of 8 only
    assert bench.size_error([(200, 144)], 2) is None
    assert 'multiples of 8' in bench.size_error([(100, 64)], 2)


def test_bad_sizes_are_rejected_before_any_run(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(['--sizes', '96x64', '96by64'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert '--sizes' in err and '96by64' in err
    assert bench.main(['--sizes', '96x64', '100x64', '--methods', 'base', '--device', 'cpu']) == 2
    err = capsys.readouterr().err
    assert '--sizes 100x64' in err and 'multiples of 16' in err
    # the message follows the config: a 2-scale model needs multiples of 8
    assert bench.main(['--sizes', '100x64', '--methods', 'base', '--device', 'cpu', 'model.num_scales=2',
                       'model.corr_levels=[1]']) == 2
    assert 'multiples of 8' in capsys.readouterr().err
    assert bench.main(['--iters', '0', '--methods', 'base', '--device', 'cpu']) == 2
    assert '--iters' in capsys.readouterr().err


def test_ratios_compare_within_size_views_and_device():
    rows = [{'method': 'base', 'device': 'cpu', 'size': '96x64', 'views': 3, 'infer_ms': 10.0, 'train_step_ms': 50.0},
            {'method': 'cls_epi', 'device': 'cpu', 'size': '96x64', 'views': 3, 'infer_ms': 25.0,
             'train_step_ms': 200.0},
            {'method': 'base', 'device': 'cpu', 'size': '128x96', 'views': 3, 'infer_ms': 20.0},
            {'method': 'cls_epi', 'device': 'cpu', 'size': '128x96', 'views': 3, 'infer_ms': 30.0,
             'train_step_ms': 300.0},
            {'method': 'cls_epi', 'device': 'cpu', 'size': '128x96', 'views': 5, 'infer_ms': 40.0},
            {'method': 'cls_epi', 'device': 'cpu', 'size': '128x96', 'views': 3, 'error': 'timed out'}]
    out = bench.with_ratios(rows)
    assert [r.get('infer_x_base') for r in out] == [1.0, 2.5, 1.0, 1.5, None, None]
    # no BaseU training time at 128x96: no training ratio there
    assert [r.get('train_x_base') for r in out] == [1.0, 4.0, None, None, None, None]
    assert 'infer_x_base' not in rows[0]  # copies, the input is unchanged
    # rows without per-round times (sequential runs, old JSON): ratio of medians, no IQR
    assert all(r.get('infer_x_base_iqr') is None and r.get('train_x_base_iqr') is None for r in out)


def test_ratio_spread_by_hand():
    # ratios 1.1, 1.2, 1.3, 1.4, 3.0: median 1.3, quartiles at sorted positions 1 and 3
    assert bench.ratio_spread([10.0] * 5, [11.0, 12.0, 13.0, 14.0, 30.0]) == pytest.approx((1.3, 1.2, 1.4))
    # drift: BaseU doubles in rounds 2 and 4 and the method with it; the per-round ratios
    # 1.5, 1.5, 1.6, 2.0, 1.2 see through it (the ratio of the medians would be 16 / 10 = 1.6)
    base, method = [10.0, 20.0, 10.0, 20.0, 10.0], [15.0, 30.0, 16.0, 40.0, 12.0]
    assert bench.ratio_spread(base, method) == pytest.approx((1.5, 1.5, 1.6))
    # even count, interpolated: ratios 1.2, 1.5, 1.5, 2.0 -> median 1.5, q25 = 1.2 + 0.75 * 0.3 = 1.425,
    # q75 = 1.5 + 0.25 * 0.5 = 1.625
    assert bench.ratio_spread([10.0, 10.0, 20.0, 10.0], [12.0, 15.0, 30.0, 20.0]) == pytest.approx((1.5, 1.425, 1.625))
    assert bench.ratio_spread([20.0], [30.0]) == (1.5, 1.5, 1.5)
    assert bench.ratio_spread([7.3, 9.1], [7.3, 9.1]) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match='rounds'):
        bench.ratio_spread([10.0, 10.0], [12.0])
    assert bench.iqr_text(1.2, 1.4) == '1.20-1.40'
    # with_ratios uses them for rows with per-round times
    rows = [{'method': 'base', 'device': 'cpu', 'views': 3, 'infer_ms': 10.0, 'infer_rounds_ms': base},
            {'method': 'cls_cor', 'device': 'cpu', 'views': 3, 'infer_ms': 16.0, 'infer_rounds_ms': method}]
    out = bench.with_ratios(rows)
    assert [r['infer_x_base'] for r in out] == [1.0, pytest.approx(1.5)]
    assert [r['infer_x_base_iqr'] for r in out] == ['1.00-1.00', '1.50-1.60']
    assert [r['train_x_base'] for r in out] == [None, None]


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """Two sizes, 3 views, BaseU and CLS-cor (direct), 3 interleaved rounds, with the training step."""
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = bench.main(['--sizes', '96x64', '128x96', '--views', '3', '--iters', '3', '--warmup', '0',
                         '--methods', 'base', 'cls_cor', '--correlation', 'direct', '--train-step', '--threads', '1',
                         '--device', 'cpu', '--json', str(out)] + TINY)
    return rc, out, stdout.getvalue()


@pytest.mark.slow  # times models
def test_sizes_run_writes_rows_and_settings(tiny_run):
    rc, out, stdout = tiny_run
    report = json.loads(out.read_text())
    rows = report['results']
    assert rc == 0, rows
    assert [(r['method'], r['size'], r['views']) for r in rows] == [
        ('base', '96x64', 3), ('cls_cor', '96x64', 3), ('base', '128x96', 3), ('cls_cor', '128x96', 3)]
    # small.yaml matches only at level 2: (64 / 4 / 4) x (96 / 4 / 4) = 4 x 6 feature px, and 6 x 8
    assert [r['feature_area'] for r in rows] == [24, 24, 48, 48]
    assert [(r['feature_w'], r['feature_h']) for r in rows[1::2]] == [(6, 4), (8, 6)]
    # the size reached the model: the direct correlation's H*W input channels grow the motion net
    assert rows[3]['params_m'] > rows[1]['params_m'] and rows[2]['params_m'] == rows[0]['params_m']
    for r in rows:
        assert r['infer_ms'] > 0 and r['train_step_ms'] > 0 and r['peak_mb'] > 0
        # interleaved: one time per round, the median of them reported
        assert len(r['infer_rounds_ms']) == len(r['train_step_rounds_ms']) == 3
        assert r['infer_ms'] == pytest.approx(sorted(r['infer_rounds_ms'])[1])
        base = next(b for b in rows if b['method'] == 'base' and b['size'] == r['size'])
        # x BaseU = median of the per-round ratios, with their IQR
        for kind, key in (('infer', 'infer_rounds_ms'), ('train', 'train_step_rounds_ms')):
            median, q25, q75 = bench.ratio_spread(base[key], r[key])
            assert r[f'{kind}_x_base'] == pytest.approx(median) and 0 < median < float('inf')
            assert r[f'{kind}_x_base_iqr'] == bench.iqr_text(q25, q75)
            assert re.fullmatch(r'\d+\.\d\d-\d+\.\d\d', r[f'{kind}_x_base_iqr'])
    for r in rows[::2]:  # BaseU against itself, round by round: exactly 1
        assert (r['infer_x_base'], r['train_x_base']) == (1.0, 1.0)
        assert r['infer_x_base_iqr'] == r['train_x_base_iqr'] == '1.00-1.00'
    s = report['settings']
    assert (s['threads'], s['iters'], s['warmup'], s['device'], s['torch']) == (1, 3, 0, 'cpu', torch.__version__)
    assert s['sizes'] == ['96x64', '128x96'] and s['views'] == [3] and s['train_step'] is True
    assert s['interleaved'] is True and 'interleaved rounds' in stdout
    assert s['config'].endswith('small.yaml') and s['overrides'] == TINY
    assert '| cls_cor | direct | l2:D | 128x96 | l2: 8x6 = 48 | 3 | cpu |' in stdout
    assert 'train x BaseU' in stdout and f'wrote {out}' in stdout
    assert '| x BaseU | x BaseU (IQR) |' in stdout and '| 1.00 | 1.00-1.00 |' in stdout


@pytest.mark.slow  # times models
def test_sequential_run_keeps_the_ratio_of_medians(tmp_path, capsys):
    out = tmp_path / 'seq.json'
    assert bench.main(['--sequential', '--sizes', '96x64', '--iters', '1', '--warmup', '0', '--methods', 'base',
                       'cls_cor', '--correlation', 'direct', '--threads', '1', '--device', 'cpu',
                       '--json', str(out)] + TINY) == 0
    stdout = capsys.readouterr().out
    report = json.loads(out.read_text())
    rows = report['results']
    assert report['settings']['interleaved'] is False and 'one method after the other' in stdout
    assert [r['method'] for r in rows] == ['base', 'cls_cor']
    assert all('infer_rounds_ms' not in r and r['infer_x_base_iqr'] is None for r in rows)
    assert rows[1]['infer_x_base'] == pytest.approx(rows[1]['infer_ms'] / rows[0]['infer_ms'])
    assert '| 1.00 | - |' in stdout


@pytest.mark.slow  # times models
def test_a_failing_method_gives_an_error_row_and_the_others_run():
    # an unknown correlation form breaks the CLS-cor child only (its config is rejected); BaseU and the
    # direct CLS-cor, started after it, are timed in rounds as usual
    res = bench.run_bench(str(bench._default_config()), ['base', 'cls_cor'], ['cpu'], 0, 2, 1, True, TINY,
                          correlations=['bogus', 'direct'], sizes=[(96, 64)])
    assert [(r['method'], r['correlation']) for r in res] == [('base', '-'), ('cls_cor', 'bogus'),
                                                              ('cls_cor', 'direct')]
    assert "model.correlation must be one of" in res[1]['error'] and 'infer_ms' not in res[1]
    for r in (res[0], res[2]):
        assert 'error' not in r and 'train_error' not in r
        assert len(r['infer_rounds_ms']) == len(r['train_step_rounds_ms']) == 2
    rows = bench.with_ratios(res)
    assert rows[0]['infer_x_base'] == 1.0 and rows[2]['infer_x_base'] > 0 and rows[2]['train_x_base'] > 0
    table = bench.markdown_table(res, True)
    assert '| cls_cor | bogus |' in table and 'error: ConfigError' in table


def test_children_over_their_time_budget_give_error_rows_without_hanging():
    start = time.monotonic()
    res = bench.run_bench(str(bench._default_config()), ['base', 'cls_cor'], ['cpu'], 0, 2, 1, False, TINY,
                          timeout_s=0.05, sizes=[(96, 64)])
    assert time.monotonic() - start < 30
    assert [(r['method'], r['error']) for r in res] == [('base', 'timed out (more than 0.05 s)'),
                                                         ('cls_cor', 'timed out (more than 0.05 s)')]
    assert not mp.active_children()  # ended, not left running


@pytest.mark.slow  # times models
def test_figure_from_a_real_run(tiny_run, tmp_path, capsys):
    png = tmp_path / 'img' / 'cost.png'
    assert bench_figures.main([str(tiny_run[1]), '--out', str(png)]) == 0
    width, height = png_size(png)
    assert width > 600 and height > 600
    # one rig size: the size panel only, and said so
    assert 'only one rig size' in capsys.readouterr().err


def _row(method, size, area, views, ms, ratio, correlation='-'):
    return {'method': method, 'correlation': correlation, 'device': 'cpu', 'size': size, 'feature_area': area,
            'views': views, 'infer_ms': ms, 'infer_x_base': ratio}


def test_figure_with_one_size_draws_the_views_panel_only(tmp_path, capsys):
    rows = [_row('base', '192x144', 432, v, 10.0 * v, 1.0) for v in (3, 5, 8)]
    rows += [_row('cls_epi', '192x144', 432, v, 25.0 * v, 2.5, 'factorized') for v in (3, 5, 8)]
    report = tmp_path / 'one_size.json'
    report.write_text(json.dumps({'settings': {'threads': 2, 'device': 'cpu', 'sizes': ['192x144']},
                                  'results': rows}))
    two = tmp_path / 'two_sizes.json'
    two.write_text(json.dumps({'settings': {'threads': 2, 'device': 'cpu'},
                               'results': rows + [dict(r, size='384x288', feature_area=1728) for r in rows]}))
    one_png, two_png = tmp_path / 'one.png', tmp_path / 'two.png'
    assert bench_figures.main([str(report), '--out', str(one_png)]) == 0
    err = capsys.readouterr().err
    assert str(report) in err and 'views panel only' in err
    assert bench_figures.main([str(two), '--out', str(two_png)]) == 0
    assert 'panel only' not in capsys.readouterr().err
    # one panel column instead of two
    assert png_size(one_png)[0] < 0.6 * png_size(two_png)[0]


def test_figure_errors_name_the_file(tmp_path, capsys):
    flat = tmp_path / 'flat.json'
    flat.write_text(json.dumps({'settings': {}, 'results': [_row('base', '192x144', 432, 3, 10.0, 1.0)]}))
    assert bench_figures.main([str(flat), '--out', str(tmp_path / 'x.png')]) == 2
    err = capsys.readouterr().err
    assert str(flat) in err and '--sizes' in err and not (tmp_path / 'x.png').exists()
    old = tmp_path / 'old.json'
    old.write_text(json.dumps({'results': [{'method': 'base', 'device': 'cpu', 'views': 3, 'infer_ms': 1.0}]}))
    assert bench_figures.main([str(old), '--out', str(tmp_path / 'x.png')]) == 2
    err = capsys.readouterr().err
    assert str(old) in err and 'feature_area' in err
    assert bench_figures.main([str(tmp_path / 'missing.json'), '--out', str(tmp_path / 'x.png')]) == 2
    assert 'missing.json' in capsys.readouterr().err
