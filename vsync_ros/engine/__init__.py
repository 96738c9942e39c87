"""Engine layer.

Training configs, checkpoints, device choice, the one training loop (``fit``) with a task per
application (``tasks/counting``, ``tasks/pose``), evaluation, and the ``vsync-train`` / ``vsync-
eval`` CLIs.

May import: models, data, geometry, the base modules (never inference, reports, runtime or ros).
"""
