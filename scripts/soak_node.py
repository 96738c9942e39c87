"""Soak run of ``sync_node`` as a user runs it: real executable, real DDS transport, 3 cameras at 30 Hz.

What it does: starts the real ``sync_node`` (``python -m vsync_ros.ros.sync_node``, the console script's
``main``) as a subprocess with ``config/counting.yaml`` and the shipped ``models/plaza_cls_epi.pt``, and
from this process publishes three rgb8 384x288 camera streams (/cam1/image_raw .. /cam3/image_raw,
sensor_data QoS like a camera driver, 30 Hz each, the views phase-shifted by a third of a period) of
pre-rendered toy-world frames, cycled. Each frame is stamped with its publish time. It waits for
discovery (every camera topic matched by the node, ``~/count_stamped`` matched by us) instead of
sleeping, drops a warm-up period, then measures for ``--duration`` seconds and stops the node with SIGINT.

What it reports (over the measurement window):
    rate         outputs per second on ~/count_stamped (sustained: count / window length)
    newest ref   outputs whose stamp equals the newest reference (cam1) stamp published when the output
                 arrived, i.e. computed on the newest reference frame; also how many reference frames
                 behind the others were (``lag``). With inference slower than the 33 ms frame period new
                 reference frames arrive while it runs, so also:
    at start     outputs computed on the newest reference published when the previous output was sent
                 (about when this inference started): did the node start on the newest frame it had
    latency      output arrival time minus its reference frame's publish time (= its stamp), median and
                 p95, ms (publisher and subscriber are the same process and clock)
    RSS          node process VmRSS (/proc/<pid>/status) at start (node ready, before traffic), middle
                 and end of the window, and its maximum, MB

The node exposes no correlation parameter, so there is no ``--correlation`` passthrough.

Run (from the repository root):
    export PYTHONPATH=$PWD ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=93
    python scripts/soak_node.py                      # 60 s, table on stdout
    python scripts/soak_node.py --duration 300 --json soak.json

Numbers depend on the machine's load: the node, the publisher and DDS share the CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NODE_NAME = 'sync_node'
WIDTH, HEIGHT = 384, 288


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (None once the process is gone)."""
    try:
        with open(f'/proc/{pid}/status') as fh:
            for line in fh:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def render_frames(n: int, fps: float) -> list[list[np.ndarray]]:
    """``n`` consecutive toy-world frames per view (plaza rig at 384x288), rendered once and cycled."""
    from vsync_ros.runtime.sources import make_source
    src = make_source('toy', 'plaza', seed=0, n_people=8, image_scale=1.0)
    views = []
    for v in range(3):
        frames = [src.frame(v, k / fps) for k in range(n)]
        assert frames[0].shape == (HEIGHT, WIDTH, 3), frames[0].shape
        views.append(frames)
    return views


def start_node(args: argparse.Namespace) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'vsync_ros.ros.sync_node', '--ros-args', '-r', f'__node:={NODE_NAME}',
           '--params-file', str(ROOT / 'config' / 'counting.yaml'),
           '-p', f'checkpoint:={args.checkpoint}', '-p', f'device:={args.device}',
           '-p', f'image_qos:={args.image_qos}'] + [x for kv in args.param for x in ('-p', kv)]
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH', '')) if p)
    log = open(args.node_log, 'w') if args.node_log else subprocess.DEVNULL  # noqa: SIM115 - closed by the OS at exit
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen, timeout_s: float = 20.0) -> str:
    """SIGINT, then wait; SIGKILL only if it does not exit. Returns how it ended."""
    if proc.poll() is not None:
        return f'already exited ({proc.returncode})'
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout_s)
        return f'SIGINT -> exit {rc}'
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f'no exit {timeout_s:g} s after SIGINT: killed'


class Probe:
    """Camera publishers and the ~/count_stamped subscriber in one rclpy node, spun in a thread."""

    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import PointStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image

        rclpy.init()
        self.node = rclpy.create_node('soak_probe')
        self.pubs = [self.node.create_publisher(Image, f'/cam{v + 1}/image_raw', qos_profile_sensor_data)
                     for v in range(3)]
        self.lock = threading.Lock()
        self.ref_stamps: list[int] = []       # reference (cam1) stamps in publish order
        self.outputs: list[tuple[int, int, int]] = []  # (arrival ns, output stamp ns, newest ref stamp ns)
        self.sub = self.node.create_subscription(PointStamped, f'/{NODE_NAME}/count_stamped', self._on_output,
                                                 QoSProfile(depth=10))
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._spin = threading.Thread(target=self._spin_loop, daemon=True)
        self._spin.start()

    def _spin_loop(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.1)

    def _on_output(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with self.lock:
            newest = self.ref_stamps[-1] if self.ref_stamps else -1
            self.outputs.append((now, stamp, newest))

    def ready(self) -> bool:
        return (all(p.get_subscription_count() > 0 for p in self.pubs)
                and self.sub.get_publisher_count() > 0)

    def publish_loop(self, msgs: list[list], fps: float, until_ns: int) -> int:
        """Publish every view at ``fps`` (view v offset by v/3 of a period) until ``until_ns``; returns ticks."""
        period = 1.0 / fps
        n = len(msgs[0])
        t0 = time.monotonic()
        events = sorted((v / 3.0 * period, v) for v in range(3))
        k = 0
        while time.time_ns() < until_ns and not self._stop.is_set():
            for offset, v in events:
                delay = t0 + k * period + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                msg = msgs[v][k % n]
                stamp = time.time_ns()
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
                if v == 0:
                    with self.lock:
                        self.ref_stamps.append(stamp)
                self.pubs[v].publish(msg)
            k += 1
        return k

    def close(self) -> None:
        import rclpy
        self._stop.set()
        self._spin.join(timeout=5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def summarize(outputs, ref_stamps, window: tuple[int, int], rss: dict, published_ticks: int) -> dict:
    lo, hi = window
    sel = [o for o in outputs if lo <= o[0] < hi]
    dur = (hi - lo) / 1e9
    ref_index = {s: i for i, s in enumerate(ref_stamps)}
    lat = np.array([(a - s) / 1e6 for a, s, _ in sel])
    newest = sum(1 for _, s, nw in sel if s == nw)
    lags = [ref_index[nw] - ref_index[s] for _, s, nw in sel if s in ref_index and nw in ref_index]
    refs_in_window = sum(1 for s in ref_stamps if lo <= s < hi)
    # inference on output i starts about when output i-1 is sent: reference frames published by then that
    # are newer than the one output i used were skipped at the start (1 may still have been in transit)
    prev = {id(o): p for p, o in zip(outputs, outputs[1:])}
    skipped = [ref_index[prev[id(o)][2]] - ref_index[o[1]] for o in sel
               if id(o) in prev and prev[id(o)][2] in ref_index and o[1] in ref_index]
    return {
        'window_s': round(dur, 2),
        'outputs': len(sel),
        'rate_hz': round(len(sel) / dur, 2) if dur > 0 else 0.0,
        'reference_rate_hz': round(refs_in_window / dur, 2) if dur > 0 else 0.0,
        'newest_ref_outputs': newest,
        'newest_ref_fraction': round(newest / len(sel), 4) if sel else None,
        'ref_lag_frames_max': max(lags) if lags else None,
        'ref_lag_frames_mean': round(float(np.mean(lags)), 3) if lags else None,
        'start_newest_outputs': sum(1 for k in skipped if k <= 0),
        'start_skipped_max': max(skipped) if skipped else None,
        'start_checked': len(skipped),
        'latency_ms_median': round(float(np.median(lat)), 1) if len(lat) else None,
        'latency_ms_p95': round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        'latency_ms_max': round(float(lat.max()), 1) if len(lat) else None,
        'rss_mb': rss,
        'ticks_published': published_ticks,
    }


def print_table(res: dict, args: argparse.Namespace) -> None:
    rss = res['rss_mb']
    rows = [
        ('setup', f'3 x {WIDTH}x{HEIGHT} rgb8 @ {args.fps:g} Hz, {args.image_qos}, {Path(args.checkpoint).name}, '
                  f'device {args.device}, {os.cpu_count()} CPUs, load avg {res["loadavg_start"]}'),
        ('window', f'{res["window_s"]} s after {args.warmup:g} s warm-up'),
        ('output rate', f'{res["rate_hz"]} Hz ({res["outputs"]} outputs; reference published at '
                        f'{res["reference_rate_hz"]} Hz)'),
        ('newest reference', f'{res["newest_ref_outputs"]}/{res["outputs"]} = '
                             f'{100 * (res["newest_ref_fraction"] or 0):.1f} % '
                             f'(lag mean {res["ref_lag_frames_mean"]} frames, max {res["ref_lag_frames_max"]})'),
        ('newest at start', f'{res["start_newest_outputs"]}/{res["start_checked"]} used the newest reference '
                            f'published when the previous output was sent (max skipped {res["start_skipped_max"]})'),
        ('latency', f'median {res["latency_ms_median"]} ms, p95 {res["latency_ms_p95"]} ms, '
                    f'max {res["latency_ms_max"]} ms'),
        ('node RSS', f'start {rss["start"]} MB, middle {rss["middle"]} MB, end {rss["end"]} MB, '
                     f'max {rss["max"]} MB'),
        ('node shutdown', res['shutdown']),
    ]
    width = max(len(k) for k, _ in rows)
    print(f'sync_node soak ({res["window_s"]} s)')
    for k, v in rows:
        print(f'  {k:<{width}}  {v}')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--duration', type=float, default=60.0, help='measurement window, s (default 60)')
    ap.add_argument('--warmup', type=float, default=5.0, help='publishing before measuring, s (default 5)')
    ap.add_argument('--fps', type=float, default=30.0, help='rate of each camera, Hz (default 30)')
    ap.add_argument('--checkpoint', default=str(ROOT / 'models' / 'plaza_cls_epi.pt'))
    ap.add_argument('--device', default='cpu', help='sync_node device parameter (default cpu)')
    ap.add_argument('--image-qos', default='sensor_data', choices=('sensor_data', 'reliable', 'system_default'),
                    help="sync_node image_qos (the publishers always use sensor_data, like a camera driver)")
    ap.add_argument('--discovery-timeout', type=float, default=120.0,
                    help='wait this long for the node to load the model and match the topics, s')
    ap.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                    help='another sync_node parameter over config/counting.yaml (repeatable), e.g. '
                         '"fallback_checkpoint:="')
    ap.add_argument('--node-log', default='', help='write the node output to this file')
    ap.add_argument('--json', default='', help='also write the results to this JSON file')
    args = ap.parse_args(argv)

    from sensor_msgs.msg import Image  # noqa: F401 - fail early when ROS is not importable
    from std_msgs.msg import Header

    from vsync_ros.ros.image_conversion import make_image_msg

    frames = render_frames(int(round(args.fps)), args.fps)
    msgs = [[make_image_msg(f, 'rgb8', Header(frame_id=f'cam{v + 1}_optical')) for f in view]
            for v, view in enumerate(frames)]

    probe = Probe()
    proc = start_node(args)
    pid = proc.pid
    shutdown = 'not started'
    try:
        deadline = time.monotonic() + args.discovery_timeout
        while not probe.ready():
            if proc.poll() is not None:
                print(f'sync_node exited with {proc.returncode} before it was ready', file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f'discovery / model load not done after {args.discovery_timeout:g} s', file=sys.stderr)
                return 1
            time.sleep(0.05)
        loadavg = ' '.join(f'{x:.2f}' for x in os.getloadavg())
        rss_samples: list[tuple[float, float]] = []
        rss_start = rss_mb(pid)
        start_ns = time.time_ns()
        lo = start_ns + int(args.warmup * 1e9)
        hi = lo + int(args.duration * 1e9)
        stop_sampling = threading.Event()

        def sample_rss() -> None:
            while not stop_sampling.wait(1.0):
                mb = rss_mb(pid)
                if mb is not None:
                    rss_samples.append((time.time_ns(), mb))

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        ticks = probe.publish_loop(msgs, args.fps, hi)
        stop_sampling.set()
        sampler.join()
        rss_end = rss_mb(pid)
        time.sleep(0.5)  # outputs of the last frames still in flight (counted only when inside the window)
        alive = proc.poll() is None
    finally:
        shutdown = stop_node(proc)
        probe.close()

    with probe.lock:
        outputs, refs = list(probe.outputs), list(probe.ref_stamps)
    in_window = [mb for t, mb in rss_samples if lo <= t < hi]
    mid_t = (lo + hi) // 2
    middle = min(rss_samples, key=lambda s: abs(s[0] - mid_t))[1] if rss_samples else None
    rss = {'start': rss_start, 'middle': middle, 'end': rss_end, 'max': max(in_window, default=None)}
    rss = {k: None if v is None else round(v, 1) for k, v in rss.items()}
    res = summarize(outputs, refs, (lo, hi), rss, ticks)
    res.update(shutdown=shutdown, node_alive_at_end=alive, loadavg_start=loadavg, cpus=os.cpu_count(),
               fps=args.fps, duration_s=args.duration, warmup_s=args.warmup, image_qos=args.image_qos,
               checkpoint=args.checkpoint, device=args.device,
               rss_series_mb=[(round((t - start_ns) / 1e9, 1), round(mb, 1)) for t, mb in rss_samples])
    print_table(res, args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + '\n')
        print(f'  results written to {args.json}')
    return 0 if alive and res['outputs'] > 0 else 1


if __name__ == '__main__':
    raise SystemExit(main())
