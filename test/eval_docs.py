"""Fake ``vsync-eval --json`` documents and cached-evaluation folders for the report tests."""
from __future__ import annotations

import json
from pathlib import Path


def fake_eval(mae: float, game3: float, seqs: dict[str, float] | None = None) -> dict:
    """A vsync-eval JSON document with the fields the reports read (n, mae, nae, game, per_sequence)."""
    doc = {'n': 10, 'mae': mae, 'nae': mae / 20, 'game': {'0': mae, '1': mae + 1, '2': mae + 2, '3': game3}}
    if seqs:
        doc['per_sequence'] = {q: {'n': 5, 'mae': v, 'nae': v / 20, 'game': {'0': v, '1': v, '2': v, '3': v}}
                               for q, v in seqs.items()}
    return doc


def write_runs(root: Path, values: dict[tuple[int, str, str], dict]) -> None:
    """Empty checkpoints ``seed<S>/<name>.pt`` and cached evaluations ``eval/seed<S>/<name>_<variant>.json``."""
    for (seed, name, variant), doc in values.items():
        (root / f'seed{seed}').mkdir(parents=True, exist_ok=True)
        (root / f'seed{seed}' / f'{name}.pt').write_bytes(b'')
        out = root / 'eval' / f'seed{seed}' / f'{name}_{variant}.json'
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc))
