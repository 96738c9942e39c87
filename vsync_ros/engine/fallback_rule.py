"""Which frame sets a fallback model estimates (``fallback_checkpoint``): one rule for the node and ``vsync-eval``.

Pure Python (no torch), so the ROS layer can import it for its parameter choices without loading a model.
"""
from __future__ import annotations

from collections.abc import Sequence

FALLBACK_WHEN = ('reference', 'any_missing')


def needs_fallback(missing: Sequence[int], ref_index: int, model_reference: int, when: str) -> bool:
    """Whether a frame set goes to a fallback model (``fallback_checkpoint``) instead of the primary one.

    ``when='reference'``: the primary's reference view has no frame (or the step's reference is another
    view: the node failed over); ``'any_missing'``: that, or any view has no frame. Shared by
    :class:`vsync_ros.inference.fallback.FallbackPipeline` and ``vsync-eval --fallback-checkpoint``.

    Args:
        missing: views without a frame. ref_index: the reference of this step. model_reference: the
            primary model's reference view. when: one of :data:`FALLBACK_WHEN`.

    Raises:
        ValueError: an unknown ``when``.
    """
    if when not in FALLBACK_WHEN:
        raise ValueError(f'fallback_when must be one of {FALLBACK_WHEN}, got {when!r}')
    lost_reference = ref_index != model_reference or model_reference in missing
    return lost_reference or (when == 'any_missing' and len(missing) > 0)
