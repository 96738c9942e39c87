"""vsync-synth command line."""
import json
import re
import subprocess
import sys

import pytest

from vsync_ros.data.cli import build_parser, main
from vsync_ros.data.dataset import SyncDataset


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != 'help':
            assert action.help and len(action.help) > 10, action.dest
    for word in ('kappa', 'tau', 'contact sheet', 'manifest.json', 'random', 'constant'):
        assert word in text


def test_python_m_entry_point():
    out = subprocess.run([sys.executable, '-m', 'vsync_ros.data.cli', '--help'], capture_output=True, text=True,
                         check=True)
    assert 'vsync-synth' in out.stdout and '--n-train' in out.stdout


@pytest.mark.slow  # synthesizes a data set
def test_generate_small_set_with_contact_sheet(tmp_path, capsys):
    out = tmp_path / 'set'
    rc = main([str(out), '--n-train', '3', '--n-test', '2', '--size', '96x72', '--mode', 'constant', '--tau', '2',
               '-2', '--people', '5', '8', '--seed', '7', '--missing-prob', '0', '0.5', '0', '--no-progress'])
    assert rc == 0
    printed = capsys.readouterr().out
    assert re.search(r'wrote 5 samples x 3 views .* ms/sample', printed)
    m = json.loads((out / 'manifest.json').read_text())
    assert m['desync']['mode'] == 'constant' and m['desync']['tau_s'] == [0.0, 2.0, -2.0]
    assert m['desync']['missing_prob'] == [0.0, 0.5, 0.0] and m['seed'] == 7
    assert m['world']['config']['crowd']['n_people'] == [5, 8]
    assert (out / 'contact_sheet.png').is_file()
    ds = SyncDataset(out, 'train')
    assert ds[0]['images'].shape == (3, 3, 72, 96)
    # sheet-only mode rewrites the preview; an existing data set is not overwritten silently
    (out / 'contact_sheet.png').unlink()
    assert main([str(out), '--sheet-only']) == 0 and (out / 'contact_sheet.png').is_file()
    with pytest.raises(SystemExit, match='not empty'):
        main([str(out), '--n-train', '1', '--n-test', '1', '--size', '96x72', '--no-progress'])


def test_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'x'), '--size', '96by72'])
    with pytest.raises(SystemExit, match='missing_prob'):
        main([str(tmp_path / 'x'), '--missing-prob', '1.5', '--size', '96x72', '--no-progress'])
