"""Where the PETS2009 data root is (tests skip with the reason when it is absent).

The real files stay outside the project (``../shared/data/pets2009`` next to the checkout, or next to
the folder holding a git worktree); ``VSYNC_PETS2009_ROOT`` points elsewhere.
"""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def pets_data_root() -> Path:
    """The first candidate data root holding ``calibration/View_001.xml`` (else the first candidate)."""
    env = os.environ.get('VSYNC_PETS2009_ROOT')
    cands = ([Path(env)] if env else []) + [_REPO.parent / 'shared' / 'data' / 'pets2009',
                                            _REPO.parents[1] / 'shared' / 'data' / 'pets2009']
    for c in cands:
        if (c / 'calibration' / 'View_001.xml').is_file():
            return c
    return cands[0]


def have_pets_data() -> bool:
    """True when the data root has the calibration."""
    return (pets_data_root() / 'calibration' / 'View_001.xml').is_file()
