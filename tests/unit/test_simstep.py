"""What the simulator's per-packet shortcuts rely on (docs/performance.md
"The simulator and connection churn"): ``Stack.take_events`` hands out, batch
by batch, exactly what ``next_event`` would, call by call; the simulator's
service that takes events in batches sees them in the same order, at the same
instants, and hands every kind of application the same events; a packet's
destination read in the simulator's fast path routes it as the general reader
does.

Through the public API, in virtual time, with explicit times.
"""

from __future__ import annotations

import random

from tcpstack.connection import Connection
from tcpstack.drivers.apps import App, AppConnection
from tcpstack.drivers.sim import Network
from tcpstack.events import Connected, DataReceived, Event, PeerClosed
from tcpstack.harness.population import new_wire
from tcpstack.stack import Stack
from tcpstack.trace import Trace

PORT = 80


def _churned_wire(seed: int, conns: int) -> tuple[Stack, Stack, list[Connection]]:
    """Two stacks with ``conns`` connections opened, data both ways on some,
    some closed: each stack holds many pending events of every kind."""
    wire = new_wire(seed)
    wire.b.listen(PORT, backlog=1000)
    rng = random.Random(seed)
    opened = [wire.a.connect(wire.b.address, PORT, now=wire.now) for _ in range(conns)]
    wire.settle()
    while (accepted := wire.b.accept(PORT)) is not None:
        accepted.send(b"y" * rng.randrange(1, 500), now=wire.now)
    for conn in opened:
        if rng.random() < 0.5:
            conn.send(b"x" * rng.randrange(1, 3000), now=wire.now)
        if rng.random() < 0.3:
            conn.close(now=wire.now)
    wire.now += 0.01
    wire.settle()
    return wire.a, wire.b, opened


def _by_next_event(stack: Stack) -> list[tuple[Connection, Event]]:
    out = []
    while (item := stack.next_event()) is not None:
        out.append(item)
    return out


def _by_take_events(stack: Stack) -> list[tuple[Connection, Event]]:
    out: list[tuple[Connection, Event]] = []
    for _ in range(10_000):  # bounded: a take that left its events would repeat them
        batch = stack.take_events()
        if not batch:
            return out
        out.extend(batch)
    raise AssertionError("take_events never ran dry")


def test_take_events_hands_out_what_next_event_would() -> None:
    for seed in (1, 2, 3):
        one = _churned_wire(seed, 30)
        other = _churned_wire(seed, 30)
        for stack_one, stack_other in zip(one[:2], other[:2], strict=True):
            by_call = _by_next_event(stack_one)
            by_batch = _by_take_events(stack_other)
            assert len(by_call) > 30  # several events per connection
            assert len(by_call) == len(by_batch)
            for (conn_a, event_a), (conn_b, event_b) in zip(by_call, by_batch, strict=True):
                assert conn_a.serial == conn_b.serial
                assert event_a == event_b
            # Nothing is left for either way of asking.
            assert stack_one.next_event() is None and stack_other.take_events() == ()
            assert stack_other.next_event() is None


def test_events_raised_after_a_take_wait_for_the_next() -> None:
    client, _server, opened = _churned_wire(4, 5)
    first = list(client.take_events())
    assert first
    assert client.take_events() == ()
    live = [c for c in opened if c.state.name == "ESTABLISHED"]
    assert live
    live[0].abort(now=1.0)  # raises its events now
    later = list(client.take_events())
    assert later and all(conn is live[0] for conn, _ in later)
    assert not any(item in first for item in later)


class _Echo(App):
    """Reads everything; echoes it; closes after the peer's FIN. Logs what it is handed."""

    def __init__(self, net: Network, seen: list[tuple[float, int, str]]) -> None:
        super().__init__()
        self.net = net
        self.seen = seen

    def on_event(self, conn: AppConnection, event: Event) -> None:
        assert isinstance(conn, Connection)
        self.seen.append((self.net.now, conn.serial, type(event).__name__))
        super().on_event(conn, event)

    def poll(self, conn: AppConnection) -> None:
        data = conn.read()
        if data:
            conn.send(data)
        if conn.at_eof:
            conn.close()


def _run(app_kind: str, seed: int) -> None:
    """A lossy churn with events of every kind, the server one kind of
    application: each host's log is exactly what its application was handed,
    in order, at the instant it was handed."""
    net = Network(seed=seed, trace=Trace(keep=False))
    seen_a: list[tuple[float, int, str]] = []
    seen_b: list[tuple[float, int, str]] = []

    def client(conn: Connection, event: Event) -> None:
        seen_a.append((net.now, conn.serial, type(event).__name__))
        if isinstance(event, Connected):
            conn.send(b"q" * 300)
        elif isinstance(event, (DataReceived, PeerClosed)) and (
            isinstance(event, PeerClosed) or conn.read()
        ):
            conn.close()

    def server_fn(conn: Connection, event: Event) -> None:
        seen_b.append((net.now, conn.serial, type(event).__name__))
        if isinstance(event, DataReceived):
            conn.send(conn.read())
        elif isinstance(event, PeerClosed):
            conn.close()

    a = net.add_host("a", "192.0.2.1", app=client)
    b = net.add_host("b", "192.0.2.2",
                     app=server_fn if app_kind == "function" else _Echo(net, seen_b))
    net.link(a, b, delay=0.002, loss=0.05)
    b.stack.listen(PORT, backlog=64)

    def open_one() -> None:
        a.stack.connect(b.address, PORT, now=net.now)

    for i in range(20):
        net.at(i * 0.003, open_one)
    net.run()
    for host, seen in ((a, seen_a), (b, seen_b)):
        logged = [(t, conn.serial, type(event).__name__) for t, conn, event in host.events]
        assert logged == seen
        assert {name for _, _, name in seen} >= {"Connected", "DataReceived",
                                                 "ConnectionClosed", "StateChanged"}
    # Every passive connection was accepted at once (auto_accept), so none waits.
    assert b.stack.accept(PORT) is None
    assert sum(name == "Connected" for _, _, name in seen_b) == 20


def test_service_hands_every_app_its_events_in_order() -> None:
    for seed in (5, 6):
        _run("function", seed)
        _run("app", seed)


def test_a_stack_packet_routes_as_the_general_reader_says() -> None:
    # The fast path reads an IPv4 packet's destination in place; a hand-made
    # packet (inject) still goes through the general reader and its checks.
    net = Network(seed=1)
    a = net.add_host("a", "192.0.2.1")
    b = net.add_host("b", "192.0.2.2")
    net.link(a, b, delay=0.001)
    b.stack.listen(PORT)
    conn = a.stack.connect(b.address, PORT, now=net.now)
    net.run()
    assert conn.state.name == "ESTABLISHED"
    assert net.stats.delivered == net.stats.sent == 3
    net.inject(net.now, a, b"\x45" + b"\x00" * 10)  # too short: unparseable
    net.run()
    assert net.stats.lost.get("unparseable") == 1


def test_churn_profile_counts_a_run_of_complete_lifecycles() -> None:
    from tcpstack.harness.speed import churn_profile

    small = churn_profile(100, batch=50, top=5)
    assert small["connections"] == 100
    assert abs(small["calls_per_lifecycle"] * 100 - small["calls"]) <= 100
    # A lifecycle: three packets of handshake (the client's request rides on
    # the third), the reply, and at least two of the closes.
    assert small["packets_per_lifecycle"] >= 6
    rows = small["top"]
    assert len(rows) == 5
    assert [r["self_s"] for r in rows] == sorted((r["self_s"] for r in rows), reverse=True)
    # The same run, the same work: the count does not depend on the machine.
    again = churn_profile(100, batch=50, top=5)
    assert again["calls"] == small["calls"]
    assert again["packets_per_lifecycle"] == small["packets_per_lifecycle"]
