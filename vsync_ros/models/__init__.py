"""Model layer: ROS-free PyTorch modules that take tensors and config dataclasses.

``sync/`` holds the view synchronization shared by both tasks (one SyncConfig, matching, motion nets,
warping, camera-level and scene-level sync); ``counting/`` the MVMS counting model; ``pose/`` the
volumetric 3D pose model; ``inputs`` the image preprocessing both evaluation and inference use.
May import: geometry, data, the base modules, torch.
"""
