"""MVMS multi-view counting model.

Per-view encoders, ground-plane projection, decoder, losses, and its config (:class:`ModelConfig`,
:class:`LossConfig`).

May import: models.sync, models.inputs, geometry, data, the base modules, torch (models layer).
"""
