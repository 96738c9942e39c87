"""PETS2009 on its real rig and real trajectories: PETS-like scene, time-range-aware sampling, vsync-synth --world pets.

The sampler tests need no data; the others read the PETS2009 data root (see ``pets_data.py``) and skip
with the reason where it is absent.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from pets_data import have_pets_data, pets_data_root

from vsync_ros.data.crowd_world import CrowdWorldConfig
from vsync_ros.data.desync import STREAM_TEST, STREAM_TRAIN, pets
from vsync_ros.data.generate import frame_sets, plan_frame_sets

DATA = pets_data_root()
needs_data = pytest.mark.skipif(not have_pets_data(),
                                reason=f'the PETS2009 data root {DATA} is absent (set VSYNC_PETS2009_ROOT)')


def _brute_force(desync, stream, ranges, g_max):
    """Grid indices whose reference and valid view times all lie in the interval holding the reference."""
    kept = []
    for g in range(g_max):
        t = desync.t0_s + g * desync.dt_s
        span = next(((a, b) for a, b in ranges if a - 1e-6 <= t <= b + 1e-6), None)
        if span is None:
            continue
        smp = desync.sample(g, stream)
        times = t + smp.offsets_s[smp.valid]
        if np.all((times >= span[0] - 1e-6) & (times <= span[1] + 1e-6)):
            kept.append(g)
    return kept


@pytest.mark.parametrize('mode', ['constant', 'random'])
def test_sampler_drops_exactly_the_frame_sets_with_view_times_outside_the_interval(mode):
    desync = pets(mode=mode, seed=4)
    ranges = [(0.0, 220 / 7), (300 / 7, 500 / 7)]                         # two sequences, frames 0-220, 300-500
    kept, dropped = frame_sets(desync, STREAM_TRAIN, ranges)
    want = _brute_force(desync, STREAM_TRAIN, ranges, 600)
    assert [g for g, _, _ in kept] == want
    in_ranges = sum(1 for g in range(600) if any(a - 1e-6 <= g / 7 <= b + 1e-6 for a, b in ranges))
    assert dropped == in_ranges - len(want) > 0
    for g, t, smp in kept:                                                 # the offsets of grid frame g
        assert t == pytest.approx(g / 7) and np.array_equal(smp.offsets_s, desync.sample(g, STREAM_TRAIN).offsets_s)
    if mode == 'constant':                                                 # +-5 s at 7 fps: 35 frames each end
        assert want == [*range(35, 221 - 35), *range(335, 501 - 35)]
    assert [g for g, _, _ in frame_sets(desync, STREAM_TRAIN, ranges, n=5)[0]] == want[:5]


def test_splits_with_shared_intervals_are_separated_in_time_disjoint_ones_use_all():
    desync = pets(mode='constant')
    shared = plan_frame_sets(desync, {'train': [(0.0, 60.0)], 'test': [(0.0, 60.0)]}, 10, None)
    last_train = shared['train'][0][-1][1]
    first_test = shared['test'][0][0][1]
    assert first_test - last_train >= desync.dt_s + 20.0 - 1e-9         # dt + default gap (2 * 5 s + 10 s)
    own = plan_frame_sets(desync, {'train': [(0.0, 30.0)], 'test': [(100.0, 130.0)]}, None, None)
    assert [g for g, _, _ in own['test'][0]] == [g for g, _, _ in frame_sets(desync, STREAM_TEST, [(100.0, 130.0)])[0]]
    assert len(own['train'][0]) == len(own['test'][0]) == 30 * 7 + 1 - 70


def test_plaza_world_config_is_unchanged_by_scene_styles():
    d = CrowdWorldConfig().to_dict()
    assert 'scene' not in d and CrowdWorldConfig.from_dict(d).scene == 'plaza'
    assert CrowdWorldConfig.from_dict(CrowdWorldConfig(scene='pets').to_dict()).scene == 'pets'
    with pytest.raises(ValueError, match='unknown scene style'):
        CrowdWorldConfig(scene='beach')
    assert d['rig'] == 'plaza'


def test_the_pets2009_rig_is_named_but_never_shipped():
    from vsync_ros.data.crowd_world import CrowdWorld
    from vsync_ros.geometry import presets
    cfg = CrowdWorldConfig(rig='pets2009', scene='pets')
    assert CrowdWorldConfig.from_dict(cfg.to_dict()).rig == 'pets2009'
    with pytest.raises(ValueError, match="rig 'pets2009' is read from its data root"):
        CrowdWorld(cfg)                                                   # no built-in cameras to fall back on
    assert 'pets2009' not in presets.RIGS


def test_vsync_synth_pets_needs_a_data_root(tmp_path):
    from vsync_ros.data.cli import main
    with pytest.raises(SystemExit, match='needs --data-root'):
        main([str(tmp_path / 'x'), '--world', 'pets'])
    with pytest.raises(SystemExit, match='need --world pets'):
        main([str(tmp_path / 'x'), '--sequence', 'S1L1-1'])
    with pytest.raises(SystemExit, match=r'no calibration/View_001.xml'):
        main([str(tmp_path / 'x'), '--world', 'pets', '--data-root', str(tmp_path), '--sequence', 'S9L9'])
    for v in (1, 2, 3):  # calibration present (contents not read before the annotations are checked)
        (tmp_path / 'calibration').mkdir(exist_ok=True)
        (tmp_path / 'calibration' / f'View_00{v}.xml').write_text('<x/>')
    with pytest.raises(SystemExit, match='no annotations for S9L9'):
        main([str(tmp_path / 'x'), '--world', 'pets', '--data-root', str(tmp_path), '--sequence', 'S9L9'])


@needs_data
def test_paper_protocol_frame_set_counts():
    """Constant +5 / -5 s at 7 fps keeps frames 35 .. N-36 of each sequence: the paper's 514 test sets."""
    from vsync_ros.data.pets_world import frame_set_counts, pets_timeline
    tl = pets_timeline(DATA)
    rows = {r['sequence']: r for r in frame_set_counts(tl, pets(mode='constant'))}
    assert {k: r['kept'] for k, r in rows.items()} == {'S2L2': 366, 'S2L3': 170, 'S1L1-1': 151, 'S1L1-2': 171,
                                                       'S1L2-1': 131, 'S1L2-2': 61}
    assert sum(r['kept'] for r in rows.values() if r['split'] == 'test') == 514
    random = frame_set_counts(tl, pets(mode='random'))
    assert all(c['kept'] >= r['kept'] for c, r in zip(random, rows.values()))   # |offset| <= 5 s drops fewer


@needs_data
def test_pets_buildings_stand_clear_of_every_trajectory_and_camera():
    from vsync_ros.data.pets_scene import BUILDINGS
    from vsync_ros.data.pets_world import available_sequences, pets_timeline
    from vsync_ros.data.readers.pets2009 import pets_cameras
    tl = pets_timeline(DATA, sequences=available_sequences(DATA))
    xy = np.concatenate([np.concatenate(c.tracks.xy) for c in tl.crowds])
    assert len(tl.crowds) == 8 and len(xy) > 10000
    cams = pets_cameras(DATA / 'calibration')
    for b in BUILDINGS:
        assert not b.contains(xy, margin=1.0).any(), b
        assert not b.contains(np.array([c.center[:2] for c in cams]), margin=2.0).any(), b


@needs_data
@pytest.mark.slow  # renders the PETS scene
def test_pets_scene_renders_the_real_people_where_the_annotations_put_them():
    from vsync_ros.data.pets_world import pets_world
    world = pets_world(DATA, sequences=['S1L1-1'])
    tl = world.sim
    tr = tl.crowds[0].tracks
    t = 10.0
    ids, xy = tr.positions_at(t)
    bg = world._bg[0]
    grass = np.array([74, 108, 46])
    assert np.mean(np.abs(bg[-40:].astype(float) - grass).sum(-1) < 60) > 0.5   # View_001: lawn at the bottom
    assert bg[:60].reshape(-1, 3)[:, 0].mean() > bg[:60].reshape(-1, 3)[:, 2].mean()  # brick buildings at the top
    for view, min_visible in ((0, 10), (1, 5), (2, 5)):
        cam = world.cameras[view]
        frame, id_map = world.render_layers(view, t, noise=False)
        assert np.abs(frame.astype(int) - world._bg[view]).sum() > 0
        uv, depth = cam.project(np.column_stack([xy, np.full(len(xy), 1.0)]))   # hips, 1 m up
        inside = cam.in_image(uv, margin=-3) & (depth > 0)
        struct = world._struct_depth[view]                                     # lamp posts and buildings
        hit = []
        for (u, v), d in zip(uv[inside], depth[inside]):
            win = np.s_[int(round(v)) - 2:int(round(v)) + 3, int(round(u)) - 2:int(round(u)) + 3]
            hit.append((id_map[win] >= 0).any() or (struct[win] < d).all())  # seen, or behind a post / building
        assert inside.sum() >= min_visible and np.mean(hit) >= (1.0 if view == 0 else 0.9), (view, np.mean(hit))
    # ids of the rendered people are the timeline's (sequence 0: the annotated ids)
    _, id_map = world.render_layers(0, t, noise=False)
    assert set(np.unique(id_map[id_map >= 0])) <= set(ids.tolist())


@needs_data
@pytest.mark.slow  # synthesizes a data set
def test_vsync_synth_pets_writes_a_data_set_with_the_annotated_counts(tmp_path):
    from vsync_ros.data.cli import main
    from vsync_ros.data.dataset import SyncDataset
    from vsync_ros.data.readers.pets2009 import PETS_REGION
    from vsync_ros.data.readers.pets_tracks import PetsTracks
    from vsync_ros.data.readers.tsai import read_tsai_xml
    out = tmp_path / 'pets'
    assert main([str(out), '--world', 'pets', '--data-root', str(DATA), '--train-sequences', 'S2L3',
                 '--test-sequences', 'S1L1-1', '--n-train', '2', '--n-test', '2', '--mode', 'constant',
                 '--no-progress', '--no-sheet']) == 0
    man = json.loads((out / 'manifest.json').read_text())
    src = man['world']['source']
    assert man['world']['config']['rig'] == 'pets2009' and man['world']['config']['scene'] == 'pets'
    assert src['data_root'] == str(DATA) and [s['name'] for s in src['sequences']] == ['S2L3', 'S1L1-1']
    assert man['image_size'] == [384, 288] and man['region']['cell_m'] == pytest.approx(0.4)
    assert sorted(p.name for p in out.iterdir()) == ['cameras', 'manifest.json', 'test', 'train']
    assert not list(out.rglob('*.xml'))                                   # the data stay in the data root
    view1 = read_tsai_xml(DATA / 'calibration' / 'View_001.xml', name='view1', image_size=(768, 576))
    for split, seq in (('train', 'S2L3'), ('test', 'S1L1-1')):
        ds = SyncDataset(out, split)
        assert len(ds) == 2 and man['splits'][split]['n_dropped'] == 35       # frames 0-34: t - 5 s not annotated
        start = next(s['start_s'] for s in src['sequences'] if s['name'] == seq)
        tr = PetsTracks.from_annotations(DATA / 'annotations' / f'PETS2009-{seq}.xml', view1)
        for k in range(2):
            s = ds[k]
            assert tuple(s['images'].shape) == (3, 3, 288, 384)
            assert tuple(s['gp_density'].shape) == (1, 177, 152)
            t_local = float(s['time_s']) - start
            assert t_local == pytest.approx(5.0 + k / 7, abs=1e-6)          # first frame with t - 5 s annotated
            _, xy = tr.positions_at(t_local)
            want = int(PETS_REGION.contains(xy).sum())
            assert float(s['count']) == want > 0
            assert float(s['gp_density'].sum()) == pytest.approx(want, abs=0.05 * want)
            assert np.allclose(s['offsets_s'].numpy(), [0.0, 5.0, -5.0])
            assert ds.sequence_of(float(s['time_s'])) == seq                 # the per-sequence breakdown's key
        assert ds.sequence_of(start - 30.0) is None
