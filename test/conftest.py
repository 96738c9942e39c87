"""Shared pytest set-up: keep ROS traffic on loopback and torch on few threads."""
import os
from pathlib import Path

import pytest

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(40 + os.getpid() % 50))


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The source checkout (the folder holding package.xml)."""
    return Path(__file__).resolve().parents[1]
