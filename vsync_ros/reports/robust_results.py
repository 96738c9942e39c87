"""``python -m vsync_ros.reports.robust_results``: the robustness report of the plaza models.

Input: the output folder of ``scripts/train_plaza_robust.sh`` (``--runs``, default ``runs/plaza_robust``),
one ``seed<S>/eval/`` folder per training seed S holding the ``vsync-eval --json`` files of every model
trained for that seed (any subset of :data:`MODELS`; a model without files is absent)::

    <model>_heldout_new_scenes.json    10-30 people, scenes no training run used
    <model>_heldout_train_scene.json   10-30 people, on training scenes (new people)
    <model>_heldout_dense.json         30-60 people, new scenes
    <model>_each_view_missing.json     new scenes with all views and with each single view missing
    <model>_each_view_missing_fallback.json  the same with the fallback model (base_u_fallback) estimating
                                       the frame sets with a view missing, as the node runs (optional)

Every number is reported per seed and as the mean ± half the range over the seeds a model has
(:mod:`vsync_ros.reports.seeds`). The issue's checks, each with its numbers and a verdict line:

1. CLS-epi: MAE on new scenes / MAE on training scenes <= 1.3;
2. CLS-epi's MAE on new scenes not worse than BaseU's (a difference smaller than the larger seed range is
   a tie; with one seed there is no range and the line says so);
3. every model: with any one camera missing (the reference cam1 included) the MAE is at most 1.5x its
   all-views MAE, for every seed (the worst case decides); checked for the model alone and, where the
   fallback evaluations exist, for the model with the node's fallback model;
4. CLS-epi: NAE on 30-60 people <= 1.5x its NAE on 10-30 people (new scenes).

Output: ``docs/results/plaza_robust.md`` (the table and the verdict lines) and ``docs/results/plaza_robust.json``
(every number, per seed); with ``--cards DIR`` the section "Robustness (held-out scenes, lost cameras)" of
each existing model card ``DIR/plaza_<model>.md`` is written (replaced when present) from seed 0::

    python -m vsync_ros.reports.robust_results [--runs runs/plaza_robust] [--cards models]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from vsync_ros.reports.seeds import compare, fmt, seed_stats
from vsync_ros.yaml_config import nested_get

MODELS: dict[str, str] = {          # checkpoint name -> label, in table order
    'base_s': 'BaseS',
    'cls_epi': 'CLS-epi (l_s)',
    'base_u': 'BaseU',
    'cls_epi_w': 'CLS-epi (l_W)',
    'base_su': 'BaseSU',
    'cls_cor': 'CLS-cor (l_s)',
    'sls': 'SLS (l_s)',
    'cls_cat': 'CLS-cat (l_s)',
    'cls_epi_sep': 'CLS-epi (l_s, own flow encoder)',
    'base_u_fallback': 'BaseU fallback (view dropout 0.45)',
}
FALLBACK_MODEL = 'base_u_fallback'
HELDOUT: dict[str, str] = {         # record key -> held-out data set of the script
    'new': 'heldout_new_scenes',
    'train': 'heldout_train_scene',
    'dense': 'heldout_dense',
}
SET_KEYS = ('n', 'mae', 'nae', 'mean_gt', 'mean_pred')
VIEW_FILES = {'views': 'each_view_missing', 'views_fb': 'each_view_missing_fallback'}  # record key -> file
TARGETS = {'new_vs_train_mae': 1.3, 'one_view_missing_mae': 1.5, 'dense_vs_sparse_nae': 1.5}
CARD_SECTION = 'Robustness (held-out scenes, lost cameras)'


class ReportInputError(ValueError):
    """An evaluation file is unreadable or lacks a key; the message names the file."""


# ---------------------------------------------------------------------------------------------- reading
def ratio(a: float, b: float) -> float | None:
    """The quotient a / b, or None when b is 0."""
    return a / b if b else None


def require(doc: dict, path: Path, *keys: str) -> Any:
    """``doc[k0][k1]...``, or ReportInputError naming the file and the dotted key."""
    try:
        return nested_get(doc, keys)
    except KeyError as exc:
        raise ReportInputError(f'{path}: lacks key {exc.args[0]!r}') from None


def number(doc: dict, path: Path, *keys: str) -> float:
    """A numeric entry of a document (:func:`require`), or ReportInputError naming the file and the key."""
    value = require(doc, path, *keys)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportInputError(f'{path}: {".".join(keys)!r} is not a number: {value!r}')
    return float(value)


def read_json(path: Path) -> dict:
    """A vsync-eval JSON document, or ReportInputError naming the file."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f'{path}: unreadable ({exc})') from exc
    if not isinstance(doc, dict):
        raise ReportInputError(f'{path}: not a JSON object')
    return doc


def set_record(doc: dict, path: Path) -> dict:
    """{n, mae, nae, mean_gt, mean_pred, checkpoint} of a held-out evaluation."""
    rec = {key: number(doc, path, key) for key in SET_KEYS}
    rec['n'] = int(rec['n'])
    rec['checkpoint'] = doc.get('checkpoint', '')
    return rec


def views_record(doc: dict, path: Path) -> dict:
    """{'all': all-views MAE, 'views': [{index, view, mae, ratio}]} of a ``--each-view-missing`` evaluation.

    ``ratio`` is the MAE with that view missing over the all-views MAE (index 0 = the reference cam1).
    """
    all_mae = number(doc, path, 'each_view_missing', 'all', 'mae')
    missing = require(doc, path, 'each_view_missing', 'missing')
    if not isinstance(missing, dict) or not all(str(k).isdigit() for k in missing):
        raise ReportInputError(f'{path}: each_view_missing.missing is not a {{view index: result}} object')
    views = []
    for index in sorted(missing, key=int):
        mae = number(doc, path, 'each_view_missing', 'missing', index, 'mae')
        view = str(require(doc, path, 'each_view_missing', 'missing', index, 'view'))
        views.append({'index': int(index), 'view': view, 'mae': mae, 'ratio': ratio(mae, all_mae)})
    return {'all': all_mae, 'views': views}


def seed_folders(runs: Path) -> dict[int, Path]:
    """{seed: its eval folder} of every ``seed<S>/eval`` under ``runs``, by seed."""
    found = {}
    for folder in runs.glob('seed*/eval'):
        match = re.fullmatch(r'seed(\d+)', folder.parent.name)
        if match and folder.is_dir():
            found[int(match.group(1))] = folder
    return dict(sorted(found.items()))


def read_model(eval_dir: Path, model: str) -> dict:
    """{'new' | 'train' | 'dense': set_record, 'views': views_record} of the files that exist (maybe none)."""
    rec = {}
    for key, name in HELDOUT.items():
        path = eval_dir / f'{model}_{name}.json'
        if path.is_file():
            rec[key] = set_record(read_json(path), path)
    for key, suffix in VIEW_FILES.items():
        path = eval_dir / f'{model}_{suffix}.json'
        if path.is_file():
            rec[key] = views_record(read_json(path), path)
    return rec


def collect(runs: Path) -> dict[str, dict[int, dict]]:
    """{model: {seed: read_model record}} over the seed folders; models and seeds without files are absent."""
    out: dict[str, dict[int, dict]] = {}
    for seed, eval_dir in seed_folders(runs).items():
        for model in MODELS:
            rec = read_model(eval_dir, model)
            if rec:
                out.setdefault(model, {})[seed] = rec
    return out


# ---------------------------------------------------------------------------------------------- statistics
def value_of(rec: dict, field: str) -> float | None:
    """A number of one seed's record by field name: '<set>.<key>', '<views>.all' or '<views>.<index>'.

    ``<set>``: 'new', 'train' or 'dense' ('new.mae'); ``<views>``: 'views', or 'views_fb' with the fallback model.
    """
    part, key = field.split('.')
    if part not in rec:
        return None
    if part not in VIEW_FILES:
        return rec[part][key]
    if key == 'all':
        return rec[part]['all']
    return next((v['mae'] for v in rec[part]['views'] if v['index'] == int(key)), None)


def stats_of(per_seed: dict[int, dict], field: str, seeds: list[int] | None = None) -> dict | None:
    """seed_stats of a field over the seeds (default all) whose record has it, with their 'seeds'; None if none."""
    pairs = [(s, value_of(rec, field)) for s, rec in per_seed.items() if seeds is None or s in seeds]
    pairs = [(s, v) for s, v in pairs if v is not None]
    if not pairs:
        return None
    return {**seed_stats([v for _, v in pairs]), 'seeds': [s for s, _ in pairs]}


def view_names(per_seed: dict[int, dict]) -> dict[int, str]:
    """{view index: camera name} of a model's each-view-missing records."""
    return {v['index']: v['view'] for rec in per_seed.values() for v in rec.get('views', {}).get('views', [])}


def summarize(per_seed: dict[int, dict]) -> dict:
    """Per-model statistics over seeds: every set metric, the all-views MAE and the MAE per missing view."""
    out: dict = {'seeds': sorted(per_seed)}
    for part in HELDOUT:
        out[part] = {key: stats_of(per_seed, f'{part}.{key}') for key in SET_KEYS if key != 'n'}
    for part in VIEW_FILES:
        out[part] = {'all': stats_of(per_seed, f'{part}.all'),
                     **{str(i): stats_of(per_seed, f'{part}.{i}') for i in view_names(per_seed)}}
    return out


# ---------------------------------------------------------------------------------------------- checks
def ratio_check(per_seed: dict[int, dict], top: str, bottom: str, target: float) -> dict | None:
    """Ratio of seed means of two fields of one model (seeds having both), per seed too; met = ratio <= target."""
    seeds = [s for s, rec in per_seed.items() if value_of(rec, top) is not None and value_of(rec, bottom) is not None]
    if not seeds:
        return None
    a, b = stats_of(per_seed, top, seeds), stats_of(per_seed, bottom, seeds)
    r = ratio(a['mean'], b['mean'])
    per = {s: ratio(value_of(per_seed[s], top), value_of(per_seed[s], bottom)) for s in seeds}
    return {'num': a['mean'], 'den': b['mean'], 'ratio': r, 'target': target, 'seeds': seeds, 'per_seed': per,
            'met': r is not None and r <= target}


def not_worse_check(a_seeds: dict[int, dict], b_seeds: dict[int, dict], field: str) -> dict | None:
    """Whether model a is not worse than model b on a field (lower is better), over the seeds both have.

    'verdict': 'tie' when the difference is smaller than the larger seed range, else 'met' (a lower or
    equal) or 'missed' (a worse by more than the range); with one seed the range is 0 and no tie exists.
    """
    seeds = sorted(s for s in a_seeds if s in b_seeds
                   and value_of(a_seeds[s], field) is not None and value_of(b_seeds[s], field) is not None)
    if not seeds:
        return None
    a, b = stats_of(a_seeds, field, seeds), stats_of(b_seeds, field, seeds)
    c = compare(a, b)
    verdict = 'tie' if c['tie'] else ('met' if c['diff'] <= 0 else 'missed')
    return {'a': a['mean'], 'b': b['mean'], **c, 'seeds': seeds, 'verdict': verdict}


def view_missing_check(per_seed: dict[int, dict], target: float, part: str = 'views') -> dict | None:
    """MAE with each view missing / all-views MAE per seed and view; met when the worst case is <= target.

    ``part``: 'views' (the model alone) or 'views_fb' (with the fallback model).
    """
    rows = [{'seed': s, 'index': v['index'], 'view': v['view'], 'ratio': v['ratio']}
            for s, rec in per_seed.items() if part in rec for v in rec[part]['views']]
    if not rows:
        return None
    worst = max(rows, key=lambda row: float('inf') if row['ratio'] is None else row['ratio'])
    return {'per_seed_view': rows, 'worst': worst, 'target': target,
            'met': worst['ratio'] is not None and worst['ratio'] <= target}


def checks(res: dict[str, dict[int, dict]]) -> dict:
    """The issue's four checks on :func:`collect`'s result (a check whose models are absent is left out)."""
    epi, base_u = res.get('cls_epi', {}), res.get('base_u', {})
    out: dict = {
        'cls_epi_new_vs_train_mae': ratio_check(epi, 'new.mae', 'train.mae', TARGETS['new_vs_train_mae']),
        'cls_epi_vs_base_u_new_mae': not_worse_check(epi, base_u, 'new.mae') if base_u else None,
        'one_view_missing': {m: c for m in res
                             if (c := view_missing_check(res[m], TARGETS['one_view_missing_mae'])) is not None},
        'one_view_missing_with_fallback': {
            m: c for m in res
            if (c := view_missing_check(res[m], TARGETS['one_view_missing_mae'], 'views_fb')) is not None},
        'cls_epi_dense_vs_sparse_nae': ratio_check(epi, 'dense.nae', 'new.nae', TARGETS['dense_vs_sparse_nae']),
    }
    return {k: v for k, v in out.items() if v}


def num(value: float | None, digits: int = 2) -> str:
    """A number, or '-' for None."""
    return '-' if value is None else f'{value:.{digits}f}'


def seeds_text(seeds: list[int]) -> str:
    """'seed 0' / 'seeds 0, 1'."""
    return ('seed ' if len(seeds) == 1 else 'seeds ') + ', '.join(map(str, seeds))


def per_seed_text(per: dict[int, float | None]) -> str:
    """'1.32 (seed 0), 1.25 (seed 1)'."""
    return ', '.join(f'{num(r)} (seed {s})' for s, r in per.items())


def met_word(check: dict) -> str:
    """'met' or 'missed' of a threshold check."""
    return 'met' if check['met'] else 'missed'


def ratio_line(title: str, c: dict, digits: int) -> str:
    """The verdict line of a :func:`ratio_check`."""
    return (f'{title} = {c["num"]:.{digits}f} / {c["den"]:.{digits}f} = {num(c["ratio"])} (target <= {c["target"]}: '
            f'{met_word(c)}; per seed {per_seed_text(c["per_seed"])}).')


def verdicts(chk: dict) -> list[str]:
    """One line per check with its numbers and its verdict (met / missed / tie)."""
    out = []
    c = chk.get('cls_epi_new_vs_train_mae')
    if c:
        out.append(ratio_line('CLS-epi MAE new scenes / training scenes', c, 2))
    c = chk.get('cls_epi_vs_base_u_new_mae')
    if c:
        if len(c['seeds']) == 1:
            basis = f'one training seed ({seeds_text(c["seeds"])}): no seed range, so no tie can be called'
        else:
            basis = f'{seeds_text(c["seeds"])}, larger seed range {c["spread"]:.2f}'
        word = {'met': 'met (not worse)', 'missed': 'missed (worse by more than the seed range)',
                'tie': 'tie (the difference is within the seed range: not worse)'}[c['verdict']]
        out.append(f'CLS-epi - BaseU MAE on new scenes = {c["a"]:.2f} - {c["b"]:.2f} = {c["diff"]:+.2f} '
                   f'({basis}): {word}.')
    for key, how in (('one_view_missing', ''),
                     ('one_view_missing_with_fallback', f' with the fallback model ({MODELS[FALLBACK_MODEL]})')):
        views = chk.get(key, {})
        for model, c in views.items():
            w = c['worst']
            ref = ' (the reference)' if w['index'] == 0 else ''
            out.append(f'{MODELS[model]}{how}: with one camera missing at most {num(w["ratio"])}x its all-views MAE '
                       f'({w["view"]}{ref} missing, seed {w["seed"]}; target <= {c["target"]}: {met_word(c)}).')
        if views:
            missed = [MODELS[m] for m, c in views.items() if not c['met']]
            out.append(f'Every model{how} within {TARGETS["one_view_missing_mae"]}x with any one camera missing: '
                       + (f'missed ({", ".join(missed)}).' if missed else 'met.'))
    c = chk.get('cls_epi_dense_vs_sparse_nae')
    if c:
        out.append(ratio_line('CLS-epi NAE 30-60 people / 10-30 people', c, 3))
    return out


# ---------------------------------------------------------------------------------------------- markdown
def cell(stat: dict | None, seeds: list[int], digits: int = 2) -> str:
    """Mean ± half range of seed statistics (:func:`fmt`), naming its seeds when they are fewer than the model's."""
    if not stat:
        return '-'
    extra = '' if stat['seeds'] == seeds else f' [{seeds_text(stat["seeds"])}]'
    return fmt(stat, digits) + extra


def mean_ratio(a: dict | None, b: dict | None) -> str:
    """Ratio of two seed means, or '-'."""
    return '-' if not a or not b else num(ratio(a['mean'], b['mean']))


def row(label: str, s: dict, names: dict[int, str]) -> str:
    """One table row of a model's :func:`summarize` result."""
    seeds = s['seeds']
    new, train, dense = s['new'], s['train'], s['dense']
    lost = {}
    for part in VIEW_FILES:
        lost[part] = []
        for index in names:
            stat = s[part].get(str(index))
            lost[part].append('-' if not stat else f'{cell(stat, seeds)} ({mean_ratio(stat, s[part]["all"])}x)')
    bias = '-'
    if new['mean_pred'] and new['mean_gt']:
        bias = (f'{cell(new["mean_pred"], seeds)} / {new["mean_gt"]["mean"]:.2f} '
                f'({new["mean_pred"]["mean"] - new["mean_gt"]["mean"]:+.2f})')
    cells = [label, str(len(seeds)), cell(new['mae'], seeds), cell(train['mae'], seeds),
             mean_ratio(new['mae'], train['mae']), cell(dense['nae'], seeds, 3), cell(new['nae'], seeds, 3),
             mean_ratio(dense['nae'], new['nae']), ' / '.join(lost['views']) or '-',
             ' / '.join(x for x in lost['views_fb'] if x != '-') or '-', bias]
    return '| ' + ' | '.join(cells) + ' |'


def markdown(res: dict[str, dict[int, dict]], summary: dict[str, dict], lines: list[str], runs: Path) -> str:
    """The report: the table of every model present and the verdict lines."""
    names: dict[int, str] = {}
    for per_seed in res.values():
        names.update(view_names(per_seed))
    names = dict(sorted(names.items())) or {0: 'cam1', 1: 'cam2', 2: 'cam3'}
    seeds = sorted({s for per_seed in res.values() for s in per_seed})
    out = [f'**Plaza models on held-out scenes and with lost cameras** (`{runs}`, training {seeds_text(seeds)}; '
           'mean ± half the range over the seeds a model has, a single seed\'s value alone; ratios are of seed '
           'means; a bracket names the seeds of a cell that has fewer than its model)', '',
           f'| model (`{runs}/`) | seeds | MAE new scenes | MAE training scenes | ratio | NAE 30-60 people '
           f'| NAE 10-30 people | ratio | MAE with {" / ".join(names.values())} missing (x all views) '
           f'| the same with the fallback model {FALLBACK_MODEL} (as the node runs) '
           '| mean prediction / GT new scenes (bias) |',
           '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |']
    out += [row(MODELS[m], summary[m], names) for m in MODELS if m in summary]
    out += ['', 'Checks:', ''] + [f'- {line}' for line in lines]
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------------------------- model cards
def card_section(rec: dict) -> str:
    """The card section body from one seed's record of a model."""
    ckpt = next((rec[p]['checkpoint'] for p in HELDOUT if p in rec and rec[p]['checkpoint']), '')
    titles = {'new': 'new scenes, 10-30 people', 'train': 'training scenes, 10-30 people',
              'dense': 'new scenes, 30-60 people'}
    lines = [f'Held-out evaluation of `{ckpt or "?"}` (training seed 0 of `scripts/train_plaza_robust.sh`; '
             'written by `python -m vsync_ros.reports.robust_results`).', '',
             '| held-out set | frames | MAE | NAE | mean GT | mean prediction |',
             '| --- | ---: | ---: | ---: | ---: | ---: |']
    for part, title in titles.items():
        if part in rec:
            r = rec[part]
            lines.append(f'| {title} | {r["n"]} | {r["mae"]:.2f} | {r["nae"]:.3f} | {r["mean_gt"]:.2f} '
                         f'| {r["mean_pred"]:.2f} |')
    if 'views' in rec:
        lost = ' / '.join(f'{v["view"]} {v["mae"]:.2f} ({num(v["ratio"])}x)' for v in rec['views']['views'])
        lines += ['', f'With one camera missing (new scenes, all-views MAE {rec["views"]["all"]:.2f}): {lost}.']
    if 'views_fb' in rec:
        lost = ' / '.join(f'{v["view"]} {v["mae"]:.2f} ({num(v["ratio"])}x)' for v in rec['views_fb']['views'])
        lines += ['', f'With the node\'s fallback model (`models/plaza_{FALLBACK_MODEL}.pt`, `fallback_when: '
                      f'any_missing` in `config/counting.yaml`) estimating those frame sets: {lost}.']
    return '\n'.join(lines)


def replace_section(text: str, title: str, body: str) -> str:
    """Replace the ``## title`` section of a Markdown text by ``body``, or append the section.

    The section ends at the next heading of level 1 or 2; applying it twice gives the same text.
    """
    section = f'## {title}\n\n{body.strip()}\n'
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == f'## {title}'), None)
    if start is None:
        return text.rstrip('\n') + '\n\n' + section
    end = next((i for i in range(start + 1, len(lines)) if re.match(r'#{1,2} ', lines[i])), len(lines))
    rest = ''.join(lines[end:])
    return ''.join(lines[:start]) + section + ('\n' + rest if rest else '')


FALLBACK_ROLE = (
    'Role: the sync node\'s **fallback model** (`fallback_checkpoint` in `config/counting.yaml`, with '
    '`fallback_when: any_missing`): it estimates the frame sets in which a camera is missing or stale, which the '
    'primary models were not trained for. It is the shipped BaseU fine-tuned on mostly degraded frame sets (view '
    'dropout 0.45 per view, at least one view kept, 1200 steps at lr 2e-4).')


def fallback_card(checkpoint: Path) -> str:
    """The head of the fallback model's card: :func:`vsync_ros.reports.results.model_card` plus its role."""
    from vsync_ros.reports.results import model_card

    head = model_card(checkpoint, []).rstrip()
    head = head.rsplit('\n\n', 1)[0] if head.endswith('| --- | --- | ---: | ---: | ---: |') else head
    return f'{head}\n\n{FALLBACK_ROLE}\n'


def update_cards(res: dict[str, dict[int, dict]], cards_dir: Path) -> list[Path]:
    """Write the section into ``cards_dir/plaza_<model>.md`` of every seed-0 model whose card exists.

    The fallback model's card is created first when its checkpoint ``cards_dir/plaza_base_u_fallback.pt`` is
    there without a card (:func:`fallback_card`).
    """
    written = []
    for model, per_seed in res.items():
        card = cards_dir / f'plaza_{model}.md'
        ckpt = card.with_suffix('.pt')
        if model == FALLBACK_MODEL and 0 in per_seed and ckpt.is_file() and not card.is_file():
            card.write_text(fallback_card(ckpt))
        if 0 in per_seed and card.is_file():
            card.write_text(replace_section(card.read_text(), CARD_SECTION, card_section(per_seed[0])))
            written.append(card)
    return written


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 when there is nothing to report or an evaluation file is bad."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', type=Path, default=Path('runs/plaza_robust'),
                   help='output of scripts/train_plaza_robust.sh (seed<S>/eval/*.json)')
    p.add_argument('--out-md', type=Path, default=Path('docs/results/plaza_robust.md'), help='table and verdicts')
    p.add_argument('--out-json', type=Path, default=Path('docs/results/plaza_robust.json'),
                   help='every number, per seed')
    p.add_argument('--cards', type=Path, default=None,
                   help='update the robustness section of the existing model cards DIR/plaza_<model>.md (seed 0)')
    args = p.parse_args(argv)
    try:
        res = collect(args.runs)
    except ReportInputError as exc:
        print(f'robust_results: {exc}', file=sys.stderr)
        return 2
    if not res:
        print(f'robust_results: no evaluations in {args.runs}/seed<S>/eval: run scripts/train_plaza_robust.sh',
              file=sys.stderr)
        return 2
    summary = {m: summarize(per_seed) for m, per_seed in res.items()}
    chk = checks(res)
    lines = verdicts(chk)
    text = markdown(res, summary, lines, args.runs)
    doc = {'runs': str(args.runs), 'targets': TARGETS, 'labels': {m: MODELS[m] for m in res},
           'per_seed': res, 'stats': summary, 'checks': chk, 'verdicts': lines}
    for path, content in ((args.out_md, text), (args.out_json, json.dumps(doc, indent=1) + '\n')):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if args.cards:
        for card in update_cards(res, args.cards):
            print(f'updated {card}')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
