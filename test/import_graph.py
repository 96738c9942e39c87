"""Helpers of test_import_graph.py: the package's file-level import graph from its source (stdlib ``ast``)."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

# Which layer may import which (README "Architecture"; each package's __init__ docstring says the same).
# 'base' is vsync_ros/__init__.py, paths.py and yaml_config.py.
_ORDER = ['base', 'geometry', 'data', 'models', 'engine', 'inference']
LAYERS = {name: {'may_import': set(_ORDER[:i + 1])} for i, name in enumerate(_ORDER)}
LAYERS['reports'] = {'may_import': set(_ORDER) | {'reports'}}
LAYERS['runtime'] = {'may_import': set(_ORDER) | {'runtime'}}
LAYERS['ros'] = {'may_import': set(LAYERS) | {'ros', 'reports', 'runtime'}}

ROS_MODULES = ('rclpy', 'rcl_interfaces', 'builtin_interfaces', 'message_filters', 'cv_bridge', 'launch',
               'launch_ros', 'rosidl_runtime_py', 'tf2_ros')


def layer_of(module: str) -> str:
    """Layer of a ``vsync_ros.*`` module: its first sub-package, or 'base' for the top-level modules."""
    parts = module.split('.')
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else 'base'


@dataclass
class Graph:
    """modules: dotted name -> file; edges: dotted name -> imported vsync_ros modules (files)."""

    modules: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)

    def all_targets(self, module: str) -> set[str]:
        """Every module reachable from ``module``."""
        seen, todo = set(), [module]
        while todo:
            for nxt in self.edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen


def _module_name(path: Path, pkg_root: Path) -> str:
    rel = path.relative_to(pkg_root.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The file-backed module of a dotted import target (longest existing prefix)."""
    parts = name.split('.')
    for n in range(len(parts), 0, -1):
        cand = '.'.join(parts[:n])
        if cand in modules:
            return cand
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted targets of every import statement in ``tree`` (``from X import y`` gives X.y and X)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = module.split('.') if is_package else module.split('.')[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            out.extend(f'{base}.{a.name}' for a in node.names)
    return out


def build_graph(pkg_root: Path) -> Graph:
    """Import graph of the package at ``pkg_root`` (the ``vsync_ros`` folder)."""
    g = Graph()
    for path in sorted(pkg_root.rglob('*.py')):
        g.modules[_module_name(path, pkg_root)] = path
    for module, path in g.modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = set()
        for name in _imports(tree, module, path.name == '__init__.py'):
            if name.split('.')[0] != 'vsync_ros':
                continue
            hit = _resolve(name, g.modules)
            if hit is not None and hit != module:
                targets.add(hit)
        g.edges[module] = targets
    return g


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, sorted by first name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def ros_imports(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, line) of every rclpy / ROS message / ROS-only library import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split('.')[0]
            if top in ROS_MODULES or top.endswith('_msgs') or top.endswith('_srvs'):
                found.append((name, node.lineno))
    return found
