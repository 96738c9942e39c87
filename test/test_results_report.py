"""The results report: Markdown tables in the paper's layout and model cards from checkpoint metadata."""
import pytest
import yaml
from pipeline_support import make_checkpoint

from vsync_ros.data.desync import preset
from vsync_ros.data.generate import generate_dataset
from vsync_ros.reports.results import main, markdown_tables, model_card


def test_markdown_tables_layout():
    rows = [
        {'table': 'III', 'loss': 'l_p', 'label': 'BaseU',
         'metrics': {'random': {'mae': 1.234, 'nae': 0.1}, 'constant': {'mae': 2.0, 'nae': 0.2}}},
        {'table': 'III', 'loss': 'l_p, l_s', 'label': 'CLS-epi', 'metrics': {'random': {'mae': 0.9, 'nae': 0.07}}},
        {'table': 'II', 'loss': 'l_p', 'label': 'BaseS', 'metrics': {}},
    ]
    md = markdown_tables(rows, ['random', 'constant'])
    assert md.index('Table II') < md.index('Table III')
    assert '| l_p | BaseU | 1.23 | 0.100 | 2.00 | 0.200 |' in md
    assert '| l_p, l_s | CLS-epi | 0.90 | 0.070 | - | - |' in md
    assert '| l_p | BaseS | - | - | - | - |' in md


@pytest.mark.slow  # synthesizes a data set
def test_report_end_to_end_writes_tables_and_cards(tmp_path):
    data = tmp_path / 'data'
    generate_dataset(data, desync=preset('pets'), n_train=2, n_test=3, image_size=(192, 144), progress=False)
    ckpt = make_checkpoint(tmp_path / 'm.pt', method='base')
    spec = {'split': 'test', 'columns': ['random'],
            'rows': [{'table': 'III', 'loss': 'l_p', 'label': 'BaseU',
                      'runs': {'random': {'checkpoint': str(ckpt), 'data': str(data)}}}]}
    (tmp_path / 'spec.yaml').write_text(yaml.safe_dump(spec))
    assert main(['--spec', str(tmp_path / 'spec.yaml'), '--json', str(tmp_path / 'r.json'),
                 '--markdown', str(tmp_path / 'r.md'), '--threads', '1']) == 0
    assert '| l_p | BaseU |' in (tmp_path / 'r.md').read_text()
    card = (tmp_path / 'm.md').read_text()
    assert 'synthetic data only' in card and '| BaseU | random |' in card
    assert model_card(ckpt, []).startswith('# m.pt')
