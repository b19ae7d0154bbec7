"""Whole sequence: no ACK war between a stale SYN-RECEIVED TCB and a live connection.

A and B are connected. B aborts, and its RST is lost, so A still holds an
ESTABLISHED TCB. Then an old duplicate SYN of A's 4-tuple (with timestamps,
as A's SYNs carry them) reaches B's listener: B opens a SYN-RECEIVED TCB whose
receive window ends exactly at A's SND.MAX. A answers B's SYN-ACK with an ACK
<SEQ=SND.MAX>, one beyond B's window, so B finds it unacceptable and answers
with an ACK of its own (RFC 9293 §3.10.7.4 first step), whose SEQ is just as
unacceptable to A, and so on: each side answers the other's pure ACK with a
pure ACK. Unlimited, this never ends; at zero link delay it never even lets
virtual time advance.

The rule (Linux tcp_oow_rate_limited, net.ipv4.tcp_invalid_ratelimit): an
unacceptable pure ACK draws at most one ACK per connection every
TcpConfig.invalid_ack_ratelimit seconds (0.5 s by default), which bounds the
exchange.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.events import Connected, Event
from tcpstack.seq import seq_add
from tcpstack.state import State
from tcpstack.wire import Flags, Mss, Nop, Segment, Timestamps, encode_packet

A_ADDR, B_ADDR = "192.0.2.1", "192.0.2.2"
A_PORT, B_PORT = 40000, 80
ABORT_AT = 1.0
STALE_SYN_AT = 2.0
WATCH = 10.0
"""Virtual seconds the exchange is watched after the stale SYN arrives."""
RATELIMIT = 0.5
"""Linux's tcp_invalid_ratelimit, the default interval asked for."""
SLACK = 6
"""Segments allowed beyond one per interval: B's SYN-ACK and its retransmissions
(RTO 1, 2, 4 s: four in 10 s) and the answers they draw."""


@pytest.mark.parametrize("delay", [0.0, 0.010], ids=["zero-delay", "10ms"])
def test_stale_syn_received_tcb_and_established_peer_do_not_ack_war(delay: float) -> None:
    net = Network(seed=1)
    a = net.add_host("A", A_ADDR)
    b = net.add_host("B", B_ADDR)
    net.link(a, b, delay=delay)
    b.stack.listen(B_PORT)
    conns: dict[str, Connection] = {}

    def remember(name: str) -> Callable[[Connection, Event], None]:
        def on_event(conn: Connection, event: Event) -> None:
            if isinstance(event, Connected):
                conns[name] = conn

        return on_event

    a.app = remember("A")
    b.app = remember("B")
    net.at(0.0, lambda: a.stack.connect(B_ADDR, B_PORT, local_port=A_PORT, now=net.now))
    net.run(until=ABORT_AT)
    ca, cb = conns["A"], conns["B"]
    assert ca.state is cb.state is State.ESTABLISHED
    assert ca.negotiated.timestamps

    # B aborts (§3.10.5: RST <SEQ=SND.NXT>); the RST is lost: A stays ESTABLISHED.
    rst_lost = net.drop_first(lambda p: p.src == "B" and p.segment.has(Flags.RST))
    net.at(ABORT_AT, cb.abort)
    net.run(until=STALE_SYN_AT)
    assert rst_lost.hits == 1
    assert ca.state is State.ESTABLISHED
    assert b.stack.find(B_PORT, A_ADDR, A_PORT) is None

    # An old duplicate SYN from A's port: B's SYN-RECEIVED TCB gets RCV.NXT = SEQ+1
    # and a 65535-byte window (an unscaled SYN-ACK window), ending at A's SND.MAX.
    window = min(TcpConfig().recv_buffer, 65535)
    stale = Segment(
        A_PORT, B_PORT, seq=seq_add(ca.snd_max, -(window + 1)), ack=0, flags=Flags.SYN,
        window=65535, options=(Mss(1460), Nop(), Nop(), Timestamps(12345, 0)),
    )
    net.inject(STALE_SYN_AT, a, encode_packet(a.address, b.address, stale))
    settled = True
    try:
        net.run(until=STALE_SYN_AT + WATCH, max_steps=20_000)
    except RuntimeError as exc:  # "did not settle": a livelock at zero virtual time cost
        assert "did not settle" in str(exc)
        settled = False

    cb2 = b.stack.find(B_PORT, A_ADDR, A_PORT)
    assert cb2 is not None and cb2.state is State.SYN_RECEIVED
    assert seq_add(cb2.rcv_nxt, window) == ca.snd_max  # the window edge at A's SND.MAX
    assert ca.state is State.ESTABLISHED

    sent = [r for r in net.trace if r.event == "segment_sent" and r.time >= STALE_SYN_AT]
    per_host = {h: sum(1 for r in sent if r.host == h) for h in ("A", "B")}
    span = max((r.time for r in sent), default=STALE_SYN_AT) - STALE_SYN_AT
    assert settled, f"ACK loop: {per_host} segments within {span:.3f} virtual s"
    bound = int(WATCH / RATELIMIT) + SLACK
    assert per_host["A"] <= bound and per_host["B"] <= bound, (
        f"ACK loop: {per_host} segments in {WATCH} virtual s (at most {bound} each)"
    )
