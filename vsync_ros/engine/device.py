"""The one device resolver of training (``vsync-train``), evaluation (``vsync-eval``, reports) and inference."""
from __future__ import annotations

import re

import torch

_DEVICE_RE = re.compile(r'^(auto|cpu|cuda(?::(\d+))?)$')


def select_device(name: str = 'auto') -> tuple[torch.device, str]:
    """Resolve ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` to a usable torch device.

    * ``auto``: CUDA (the current device) when ``torch.cuda.is_available()``, else the CPU; no note.
    * ``cpu``: the CPU.
    * ``cuda`` / ``cuda:N`` requested but absent (a CPU-only torch build, no GPU visible, or N beyond
      the number of devices): the **CPU**, with a note that says why. Nothing is raised: callers warn
      with the note (training logs it, ``vsync-eval`` and the reports print it to stderr, the inference
      pipeline logs a warning and keeps it as ``pipeline.device_note``) and run on the CPU.

    Args:
        name: device name, case-insensitive; None / '' mean 'auto'.

    Returns:
        (device, note): ``note`` is '' or explains the fall-back to the CPU.

    Raises:
        ValueError: an unknown device name.
    """
    text = (name or 'auto').strip().lower()
    m = _DEVICE_RE.match(text)
    if m is None:
        raise ValueError(f'unknown device {name!r}: use auto, cpu, cuda or cuda:N')
    if text == 'cpu':
        return torch.device('cpu'), ''
    available = torch.cuda.is_available()
    if text == 'auto':
        return torch.device('cuda' if available else 'cpu'), ''
    if not available:
        built = f'built with CUDA {torch.version.cuda}' if torch.version.cuda else 'a CPU-only build'
        return torch.device('cpu'), (f'device {text!r} requested but CUDA is not available (torch {torch.__version__}, '
                                     f'{built}): running on the CPU')
    index = int(m.group(2) or 0)
    if index >= torch.cuda.device_count():
        return torch.device('cpu'), (f'device {text!r} requested but only {torch.cuda.device_count()} CUDA '
                                     'device(s) exist: running on the CPU')
    return torch.device(text), ''
