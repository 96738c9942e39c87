"""Multi-view 3D human pose: counting.launch.py with config/pose.yaml (task pose) and the studio rig.

    ros2 launch vsync_ros pose.launch.py                                    # sync node only (real cameras)
    ros2 launch vsync_ros pose.launch.py use_replay:=true use_rviz:=true
    ros2 launch vsync_ros pose.launch.py checkpoint:=/path/to/pose.pt device:=cuda

Every argument of counting.launch.py applies (checkpoint, device, autostart, use_replay, use_rviz,
use_sim_time, ...); this file declares the ones whose default or meaning differs for pose, so
``--show-args`` describes the pose set-up. Outputs: /sync_node/skeleton (MarkerArray: 17 joint spheres +
bones per person), /sync_node/joints (PoseArray, 17 poses per person in Human3.6M order), stamped with the
reference frame's stamp. The replay source uses the studio rig (4 views, toy scene: people, not skeletons;
for a quick look) with the Human3.6M training sampling (``h36m_train``: every 4th 50 Hz frame, i.e. 12.5 Hz,
random offsets up to 8/50 s), well within pose.yaml's ``max_frame_age_s`` (0.5 s), so every reference frame
finds the other views fresh. (``h36m_test`` samples every 64th frame, 1.28 s apart: with pose.yaml the other
views are then always stale; raise ``max_frame_age_s`` above 1.28 s in a copy of the params file to use it.)
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PRESETS = ['sync', 'constant', 'random', 'pets', 'citystreet', 'h36m_train', 'h36m_test']


def generate_launch_description() -> LaunchDescription:
    """counting.launch.py with the pose arguments declared first (their defaults and descriptions win)."""
    share = FindPackageShare('vsync_ros')
    args = [
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'pose.yaml']),
                              description='sync_node parameters (ros__parameters YAML, task: pose)'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='pose model checkpoint overriding the params file\'s (empty: not '
                                          'given; pose.yaml loads the shipped models/studio_pose_cls_epi.pt)'),
        DeclareLaunchArgument('rig', default_value='studio', choices=['studio'],
                              description='replay: camera rig (pose models use the 4-view studio rig)'),
        DeclareLaunchArgument('desync_preset', default_value='h36m_train', choices=PRESETS,
                              description='replay: content offsets of the non-reference views (h36m_train: '
                                          '12.5 Hz, random offsets up to 8/50 s; the h36m_* presets set the '
                                          'rate and offsets themselves)'),
        DeclareLaunchArgument('desync_s', default_value='0.16',
                              description='replay: offset magnitude, seconds (sync / constant / random presets)'),
        DeclareLaunchArgument('rate_hz', default_value='12.5',
                              description='replay: frame rate per camera (sync / constant / random presets; '
                                          'keep 1 / rate_hz below the params file\'s max_frame_age_s)'),
    ]
    counting = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'counting.launch.py'])),
        launch_arguments={'params_file': LaunchConfiguration('params_file'),
                          'checkpoint': LaunchConfiguration('checkpoint'), 'rig': LaunchConfiguration('rig'),
                          'desync_preset': LaunchConfiguration('desync_preset'),
                          'desync_s': LaunchConfiguration('desync_s'),
                          'rate_hz': LaunchConfiguration('rate_hz')}.items(),
    )
    return LaunchDescription([*args, counting])
