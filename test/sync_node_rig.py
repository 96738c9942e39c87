"""Helpers of the sync-node tests (no tests here): a SyncNode with camera publishers and output watchers."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PointStamped
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from ros_support import RosHarness, toy_setup, wait_for
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32, Header

from vsync_ros.ros.image_conversion import make_image_msg
from vsync_ros.ros.sync_node import SyncNode, ns_to_stamp, stamp_to_ns

BASE_NS = 1_800_000_000 * 10**9


class Rig:
    """A SyncNode under test with camera publishers on test-specific topics and output watchers."""

    def __init__(self, ros: RosHarness, tag: str, pipe, info: bool = False, **params) -> None:
        """``pipe``: a (recording) pipeline whose cameras are the toy rig's (half-size plaza)."""
        self.ros = ros
        self.world, _ = toy_setup()
        self.pipe = pipe
        self.topics = [f'/{tag}/cam{i + 1}/image_raw' for i in range(3)]
        self.info_topics = [f'/{tag}/cam{i + 1}/camera_info' for i in range(3)] if info else []
        overrides = [Parameter('camera_topics', value=self.topics)]
        if info:
            overrides.append(Parameter('camera_info_topics', value=self.info_topics))
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.name = f'sync_{tag}'
        self.node = SyncNode(self.pipe, node_name=self.name, context=ros.context, parameter_overrides=overrides)
        ros.add(self.node)
        self.out = f'/{self.name}'
        for suffix, typ in (('density', Image), ('density_color', Image), ('count', Float32),
                            ('count_stamped', PointStamped), ('diagnostics', DiagnosticArray)):
            ros.watch(f'{self.out}/{suffix}', typ)
        self.pubs = [ros.probe.create_publisher(Image, t, QoSProfile(depth=10)) for t in self.topics]
        self.info_pubs = [ros.probe.create_publisher(CameraInfo, t, QoSProfile(depth=10)) for t in self.info_topics]
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in self.pubs + self.info_pubs)
                        and self.node.pub_count_stamped.get_subscription_count() > 0
                        and self.node.pub_density.get_subscription_count() > 0, 20.0), 'discovery failed'
        self._frames: dict[tuple[int, int], Image] = {}

    def stamp(self, k: int, view: int) -> int:
        """Distinct stamps per tick and view (view v is v ms late), so outputs tell which view they came from."""
        return BASE_NS + k * 100_000_000 + view * 1_000_000

    def frame(self, k: int, view: int, encoding: str = 'rgb8') -> Image:
        rgb = self.world.frame(view, k * 0.1)
        arr = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, 1]}[encoding]
        return make_image_msg(arr, encoding, Header(stamp=ns_to_stamp(self.stamp(k, view)),
                                                    frame_id=f'cam{view + 1}_optical'))

    def tick(self, k: int, views=(1, 2, 0), encoding: str = 'rgb8') -> None:
        for v in views:
            self.pubs[v].publish(self.frame(k, v, encoding))

    def stamps(self, suffix: str = 'count_stamped') -> list[int]:
        return [stamp_to_ns(m.header.stamp) for m in self.ros.msgs(f'{self.out}/{suffix}')]

    def wait_stamp(self, stamp: int, timeout: float = 5.0) -> bool:
        return wait_for(lambda: stamp in self.stamps(), timeout)

    def last_diag(self) -> dict[str, DiagnosticStatus]:
        msgs = self.ros.msgs(f'{self.out}/diagnostics')
        return {s.name.split(': ', 1)[1]: s for s in msgs[-1].status} if msgs else {}

    def any_diag(self, predicate) -> bool:
        """True when some received DiagnosticArray ({'camera <view>' / 'model' / 'estimate': status}) satisfies it."""
        for msg in self.ros.msgs(f'{self.out}/diagnostics'):
            if predicate({s.name.split(': ', 1)[1]: s for s in msg.status}):
                return True
        return False

    def close(self) -> None:
        for p in self.pubs + self.info_pubs:
            self.ros.probe.destroy_publisher(p)
        self.ros.remove(self.node)


def diag_values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


