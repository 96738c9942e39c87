"""ROS 2 layer: the only code that imports rclpy or ROS message packages.

Thin rclpy shells around the runtime: ``sync_node`` and ``replay_node`` (executables of the same
names), their typed parameter table, message conversion (images with cv_bridge, joints, markers),
``/diagnostics``, the ``vsync-bag-eval`` CLI and the ``make demo`` graph.
May import: every other layer.
"""
