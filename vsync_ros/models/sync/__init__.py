"""View synchronization shared by counting and pose.

One :class:`SyncConfig`, matching (concat / correlation / epipolar-weighted correlation), motion
nets, warping, camera-level sync (CLS) and scene-level sync (SLS), and the factory both task models
build their sync modules with.

May import: geometry, the base modules, torch (part of the models layer).
"""
