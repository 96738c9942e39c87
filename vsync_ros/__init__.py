"""vsync_ros: deep view synchronization for unsynchronized multi-camera surveillance."""

__version__ = '0.1.0'
