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


@pytest.fixture(scope='module')
def one_torch_thread():
    """torch on one thread for a module's tests (training tests stay deterministic and light), then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
