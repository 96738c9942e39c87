"""Inference layer.

The frame-set pipeline contract (``api``: FramePipeline, PipelineResult) and its implementations for
trained checkpoints (``pipeline``), plus deployment calibration checks.

May import: engine, models, data, geometry, the base modules (never reports, runtime or ros).
"""
