r"""Cost figure from a ``vsync-bench --json`` report: inference time against input size and rig size.

Usage::

    vsync-bench --threads 2 --sizes 192x144 384x288 768x576 --views 3 5 8 --correlation direct factorized \
        --train-step --json runs/bench/cost.json
    python -m vsync_ros.reports.bench_figures runs/bench/cost.json --out docs/img/bench_cost.png

Two panels, one line per method / correlation form: the median inference time (ms, log scale) against the
feature-map area of the finest matched level (feature pixels, log scale; at 3 views, else the fewest views
run at several sizes) and against the number of views (at the report's first size). Under each panel a
strip shows the 'x BaseU' ratio (inference time over BaseU's with the same size, views and device). A report
with a single input size gets the views panel only (and one with a single rig size the size panel only);
both are said on stderr. Rows of the first device only (the settings' 'device'). No model is run.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from matplotlib.ticker import FuncFormatter

from vsync_ros.engine.tasks.common import METHOD_NAMES

LABELS = {'base': 'BaseU', **METHOD_NAMES}
REQUIRED = ('method', 'device', 'size', 'feature_area', 'views', 'infer_ms')
FORM_STYLES = {'direct': '-', 'factorized': '--', 'auto': ':'}
PREFERRED_VIEWS = 3


class BenchReportError(ValueError):
    """A ``vsync-bench --json`` report that cannot be plotted (the message names the file)."""


def load_report(path: str | Path) -> dict:
    """Read a ``vsync-bench --json`` report; raise :class:`BenchReportError` naming ``path`` when unusable.

    Returns:
        ``{'settings': dict, 'rows': [result rows without error that carry every REQUIRED key]}``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchReportError(f'{path}: cannot read a JSON report ({exc})') from None
    results = data.get('results') if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise BenchReportError(f"{path}: no 'results' list (write one with vsync-bench --json)")
    rows = [r for r in results if isinstance(r, dict) and 'error' not in r and all(k in r for k in REQUIRED)]
    if not rows:
        raise BenchReportError(f'{path}: no result row without error that has {", ".join(REQUIRED)} '
                               f'(written by a vsync-bench without --sizes support?)')
    settings = data.get('settings') if isinstance(data.get('settings'), dict) else {}
    return {'settings': settings, 'rows': rows}


def series_label(row: dict) -> str:
    """Legend label of a row: the method's name, plus the correlation form when one was chosen."""
    name = LABELS.get(row['method'], row['method'])
    form = row.get('correlation', '-')
    return name if form in ('-', '', None) else f'{name} ({form})'


def curves(rows: list[dict], x_key: str, **fixed) -> dict[str, list[tuple[float, float, float | None]]]:
    """Per legend label, the (x, inference ms, x BaseU or None) points of ``rows`` matching ``fixed``, sorted by x."""
    out: dict[str, list[tuple[float, float, float | None]]] = {}
    for r in rows:
        if all(r.get(k) == v for k, v in fixed.items()):
            out.setdefault(series_label(r), []).append((r[x_key], r['infer_ms'], r.get('infer_x_base')))
    return {label: sorted(points, key=lambda p: p[0]) for label, points in out.items()}


def plan_panels(report: dict, path: str | Path) -> dict:
    """Which panels a report supports, and what is held fixed in each.

    Returns:
        device, rows (of that device), sizes_views (views of the size panel or None), first_size (size of the
        views panel or None), notes (what was left out and why). Raises :class:`BenchReportError` naming
        ``path`` when neither panel has two points on a line.
    """
    settings, rows = report['settings'], report['rows']
    devices = list(dict.fromkeys(r['device'] for r in rows))
    device = settings.get('device') if settings.get('device') in devices else devices[0]
    rows = [r for r in rows if r['device'] == device]
    notes = [f'rows of device {device} only (the report also has {", ".join(d for d in devices if d != device)})'
             ] if len(devices) > 1 else []
    sizes_by_views: dict[int, set[str]] = {}
    for r in rows:
        sizes_by_views.setdefault(r['views'], set()).add(r['size'])
    multi = sorted(v for v, s in sizes_by_views.items() if len(s) > 1)
    sizes_views = PREFERRED_VIEWS if PREFERRED_VIEWS in multi else (multi[0] if multi else None)
    order = [s for s in settings.get('sizes', []) if any(r['size'] == s for r in rows)]
    first_size = order[0] if order else rows[0]['size']
    views_here = {r['views'] for r in rows if r['size'] == first_size}
    if len(views_here) < 2:
        first_size = None
    all_sizes = sorted({r['size'] for r in rows})
    if sizes_views is None and first_size is None:
        raise BenchReportError(f'{path}: nothing to plot: needs rows at two or more input sizes (vsync-bench --sizes) '
                               f'or two or more rig sizes (--views); it has sizes {", ".join(all_sizes)} and views '
                               f'{", ".join(str(v) for v in sorted(sizes_by_views))} on {device}')
    if sizes_views is None:
        notes.append(f'only one input size ({", ".join(all_sizes)}): drawing the views panel only')
    elif sizes_views != PREFERRED_VIEWS:
        notes.append(f'no rows at {PREFERRED_VIEWS} views and several sizes: the size panel is at {sizes_views} views')
    if first_size is None:
        notes.append('only one rig size at the first input size: drawing the size panel only')
    return {'device': device, 'rows': rows, 'sizes_views': sizes_views, 'first_size': first_size, 'notes': notes}


def _style(label: str, index: int) -> dict:
    """Line colour, style and marker of a legend label (colour by method, line style by correlation form)."""
    form = label.rsplit('(', 1)[-1].rstrip(')') if '(' in label else ''
    method = label.split(' (')[0]
    names = list(LABELS.values())
    colour = f'C{names.index(method) if method in names else index}'
    return {'color': colour, 'linestyle': FORM_STYLES.get(form, '-'), 'marker': 'o', 'markersize': 4}


def _padded(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """Axis limits (x) around [lo, hi] with room on the right for the ratio labels (in log space when ``log``)."""
    a, b = (math.log(lo), math.log(hi)) if log else (lo, hi)
    span = (b - a) or 1.0
    a, b = a - 0.06 * span, b + 0.14 * span
    return (math.exp(a), math.exp(b)) if log else (a, b)


def _ms_label(value: float, _pos: int | None = None) -> str:
    """Tick label of a time axis in ms (plain numbers on the log scale)."""
    return f'{value:g}'


def _draw_panel(ax_time, ax_ratio, lines: dict, xlabel: str, title: str, log_x: bool, ticks: dict) -> None:
    """One panel: inference ms (log) per line on ``ax_time``, x BaseU per line on ``ax_ratio`` below it."""
    any_ratio = False
    for i, (label, points) in enumerate(lines.items()):
        style = _style(label, i)
        xs = [p[0] for p in points]
        ax_time.plot(xs, [p[1] for p in points], label=label, **style)
        ratio = [(p[0], p[2]) for p in points if p[2] is not None]
        if ratio and label != LABELS['base']:  # BaseU is the line at 1
            any_ratio = True
            ax_ratio.plot([p[0] for p in ratio], [p[1] for p in ratio], **style)
            ax_ratio.annotate(f'{ratio[-1][1]:.2f}', ratio[-1], textcoords='offset points', xytext=(4, 0),
                              fontsize=7, color=style['color'], va='center', annotation_clip=False)
    ax_time.set_yscale('log')
    ax_time.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    ax_time.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: _ms_label(y) if f'{y:.0e}'[0] in '235' else ''))
    ax_time.set_ylabel('inference ms (median, log)')
    ax_time.set_title(title, fontsize=10)
    ax_time.grid(True, which='both', alpha=0.3)
    ax_ratio.axhline(1.0, color='0.5', linewidth=0.8)
    ax_ratio.set_ylabel('x BaseU')
    ax_ratio.set_xlabel(xlabel)
    ax_ratio.grid(True, alpha=0.3)
    if not any_ratio:
        ax_ratio.text(0.5, 0.5, 'no BaseU rows: no ratio', transform=ax_ratio.transAxes, ha='center', va='center')
    if log_x:
        ax_ratio.set_xscale('log')
    ax_ratio.set_xticks(list(ticks), [ticks[x] for x in ticks])
    ax_ratio.minorticks_off()
    ax_ratio.set_xlim(*_padded(min(ticks), max(ticks), log_x))


def draw_figure(report: dict, out: str | Path, path: str | Path = '') -> list[str]:
    """Write the cost figure of ``report`` (from :func:`load_report`) as a PNG to ``out``; returns the notes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    plan = plan_panels(report, path)
    rows, settings = plan['rows'], report['settings']
    panels = []
    if plan['sizes_views'] is not None:
        v = plan['sizes_views']
        ticks = {r['feature_area']: f'{r["feature_area"]}\n{r["size"]}' for r in rows if r['views'] == v}
        panels.append((curves(rows, 'feature_area', views=v),
                       'finest matched feature-map area (feature px; input size in pixels)',
                       f'vs input size ({v} views)', True, dict(sorted(ticks.items()))))
    if plan['first_size'] is not None:
        s = plan['first_size']
        ticks = {r['views']: str(r['views']) for r in rows if r['size'] == s}
        panels.append((curves(rows, 'views', size=s), 'views (synthetic rig)', f'vs number of views ({s} input)',
                       False, dict(sorted(ticks.items()))))
    fig = Figure(figsize=(6.0 * len(panels) + 0.6, 6.6), layout='constrained')
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, len(panels), height_ratios=[3, 1.2])
    for col, (lines, xlabel, title, log_x, ticks) in enumerate(panels):
        ax_time = fig.add_subplot(grid[0, col])
        ax_ratio = fig.add_subplot(grid[1, col], sharex=ax_time)
        ax_time.tick_params(labelbottom=False)
        _draw_panel(ax_time, ax_ratio, lines, xlabel, title, log_x, ticks)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='outside lower center', ncols=min(4, len(labels)), fontsize=8)
    fig.suptitle(f'vsync-bench inference cost: {plan["device"]}, {settings.get("threads", "?")} CPU threads\n'
                 f'torch {settings.get("torch", "?")}, batch 1, median of {settings.get("iters", "?")} runs, '
                 f'{Path(str(settings.get("config", "?"))).name}', fontsize=10)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return plan['notes']


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m vsync_ros.reports.bench_figures BENCH.json --out PNG``."""
    p = argparse.ArgumentParser(prog='python -m vsync_ros.reports.bench_figures', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('report', help='JSON written by vsync-bench --json')
    p.add_argument('--out', default='docs/img/bench_cost.png', help='PNG to write')
    args = p.parse_args(argv)
    try:
        notes = draw_figure(load_report(args.report), args.out, args.report)
    except BenchReportError as exc:
        print(f'bench_figures: {exc}', file=sys.stderr)
        return 2
    for note in notes:
        print(f'bench_figures: {args.report}: {note}', file=sys.stderr)
    print(f'bench_figures: wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
