"""How the executables run a node: ``--help`` without starting it, and a clean exit on SIGINT / SIGTERM.

``ros2 launch`` stops a node by sending SIGINT to the whole process group (the terminal's Ctrl-C) and
then forwarding one more SIGINT to each node; ``ros2 launch`` / systemd may also send SIGTERM. rclpy's
own handler turns the first SIGINT into a ``KeyboardInterrupt`` wherever the main thread happens to be,
and the second one interrupts the clean-up (for example the join of the inference thread), which left
threads running and aborted the process (``terminate called without an active exception``, exit -6).

:func:`run_node` installs its own handlers instead: the first SIGINT or SIGTERM asks the spin loop to
stop, any further one during the shutdown is logged and ignored, and the node is destroyed in order
(its threads joined) before ``rclpy`` shuts down; the exit code is 0, which ``ros2 launch`` reports as
"process has finished cleanly".
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from vsync_ros.process import set_process_defaults
from vsync_ros.ros.parameters import ParameterSpec

HELP_FLAGS = ('-h', '--help')
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def help_text(executable: str, description: str, parameters: Iterable[ParameterSpec]) -> str:
    """Usage of a node executable: what it does and its parameters (type, default, description)."""
    lines = [f'usage: {executable} [--ros-args -p NAME:=VALUE ... | --params-file FILE]', '', description.strip(),
             '', 'parameters (ros2 param describe shows ranges and choices):']
    for spec in parameters:
        kind = spec.type.name.lower()
        flag = '' if spec.dynamic else ', read-only'
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        lines.append(f'  {spec.name} ({kind}{flag}, default {default!r})')
        lines.append(f'      {spec.description}')
    return '\n'.join(lines) + '\n'


def wants_help(args: Sequence[str] | None) -> bool:
    """True when the non-ROS command-line arguments ask for help (``-h`` / ``--help``)."""
    argv = list(sys.argv[1:] if args is None else args)
    return any(a in HELP_FLAGS for a in remove_ros_args(argv))


class StopRequest:
    """SIGINT / SIGTERM handlers that set an event on the first signal and ignore (and count) the rest."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals: list[int] = []
        self._previous: dict[int, object] = {}

    def install(self) -> StopRequest:
        """Install the handlers (main thread only); returns self."""
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers found by :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        self.signals.append(signum)
        self.event.set()


def run_node(executable: str, make_node: Callable[[], Node], args: Sequence[str] | None = None,
             description: str = '', parameters: Iterable[ParameterSpec] = (),
             finished: Callable[[Node], bool] | None = None,
             on_ready: Callable[[Node], None] | None = None) -> int:
    """Run one node until SIGINT / SIGTERM (or it has ``finished``); the exit code of the executable.

    Args:
        executable: name for messages and ``--help``.
        make_node: builds the node (after ``rclpy.init``); ValueError / RuntimeError = cannot start.
        args: command line without the program name (None: ``sys.argv[1:]``).
        description, parameters: the ``--help`` text.
        finished: True once the node has done its work (e.g. a replay that reached its end).
        on_ready: called with the node once it is added to the executor (e.g. to start publishing).

    Returns:
        0 after a clean shutdown (signal or ``finished``), 1 when the node could not start.
    """
    if wants_help(args):
        sys.stdout.write(help_text(executable, description, parameters))
        return 0
    set_process_defaults()  # before the node loads torch
    stop = StopRequest().install()
    rclpy.init(args=None if args is None else [executable, *args],
               signal_handler_options=SignalHandlerOptions.NO)
    logger = rclpy.logging.get_logger(executable)
    try:
        try:
            node = make_node()
        except (ValueError, RuntimeError) as exc:
            logger.fatal(f'cannot start: {exc}')
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if on_ready is not None:
            on_ready(node)
        while not stop.event.is_set() and not (finished is not None and finished(node)) and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        if stop.signals:
            names = ', '.join(signal.Signals(s).name for s in stop.signals)
            logger.info(f'{names} received: shutting down')
        executor.shutdown()
        node.destroy_node()  # joins the node's threads; further signals only append to stop.signals
        if len(stop.signals) > 1:
            logger.info(f'{len(stop.signals) - 1} more stop signal(s) during the shutdown were ignored')
        return 0
    finally:
        rclpy.try_shutdown()
        if stop.signals:
            # stopping on a signal: keep ignoring stop signals until the process has exited. Restoring the
            # previous handler would let launch's forwarded SIGINT hit Python's finalization, which resets
            # Python-set handlers to SIG_DFL (the process would die of it: exit -2) - SIG_IGN is kept.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
        else:
            stop.restore()
