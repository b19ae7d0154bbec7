"""Host limits (docs/security.md "Host limits"): TCBs, orphans, TIME-WAIT TCBs.

Scripted segments into a Stack; exact expected segments at each limit.
"""

from __future__ import annotations

import pytest
from tcp_script import (
    PEER_ADDR,
    Out,
    describe,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.errors import LocalProtocolError
from tcpstack.stack import Stack
from tcpstack.state import State

IRS = 4_000_000


def established(stack: Stack, sport: int, at: float) -> Connection:
    """A passive connection from PEER_ADDR:sport, ESTABLISHED and accepted."""
    stack.receive(packet(peer_seg("S", seq=IRS, sport=sport)), at)
    [syn_ack] = [s for s in stack_segments(stack, at=at) if s.dst_port == sport]
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=syn_ack.seq + 1, sport=sport)), at)
    conn = stack.accept(80)
    assert conn is not None and conn.state is State.ESTABLISHED
    stack_events(stack)
    return conn


def to_time_wait(stack: Stack, conn: Connection, at: float) -> list[str]:
    """Close ``conn`` and have the peer acknowledge our FIN with its own; the
    segments ``stack`` sends then, as flag letters."""
    conn.close(at)
    [fin] = stack_segments(stack, at=at)
    assert fin.flags.letters() == "F."
    stack.receive(packet(peer_seg("FA", seq=IRS + 1, ack=fin.seq + 1,
                                  sport=conn.remote.port)), at)
    return [s.flags.letters() for s in stack_segments(stack, at=at)]


def test_max_connections_drops_syns_and_refuses_connect() -> None:
    stack = new_stack(config=TcpConfig(max_connections=2))
    stack.listen(80)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1000)), 1.0)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1001)), 1.0)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1002)), 1.0)
    assert [s.dst_port for s in stack_segments(stack, at=1.0)] == [1000, 1001]
    assert len(stack.connections) == 2
    assert stack.stats["dropped:max-connections"] == 1
    with pytest.raises(LocalProtocolError, match="max_connections"):
        stack.connect(PEER_ADDR, 80, now=1.0)
    # A TCB that goes makes room.
    stack.receive(packet(peer_seg("R", seq=IRS + 1, sport=1000)), 1.1)
    assert len(stack.connections) == 1
    stack.connect(PEER_ADDR, 80, now=1.2)
    assert len(stack.connections) == 2


def test_max_time_wait_closes_the_newest_time_wait_tcb_at_once() -> None:
    stack = new_stack(config=TcpConfig(max_time_wait=1))
    stack.listen(80)
    first = established(stack, 1000, 1.0)
    second = established(stack, 1001, 1.0)
    assert to_time_wait(stack, first, 2.0) == ["."]
    assert first.state is State.TIME_WAIT
    # The second still acknowledges the peer's FIN, then is gone: no 2 MSL wait.
    assert to_time_wait(stack, second, 3.0) == ["."]
    assert second.state is State.CLOSED
    assert first.state is State.TIME_WAIT
    assert stack.connections == [first]
    assert stack.stats["time_wait_overflow"] == 1
    # Room again once the first leaves TIME-WAIT.
    stack.handle_timer(first.next_timer() or 0.0)
    assert stack.connections == []


def test_max_orphans_resets_the_oldest_orphan() -> None:
    stack = new_stack(config=TcpConfig(max_orphans=1))
    stack.listen(80)
    older = established(stack, 1000, 1.0)
    newer = established(stack, 1001, 1.0)
    older.close(2.0)
    [fin] = stack_segments(stack, at=2.0)
    assert (fin.dst_port, fin.flags.letters()) == (1000, "F.")
    assert stack.stats["orphans_killed_limit"] == 0
    newer.close(3.0)
    segs = stack_segments(stack, at=3.0)
    # The newer orphan's FIN, then the RST of the oldest orphan: <SEQ=SND.NXT><CTL=RST>.
    assert [(s.dst_port, s.flags.letters()) for s in segs] == [(1001, "F."), (1000, "R")]
    assert describe([segs[1]], [Out("R", 0)], (older.iss, 0)) == [Out("R", 2)]
    assert older.state is State.CLOSED and newer.state is State.FIN_WAIT_1
    assert stack.stats["orphans_killed_limit"] == 1


def test_defaults_are_the_documented_linux_values() -> None:
    config = TcpConfig()
    assert (config.max_syn_backlog, config.synack_retries, config.syncookies) == (
        128, 5, "on-overflow")
    assert (config.max_orphans, config.max_time_wait) == (65536, 262144)
    with pytest.raises(ValueError, match="syncookies"):
        TcpConfig(syncookies="sometimes")
    with pytest.raises(ValueError, match="max_syn_backlog"):
        TcpConfig(max_syn_backlog=0)
    with pytest.raises(ValueError, match="max_connections"):
        TcpConfig(max_connections=0)
