"""Desynchronization sampling (paper Sec. IV.B): offsets, presets, missing views, determinism."""
import numpy as np
import pytest

from vsync_ros.data.desync import (
    STREAM_TEST,
    STREAM_TRAIN,
    DesyncConfig,
    citystreet,
    h36m_test,
    h36m_train,
    pets,
    preset,
)


def test_random_offsets_within_kappa_and_reference_zero():
    cfg = DesyncConfig(n_views=4, mode='random', kappa_s=(0.0, 5.0, 2.0, 0.5), seed=3)
    draws = cfg.sample_many(2000)
    off = draws.offsets_s
    assert off.shape == (2000, 4)
    assert np.all(off[:, 0] == 0.0)
    for v, kappa in enumerate(cfg.kappa_s):
        assert np.all(np.abs(off[:, v]) <= kappa)
    # uniform: both signs, spread over the range, mean near 0
    assert off[:, 1].min() < -4.5 and off[:, 1].max() > 4.5
    assert abs(off[:, 1].mean()) < 0.3
    assert np.all(draws.valid) and np.all(draws.ref_view == 0)


def test_random_offsets_follow_the_seed():
    a = pets(seed=7).sample_many(50)
    b = pets(seed=7).sample_many(50)
    c = pets(seed=8).sample_many(50)
    np.testing.assert_array_equal(a.offsets_s, b.offsets_s)
    assert not np.allclose(a.offsets_s[:, 1:], c.offsets_s[:, 1:])
    # a sample depends only on (seed, stream, k): not on the order or the number drawn
    cfg = pets(seed=7)
    np.testing.assert_array_equal(cfg.sample(31).offsets_s, a.offsets_s[31])
    np.testing.assert_array_equal(cfg.sample_many(5, start=10).offsets_s, a.offsets_s[10:15])
    # train and test use different streams
    assert not np.allclose(cfg.sample(0, STREAM_TRAIN).offsets_s, cfg.sample(0, STREAM_TEST).offsets_s)


def test_constant_and_none_modes():
    cfg = pets(mode='constant')
    for k in range(5):
        np.testing.assert_array_equal(cfg.sample(k).offsets_s, [0.0, 5.0, -5.0])
    assert cfg.max_abs_offset_s == 5.0
    none = pets(mode='none')
    assert np.all(none.sample_many(10).offsets_s == 0.0)
    assert none.max_abs_offset_s == 0.0


def test_presets_match_the_paper():
    p = pets()
    assert p.dt_s == pytest.approx(1 / 7) and p.tau_s == (0.0, 5.0, -5.0) and p.kappa_s == (0.0, 5.0, 5.0)
    c = citystreet()
    assert c.dt_s == 1.0 and c.tau_s == (0.0, 3.0, -3.0) and c.kappa_s == (0.0, 3.0, 3.0)
    tr, te = h36m_train(), h36m_test(kappa_s=64 / 50)
    assert tr.n_views == 4 and tr.dt_s == pytest.approx(4 / 50) and te.dt_s == pytest.approx(64 / 50)
    assert te.kappa_s == (0.0,) + (64 / 50,) * 3
    for kappa in (8, 32, 64):
        cfg = h36m_test(kappa_s=kappa / 50)
        off = cfg.sample_many(300).offsets_s
        assert np.all(np.abs(off) <= kappa / 50 + 1e-12)
        frames = off * 50
        np.testing.assert_allclose(frames, np.round(frames), atol=1e-9)  # whole 50 Hz frames
    assert preset('pets', mode='constant').mode == 'constant'
    with pytest.raises(ValueError, match='unknown desync preset'):
        preset('nope')


def test_reference_time_grid():
    cfg = citystreet(t0_s=2.0)
    assert cfg.reference_time(3) == pytest.approx(5.0)
    np.testing.assert_allclose(cfg.reference_time(np.arange(3)), [2.0, 3.0, 4.0])


def test_missing_views_and_reference_fail_over():
    cfg = pets(missing_prob=(0.5, 0.3, 0.3), seed=1)
    draws = cfg.sample_many(3000)
    valid, off, ref = draws.valid, draws.offsets_s, draws.ref_view
    assert np.all(valid.any(1))
    assert 0.4 < 1 - valid[:, 0].mean() < 0.6
    # the acting reference is the first valid view and has offset 0; missing views have offset 0
    np.testing.assert_array_equal(ref, np.argmax(valid, axis=1))
    assert np.all(off[np.arange(len(ref)), ref] == 0.0)
    assert np.all(off[~valid] == 0.0)
    assert np.any(ref == 1) and np.any(ref == 2)


def test_validation_errors():
    with pytest.raises(ValueError, match='mode'):
        DesyncConfig(mode='sometimes')
    with pytest.raises(ValueError, match='reference'):
        DesyncConfig(tau_s=(1.0, 5.0, -5.0))
    with pytest.raises(ValueError, match='3 values'):
        DesyncConfig(kappa_s=(0.0, 5.0))
    with pytest.raises(ValueError, match='dt_s'):
        DesyncConfig(dt_s=0.0)
    with pytest.raises(ValueError, match='missing_prob'):
        DesyncConfig(missing_prob=1.0)


def test_dict_round_trip():
    cfg = h36m_train(kappa_s=32 / 50, seed=5, missing_prob=0.1)
    again = DesyncConfig.from_dict(cfg.to_dict())
    assert again == cfg
    np.testing.assert_array_equal(again.sample(4).offsets_s, cfg.sample(4).offsets_s)
