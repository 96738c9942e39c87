"""Dataclass configurations from YAML: type checking, ``inherit:`` chains and dotted overrides.

The generic machinery behind every config of the package (model, loss, training, data, sync). A
config file is a YAML mapping of sections; a file may start from another one with
``inherit: other.yaml`` (path relative to the file), merged key by key with the inheriting file
winning. Command-line overrides use dotted keys, ``model.flow_width=0.5``, with values parsed as
YAML (``model.corr_levels=[1,2]``, ``train.init_checkpoint=null``). Unknown keys and values of the
wrong type raise :class:`ConfigError` naming the key.

Imports nothing of vsync_ros (bottom layer).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file, section, key or value is invalid."""


def choice(key: str, value: Any, allowed: tuple) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed`` (``key`` names the field)."""
    if value not in allowed:
        raise ConfigError(f'{key} must be one of {list(allowed)}, got {value!r}')


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check / convert ``value`` to the dataclass field type ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for alternative in inner[:-1]:  # e.g. ``float | list[float]``: the first type that fits
            try:
                return coerce(key, value, alternative)
            except ConfigError:
                pass
        return coerce(key, value, inner[-1])
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f'{key} must be a list, got {value!r}')
        return [coerce(f'{key}[{i}]', v, args[0]) for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{key} must be true or false, got {value!r}')
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{key} must be an integer, got {value!r}')
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{key} must be a number, got {value!r}')
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f'{key} must be a string, got {value!r}')
        return value
    return value


def section_from_dict(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f'section {prefix!r} must be a mapping, got {type(data).__name__}')
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f'unknown key {prefix}.{unknown[0]} (known: {", ".join(sorted(names))})')
    kwargs = {k: coerce(f'{prefix}.{k}', v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


def nested_get(doc: Any, keys: typing.Sequence[Any]) -> Any:
    """``doc[keys[0]][keys[1]]...`` of nested dicts.

    Raises:
        KeyError: with the dotted path up to the first key that is missing (or whose parent is no dict),
            e.g. ``'K.data'``, so a caller can name the file and the field in its own error.
    """
    value = doc
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise KeyError('.'.join(map(str, keys[:depth + 1])))
        value = value[key]
    return value


def deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml_tree(path: Path, seen: tuple = ()) -> dict:
    path = Path(path)
    if path.resolve() in seen:
        raise ConfigError(f'config inheritance loop at {path}')
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'config {path} is not valid YAML: {exc}') from exc
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ConfigError(f'config {path} must be a YAML mapping')
    parent = doc.pop('inherit', None)
    if parent:
        base = read_yaml_tree(path.parent / parent, seen + (path.resolve(),))
        doc = deep_merge(base, doc)
    return doc


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'model.flow_width=0.5'`` -> (['model', 'flow_width'], 0.5); the value is parsed as YAML."""
    if '=' not in text:
        raise ConfigError(f'override {text!r} must look like section.key=value')
    key, raw = text.split('=', 1)
    parts = [p for p in key.strip().split('.') if p]
    if len(parts) != 2:
        raise ConfigError(f'override key {key!r} must be section.key (e.g. train.lr=1e-3)')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as exc:
        raise ConfigError(f'override {text!r}: value is not valid YAML: {exc}') from exc
    return parts, value


def apply_overrides(data: dict, overrides: list[str], sections: typing.Iterable[str]) -> dict:
    """Return ``data`` with every ``section.key=value`` override applied (``section`` one of ``sections``)."""
    data = deep_merge({}, data)
    sections = list(sections)
    for text in overrides or []:
        (section, key), value = parse_override(text)
        if section not in sections:
            raise ConfigError(f'override {text!r}: unknown section {section!r} (known: {", ".join(sections)})')
        data.setdefault(section, {})
        data[section] = dict(data[section] or {})
        data[section][key] = value
    return data
