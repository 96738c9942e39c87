"""WorkThread: the sync node's inference thread (coalescing requests, order, errors, stop)."""
from __future__ import annotations

import threading

import pytest
from ros_support import wait_for

from vsync_ros.runtime.work_thread import WorkThread


def test_requests_made_while_busy_coalesce_into_one_more_run():
    started, release = threading.Event(), threading.Event()
    log: list[str] = []

    def work():
        log.append('work')
        started.set()
        release.wait(5.0)

    wt = WorkThread({'work': work}, name='t')
    try:
        wt.request('work')
        assert started.wait(5.0)
        for _ in range(10):  # ten frames arrive during one inference
            wt.request('work')
        release.set()
        assert wait_for(lambda: wt.runs['work'] == 2, 5.0)
        assert not wait_for(lambda: wt.runs['work'] > 2, 0.3)  # exactly one extra run, not ten
        assert log == ['work', 'work']
    finally:
        release.set()
        assert wt.stop()


def test_pending_jobs_run_in_declaration_order_and_errors_reach_the_handler():
    gate = threading.Event()
    order: list[str] = []
    errors: list[tuple[str, str]] = []

    def blocker():
        gate.wait(5.0)
        order.append('a')

    def failing():
        order.append('b')
        raise RuntimeError('boom')

    wt = WorkThread({'a': blocker, 'b': failing, 'c': lambda: order.append('c')}, name='t',
                    on_error=lambda name, exc: errors.append((name, str(exc))))
    try:
        wt.request('a')
        assert wait_for(lambda: wt.alive, 1.0)
        wt.request('c')
        wt.request('b')
        gate.set()
        assert wait_for(lambda: len(order) == 3, 5.0)
        assert order == ['a', 'b', 'c'] and errors == [('b', 'boom')]
        wt.request('c')  # still serving after the error
        assert wait_for(lambda: wt.runs['c'] == 2, 5.0)
    finally:
        gate.set()
        assert wt.stop()
    assert not wt.alive


def test_unknown_job_and_empty_job_table_are_refused():
    with pytest.raises(ValueError, match='at least one job'):
        WorkThread({})
    wt = WorkThread({'work': lambda: None})
    try:
        with pytest.raises(KeyError, match="unknown job 'infer'"):
            wt.request('infer')
    finally:
        assert wt.stop()
