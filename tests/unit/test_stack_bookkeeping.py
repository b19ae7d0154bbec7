"""The stack's bookkeeping for many connections: the deadline heap stays exact
through re-arming and rebuilds, and TCBs that close are let go (not held until
the deadlines they had when they closed).

Through the public API only, on two stacks wired back to back
(:class:`tcpstack.harness.population.Wire`), in virtual time.
"""

from __future__ import annotations

import gc

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.harness.population import Wire, drain_events, new_wire
from tcpstack.stack import Stack

COUNT = 1500
"""Connections: both ends arm timers, so the heap passes its rebuild size (1,024)."""
PORT = 7


def earliest(conns: list[Connection]) -> float | None:
    deadlines = [t for c in conns if (t := c.next_timer()) is not None]
    return min(deadlines) if deadlines else None


def not_due(conn: Connection, now: float) -> bool:
    """True if ``conn`` has no deadline at or before ``now`` left (all due ones fired)."""
    at = conn.next_timer()
    return at is None or at > now


def open_connections(wire: Wire, count: int, first_port: int) -> list[Connection]:
    """``count`` ESTABLISHED connections from wire.a to wire.b:PORT; both ends."""
    if not wire.b.listening(PORT):
        wire.b.listen(PORT, backlog=100_000)
    clients = [wire.a.connect(wire.b.address, PORT, now=wire.now, local_port=first_port + i)
               for i in range(count)]
    wire.settle()
    servers = []
    while (conn := wire.b.accept(PORT)) is not None:
        servers.append(conn)
    drain_events(wire.a)
    drain_events(wire.b)
    assert len(servers) == count
    return clients + servers


def test_next_timer_is_the_earliest_deadline_of_all_through_rearms_and_rebuilds() -> None:
    wire = new_wire(config=TcpConfig(keepalive=True, keepalive_idle=100.0,
                                     keepalive_interval=10.0, keepalive_count=3))
    ends = open_connections(wire, COUNT, 1024)  # every end arms keep-alive: rebuilds
    by_stack: list[tuple[Stack, list[Connection]]] = [(wire.a, ends[:COUNT]),
                                                      (wire.b, ends[COUNT:])]
    # Traffic on every third connection moves keep-alive later (no push).
    wire.now += 30.0
    for conn in ends[:COUNT:3]:
        conn.send(b"x", now=wire.now)
    wire.settle()
    for stack, conns in by_stack:
        assert stack.next_timer() == earliest(conns)
    # Walk through the deadlines: probes and their answers, in batches.
    for _ in range(40):
        due = min(t for s, _ in by_stack if (t := s.next_timer()) is not None)
        wire.now = due
        for stack, _ in by_stack:
            if stack.next_timer() == due:
                stack.handle_timer(due)
        wire.settle()
        for stack, conns in by_stack:
            assert stack.next_timer() == earliest(conns)
            assert all(not_due(c, due) for c in conns)


def test_tcbs_that_close_are_let_go_even_with_far_deadlines() -> None:
    wire = new_wire(config=TcpConfig(keepalive=True))  # keep-alive deadlines 2 h away
    gc.collect()
    before = live_connections()
    ends = open_connections(wire, COUNT, 1024)
    assert live_connections() == before + 2 * COUNT
    for conn in ends[:COUNT]:  # the client ends abort; the server ends are reset
        conn.abort(now=wire.now)
    wire.settle()
    drain_events(wire.a)  # (an event holds its connection until it is read)
    drain_events(wire.b)
    assert wire.a.connections == [] and wire.b.connections == []
    del ends, conn
    gc.collect()
    # Each stack rebuilds its deadline heap as TCBs close: fewer than 32 closed
    # TCBs per stack may wait there for their old (2 h) deadline.
    assert live_connections() - before < 2 * 32, "closed TCBs are still referenced"


def live_connections() -> int:
    return sum(isinstance(o, Connection) for o in gc.get_objects())
