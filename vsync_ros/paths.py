"""Locate the package's share directory (config/, models/, launch/) in every install layout."""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = 'vsync_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """share/vsync_ros of a colcon/pip install, or the source checkout when running from it.

    Order: ament_index (colcon, sourced workspace) -> <sys.prefix>/share/vsync_ros (pip, venv) ->
    the repository root (editable install / running from the checkout).
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            return Path(get_package_share_directory(PACKAGE))
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    if (_SOURCE_ROOT / 'package.xml').is_file() and (_SOURCE_ROOT / 'config').is_dir():
        return _SOURCE_ROOT
    prefixed = Path(sys.prefix) / 'share' / PACKAGE
    if (prefixed / 'package.xml').is_file():
        return prefixed
    raise FileNotFoundError(f'cannot find the {PACKAGE} share directory (config/, models/); '
                            'install the package (colcon build or pip install .)')


def share_path(*parts: str) -> Path:
    """A path below the share directory, e.g. share_path('models', 'cls_epi.pt')."""
    return share_dir().joinpath(*parts)
