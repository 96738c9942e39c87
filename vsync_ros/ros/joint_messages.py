"""3D joints <-> ``geometry_msgs/PoseArray`` (rclpy).

The layout of the sync node's ``~/joints`` and of ``/ground_truth/joints``: P * 17 poses, person-major in
the Human3.6M joint order, position = joint in metres, orientation identity (joints carry no orientation).
"""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Pose, PoseArray
from std_msgs.msg import Header

from vsync_ros.runtime.messages import joint_positions, positions_to_joints


def joints_to_pose_array(joints, header: Header) -> PoseArray:
    """(P, J, 3) joints in metres (or None) -> PoseArray of P * J poses, person-major, identity orientation."""
    msg = PoseArray(header=header)
    for x, y, z in joint_positions(joints):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = float(x), float(y), float(z)
        pose.orientation.w = 1.0
        msg.poses.append(pose)
    return msg


def pose_array_to_joints(msg: PoseArray, num_joints: int = 17) -> np.ndarray:
    """PoseArray of P * J poses -> (P, J, 3) float64 metres (ValueError if not whole skeletons)."""
    return positions_to_joints([(p.position.x, p.position.y, p.position.z) for p in msg.poses], num_joints)
