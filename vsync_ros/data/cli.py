"""``vsync-synth``: generate a synthetic unsynchronized multi-camera data set (and its contact sheet).

Examples::

    vsync-synth data/plaza_pets --n-train 800 --n-test 200            # PETS-like random latency, 192x144
    vsync-synth data/plaza_const --mode constant --tau 5 -5 --size 384x288
    vsync-synth data/plaza_city --preset citystreet --people 20 40 --seed 3
    vsync-synth data/plaza_scenes --scenes 8 --people 5 60                # 8 train + 8 test scenes, dense crowds
    vsync-synth data/plaza_pets --sheet-only --sheet data/plaza_pets/sheet.png
    vsync-synth data/pets_const --world pets --data-root ../shared/data/pets2009 --mode constant
    vsync-synth data/pets_s1l1 --world pets --data-root ../shared/data/pets2009 --sequence S1L1-1 --n-train 20
    vsync-synth data/pets_real --world pets-frames --frames-root ~/mvms_pets --data-root ../shared/data/pets2009
    vsync-synth data/mine --rig rigs/mine --n-train 800 --n-test 200        # your own cameras (vsync-rig import)
    vsync-synth data/mine_pose --world pose --rig rigs/mine --segment-s 6

``--world pets`` renders PETS2009 from its real calibration (views 1-3) and the real annotated
trajectories of its sequences (default: the MVMS split, train S2L2 + S2L3, test S1L1-1, S1L1-2,
S1L2-1, S1L2-2), in a PETS-like scene, at 384x288, with ground truth on the MVMS grid (152x177
cells of 0.4 m). Reference frames every 1/7 s; a frame set is kept only if every view time
t + offset lies inside its sequence's annotated interval; by default every such set is written.
The data root is read, never copied: the manifest records it and the sequence names.

``--world pets-frames`` writes the same kind of data set from the real PETS2009 frames and the authors'
ground-plane maps of the MVMS release (``--frames-root``, read by ``vsync_ros.data.readers.pets2009``;
its MVMS split, train S1L3-1, S1L3-2, S2L2-1, S2L3-1 and the same four test sequences), calibrated by
``--data-root``'s Tsai files. Latency offsets are whole frames (``--quantum`` 1/7 s), the maps have no
person positions, so models train at a multiple of its 0.4 m cell (e.g. data.gp_cell_m=0.8).

``--rig DIR`` takes the cameras (any number >= 2, view 0 the reference) from a rig folder written by
``vsync-rig import``. The crowd world walks its crowd in the rig's ground region and builds the static
plaza (ground, buildings, street furniture) around that region; the pose world puts its room around the
rig's cameras, centred on the region. All views of a data set share one image size, because the model has
one input size: --size if given, else the size nearest 192 px wide with view 0's aspect ratio whose sides
are multiples of 16, as a model input needs (4:3 gives 192x144, the size config/train/small.yaml trains
at; 16:9 gives 256x144: train with model.image_width / model.image_height set to the printed size). Each
camera is rescaled to that size and must have its aspect ratio (within 1 %): a camera of another aspect is
refused by name, as the model would refuse its real frames. The manifest records the rig's name and
folder (``rig``). A missing or broken rig folder ends with a message naming the file and the field, exit
code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vsync_ros.data.crowd import crowd_params
from vsync_ros.data.desync import MODES, PRESETS, preset


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split('x')
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 192x144, got {text!r}') from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option is documented in --help)."""
    p = argparse.ArgumentParser(
        prog='vsync-synth', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Layout written: manifest.json, cameras/*.yaml, {train,test}/index.json, '
               '{train,test}/frames/v<i>/<k>.png, {train,test}/sync/v<i>/<k>.png, {train,test}/gt/<k>.npz, '
               'contact_sheet.png (see docs/data.md).')
    p.add_argument('out', type=Path, help='output folder (must be empty unless --overwrite)')
    g = p.add_argument_group('world')
    g.add_argument('--world', choices=['crowd', 'pose', 'pets', 'pets-frames'], default='crowd',
                   help="'crowd': people walking on the plaza, task counting (default); 'pose': the 3D-pose "
                        "motion world (vsync_ros.data.motion_world), task pose; 'pets': PETS2009's real rig and "
                        "real annotated trajectories (needs --data-root), task counting; 'pets-frames': PETS2009's "
                        'real frames and ground maps of the MVMS release (needs --frames-root and --data-root)')
    g.add_argument('--rig', type=Path, default=None, metavar='DIR',
                   help='rig folder from vsync-rig import (rig.yaml, cameras/): its cameras and ground region '
                        'instead of the plaza (crowd) or the studio (pose) rig; not with --world pets')
    g.add_argument('--size', type=_size, default=None, metavar='WxH',
                   help='stored image size (default 192x144; 384x288 for --world pets, as PETS2009 in the paper; '
                        'with --rig the size nearest 192 px wide at view 0\'s aspect ratio with sides that are '
                        'multiples of 16: 192x144 for 4:3)')
    g.add_argument('--people', type=int, nargs=2, default=(10, 30), metavar=('MIN', 'MAX'),
                   help='crowd size range: the target number of people in the walk area varies slowly '
                        'between MIN and MAX (default 10 30); a MAX above 30 also refills the crowd faster '
                        'so that it reaches MAX (about 85 %% of the walk area is the counted region: 5 60 gives '
                        'counts from about 5 to 50)')
    g.add_argument('--pose-people', type=int, default=1, metavar='N',
                   help='people in the pose world (default 1; person 0 stays near the room centre)')
    g.add_argument('--segment-s', type=float, default=None, metavar='S',
                   help='pose world: every S seconds each person switches to another motion (idle, walk, turn, '
                        'wave, sit; blended over 1 s), so one set covers all motions (e.g. 6); default: one '
                        'motion per person forever')
    g.add_argument('--seed', type=int, default=0, help='world seed: trajectories, appearance, noise (default 0)')
    g.add_argument('--scene-seed', type=int, default=None,
                   help='static scene seed: street furniture, textures (default 0); one scene for every frame')
    g.add_argument('--scenes', type=int, default=None, metavar='N',
                   help='scene randomization (crowd world): the training split spans N static scenes drawn from '
                        '--seed, switching scene every n-train/N frame sets; each scene draws its furniture, '
                        'textures, ground / building colours, lighting level (x0.7-1.25) and camera noise '
                        '(1-5 grey levels, instead of --noise); the test split uses other scenes (train scene '
                        'seeds even, test odd); the manifest lists each split\'s scene seeds. Default: one '
                        'scene (--scene-seed)')
    g.add_argument('--test-scenes', type=int, default=None, metavar='M',
                   help='with --scenes: scenes of the test split (default N)')
    g.add_argument('--test-on-train-scenes-of', type=int, default=None, metavar='SEED',
                   help='with --scenes: the test split uses the first M training scenes of world seed SEED '
                        '(the same look; new people when --seed differs): the "training scene" reference of a '
                        'held-out evaluation')
    g.add_argument('--gp-cell', type=float, default=0.4, metavar='M',
                   help='ground-plane density cell size in metres (default 0.4: 60x50 cells on the plaza)')
    g.add_argument('--gp-sigma', type=float, default=1.0, metavar='M',
                   help='Gaussian sigma of the ground-plane density in metres (default 1.0)')
    g.add_argument('--view-sigma', type=float, default=3.0, metavar='PX',
                   help='Gaussian sigma of the image head density in pixels at 384 px width, scaled with '
                        'the image width (default 3)')
    g.add_argument('--noise', type=float, default=2.0, metavar='STD',
                   help='sensor noise std in grey levels (default 2)')
    g = p.add_argument_group('PETS2009 (--world pets)')
    g.add_argument('--data-root', type=Path, default=None, metavar='DIR',
                   help='PETS2009 data root holding calibration/View_00{1,2,3}.xml and '
                        'annotations/PETS2009-<seq>.xml (read only; recorded in the manifest)')
    g.add_argument('--frames-root', type=Path, default=None, metavar='DIR',
                   help='--world pets-frames: the MVMS release of PETS2009 (the folder holding dmaps/: real '
                        'frames of views 1-3 and ground-plane density maps); read only')
    g.add_argument('--sequence', nargs='+', default=None, metavar='SEQ',
                   help='sequences serving both splits (the test split starts after the train frames and '
                        '--test-gap); instead of --train-sequences / --test-sequences')
    g.add_argument('--train-sequences', nargs='+', default=None, metavar='SEQ',
                   help='training sequences (default S2L2 S2L3, the MVMS split)')
    g.add_argument('--test-sequences', nargs='+', default=None, metavar='SEQ',
                   help='test sequences (default S1L1-1 S1L1-2 S1L2-1 S1L2-2, the MVMS split)')
    g = p.add_argument_group('desynchronization (paper Sec. IV.B)')
    g.add_argument('--preset', choices=sorted(PRESETS), default=None,
                   help='latency preset: pets (dt 1/7 s, tau +5/-5 s, kappa 5 s), citystreet (dt 1 s, tau +3/-3 s, '
                        'kappa 3 s), h36m_train (dt 4/50 s, kappa 8/50 s), h36m_test (dt 64/50 s, kappa 8/50 s); '
                        'default pets for the crowd world, h36m_train for the pose world')
    g.add_argument('--mode', choices=MODES, default='random',
                   help='constant latency (delta_i = tau_i), random latency (delta_i ~ U(-kappa_i, kappa_i) per '
                        'sample) or none (synchronized); default random')
    g.add_argument('--dt', type=float, default=None, metavar='S', help='time between reference frames (s); '
                   'default from the preset')
    g.add_argument('--t0', type=float, default=0.0, metavar='S',
                   help='time of the first reference frame (s, default 0)')
    g.add_argument('--tau', type=float, nargs='+', default=None, metavar='S',
                   help='constant latency of views 1..V-1 in seconds (one value per non-reference view, '
                        'cycled); default from the preset')
    g.add_argument('--kappa', type=float, default=None, metavar='S',
                   help='random latency bound of every non-reference view (s); default from the preset')
    g.add_argument('--missing-prob', type=float, nargs='+', default=[0.0], metavar='P',
                   help='probability that a view has no frame for a sample: one value for all views or one '
                        'per view (view 0 included: exercises reference fail-over); default 0')
    g.add_argument('--quantum', type=float, default=None, metavar='S',
                   help='round offsets to multiples of this (e.g. 0.02 for 50 Hz); default none '
                        '(h36m presets: 1/50 s)')
    g.add_argument('--desync-seed', type=int, default=None, help='seed of the offsets (default: --seed)')
    g = p.add_argument_group('output')
    g.add_argument('--n-train', type=int, default=None,
                   help='training samples (default 800; --world pets: every frame set that fits, at most N if given)')
    g.add_argument('--n-test', type=int, default=None, help='test samples, later in time than all training frames '
                   '(default 200; --world pets: every frame set that fits, at most N if given)')
    g.add_argument('--test-gap', type=float, default=None, metavar='S',
                   help='extra time between the splits (default 2 * max latency + 10 s)')
    g.add_argument('--format', choices=['png', 'jpg'], default='png', help='image format (default png, lossless)')
    g.add_argument('--jpeg-quality', type=int, default=95, help='JPEG quality (default 95)')
    g.add_argument('--overwrite', action='store_true', help='replace an existing data set in OUT')
    g.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    g.add_argument('--sheet', type=Path, default=None, metavar='PNG',
                   help='contact sheet path (default OUT/contact_sheet.png)')
    g.add_argument('--no-sheet', action='store_true', help='do not write a contact sheet')
    g.add_argument('--sheet-only', action='store_true', help='only (re)write the contact sheet of the data set in OUT')
    g.add_argument('--sheet-samples', type=int, default=3, help='samples shown on the contact sheet (default 3)')
    return p


def _make_world(args):
    from vsync_ros.data.crowd_world import CrowdWorld, CrowdWorldConfig
    if args.world == 'pets-frames':
        from vsync_ros.data.pets_frames_world import PetsFramesWorld
        return PetsFramesWorld(args.frames_root, args.data_root / 'calibration', image_size=args.size)
    if args.world == 'pets':
        from vsync_ros.data.pets_world import pets_world
        from vsync_ros.data.readers.pets_tracks import TEST_TRACKS, TRAIN_TRACKS
        cfg = CrowdWorldConfig(image_size=args.size, seed=args.seed, scene_seed=args.scene_seed,
                               gp_cell_m=args.gp_cell, gp_sigma_m=args.gp_sigma, view_sigma_px=args.view_sigma,
                               noise_std=args.noise)
        kw = ({'sequences': args.sequence} if args.sequence else
              {'train': args.train_sequences or TRAIN_TRACKS, 'test': args.test_sequences or TEST_TRACKS})
        return pets_world(args.data_root, config=cfg, **kw)
    if args.world == 'pose':
        from vsync_ros.data.motion_world import MotionWorld
        from vsync_ros.geometry.presets import studio_cameras
        if args.rig is None:
            cams, centre, source = studio_cameras(*args.size), (0.0, 0.0), None
        else:
            from vsync_ros.data.crowd_world import rig_source
            from vsync_ros.geometry.rig import cameras_at_size, read_rig
            rig = read_rig(args.rig)
            cams = cameras_at_size(rig.cameras, *args.size, where=f'rig folder {args.rig}')
            r = rig.region
            centre, source = (r.x0 + r.width_m / 2, r.y0 + r.height_m / 2), rig_source(str(args.rig))
        return MotionWorld(cams, n_people=args.pose_people, seed=args.seed, noise_std=args.noise,
                           segment_s=args.segment_s, centre_xy=centre, rig_source=source)
    lo, hi = args.people
    cfg = CrowdWorldConfig(rig=str(args.rig.resolve()) if args.rig is not None else 'plaza', image_size=args.size,
                           crowd=crowd_params(lo, hi), seed=args.seed,
                           scene_seed=args.scene_seed, gp_cell_m=args.gp_cell, gp_sigma_m=args.gp_sigma,
                           view_sigma_px=args.view_sigma, noise_std=args.noise)
    return CrowdWorld(cfg)


RIG_WIDTH = 192
"""Preferred image width (pixels) of a data set on a rig folder (the small training configuration's width)."""
MODEL_STEP = 16
"""The counting models' input sides are multiples of this (2 ** (num_scales + 1) of config/train/small.yaml)."""


def rig_image_size(width: int, height: int, target_width: int = RIG_WIDTH, step: int = MODEL_STEP) -> tuple[int, int]:
    """Default stored (and model input) size for a rig whose reference camera is ``width`` x ``height`` pixels.

    The size whose sides are multiples of ``step`` (a valid model input), whose aspect ratio is the camera's
    within 1 % and whose width is nearest ``target_width``: 4:3 gives 192x144, 16:9 256x144, 5:4 180x144 is
    not a multiple of 16 so 160x128. Without such a size up to 4 x ``target_width``: ``target_width`` wide at
    the camera's aspect, height rounded to whole pixels (at least 16).
    """
    from vsync_ros.geometry.calibration import same_aspect

    best: tuple[int, int, int] | None = None
    for w in range(step, 4 * target_width + 1, step):
        h = round(w * height / width / step) * step
        if h >= step and same_aspect(w, h, width, height) and (best is None or abs(w - target_width) < best[0]):
            best = (abs(w - target_width), w, h)
    if best is None:
        return target_width, max(16, round(target_width * height / width))
    return best[1], best[2]


def _check_rig(args) -> str:
    """Read ``--rig``, set the default ``--size`` from it and check every camera against that size.

    Returns a one-line description for the log. Raises CalibrationError (naming the file and the field, or
    the camera) for a missing or broken rig folder, fewer than 2 cameras or a camera of another aspect ratio.
    """
    from vsync_ros.geometry.camera import CalibrationError
    from vsync_ros.geometry.rig import cameras_at_size, read_rig, rig_name

    rig = read_rig(args.rig)
    if len(rig.cameras) < 2:
        raise CalibrationError(f'rig folder {args.rig} has {len(rig.cameras)} camera; the models need at least 2 views')
    ref = rig.cameras[0]
    if args.size is None:
        args.size = rig_image_size(ref.width, ref.height)
    cameras_at_size(rig.cameras, *args.size, where=f'rig folder {args.rig}')
    w, h = args.size
    r = rig.region
    line = (f'rig {rig_name(args.rig)}: {len(rig.cameras)} views ({", ".join(c.name for c in rig.cameras)}), '
            f'{ref.width}x{ref.height} px -> {w}x{h} images')
    if args.world == 'crowd':
        line += f', ground region {r.width_m:g} m x {r.height_m:g} m at ({r.x0:g}, {r.y0:g})'
    mw, mh = (w, h) if w % MODEL_STEP == 0 and h % MODEL_STEP == 0 else rig_image_size(w, h)
    if (mw, mh) != (192, 144):
        line += f'; train at this aspect ratio, e.g. model.image_width={mw} model.image_height={mh}'
    return line


def _check_scene_options(args) -> None:
    """Refuse contradictory scene options; ``args.scene_seed`` defaults to 0."""
    if args.scenes is not None or args.test_scenes is not None:
        if args.scenes is None:
            raise SystemExit('vsync-synth: --test-scenes needs --scenes')
        if args.scene_seed is not None:
            raise SystemExit('vsync-synth: give --scenes (randomized scenes) or --scene-seed (one scene), not both')
        if args.world != 'crowd':
            raise SystemExit(f'vsync-synth: --scenes randomizes the plaza of the crowd world, not --world {args.world}')
        if args.scenes < 1 or (args.test_scenes is not None and args.test_scenes < 1):
            raise SystemExit('vsync-synth: --scenes and --test-scenes must be >= 1')
    if args.test_on_train_scenes_of is not None and args.scenes is None:
        raise SystemExit('vsync-synth: --test-on-train-scenes-of needs --scenes')
    if args.scene_seed is None:
        args.scene_seed = 0


def main(argv=None) -> int:
    """Entry point of ``vsync-synth``."""
    args = build_parser().parse_args(argv)
    from vsync_ros.data.contact_sheet import make_contact_sheet
    from vsync_ros.data.generate import generate_dataset
    sheet = args.sheet or args.out / 'contact_sheet.png'
    if args.sheet_only:
        print(make_contact_sheet(args.out, sheet, n_samples=args.sheet_samples))
        return 0
    pets = args.world in ('pets', 'pets-frames')
    if pets:
        if args.data_root is None:
            raise SystemExit(f'vsync-synth: --world {args.world} needs --data-root (the PETS2009 calibration'
                             + (' and annotations)' if args.world == 'pets' else ')'))
        if args.sequence and (args.train_sequences or args.test_sequences):
            raise SystemExit('vsync-synth: give --sequence or --train-sequences / --test-sequences, not both')
    elif args.data_root or args.sequence or args.train_sequences or args.test_sequences:
        raise SystemExit('vsync-synth: --data-root and the sequence options need --world pets')
    if args.world == 'pets-frames':
        if args.frames_root is None:
            raise SystemExit('vsync-synth: --world pets-frames needs --frames-root (the MVMS release of PETS2009)')
        if args.sequence or args.train_sequences or args.test_sequences:
            raise SystemExit('vsync-synth: --world pets-frames uses the MVMS split of the release; '
                             'the sequence options are for --world pets')
        if args.quantum is None:
            args.quantum = 1.0 / 7.0  # whole frames: the release has nothing between them
    elif args.frames_root is not None:
        raise SystemExit('vsync-synth: --frames-root needs --world pets-frames')
    _check_scene_options(args)
    if args.rig is not None:
        from vsync_ros.geometry.camera import CalibrationError
        if pets:
            print('vsync-synth: error: --rig is for --world crowd or pose (--world pets uses the real PETS2009 rig)',
                  file=sys.stderr)
            return 2
        try:
            print(_check_rig(args))
        except CalibrationError as exc:
            print(f'vsync-synth: error: {exc}', file=sys.stderr)
            return 2
    if args.size is None:
        args.size = (384, 288) if pets else (192, 144)
    if args.n_train is None:
        args.n_train = None if pets else 800
    if args.n_test is None:
        args.n_test = None if pets else 200
    try:
        world = _make_world(args)
        if args.scenes:
            from vsync_ros.data.scene_schedule import SceneSchedule
            n_test = args.test_scenes or args.scenes
            seeds = None
            if args.test_on_train_scenes_of is not None:
                from vsync_ros.data.scene_schedule import draw_scene_seeds
                seeds = {'test': draw_scene_seeds(args.test_on_train_scenes_of, n_test, 'train')}
            world = SceneSchedule(world, {'train': args.scenes, 'test': n_test}, seeds)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f'vsync-synth: {exc}') from exc
    n_views = len(world.cameras)
    if args.preset is None:
        args.preset = 'h36m_train' if args.world == 'pose' else 'pets'
    kw = {'n_views': n_views, 'mode': args.mode, 'seed': args.seed if args.desync_seed is None else args.desync_seed}
    if args.kappa is not None:
        kw['kappa_s'] = args.kappa
    if args.tau is not None:
        if not args.preset.startswith('h36m'):
            kw['tau_s'] = args.tau
    if args.quantum is not None:
        kw['quantum_s'] = args.quantum
    try:
        desync = preset(args.preset, **kw)
        changes = {'t0_s': args.t0}
        if args.tau is not None and args.preset.startswith('h36m'):
            changes['tau_s'] = [0.0] + [args.tau[(i - 1) % len(args.tau)] for i in range(1, n_views)]
        if args.dt is not None:
            changes['dt_s'] = args.dt
        mp = args.missing_prob
        changes['missing_prob'] = mp[0] if len(mp) == 1 else mp
        desync = desync.with_(**changes)
    except ValueError as exc:
        raise SystemExit(f'vsync-synth: {exc}') from exc
    start = time.perf_counter()
    try:
        manifest = generate_dataset(args.out, world, desync, n_train=args.n_train, n_test=args.n_test,
                                    image_size=args.size, image_format=args.format, jpeg_quality=args.jpeg_quality,
                                    test_gap_s=args.test_gap, progress=not args.no_progress,
                                    overwrite=args.overwrite)
    except (FileExistsError, ValueError) as exc:
        raise SystemExit(f'vsync-synth: {exc}') from exc
    elapsed = time.perf_counter() - start
    n = sum(int(info['n']) for info in manifest['splits'].values())
    for split, info in manifest['splits'].items():
        if 'n_dropped' in info:
            print(f'{split}: {info["n"]} frame sets ({info["n_dropped"]} dropped: a view time outside its sequence)')
    rate = elapsed / max(n, 1) * 1000
    print(f'wrote {n} samples x {n_views} views to {args.out} in {elapsed:.1f} s ({rate:.0f} ms/sample)')
    if not args.no_sheet:
        print(f'contact sheet: {make_contact_sheet(args.out, sheet, n_samples=args.sheet_samples)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
