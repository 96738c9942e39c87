"""vsync_ros: deep view synchronization for unsynchronized multi-camera surveillance.

Layers, lowest first (each a sub-package whose docstring says what it may import): base modules
(``paths``, ``yaml_config``), ``geometry``, ``data``, ``models``, ``engine``, ``inference``, then
``reports`` and ``runtime``, and ``ros`` (the only one that imports rclpy). See README, "Architecture".
"""

__version__ = '0.1.0'
