"""The drivers' fast paths (docs/performance.md "The drivers, second pass"): they
save calls and copies, and change nothing the simulator or an application does."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from tcpstack.connection import Connection
from tcpstack.drivers import apps
from tcpstack.drivers.faults import FaultConfig, FaultModel
from tcpstack.drivers.sim import Host, Network
from tcpstack.events import Event
from tcpstack.wire import Flags, Segment, encode_packet

A, B = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


def rst(number: int) -> bytes:
    """A RST to a closed port (dropped silently) numbered ``number`` (its seq)."""
    seg = Segment(40000, 9, seq=number, ack=0, flags=Flags.RST, window=0, payload=b"x" * 20)
    return encode_packet(A, B, seg)


def arrivals(net: Network) -> list[tuple[float, int]]:
    return [(r.time, r.data["seq"]) for r in net.trace
            if r.event == "segment_received" and r.host == "b"]


# --- the fault model's plain case ------------------------------------------


@pytest.mark.parametrize("jitter_reorders", [False, True])
def test_fifo_due_is_what_decide_says_without_randomness(jitter_reorders: bool) -> None:
    """The plain case's one call gives decide()'s due time, delay changes included."""
    rng = random.Random(5)
    one, other = FaultModel(random.Random(0)), FaultModel(random.Random(0))
    now = 0.0
    for _ in range(300):
        cfg = FaultConfig(delay=rng.choice((0.0, 0.002, 0.050)), jitter_reorders=jitter_reorders)
        now += rng.random() * 0.01
        assert one.fifo_due(cfg, now) == other.decide(cfg, b"p", now).due
        assert one.last_due == other.last_due


def test_fifo_due_keeps_packets_in_order_when_the_delay_drops() -> None:
    model = FaultModel(random.Random(0))
    assert model.fifo_due(FaultConfig(delay=0.050), 0.0) == 0.050
    assert model.fifo_due(FaultConfig(delay=0.010), 0.001) == 0.050  # not before the first
    assert model.fifo_due(FaultConfig(delay=0.010, jitter_reorders=True), 0.002) == 0.012


def test_a_plain_link_does_not_ask_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """No decide() (nor its Decision) per packet on a link without randomness:
    the packets still arrive after the link's delay, in order."""
    def refuse(*_: object) -> None:
        raise AssertionError("decide() called on a plain link")

    monkeypatch.setattr(FaultModel, "decide", refuse)
    net = Network(seed=1)
    net.add_host("a", str(A))
    net.add_host("b", str(B))
    net.link("a", "b", delay=0.010)
    for i in range(5):
        net.inject(i * 0.001, "a", rst(i))
    net.run()
    assert [seq for _, seq in arrivals(net)] == list(range(5))
    assert [round(t, 6) for t, _ in arrivals(net)] == [0.010, 0.011, 0.012, 0.013, 0.014]


def test_a_random_link_still_asks_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float] = []
    decide = FaultModel.decide

    def counting(model: FaultModel, config: FaultConfig, packet: bytes, now: float) -> object:
        asked.append(now)
        return decide(model, config, packet, now)

    monkeypatch.setattr(FaultModel, "decide", counting)
    net = Network(seed=1)
    net.add_host("a", str(A))
    net.add_host("b", str(B))
    net.link("a", "b", delay=0.010, jitter=0.001)
    for i in range(4):
        net.inject(i * 0.001, "a", rst(i))
    net.run()
    assert len(asked) == 4


# --- what the applications offer send() ------------------------------------


class _Conn:
    """What _offered reads of a connection: ``send_space`` (or nothing)."""

    def __init__(self, space: int | None) -> None:
        if space is not None:
            self.send_space = space


@pytest.mark.parametrize("space", [None, 0, 3, 1000])
@pytest.mark.parametrize("kind", [bytearray, lambda b: memoryview(bytes(b))])
def test_offered_is_bytes_of_the_slice(space: int | None, kind: object) -> None:
    raw = bytes(range(200))
    data = kind(raw)  # type: ignore[operator]
    got = apps._offered(_Conn(space), data, 10, 150)  # type: ignore[arg-type]
    assert type(got) is bytes
    stop = 150 if space is None else min(150, 10 + space + 1)
    assert got == raw[10:stop]


def test_offered_leaves_a_bytearray_resizable() -> None:
    """The view it copies through is released: the application may then cut its buffer."""
    data = bytearray(b"abcdef" * 100)
    got = apps._offered(_Conn(None), data, 0, len(data))
    del data[:100]
    data += b"more"
    assert got == b"abcdef" * 100 and len(data) == 504


# --- handing events to the drivers' own applications ---------------------


def _echo_transfer(client_app: object) -> tuple[Network, apps.EchoApp]:
    net = Network(seed=2)
    server_app = apps.EchoApp()
    net.add_host("c", str(A), app=client_app)  # type: ignore[arg-type]
    server = net.add_host("s", str(B), app=lambda conn, event: server_app.on_event(conn, event))
    net.link("c", "s", delay=0.005)
    server.stack.listen(7)
    net.hosts["c"].stack.connect(server.address, 7, now=0.0)
    net.run(until=30.0)
    return net, server_app


def test_an_app_gets_its_events_without_host_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("Host.dispatch called for an App")

    monkeypatch.setattr(Host, "dispatch", refuse)
    client = apps.SendClient(b"hello" * 1000)
    net, _ = _echo_transfer(client)
    assert client.finished and bytes(client.received) == b"hello" * 1000
    assert len(net.hosts["c"].events) > 5


def test_another_application_object_still_goes_through_host_dispatch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    class Listener:  # an Application by its on_event, not an App
        def on_event(self, conn: object, event: object) -> None:
            seen.append(event)

    dispatch = Host.dispatch
    through: list[object] = []

    def counting(host: Host, conn: Connection, event: Event) -> None:
        through.append(event)
        dispatch(host, conn, event)

    monkeypatch.setattr(Host, "dispatch", counting)
    net, _ = _echo_transfer(Listener())
    assert seen and seen == through == [e for _, _, e in net.hosts["c"].events]
