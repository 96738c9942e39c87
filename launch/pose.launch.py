"""Multi-view 3D human pose: counting.launch.py with config/pose.yaml (task pose) and the studio rig.

    ros2 launch vsync_ros pose.launch.py                                    # sync node only (real cameras)
    ros2 launch vsync_ros pose.launch.py use_replay:=true use_rviz:=true
    ros2 launch vsync_ros pose.launch.py checkpoint:=/path/to/pose.pt device:=cuda

Every argument of counting.launch.py applies (checkpoint, device, use_replay, use_rviz, use_sim_time, ...);
this file only changes the defaults that differ for pose. Outputs: /sync_node/skeleton (MarkerArray:
17 joint spheres + bones per person), /sync_node/joints (PoseArray, 17 poses per person in Human3.6M
order), stamped with the reference frame's stamp. The replay source uses the studio rig (4 views, toy
scene: people, not skeletons; for a quick look).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare('vsync_ros')
    args = [
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'pose.yaml']),
                              description='sync_node parameters (ros__parameters YAML, task: pose)'),
        DeclareLaunchArgument('desync_preset', default_value='h36m_test',
                              choices=['sync', 'constant', 'random', 'pets', 'citystreet', 'h36m_train', 'h36m_test'],
                              description='replay: content offsets of the non-reference views'),
        DeclareLaunchArgument('desync_s', default_value='0.64', description='replay: offset magnitude, seconds'),
        DeclareLaunchArgument('rate_hz', default_value='10.0', description='replay: frame rate per camera'),
    ]
    counting = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'counting.launch.py'])),
        launch_arguments={'params_file': LaunchConfiguration('params_file'), 'rig': 'studio',
                          'desync_preset': LaunchConfiguration('desync_preset'),
                          'desync_s': LaunchConfiguration('desync_s'),
                          'rate_hz': LaunchConfiguration('rate_hz')}.items(),
    )
    return LaunchDescription([*args, counting])
