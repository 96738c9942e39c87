"""ament_python set-up for vsync_ros; works under colcon and under plain pip."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'vsync_ros'


def tree(folder: str) -> list:
    """Return data_files entries installing every file below ``folder`` into share/<pkg>/."""
    entries = {}
    for path in glob(os.path.join(folder, '**', '*'), recursive=True):
        if os.path.isfile(path) and '__pycache__' not in path:
            dest = os.path.join('share', PACKAGE, os.path.dirname(path))
            entries.setdefault(dest, []).append(path)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        *tree('launch'),
        *tree('config'),
        *tree('models'),
        *tree('rviz'),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml', 'tqdm'],
    zip_safe=True,
    maintainer='vsync_ros developers',
    maintainer_email='vsync-ros@example.org',
    description='Deep view synchronization for unsynchronized multi-camera surveillance (ROS 2).',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'vsync-synth = vsync_ros.data.cli:main',
            'vsync-rig = vsync_ros.data.rig_cli:main',
            'vsync-train = vsync_ros.engine.train:main',
            'vsync-eval = vsync_ros.engine.evaluate:main',
            'vsync-bench = vsync_ros.reports.bench:main',
            'vsync-demo = vsync_ros.ros.demo:main',
            'vsync-bag-eval = vsync_ros.ros.bag_eval:main',
            'vsync-bag-write = vsync_ros.runtime.bag_write:main',
            'sync_node = vsync_ros.ros.sync_node:main',
            'replay_node = vsync_ros.ros.replay_node:main',
        ],
    },
)
