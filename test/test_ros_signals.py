"""Stopping the node executables as ``ros2 launch`` and a terminal do: real processes, real signals.

Ctrl-C in a terminal sends SIGINT to the whole process group; ``ros2 launch`` then forwards one more
SIGINT to each node. A node must also stop on SIGINT to itself alone and on SIGTERM. Every case must end
with exit code 0 (launch: "process has finished cleanly"), no traceback and no C++ abort.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip('rclpy', reason='rclpy is not installed')

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # real processes, started and stopped in real time

ROOT = Path(__file__).resolve().parents[1]
READY = {'replay_node': 'cameras at', 'sync_node': 'model: '}
ARGS = {'replay_node': ['--ros-args', '-p', 'rate_hz:=20.0', '-p', 'n_people:=3'],
        'sync_node': ['--ros-args', '-p', 'device:=cpu']}


class Proc:
    """A node executable in its own process group, its stderr collected in a thread."""

    def __init__(self, executable: str, domain: int) -> None:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                   PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0')
        self.p = subprocess.Popen([sys.executable, '-m', f'vsync_ros.ros.{executable}', *ARGS[executable]],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.marker = READY[executable]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.append(line)
            if self.marker in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        assert self.ready.wait(timeout_s), f'never became ready:\n{self.output}'
        time.sleep(1.0)  # let it spin and publish for a while

    def finish(self, timeout_s: float = 30.0) -> int:
        try:
            return self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            pytest.fail(f'did not stop within {timeout_s} s:\n{self.output}')


def _check_clean(proc: Proc, rc: int) -> None:
    out = proc.output
    assert rc == 0, f'exit code {rc}:\n{out}'
    for bad in ('Traceback', 'terminate called', 'KeyboardInterrupt', 'Segmentation fault'):
        assert bad not in out, f'{bad!r} in the output:\n{out}'
    assert 'received: shutting down' in out


@pytest.mark.parametrize('executable', ['replay_node', 'sync_node'])
def test_ctrl_c_under_ros2_launch_exits_cleanly(executable):
    """SIGINT to the process group, then launch's forwarded SIGINT to the node during its shutdown."""
    proc = Proc(executable, 61)
    proc.wait_ready()
    os.killpg(proc.p.pid, signal.SIGINT)
    time.sleep(0.05)
    if proc.p.poll() is None:
        proc.p.send_signal(signal.SIGINT)
    _check_clean(proc, proc.finish())


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['sigint', 'sigterm'])
def test_a_signal_to_the_node_alone_exits_cleanly(sig):
    proc = Proc('sync_node', 62)
    proc.wait_ready()
    proc.p.send_signal(sig)
    _check_clean(proc, proc.finish())
    assert signal.Signals(sig).name in proc.output


def test_help_prints_usage_and_parameters_without_starting_a_node():
    for executable in ('sync_node', 'replay_node'):
        res = subprocess.run([sys.executable, '-m', f'vsync_ros.ros.{executable}', '--help'], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f'usage: {executable}') and 'parameters' in res.stdout
        assert 'rate_hz' in res.stdout if executable == 'replay_node' else 'max_frame_age_s' in res.stdout
        assert '[INFO]' not in res.stdout + res.stderr  # no node was started
