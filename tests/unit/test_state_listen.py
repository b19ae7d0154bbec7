"""LISTEN: RFC 9293 §3.10.7.2, through a Stack listener and a bare passive TCB.

Conformance lines (reference/conformance-scenarios.md, "LISTEN"):

* SYN -> SYN-RECEIVED, SYN-ACK (SEQ=ISS, ACK=IRS+1, MSS option; optional
  options echoed only when offered): ``test_syn_*``.
* RST ignored; ACK -> RST <SEQ=SEG.ACK>; SYN+ACK -> RST:
  ``test_rst_is_ignored*``, ``test_ack_draws_rst*``.
* Peer MSS absent -> 536 (IPv4) / 1220 (IPv6); MSS 0 or tiny clamped and a
  transfer with it terminates: ``test_peer_mss_*``.
* SYN to broadcast/multicast or from an invalid source dropped:
  ``test_syn_to_*_is_dropped``, ``test_syn_from_invalid_source_is_dropped``.
* Listening does not disturb existing connections (MUST-41/42):
  ``test_listen_does_not_disturb_*``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from tcp_script import (
    ISS,
    PEER,
    PEER_ADDR,
    US,
    US_ADDR,
    Out,
    Script,
    describe,
    drain,
    make_listen,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection, Endpoint
from tcpstack.errors import LocalProtocolError
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.wire import Mss, SackPermitted, Timestamps, WindowScale

IRS = 3_000_000


def only_conn(stack: Stack) -> Connection:
    [conn] = stack.connections
    return conn


# ----------------------------------------------------------------------
# SYN
# ----------------------------------------------------------------------


def test_syn_creates_syn_received_and_sends_syn_ack(listen: Stack) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS, options=(Mss(1400),), window=4000)), 1.0)
    conn = only_conn(listen)
    assert conn.state is State.SYN_RECEIVED
    assert conn.passive
    assert (conn.local, conn.remote) == (Endpoint(US_ADDR, 80), PEER)
    [syn_ack] = stack_segments(listen, at=1.0)
    # <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with our MSS (MUST-14).
    assert describe([syn_ack], [Out("SA", 0, 0, mss=1)], (conn.iss, IRS)) == [
        Out("SA", seq=0, ack=1, mss=1460)
    ]
    assert syn_ack.window == conn.rcv_wnd > 0
    assert (conn.irs, conn.rcv_nxt) == (IRS, IRS + 1)
    assert conn.snd_nxt == conn.iss + 1
    assert conn.snd_wnd == 4000
    assert conn.snd_mss == 1400
    # A half-open TCB is not reported to the application.
    assert stack_events(listen) == []
    assert listen.accept(80) is None


def test_syn_ack_options_not_offered_are_not_sent(listen: Stack) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS)), 1.0)
    [syn_ack] = stack_segments(listen, at=1.0)
    assert syn_ack.wscale is None
    assert not syn_ack.sack_permitted
    assert syn_ack.timestamps is None
    assert syn_ack.mss == 1460


def test_syn_ack_echoes_optional_options_only_when_offered(listen: Stack) -> None:
    # RFC 7323 §1.3/§2.2, RFC 2018 §2: window scale, SACK-permitted and
    # timestamps may appear on a SYN-ACK only if the SYN carried them
    # (checked by the test above); when offered, echoing or declining are both
    # allowed, but an echoed option must be well formed.
    offered = (Mss(1460), WindowScale(7), SackPermitted(), Timestamps(1, 0))
    listen.receive(packet(peer_seg("S", seq=IRS, options=offered)), 1.0)
    [syn_ack] = stack_segments(listen, at=1.0)
    assert syn_ack.mss == 1460
    assert syn_ack.wscale in (None, *range(15))  # shift at most 14 (RFC 7323 §2.3)
    assert syn_ack.timestamps is None or syn_ack.timestamps.tsecr == 1  # TSecr = their TSval


def test_syn_with_text_does_not_acknowledge_the_text(listen: Stack) -> None:
    # §3.10.7.2: "any other control or text should be queued for processing
    # later": the SYN-ACK acknowledges only the SYN, nothing is readable yet.
    listen.receive(packet(peer_seg("S", seq=IRS, data=b"early")), 1.0)
    conn = only_conn(listen)
    [syn_ack] = stack_segments(listen, at=1.0)
    assert syn_ack.ack == IRS + 1
    assert conn.readable == 0


def test_syn_text_is_processed_once_established(listen: Stack) -> None:
    # §3.10.7.2: the queued text is processed when the handshake completes.
    listen.receive(packet(peer_seg("S", seq=IRS, data=b"early")), 1.0)
    conn = only_conn(listen)
    [syn_ack] = stack_segments(listen, at=1.0)
    listen.receive(packet(peer_seg("A", seq=IRS + 1, ack=syn_ack.seq + 1)), 1.1)
    assert conn.state is State.ESTABLISHED
    assert conn.read() == b"early"
    assert conn.rcv_nxt == IRS + 1 + 5
    # The peer resends the same text (it saw only its SYN acknowledged): an
    # old duplicate, acknowledged at once, not delivered twice.
    listen.receive(packet(peer_seg("PA", seq=IRS + 1, ack=syn_ack.seq + 1, data=b"early")), 1.2)
    [ack] = stack_segments(listen, at=1.2)
    assert ack.ack == IRS + 6 and not ack.payload
    assert conn.readable == 0


def test_passive_open_moves_a_closed_tcb_to_listen() -> None:
    # §3.10.1 OPEN, passive, on a TCB whose remote socket is known: CLOSED -> LISTEN.
    conn = Connection(US, PEER, iss=ISS)
    conn.open_passive(now=0.5)
    assert conn.state is State.LISTEN and conn.passive
    assert [e for e in drain(conn)] == [ev.StateChanged(State.CLOSED, State.LISTEN)]
    s = Script(conn)
    s.rx("S", seq=0, ack=0, options=(Mss(1000),), at=1.0)
    assert s.state is State.SYN_RECEIVED
    s.expect([Out("SA", seq=0, ack=1, mss=1460)], at=1.0)
    with pytest.raises(LocalProtocolError):
        conn.open_passive(now=1.1)


def test_send_in_listen_opens_actively(listen_conn: Script) -> None:
    # §3.10.2 SEND, LISTEN: "If the remote socket is specified, then change the
    # connection from passive to active, select an ISS. Send a SYN segment ...
    # Enter SYN-SENT state. Data associated with SEND may be ... queued for
    # transmission after entering ESTABLISHED state."
    s = listen_conn
    assert s.conn.send(b"hello", now=1.0) == 5
    assert s.state is State.SYN_SENT and not s.conn.passive
    s.expect([Out("S", seq=0, mss=1460)], at=1.0)
    s.rx("SA", seq=0, ack=1, options=(Mss(1460),), at=1.1)
    assert s.state is State.ESTABLISHED
    s.expect([Out("PA", seq=1, ack=1, len=5)], at=1.1)


def test_close_of_a_listen_tcb_deletes_it(listen_conn: Script) -> None:
    # §3.10.4 CLOSE, LISTEN: "Any outstanding RECEIVEs are returned with 'error:
    # closing' responses. Delete TCB, enter CLOSED state, and return."
    s = listen_conn
    s.conn.close(now=1.0)
    s.expect_nothing(at=1.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionClosed()]


def test_abort_of_a_listen_tcb_deletes_it_without_rst(listen_conn: Script) -> None:
    # §3.10.5 ABORT, LISTEN: "Any outstanding RECEIVEs should be returned with
    # 'error: connection reset' responses. Delete TCB, enter CLOSED state, and
    # return." Nothing is sent: there is no peer yet.
    s = listen_conn
    s.conn.abort(now=1.0)
    s.expect_nothing(at=1.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionAborted()]


def test_syn_on_bare_listen_tcb(listen_conn: Script) -> None:
    s = listen_conn
    s.rx("S", seq=0, ack=0, options=(Mss(1000),), at=1.0)
    assert s.state is State.SYN_RECEIVED
    s.expect([Out("SA", seq=0, ack=1, mss=1460)], at=1.0)
    assert s.conn.snd_mss == 1000
    assert s.conn.timer("rto") == 2.0


# ----------------------------------------------------------------------
# RST, ACK, other segments
# ----------------------------------------------------------------------


@pytest.mark.parametrize("letters", ["R", "RA", "RS", "RF"])
def test_rst_is_ignored(listen: Stack, letters: str) -> None:
    # §3.10.7.2 first: "An incoming RST segment could not be valid ... It should be ignored."
    listen.receive(packet(peer_seg(letters, seq=IRS, ack=99)), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.connections == []
    assert listen.listening(80)


@pytest.mark.parametrize("letters", ["R", "RA"])
def test_rst_is_ignored_by_bare_listen_tcb(listen_conn: Script, letters: str) -> None:
    listen_conn.rx(letters, seq=0, ack=5, at=1.0)
    listen_conn.expect_nothing(at=1.0)
    assert listen_conn.state is State.LISTEN


@pytest.mark.parametrize(
    ("letters", "data"), [("A", b""), ("SA", b""), ("PA", b"abc"), ("FA", b""), ("SFA", b"")]
)
def test_ack_draws_rst_seq_seg_ack(listen: Stack, letters: str, data: bytes) -> None:
    # §3.10.7.2 second: "Any acknowledgment is bad ... <SEQ=SEG.ACK><CTL=RST>"
    listen.receive(packet(peer_seg(letters, seq=IRS, ack=0xDEADBEEF, data=data)), 1.0)
    got = stack_segments(listen, at=1.0)
    assert describe(got, [Out("R", 0)], (0, 0)) == [Out("R", seq=0xDEADBEEF)]
    assert listen.connections == []


@pytest.mark.parametrize("letters", ["A", "SA"])
def test_ack_draws_rst_from_bare_listen_tcb(listen_conn: Script, letters: str) -> None:
    listen_conn.rx(letters, seq=0, ack=17, at=1.0)
    listen_conn.expect([Out("R", seq=17)], at=1.0)
    assert listen_conn.state is State.LISTEN


@pytest.mark.parametrize(("letters", "data"), [("F", b""), ("P", b"data"), ("", b""), ("U", b"")])
def test_segment_without_syn_or_ack_is_dropped(listen: Stack, letters: str, data: bytes) -> None:
    # §3.10.7.2 fourth: "Any other control or text-bearing segment ... drop it and return."
    listen.receive(packet(peer_seg(letters, seq=IRS, data=data)), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.connections == []
    assert listen.stats["dropped:no-syn-in-listen"] == 1


def test_fin_without_syn_dropped_by_bare_listen_tcb(listen_conn: Script) -> None:
    listen_conn.rx("F", seq=0, at=1.0)
    listen_conn.expect_nothing(at=1.0)
    assert listen_conn.state is State.LISTEN


# ----------------------------------------------------------------------
# MSS (§3.7.1, MUST-15/16)
# ----------------------------------------------------------------------


def complete_passive(s: Script, *, at: float) -> None:
    s.expect([Out("SA", seq=0, ack=1)], at=at)
    s.rx("A", seq=1, ack=1, at=at + 0.1)
    assert s.state is State.ESTABLISHED


def test_peer_mss_absent_assumes_536_on_ipv4(listen_conn: Script) -> None:
    s = listen_conn
    s.rx("S", seq=0, ack=0, at=1.0)  # no MSS option
    assert s.conn.snd_mss == 536
    complete_passive(s, at=1.0)
    s.conn.send(b"x" * 2000, now=2.0)
    # Full 536-byte segments; Nagle holds the 392-byte tail while data is in flight.
    s.expect(
        [Out("A", seq=1, ack=1, len=536), Out("A", seq=537, ack=1, len=536),
         Out("A", seq=1073, ack=1, len=536)],
        at=2.0,
    )
    s.rx("A", seq=1, ack=1609, at=2.1)
    s.expect([Out("PA", seq=1609, ack=1, len=392)], at=2.1)


def test_peer_mss_absent_assumes_1220_on_ipv6() -> None:
    # MUST-15: 1220 for IPv6 (1280 - 60).
    stack = Stack(IPv6Address("2001:db8::1"), isn_key=b"k" * 16)
    stack.listen(80)
    peer = IPv6Address("2001:db8::2")
    stack.receive(packet(peer_seg("S", seq=IRS), src=peer, dst=IPv6Address("2001:db8::1")), 1.0)
    conn = only_conn(stack)
    assert conn.snd_mss == 1220


def test_peer_mss_is_capped_by_ours(listen_conn: Script) -> None:
    listen_conn.rx("S", seq=0, ack=0, options=(Mss(9000),), at=1.0)
    assert listen_conn.conn.snd_mss == 1460


@pytest.mark.parametrize("peer_mss", [0, 1, 20, 63])
def test_peer_mss_tiny_is_clamped_and_transfer_terminates(peer_mss: int) -> None:
    config = TcpConfig()
    s = make_listen(config=config)
    s.rx("S", seq=0, ack=0, options=(Mss(peer_mss),), at=1.0)
    assert s.conn.snd_mss == config.min_peer_mss == 64
    complete_passive(s, at=1.0)
    data = bytes(range(256)) * 8  # 2048 bytes
    assert s.conn.send(data, now=2.0) == len(data)
    got = bytearray()
    t = 2.0
    for _ in range(100):  # bounded: 2048 / 64 = 32 segments suffice
        segs = s.conn.packets_to_send(t)
        assert all(len(seg.payload) <= 64 for seg in segs)
        assert all(seg.payload or seg.has(seg.flags.ACK) for seg in segs)
        for seg in segs:
            if seg.payload and seg.seq == s.iss + 1 + len(got):
                got += seg.payload
        # The peer acknowledges everything it got.
        s.rx("A", seq=1, ack=1 + len(got), at=t + 0.05)
        t += 0.1
        if len(got) == len(data):
            break
    assert bytes(got) == data
    assert s.conn.in_flight == 0


# ----------------------------------------------------------------------
# Address validation (MUST-57, MUST-63, §3.9.2.3)
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "dst", [IPv4Address("255.255.255.255"), IPv4Address("224.0.0.1"), IPv4Address("192.0.2.255")]
)
def test_syn_to_broadcast_or_multicast_is_dropped(listen: Stack, dst: IPv4Address) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS), dst=dst), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.connections == []


def test_syn_to_multicast_is_dropped_by_a_stack_on_any_address() -> None:
    # Even a stack configured on a multicast-looking address never accepts it.
    stack = Stack(IPv6Address("2001:db8::1"), isn_key=b"k" * 16)
    stack.listen(80)
    group = IPv6Address("ff02::1")
    stack.receive(packet(peer_seg("S", seq=IRS), src=IPv6Address("2001:db8::2"), dst=group), 1.0)
    assert stack_segments(stack, at=1.0) == []
    assert stack.connections == []


@pytest.mark.parametrize(
    "src",
    [
        IPv4Address("255.255.255.255"),
        IPv4Address("224.0.0.5"),
        IPv4Address("239.1.2.3"),
        IPv4Address("0.0.0.0"),
    ],
)
def test_syn_from_invalid_source_is_dropped(listen: Stack, src: IPv4Address) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS), src=src), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.connections == []
    assert listen.stats["dropped:invalid-address"] == 1


def test_syn_from_port_zero_is_dropped(listen: Stack) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS, sport=0)), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.connections == []


# ----------------------------------------------------------------------
# Existing connections (MUST-41, MUST-42)
# ----------------------------------------------------------------------


def test_listen_does_not_disturb_an_established_connection_on_the_port() -> None:
    stack = Stack(US_ADDR, isn_key=b"k" * 16)
    conn = stack.connect(PEER_ADDR, 80, now=0.0, local_port=8080)
    [syn] = stack_segments(stack, at=0.0)
    stack.receive(packet(peer_seg("SA", seq=IRS, ack=syn.seq + 1, sport=80, dport=8080)), 0.1)
    assert conn.state is State.ESTABLISHED
    stack_segments(stack, at=0.1)
    stack.listen(8080)  # MUST-41: a passive OPEN never disturbs existing records
    assert stack.connections == [conn]
    assert conn.state is State.ESTABLISHED
    # A segment of the existing connection still goes to it, not the listener.
    stack.receive(
        packet(peer_seg("PA", seq=IRS + 1, ack=syn.seq + 1, sport=80, dport=8080, data=b"hi")),
        1.0,
    )
    assert conn.readable == 2
    assert stack.connections == [conn]
    # A SYN from another peer port makes a second, separate TCB.
    stack.receive(packet(peer_seg("S", seq=9, sport=81, dport=8080)), 1.1)
    assert len(stack.connections) == 2
    assert conn.state is State.ESTABLISHED
    assert stack.find(8080, PEER_ADDR, 81).state is State.SYN_RECEIVED


def test_listen_does_not_disturb_syn_sent_on_the_port() -> None:
    # MUST-42: LISTEN on a port while another TCB on it is in SYN-SENT.
    stack = Stack(US_ADDR, isn_key=b"k" * 16)
    conn = stack.connect(PEER_ADDR, 80, now=0.0, local_port=8080)
    [syn] = stack_segments(stack, at=0.0)
    stack.listen(8080)
    assert conn.state is State.SYN_SENT
    stack.receive(packet(peer_seg("SA", seq=IRS, ack=syn.seq + 1, sport=80, dport=8080)), 0.2)
    assert conn.state is State.ESTABLISHED
    [ack] = stack_segments(stack, at=0.2)
    assert describe([ack], [Out("A", 0, 0)], (syn.seq, IRS)) == [Out("A", seq=1, ack=1)]
    assert stack.accept(8080) is None  # an active open is not in the accept queue
    assert [type(e) for _, e in stack_events(stack)].count(ev.Connected) == 1


def test_new_listener_does_not_disturb_half_open_passive_connections(listen: Stack) -> None:
    listen.receive(packet(peer_seg("S", seq=IRS)), 1.0)
    conn = only_conn(listen)
    stack_segments(listen, at=1.0)
    listen.listen(81)
    listen.unlisten(81)
    assert listen.connections == [conn]
    listen.receive(packet(peer_seg("A", seq=IRS + 1, ack=conn.iss + 1)), 1.1)
    assert conn.state is State.ESTABLISHED
    assert listen.accept(80) is conn


def test_backlog_full_drops_syn() -> None:
    stack = Stack(US_ADDR, isn_key=b"k" * 16)
    stack.listen(80, backlog=1)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1000)), 1.0)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1001)), 1.0)
    assert len(stack.connections) == 1
    assert len(stack_segments(stack, at=1.0)) == 1
    assert stack.stats["dropped:backlog-full"] == 1
