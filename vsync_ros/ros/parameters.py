"""Typed ROS parameter tables shared by ``sync_node`` and ``replay_node``.

Each node lists its parameters as :class:`ParameterSpec` values (name, ROS type, default, description,
whether it may change at run time, and the allowed values). This module turns such a table into
``rcl_interfaces/ParameterDescriptor`` declarations (so ``ros2 param describe`` shows the description,
the numeric range, ``read_only`` and the allowed choices), reads the values back into a dict, and
checks proposed values against the table.

Dynamic parameters follow the rclpy two-step protocol (see :func:`add_parameter_callbacks`): the
on-set callback only validates (rejecting with a reason, no side effects), the post-set callback
applies the change once rclpy has stored it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterNotDeclaredException
from rclpy.node import Node
from rclpy.parameter import Parameter

# Python types a value of each supported ROS parameter type may have (bool is not an int here)
_SCALAR_TYPES: dict[Parameter.Type, tuple[type, ...]] = {
    Parameter.Type.BOOL: (bool,),
    Parameter.Type.INTEGER: (int,),
    Parameter.Type.DOUBLE: (float, int),
    Parameter.Type.STRING: (str,),
}
_ARRAY_ITEM_TYPES: dict[Parameter.Type, tuple[type, ...]] = {
    Parameter.Type.BOOL_ARRAY: (bool,),
    Parameter.Type.INTEGER_ARRAY: (int,),
    Parameter.Type.DOUBLE_ARRAY: (float, int),
    Parameter.Type.STRING_ARRAY: (str,),
}


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter.

    Attributes:
        name: parameter name.
        type: ROS parameter type (``rclpy.parameter.Parameter.Type``); scalars and arrays supported.
        default: default value (arrays: a tuple, declared as a list; an empty array is declared by type
            only, and read back as ``[]``).
        description: text of ``ros2 param describe`` (units in the text: seconds, metres, pixels).
        dynamic: True if the node applies a change at run time; every other parameter is read-only (a
            parameter that could be set but would silently not take effect is not representable).
        choices: allowed values of a STRING parameter (empty: any string).
        value_range: inclusive ``(low, high)`` of an INTEGER or DOUBLE parameter (None: unbounded).
    """

    name: str
    type: Parameter.Type
    default: Any
    description: str
    dynamic: bool = False
    choices: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.type in _ARRAY_ITEM_TYPES and isinstance(self.default, list):
            object.__setattr__(self, 'default', tuple(self.default))  # frozen: keep the default immutable
        if self.type not in _SCALAR_TYPES and self.type not in _ARRAY_ITEM_TYPES:
            raise ValueError(f'parameter {self.name}: unsupported type {self.type}')
        if self.choices and self.type != Parameter.Type.STRING:
            raise ValueError(f'parameter {self.name}: choices need a STRING parameter')
        if self.value_range is not None:
            if self.type not in (Parameter.Type.INTEGER, Parameter.Type.DOUBLE):
                raise ValueError(f'parameter {self.name}: a value range needs an INTEGER or DOUBLE parameter')
            if not self.value_range[0] <= self.value_range[1]:
                raise ValueError(f'parameter {self.name}: empty value range {self.value_range}')
        problem = self.check(self.default)
        if problem:
            raise ValueError(f'default of {problem}')

    @property
    def read_only(self) -> bool:
        """The ROS ``read_only`` flag: every non-dynamic parameter."""
        return not self.dynamic

    def check(self, value: Any) -> str:
        """Why ``value`` is not allowed for this parameter ('' when it is): type, choices, range."""
        if self.type in _SCALAR_TYPES:
            if not _has_type(value, _SCALAR_TYPES[self.type]):
                return f'parameter {self.name} must be of type {self.type.name}, got {value!r}'
        else:
            items = _ARRAY_ITEM_TYPES[self.type]
            if (not isinstance(value, Sequence) or isinstance(value, (str, bytes))
                    or not all(_has_type(v, items) for v in value)):
                return f'parameter {self.name} must be of type {self.type.name}, got {value!r}'
        if self.choices and value not in self.choices:
            return f'parameter {self.name} is {value!r}; choose one of {", ".join(self.choices)}'
        if self.value_range is not None:
            low, high = self.value_range
            if not low <= value <= high:  # also refuses NaN
                return f'parameter {self.name} is {value!r}; it must be in [{low:g}, {high:g}]'
        return ''

    def descriptor(self) -> ParameterDescriptor:
        """The ``rcl_interfaces/ParameterDescriptor`` declared for this parameter."""
        d = ParameterDescriptor(name=self.name, type=self.type.value, description=self.description,
                                read_only=self.read_only)
        if self.value_range is not None and self.type == Parameter.Type.DOUBLE:
            d.floating_point_range = [FloatingPointRange(
                from_value=float(self.value_range[0]), to_value=float(self.value_range[1]), step=0.0)]
        elif self.value_range is not None:
            d.integer_range = [IntegerRange(
                from_value=int(self.value_range[0]), to_value=int(self.value_range[1]), step=1)]
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(self.choices)
        return d


def parameter_table(*specs: ParameterSpec) -> Mapping[str, ParameterSpec]:
    """A read-only name -> spec mapping in declaration order (names must be unique)."""
    table: dict[str, ParameterSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f'parameter {spec.name} is listed twice')
        table[spec.name] = spec
    return MappingProxyType(table)


def declare_parameters(node: Node, specs: Iterable[ParameterSpec]) -> None:
    """Declare every parameter of ``specs`` on ``node`` with its descriptor.

    Values come from the node's parameter overrides (command line, YAML, launch) or the defaults.
    rclpy enforces the type, the range and (later sets) ``read_only``; choices are checked by
    :func:`check_values` / :func:`add_parameter_callbacks`.
    """
    for spec in specs:
        default: Any = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        if isinstance(default, list) and not default:
            default = spec.type  # an empty list would be typed BYTE_ARRAY: declare the type, leave it unset
        node.declare_parameter(spec.name, default, spec.descriptor())


def read_parameters(node: Node, specs: Iterable[ParameterSpec]) -> dict[str, Any]:
    """Current values of ``specs`` on ``node`` by name (arrays as lists; an unset array reads as ``[]``)."""
    out: dict[str, Any] = {}
    for spec in specs:
        if not node.has_parameter(spec.name):
            raise ParameterNotDeclaredException(spec.name)
        value = node.get_parameter_or(spec.name).value  # None for a declared but unset (empty) array
        if spec.type in _ARRAY_ITEM_TYPES:  # None, a list, a tuple or an array.array
            value = [] if value is None else list(value)
        out[spec.name] = value
    return out


def check_values(table: Mapping[str, ParameterSpec], values: Mapping[str, Any]) -> str:
    """The first problem of ``values`` against ``table`` ('' when all are allowed)."""
    for name, value in values.items():
        spec = table.get(name)
        if spec is None:
            return f'unknown parameter {name}'
        problem = spec.check(value)
        if problem:
            return problem
    return ''


def validate_change(table: Mapping[str, ParameterSpec], params: Sequence[Parameter],
                    extra_check: Callable[[dict[str, Any]], str] | None = None) -> SetParametersResult:
    """On-set validation of a proposed change (no side effects).

    Refuses read-only and unknown parameters and values outside the table's choices / ranges, then asks
    ``extra_check`` (node-specific rules on the proposed ``{name: value}``; returns a reason or '').
    """
    proposed: dict[str, Any] = {}
    for prm in params:
        spec = table.get(prm.name)
        if spec is None:
            return SetParametersResult(successful=False, reason=f'unknown parameter {prm.name}')
        if spec.read_only:
            return SetParametersResult(successful=False,
                                       reason=f'parameter {prm.name} is read-only (set it at start-up)')
        proposed[prm.name] = prm.value
    reason = check_values(table, proposed) or (extra_check(proposed) if extra_check is not None else '')
    return SetParametersResult(successful=not reason, reason=reason)


def add_parameter_callbacks(node: Node, table: Mapping[str, ParameterSpec],
                            apply: Callable[[dict[str, Any]], None],
                            extra_check: Callable[[dict[str, Any]], str] | None = None) -> None:
    """Validate changes on set, apply them after they are set.

    The on-set callback (:func:`validate_change`) only decides; ``apply`` receives the ``{name: value}``
    of the dynamic parameters that rclpy has just stored (post-set callback) and makes them take effect.
    Call it after :func:`declare_parameters`, so declaration does not go through the callbacks.
    """
    def on_set(params: list[Parameter]) -> SetParametersResult:
        return validate_change(table, params, extra_check)

    def post_set(params: list[Parameter]) -> None:
        changed = {p.name: p.value for p in params if p.name in table and table[p.name].dynamic}
        if changed:
            apply(changed)

    node.add_on_set_parameters_callback(on_set)
    node.add_post_set_parameters_callback(post_set)
