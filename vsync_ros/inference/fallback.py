"""A counting pipeline that hands frame sets it was not trained for to a second model.

A synchronizing model (CLS / SLS) learned to warp the other views to its reference view 0; with that view
lost it can only fuse the rest as captured, which it rarely saw in training, and with any view lost it
fuses fewer views than it was trained on. A base model trained with view dropout (e.g. the shipped BaseU)
degrades less in both cases. :class:`FallbackPipeline` runs the primary model on complete frame sets and
the fallback model on degraded ones::

    from vsync_ros.inference.pipeline import load_pipeline
    pipe = load_pipeline('models/plaza_cls_epi.pt', fallback_checkpoint='models/plaza_base_u.pt')
    pipe.run([None, rgb_cam2, rgb_cam3], ref_index=1).note
    # 'cam1 missing: estimate from the fallback model base (models/plaza_base_u.pt)'

``when`` chooses the degraded frame sets: ``'reference'`` (the primary's reference view has no frame, i.e.
the node failed over) or ``'any_missing'`` (any view has no frame). The result's ``note`` names the missing
views and the fallback model (the node logs it and flags the estimate degraded, as for any frame set with
a view missing); the change of model is logged once per episode. Both models must share the rig and the
ground grid (checked at construction, :class:`CalibrationMismatchError`).
"""
from __future__ import annotations

import logging

import numpy as np

from vsync_ros.engine.checkpoint import CalibrationMismatchError
from vsync_ros.engine.fallback_rule import FALLBACK_WHEN, needs_fallback
from vsync_ros.geometry.calibration import compare_rigs
from vsync_ros.inference.api import PipelineResult

__all__ = ['FALLBACK_WHEN', 'FallbackPipeline', 'missing_views', 'needs_fallback']

log = logging.getLogger(__name__)

RIG_TOLERANCE_PX = 0.01  # the two checkpoints must carry the same calibration, not merely a close one


def missing_views(images: list) -> list[int]:
    """Indices of the views without a frame (``None``)."""
    return [v for v, im in enumerate(images) if im is None]


class FallbackPipeline:
    """Primary counting pipeline on complete frame sets, fallback pipeline on degraded ones.

    Implements :class:`vsync_ros.inference.api.FramePipeline`; the attributes the node reads (cameras,
    region, task, method, reference_view, device, device_note, checkpoint, meta, image_hw) are the
    primary's.

    Args:
        primary, fallback: :class:`vsync_ros.inference.pipeline.CountingPipeline` objects (or anything
            with the same attributes and ``run``).
        when: one of :data:`FALLBACK_WHEN`.

    Raises:
        ValueError: ``when`` unknown, or a fallback that is not a counting pipeline.
        CalibrationMismatchError: the two models' cameras or ground grids differ (names the view or field).
    """

    task = 'counting'

    def __init__(self, primary, fallback, when: str = 'reference') -> None:
        if when not in FALLBACK_WHEN:
            raise ValueError(f'fallback_when must be one of {FALLBACK_WHEN}, got {when!r}')
        if getattr(fallback, 'task', None) != 'counting' or getattr(primary, 'task', None) != 'counting':
            raise ValueError(f'a fallback model serves counting models: the fallback {fallback.checkpoint} is a '
                             f'{getattr(fallback, "task", "?")} model, the primary a {getattr(primary, "task", "?")} '
                             'model')
        reason = compare_rigs(primary.cameras, fallback.cameras, primary.region, RIG_TOLERANCE_PX,
                              primary.region, fallback.region)
        if reason:
            raise CalibrationMismatchError(
                f'fallback checkpoint {fallback.checkpoint} was trained on another rig than {primary.checkpoint}: '
                f'{reason}. Give a fallback model trained on the same cameras and ground region.')
        self.primary, self.fallback, self.when = primary, fallback, when
        self.cameras, self.region = primary.cameras, primary.region
        self.method, self.reference_view = primary.method, primary.reference_view
        self.device, self.device_note = primary.device, primary.device_note
        self.checkpoint, self.meta, self.image_hw = primary.checkpoint, primary.meta, primary.image_hw
        self.names = [c.name for c in self.cameras]
        self.fallback_runs = 0
        self._in_fallback = False

    def describe(self) -> str:
        """The primary's line plus the fallback model and its rule."""
        rule = ('the reference view has no frame' if self.when == 'reference' else 'any view has no frame')
        return (f'{self.primary.describe()}; fallback {self.fallback.method} from {self.fallback.checkpoint} '
                f'when {rule}')

    def run(self, images: list[np.ndarray | None], ref_index: int) -> PipelineResult:
        """The primary's estimate, or the fallback's (with a note) when the frame set is degraded.

        Args and errors as :meth:`vsync_ros.inference.pipeline.CountingPipeline.run`.
        """
        missing = missing_views(images)
        use = needs_fallback(missing, int(ref_index), self.reference_view, self.when)
        if use != self._in_fallback:
            if use:
                log.warning(f'{self._why(missing, int(ref_index))}: estimates from the fallback model '
                            f'{self.fallback.method} ({self.fallback.checkpoint})')
            else:
                log.info(f'all views back: estimates from {self.primary.method} ({self.primary.checkpoint}) again')
            self._in_fallback = use
        if not use:
            return self.primary.run(images, ref_index)
        result = self.fallback.run(images, ref_index)
        self.fallback_runs += 1
        note = (f'{self._why(missing, int(ref_index))}: estimate from the fallback model {self.fallback.method} '
                f'({self.fallback.checkpoint})')
        if result.note:
            note += f'; {result.note}'
        return PipelineResult(result.density, result.count, result.joints, result.inference_ms, note)

    def _why(self, missing: list[int], ref_index: int) -> str:
        if missing:
            return f'{", ".join(self.names[v] for v in missing)} missing'
        return f'reference {self.names[ref_index]} is not the model\'s ({self.names[self.reference_view]})'
