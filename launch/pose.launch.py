"""Multi-view 3D human pose: sync_node with config/pose.yaml (task pose), optionally replay and RViz.

    ros2 launch vsync_ros pose.launch.py                                    # sync node only (real cameras)
    ros2 launch vsync_ros pose.launch.py checkpoint:=runs/pose_small_cls_epi.pt use_replay:=true use_rviz:=true
    ros2 launch vsync_ros pose.launch.py checkpoint:=/path/to/pose.pt device:=cuda

Outputs: /sync_node/skeleton (MarkerArray: 17 joint spheres + bones per person), /sync_node/joints
(PoseArray, 17 poses per person in Human3.6M order), stamped with the reference frame's stamp.
The replay source uses the studio rig (4 views, toy scene: people, not skeletons; for a quick look).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, SetParameter
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare('vsync_ros')
    args = [
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'pose.yaml']),
                              description='sync_node parameters (ros__parameters YAML, task: pose)'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the sync node'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='pose checkpoint (empty: the shipped models/studio_pose_cls_epi.pt)'),
        DeclareLaunchArgument('device', default_value='auto', description='auto, cpu, cuda or cuda:N'),
        DeclareLaunchArgument('use_sim_time', default_value='false', choices=['true', 'false'],
                              description='use /clock (bag replay with --clock)'),
        DeclareLaunchArgument('log_level', default_value='info', choices=['debug', 'info', 'warn', 'error'],
                              description='log level of the nodes'),
        DeclareLaunchArgument('use_replay', default_value='false', choices=['true', 'false'],
                              description='also start replay_node on the studio rig (synthetic cameras)'),
        DeclareLaunchArgument('desync_preset', default_value='h36m_test',
                              choices=['sync', 'constant', 'random', 'pets', 'citystreet', 'h36m_train', 'h36m_test'],
                              description='replay: content offsets of the non-reference views'),
        DeclareLaunchArgument('desync_s', default_value='0.64', description='replay: offset magnitude, seconds'),
        DeclareLaunchArgument('rate_hz', default_value='10.0', description='replay: frame rate per camera'),
        DeclareLaunchArgument('use_rviz', default_value='false', choices=['true', 'false'],
                              description='also start RViz with rviz/vsync.rviz'),
        DeclareLaunchArgument('rviz_config', default_value=PathJoinSubstitution([share, 'rviz', 'vsync.rviz']),
                              description='RViz configuration file'),
    ]
    log_level = ['--ros-args', '--log-level', LaunchConfiguration('log_level')]
    sync_node = Node(
        package='vsync_ros', executable='sync_node', name='sync_node', namespace=LaunchConfiguration('namespace'),
        output='screen', emulate_tty=True, arguments=log_level,
        parameters=[LaunchConfiguration('params_file'),
                    {'checkpoint': LaunchConfiguration('checkpoint'), 'device': LaunchConfiguration('device')}],
    )
    replay = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'replay.launch.py'])),
        launch_arguments={'rig': 'studio', 'desync_preset': LaunchConfiguration('desync_preset'),
                          'desync_s': LaunchConfiguration('desync_s'), 'rate_hz': LaunchConfiguration('rate_hz'),
                          'log_level': LaunchConfiguration('log_level')}.items(),
        condition=IfCondition(LaunchConfiguration('use_replay')),
    )
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2', output='log',
        arguments=['-d', LaunchConfiguration('rviz_config')],
        condition=IfCondition(LaunchConfiguration('use_rviz')),
    )
    return LaunchDescription([
        *args,
        SetParameter(name='use_sim_time', value=LaunchConfiguration('use_sim_time')),
        sync_node,
        replay,
        rviz,
    ])
