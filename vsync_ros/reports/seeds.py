"""Statistics over training seeds: mean ± half range, and the tie rule of the results reports.

A metric measured for several training seeds is summarized by its mean and its spread (max - min);
the reports print it as mean ± half the spread (every seed lies within it). Two models compared on
one metric tie when the difference of their means is smaller than the larger of their two spreads.
"""
from __future__ import annotations


def seed_stats(values: list[float]) -> dict:
    """{'mean', 'spread' (max - min), 'values'} of one metric over training seeds."""
    return {'mean': sum(values) / len(values), 'spread': max(values) - min(values), 'values': values}


def compare(a: dict, b: dict) -> dict:
    """Compare seed_stats a with b (one metric, lower is better): difference, tie (|diff| < larger spread), ratio."""
    diff = a['mean'] - b['mean']
    spread = max(a['spread'], b['spread'])
    return {'diff': diff, 'spread': spread, 'tie': abs(diff) < spread,
            'ratio': a['mean'] / b['mean'] if b['mean'] else float('nan')}


def fmt(stat: dict | None, digits: int = 2) -> str:
    """Seed statistics as 'mean ± spread/2' (the half range: every seed lies within it), or '-'.

    A single seed prints its value alone: it has no spread to show.
    """
    if not stat:
        return '-'
    if len(stat['values']) == 1:
        return f'{stat["mean"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f} ± {stat["spread"] / 2:.{digits}f}'
