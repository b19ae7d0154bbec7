"""The simulator's link model: bottleneck and drop-tail queue, FIFO jitter,
corruption, Gilbert-Elliott burst loss, outages, asymmetric links, statistics."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import pytest

from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.sim import GilbertElliott, LinkConfig, LinkStats, Network
from tcpstack.trace import TraceRecord
from tcpstack.wire import Flags, Segment, encode_packet

SIZE = 1000  # bytes of every hand-made packet (20 IP + 20 TCP + payload)


def two(seed: int = 1, **link: object) -> Network:
    """Hosts a and b joined by one link; nothing listens."""
    net = Network(seed=seed)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    net.link("a", "b", **link)  # type: ignore[arg-type]
    return net


def rst(net: Network, src: str, dst: str, number: int, size: int = SIZE) -> bytes:
    """A ``size``-byte IPv4 packet carrying a RST numbered ``number`` (its seq).

    A RST to a closed port is dropped silently, so nothing comes back.
    """
    seg = Segment(40000, 9, seq=number, ack=0, flags=Flags.RST, window=0,
                  payload=bytes(size - 40))
    return encode_packet(net.hosts[src].address, net.hosts[dst].address, seg)


def send_burst(net: Network, count: int, *, at: float = 0.0, src: str = "a", dst: str = "b",
               first: int = 0, size: int = SIZE) -> None:
    for i in range(count):
        net.inject(at, src, rst(net, src, dst, first + i, size))


def arrivals(net: Network, host: str = "b") -> list[tuple[float, int]]:
    """``(time, seq)`` of every segment the host's stack received, in order."""
    return [(r.time, r.data["seq"]) for r in net.trace
            if r.event == "segment_received" and r.host == host]


def drops(net: Network, reason: str) -> list[TraceRecord]:
    return [r for r in net.trace if r.event == "segment_dropped" and r.data["reason"] == reason]


def echo(data: bytes, *, seed: int, until: float = 2_000.0, reverse: LinkConfig | None = None,
         **link: object) -> tuple[Network, SendClient]:
    """An echo transfer as in tests/pairs/test_transfer.py."""
    net = Network(seed=seed)
    app = SendClient(data)
    client = net.add_host("client", "192.0.2.1", app=app)
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, reverse=reverse, **link)  # type: ignore[arg-type]
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=until)
    return net, app


def assert_accounted(net: Network) -> None:
    """Once nothing is in flight, every packet was delivered or lost (copies aside)."""
    for s in [net.stats, *net.stats.directions.values()]:
        assert s.sent + s.duplicated == s.delivered + s.lost_total, s
    for name in ("sent", "delivered", "duplicated", "reordered", "corrupted", "queue_drops"):
        assert getattr(net.stats, name) == sum(
            getattr(s, name) for s in net.stats.directions.values()
        ), name


# --- bandwidth and queue -----------------------------------------------------------


def test_serialization_spaces_packets_by_size_over_bandwidth() -> None:
    net = two(delay=0.010, bandwidth=1e6)
    send_burst(net, 10)
    net.run()
    got = arrivals(net)
    assert [seq for _, seq in got] == list(range(10))
    # 1000 B at 1 Mbit/s = 8 ms each, then 10 ms of propagation.
    assert [t for t, _ in got] == pytest.approx([0.010 + 0.008 * (i + 1) for i in range(10)])
    assert net.stats.max_queue_packets == 9 and net.stats.max_queue_bytes == 9 * SIZE
    assert net.stats.lost == {}


def test_queueing_delay_only_while_the_bottleneck_is_busy() -> None:
    net = two(delay=0.005, bandwidth=8e6)  # 1000 B take 1 ms
    send_burst(net, 3, at=0.0)
    send_burst(net, 1, at=0.0015, first=3)  # behind one packet still waiting
    send_burst(net, 1, at=0.100, first=4)  # idle link: no queueing
    send_burst(net, 1, at=0.100, first=5, size=100)  # 0.1 ms, behind the previous one
    net.run()
    assert [t for t, _ in arrivals(net)] == pytest.approx(
        [0.006, 0.007, 0.008, 0.009, 0.106, 0.1061]
    )


def test_network_losses_name_their_packet() -> None:
    """The ``packet`` field of a network loss is the lost packet's number (1-based):
    ``Network.packets[packet - 1]`` holds its bytes, sent at the loss's time."""
    net = two(bandwidth=1e6, queue_limit=3, loss=0.2)
    send_burst(net, 40)
    net.outage("a", "b", 0.5, 0.6)
    send_burst(net, 5, at=0.55, first=40)
    net.run()
    lost = [r for r in net.trace if r.event == "segment_dropped" and "to" in r.data]
    assert {r.data["reason"] for r in lost} >= {"queue-overflow", "link-down"}
    numbers = [r.data["packet"] for r in lost]
    assert len(set(numbers)) == len(numbers) == net.stats.lost_total
    for r in lost:
        time, raw = net.packets[r.data["packet"] - 1]
        seg = Segment.decode(raw[20:], net.hosts["a"].address, net.hosts["b"].address)
        assert (time, seg.seq) == (r.time, r.data["seq"])
    kept = {seq for _, seq in arrivals(net)}
    assert kept.isdisjoint(r.data["seq"] for r in lost) and len(kept) + len(lost) == 45


def test_drop_tail_by_packets() -> None:
    net = two(bandwidth=1e6, queue_limit=3)
    send_burst(net, 10)
    send_burst(net, 2, at=1.0, first=10)  # the queue drained meanwhile
    net.run()
    # One packet in service plus three waiting are accepted; six overflow.
    assert [seq for _, seq in arrivals(net)] == [0, 1, 2, 3, 10, 11]
    overflow = drops(net, "queue-overflow")
    assert [r.data["seq"] for r in overflow] == [4, 5, 6, 7, 8, 9]
    assert all(r.host == "a" and r.data["to"] == "b" for r in overflow)
    ab = net.link_stats("a", "b")
    assert ab.queue_drops == 6 and ab.lost == {"queue-overflow": 6}
    assert ab.max_queue_packets == 3
    assert net.stats.queue_drops == 6
    assert_accounted(net)


def test_drop_tail_by_bytes() -> None:
    net = two(bandwidth=1e6, queue_bytes=2500)
    send_burst(net, 5)
    send_burst(net, 1, at=0.0, first=5, size=400)  # still fits: 2000 + 400 <= 2500
    net.run()
    assert [seq for _, seq in arrivals(net)] == [0, 1, 2, 5]
    assert net.stats.queue_drops == 2 and net.stats.max_queue_bytes == 2400


def test_zero_queue_only_passes_packets_to_an_idle_link() -> None:
    net = two(bandwidth=1e6, queue_limit=0)
    send_burst(net, 3)
    net.run()
    assert [seq for _, seq in arrivals(net)] == [0]
    assert net.stats.max_queue_packets == 0


def test_bandwidth_keeps_fifo_order_across_packet_sizes() -> None:
    net = two(delay=0.01, bandwidth=1e6)
    net.inject(0.0, "a", rst(net, "a", "b", 0, size=1500))
    net.inject(0.0, "a", rst(net, "a", "b", 1, size=40))  # a small ACK-sized packet
    net.run()
    got = arrivals(net)
    assert [seq for _, seq in got] == [0, 1]
    assert [t for t, _ in got] == pytest.approx([0.022, 0.02232])


@pytest.mark.parametrize("bandwidth", [None, 10e6])
def test_jitter_reorders_only_when_allowed(bandwidth: float | None) -> None:
    def order(reorders: bool) -> tuple[list[int], int]:
        net = two(seed=4, delay=0.01, jitter=0.02, bandwidth=bandwidth,
                  jitter_reorders=reorders)
        for i in range(200):
            net.inject(i * 0.001, "a", rst(net, "a", "b", i))
        net.run()
        return [seq for _, seq in arrivals(net)], net.stats.reordered

    seqs, reordered = order(False)
    assert seqs == list(range(200)) and reordered == 0
    seqs, reordered = order(True)
    assert seqs != list(range(200)) and sorted(seqs) == list(range(200))
    assert reordered > 0


def test_explicit_reorder_still_reorders_a_fifo_link() -> None:
    net = two(seed=2, bandwidth=10e6, jitter_reorders=False, reorder=0.2,
              reorder_delay=0.02)
    for i in range(50):
        net.inject(i * 0.001, "a", rst(net, "a", "b", i))
    net.run()
    assert net.stats.reordered > 0


def test_transfer_through_a_bottleneck_is_paced_by_it() -> None:
    data = random.Random(7).randbytes(150_000)
    net, app = echo(data, seed=7, delay=0.01, bandwidth=2e6, queue_limit=8)
    assert bytes(app.received) == data
    ab = net.link_stats("client", "server")
    assert ab.max_queue_packets <= 8
    done = max(r.time for r in net.trace if r.event == "segment_received" and r.host == "client")
    assert done >= 2 * len(data) * 8 / 2e6  # each way through the bottleneck
    assert_accounted(net)


# --- corruption ------------------------------------------------------------------


def capture(net: Network, host: str) -> list[bytes]:
    """Every raw packet handed to ``host``'s stack."""
    got: list[bytes] = []
    stack = net.hosts[host].stack
    receive = stack.receive

    def spy(packet: bytes, now: float) -> None:
        got.append(packet)
        receive(packet, now)

    stack.receive = spy  # type: ignore[method-assign]
    return got


def bit_distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("bits", [1, 5])
def test_corruption_flips_tcp_bits_and_the_receiver_drops_it(bits: int) -> None:
    net = two(seed=3, corrupt=1.0, corrupt_bits=bits)
    got = capture(net, "b")
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)  # SYN to a closed port
    net.run(until=0.5)
    ((_, original),) = net.packets
    (received,) = got
    assert received[:20] == original[:20]  # the IP header is intact
    assert 1 <= bit_distance(received, original) <= bits
    assert net.corrupted == [(1, 0.0)]
    assert net.stats.corrupted == 1 and net.link_stats("a", "b").corrupted == 1
    # The network traces nothing: the receiving stack drops it, no RST comes back.
    (drop,) = [r for r in net.trace if r.event == "segment_dropped"]
    assert drop.host == "b" and drop.data["reason"] in ("bad-checksum", "bad-data-offset")
    assert not [r for r in net.trace if r.event == "segment_received"]


def test_multi_bit_corruption_may_pass_the_checksum_and_is_counted() -> None:
    net = two(seed=1, corrupt=1.0, corrupt_bits=2)
    for i in range(400):
        net.inject(i * 0.001, "a", rst(net, "a", "b", i, size=100))
    net.run()
    stats = net.stats
    assert stats.corrupted == 400
    detected = [r for r in drops(net, "bad-checksum") + drops(net, "bad-data-offset")]
    assert 0 < stats.corrupted_undetected < 40  # the Internet checksum is weak, not blind
    assert len(detected) == stats.corrupted - stats.corrupted_undetected


def test_echo_survives_two_percent_corruption() -> None:
    data = random.Random(11).randbytes(60_000)
    net, app = echo(data, seed=11, delay=0.01, corrupt=0.02)
    assert hashlib.sha256(app.received).digest() == hashlib.sha256(data).digest()
    reasons = Counter(r.data["reason"] for r in net.trace if r.event == "segment_dropped")
    assert reasons["bad-checksum"] > 0
    assert reasons["bad-checksum"] + reasons["bad-data-offset"] == net.stats.corrupted
    assert net.stats.corrupted_undetected == 0  # one bit flipped: always detected
    assert len(net.corrupted) == net.stats.corrupted
    assert_accounted(net)


# --- burst loss ------------------------------------------------------------------


def loss_runs(net: Network, count: int, reason: str) -> list[int]:
    """Lengths of the runs of consecutive lost packets among ``count`` sent 1 ms apart."""
    lost = {round(r.time * 1000) for r in drops(net, reason)}
    runs, current = [], 0
    for i in range(count):
        if i in lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def test_gilbert_elliott_losses_come_in_bursts() -> None:
    count = 10_000
    ge = GilbertElliott(p_good_to_bad=0.02, p_bad_to_good=0.25)
    net = two(seed=5, burst_loss=ge)
    packet = rst(net, "a", "b", 0, size=40)
    for i in range(count):
        net.inject(i / 1000, "a", packet)
    net.run()
    runs = loss_runs(net, count, "burst-loss")
    assert sum(runs) == net.stats.lost["burst-loss"]
    assert sum(runs) / count == pytest.approx(ge.loss_rate, rel=0.2)
    assert sum(runs) / len(runs) == pytest.approx(1 / ge.p_bad_to_good, rel=0.2)

    # Independent losses at the same rate come one at a time.
    iid = two(seed=5, loss=ge.loss_rate)
    for i in range(count):
        iid.inject(i / 1000, "a", packet)
    iid.run()
    runs = loss_runs(iid, count, "lost-in-network")
    assert sum(runs) / len(runs) < 1.2


def test_gilbert_elliott_partial_losses_and_validation() -> None:
    ge = GilbertElliott(0.1, 0.1, loss_good=0.0, loss_bad=0.5)
    assert ge.loss_rate == pytest.approx(0.25)
    with pytest.raises(ValueError):
        GilbertElliott(1.5, 0.1)
    with pytest.raises(ValueError):
        GilbertElliott(0.1, 0.1, loss_bad=-0.1)


def test_echo_survives_burst_loss() -> None:
    data = random.Random(3).randbytes(20_000)
    net, app = echo(data, seed=3, delay=0.01,
                    burst_loss=GilbertElliott(p_good_to_bad=0.02, p_bad_to_good=0.5))
    assert bytes(app.received) == data
    assert net.stats.lost.get("burst-loss", 0) > 0
    assert_accounted(net)


# --- outages ---------------------------------------------------------------------


def ticks(net: Network, src: str, dst: str, count: int = 100) -> None:
    """One packet every 10 ms from ``src``, its seq the tick number."""
    for i in range(count):
        net.inject(i / 100, src, rst(net, src, dst, i, size=100))


def test_outage_drops_exactly_the_packets_sent_in_the_window() -> None:
    net = two(delay=0.05)
    net.outage("a", "b", 0.3, 0.5)
    ticks(net, "a", "b")
    ticks(net, "b", "a")
    net.run()
    for src, dst in (("a", "b"), ("b", "a")):
        lost = [r.data["seq"] for r in drops(net, "link-down") if r.host == src]
        assert lost == list(range(30, 50))
        # Packets sent just before the outage are on the wire and still arrive.
        assert [s for _, s in arrivals(net, dst)] == [*range(30), *range(50, 100)]
        assert net.link_stats(src, dst).lost == {"link-down": 20}


def test_one_way_outage_and_scheduled_link_down() -> None:
    net = two()
    net.outage("a", "b", 0.3, 0.5, both_directions=False)
    back = net.direction("b", "a")
    # Scheduled first, so the flips come before the packets sent at the same times.
    net.at(0.7, lambda: setattr(back, "up", False))
    net.at(0.8, lambda: setattr(back, "up", True))
    ticks(net, "a", "b")
    ticks(net, "b", "a")
    net.run()
    assert net.link_stats("a", "b").lost == {"link-down": 20}
    lost_back = [r.data["seq"] for r in drops(net, "link-down") if r.host == "b"]
    assert lost_back == list(range(70, 80))
    with pytest.raises(ValueError):
        net.outage("a", "b", 1.0, 1.0)


def test_transfer_resumes_after_an_outage() -> None:
    data = random.Random(2).randbytes(30_000)
    net = Network(seed=2)
    app = SendClient(data)
    client = net.add_host("client", "192.0.2.1", app=app)
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, delay=0.01, bandwidth=1e6)
    net.outage(client, server, 0.1, 2.0)
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=600.0)
    assert bytes(app.received) == data
    assert net.stats.lost["link-down"] > 0
    assert_accounted(net)


# --- asymmetric links ------------------------------------------------------------


def test_asymmetric_link() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    up = net.link("a", "b", delay=0.01, bandwidth=1e6,
                  reverse=LinkConfig(delay=0.05, bandwidth=10e6, loss=0.0))
    assert net.direction("a", "b") is up and up.bandwidth == 1e6
    assert net.direction("b", "a").delay == 0.05
    net.inject(0.0, "a", rst(net, "a", "b", 1))
    net.inject(0.0, "b", rst(net, "b", "a", 2))
    net.run()
    ((t_up, seq_up),) = arrivals(net, "b")
    ((t_down, seq_down),) = arrivals(net, "a")
    assert (seq_up, seq_down) == (1, 2)
    assert t_up == pytest.approx(0.010 + 0.008) and t_down == pytest.approx(0.050 + 0.0008)


def test_echo_over_an_asymmetric_bottleneck() -> None:
    data = random.Random(9).randbytes(50_000)
    net, app = echo(data, seed=9, delay=0.02, bandwidth=1e6, queue_limit=20,
                    reverse=LinkConfig(delay=0.005, bandwidth=5e6, queue_limit=20, loss=0.01))
    assert bytes(app.received) == data
    assert_accounted(net)


# --- statistics, validation, determinism -----------------------------------------


def test_stats_count_duplicates_and_reorders() -> None:
    net = two(seed=8, duplicate=0.3, reorder=0.3, reorder_delay=0.02, loss=0.1)
    for i in range(100):
        net.inject(i * 0.001, "a", rst(net, "a", "b", i, size=60))
    net.run()
    s = net.link_stats("a", "b")
    assert s.sent == 100 and s.duplicated > 0 and s.reordered > 0
    assert s.lost["lost-in-network"] > 0
    assert s.delivered == len(arrivals(net))
    assert_accounted(net)
    out = net.stats.to_dict()
    assert out["directions"]["a->b"]["duplicated"] == s.duplicated
    assert isinstance(net.stats.directions[("b", "a")], LinkStats)


def test_no_route_and_unparseable_packets_are_counted() -> None:
    net = Network()
    net.add_host("a", "192.0.2.1")
    net.hosts["a"].stack.connect("192.0.2.77", 9, now=0.0)
    net.inject(0.1, "a", b"\x45garbage")
    net.run(until=0.5)
    assert net.stats.lost == {"no-route": 1, "unparseable": 1}
    assert net.stats.sent == 2


def test_a_host_reaches_its_own_address_over_a_loopback_without_delay() -> None:
    net = Network()
    a = net.add_host("a", "192.0.2.1")
    a.auto_accept = True
    a.stack.listen(7)
    client = a.stack.connect("192.0.2.1", 7, now=0.0)
    net.run(until=0.001)
    (server,) = [c for c in a.stack.connections if c.passive]
    assert client.state.value == server.state.value == "ESTABLISHED"
    client.send(b"to myself")
    net.run(until=0.002)
    assert server.read() == b"to myself"
    assert net.stats.lost_total == 0
    assert net.link_stats("a", "a").delivered == net.stats.delivered > 0
    # It is configured like any link: a loopback can be slowed down too.
    net.link("a", "a", delay=0.5)
    client.send(b"slow")
    net.run(until=0.4)
    assert server.read() == b""
    net.run(until=2.0)  # (Nagle waits for the delayed ACK of the first data)
    assert server.read() == b"slow"


def test_link_config_validation() -> None:
    for bad in ({"bandwidth": 0}, {"queue_limit": -1}, {"queue_bytes": -5},
                {"corrupt": 1.5}, {"corrupt_bits": 0}):
        with pytest.raises(ValueError):
            LinkConfig(**bad)
    assert LinkConfig(bandwidth=1e6).serialization_time(125) == pytest.approx(0.001)
    assert LinkConfig().serialization_time(1500) == 0.0


def test_keep_packets_off() -> None:
    net = Network(seed=1, keep_packets=False)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    net.link("a", "b")
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    net.run()
    assert net.packets == [] and net.packets_sent == 2


def impaired_run(seed: int) -> Network:
    """Every impairment at once, an outage included (single-bit corruption: a
    16-bit checksum misses some multi-bit errors, which would corrupt data)."""
    data = random.Random(1).randbytes(60_000)
    net = Network(seed=seed)
    app = SendClient(data)
    client = net.add_host("client", "192.0.2.1", app=app)
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, delay=0.01, jitter=0.005, jitter_reorders=False, bandwidth=2e6,
             queue_limit=4, corrupt=0.03, corrupt_bits=1, duplicate=0.03, reorder=0.03,
             loss=0.02, burst_loss=GilbertElliott(0.02, 0.5))
    net.outage(client, server, 0.15, 0.45)  # while data is certainly flowing
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=120.0)
    assert bytes(app.received) == data
    return net


def test_same_seed_same_trace() -> None:
    net = impaired_run(21)
    assert {"queue-overflow", "burst-loss", "link-down", "lost-in-network"} <= set(net.stats.lost)
    assert net.stats.corrupted > 0 and net.stats.duplicated > 0
    first = [r.to_json() for r in net.trace]
    again = impaired_run(21)
    assert first == [r.to_json() for r in again.trace]
    assert net.stats == again.stats and net.corrupted == again.corrupted
    assert first != [r.to_json() for r in impaired_run(22).trace]
