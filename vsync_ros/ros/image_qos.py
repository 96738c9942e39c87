"""QoS of the camera subscriptions, and what to tell the user when frames do not arrive.

``image_qos`` choices:

* ``sensor_data`` (default): best effort, keep last ``image_qos_depth``, volatile - the usual camera
  driver QoS; a late frame is dropped rather than queued. Large frames (e.g. 1920x1440 rgb8, 8 MB)
  travel as many UDP fragments; with best effort a single lost fragment loses the whole frame, so
  they may never arrive at all.
* ``reliable``: reliable, keep last ``image_qos_depth``, volatile: lost fragments are resent. Needs a
  reliable publisher (a best-effort publisher and a reliable subscription are incompatible: no data).
* ``system_default``: the middleware's defaults, keep last ``image_qos_depth``.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

IMAGE_QOS = ('sensor_data', 'reliable', 'system_default')
SYNC_POLICIES = ('latest', 'approximate')

LARGE_FRAME_ADVICE = ('for large frames on one host, let Fast DDS use shared memory / data sharing '
                      '(e.g. FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for every process) or raise the kernel '
                      'socket buffers (sysctl net.core.rmem_max / wmem_max)')


def image_qos_profile(kind: str, depth: int) -> QoSProfile:
    """The subscription QoS of camera images and camera infos for ``image_qos`` ``kind``."""
    if kind not in IMAGE_QOS:
        raise ValueError(f'image_qos must be one of {", ".join(IMAGE_QOS)}, got {kind!r}')
    reliability = {'sensor_data': ReliabilityPolicy.BEST_EFFORT, 'reliable': ReliabilityPolicy.RELIABLE,
                   'system_default': ReliabilityPolicy.SYSTEM_DEFAULT}[kind]
    durability = DurabilityPolicy.SYSTEM_DEFAULT if kind == 'system_default' else DurabilityPolicy.VOLATILE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=reliability,
                      durability=durability)


def incompatible_qos_text(topic: str, policy: str, image_qos: str) -> str:
    """Why frames of ``topic`` cannot arrive when a publisher's QoS ``policy`` is incompatible, and the fix."""
    fix = ('set image_qos to sensor_data (best effort accepts any publisher)' if policy == 'RELIABILITY'
           and image_qos != 'sensor_data' else f'make the publisher\'s {policy} policy compatible with '
           f'image_qos {image_qos}, or choose another image_qos')
    return (f'a publisher on {topic} has a QoS incompatible with this subscription (policy {policy}, '
            f'image_qos {image_qos}): none of its frames will arrive; {fix}')


def no_frame_hint(topic: str, waited_s: float, publisher_reliable: list[bool], image_qos: str,
                  qos_problem: str = '') -> str:
    """What to try when ``topic`` has publishers but no frame arrived in ``waited_s`` seconds.

    ``publisher_reliable``: one flag per publisher on the topic (True: it publishes reliably);
    ``qos_problem``: an incompatible-QoS report for the topic ('' if none).
    """
    if not publisher_reliable:
        return f'no publisher on {topic}'
    n = len(publisher_reliable)
    text = f'{n} publisher(s) on {topic} but no frame in {waited_s:.1f} s'
    if qos_problem:
        return f'{text}: {qos_problem}'
    tries = []
    if image_qos != 'reliable' and any(publisher_reliable):
        tries.append('image_qos reliable (large frames over best effort are often lost whole: one lost '
                     'fragment drops the frame)')
    tries.append(LARGE_FRAME_ADVICE)
    return f'{text}; try ' + '; '.join(tries)
