"""What the connection-churn optimisations rely on (docs/performance.md
"Connection churn"): the stack's timer bound is never later than its next
deadline, the simulator that files hosts under that bound fires every timer
at its exact instant, ``Timers.cancel_all`` is a ``cancel`` per timer,
``Host.dispatch`` reaches every kind of application, and ``connect`` treats
an address object as its text.

Through the public API, in virtual time, with explicit times.
"""

from __future__ import annotations

import ipaddress
import random

import pytest
from tcp_script import RecordingTimerOwner

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.events import Connected, ConnectionClosed, DataReceived, Event, PeerClosed
from tcpstack.harness.population import drain_events, new_wire
from tcpstack.stack import Stack
from tcpstack.timers import Timer, Timers
from tcpstack.trace import Trace

PORT = 80


def test_timer_bound_is_never_later_than_the_next_deadline() -> None:
    wire = new_wire(config=TcpConfig(keepalive=True, keepalive_idle=50.0,
                                     keepalive_interval=5.0, keepalive_count=2))
    stacks = (wire.a, wire.b)
    assert [s.timer_bound() for s in stacks] == [None, None]  # nothing armed yet
    wire.b.listen(PORT, backlog=1000)
    rng = random.Random(7)
    conns = [wire.a.connect(wire.b.address, PORT, now=wire.now) for _ in range(200)]
    wire.settle()
    drain_events(wire.a)
    drain_events(wire.b)
    for _ in range(60):
        # Traffic on some connections moves their deadlines (later: stale heap
        # entries; earlier: pushes), some close: the heap's top goes stale.
        wire.now += rng.choice((0.05, 1.0, 7.0))
        for conn in rng.sample(conns, 20):
            if conn.state.name == "ESTABLISHED":
                if rng.random() < 0.2:
                    conn.close(now=wire.now)
                else:
                    conn.send(b"x" * rng.randrange(1, 3000), now=wire.now)
        wire.settle()
        for stack in stacks:
            bound = stack.timer_bound()
            exact = stack.next_timer()
            if exact is not None:
                assert bound is not None and bound <= exact
                # next_timer dropped the stale top: the bound is exact again.
                assert stack.timer_bound() == exact
            if exact is not None and exact <= wire.now + 10.0:
                wire.now = max(wire.now, exact)
                stack.handle_timer(wire.now)
        wire.settle()
        drain_events(wire.a)
        drain_events(wire.b)


class _Churn:
    """Request, reply, close: the churn benchmark's two applications."""

    def __init__(self) -> None:
        self.closed = 0

    def client(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conn.send(b"q" * 100)
        elif isinstance(event, DataReceived):
            conn.read()
            if conn.state.name == "ESTABLISHED":
                conn.close()
        elif isinstance(event, ConnectionClosed):
            self.closed += 1

    def server(self, conn: Connection, event: Event) -> None:
        if isinstance(event, DataReceived):
            conn.read()
            conn.send(b"r" * 100)
        elif isinstance(event, PeerClosed):
            conn.close()
        elif isinstance(event, ConnectionClosed):
            self.closed += 1


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_churn_fires_every_timer_at_its_deadline(seed: int) -> None:
    trace = Trace()
    net = Network(seed=seed, trace=trace, keep_packets=False)
    apps = _Churn()
    client = net.add_host("client", "192.0.2.1", app=apps.client)
    server = net.add_host("server", "192.0.2.2", app=apps.server)
    net.link(client, server, delay=0.001, loss=0.05)  # losses: RTOs fire too
    server.stack.listen(PORT, backlog=100)
    count = 60
    for i in range(count):
        net.at(i * 0.003, lambda: client.stack.connect(server.address, PORT, now=net.now))
    net.run()
    assert apps.closed == 2 * count
    assert client.stack.connections == [] and server.stack.connections == []
    # Every timer_set deadline that is still the connection's when it comes
    # fires exactly then: a fired timer's record time is a deadline set for it.
    set_at: dict[tuple[str, str, str], set[float]] = {}
    fired = 0
    for rec in trace.records:
        key = (rec.host, rec.conn, rec.data.get("timer", ""))
        if rec.event == "timer_set":
            set_at.setdefault(key, set()).add(rec.data["at"])
        elif rec.event == "timer_fired":
            fired += 1
            assert round(rec.time, 9) in set_at[key], rec
    # Each client end left TIME-WAIT exactly at its last 2 MSL deadline (the
    # timer restarts on a retransmitted FIN: MUST-13, §3.10.7.4 first step).
    last_set: dict[str, float] = {}
    msl = TcpConfig().msl
    waits = []
    for rec in trace.select(None, "client"):
        if rec.event == "timer_set" and rec.data["timer"] == "time_wait":
            assert rec.data["at"] == pytest.approx(rec.time + 2 * msl)
            last_set[rec.conn] = rec.data["at"]
        elif rec.event == "state_updated" and rec.data["old"] == "TIME-WAIT":
            waits.append(round(rec.time, 9) == last_set.pop(rec.conn))
    assert len(waits) == count and all(waits) and fired >= count


@pytest.mark.parametrize("armed", [[], [Timer.RTO], [Timer.KEEPALIVE, Timer.TLP, Timer.PACING],
                                   list(Timer)])
def test_cancel_all_is_a_cancel_per_timer(armed: list[Timer]) -> None:
    owners = (RecordingTimerOwner(), RecordingTimerOwner())
    one, each = (Timers(o) for o in owners)
    for timers in (one, each):
        for i, timer in enumerate(reversed(armed)):
            timers.arm(timer, 10.0 + i)
    one.cancel_all()
    for timer in Timer:
        each.cancel(timer)
    assert owners[0].records == owners[1].records
    assert [r for r in owners[0].records if r[0] == "timer_cancelled"] == [
        ("timer_cancelled", {"timer": t.value}) for t in Timer
        if t in armed and t is not Timer.PACING]
    assert one.empty and one.next_at is None and not any(one.armed(t) for t in Timer)


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def method(self, conn: Connection, event: Event) -> None:
        self.seen.append(f"method:{type(event).__name__}")


class _AppWithBoth:
    """Callable and with on_event: on_event is the handler."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_event(self, conn: Connection, event: Event) -> None:
        self.seen.append("on_event")

    def __call__(self, conn: Connection, event: Event) -> None:
        self.seen.append("call")


class _CallableOnly:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn: Connection, event: Event) -> None:
        self.seen.append("call")


def test_dispatch_reaches_every_kind_of_application() -> None:
    net = Network(seed=3)
    functions: list[str] = []
    recorder, both, only = _Recorder(), _AppWithBoth(), _CallableOnly()

    def function(conn: Connection, event: Event) -> None:
        functions.append(type(event).__name__)

    hosts = [net.add_host(name, f"192.0.2.{i + 1}", app=app) for i, (name, app) in enumerate(
        [("f", function), ("m", recorder.method), ("b", both), ("c", only), ("n", None)])]
    conn = hosts[0].stack.connect(hosts[1].address, PORT, now=0.0)
    for host in hosts:
        host.dispatch(conn, Connected())
    assert functions == ["Connected"]
    assert recorder.seen == ["method:Connected"]
    assert both.seen == ["on_event"]
    assert only.seen == ["call"]


def test_connect_takes_an_address_object_as_its_text() -> None:
    ends = []
    for remote in ("192.0.2.2", ipaddress.IPv4Address("192.0.2.2")):
        stack = Stack("192.0.2.1", rng=random.Random(5), isn_key=b"k" * 16)
        conn = stack.connect(remote, PORT, now=1.5)
        ends.append((conn.local, conn.remote, conn.iss, type(conn.remote.address)))
    assert ends[0] == ends[1]
    stack = Stack("192.0.2.1", rng=random.Random(5))
    for bad in ("255.255.255.255", "224.0.0.1", "0.0.0.0"):
        for remote in (bad, ipaddress.IPv4Address(bad)):
            with pytest.raises(ValueError, match="MUST-46"):
                stack.connect(remote, PORT, now=0.0)
    with pytest.raises(ValueError, match="cannot reach"):
        stack.connect(ipaddress.IPv6Address("2001:db8::1"), PORT, now=0.0)
    assert stack.connections == []
