"""Every ``vsync-*`` console script answers ``--help`` without importing torch (a fast, model-free start)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_HERE: set[str] = set()  # every vsync-* script is checked

PROBE = '''
import importlib, json, sys
module, func = sys.argv[1].split(':')
try:
    getattr(importlib.import_module(module), func)(['--help'])
    code = None
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ('torch', 'rclpy', 'cv2') if m in sys.modules)
print(json.dumps({'exit': code, 'heavy': heavy}))
'''


def console_scripts() -> dict[str, str]:
    """{script name: 'module:function'} of setup.py's ``console_scripts`` (read from the source, not installed)."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = [e.value for e in value.elts]
                    return {name.strip(): target.strip() for name, target in (e.split('=') for e in entries)}
    raise AssertionError('no console_scripts in setup.py')


SCRIPTS = {k: v for k, v in console_scripts().items() if k.startswith('vsync-') and k not in NOT_HERE}


def test_every_vsync_script_is_checked():
    assert {'vsync-synth', 'vsync-train', 'vsync-eval', 'vsync-bench', 'vsync-bag-eval',
            'vsync-bag-write', 'vsync-demo'} <= set(SCRIPTS)


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_help_does_not_import_torch(script):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    run = subprocess.run([sys.executable, '-c', PROBE, SCRIPTS[script]], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    *help_text, last = run.stdout.strip().splitlines()
    report = json.loads(last)
    assert report['exit'] == 0 and any('usage:' in line for line in help_text)
    assert 'torch' not in report['heavy'] and 'rclpy' not in report['heavy'], f'{script} --help imports {report}'
