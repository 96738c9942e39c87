"""Unsynchronized camera streams (and ground truth) from the toy world, the synthetic world or a data set.

    ros2 launch vsync_ros replay.launch.py desync_preset:=random desync_s:=5.0 rate_hz:=7.0
    ros2 launch vsync_ros replay.launch.py latency_s:=0.05 jitter_s:=0.03 drop_prob:=0.05
    ros2 launch vsync_ros replay.launch.py source:=dataset dataset_root:=/data/pets2009 dataset_split:=test
    ros2 launch vsync_ros replay.launch.py stamp:=capture     # stamps show each view's offset

Publishes /<camera>/image_raw, /<camera>/camera_info, and ground_truth/count + ground_truth/density.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# name: (default, type, description)
ARGUMENTS = {
    'source': ('toy', str, 'toy (built in), world (vsync_ros.data) or dataset'),
    'rig': ('plaza', str, 'camera rig: plaza, studio or a rig folder (vsync-rig import)'),
    'dataset_root': ('', str, 'data set folder (source dataset)'),
    'dataset_split': ('test', str, 'data set split (source dataset)'),
    'dataset_frames': ('input', str, 'input (the data set\'s own desync; use desync_preset:=sync) or sync'),
    'n_people': ('8', int, 'people in the toy / synthetic world'),
    'image_scale': ('1.0', float, 'rendered image size relative to the rig calibration'),
    'seed': ('0', int, 'seed of the world and of the random timing'),
    'rate_hz': ('7.0', float, 'frame rate of every camera'),
    'desync_preset': ('constant', str, 'sync, constant (tau = +-desync_s), random (kappa = desync_s), '
                      'or pets / citystreet / h36m_train / h36m_test (these also set the rate)'),
    'desync_s': ('1.0', float, 'content offset magnitude, seconds'),
    'reference_view': ('0', int, 'view the ground truth refers to'),
    'latency_s': ('0.0', float, 'transport latency, seconds'),
    'jitter_s': ('0.0', float, 'extra uniform transport delay, seconds'),
    'drop_prob': ('0.0', float, 'probability that a frame is dropped'),
    'phase_spread': ('false', bool, 'spread the capture ticks over one frame period'),
    'duration_s': ('0.0', float, 'stop after this many seconds (0: unbounded)'),
    'encoding': ('rgb8', str, 'published encoding: rgb8, bgr8 or mono8'),
    'stamp': ('reference', str, 'image stamps: reference (every view stamped with the reference tick) or capture '
              '(when the view\'s frame was taken: tick + its content offset, like a camera with its own clock)'),
}


def generate_launch_description():
    args = [DeclareLaunchArgument(name, default_value=default, description=text)
            for name, (default, _, text) in ARGUMENTS.items()]
    args += [
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the replay node'),
        DeclareLaunchArgument('log_level', default_value='info', description='log level'),
    ]
    params = {name: ParameterValue(LaunchConfiguration(name), value_type=vtype)
              for name, (_, vtype, _) in ARGUMENTS.items()}
    replay = Node(
        package='vsync_ros', executable='replay_node', name='replay_node', namespace=LaunchConfiguration('namespace'),
        output='screen', emulate_tty=True, parameters=[params],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )
    return LaunchDescription([*args, replay])
