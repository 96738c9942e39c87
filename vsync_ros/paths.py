"""Locate the package share directory (installed by colcon or pip, or the source checkout)."""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = 'vsync_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dirs() -> list[Path]:
    """Candidate share directories, most specific first.

    1. the ament index (``ros2 run`` / colcon install), 2. the source checkout when the package is
    imported from it (editable install, running from the repository: always the current files),
    3. ``<sys.prefix>/share/vsync_ros`` (``pip install .``).
    """
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # noqa: BLE001 - not installed, not found, or AMENT_PREFIX_PATH unset
        pass
    if (_SOURCE_ROOT / 'package.xml').is_file():
        dirs.append(_SOURCE_ROOT)
    dirs.append(Path(sys.prefix) / 'share' / PACKAGE)
    return dirs


def source_root() -> Path | None:
    """The source checkout the package is imported from (the folder holding ``package.xml``), or None.

    Outputs of the repository's scripts (e.g. ``runs/`` of ``scripts/reproduce_pets2009.sh``) live there.
    """
    return _SOURCE_ROOT if (_SOURCE_ROOT / 'package.xml').is_file() else None


def share_dir() -> Path:
    """The first existing share directory (the source checkout as a last resort)."""
    for d in share_dirs():
        if d.is_dir():
            return d
    return _SOURCE_ROOT


def resolve(path: str) -> Path:
    """Resolve ``package://vsync_ros/rel``, an absolute path, or a path relative to CWD or the share dir.

    Returns the first candidate that exists, else the most natural interpretation (for error messages).
    """
    prefix = f'package://{PACKAGE}/'
    if path.startswith(prefix):
        rel = path[len(prefix):]
        for d in share_dirs():
            if (d / rel).exists():
                return d / rel
        return share_dir() / rel
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    for d in share_dirs():
        if (d / p).exists():
            return d / p
    return p


DEFAULT_MODELS = {'counting': 'plaza_cls_epi.pt', 'pose': 'studio_pose_cls_epi.pt'}


def default_checkpoint(task: str = 'counting') -> Path:
    """The shipped model for ``task`` in ``<share>/models/``.

    Counting: ``plaza_cls_epi.pt``, pose: ``studio_pose_cls_epi.pt`` (CLS-epi models trained on the synthetic
    plaza / studio); other tasks ``<task>.pt``.
    """
    return resolve(f'package://{PACKAGE}/models/{DEFAULT_MODELS.get(task, task + ".pt")}')
