"""RViz markers for the camera rig, the ground region and 3D skeletons.

The geometry (frustum corners, region outline) is plain NumPy and testable without ROS; the
``build_*`` functions wrap it in ``visualization_msgs/MarkerArray`` messages (imported lazily). All
markers are expressed in the world frame (metres, ground plane z = 0) named by the caller.
"""
from __future__ import annotations

import colorsys

import numpy as np

from vsync_ros.geometry import Camera, GroundRegion

# Human3.6M 17-joint skeleton: pelvis, r-hip, r-knee, r-ankle, l-hip, l-knee, l-ankle, spine, thorax,
# nose/neck, head, l-shoulder, l-elbow, l-wrist, r-shoulder, r-elbow, r-wrist.
H36M_BONES = ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
              (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16))


def view_color(index: int, n_views: int) -> tuple[float, float, float]:
    """Distinct RGB colour (0..1) for view ``index`` of ``n_views``."""
    return colorsys.hsv_to_rgb((index / max(n_views, 1)) % 1.0, 0.85, 0.95)


def frustum_corners(camera: Camera, max_range_m: float = 30.0) -> np.ndarray:
    """(4, 3) world points where the rays through the image corners end.

    A corner ray ends where it meets the ground plane (z = 0) when that is closer than ``max_range_m``,
    else at ``max_range_m`` from the camera centre. Distortion is taken into account.
    """
    w, h = camera.width, camera.height
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    rays = camera.pixel_rays(corners)
    c = camera.center
    with np.errstate(divide='ignore', invalid='ignore'):
        to_ground = np.where(rays[:, 2] < -1e-9, -c[2] / rays[:, 2], np.inf)
    length = np.minimum(to_ground, max_range_m)
    return c + rays * length[:, None]


def frustum_segments(camera: Camera, max_range_m: float = 30.0) -> np.ndarray:
    """(16, 3) endpoints of the 8 frustum edges (centre->corner x4, rim x4), as a LINE_LIST."""
    c = camera.center
    far = frustum_corners(camera, max_range_m)
    pts = []
    for k in range(4):
        pts += [c, far[k]]
    for k in range(4):
        pts += [far[k], far[(k + 1) % 4]]
    return np.asarray(pts)


def region_outline(region: GroundRegion, z_m: float = 0.0) -> np.ndarray:
    """(5, 3) closed outline of the ground region (LINE_STRIP)."""
    x0, y0, x1, y1 = region.x0, region.y0, region.x0 + region.width_m, region.y0 + region.height_m
    return np.array([[x0, y0, z_m], [x1, y0, z_m], [x1, y1, z_m], [x0, y1, z_m], [x0, y0, z_m]])


def skeleton_segments(joints: np.ndarray, bones=H36M_BONES) -> np.ndarray:
    """(2 * n_bones, 3) LINE_LIST endpoints for one person's (J, 3) joints; bones beyond J are skipped."""
    joints = np.asarray(joints, dtype=np.float64)
    pairs = [(a, b) for a, b in bones if a < len(joints) and b < len(joints)]
    return joints[np.asarray(pairs, dtype=np.int64).reshape(-1)].reshape(-1, 3)


# ---------------------------------------------------------------------------------------- messages
def _points(arr: np.ndarray):
    from geometry_msgs.msg import Point
    return [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in arr]


def _marker(header, ns: str, mid: int, mtype: int, rgb, alpha: float = 1.0, scale=(0.05, 0.05, 0.05)):
    from visualization_msgs.msg import Marker
    m = Marker()
    m.header = header
    m.ns, m.id, m.type, m.action = ns, int(mid), mtype, Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x, m.scale.y, m.scale.z = (float(s) for s in scale)
    m.color.r, m.color.g, m.color.b = (float(c) for c in rgb)
    m.color.a = float(alpha)
    m.frame_locked = False
    return m


def build_scene_markers(cameras: list[Camera], region: GroundRegion, header, active_ref: int | None = None,
                        max_range_m: float = 30.0, disabled: set | None = None):
    """MarkerArray: ground region outline, one frustum + centre + label per camera.

    Args:
        header: std_msgs/Header (world frame and stamp) copied into every marker.
        active_ref: index of the active reference view (drawn thicker, labelled ``(ref)``).
        disabled: view indices to draw grey (e.g. invalid calibration).

    Ids are stable (one per camera per namespace), so republishing replaces markers without DELETEALL.
    """
    from visualization_msgs.msg import Marker, MarkerArray
    disabled = disabled or set()
    out = MarkerArray()
    outline = _marker(header, 'ground_region', 0, Marker.LINE_STRIP, (1.0, 1.0, 1.0), 0.9, (0.06, 0.0, 0.0))
    outline.points = _points(region_outline(region))
    out.markers.append(outline)
    n = len(cameras)
    for i, cam in enumerate(cameras):
        rgb = (0.5, 0.5, 0.5) if i in disabled else view_color(i, n)
        is_ref = i == active_ref
        fr = _marker(header, 'camera_frusta', i, Marker.LINE_LIST, rgb, 1.0, (0.09 if is_ref else 0.03, 0, 0))
        fr.points = _points(frustum_segments(cam, max_range_m))
        centre = _marker(header, 'camera_centres', i, Marker.SPHERE, rgb, 1.0, (0.4, 0.4, 0.4))
        c = cam.center
        centre.pose.position.x, centre.pose.position.y, centre.pose.position.z = (float(v) for v in c)
        label = _marker(header, 'camera_labels', i, Marker.TEXT_VIEW_FACING, (1.0, 1.0, 1.0), 1.0, (0, 0, 0.7))
        label.pose.position.x, label.pose.position.y = float(c[0]), float(c[1])
        label.pose.position.z = float(c[2]) + 0.8
        label.text = cam.name + (' (ref)' if is_ref else '') + (' (disabled)' if i in disabled else '')
        out.markers += [fr, centre, label]
    return out


def build_skeleton_markers(joints: np.ndarray | None, header, previous_count: int = 0, lifetime_s: float = 1.0):
    """MarkerArray of 3D skeletons: per person a LINE_LIST of bones and a SPHERE_LIST of joints.

    Person p uses id p in namespaces ``skeleton_bones`` / ``skeleton_joints``; persons present in the
    previous message (``previous_count``) but not now get DELETE markers, so nothing goes stale.
    """
    from visualization_msgs.msg import Marker, MarkerArray
    joints = np.zeros((0, 17, 3)) if joints is None else np.asarray(joints, dtype=np.float64)
    out = MarkerArray()
    n = joints.shape[0]
    sec = int(lifetime_s)
    for p in range(n):
        rgb = view_color(p, max(n, 6))
        bones = _marker(header, 'skeleton_bones', p, Marker.LINE_LIST, rgb, 1.0, (0.04, 0, 0))
        bones.points = _points(skeleton_segments(joints[p]))
        pts = _marker(header, 'skeleton_joints', p, Marker.SPHERE_LIST, rgb, 1.0, (0.08, 0.08, 0.08))
        pts.points = _points(joints[p])
        for m in (bones, pts):
            m.lifetime.sec, m.lifetime.nanosec = sec, int((lifetime_s - sec) * 1e9)
        out.markers += [bones, pts]
    for p in range(n, previous_count):
        for ns in ('skeleton_bones', 'skeleton_joints'):
            m = _marker(header, ns, p, Marker.LINE_LIST, (0, 0, 0))
            m.action = Marker.DELETE
            out.markers.append(m)
    return out
