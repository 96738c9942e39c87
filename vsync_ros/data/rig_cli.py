"""``vsync-rig``: import your own cameras as a rig folder, and show a rig's coverage.

Examples::

    vsync-rig import --from tsai View_001.xml View_002.xml View_003.xml --out rigs/pets
    vsync-rig import --from h36m camera-parameters.json --subject S1 --max-range 6 --out rigs/h36m_s1
    vsync-rig import --from camera_info config/cameras/plaza --out rigs/plaza --region 0 0 20 24 --cell 0.4
    vsync-rig import --from opencv cam1.yaml cam2.yaml --image-size 1920x1080 --units mm --out rigs/mine
    vsync-rig show rigs/pets

Formats: camera_info (the package's ROS camera_info YAML with an ``extrinsics`` block, files or folders),
tsai (PETS2009-style Tsai XML, mm), h36m (Human3.6M camera JSON, mm; pick the subject), opencv (FileStorage
YAML/XML with K, D, R or rvec, t; world -> camera). The rig folder holds ``rig.yaml``, ``cameras/<name>.yaml``
and ``coverage.png``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ('camera_info', 'tsai', 'h36m', 'opencv')


def _image_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'image size must be WxH in pixels, e.g. 768x576, got {text!r}') from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f'image size must be positive, got {text!r}')
    return w, h


def build_parser() -> argparse.ArgumentParser:
    """The ``vsync-rig`` argument parser (no heavy imports)."""
    parser = argparse.ArgumentParser(prog='vsync-rig', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    imp = sub.add_parser('import', help='import cameras into a rig folder',
                         description='Import calibrated cameras into a rig folder (cameras/, rig.yaml, coverage.png).')
    imp.add_argument('--from', dest='fmt', choices=FORMATS, required=True, help='calibration format of INPUTS')
    imp.add_argument('inputs', nargs='+', metavar='INPUTS',
                     help='calibration files (view order = the order given) or folders (their files, by name)')
    imp.add_argument('--out', type=Path, required=True, help='rig folder to write')
    imp.add_argument('--subject', default='', help='Human3.6M subject of the extrinsics (S1, S5, ...); h36m only')
    imp.add_argument('--image-size', type=_image_size, default=None, metavar='WxH',
                     help='image size in pixels: rescales the cameras (required for OpenCV files without a size)')
    imp.add_argument('--units', choices=('auto', 'm', 'mm'), default='auto',
                     help='length unit of the translations (camera_info, opencv); auto: from the camera heights. '
                          'tsai and h36m are mm by definition')
    imp.add_argument('--region', type=float, nargs=4, metavar=('X0', 'Y0', 'W', 'H'), default=None,
                     help='ground region in metres (default: chosen from the coverage)')
    imp.add_argument('--cell', type=float, default=0.4, help='ground cell size, metres (default 0.4)')
    _coverage_args(imp)
    imp.add_argument('--force', action='store_true', help='overwrite an existing rig folder')
    show = sub.add_parser('show', help='print a rig folder summary and write its coverage picture',
                          description='Print a rig summary and write its coverage picture.')
    show.add_argument('folder', type=Path, help='rig folder (with rig.yaml)')
    show.add_argument('--png', type=Path, default=None, help='picture path (default: FOLDER/coverage.png)')
    return parser


def _coverage_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--min-views', type=int, default=2,
                        help='views that must see a cell for the automatic region (default 2)')
    parser.add_argument('--min-person-px', type=float, default=None,
                        help='a view sees a cell when a person standing there is at least this tall in the image, '
                             'pixels (default 24)')
    parser.add_argument('--head-height', type=float, default=None, help='person head height, metres (default 1.7)')
    parser.add_argument('--max-range', type=float, default=0.0,
                        help='largest distance from a camera to a cell it sees, metres (0: no limit; for rooms)')


def _read_cameras(args: argparse.Namespace):
    """(cameras in metres, source files, unit of the source) for ``import``."""
    from vsync_ros.geometry import calibration_formats as cf
    from vsync_ros.geometry.camera import CalibrationError

    if args.subject and args.fmt != 'h36m':
        raise CalibrationError('--subject is for --from h36m only')
    if args.fmt == 'h36m':
        if len(args.inputs) != 1:
            raise CalibrationError('--from h36m takes one file: camera-parameters.json')
        if not args.subject:
            subjects = cf.h36m_subjects(args.inputs[0])
            raise CalibrationError(f'--from h36m needs --subject (extrinsics differ per subject): '
                                   f'{", ".join(subjects)}')
        cams = cf.read_h36m_cameras(args.inputs[0], args.subject)
        cams = cf.with_image_size(cf.to_metres(cams, 'mm'), args.image_size)
        return cams, [f'{args.inputs[0]}#{c.name}' for c in cams], 'mm'
    if args.fmt == 'tsai':
        from vsync_ros.data.readers.tsai import read_tsai_xml

        files = cf.calibration_files(args.inputs, ('.xml',))
        return [read_tsai_xml(p, image_size=args.image_size) for p in files], [str(p) for p in files], 'mm'
    if args.fmt == 'camera_info':
        files = cf.calibration_files(args.inputs)
        cams = cf.with_image_size(cf.read_camera_info_files(files), args.image_size)
    else:
        files = cf.calibration_files(args.inputs, ('.yaml', '.yml', '.xml', '.json'))
        cams = [cf.read_opencv_yaml(p, args.image_size) for p in files]
    unit = cf.detect_length_unit(cams) if args.units == 'auto' else args.units
    return cf.to_metres(cams, unit), [str(p) for p in files], unit


def _settings(args: argparse.Namespace, base=None):
    from vsync_ros.geometry.rig import CoverageSettings

    base = base or CoverageSettings()
    return CoverageSettings(head_m=args.head_height if args.head_height is not None else base.head_m,
                            min_person_px=args.min_person_px if args.min_person_px is not None else base.min_person_px,
                            min_views=args.min_views if args.min_views is not None else base.min_views,
                            max_range_m=args.max_range if args.max_range is not None else base.max_range_m)


def summary(rig, coverage) -> str:
    """Plain-text summary of a rig and its coverage (metres, degrees, pixels)."""
    from vsync_ros.geometry.rig import camera_heading, horizontal_fov_deg

    s = rig.coverage
    lines = [f'{len(rig.cameras)} views (view 0 is the reference), from {rig.source_format} '
             f'(translations in {rig.source_unit}{", subject " + rig.subject if rig.subject else ""}):']
    for v, cam in enumerate(rig.cameras):
        az, tilt = camera_heading(cam)
        x, y, z = cam.center
        lines.append(f'  {v}: {cam.name:<12} {cam.width}x{cam.height} px, {cam.distortion_model}, '
                     f'at ({x:.2f}, {y:.2f}) m, height {z:.2f} m, heading {az:.0f} deg, {tilt:.0f} deg down, '
                     f'hfov {horizontal_fov_deg(cam):.0f} deg, '
                     f'sees {float(coverage.seen[v].sum()) * coverage.grid.cell_m ** 2:.0f} m2'
                     + (f'  <- {rig.sources[v]}' if v < len(rig.sources) and rig.sources[v] else ''))
    r = rig.region
    rows, cols = r.shape
    lines.append(f'ground region ({rig.region_from}): x0 {r.x0:g} y0 {r.y0:g} m, {r.width_m:g} x {r.height_m:g} m, '
                 f'cell {r.cell_m:g} m ({rows} x {cols} cells)')
    lines.append(f'coverage (a person {s.head_m:g} m tall, at least {s.min_person_px:g} px in the image'
                 + (f', within {s.max_range_m:g} m' if s.max_range_m else '') + '): '
                 + ', '.join(f'>= {k} views {coverage.area_m2(k):.0f} m2' for k in range(1, len(rig.cameras) + 1)))
    lines.append(f'  {100 * coverage.region_fraction(r, s.min_views):.0f} % of the region is seen by >= '
                 f'{s.min_views} views, {100 * coverage.region_fraction(r, 1):.0f} % by at least one')
    return '\n'.join(lines)


def _far_field_hint(rig) -> str:
    """A hint when the region is far larger than the camera spread (rooms: walls are not in the calibration)."""
    import numpy as np

    c = np.array([cam.center[:2] for cam in rig.cameras])
    spread = np.prod(np.maximum(c.max(axis=0) - c.min(axis=0), 1.0) + 2.0)
    area = rig.region.width_m * rig.region.height_m
    if rig.region_from == 'auto' and area > 10 * spread:
        return (f'note: the region ({rig.region.width_m:g} x {rig.region.height_m:g} m) is far larger than the area '
                f'of the cameras; for a room give --max-range (metres) or --region X0 Y0 W H')
    return ''


def cmd_import(args: argparse.Namespace) -> int:
    """``vsync-rig import``: read, validate, choose the region, write the rig folder and its picture."""
    from vsync_ros.data.rig_picture import write_coverage_png
    from vsync_ros.geometry.ground import GroundRegion
    from vsync_ros.geometry.rig import RIG_FILE, Rig, check_camera_names, choose_region, rig_coverage, write_rig

    if (args.out / RIG_FILE).exists() and not args.force:
        raise FileExistsError(f'{args.out / RIG_FILE} exists: pass --force to overwrite the rig folder')
    cams, sources, unit = _read_cameras(args)
    check_camera_names(cams, sources)
    settings = _settings(args)
    if args.region is not None:
        region = GroundRegion(*args.region, args.cell)
        coverage = rig_coverage(cams, args.cell, settings, region)
        region_from = 'given'
    else:
        coverage = rig_coverage(cams, args.cell, settings)
        region = choose_region(coverage.grid, coverage.seen, settings.min_views)
        region_from = 'auto'
    rig = Rig(cams, region, sources, args.fmt, unit, region_from, settings, args.subject)
    path = write_rig(rig, args.out)
    png = write_coverage_png(args.out / 'coverage.png', cams, coverage, region, _title(rig, args.out))
    print(summary(rig, coverage))
    hint = _far_field_hint(rig)
    if hint:
        print(hint)
    print(f'wrote {path}, {args.out / "cameras"}/ ({len(cams)} cameras), {png}')
    return 0


def _title(rig, folder: Path) -> str:
    return f'{folder.name}: {len(rig.cameras)} views from {rig.source_format}' + \
        (f' ({rig.subject})' if rig.subject else '')


def cmd_show(args: argparse.Namespace) -> int:
    """``vsync-rig show``: print the summary of a rig folder and write its coverage picture."""
    from vsync_ros.data.rig_picture import write_coverage_png
    from vsync_ros.geometry.rig import read_rig, rig_coverage

    rig = read_rig(args.folder)
    coverage = rig_coverage(rig.cameras, rig.region.cell_m, rig.coverage, rig.region)
    png = write_coverage_png(args.png or args.folder / 'coverage.png', rig.cameras, coverage, rig.region,
                             _title(rig, args.folder.resolve()))
    print(summary(rig, coverage))
    print(f'wrote {png}')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vsync-rig``; errors in the inputs end with a one-line message and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vsync_ros.geometry.camera import CalibrationError

    try:
        return cmd_import(args) if args.command == 'import' else cmd_show(args)
    except (CalibrationError, FileExistsError, OSError) as exc:
        print(f'vsync-rig: error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
