"""Config dataclasses, YAML loading with inheritance, dotted overrides, shipped configs."""
from pathlib import Path

import pytest

from vsync_ros.engine.config import config_from_dict, dump_config, load_config
from vsync_ros.yaml_config import ConfigError, apply_overrides

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'config' / 'train'


def test_model_defaults_are_the_shipped_small_model_and_paper_yaml_the_paper_model():
    cfg = config_from_dict({})
    assert cfg.model == load_config(CONFIG_DIR / 'small.yaml').model
    assert cfg.model.method == 'cls_epi' and cfg.model.flow_width == 0.25 and cfg.model.epipolar_kernel == 'gauss'
    assert (cfg.model.image_height, cfg.model.image_width) == (144, 192)
    paper = load_config(CONFIG_DIR / 'paper.yaml').model
    assert paper.method == 'cls_epi' and paper.flow_width == 1.0 and paper.corr_levels == [0, 1, 2]
    assert (paper.image_height, paper.image_width) == (288, 384)
    assert paper.feature_hw(0) == (72, 96) and paper.feature_stride(2) == 16


@pytest.mark.parametrize('path', sorted(p for p in CONFIG_DIR.glob('*.yaml') if not p.name.startswith('pose_')),
                         ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    if path.name.startswith('small'):
        assert (cfg.model.image_height, cfg.model.image_width) == (144, 192)
        # the issue-12 sync architecture: matching at the coarsest level on the counting features
        assert cfg.model.corr_levels == [2] and cfg.model.flow_features == 'shared_detached'
    if 'base' in path.name:
        assert cfg.model.method == 'base'
    assert Path(cfg.train.out).stem == path.stem


def test_inheritance_and_overrides(tmp_path):
    (tmp_path / 'base.yaml').write_text('model: {method: cls_cor, flow_width: 0.5}\ntrain: {lr: 0.01}\n')
    (tmp_path / 'child.yaml').write_text('inherit: base.yaml\nmodel: {method: sls}\n')
    cfg = load_config(tmp_path / 'child.yaml', ['train.lr=1e-4', 'model.corr_levels=[1, 2]',
                                                'train.init_checkpoint=null', 'loss.sync_loss=sim'])
    assert cfg.model.method == 'sls' and cfg.model.flow_width == 0.5
    assert cfg.train.lr == 1e-4 and cfg.model.corr_levels == [1, 2] and cfg.train.init_checkpoint is None
    assert cfg.loss.sync_loss == 'sim'
    dump_config(cfg, tmp_path / 'dumped.yaml')
    assert load_config(tmp_path / 'dumped.yaml').to_dict() == cfg.to_dict()


@pytest.mark.parametrize('overrides,match', [
    (['model.flow_widht=1'], r'unknown key model\.flow_widht'),
    (['model.method=foo'], r'model\.method must be one of'),
    (['model.flow_width=abc'], r'model\.flow_width must be a number'),
    (['model.lrn=1'], r'model\.lrn must be true or false'),
    (['model.image_height=100'], r'multiples of'),
    (['model.corr_levels=[0, 1]'], r'coarsest'),
    (['nope.x=1'], r'unknown section'),
    (['train.lr'], r'section\.key=value'),
    (['lr=3'], r'section\.key'),
])
def test_bad_values_name_the_key(overrides, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(apply_overrides({}, overrides, ('model', 'loss', 'train', 'data')))


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match='cannot read'):
        load_config(tmp_path / 'missing.yaml')
    (tmp_path / 'bad.yaml').write_text('model: [1, 2')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_config(tmp_path / 'bad.yaml')
    (tmp_path / 'loop.yaml').write_text('inherit: loop.yaml\n')
    with pytest.raises(ConfigError, match='loop'):
        load_config(tmp_path / 'loop.yaml')
