"""The package installs the ament layout with pip and with colcon's setup.py invocation."""
import configparser
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXECUTABLES = ['sync_node', 'replay_node', 'vsync-synth', 'vsync-train', 'vsync-eval', 'vsync-bench',
               'vsync-bag-eval', 'vsync-bag-write', 'vsync-demo']


def _check_share(prefix: Path) -> None:
    assert (prefix / 'share/ament_index/resource_index/packages/vsync_ros').is_file()
    share = prefix / 'share/vsync_ros'
    assert (share / 'package.xml').is_file()
    for sub in ('launch', 'config', 'models'):
        assert (share / sub).is_dir(), sub
    assert (share / 'config/cameras/plaza/cam1.yaml').is_file()


@pytest.mark.slow
def test_pip_install_into_empty_prefix(tmp_path, repo_root):
    prefix = tmp_path / 'prefix'
    # --ignore-installed: without it pip first uninstalls the venv's own (editable) vsync_ros
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
                    '--ignore-installed', '--prefix', str(prefix), str(repo_root)], check=True, cwd=tmp_path)
    _check_share(prefix)
    # pip ignores setup.cfg's install_scripts: console scripts land in bin/ (see README).
    for exe in EXECUTABLES:
        assert (prefix / 'bin' / exe).is_file(), exe


@pytest.mark.slow
def test_colcon_style_install_puts_executables_in_lib(tmp_path, repo_root):
    """colcon runs `setup.py install --install-scripts <prefix>/lib/<pkg>`; ros2 run looks there."""
    prefix = tmp_path / 'install'
    build = tmp_path / 'build'
    subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', str(tmp_path),
                    'build', '--build-base', str(build),
                    'install', '--prefix', str(prefix), '--install-scripts', str(prefix / 'lib/vsync_ros'),
                    '--single-version-externally-managed', '--record', str(tmp_path / 'rec.txt')],
                   check=True, cwd=repo_root, capture_output=True)
    _check_share(prefix)
    for exe in EXECUTABLES:
        path = prefix / 'lib/vsync_ros' / exe
        assert path.is_file() and path.stat().st_mode & 0o111, exe


def test_package_xml_is_format3_with_required_depends(repo_root):
    root = ET.parse(repo_root / 'package.xml').getroot()
    assert root.get('format') == '3' and root.findtext('name') == 'vsync_ros'
    execs = {e.text for e in root.findall('exec_depend')}
    assert {'rclpy', 'sensor_msgs', 'std_msgs', 'visualization_msgs', 'geometry_msgs',
            'python3-numpy', 'python3-opencv'} <= execs
    tests = {e.text for e in root.findall('test_depend')}
    assert {'launch_testing', 'python3-pytest'} <= tests
    assert root.find('export/build_type').text == 'ament_python'


def test_setup_cfg_points_scripts_to_lib(repo_root):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(repo_root / 'setup.cfg')
    assert cfg['install']['install_scripts'] == cfg['develop']['script_dir'] == '$base/lib/vsync_ros'
    assert (repo_root / 'resource/vsync_ros').is_file()
