"""``python -m vsync_ros.reports.pets_budget``: how much PETS2009 leaves for synchronization to win.

The PETS2009 tables (:mod:`vsync_ros.reports.pets_results`) compare models trained with the paper's
relative budgets. This report asks a different question with a longer budget: what would a model
gain if its views were perfectly synchronized, and what do views 2 and 3 add at all? A sync model
can at best recover that gain, so it bounds what CLS-epi can win over BaseU.

Input: the output of ``scripts/pets2009_budget.sh`` (``--runs``, default ``runs/pets2009_budget``),
``seed<S>/<name>.pt`` for every row of :data:`ROWS`, and the random-latency PETS2009 data set
(``--data``, default ``runs/pets2009/data_random``, written by ``scripts/pets2009_data.sh``).

Evaluations (one ``vsync-eval --json`` each on the test split, cached under ``<runs>/eval/seed<S>/``):

* ``random``: the unsynchronized test frames (random latency kappa = 5 s);
* ``random_sync``: the synchronized test frames (views 2 and 3 rendered at the reference time);
* ``random_zero_flow``: a sync model with its flow forced to zero;
* ``random_view1``: views 2 and 3 missing (images zeroed, ``view_valid`` False).

Output: ``docs/results/pets2009_budget.{md,json}``: every number per seed, mean ± half the range
over seeds, the issue's three acceptance comparisons at this budget (as in ``pets_results``) and two
more: the oracle (BaseS on synchronized frames against BaseU) and the value of views 2 and 3 (a
view-1-only model against BaseU). A difference smaller than the larger spread is a tie.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from vsync_ros.reports.pets_results import checks, eval_job, metric_of, run_evaluations, verdicts
from vsync_ros.reports.seeds import compare, fmt, seed_stats

VARIANTS: dict[str, list[str]] = {
    'random': [],
    'random_sync': ['--sync'],
    'random_zero_flow': ['--zero-flow'],
    'random_view1': ['--drop-view', '1', '--drop-view', '2'],
}
METRICS = ('mae', 'nae', 'game3')
#: a camera-level sync model's warp check (vsync-eval's 'warp_check': image GAME(3) of views 2 and 3 against their
#: synchronized frames, before and after its flow), collected where every seed's evaluation has it
WARP_METRICS = ('warp_unwarped', 'warp_warped')


@dataclass(frozen=True)
class BudgetRow:
    """One model of the budget report: checkpoint name, label, what it trained on, its evaluations."""

    name: str
    label: str
    trained_on: str
    variants: tuple[str, ...]


ROWS: tuple[BudgetRow, ...] = (
    BudgetRow('base_u', 'BaseU', 'unsynchronized frames', ('random', 'random_sync', 'random_view1')),
    BudgetRow('cls_epi', 'CLS-epi (l_s)', 'unsynchronized frames, from BaseU',
              ('random', 'random_sync', 'random_zero_flow')),
    BudgetRow('cls_epi_w', 'CLS-epi (l_W)', 'unsynchronized frames + synchronized ones for l_W, from BaseU',
              ('random', 'random_sync', 'random_zero_flow')),
    BudgetRow('base_s', 'BaseS', 'synchronized frames', ('random_sync', 'random')),
    BudgetRow('view1', 'View 1 only', 'unsynchronized frames, views 2 and 3 always missing', ('random_view1',)),
)
TARGET_RATIO = 0.75   # the issue's CLS-epi / BaseU MAE target


def evaluation_jobs(runs: Path, data: Path, seeds: list[int]) -> list[tuple[Path, list[str]]]:
    """(JSON output, vsync-eval arguments) of every evaluation of the report, for checkpoints that exist."""
    return [eval_job(runs, seed, row.name, variant, data, VARIANTS[variant])
            for seed in seeds for row in ROWS if (runs / f'seed{seed}' / f'{row.name}.pt').is_file()
            for variant in row.variants]


def collect(runs: Path, seeds: list[int]) -> dict:
    """{row name: {variant: {metric: seed_stats}}}; a variant enters only when every seed's JSON exists."""
    out: dict = {}
    for row in ROWS:
        entry = {}
        for variant in row.variants:
            paths = [runs / 'eval' / f'seed{s}' / f'{row.name}_{variant}.json' for s in seeds]
            if not seeds or not all(p.is_file() for p in paths):
                continue
            docs = [json.loads(p.read_text()) for p in paths]
            entry[variant] = {k: seed_stats([metric_of(d, k) for d in docs]) for k in METRICS}
            if all('warp_check' in d for d in docs):
                entry[variant].update({k: seed_stats([float(d['warp_check'][k[5:]]) for d in docs])
                                       for k in WARP_METRICS})
            entry[variant]['n'] = docs[0]['n']
        if entry:
            out[row.name] = entry
    return out


def headroom(res: dict) -> dict:
    """The two bounds beyond the issue's checks (lower MAE is better; each a :func:`compare` dict).

    * ``oracle_vs_base_u`` (MAE) and ``oracle_vs_base_u_game3`` (GAME(3)): BaseS on synchronized frames
      against BaseU on unsynchronized ones: the best a model of this size and budget does when its views
      are perfectly synchronized;
    * ``base_u_sync_vs_base_u``: BaseU's own weights on synchronized frames (its latency penalty);
    * ``view1_vs_base_u``: a model that never sees views 2 and 3 against BaseU: what those views add;
    * ``cls_epi_warp`` / ``cls_epi_w_warp``: CLS-epi's flow (trained with l_s / with l_W), views 2 and 3
      warped against unwarped (image GAME(3) against their synchronized frames): whether its flow moves
      people to where they are at the reference time;
    * ``cls_epi_w_vs_cls_epi`` (MAE) and ``cls_epi_w_vs_cls_epi_game3``: the same model from the same BaseU
      checkpoint, trained with l_W (the flow told where people are at the reference time) against l_s.
    """
    def stat(name: str, variant: str, metric: str = 'mae') -> dict | None:
        return res.get(name, {}).get(variant, {}).get(metric)

    out = {}
    for key, metric, other in (('oracle_vs_base_u', 'mae', ('base_s', 'random_sync')),
                               ('oracle_vs_base_u_game3', 'game3', ('base_s', 'random_sync')),
                               ('base_u_sync_vs_base_u', 'mae', ('base_u', 'random_sync')),
                               ('view1_vs_base_u', 'mae', ('view1', 'random_view1'))):
        u, o = stat('base_u', 'random', metric), stat(*other, metric)
        if u and o:
            out[key] = compare(o, u)
    for name in ('cls_epi', 'cls_epi_w'):
        cls_random = res.get(name, {}).get('random', {})
        if 'warp_warped' in cls_random:
            out[f'{name}_warp'] = {**compare(cls_random['warp_warped'], cls_random['warp_unwarped']),
                                   'unwarped': cls_random['warp_unwarped']['mean'],
                                   'warped': cls_random['warp_warped']['mean']}
    for key, metric in (('cls_epi_w_vs_cls_epi', 'mae'), ('cls_epi_w_vs_cls_epi_game3', 'game3')):
        w, ls = stat('cls_epi_w', 'random', metric), stat('cls_epi', 'random', metric)
        if w and ls:
            out[key] = compare(w, ls)
    return out


def _oracle_sentence(c: dict) -> str:
    reach = 'could' if c['ratio'] <= TARGET_RATIO else 'could not'
    return (f'Perfect synchronization (BaseS on synchronized frames) / BaseU MAE = {c["ratio"]:.2f} '
            f'(difference {c["diff"]:+.2f}, spread {c["spread"]:.2f}{", a tie" if c["tie"] else ""}): '
            f'a sync model of this size and budget {reach} reach the {TARGET_RATIO} target by synchronizing.')


def _oracle_game3_sentence(c: dict) -> str:
    what = 'a tie' if c['tie'] else ('synchronized views localize better' if c['diff'] < 0 else 'BaseU lower')
    return (f'GAME(3): perfect synchronization - BaseU = {c["diff"]:+.2f} (spread {c["spread"]:.2f}; {what}).')


def _penalty_sentence(c: dict) -> str:
    return (f'BaseU on synchronized frames - on unsynchronized frames = {c["diff"]:+.2f} '
            f'(spread {c["spread"]:.2f}): its latency penalty is {-c["diff"]:.2f} MAE.')


def _view1_sentence(c: dict) -> str:
    what = ('a tie: views 2 and 3 add nothing measurable' if c['tie'] else
            ('views 2 and 3 help' if c['diff'] > 0 else 'the view-1-only model is better'))
    return (f'View 1 only / BaseU MAE = {c["ratio"]:.2f} (difference {c["diff"]:+.2f}, '
            f'spread {c["spread"]:.2f}; {what}).')


def _warp_sentence(c: dict, model: str = 'CLS-epi (l_s)') -> str:
    what = ('a tie: the flow does not measurably synchronize' if c['tie'] else
            ('the flow moves people towards the reference time' if c['diff'] < 0 else
             'the flow moves people away from the reference time'))
    return (f"{model}'s flow on views 2 and 3 (image GAME(3) against their synchronized frames, people): "
            f"{c['unwarped']:.2f} unwarped, {c['warped']:.2f} warped, ratio {c['ratio']:.2f} "
            f"(difference {c['diff']:+.2f}, spread {c['spread']:.2f}; {what}).")


def _loss_sentence(c: dict, metric: str) -> str:
    what = 'a tie' if c['tie'] else ('l_W better' if c['diff'] < 0 else 'l_s better')
    return (f'CLS-epi trained with l_W against l_s, {metric}: {c["diff"]:+.2f} '
            f'(ratio {c["ratio"]:.2f}, spread {c["spread"]:.2f}; {what}).')


_SENTENCES = {'oracle_vs_base_u': _oracle_sentence, 'oracle_vs_base_u_game3': _oracle_game3_sentence,
              'base_u_sync_vs_base_u': _penalty_sentence,
              'view1_vs_base_u': _view1_sentence, 'cls_epi_warp': _warp_sentence,
              'cls_epi_w_warp': lambda c: _warp_sentence(c, 'CLS-epi (l_W)'),
              'cls_epi_w_vs_cls_epi': lambda c: _loss_sentence(c, 'MAE'),
              'cls_epi_w_vs_cls_epi_game3': lambda c: _loss_sentence(c, 'GAME(3)')}


def headroom_verdicts(room: dict) -> list[str]:
    """One sentence per bound of :func:`headroom` that was measured."""
    return [say(room[key]) for key, say in _SENTENCES.items() if key in room]


def markdown(res: dict, seeds: list[int]) -> str:
    """The report's table (Markdown): one row per model, MAE and GAME(3) on every evaluated input."""
    n = next((v['n'] for e in res.values() for v in e.values()), '?')
    cols = (('random', 'unsynchronized frames'), ('random_sync', 'synchronized frames'),
            ('random_zero_flow', 'zero flow'), ('random_view1', 'views 2 and 3 missing'))
    lines = [f'**Room for synchronization** (random latency kappa = 5 s, {n} test frame sets; mean ± half the '
             f'range over training seeds {", ".join(map(str, seeds))})', '',
             '| model | trained on | ' + ' | '.join(f'MAE, {c} | GAME(3)' for _, c in cols) + ' |',
             '| --- | --- |' + ' ---: |' * (2 * len(cols))]
    for row in ROWS:
        e = res.get(row.name, {})
        cells = [f'{fmt(e.get(v, {}).get("mae"))} | {fmt(e.get(v, {}).get("game3"))}' for v, _ in cols]
        lines.append(f'| {row.label} | {row.trained_on} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 when the data set is missing or an evaluation fails."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', type=Path, default=Path('runs/pets2009_budget'),
                   help='output of scripts/pets2009_budget.sh')
    p.add_argument('--data', type=Path, default=Path('runs/pets2009/data_random'),
                   help='the random-latency PETS2009 data set')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--jobs', type=int, default=2, help='evaluations at a time (one CPU thread each)')
    p.add_argument('--json', type=Path, default=Path('docs/results/pets2009_budget.json'))
    p.add_argument('--markdown', type=Path, default=Path('docs/results/pets2009_budget.md'))
    args = p.parse_args(argv)
    if not (args.data / 'manifest.json').is_file():
        print(f'pets_budget: {args.data} holds no manifest.json: run scripts/pets2009_data.sh', file=sys.stderr)
        return 2
    missing = [f'seed{s}/{r.name}.pt' for s in args.seeds for r in ROWS
               if not (args.runs / f'seed{s}' / f'{r.name}.pt').is_file()]
    if missing:
        print(f'pets_budget: missing in {args.runs}: {", ".join(missing)} (their cells stay empty)', file=sys.stderr)
    try:
        run_evaluations(evaluation_jobs(args.runs, args.data, args.seeds), args.jobs)
    except RuntimeError as exc:
        print(f'pets_budget: {exc}', file=sys.stderr)
        return 2
    res = collect(args.runs, args.seeds)
    chk, room = checks(res), headroom(res)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'seeds': args.seeds, 'models': res, 'checks': chk, 'headroom': room}, indent=1))
    lines = verdicts(chk) + headroom_verdicts(room)
    text = markdown(res, args.seeds) + '\n' + '\n'.join(f'- {v}' for v in lines) + '\n'
    args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
