"""Runtime layer.

The ROS-free live machinery behind the nodes: frame store, sync core (reference choice, staleness,
fail-over), the inference work thread, frame sources (``sources``: synthetic worlds and data-set
replay; ``toy_world``: the built-in toy crowd), desync profiles and capture / publication schedules
(``schedules``), image-message fields, rosbag2 reading / writing (``rosbags``), bag metrics and rig folders
as camera set-ups (``rig_folder``).

May import: inference, engine, models, data, geometry, the base modules; never rclpy or ROS messages.
"""
