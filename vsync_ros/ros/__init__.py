"""ROS 2 layer of vsync_ros: thin rclpy nodes around a ROS-free core.

ROS-free (importable without rclpy): ``pipeline_api`` (the FramePipeline contract), ``frame_store``
and ``sync_core`` (latest frame per view, staleness, reference fail-over, stepping), ``image_conversion``,
``colormap``, ``markers`` (geometry; messages built lazily), ``diagnostics``, ``calibration_check``,
``sources`` (desync schedules, frame sources), ``messages``, ``bags`` (rosbag2 via ``rosbags``), ``paths``.
rclpy nodes: ``sync_node`` (executable ``sync_node``), ``replay_node`` (``replay_node``), and the
``vsync-bag-eval`` CLI in ``bag_eval``.
"""
