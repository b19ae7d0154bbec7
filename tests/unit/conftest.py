"""Fixtures: one connection (or stack) per TCP state, reached through the public API.

See :mod:`tcp_script` for the helpers, the relative numbering and the
timeline each fixture leaves behind.
"""

from __future__ import annotations

import pytest
from tcp_script import (
    Script,
    make_close_wait,
    make_closing,
    make_established,
    make_fin_wait_1,
    make_fin_wait_2,
    make_last_ack,
    make_listen,
    make_syn_received_active,
    make_syn_received_passive,
    make_syn_sent,
    make_time_wait,
    new_stack,
)

from tcpstack.stack import Stack


@pytest.fixture
def closed_stack() -> Stack:
    """A Stack with no listener and no connection: every port is CLOSED."""
    return new_stack()


@pytest.fixture
def listen() -> Stack:
    """A Stack listening on port 80."""
    stack = new_stack()
    stack.listen(80)
    return stack


@pytest.fixture
def listen_conn() -> Script:
    """A passive-open TCB in LISTEN, driven directly."""
    return make_listen()


@pytest.fixture
def syn_sent() -> Script:
    return make_syn_sent()


@pytest.fixture
def syn_received() -> Script:
    """SYN-RECEIVED entered from a passive OPEN."""
    return make_syn_received_passive()


@pytest.fixture
def syn_received_active() -> Script:
    """SYN-RECEIVED entered from an active OPEN (simultaneous open)."""
    return make_syn_received_active()


@pytest.fixture
def established() -> Script:
    return make_established()


@pytest.fixture
def fin_wait_1() -> Script:
    return make_fin_wait_1()


@pytest.fixture
def fin_wait_2() -> Script:
    return make_fin_wait_2()


@pytest.fixture
def close_wait() -> Script:
    return make_close_wait()


@pytest.fixture
def closing() -> Script:
    return make_closing()


@pytest.fixture
def last_ack() -> Script:
    return make_last_ack()


@pytest.fixture
def time_wait() -> Script:
    return make_time_wait()
