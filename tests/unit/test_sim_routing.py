"""The simulator's routing: by the destination address bytes of each packet's IP
header (IPv4 bytes 16..20, IPv6 bytes 24..40), with the packet decoded only for
scripted faults and for the trace of a loss."""

from __future__ import annotations

import io
from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpstack.drivers.apps import EchoApp, PerConnection, SendClient
from tcpstack.drivers.sim import Network
from tcpstack.trace import Trace, TraceRecord
from tcpstack.wire import Flags, IPv4Header, Segment, build_ip, encode_packet

FAMILIES = {
    "IPv4": ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.99"),
    "IPv6": ("2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::99"),
}
"""Per family: the addresses of hosts a, b and c, and one that no host has."""


def three(family: str, trace: Trace | None = None) -> Network:
    """Hosts a, b and c; a-b with 10 ms of delay, a-c with 20 ms; nothing listens."""
    a, b, c, _ = FAMILIES[family]
    net = Network(seed=1, trace=trace)
    net.add_host("a", a)
    net.add_host("b", b)
    net.add_host("c", c)
    net.link("a", "b", delay=0.010)
    net.link("a", "c", delay=0.020)
    return net


def rst(src: str, dst: str, seq: int = 1) -> bytes:
    """A RST from ``src`` to ``dst`` (a closed port: the receiver drops it silently)."""
    seg = Segment(40000, 9, seq=seq, ack=0, flags=Flags.RST, window=0, payload=b"x" * 20)
    return encode_packet(ip_address(src), ip_address(dst), seg)


def arrivals(net: Network, host: str) -> list[float]:
    """When ``host``'s stack received a segment."""
    return [r.time for r in net.trace if r.event == "segment_received" and r.host == host]


def packets_in(net: Network, host: str) -> int:
    return net.hosts[host].stack.stats["packets_in"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_packet_reaches_the_host_whose_address_it_carries(family: str) -> None:
    a, b, c, _ = FAMILIES[family]
    net = three(family)
    net.inject(0.0, "a", rst(a, b))
    net.inject(0.0, "a", rst(a, c))
    net.inject(0.5, "a", rst(a, c, seq=2))
    net.run()
    assert arrivals(net, "b") == [0.010]
    assert arrivals(net, "c") == [0.020, 0.520]
    assert net.link_stats("a", "b").delivered == 1
    assert net.link_stats("a", "c").delivered == 2
    assert net.stats.lost == {}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_packet_to_an_address_no_host_has_is_lost_no_route(family: str) -> None:
    a, _, _, nobody = FAMILIES[family]
    net = three(family)
    net.inject(0.0, "a", rst(a, nobody))
    net.run()
    assert net.stats.lost == {"no-route": 1}
    assert net.stats.sent == 1 and net.stats.delivered == 0
    (drop,) = [r for r in net.trace if r.event == "segment_dropped"]
    assert (drop.host, drop.data["reason"], drop.data["to"]) == ("a", "no-route", nobody)
    assert drop.data["packet"] == 1 and drop.data["seq"] == 1  # the segment's fields too


def test_a_host_without_a_link_to_the_destination_is_no_route_until_linked() -> None:
    _, b, c, _ = FAMILIES["IPv4"]
    net = three("IPv4")
    net.inject(0.0, "b", rst(b, c))  # b and c are not linked
    net.run()
    assert net.stats.lost == {"no-route": 1}
    assert [r.data["to"] for r in net.trace if r.event == "segment_dropped"] == ["c"]
    net.link("b", "c", delay=0.001)
    net.inject(1.0, "b", rst(b, c))
    net.run()
    assert arrivals(net, "c") == [1.001]


def test_an_ipv4_mapped_ipv6_address_is_not_the_ipv4_host() -> None:
    b = FAMILIES["IPv4"][1]
    net = three("IPv4")
    net.inject(0.0, "a", rst("2001:db8::1", f"::ffff:{b}"))
    net.run()
    assert net.stats.lost == {"no-route": 1}
    assert packets_in(net, "b") == 0


def test_relinking_takes_effect_for_the_next_packet() -> None:
    a, b, _, _ = FAMILIES["IPv4"]
    net = three("IPv4")
    net.inject(0.0, "a", rst(a, b))
    net.run()
    net.link("a", "b", delay=0.300)  # replaces both directions and their counters
    net.inject(1.0, "a", rst(a, b, seq=2))
    net.run()
    assert arrivals(net, "b") == [0.010, 1.300]
    assert net.link_stats("a", "b").sent == 1


def _valid_v4() -> bytes:
    a, b, _, _ = FAMILIES["IPv4"]
    return rst(a, b)


def _valid_v6() -> bytes:
    a, b, _, _ = FAMILIES["IPv6"]
    return rst(a, b)


def _with_byte(packet: bytes, index: int, value: int) -> bytes:
    return packet[:index] + bytes([value]) + packet[index + 1 :]


def _v4_carrying(payload: bytes, protocol: int = 6) -> bytes:
    a, b, _, _ = FAMILIES["IPv4"]
    header = IPv4Header(src=ip_address(a), dst=ip_address(b), protocol=protocol)  # type: ignore[arg-type]
    return build_ip(header, payload)


MALFORMED = {
    "empty": b"",
    "one byte": b"\x45",
    "IPv4 shorter than its header": _valid_v4()[:19],
    "IPv6 shorter than its header": _valid_v6()[:39],
    "IP version 5": _with_byte(_valid_v4(), 0, 0x55),
    "IP version 0": bytes(60),
    "IPv4 header checksum wrong": _with_byte(_valid_v4(), 8, 1),  # the TTL, unchecksummed
    "IPv4 total length beyond the packet": _valid_v4()[:-1],
    "IPv6 payload length beyond the packet": _valid_v6()[:-1],
    "not TCP": _v4_carrying(bytes(28), protocol=17),
    "TCP header truncated": _v4_carrying(rst("192.0.2.1", "192.0.2.2")[20:30]),
    "TCP data offset beyond the segment": _v4_carrying(
        _with_byte(rst("192.0.2.1", "192.0.2.2")[20:], 12, 0xF0)[:40]
    ),
}


@pytest.mark.parametrize("packet", MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_or_truncated_packet_is_dropped_and_counted(packet: bytes) -> None:
    net = three("IPv4")
    net.inject(0.0, "a", packet)
    net.inject(0.0, "a", _valid_v4())  # and the next one still gets through
    net.run()
    assert net.stats.lost == {"unparseable": 1}
    assert net.stats.sent == 2 and net.stats.delivered == 1
    assert packets_in(net, "b") == 1
    assert net.packets[0][1] == packet  # kept for pcap like any other


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["IPv4", "IPv6"]),
    st.integers(min_value=0, max_value=80),
    st.binary(max_size=80),
)
def test_whatever_bytes_are_injected_nothing_raises_and_every_packet_is_counted(
    family: str, keep: int, tail: bytes
) -> None:
    a, b, _, _ = FAMILIES[family]
    packet = rst(a, b)[:keep] + tail
    net = three(family)
    net.inject(0.0, "a", packet)
    net.run()
    stats = net.stats
    assert stats.sent == 1
    assert stats.delivered + stats.lost_total == 1
    assert packets_in(net, "b") == stats.delivered


def _lossy_echo(trace: Trace) -> Network:
    """An echo transfer over a link that loses 20 % of the packets each way."""
    net = Network(seed=3, trace=trace)
    net.add_host("client", "192.0.2.1", app=SendClient(bytes(range(256)) * 40))
    server = net.add_host("server", "192.0.2.2", app=PerConnection(EchoApp))
    net.link("client", "server", delay=0.01, loss=0.2)
    server.stack.listen(7)
    net.at(0.0, lambda: net.hosts["client"].stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=600)
    return net


def test_losses_are_counted_alike_and_traced_only_when_a_trace_is_kept() -> None:
    kept = _lossy_echo(Trace())
    unkept = _lossy_echo(Trace(keep=False))
    sunk: list[TraceRecord] = []
    sink_only = Trace(keep=False)
    sink_only.add_sink(sunk.append)
    forwarded = _lossy_echo(sink_only)
    assert kept.stats.to_dict() == unkept.stats.to_dict() == forwarded.stats.to_dict()
    lost = kept.stats.lost["lost-in-network"]
    drops = [r for r in kept.trace if r.event == "segment_dropped" and r.host in ("client",
                                                                              "server")
             and r.data["reason"] == "lost-in-network"]
    assert len(drops) == lost > 0
    assert all("seq" in r.data and "flags" in r.data for r in drops)
    assert len(unkept.trace) == 0
    assert [r.to_dict() for r in sunk] == [r.to_dict() for r in kept.trace]


def test_stepping_by_hand_is_the_same_run_as_run() -> None:
    def transfer() -> Network:
        net = Network(seed=5)
        net.add_host("client", "192.0.2.1", app=SendClient(b"y" * 30000))
        server = net.add_host("server", "192.0.2.2", app=PerConnection(EchoApp))
        net.link("client", "server", delay=0.02, loss=0.1, jitter=0.005)
        server.stack.listen(7)
        net.hosts["client"].stack.connect("192.0.2.2", 7, now=0.0)
        return net

    until = 3.0
    ran = transfer()
    ran.run(until=until)
    stepped = transfer()
    stepped.restart_run()
    while stepped.next_time() <= until:
        assert stepped.step()
    stepped.now = max(stepped.now, until)

    def jsonl(net: Network) -> str:
        out = io.StringIO()
        net.trace.write_jsonl(out)
        return out.getvalue()

    assert len(ran.trace) > 100
    assert jsonl(ran) == jsonl(stepped)
    assert ran.now == stepped.now == until
    assert ran.next_time() == stepped.next_time() > until
