"""Configuration of the view synchronization (matching + motion nets), shared by counting and pose.

The task configs (:class:`~vsync_ros.models.counting.config.ModelConfig`,
:class:`~vsync_ros.models.pose.config.PoseModelConfig`) inherit these fields, so YAML files,
checkpoints and dotted overrides keep them as flat keys of the ``model:`` section
(``model.flow_width=0.5``). A task may redeclare a field only to give it another default.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from vsync_ros.yaml_config import ConfigError, choice

MOTION_ACTIVATIONS = ('relu', 'leaky_relu', 'tanh')
EPIPOLAR_KERNELS = ('gauss', 'laplace')
CORRELATION_FORMS = ('direct', 'factorized', 'auto')


@dataclass
class SyncConfig:
    """Matching and motion-net settings of camera-level / scene-level sync (paper Sec. III, Table I).

    Defaults are those of the shipped counting configuration (``config/train/small.yaml``).

    Attributes:
        flow_width: factor on the motion-net widths of Table I (128, 128, 64, 64, 32); 1.0 = paper.
        flow_kernel: motion-net conv kernel (odd; paper 5).
        flow_activation: hidden activation of the motion net ('relu' | 'leaky_relu' | 'tanh'); the
            2-channel output is linear.
        corr_levels: feature levels (level k has stride 4 * 2**k input pixels) where matching + a motion
            net run; must contain the coarsest level. Finer levels without matching get the coarser
            flow upsampled x2 (:class:`~vsync_ros.models.sync.camera_level.CameraLevelSync`).
        corr_rescale: multiply the sum-normalised correlation by the number of view-i locations so a
            uniform correlation is 1 (a constant factor; the normalisation itself is the authors').
        epipolar_sigma: fall-off of the epipolar weights (CLS-epi) from the epipolar line, in input
            pixels, or in feature pixels of each level when ``epipolar_sigma_in_feature_px``.
        epipolar_kernel: 'gauss' (paper) or 'laplace' (authors' code, with sigma 128 feature px).
        epipolar_sigma_in_feature_px: see ``epipolar_sigma``.
        share_flow_views: one motion net per level for all camera pairs (else one per camera pair
            (reference, view) and level, as the authors).
        correlation: how CLS-cor / CLS-epi evaluate the motion net's first layer on the correlation:
            'direct' (build the (Hr*Wr, Ho, Wo) correlation, the reference path), 'factorized' (fold the
            reference features into the conv weights, :mod:`vsync_ros.models.sync.lowrank`; epipolar
            weights stored as low-rank factors) or 'auto' (per camera pair and level, the form with the
            smaller estimated time, :func:`~vsync_ros.models.sync.lowrank.choose_form`). Same parameters and
            checkpoints for all three.
        epipolar_rank_tol: relative energy sum_{i>R} s_i^2 / sum_i s_i^2 of the epipolar weights'
            singular values discarded by the factorized form (CLS-epi); CLS-cor is exact (rank 1). The
            default 1e-4 (a relative Frobenius error of 1 % in the weights) moved the counts of the shipped
            small CLS-epi models by at most 3.4e-4 people (factorized against direct on the behaviour test
            set) and brings the paper config's finest level from rank 98 (1e-8) to 6.
    """

    flow_width: float = 0.25
    flow_kernel: int = 5
    flow_activation: str = 'tanh'
    corr_levels: list[int] = field(default_factory=lambda: [1, 2])
    corr_rescale: bool = True
    epipolar_sigma: float = 32.0
    epipolar_kernel: str = 'gauss'
    epipolar_sigma_in_feature_px: bool = False
    share_flow_views: bool = False
    correlation: str = 'auto'
    epipolar_rank_tol: float = 1e-4

    def validate_sync(self, num_levels: int, prefix: str = 'model') -> None:
        """Raise :class:`ConfigError` naming the first invalid sync field.

        Args:
            num_levels: feature levels of the task model (``corr_levels`` must include ``num_levels - 1``).
            prefix: config section the fields live in (for the error message).
        """
        choice(f'{prefix}.flow_activation', self.flow_activation, MOTION_ACTIVATIONS)
        choice(f'{prefix}.epipolar_kernel', self.epipolar_kernel, EPIPOLAR_KERNELS)
        choice(f'{prefix}.correlation', self.correlation, CORRELATION_FORMS)
        if not (0.0 <= self.epipolar_rank_tol < 1.0):
            raise ConfigError(f'{prefix}.epipolar_rank_tol must be in [0, 1), got {self.epipolar_rank_tol}')
        if self.flow_kernel < 1 or self.flow_kernel % 2 == 0:
            raise ConfigError(f'{prefix}.flow_kernel must be odd and positive, got {self.flow_kernel}')
        if not (self.flow_width > 0 and math.isfinite(self.flow_width)):
            raise ConfigError(f'{prefix}.flow_width must be positive, got {self.flow_width}')
        if not (self.epipolar_sigma > 0 and math.isfinite(self.epipolar_sigma)):
            raise ConfigError(f'{prefix}.epipolar_sigma must be positive, got {self.epipolar_sigma}')
        levels = list(self.corr_levels)
        coarsest = num_levels - 1
        if not levels or len(set(levels)) != len(levels) or min(levels) < 0 or max(levels) != coarsest:
            raise ConfigError(f'{prefix}.corr_levels must be distinct levels in [0, {coarsest}] including the '
                              f'coarsest ({coarsest}), got {levels}')

    @property
    def sync(self) -> SyncConfig:
        """The sync fields alone, as a plain :class:`SyncConfig` (a copy; lists are copied too)."""
        return SyncConfig(**{f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(SyncConfig)})


def _copy(value):
    return list(value) if isinstance(value, list) else value
