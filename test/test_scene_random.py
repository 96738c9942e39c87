"""Scene randomization (``vsync-synth --scenes``) and wider crowd densities (``--people 5 60``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vsync_ros.data.cli import main as synth_main
from vsync_ros.data.crowd import CrowdParams, crowd_params
from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig, _LruCache
from vsync_ros.data.scene import PLAZA_PALETTE, ScenePalette
from vsync_ros.data.scene_schedule import (
    LIGHT_RANGE,
    NOISE_RANGE,
    SceneSchedule,
    draw_scene_seeds,
    scene_look,
    scene_of,
)


# ------------------------------------------------------------------------------------ seeds and looks
def test_train_and_test_scene_seeds_are_disjoint_and_reproducible():
    for world_seed in range(50):
        train = draw_scene_seeds(world_seed, 40, 'train')
        test = draw_scene_seeds(world_seed, 40, 'test')
        assert len(set(train)) == 40 and len(set(test)) == 40
        assert not set(train) & set(test)
        assert all(s % 2 == 0 for s in train) and all(s % 2 == 1 for s in test)
        assert draw_scene_seeds(world_seed, 5, 'train') == train[:5]  # a prefix: more scenes add, never reshuffle
    assert draw_scene_seeds(0, 8, 'train') != draw_scene_seeds(1, 8, 'train')
    with pytest.raises(ValueError, match='unknown split'):
        draw_scene_seeds(0, 2, 'val')


def test_scene_look_within_ranges_and_varied():
    looks = [scene_look(s) for s in range(200)]
    light = np.array([x['light_level'] for x in looks])
    noise = np.array([x['noise_std'] for x in looks])
    assert LIGHT_RANGE[0] <= light.min() and light.max() <= LIGHT_RANGE[1]
    assert NOISE_RANGE[0] <= noise.min() and noise.max() <= NOISE_RANGE[1]
    assert np.ptp(light) > 0.4 and np.ptp(noise) > 3.0
    assert scene_look(17) == scene_look(17)


def test_palettes_differ_between_seeds_and_the_default_is_the_fixed_plaza():
    assert ScenePalette() == PLAZA_PALETTE and PLAZA_PALETTE.paving == (172, 164, 150)
    a, b = ScenePalette.draw(1), ScenePalette.draw(2)
    assert a == ScenePalette.draw(1) and a != b and a != PLAZA_PALETTE
    for pal in (a, b):
        for rgb in (pal.paving, pal.road, pal.grass, *pal.buildings):
            assert all(0 <= c <= 255 for c in rgb)


def test_frame_sets_switch_scene_every_n_over_n():
    assert [scene_of(k, 10, 3) for k in range(10)] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [scene_of(k, 4, 4) for k in range(4)] == [0, 1, 2, 3]


def test_default_config_and_manifest_entries_unchanged():
    d = CrowdWorldConfig().to_dict()
    assert 'palette' not in d and 'light_level' not in d and 'refill_hz' not in d['crowd']
    cfg = CrowdWorldConfig(palette='random', light_level=0.8, crowd=crowd_params(5, 60))
    back = CrowdWorldConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.crowd.refill_hz > 0
    assert crowd_params(10, 30) == CrowdParams()  # the default crowd is untouched
    with pytest.raises(ValueError, match='palette'):
        CrowdWorldConfig(palette='neon')
    with pytest.raises(ValueError, match='light_level'):
        CrowdWorldConfig(light_level=0.0)


def test_lru_cache_is_bounded_by_entries_and_bytes():
    cache = _LruCache(3, 100, size_of=lambda v: v.nbytes)
    made = []

    def make(n):
        made.append(n)
        return np.zeros(n, np.uint8)

    for key, n in (('a', 10), ('b', 10), ('c', 10)):
        cache.get(key, lambda n=n: make(n))
    cache.get('a', lambda: make(999))          # hit: refreshed, not made again
    cache.get('d', lambda: make(10))            # 4 entries > 3: 'b' (least recent) goes
    assert len(cache) == 3 and made == [10, 10, 10, 10]
    cache.get('b', lambda: make(10))
    assert made[-1] == 10 and len(made) == 5    # 'b' was evicted, made again
    cache.get('big', lambda: make(95))          # over 100 bytes: older entries go, the new one stays
    assert len(cache) == 1 and cache.nbytes == 95


def test_contradictory_scene_options_are_refused(tmp_path):
    with pytest.raises(SystemExit, match='not both'):
        synth_main([str(tmp_path / 'x'), '--scenes', '2', '--scene-seed', '3'])
    with pytest.raises(SystemExit, match='--world pose'):
        synth_main([str(tmp_path / 'x'), '--scenes', '2', '--world', 'pose'])
    with pytest.raises(SystemExit, match='needs --scenes'):
        synth_main([str(tmp_path / 'x'), '--test-scenes', '2'])
    with pytest.raises(SystemExit, match='>= 1'):
        synth_main([str(tmp_path / 'x'), '--scenes', '0'])


# ------------------------------------------------------------------------------------ rendering and data sets
@pytest.mark.slow  # renders scenes
def test_randomized_scenes_differ_and_a_seed_fixes_its_scene():
    base = CrowdWorld(CrowdWorldConfig(image_size=(96, 72), seed=1))
    sched = SceneSchedule(base, {'train': 2, 'test': 1})
    a, b = sched.scene_world('train', 0, 5.0), sched.scene_world('train', 1, 5.0)
    again = sched.scene_world('train', 0, 5.0)
    assert a.config.scene_seed != b.config.scene_seed and a.config.palette == 'random'
    assert a.config.light_level == scene_look(a.config.scene_seed)['light_level']
    for v in range(3):
        bg_a, bg_b = a._bg[v].astype(float), b._bg[v].astype(float)
        assert np.abs(bg_a - bg_b).mean() > 10  # another layout, other colours
        assert np.array_equal(a.render(v, 7.0), again.render(v, 7.0))
    # furniture layout differs too; the cameras and region are the base world's
    assert [s.x for s in a.scene.structures] != [s.x for s in b.scene.structures]
    assert all(x.fingerprint() == y.fingerprint() for x, y in zip(a.cameras, base.cameras)) and a.region == base.region
    # the plain world keeps the fixed palette
    assert base.scene.palette == PLAZA_PALETTE


@pytest.mark.slow  # synthesizes two tiny data sets
def test_cli_scenes_record_disjoint_seeds_per_split(tmp_path, capsys):
    out = tmp_path / 'rand'
    assert synth_main([str(out), '--scenes', '3', '--test-scenes', '2', '--n-train', '6', '--n-test', '4', '--size',
                       '64x48', '--seed', '5', '--no-progress', '--no-sheet']) == 0
    m = json.loads((out / 'manifest.json').read_text())
    train, test = m['splits']['train'], m['splits']['test']
    assert train['scene_seeds'] == draw_scene_seeds(5, 3, 'train')
    assert test['scene_seeds'] == draw_scene_seeds(5, 2, 'test')
    assert not set(train['scene_seeds']) & set(test['scene_seeds'])
    assert [s['frame_sets'] for s in train['scenes']] == [[0, 1], [2, 3], [4, 5]]
    assert [s['frame_sets'] for s in test['scenes']] == [[0, 1], [2, 3]]
    for s in train['scenes']:
        look = scene_look(s['seed'])
        assert s['light_level'] == look['light_level'] and s['noise_std'] == look['noise_std']
    assert m['world']['scenes']['n'] == {'train': 3, 'test': 2}
    from vsync_ros.data.storage import read_image
    first = read_image(out / 'train' / 'frames' / 'v0' / f'{0:06d}.png').astype(float)
    same_scene = read_image(out / 'train' / 'frames' / 'v0' / f'{1:06d}.png').astype(float)
    next_scene = read_image(out / 'train' / 'frames' / 'v0' / f'{2:06d}.png').astype(float)
    assert np.abs(first - next_scene).mean() > 2 * np.abs(first - same_scene).mean()
    # without --scenes: one scene, no scene entries (data sets as before)
    plain = tmp_path / 'plain'
    assert synth_main([str(plain), '--n-train', '1', '--n-test', '1', '--size', '64x48', '--no-progress',
                       '--no-sheet']) == 0
    pm = json.loads((plain / 'manifest.json').read_text())
    assert 'scene_seeds' not in pm['splits']['train'] and 'scenes' not in pm['world']
    assert pm['world']['config']['scene_seed'] == 0


@pytest.mark.slow  # synthesizes 150 frame sets (about 10 s)
def test_people_5_60_reach_dense_counts(tmp_path):
    """--people 5 60 refills the crowd: the counted region holds from under 10 to over 50 people."""
    out = tmp_path / 'dense'
    assert synth_main([str(out), '--people', '5', '60', '--seed', '2', '--size', '32x24', '--mode', 'none', '--dt', '4',
                       '--n-train', '150', '--n-test', '1', '--no-progress', '--no-sheet']) == 0
    from vsync_ros.data.dataset import SyncDataset
    ds = SyncDataset(out, 'train', load_sync=False)
    counts = np.array([float(ds.raw_gt(k)['count']) for k in range(len(ds))])
    assert counts.min() <= 10 and counts.max() >= 50, (counts.min(), counts.max())
    m = json.loads((out / 'manifest.json').read_text())
    assert m['world']['config']['crowd']['n_people'] == [5, 60] and m['world']['config']['crowd']['refill_hz'] > 0


@pytest.mark.slow  # synthesizes two small data sets
def test_test_split_on_the_training_scenes_of_another_world_seed(tmp_path):
    from vsync_ros.data.cli import main
    a, b = tmp_path / 'a', tmp_path / 'b'
    common = ['--scenes', '2', '--test-scenes', '2', '--n-train', '4', '--n-test', '2', '--no-progress', '--no-sheet',
              '--size', '96x72']
    assert main([str(a), '--seed', '0', *common]) == 0
    assert main([str(b), '--seed', '7', '--test-on-train-scenes-of', '0', *common]) == 0
    ma, mb = (json.loads((d / 'manifest.json').read_text()) for d in (a, b))
    train_a = ma['splits']['train']['scene_seeds']
    assert mb['splits']['test']['scene_seeds'] == train_a                     # the same scenes ...
    assert mb['splits']['train']['scene_seeds'] != train_a                    # ... not world 7's own
    crowd_a = [s['crowd_seed'] for s in ma['splits']['train']['scenes']]
    crowd_b = [s['crowd_seed'] for s in mb['splits']['test']['scenes']]
    assert set(crowd_a).isdisjoint(crowd_b)                                   # with other people
    with pytest.raises(SystemExit, match='needs --scenes'):
        main([str(tmp_path / 'c'), '--test-on-train-scenes-of', '0', '--n-train', '1', '--n-test', '1'])
