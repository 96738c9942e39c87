"""Process-wide settings that entry points apply before torch loads (never done at library import).

Base layer: imports nothing of vsync_ros.
"""
from __future__ import annotations

import os


def set_process_defaults() -> None:
    """Make idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``).

    On a shared 2-core machine spinning OpenMP threads make torch 5-10x slower as soon as another
    process runs. Call it first thing in a ``main()``, before torch is imported; a value already in the
    environment (e.g. ``OMP_WAIT_POLICY=ACTIVE``) is kept.
    """
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
