"""``python -m vsync_ros.reports.pets_results``: evaluate the PETS2009 runs and write the README tables.

Input: the output folder of ``scripts/reproduce_pets2009.sh`` (``--runs``, default ``runs/pets2009``):
``data_random`` / ``data_constant`` (test split: S1L1-1, S1L1-2, S1L2-1, S1L2-2 at random latency
kappa = 5 s and constant tau = +5 s / -5 s) and ``seed<S>/<name>.pt`` for every model of
:data:`MODELS` and training seed S.

Every evaluation is one ``vsync-eval --json`` run (one CPU thread, ``--jobs`` at a time), cached under
``<runs>/eval/`` so a second call only aggregates:

* every model on both test sets (unsynchronized frames, what it is trained for);
* every model on the synchronized test frames of the random set (its latency penalty is the difference);
* every sync model with the flow forced to zero (the same weights without synchronization).

Output: ``docs/results/pets2009.json`` (every number, per seed), ``docs/results/pets2009.md`` (the
paper's Table II / III layouts with the paper's PETS2009 numbers alongside, relative gains, the
synchronization-vs-capacity table, GAME(L) and the per-sequence breakdown, each a mean over the
training seeds with the spread = max - min over seeds), and a model card per checkpoint
(``models/pets2009/<name>_seed<S>.md``). A difference smaller than the larger of the two spreads is
reported as a tie.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vsync_ros.reports.seeds import compare, fmt, seed_stats


@dataclass(frozen=True)
class ModelRow:
    """One model of the PETS2009 tables: checkpoint name, label, table, loss group, and whether it has a flow."""

    name: str
    label: str
    table: str
    loss: str
    sync: bool


MODELS: tuple[ModelRow, ...] = (
    ModelRow('base_s', 'BaseS', 'II', 'l_p', False),
    ModelRow('base_su', 'BaseSU', 'II', 'l_p', False),
    ModelRow('cls_epi_w', 'CLS-epi', 'II', 'l_p, l_W', True),
    ModelRow('base_u', 'BaseU', 'III', 'l_p', False),
    ModelRow('sls', 'SLS', 'III', 'l_p, l_s', True),
    ModelRow('cls_cat', 'CLS-cat', 'III', 'l_p, l_s', True),
    ModelRow('cls_cor', 'CLS-cor', 'III', 'l_p, l_s', True),
    ModelRow('cls_epi', 'CLS-epi', 'III', 'l_p, l_s', True),
)
COLUMNS = ('constant', 'random')
SEQUENCES = ('S1L1-1', 'S1L1-2', 'S1L2-1', 'S1L2-2')
BASELINE = {'II': 'base_su', 'III': 'base_u'}   # the relative gain of a table's rows is measured against it

# The paper's PETS2009 numbers (Zhang & Chan, Tables II and III): (MAE, NAE) for constant and random latency.
# Table II trains every sync model with l_W; only CLS-epi of them is reproduced here.
PAPER: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ('II', 'BaseS'): {'constant': (7.21, 0.200), 'random': (4.58, 0.139)},
    ('II', 'BaseSU'): {'constant': (4.36, 0.137), 'random': (4.30, 0.140)},
    ('II', 'CLS-epi'): {'constant': (3.95, 0.130), 'random': (4.09, 0.129)},
    ('III', 'BaseU'): {'constant': (6.18, 0.187), 'random': (6.22, 0.192)},
    ('III', 'SLS'): {'constant': (5.37, 0.178), 'random': (4.82, 0.150)},
    ('III', 'CLS-cat'): {'constant': (6.00, 0.186), 'random': (6.08, 0.189)},
    ('III', 'CLS-cor'): {'constant': (4.18, 0.136), 'random': (4.34, 0.136)},
    ('III', 'CLS-epi'): {'constant': (4.25, 0.135), 'random': (4.77, 0.144)},
}


# ---------------------------------------------------------------------------------------------- evaluation
def eval_job(runs: Path, seed: int, name: str, variant: str, data: Path, extra: list[str]) -> tuple[Path, list[str]]:
    """One evaluation: (its JSON ``<runs>/eval/seed<seed>/<name>_<variant>.json``, vsync-eval arguments).

    The checkpoint ``<runs>/seed<seed>/<name>.pt`` on the test split of ``data``, one CPU thread, with
    ``extra`` options (``--sync``, ``--zero-flow``, ...).
    """
    out = runs / 'eval' / f'seed{seed}' / f'{name}_{variant}.json'
    return out, ['--checkpoint', str(runs / f'seed{seed}' / f'{name}.pt'), '--data', str(data), '--split', 'test',
                 '--threads', '1', '--no-progress', '--json', str(out), *extra]


def evaluation_jobs(runs: Path, seeds: list[int]) -> list[tuple[Path, list[str]]]:
    """(JSON output, vsync-eval arguments) of every evaluation of the tables, for checkpoints that exist."""
    jobs = []
    for seed in seeds:
        for m in MODELS:
            if not (runs / f'seed{seed}' / f'{m.name}.pt').is_file():
                continue
            variants = [(col, []) for col in COLUMNS] + [('random_sync', ['--sync'])]
            if m.sync:
                variants.append(('random_zero_flow', ['--zero-flow']))
            jobs += [eval_job(runs, seed, m.name, variant, runs / f'data_{variant.split("_")[0]}', extra)
                     for variant, extra in variants]
    return jobs


def run_evaluations(jobs: list[tuple[Path, list[str]]], parallel: int, python: str = sys.executable) -> None:
    """Run the evaluations whose JSON does not exist yet, ``parallel`` at a time (progress on stdout).

    Raises:
        RuntimeError: an evaluation failed (its command and stderr are in the message).
    """
    todo = [(out, argv) for out, argv in jobs if not out.is_file()]
    running: list[tuple[subprocess.Popen, Path, list[str]]] = []
    done = 0

    def finish_one() -> None:
        nonlocal done
        while True:
            for item in running:
                proc, out, argv = item
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    running.remove(item)
                    if proc.returncode != 0:
                        raise RuntimeError(f'vsync-eval {" ".join(argv)} failed ({proc.returncode}): {err.strip()}')
                    done += 1
                    print(f'[{done}/{len(todo)}] {out}', flush=True)
                    return
            time.sleep(0.2)

    for out, argv in todo:
        while len(running) >= max(1, parallel):
            finish_one()
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([python, '-m', 'vsync_ros.engine.evaluate', *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        running.append((proc, out, argv))
    while running:
        finish_one()


# ---------------------------------------------------------------------------------------------- aggregation
def metric_of(doc: dict, key: str) -> float:
    """'mae', 'nae' or 'game3' (etc.) of a vsync-eval JSON document."""
    if key.startswith('game'):
        return float(doc['game'][key[4:]])
    return float(doc[key])


def collect(runs: Path, seeds: list[int]) -> dict:
    """{model name: {variant: {metric: seed_stats}, 'per_sequence': {seq: {metric: seed_stats}}}} from the cache.

    Metrics: mae, nae, game0..game3. A model enters only when every seed's JSON exists for the variant.
    """
    out: dict = {}
    for m in MODELS:
        entry: dict = {}
        for variant in [*COLUMNS, 'random_sync', 'random_zero_flow']:
            docs = []
            for seed in seeds:
                path = runs / 'eval' / f'seed{seed}' / f'{m.name}_{variant}.json'
                if path.is_file():
                    docs.append(json.loads(path.read_text()))
            if len(docs) != len(seeds) or not docs:
                continue
            keys = ['mae', 'nae'] + [f'game{lv}' for lv in sorted(docs[0].get('game', {}))]
            entry[variant] = {k: seed_stats([metric_of(d, k) for d in docs]) for k in keys}
            entry[variant]['n'] = docs[0]['n']
            if variant == 'random':
                seqs = {}
                for seq in docs[0].get('per_sequence', {}):
                    if all(seq in d.get('per_sequence', {}) for d in docs):
                        seqs[seq] = {k: seed_stats([metric_of(d['per_sequence'][seq], k) for d in docs])
                                     for k in keys}
                        seqs[seq]['n'] = docs[0]['per_sequence'][seq]['n']
                entry['per_sequence'] = seqs
        if entry:
            out[m.name] = entry
    return out


def checks(res: dict) -> dict:
    """The issue's acceptance comparisons on the random-latency test set (unsynchronized frames)."""
    out = {}
    epi, u = res.get('cls_epi', {}).get('random'), res.get('base_u', {}).get('random')
    if epi and u:
        out['cls_epi_vs_base_u_mae'] = {**compare(epi['mae'], u['mae']), 'target_ratio': 0.75}
        out['cls_epi_vs_base_u_game3'] = compare(epi['game3'], u['game3'])
    zero = res.get('cls_epi', {}).get('random_zero_flow')
    if epi and zero:
        out['cls_epi_zero_flow_vs_cls_epi_mae'] = compare(zero['mae'], epi['mae'])
    return out


# ---------------------------------------------------------------------------------------------- markdown
def gain(model: dict | None, base: dict | None) -> str:
    """Relative MAE gain of a model over a baseline, in percent (positive = lower error), or '-'."""
    if not model or not base or not base['mean']:
        return '-'
    return f'{100 * (base["mean"] - model["mean"]) / base["mean"]:+.0f} %'


def paper_gain(table: str, label: str, col: str) -> str:
    """The same relative gain from the paper's numbers."""
    base_label = {'II': 'BaseSU', 'III': 'BaseU'}[table]
    p, b = PAPER.get((table, label)), PAPER.get((table, base_label))
    if not p or not b:
        return '-'
    return f'{100 * (b[col][0] - p[col][0]) / b[col][0]:+.0f} %'


def markdown(res: dict, seeds: list[int]) -> str:
    """The README tables (Markdown) of :func:`collect`'s result."""
    lines: list[str] = []
    titles = {'II': 'Table II layout: trained with synchronized and unsynchronized frames (gain vs BaseSU)',
              'III': 'Table III layout: trained with unsynchronized frames only (gain vs BaseU)'}
    n = {col: next((e[col]['n'] for e in res.values() if col in e), '?') for col in COLUMNS}
    for table in ('II', 'III'):
        lines += [f'**{titles[table]}** (mean ± half the range over training seeds {", ".join(map(str, seeds))}; '
                  f'test: {n["constant"]} constant-latency / {n["random"]} random-latency frame sets)', '',
                  '| loss | model | constant MAE | NAE | gain | paper MAE | NAE | gain '
                  '| random MAE | NAE | gain | paper MAE | NAE | gain |',
                  '| --- | --- |' + ' ---: |' * 12]
        base = res.get(BASELINE[table], {})
        for m in (m for m in MODELS if m.table == table):
            e = res.get(m.name, {})
            cells = []
            for col in COLUMNS:
                p = PAPER.get((table, m.label), {}).get(col)
                cells += [fmt(e.get(col, {}).get('mae')), fmt(e.get(col, {}).get('nae'), 3),
                          gain(e.get(col, {}).get('mae'), base.get(col, {}).get('mae')),
                          f'{p[0]:.2f}' if p else '-', f'{p[1]:.3f}' if p else '-', paper_gain(table, m.label, col)]
            lines.append(f'| {m.loss} | {m.label} | ' + ' | '.join(cells) + ' |')
        lines.append('')

    lines += ['**What synchronization buys** (random latency, kappa = 5 s): each model on the unsynchronized test '
              'frames, on the synchronized ones (the difference is its latency penalty), and with its flow '
              'forced to zero (the same weights without synchronization); GAME(3) sums the count error over '
              '8 x 8 ground cells.', '',
              '| model | loss | MAE | MAE on synchronized frames | latency penalty | MAE with zero flow '
              '| GAME(0) | GAME(1) | GAME(2) | GAME(3) |',
              '| --- | --- |' + ' ---: |' * 8]
    for m in MODELS:
        e = res.get(m.name, {})
        r, s, z = e.get('random', {}), e.get('random_sync', {}), e.get('random_zero_flow', {})
        penalty = ('-' if not (r and s) else
                   f'{r["mae"]["mean"] - s["mae"]["mean"]:+.2f}')
        lines.append(f'| {m.label} | {m.loss} | {fmt(r.get("mae"))} | {fmt(s.get("mae"))} | {penalty} | '
                     f'{fmt(z.get("mae")) if m.sync else "no flow"} | '
                     + ' | '.join(fmt(r.get(f'game{lv}')) for lv in range(4)) + ' |')
    lines.append('')

    lines += ['**Per test sequence** (random latency, MAE, mean ± half the range over seeds)', '',
              '| model | loss | ' + ' | '.join(SEQUENCES) + ' | all |', '| --- | --- |' + ' ---: |' * 5]
    for m in MODELS:
        e = res.get(m.name, {})
        seqs = e.get('per_sequence', {})
        lines.append(f'| {m.label} | {m.loss} | '
                     + ' | '.join(fmt(seqs.get(q, {}).get('mae')) for q in SEQUENCES)
                     + f' | {fmt(e.get("random", {}).get("mae"))} |')
    lines.append('')
    sizes = next((e['per_sequence'] for e in res.values() if e.get('per_sequence')), {})
    if sizes:
        lines += ['Frame sets per sequence: ' + ', '.join(f'{q} {sizes[q]["n"]}' for q in SEQUENCES if q in sizes)
                  + '.', '']
    return '\n'.join(lines)


def verdicts(chk: dict) -> list[str]:
    """One sentence per acceptance comparison."""
    out = []
    c = chk.get('cls_epi_vs_base_u_mae')
    if c:
        met = c['ratio'] <= c['target_ratio']
        out.append(f'CLS-epi (l_s) / BaseU MAE = {c["ratio"]:.2f} (target <= 0.75: {"met" if met else "missed"}; '
                   f'difference {c["diff"]:+.2f}, seed spread {c["spread"]:.2f}'
                   f'{", a tie" if c["tie"] else ""}).')
    c = chk.get('cls_epi_vs_base_u_game3')
    if c:
        out.append(f'GAME(3): CLS-epi - BaseU = {c["diff"]:+.2f} (spread {c["spread"]:.2f}; '
                   f'{"a tie" if c["tie"] else ("CLS-epi lower" if c["diff"] < 0 else "CLS-epi higher")}).')
    c = chk.get('cls_epi_zero_flow_vs_cls_epi_mae')
    if c:
        verdict = ('worse by more than the spread: the flow matters' if c['diff'] > c['spread']
                   else 'not worse by more than the spread')
        out.append(f'CLS-epi with zero flow - CLS-epi MAE = {c["diff"]:+.2f} (spread {c["spread"]:.2f}; {verdict}).')
    return out


def real_frames(data: Path) -> bool:
    """True when the PETS2009 data set in ``data`` holds the real frames (``vsync-synth --world pets-frames``)."""
    try:
        source = (json.loads((data / 'manifest.json').read_text()).get('world') or {}).get('source') or {}
    except (OSError, ValueError, AttributeError):
        return False
    return source.get('type') == 'pets2009-frames'


def data_description(data: Path) -> str:
    """What the PETS2009 data set in ``data`` holds (for model cards): real frames, or rendered ones."""
    if real_frames(data):
        return 'PETS2009 real frames of views 1-3 and ground-plane maps of the MVMS release'
    return ('PETS2009 real calibration (views 1-3) and real annotated trajectories of S2L2 and S2L3, rendered '
            'by vsync_ros in a synthetic PETS-like scene')


def write_cards(runs: Path, seeds: list[int], cards_dir: Path) -> list[Path]:
    """A model card per checkpoint with its own (per-seed) test numbers; returns the files written."""
    from vsync_ros.reports.results import model_card

    world, real = data_description(runs / 'data_random'), real_frames(runs / 'data_random')
    written = []
    for seed in seeds:
        for m in MODELS:
            ckpt = runs / f'seed{seed}' / f'{m.name}.pt'
            if not ckpt.is_file():
                continue
            evals = []
            for variant, label in [('constant', m.label), ('random', m.label),
                                   ('random_sync', f'{m.label}, synchronized frames'),
                                   ('random_zero_flow', f'{m.label}, zero flow')]:
                path = runs / 'eval' / f'seed{seed}' / f'{m.name}_{variant}.json'
                if path.is_file():
                    evals.append((label, variant.split('_')[0], json.loads(path.read_text())))
            cards_dir.mkdir(parents=True, exist_ok=True)
            card = cards_dir / f'{m.name}_seed{seed}.md'
            text = model_card(ckpt, evals, world=world, synthetic=not real)
            card.write_text(text.replace(f'# {ckpt.name}', f'# {m.name}_seed{seed} ({m.label}, {m.loss})', 1))
            written.append(card)
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 when the runs folder or a checkpoint is missing."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', type=Path, default=Path('runs/pets2009'), help='output of scripts/reproduce_pets2009.sh')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--jobs', type=int, default=2, help='evaluations at a time (one CPU thread each)')
    p.add_argument('--json', type=Path, default=Path('docs/results/pets2009.json'))
    p.add_argument('--markdown', type=Path, default=Path('docs/results/pets2009.md'))
    p.add_argument('--cards', type=Path, default=Path('models/pets2009'))
    p.add_argument('--figure', type=Path, default=Path('docs/img/pets2009_results.png'),
                   help='figure: the rig coverage and one test frame set with GT, BaseU and CLS-epi (seed 0)')
    args = p.parse_args(argv)
    if not (args.runs / 'data_random' / 'manifest.json').is_file():
        print(f'pets_results: {args.runs} holds no data_random/manifest.json: run scripts/reproduce_pets2009.sh',
              file=sys.stderr)
        return 2
    jobs = evaluation_jobs(args.runs, args.seeds)
    missing = [f'seed{s}/{m.name}.pt' for s in args.seeds for m in MODELS
               if not (args.runs / f'seed{s}' / f'{m.name}.pt').is_file()]
    if missing:
        print(f'pets_results: missing in {args.runs}: {", ".join(missing)} (their rows stay empty)', file=sys.stderr)
    try:
        run_evaluations(jobs, args.jobs)
    except RuntimeError as exc:
        print(f'pets_results: {exc}', file=sys.stderr)
        return 2
    res = collect(args.runs, args.seeds)
    chk = checks(res)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'seeds': args.seeds, 'paper': {f'{t} {lab}': v for (t, lab), v in PAPER.items()},
                                     'models': res, 'checks': chk}, indent=1))
    text = markdown(res, args.seeds) + '\n' + '\n'.join(f'- {v}' for v in verdicts(chk)) + '\n'
    args.markdown.write_text(text)
    write_cards(args.runs, args.seeds, args.cards)
    if args.figure:
        from vsync_ros.reports.pets_figures import results_figure
        base_u, cls_epi = args.runs / 'seed0' / 'base_u.pt', args.runs / 'seed0' / 'cls_epi.pt'
        if base_u.is_file() and cls_epi.is_file():
            results_figure(args.runs / 'data_random', base_u, cls_epi, args.figure)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
