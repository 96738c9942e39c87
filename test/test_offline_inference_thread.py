"""offline_eval runs the model on its own thread, as the sync node does (same results, same OpenMP teams)."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip('rosbags', reason='rosbags is not installed')

from ros_support import toy_setup  # noqa: E402

from vsync_ros.runtime.bags import InferenceThread, offline_eval, write_bag  # noqa: E402
from vsync_ros.runtime.schedules import desync_profile  # noqa: E402


class RecordingPipeline:
    """Wraps a pipeline and records the thread of every ``run`` call."""

    def __init__(self, inner) -> None:
        self.inner, self.threads = inner, []
        self.cameras, self.region, self.task = inner.cameras, inner.region, inner.task

    def run(self, images, ref_index):
        self.threads.append(threading.current_thread())
        return self.inner.run(images, ref_index)


@pytest.fixture(scope='module')
def toy_bag(tmp_path_factory):
    world, pipe = toy_setup(image_scale=0.25)
    bag = tmp_path_factory.mktemp('offline_thread') / 'bag'
    write_bag(bag, world, desync_profile('constant', 3, 5.0, 0.2, latency_s=0.02, seed=1), 2.0)
    return bag, pipe


def test_offline_eval_infers_on_one_other_thread_with_identical_results(toy_bag):
    bag, pipe = toy_bag
    threaded, inline = RecordingPipeline(pipe), RecordingPipeline(pipe)
    a = offline_eval(bag, threaded, max_frame_age_s=0.5)
    b = offline_eval(bag, inline, max_frame_age_s=0.5, inference_thread=False)
    assert a['n_matched'] > 0 and a['frames'] == b['frames'] and a['mae'] == b['mae']
    assert len({t.ident for t in threaded.threads}) == 1
    assert threaded.threads[0] is not threading.main_thread() and not threaded.threads[0].is_alive()
    assert all(t is threading.main_thread() for t in inline.threads)


def test_inference_thread_passes_attributes_and_errors_through():
    class Failing:
        cameras, region, task = ['c'], None, 'counting'

        def run(self, images, ref_index):
            raise ValueError(f'bad frame {ref_index}')

    with InferenceThread(Failing()) as wrapped:
        assert wrapped.cameras == ['c'] and wrapped.task == 'counting'
        with pytest.raises(ValueError, match='bad frame 2'):
            wrapped.run([None], 2)
