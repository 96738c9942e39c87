"""Multi-view crowd counting: sync_node with config/counting.yaml, optionally the replay source and RViz.

    ros2 launch vsync_ros counting.launch.py                       # sync node only (real cameras)
    ros2 launch vsync_ros counting.launch.py use_replay:=true use_rviz:=true desync_preset:=random
    ros2 launch vsync_ros counting.launch.py checkpoint:=/path/to/model.pt device:=cuda
    ros2 launch vsync_ros counting.launch.py checkpoint:=mine_cls_epi.pt fallback_checkpoint:=mine_base_u.pt
    ros2 launch vsync_ros counting.launch.py autostart:=false    # then: ros2 lifecycle set /sync_node configure
    ros2 launch vsync_ros counting.launch.py rig:=rigs/mine checkpoint:=runs/mine_cls_epi.pt use_replay:=true

The sync node is a lifecycle node: with its ``autostart`` parameter (default true) it configures and
activates itself. The launch arguments ``checkpoint``, ``fallback_checkpoint``, ``device`` and ``autostart``
override the params file only when given (their empty default means "not given": the params file's values,
or the node's defaults, stand). A ``checkpoint`` given without ``fallback_checkpoint`` runs without the params
file's fallback model (it belongs to the shipped model); ``fallback_checkpoint:=none`` drops it too.

``rig`` is a preset (``plaza``, ``studio``: the replay's cameras) or a rig folder written by ``vsync-rig
import``. A rig folder sets the sync node's ``rig`` (its calibration and ground region, checked against the
checkpoint), ``camera_topics`` / ``camera_info_topics`` (``/<camera>/image_raw``, ``/<camera>/camera_info``
for each of its cameras) and ``failover_order`` (views 1 .. V-1) over the params file, clears the params file's
``fallback_checkpoint`` unless one is given, and the replay (``use_replay:=true``) renders its cameras in its
ground region.
"""
from __future__ import annotations

from collections.abc import Mapping

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node, SetParameter
from launch_ros.substitutions import FindPackageShare

OVERRIDE_ARGUMENTS = {'checkpoint': str, 'fallback_checkpoint': str, 'device': str, 'autostart': bool}
"""Launch arguments that set the sync node parameter of the same name (and type), but only when given."""
NO_FALLBACK = 'none'
"""``fallback_checkpoint:=none`` runs without a fallback model."""
PRESET_RIGS = ('plaza', 'studio')
"""Values of the ``rig`` argument that name a built-in rig (the replay's only); anything else is a rig folder."""


def given_overrides(launch_configurations: Mapping[str, str]) -> dict[str, str | bool]:
    """Sync node parameters set by launch arguments: those of :data:`OVERRIDE_ARGUMENTS` given a non-empty value.

    An argument left at its empty default is not passed, so the params file's value (or the node's own
    default) stands. Boolean arguments take true / false (any case). A ``checkpoint`` given without a
    ``fallback_checkpoint`` clears the fallback (the params file's fallback belongs to its own model, and a
    fallback must share the model's rig); ``fallback_checkpoint:=none`` clears it too.

    Raises:
        ValueError: a boolean argument is neither true nor false.
    """
    out: dict[str, str | bool] = {}
    for name, kind in OVERRIDE_ARGUMENTS.items():
        value = launch_configurations.get(name, '').strip()
        if not value:
            continue
        if kind is bool:
            if value.lower() not in ('true', 'false'):
                raise ValueError(f'launch argument {name} must be true or false, got {value!r}')
            out[name] = value.lower() == 'true'
        else:
            out[name] = value
    if out.get('fallback_checkpoint', '').lower() == NO_FALLBACK or ('checkpoint' in out and
                                                                      'fallback_checkpoint' not in out):
        out['fallback_checkpoint'] = ''
    return out


def rig_overrides(launch_configurations: Mapping[str, str]) -> dict:
    """Sync node parameters of a rig folder given as ``rig`` (none for a preset name or an empty value).

    ``rig`` (the absolute folder), ``camera_topics``, ``camera_info_topics`` and ``failover_order``, from
    :func:`vsync_ros.runtime.rig_folder.rig_node_parameters` (a relative folder is taken from the working
    directory or the package share directory).

    Raises:
        ValueError: the value is neither a preset nor a folder holding rig.yaml, or the rig folder is broken
            (the message names the file and the field).
    """
    value = launch_configurations.get('rig', '').strip()
    if not value or value in PRESET_RIGS:
        return {}
    from vsync_ros.runtime.rig_folder import rig_node_parameters  # pure Python: no torch, no rclpy
    return rig_node_parameters(value)


def sync_node_actions(context: LaunchContext) -> list[LifecycleNode]:
    """The sync node (OpaqueFunction body): the params file, then the rig folder's and the given overrides."""
    parameters = [LaunchConfiguration('params_file')]
    rig, given = rig_overrides(context.launch_configurations), given_overrides(context.launch_configurations)
    if rig and 'fallback_checkpoint' not in given:
        given['fallback_checkpoint'] = ''  # the params file's fallback model belongs to another rig
    overrides = {**rig, **given}
    if overrides:
        parameters.append(overrides)
    return [LifecycleNode(
        package='vsync_ros', executable='sync_node', name='sync_node', namespace=LaunchConfiguration('namespace'),
        output='screen', emulate_tty=True,
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        parameters=parameters,
    )]


def generate_launch_description() -> LaunchDescription:
    """Arguments, use_sim_time, the sync node (lifecycle) and the optional replay and RViz."""
    share = FindPackageShare('vsync_ros')
    args = [
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'counting.yaml']),
                              description='sync_node parameters (ros__parameters YAML)'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the sync node'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='model checkpoint overriding the params file\'s (empty: not given; '
                                          'counting.yaml loads the shipped models/plaza_cls_epi.pt)'),
        DeclareLaunchArgument('fallback_checkpoint', default_value='',
                              description='counting: model for frame sets without the reference camera, overriding '
                                          'the params file\'s (empty: not given; none: no fallback; a checkpoint '
                                          'given without it runs without a fallback)'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto, cpu, cuda or cuda:N, overriding the params file\'s '
                                          '(empty: not given; counting.yaml says auto)'),
        DeclareLaunchArgument('autostart', default_value='', choices=['', 'true', 'false'],
                              description='true: the sync node configures and activates itself; false: it stays '
                                          'unconfigured until `ros2 lifecycle set` (empty: not given; the params '
                                          'file\'s autostart, default true)'),
        DeclareLaunchArgument('use_sim_time', default_value='false', choices=['true', 'false'],
                              description='use /clock (bag replay with --clock)'),
        DeclareLaunchArgument('log_level', default_value='info', choices=['debug', 'info', 'warn', 'error'],
                              description='log level of the nodes'),
        DeclareLaunchArgument('use_replay', default_value='false', choices=['true', 'false'],
                              description='also start replay_node (synthetic unsynchronized cameras + GT)'),
        DeclareLaunchArgument('rig', default_value='plaza',
                              description='camera rig: plaza or studio (the replay\'s cameras; must match the model: '
                                          'plaza counting, studio pose), or a rig folder from vsync-rig import (the '
                                          'sync node takes its calibration and listens to /<camera>/image_raw of '
                                          'each camera; the replay renders those cameras)'),
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
        OpaqueFunction(function=sync_node_actions),
        replay,
        rviz,
    ])
