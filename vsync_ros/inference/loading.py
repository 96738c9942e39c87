"""Open a trained pipeline for a node or a tool: torch is imported on the call, errors become one RuntimeError."""
from __future__ import annotations

from vsync_ros.geometry import Camera
from vsync_ros.inference.api import FramePipeline


def open_pipeline(checkpoint: str, device: str = 'auto', task: str = 'counting',
                  cameras: list[Camera] | None = None, **options) -> FramePipeline:
    """Build the trained pipeline from a checkpoint (imports ``vsync_ros.inference.pipeline`` lazily).

    Calls ``vsync_ros.inference.pipeline.load_pipeline(checkpoint, device=..., task=..., cameras=..., **options)``
    (options such as ``tolerance_px``), which returns a :class:`FramePipeline`.

    Raises:
        RuntimeError: the pipeline module is missing or refused the checkpoint, with the reason.
    """
    from vsync_ros.inference.pipeline import load_pipeline  # torch loads here, not when the caller is imported

    try:
        return load_pipeline(checkpoint, device=device, task=task, cameras=cameras, **options)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise RuntimeError(f'cannot load checkpoint {checkpoint!r} on device {device!r}: {exc}') from exc
