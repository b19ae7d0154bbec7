"""The send path's short routines change speed, never output.

Two of them are compared here with the general code they short-cut:

* :meth:`Sender._full_segments` (full-sized new segments, built with the
  window, TSval and options computed once per output) against the general
  loop of ``Sender._data_segments``, which a connection uses alone while the
  public class attribute :attr:`Sender.full_segments` is False: the same
  random scripts of peer segments, user calls and timeouts as the header
  prediction's test, with more configurations (offload, corking, Nagle off,
  pacing by BBR), and seeded lossy transfers between two stacks, must give
  equal segments, events, TCBs, trace records and packets;
* :class:`PacketEncoder`'s packing of an IPv4 packet from the fields
  (segments without options or with NOP, NOP, Timestamps) against the
  general encoders, :meth:`Segment.encode` with :func:`build_ip` and
  :meth:`Segment.encode_header`, byte for byte; and
  :func:`decode_tcp_packet`'s unpacking of such packets against its general
  parser, on whole and damaged packets.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fastpath_equivalence import Peer, compare_runs, establish, peer_segment, steps

import tcpstack.sender as sender_module
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.errors import MalformedPacket
from tcpstack.sender import Sender
from tcpstack.trace import Trace
from tcpstack.wire import (
    NOP,
    Flags,
    IPv4Header,
    Mss,
    PacketEncoder,
    PartialChecksumEncoder,
    Sack,
    Segment,
    Timestamps,
    build_ip,
    decode_tcp_packet,
    pseudo_header_sum,
)
from tcpstack.wire.options import TcpOption

if not str(sender_module.__file__).endswith(".py"):
    pytest.skip("tcpstack.sender is compiled with mypyc (no Python frames to spy on)",
                allow_module_level=True)


@contextmanager
def general_loop() -> Iterator[None]:
    """Within: every connection sends through the general loop only."""
    Sender.full_segments = False
    try:
        yield
    finally:
        Sender.full_segments = True


configs = st.builds(
    TcpConfig,
    timestamps=st.booleans(),
    sack=st.booleans(),
    congestion_control=st.sampled_from(["newreno", "cubic", "bbr"]),
    ecn=st.sampled_from(["off", "on"]),
    recv_buffer=st.sampled_from([65535, 8000]),
    tso=st.booleans(),
    cork=st.booleans(),
    nagle=st.booleans(),
    quick_acks=st.sampled_from([0, 16]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, script=steps, ecn_ack=st.booleans(),
       gaps=st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.2, 1.5]), min_size=80, max_size=80))
def test_full_segments_equal_the_general_loop(
    config: TcpConfig, script: list[tuple[Any, ...]], ecn_ack: bool, gaps: list[float],
) -> None:
    fast = establish(Connection, config, ecn=ecn_ack)
    with general_loop():
        slow = establish(Connection, config, ecn=ecn_ack)
    compare_runs(fast, slow, script, gaps, slow_context=general_loop)


def test_a_bulk_sender_takes_the_short_routine() -> None:
    """Full segments of a bulk transfer go through ``_full_segments`` (so the test
    above compares it with the general loop, not the loop with itself)."""
    conn, _ = establish(Connection, TcpConfig(), ecn=False)
    peer = Peer()
    conn.receive(peer_segment(conn, peer, ("segment", 0, "una", 0, "same", "A", "next", None)),
                 0.15)
    conn.send(b"x" * 20_000, 0.2)
    called: list[str] = []

    def spy(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        if event == "call" and frame.f_code.co_name in ("_full_segments", "_data_segment"):
            called.append(frame.f_code.co_name)
        return None

    sys.setprofile(spy)  # type: ignore[arg-type]
    try:
        sent = conn.packets_to_send(0.2)
    finally:
        sys.setprofile(None)
    full = [s for s in sent if len(s.payload) == 1448]
    assert called[0] == "_full_segments" and len(full) >= 2
    assert called.count("_data_segment") == len(sent) - len(full)  # (a partial tail)


def _transfer(config: TcpConfig, *, loss: float, seed: int) -> tuple[list[Any], str, int]:
    """Packets and JSON Lines trace of a seeded 200 kB transfer with a close."""
    trace = Trace()
    net = Network(seed=seed, trace=trace)
    got: list[int] = []

    def client_app(conn: Connection, event: object) -> None:
        if type(event).__name__ == "Connected":
            conn.send(bytes(range(256)) * 780, net.now)
            conn.close(net.now)

    def server_app(conn: Connection, event: object) -> None:
        got.append(len(conn.read()))

    client = net.add_host("client", "192.0.2.1", config=config, app=client_app)
    server = net.add_host("server", "192.0.2.2", config=config, app=server_app)
    net.link(client, server, delay=0.01, loss=loss)
    server.stack.listen(80)
    net.at(0.0, lambda: client.stack.connect(server.address, 80, now=net.now))
    net.run(until=120.0)
    out = io.StringIO()
    trace.write_jsonl(out)
    return net.packets, out.getvalue(), sum(got)


@pytest.mark.parametrize("config", [
    TcpConfig(), TcpConfig(congestion_control="bbr"), TcpConfig(ecn="on"),
    TcpConfig(timestamps=False, sack=False), TcpConfig(tso=True),
], ids=["default", "bbr", "ecn", "plain", "tso"])
@pytest.mark.parametrize("loss", [0.0, 0.03])
def test_seeded_transfers_are_byte_identical(config: TcpConfig, loss: float) -> None:
    fast = _transfer(config, loss=loss, seed=11)
    with general_loop():
        slow = _transfer(config, loss=loss, seed=11)
    assert fast[2] == 199_680
    assert fast == slow


# --- the encoder ---------------------------------------------------------------

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.7")
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
option_sets = st.one_of(
    st.just(()),
    st.builds(lambda v, e: (NOP, NOP, Timestamps(v, e)), u32, u32),
    st.builds(lambda v: (Mss(v),), u16),  # not packed from the fields: the general path
    st.builds(lambda v, e, left: (NOP, NOP, Timestamps(v, e), NOP, NOP,
                                  Sack(((left, left + 9),))),
              u32, u32, st.integers(0, 2**32 - 10)),
)
segments = st.builds(
    Segment, u16, u16, u32, u32, st.integers(0, 255).map(Flags), u16, u16, option_sets,
    st.one_of(st.binary(max_size=40), st.sampled_from([bytes(1448), b"\xff" * 1447,
                                                       bytes(range(256)) * 9])),
    st.integers(0, 3))


def reference(seg: Segment, *, ttl: int, tos: int, ident: int, partial: bool) -> bytes:
    """The packet as the general encoders write it."""
    tos_byte = (tos & ~3) | seg.ecn if seg.ecn else tos
    if partial:
        tcp = bytes(seg.encode_header(pseudo_header_sum(SRC, DST, 6, 0), partial=True))
        tcp += seg.payload
    else:
        tcp = seg.encode(SRC, DST)
    return build_ip(IPv4Header(SRC, DST, ttl=ttl, tos=tos_byte, identification=ident), tcp)


@settings(max_examples=400, deadline=None)
@given(seg=segments, ttl=st.integers(0, 255), tos=st.integers(0, 255), ident=u16,
       partial=st.booleans())
def test_packed_packets_equal_the_general_encoders(seg: Segment, ttl: int, tos: int,
                                                    ident: int, partial: bool) -> None:
    kind = PartialChecksumEncoder if partial else PacketEncoder
    encoder = kind(SRC, DST, ttl=ttl, tos=tos, identification=ident)
    assert encoder.encode(seg) == reference(seg, ttl=ttl, tos=tos, ident=ident, partial=partial)


@pytest.mark.parametrize("change", [{"seq": 2**32}, {"window": 65536}, {"flags": 256},
                                    {"ecn": 4}, {"payload": bytes(65536)},
                                    {"options": (NOP, NOP, Timestamps(2**32, 0))}])
def test_out_of_range_fields_raise_as_before(change: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"src_port": 1, "dst_port": 2, "seq": 3, "ack": 4,
                              "flags": Flags.ACK, "window": 5, "options": ()}
    fields.update(change)
    options: tuple[TcpOption, ...] = fields.pop("options")
    seg = Segment(**fields, options=options)
    with pytest.raises(ValueError):
        PacketEncoder(SRC, DST).encode(seg)


# --- the decoder ---------------------------------------------------------------

def decoded(packet: bytes | bytearray, verify: bool) -> object:
    """What decode_tcp_packet gives: the addresses and segment (with its ECN
    codepoint, which segment equality leaves out), or the reason it raised."""
    try:
        src, dst, seg = decode_tcp_packet(packet, verify_checksum=verify)
    except MalformedPacket as exc:
        return exc.reason
    return src, dst, seg, seg.ecn, type(seg.payload)


@settings(max_examples=500, deadline=None)
@given(seg=segments, tos=st.integers(0, 255), verify=st.booleans(),
       damage=st.one_of(st.none(), st.tuples(st.integers(0, 80), st.integers(1, 255))),
       cut=st.sampled_from([0, 0, 0, 1, 13, -1]))
def test_unpacked_packets_equal_the_general_decoder(
    seg: Segment, tos: int, verify: bool, damage: tuple[int, int] | None, cut: int,
) -> None:
    """A packet decoded from one unpack (``bytes``) and by the general parser (a
    ``bytearray`` takes that path), whole, with a byte changed, cut short or
    with a byte too many: the same segment, or the same reason."""
    packet = bytearray(PacketEncoder(SRC, DST, tos=tos).encode(seg))
    if damage is not None and damage[0] < len(packet):
        packet[damage[0]] ^= damage[1]
    if cut > 0:
        del packet[-cut:]
    elif cut < 0:
        packet.append(0)
    assert decoded(bytes(packet), verify) == decoded(packet, verify)
