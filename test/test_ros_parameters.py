"""The typed parameter table (vsync_ros.ros.parameters) on plain rclpy nodes, and both nodes' tables."""
from __future__ import annotations

import array

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')

from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_support import ros_env  # noqa: E402

from vsync_ros.ros.parameters import (  # noqa: E402
    ParameterSpec,
    add_parameter_callbacks,
    check_values,
    declare_parameters,
    parameter_table,
    read_parameters,
    validate_change,
)
from vsync_ros.ros.replay_node import PARAMETERS as REPLAY_PARAMETERS  # noqa: E402
from vsync_ros.ros.sync_node import PARAMETERS as SYNC_PARAMETERS  # noqa: E402

DOMAIN_ID = 57

TABLE = parameter_table(
    ParameterSpec('mode', Parameter.Type.STRING, 'a', 'A choice.', dynamic=True, choices=('a', 'b')),
    ParameterSpec('rate_hz', Parameter.Type.DOUBLE, 2.0, 'A rate, hertz.', dynamic=True, value_range=(0.5, 10.0)),
    ParameterSpec('count', Parameter.Type.INTEGER, 3, 'A count.', value_range=(1, 5)),
    ParameterSpec('topics', Parameter.Type.STRING_ARRAY, ['/x'], 'Some topics.'),
    ParameterSpec('order', Parameter.Type.INTEGER_ARRAY, [], 'Some indices (empty by default).'),
    ParameterSpec('flag', Parameter.Type.BOOL, False, 'A switch.', dynamic=True),
)


@pytest.fixture(scope='module')
def context():
    with ros_env(DOMAIN_ID):
        ctx = Context()
        rclpy.init(context=ctx, domain_id=DOMAIN_ID)
        yield ctx
        rclpy.try_shutdown(context=ctx)


@pytest.fixture
def node(context):
    nd = Node('params_probe', context=context, parameter_overrides=[Parameter('count', value=4)])
    yield nd
    nd.destroy_node()


def test_spec_checks_type_choices_and_range():
    mode, rate, count, topics = (TABLE[n] for n in ('mode', 'rate_hz', 'count', 'topics'))
    assert mode.check('b') == '' and 'choose one of a, b' in mode.check('c')
    assert rate.check(0.5) == rate.check(10.0) == '' and 'must be in [0.5, 10]' in rate.check(11.0)
    assert 'must be in' in rate.check(float('nan'))
    assert 'INTEGER' in count.check(True) and 'INTEGER' in count.check(2.0) and count.check(5) == ''
    assert topics.check(['/a', '/b']) == '' and 'STRING_ARRAY' in topics.check('/a')
    assert TABLE['order'].check(array.array('q', [1, 0])) == ''  # as rclpy hands out integer arrays
    assert TABLE['topics'].default == ('/x',) and not TABLE['count'].dynamic and TABLE['count'].read_only
    assert check_values(TABLE, {'mode': 'a', 'count': 9}).startswith('parameter count is 9')
    assert check_values(TABLE, {'nope': 1}) == 'unknown parameter nope'


def test_bad_specs_and_tables_are_refused():
    with pytest.raises(ValueError, match='default'):
        ParameterSpec('x', Parameter.Type.DOUBLE, 20.0, 'Out of range.', value_range=(0.0, 1.0))
    with pytest.raises(ValueError, match='choices need a STRING'):
        ParameterSpec('x', Parameter.Type.INTEGER, 1, 'Choices on an int.', choices=('1',))
    with pytest.raises(ValueError, match='value range needs'):
        ParameterSpec('x', Parameter.Type.STRING, 'a', 'Range on a string.', value_range=(0, 1))
    with pytest.raises(ValueError, match='listed twice'):
        parameter_table(TABLE['mode'], TABLE['mode'])
    with pytest.raises(TypeError):
        TABLE['mode'] = TABLE['count']  # the table is read-only


def test_descriptors_state_range_choices_and_read_only():
    d = TABLE['rate_hz'].descriptor()
    assert (d.name, d.type, d.read_only) == ('rate_hz', Parameter.Type.DOUBLE.value, False)
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (0.5, 10.0)
    d = TABLE['count'].descriptor()
    assert d.read_only and (d.integer_range[0].from_value, d.integer_range[0].to_value, d.integer_range[0].step) == (
        1, 5, 1)
    assert TABLE['mode'].descriptor().additional_constraints == 'one of: a, b'
    assert TABLE['topics'].descriptor().description == 'Some topics.'


def test_declare_and_read_back(node):
    declare_parameters(node, TABLE.values())
    values = read_parameters(node, TABLE.values())
    assert values == {'mode': 'a', 'rate_hz': 2.0, 'count': 4, 'topics': ['/x'], 'order': [], 'flag': False}
    described = node.describe_parameter('rate_hz')
    assert described.description == 'A rate, hertz.' and described.floating_point_range[0].to_value == 10.0
    assert node.describe_parameter('order').type == Parameter.Type.INTEGER_ARRAY.value
    assert node.set_parameters([Parameter('order', value=[2, 1])])[0].successful is False  # read-only
    assert read_parameters(node, [TABLE['order']]) == {'order': []}


def test_validation_on_set_application_post_set(node):
    declare_parameters(node, TABLE.values())
    applied: list[dict] = []

    def needs_flag(proposed: dict) -> str:
        return 'b needs the flag' if proposed.get('mode') == 'b' and not proposed.get('flag') else ''

    add_parameter_callbacks(node, TABLE, applied.append, extra_check=needs_flag)
    # a valid change: stored, then applied once with the new values (already readable from the node)
    res = node.set_parameters_atomically([Parameter('mode', value='b'), Parameter('flag', value=True)])
    assert res.successful and applied == [{'mode': 'b', 'flag': True}]
    assert node.get_parameter('mode').value == 'b'
    # invalid: rejected with the reason, nothing stored or applied
    res = node.set_parameters_atomically([Parameter('rate_hz', value=3.0), Parameter('mode', value='z')])
    assert not res.successful and 'choose one of a, b' in res.reason
    res = node.set_parameters([Parameter('flag', value=False), Parameter('mode', value='b')])
    assert res[0].successful and not res[1].successful and res[1].reason == 'b needs the flag'
    assert not node.set_parameters([Parameter('rate_hz', value=100.0)])[0].successful  # range (rclpy)
    # read-only: refused
    res = node.set_parameters([Parameter('count', value=2)])[0]
    assert not res.successful and 'read-only' in res.reason
    assert node.get_parameter('rate_hz').value == 2.0 and node.get_parameter('count').value == 4
    assert applied == [{'mode': 'b', 'flag': True}, {'flag': False}]


def test_on_set_has_no_side_effects_when_another_callback_refuses(node):
    """A change refused by a later on-set callback is never applied (application waits for post-set)."""
    declare_parameters(node, TABLE.values())
    applied: list[dict] = []
    node.add_on_set_parameters_callback(lambda params: SetParametersResult(successful=False, reason='vetoed'))
    add_parameter_callbacks(node, TABLE, applied.append)  # rclpy runs the callback added last first
    res = node.set_parameters([Parameter('rate_hz', value=3.0)])[0]
    assert not res.successful and res.reason == 'vetoed'
    assert applied == [] and node.get_parameter('rate_hz').value == 2.0


def test_validate_change_refuses_read_only_and_unknown():
    res = validate_change(TABLE, [Parameter('count', value=2)])
    assert not res.successful and 'read-only' in res.reason
    assert validate_change(TABLE, [Parameter('x', value=2)]).reason == 'unknown parameter x'
    assert validate_change(TABLE, [Parameter('rate_hz', value=3.0)]).successful


@pytest.mark.parametrize('table', [SYNC_PARAMETERS, REPLAY_PARAMETERS], ids=['sync_node', 'replay_node'])
def test_node_tables_are_described(table):
    for name, spec in table.items():
        assert spec.name == name and spec.description.strip()
        d = spec.descriptor()
        assert d.read_only == (not spec.dynamic)
        if spec.type in (Parameter.Type.INTEGER, Parameter.Type.DOUBLE):
            assert spec.value_range is not None, f'{name} has no range'


@pytest.mark.slow  # a real sync node
def test_sync_node_dynamic_parameters():
    assert {n for n, s in SYNC_PARAMETERS.items() if s.dynamic} == {
        'max_frame_age_s', 'min_views', 'resize_input', 'colormap', 'color_max'}
    assert not any(s.dynamic for s in REPLAY_PARAMETERS.values())
