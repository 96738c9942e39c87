"""Synthetic crowd-counting world: a simulated crowd on a plaza seen by calibrated cameras.

``CrowdWorld`` implements the :class:`~vsync_ros.data.world.World` protocol (task 'counting').
Any camera can be rendered at any time ``t`` (s), so synchronized and unsynchronized frames of the
same scene come from the same trajectories. Ground truth at ``t``:

* ``positions`` (N, 2) float32: ground positions (m) of the N people inside the region,
* ``person_ids`` (N,) int64, ``heights_m`` (N,) float32,
* ``count`` () float32: N,
* ``gp_density`` (rows, cols) float32: a normalized Gaussian (``gp_sigma_m``) per person on the
  world's ground grid ``region`` (cell ``gp_cell_m``); sums to N,
* ``view_density`` (V, H, W) float32: per-view image density of heads (``view_sigma_px``); view
  ``v`` sums to the number of heads projecting inside image ``v`` (people outside the region
  included, as they are visible).
"""
from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from vsync_ros.data.crowd import Appearance, CrowdParams, CrowdSimulator, CrowdState
from vsync_ros.data.density import ground_density, image_density
from vsync_ros.data.render import draw_people, draw_shadows, head_centre_height
from vsync_ros.data.scene import PLAZA_PALETTE, SUN_DIR, ScenePalette, StaticScene
from vsync_ros.geometry.camera import Camera
from vsync_ros.geometry.ground import GroundRegion
from vsync_ros.geometry.presets import PLAZA_REGION, STUDIO_REGION, plaza_cameras, studio_cameras
from vsync_ros.geometry.rig import RIG_FILE, cameras_at_size, is_rig_folder, read_rig, rig_name

RIGS = {'plaza': (plaza_cameras, PLAZA_REGION), 'studio': (studio_cameras, STUDIO_REGION)}
#: rigs that are not shipped: their cameras and region come from the user's data root and are passed to
#: :class:`CrowdWorld` (PETS2009: :func:`vsync_ros.data.pets_world.pets_world` reads its Tsai calibration)
EXTERNAL_RIGS = ('pets2009',)
SCENE_STYLES = ('plaza', 'pets')
PALETTES = ('plaza', 'random')
_NOISE_BANK = 6


@dataclass(frozen=True)
class CrowdWorldConfig:
    """Settings of a :class:`CrowdWorld`.

    Attributes:
        rig: camera rig: a preset ('plaza': 3 cameras around a 20 m x 24 m square; 'studio'), one of
            :data:`EXTERNAL_RIGS` ('pets2009', whose cameras and region the caller passes), or the path of a
            rig folder (``rig.yaml``, written by ``vsync-rig import``): its cameras, rescaled to ``image_size``
            (every camera must have that aspect ratio), and its ground region, which the crowd walks in and
            the static scene is built around.
        image_size: (width, height) of the rendered frames.
        crowd: pedestrian simulation parameters (crowd size range, speeds, ...).
        seed: seed of trajectories, appearances and sensor noise.
        scene_seed: seed of the static scene (street furniture, textures).
        gp_cell_m: cell size of the ground-plane density grid (m); 0.4 m gives 60 x 50 on the plaza.
        gp_sigma_m: Gaussian sigma of the ground-plane density (m).
        view_sigma_px: Gaussian sigma of the image head density at 384 px width; scaled with width.
        noise_std: sensor noise standard deviation (grey levels).
        illumination: amplitude of the slow global brightness change (0 disables).
        furniture: place lamp posts, planters and benches on the plaza (lamp posts in the PETS scene).
        scene: static scene style: 'plaza' (the synthetic plaza, :mod:`~vsync_ros.data.scene`) or 'pets'
            (lawns, roads, brick buildings and lamp posts laid out as the real PETS2009 scene,
            :mod:`~vsync_ros.data.pets_scene`; meant for the real PETS2009 rig and region).
        palette: ground and facade colours of the plaza scene: 'plaza' (the fixed palette) or 'random'
            (:meth:`~vsync_ros.data.scene.ScenePalette.draw` of ``scene_seed``; scene randomization).
        light_level: global brightness factor of the rendered frames (lighting of the scene; 1 = as designed).
    """

    rig: str = 'plaza'
    image_size: tuple[int, int] = (384, 288)
    crowd: CrowdParams = field(default_factory=CrowdParams)
    seed: int = 0
    scene_seed: int = 0
    gp_cell_m: float = 0.4
    gp_sigma_m: float = 1.0
    view_sigma_px: float = 3.0
    noise_std: float = 2.0
    illumination: float = 0.06
    furniture: bool = True
    scene: str = 'plaza'
    palette: str = 'plaza'
    light_level: float = 1.0

    def __post_init__(self) -> None:
        if self.scene not in SCENE_STYLES:
            raise ValueError(f'unknown scene style {self.scene!r} (choose from {", ".join(SCENE_STYLES)})')
        if self.palette not in PALETTES:
            raise ValueError(f'unknown palette {self.palette!r} (choose from {", ".join(PALETTES)})')
        if self.palette != 'plaza' and self.scene != 'plaza':
            raise ValueError(f"palette {self.palette!r} needs the plaza scene style, not {self.scene!r}")
        if not self.light_level > 0 or self.noise_std < 0:
            raise ValueError(f'light_level must be > 0 and noise_std >= 0, got {self.light_level}, {self.noise_std}')
        if self.rig not in RIGS and self.rig not in EXTERNAL_RIGS and not is_rig_folder(self.rig):
            raise ValueError(f'unknown rig {self.rig!r}: choose from {", ".join([*RIGS, *EXTERNAL_RIGS])} or give '
                             f'a rig folder ({Path(self.rig) / RIG_FILE} does not exist; vsync-rig import writes one)')
        w, h = self.image_size
        if int(w) < 16 or int(h) < 16:
            raise ValueError(f'image size too small: {self.image_size}')
        object.__setattr__(self, 'image_size', (int(w), int(h)))
        if isinstance(self.crowd, dict):
            object.__setattr__(self, 'crowd', CrowdParams(**{k: tuple(v) if isinstance(v, list) else v
                                                             for k, v in self.crowd.items()}))
        if self.gp_cell_m <= 0 or self.gp_sigma_m <= 0 or self.view_sigma_px <= 0:
            raise ValueError('gp_cell_m, gp_sigma_m and view_sigma_px must be positive')

    def to_dict(self) -> dict:
        """Plain mapping (JSON friendly)."""
        d = asdict(self)
        d['image_size'] = list(self.image_size)
        d['crowd'] = {k: list(v) if isinstance(v, tuple) else v for k, v in d['crowd'].items()}
        if d['scene'] == 'plaza':  # the default: plaza manifests stay as they were before scene styles
            del d['scene']
        for key, default in (('palette', 'plaza'), ('light_level', 1.0)):  # likewise before scene randomization
            if d[key] == default:
                del d[key]
        if d['crowd'].get('refill_hz') == 0.0:
            del d['crowd']['refill_hz']
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CrowdWorldConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d['image_size'] = tuple(d.get('image_size', (384, 288)))
        return cls(**d)

    def with_(self, **changes) -> CrowdWorldConfig:
        """Copy with fields changed."""
        return replace(self, **changes)


def rig_setup(rig: str, image_size: tuple[int, int]) -> tuple[list[Camera], GroundRegion]:
    """Cameras at ``image_size`` (width, height) and ground region of a preset rig or a rig folder.

    Raises:
        CalibrationError: an unreadable rig folder (the message names the file and the field) or a camera
            whose aspect ratio is not the image size's (the message names the camera).
    """
    if rig in RIGS:
        make, region = RIGS[rig]
        return make(*image_size), region
    folder = read_rig(rig)
    return cameras_at_size(folder.cameras, *image_size, where=f'rig folder {rig}'), folder.region


def rig_source(rig: str) -> dict | None:
    """Where a rig came from, for data-set manifests: ``{'name', 'folder'}`` of a rig folder, else None."""
    if rig in RIGS or rig in EXTERNAL_RIGS:
        return None
    return {'name': rig_name(rig), 'folder': str(Path(rig).resolve())}


class _LruCache:
    """Least-recently-used cache bounded by entries and by the bytes of the numpy arrays it holds.

    A world with many scenes (``vsync-synth --scenes``) visits each scene once; the bound keeps the
    most recent ones only (scenes: ground texture pyramid, about 5 MB each on the plaza; backgrounds:
    one image and depth map per camera and scene).
    """

    def __init__(self, max_items: int, max_bytes: int, size_of) -> None:
        self.max_items, self.max_bytes, self._size_of = max_items, max_bytes, size_of
        self._items: OrderedDict = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key, make):
        """The cached value of ``key``, or ``make()`` (stored; older entries go beyond the bounds)."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key][0]
        value = make()
        size = int(self._size_of(value))
        self._items[key] = (value, size)
        self.nbytes += size
        while len(self._items) > 1 and (len(self._items) > self.max_items or self.nbytes > self.max_bytes):
            _, (_, old) = self._items.popitem(last=False)
            self.nbytes -= old
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()
        self.nbytes = 0


def _scene_bytes(scene) -> int:
    return sum(a.nbytes for a in getattr(scene, '_texture_pyramid', []))


_BACKGROUNDS = _LruCache(32, 256 << 20, lambda v: v[0].nbytes + v[1].nbytes)
_SCENES = _LruCache(8, 128 << 20, _scene_bytes)


def _scene(region: GroundRegion, scene_seed: int, cameras: list[Camera], furniture: bool,
           style: str = 'plaza', palette: str = 'plaza') -> StaticScene:
    key = (region, scene_seed, tuple(c.fingerprint() for c in cameras), furniture, style, palette)

    def make() -> StaticScene:
        if style == 'pets':
            from vsync_ros.data.pets_scene import PetsScene
            return PetsScene(region, scene_seed, cameras, furniture)
        n = (4, 2, 2) if furniture else (0, 0, 0)
        colours = ScenePalette.draw(scene_seed) if palette == 'random' else PLAZA_PALETTE
        return StaticScene(region, scene_seed, cameras, *n, palette=colours)

    return _SCENES.get(key, make)


class CrowdWorld:
    """A simulated crowd on a plaza, rendered from calibrated cameras (task 'counting').

    Args:
        config: world settings (``config.rig``: a preset or a rig folder, see :class:`CrowdWorldConfig`).
        cameras: override the rig's cameras (their resolution is used as is).
        region: override the rig's counting region (its cell size is replaced by ``gp_cell_m``).
        crowd: people to render instead of the simulated crowd: anything with ``state(t) ->
            CrowdState`` and ``appearance(pid) -> Appearance`` (e.g. the real PETS2009 trajectories,
            :class:`~vsync_ros.data.readers.pets_tracks.PetsCrowd`).

    Attributes:
        rig_source: ``{'name', 'folder'}`` when ``config.rig`` is a rig folder (recorded in data-set manifests),
            else None.
    """

    task = 'counting'

    def __init__(self, config: CrowdWorldConfig | None = None, cameras: list[Camera] | None = None,
                 region: GroundRegion | None = None, crowd=None) -> None:
        self.config = config or CrowdWorldConfig()
        cfg = self.config
        if cfg.rig in EXTERNAL_RIGS and (cameras is None or region is None):
            raise ValueError(f'rig {cfg.rig!r} is read from its data root: pass its cameras and region '
                             '(PETS2009: vsync_ros.data.pets_world.pets_world)')
        rig_cams, rig_region = rig_setup(cfg.rig, cfg.image_size) if cameras is None or region is None else ([], None)
        self.cameras: list[Camera] = list(cameras) if cameras is not None else rig_cams
        self.rig_source = rig_source(cfg.rig)
        base_region = region or rig_region
        self.region = base_region.with_cell(cfg.gp_cell_m)
        self.scene = _scene(base_region.with_cell(0.1), cfg.scene_seed, self.cameras, cfg.furniture, cfg.scene,
                            cfg.palette)
        self.sim = crowd if crowd is not None else CrowdSimulator(base_region, cfg.crowd, cfg.seed,
                                                                  self.scene.obstacles())
        self._bg: list[np.ndarray] = []
        self._struct_depth: list[np.ndarray] = []
        self._ground: list[np.ndarray] = []
        for cam in self.cameras:
            key = (self.scene.region, self.scene.seed, self.scene.box, len(self.scene.structures), cam.fingerprint(),
                   cfg.scene, cfg.palette)
            bg, sd = _BACKGROUNDS.get(key, lambda cam=cam: self.scene.render_background(cam))
            self._bg.append(bg)
            self._struct_depth.append(sd)
            self._ground.append(~np.isfinite(sd))
        self._vignette = [self._make_vignette(c) for c in self.cameras]
        self._noise = [self._make_noise(v) for v in range(len(self.cameras))]

    # ------------------------------------------------------------------ helpers
    @property
    def n_views(self) -> int:
        """Number of cameras."""
        return len(self.cameras)

    @property
    def view_sigma_px(self) -> float:
        """Head-density sigma (px) at this world's image width."""
        return self.config.view_sigma_px * self.cameras[0].width / 384.0

    def describe(self) -> dict:
        """JSON-serialisable description (for data-set manifests; ``source``: the crowd's own description)."""
        d = {'type': 'crowd', 'config': self.config.to_dict(), 'region': self.region.as_dict(),
             'view_sigma_px': self.view_sigma_px, 'cameras': [c.name for c in self.cameras]}
        if callable(getattr(self.sim, 'describe', None)):
            d['source'] = self.sim.describe()
        return d

    def time_ranges(self, split: str) -> list[tuple[float, float]] | None:
        """Intervals (s) in which frames of ``split`` may be rendered, or None (any time).

        The simulated crowd exists at any time (None). A crowd of real trajectories exists only inside
        its annotated interval(s): ``crowd.time_ranges(split)`` if it has one (several sequences, each
        in a split, e.g. :class:`~vsync_ros.data.readers.pets_tracks.PetsTimeline`), else
        ``[crowd.time_range_s]`` for both splits.
        """
        per_split = getattr(self.sim, 'time_ranges', None)
        if callable(per_split):
            return [(float(a), float(b)) for a, b in per_split(split)]
        whole = getattr(self.sim, 'time_range_s', None)
        return None if whole is None else [(float(whole[0]), float(whole[1]))]

    def _make_vignette(self, cam: Camera) -> np.ndarray:
        y, x = np.mgrid[0:cam.height, 0:cam.width].astype(np.float32)
        r2 = ((x - cam.width / 2) / (cam.width / 2)) ** 2 + ((y - cam.height / 2) / (cam.height / 2)) ** 2
        return (1.0 - 0.08 * r2 / 2.0).astype(np.float32)

    def _make_noise(self, view: int) -> np.ndarray:
        cam = self.cameras[view]
        rng = np.random.default_rng([self.config.seed, 21, view])
        return rng.normal(0.0, self.config.noise_std, size=(_NOISE_BANK, cam.height, cam.width, 3)).astype(np.float32)

    def _gain(self, view: int, t: float) -> np.ndarray:
        a = self.config.illumination
        ph = 1.7 * view + 0.3 * self.config.seed
        g = 1.0 + a * math.sin(2 * math.pi * t / 53.0 + ph) + 0.4 * a * math.sin(2 * math.pi * t / 11.0 + 2 * ph)
        g *= self.config.light_level  # 1.0 by default: exactly the same numbers
        tint = 0.25 * a * math.sin(2 * math.pi * t / 97.0 + ph)
        return np.array([g * (1 + tint), g, g * (1 - tint)], np.float32)

    def appearances(self, ids: np.ndarray) -> list[Appearance]:
        """Appearance of each person id."""
        return [self.sim.appearance(int(i)) for i in ids]

    def state(self, t: float) -> CrowdState:
        """Everyone present in the walk area at time ``t`` (s)."""
        return self.sim.state(float(t))

    # ------------------------------------------------------------------ World protocol
    def render_layers(self, view: int, t: float, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB frame and (H, W) int32 id map (person id per pixel, -1 = background)."""
        cam = self.cameras[view]
        st = self.state(t)
        apps = self.appearances(st.ids)
        bg = self._bg[view]
        canvas = bg.copy()
        draw_shadows(canvas, cam, st, apps, SUN_DIR, ground_mask=self._ground[view])
        pdepth = np.full((cam.height, cam.width), np.inf, np.float32)
        pid = np.full((cam.height, cam.width), -1, np.int32)
        draw_people(canvas, cam, st, apps, pdepth, pid)
        occluded = self._struct_depth[view] < pdepth
        canvas[occluded] = bg[occluded]
        pid[occluded] = -1
        if not noise:
            return canvas, pid
        img = canvas.astype(np.float32)
        img *= self._vignette[view][..., None] * self._gain(view, t)[None, None, :]
        k = zlib.crc32(np.float64(t).tobytes()) % _NOISE_BANK
        img += self._noise[view][k]
        return np.clip(img + 0.5, 0, 255).astype(np.uint8), pid

    def render(self, view: int, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame of camera ``view`` at time ``t`` (s)."""
        return self.render_layers(view, t)[0]

    def heads_uv(self, view: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Head-centre pixels (M, 2) float32 of everyone whose head projects inside image ``view``, and their ids."""
        st = self.state(t)
        cam = self.cameras[view]
        h = np.array([a.height_m for a in self.appearances(st.ids)]).reshape(-1)
        uv, depth = cam.project(np.c_[st.xy, head_centre_height(h)].reshape(-1, 3))
        ok = (depth > 0.1) & cam.in_image(uv)
        return uv[ok].astype(np.float32), st.ids[ok]

    def frame_annotations(self, view: int, t: float) -> dict[str, np.ndarray]:
        """Per-frame labels of camera ``view`` at ``t``: ``heads_uv`` (M, 2) px and ``head_ids`` (M,)."""
        uv, ids = self.heads_uv(view, t)
        return {'heads_uv': uv, 'head_ids': ids.astype(np.int64)}

    def ground_truth(self, t: float, view_density: bool = True) -> dict[str, np.ndarray]:
        """Counting ground truth at time ``t`` (see the module docstring).

        ``view_density=False`` skips the (image-sized) head density maps; the data-set writer stores
        the head pixels instead (``frame_annotations``) and the reader rebuilds the maps.
        """
        st = self.state(t)
        inside = self.region.contains(st.xy)
        heights = np.array([a.height_m for a in self.appearances(st.ids[inside])], np.float32).reshape(-1)
        pos = st.xy[inside]
        gt = {
            'positions': pos.astype(np.float32),
            'person_ids': st.ids[inside].astype(np.int64),
            'heights_m': heights,
            'count': np.array(len(pos), np.float32),
            'gp_density': ground_density(pos, self.region, self.config.gp_sigma_m),
        }
        if not view_density:
            return gt
        dens = []
        for v, cam in enumerate(self.cameras):
            uv, _ = self.heads_uv(v, t)
            dens.append(image_density(uv, cam.width, cam.height, self.view_sigma_px))
        gt['view_density'] = np.stack(dens)
        return gt


def resize_frame(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB frame with area interpolation (downscaling) or bilinear (upscaling)."""
    if img.shape[1] == width and img.shape[0] == height:
        return img
    interp = cv2.INTER_AREA if width < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interp)
