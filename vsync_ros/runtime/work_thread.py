"""A background thread that runs named jobs on request, coalescing repeated requests.

The sync node keeps inference (and everything else that steps its core) out of the rclpy executor: the
executor's callbacks only store frames and request work, so a single-threaded executor keeps taking
camera frames while the model runs (torch and OpenCV release the GIL). Requests coalesce: a job requested
several times while the thread was busy runs once, on the newest frames. ROS-free.
"""
from __future__ import annotations

import threading
from collections.abc import Callable


class WorkThread:
    """Run ``jobs[name]()`` in one daemon thread after :meth:`request` ``(name)``.

    Pending jobs run in the order of ``jobs``. A job's exception is passed to ``on_error(name, exc)`` (the
    thread keeps running); without ``on_error`` it is re-raised after the thread has stopped taking work.
    """

    def __init__(self, jobs: dict[str, Callable[[], None]], name: str = 'work',
                 on_error: Callable[[str, BaseException], None] | None = None) -> None:
        if not jobs:
            raise ValueError('WorkThread needs at least one job')
        self._jobs = dict(jobs)
        self._on_error = on_error
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self.runs = {k: 0 for k in self._jobs}
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def request(self, job: str) -> None:
        """Ask for ``job`` to run (once, however often it is asked before it starts)."""
        if job not in self._jobs:
            raise KeyError(f'unknown job {job!r}; known: {", ".join(self._jobs)}')
        with self._cond:
            self._pending.add(job)
            self._cond.notify()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop after the job in progress (pending ones are dropped); returns True if the thread ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                due = [k for k in self._jobs if k in self._pending]
                self._pending.clear()
            for name in due:
                try:
                    self._jobs[name]()
                except BaseException as exc:  # noqa: BLE001 - reported, the thread must keep serving
                    if self._on_error is None:
                        with self._cond:
                            self._stopping = True
                        raise
                    self._on_error(name, exc)
                self.runs[name] += 1
