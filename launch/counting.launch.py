"""Multi-view crowd counting: sync_node with config/counting.yaml, optionally the replay source and RViz.

    ros2 launch vsync_ros counting.launch.py                       # sync node only (real cameras)
    ros2 launch vsync_ros counting.launch.py use_replay:=true use_rviz:=true desync_preset:=random
    ros2 launch vsync_ros counting.launch.py checkpoint:=/path/to/model.pt device:=cuda
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
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'counting.yaml']),
                              description='sync_node parameters (ros__parameters YAML)'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the sync node'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='model checkpoint (empty: the shipped models/plaza_cls_epi.pt)'),
        DeclareLaunchArgument('device', default_value='auto', description='auto, cpu, cuda or cuda:N'),
        DeclareLaunchArgument('use_sim_time', default_value='false', choices=['true', 'false'],
                              description='use /clock (bag replay with --clock)'),
        DeclareLaunchArgument('log_level', default_value='info', choices=['debug', 'info', 'warn', 'error'],
                              description='log level of the nodes'),
        DeclareLaunchArgument('use_replay', default_value='false', choices=['true', 'false'],
                              description='also start replay_node (synthetic unsynchronized cameras + GT)'),
        DeclareLaunchArgument('rig', default_value='plaza', choices=['plaza', 'studio'],
                              description='replay: camera rig (must match the model: plaza counting, studio pose)'),
        DeclareLaunchArgument('desync_preset', default_value='constant',
                              choices=['sync', 'constant', 'random', 'pets', 'citystreet', 'h36m_train', 'h36m_test'],
                              description='replay: content offsets of the non-reference views'),
        DeclareLaunchArgument('desync_s', default_value='1.0', description='replay: offset magnitude, seconds'),
        DeclareLaunchArgument('rate_hz', default_value='7.0', description='replay: frame rate per camera'),
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
        launch_arguments={'rig': LaunchConfiguration('rig'), 'desync_preset': LaunchConfiguration('desync_preset'),
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
