"""Scene randomization: a crowd data set spread over many static scenes (``vsync-synth --scenes N``).

A :class:`SceneSchedule` is a counting world that renders each frame set in one of several plaza
scenes. Every scene is a :class:`~vsync_ros.data.crowd_world.CrowdWorld` on the same cameras and ground
region, with its own

* scene seed: street-furniture layout and textures (:class:`~vsync_ros.data.scene.StaticScene`),
* colour palette of the ground and the buildings (:meth:`~vsync_ros.data.scene.ScenePalette.draw`),
* lighting level (:data:`LIGHT_RANGE`, a global brightness factor) and camera noise level
  (:data:`NOISE_RANGE`, grey levels), drawn uniformly from the scene seed (:func:`scene_look`),

so a scene seed alone fixes how its scene looks. A split of n frame sets over N scenes switches scene
every n / N frame sets (frame set k is in scene ``k * N // n``). The people of each scene (trajectories,
appearance) and its noise pattern come from a seed drawn from the world seed and the scene seed; the
crowd walks among that scene's obstacles and starts a warm-up (``-crowd.t_start_s``, 60 s by default)
before the scene's first frame time, so a switch costs one scene set-up, not a simulation from time 0.

Train and test scenes never share a seed: both lists are drawn from the world seed, each from its own
random stream (``[seed, 0x5CE7E, 0]`` for train, ``[seed, 0x5CE7E, 1]`` for test), and the streams cannot
collide because train scene seeds are even numbers and test scene seeds odd ones (2 r and 2 r + 1 for a
draw r < 2**30); seeds repeated within a split are drawn again. The manifest records the seeds, look
and frame-set range of every scene of each split (``splits.<split>.scenes``, ``splits.<split>.scene_seeds``).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from vsync_ros.data.crowd_world import CrowdWorld

LIGHT_RANGE = (0.7, 1.25)  # global brightness factor of a scene
NOISE_RANGE = (1.0, 5.0)  # sensor noise std of a scene, grey levels
SEED_STREAMS = {'train': 0, 'test': 1}
_SEED_TAG = 0x5CE7E


def draw_scene_seeds(world_seed: int, n: int, split: str) -> list[int]:
    """``n`` distinct scene seeds of ``split`` drawn from the world seed (train: even, test: odd; see module doc).

    Raises:
        ValueError: an unknown split or a negative ``n``.
    """
    if split not in SEED_STREAMS:
        raise ValueError(f'unknown split {split!r} (choose from {", ".join(SEED_STREAMS)})')
    if n < 0:
        raise ValueError(f'number of scenes must be >= 0, got {n}')
    rng = np.random.default_rng([int(world_seed), _SEED_TAG, SEED_STREAMS[split]])
    seeds: list[int] = []
    while len(seeds) < n:
        s = 2 * int(rng.integers(0, 2 ** 30)) + SEED_STREAMS[split]
        if s not in seeds:
            seeds.append(s)
    return seeds


def scene_look(scene_seed: int) -> dict[str, float]:
    """Lighting level and camera noise of a scene, uniform in :data:`LIGHT_RANGE` / :data:`NOISE_RANGE`.

    Returns:
        {'light_level': brightness factor, 'noise_std': grey levels}, deterministic from ``scene_seed``.
    """
    rng = np.random.default_rng([int(scene_seed), 303])
    return {'light_level': float(rng.uniform(*LIGHT_RANGE)), 'noise_std': float(rng.uniform(*NOISE_RANGE))}


def scene_of(k: int, n: int, n_scenes: int) -> int:
    """Scene index of frame set ``k`` of a split of ``n`` frame sets over ``n_scenes`` scenes (k * N // n)."""
    return min(n_scenes - 1, (int(k) * n_scenes) // max(int(n), 1))


class SceneSchedule:
    """A counting world whose frame sets are rendered in randomized scenes (see the module docstring).

    Args:
        base: the world whose cameras, region, crowd parameters and seed every scene shares (its own
            scene seed, noise and palette are replaced per scene).
        n_scenes: scenes per split, e.g. {'train': 8, 'test': 4}; a split with fewer frame sets uses
            one scene per frame set.
        seeds: optional scene seeds of some splits instead of drawn ones (``vsync-synth
            --test-on-train-scenes-of``: a test split on another world's training scenes).

    The data-set writer asks :meth:`world_for_frame_set` for each frame set (in order) and records
    :meth:`split_info` in the manifest. Only the scene in use is kept (the scene and background caches of
    :mod:`~vsync_ros.data.crowd_world` are bounded as well). ``render`` / ``ground_truth`` answer for the
    scene of the last frame set asked for (the first training scene before that).
    """

    task = 'counting'

    def __init__(self, base: CrowdWorld, n_scenes: dict[str, int], seeds: dict[str, list[int]] | None = None) -> None:
        if getattr(base.config, 'scene', 'plaza') != 'plaza':
            raise ValueError(f'scene randomization needs the plaza scene style, not {base.config.scene!r}')
        if any(int(v) < 1 for v in n_scenes.values()):
            raise ValueError(f'every split needs at least one scene, got {n_scenes}')
        self.base = base
        self.config = base.config
        self.cameras = base.cameras
        self.region = base.region
        self.seeds = {split: draw_scene_seeds(base.config.seed, int(n), split) for split, n in n_scenes.items()}
        for split, given in (seeds or {}).items():  # e.g. a held-out test split on another world's training scenes
            if len(given) < 1 or len(set(given)) != len(given):
                raise ValueError(f'scene seeds of split {split!r} must be distinct and at least one, got {given}')
            self.seeds[split] = [int(x) for x in given]
        self._current: tuple[tuple[str, int], CrowdWorld] | None = None
        self._used: dict[str, dict[int, list[int]]] = {}

    @property
    def n_views(self) -> int:
        """Number of cameras."""
        return len(self.cameras)

    @property
    def view_sigma_px(self) -> float:
        """Head-density sigma (px) at this world's image width (as the base world's)."""
        return self.base.view_sigma_px

    def crowd_seed(self, scene_seed: int) -> int:
        """Seed of the people (trajectories, appearance) and sensor noise pattern in a scene: from both seeds."""
        return int(np.random.default_rng([int(self.config.seed), int(scene_seed), 404]).integers(0, 2 ** 31))

    def scene_world(self, split: str, index: int, t_first: float) -> CrowdWorld:
        """The world of scene ``index`` of ``split``, its crowd warmed up before ``t_first`` (s)."""
        seed = self.seeds[split][index]
        cfg = self.config
        crowd = replace(cfg.crowd, t_start_s=math.floor(t_first) + min(cfg.crowd.t_start_s, -1.0))
        sc = cfg.with_(seed=self.crowd_seed(seed), scene_seed=seed, palette='random', crowd=crowd, **scene_look(seed))
        return CrowdWorld(sc, cameras=self.cameras, region=self.region)

    def world_for_frame_set(self, split: str, k: int, n: int, t_first: float) -> CrowdWorld:
        """The world to render frame set ``k`` of ``n`` of ``split`` in.

        Args:
            t_first: earliest time (s) the frame set renders (reference time plus the most negative offset);
                a new scene's crowd starts its warm-up before it.
        """
        n_scenes = len(self.seeds[split])
        index = scene_of(k, n, min(n_scenes, n))
        key = (split, index)
        if self._current is None or self._current[0] != key:
            self._current = (key, self.scene_world(split, index, t_first))
        span = self._used.setdefault(split, {}).setdefault(index, [int(k), int(k)])
        span[0], span[1] = min(span[0], int(k)), max(span[1], int(k))
        return self._current[1]

    def split_info(self, split: str) -> dict:
        """Manifest entries of a split: 'scene_seeds' used (in order) and per scene its seed, look and frame sets."""
        used = self._used.get(split, {})
        scenes = [{'seed': self.seeds[split][i], **scene_look(self.seeds[split][i]),
                   'crowd_seed': self.crowd_seed(self.seeds[split][i]), 'frame_sets': list(span)}
                  for i, span in sorted(used.items())]
        return {'scene_seeds': [s['seed'] for s in scenes], 'scenes': scenes}

    def describe(self) -> dict:
        """The base world's description plus the randomization rule (``scenes``)."""
        d = self.base.describe()
        d['scenes'] = {
            'n': {split: len(seeds) for split, seeds in self.seeds.items()},
            'light_range': list(LIGHT_RANGE), 'noise_range': list(NOISE_RANGE), 'palette': 'random',
            'seed_rule': 'drawn from the world seed; train scene seeds even, test scene seeds odd (disjoint)',
            'note': "config.scene_seed, noise_std, light_level and palette are replaced per scene: see "
                    "splits.<split>.scenes",
        }
        return d

    # ------------------------------------------------------------------ World protocol (current scene)
    def _world(self) -> CrowdWorld:
        if self._current is None:
            first = next(iter(self.seeds))
            self._current = ((first, 0), self.scene_world(first, 0, 0.0))
        return self._current[1]

    def render(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame of camera ``view`` at ``t`` (s) in the current scene."""
        return self._world().render(view, t)

    def ground_truth(self, t: float, view_density: bool = True) -> dict[str, np.ndarray]:
        """Counting ground truth at ``t`` (s) in the current scene (see :class:`CrowdWorld`)."""
        return self._world().ground_truth(t, view_density)

    def frame_annotations(self, view: int, t: float) -> dict[str, np.ndarray]:
        """Head pixels of camera ``view`` at ``t`` in the current scene."""
        return self._world().frame_annotations(view, t)
