"""Header prediction changes speed, never behaviour (RFC 9293 §3.10.7.4).

Two connections are brought to ESTABLISHED the same way: one as shipped, one
of a subclass that switches header prediction off through the public class
attribute :attr:`Connection.header_prediction`, so that every segment goes
through the eight steps. Both are then fed the same random sequence of peer
segments (in order or not, acknowledging new data or not, with data or
without, with or without timestamps, SACK blocks, ECN-Echo, a changed
window), user calls and timer expiries, and after every step everything
observable must be equal: the segments sent, the events, the trace records
and the TCB as its public properties show it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from ipaddress import IPv4Address
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcpstack.connection as connection_module
from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection, Endpoint
from tcpstack.errors import LocalProtocolError
from tcpstack.seq import seq_add, seq_diff
from tcpstack.state import State
from tcpstack.timers import Timer
from tcpstack.trace import Trace
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    Segment,
    Timestamps,
    WindowScale,
)
from tcpstack.wire.options import TcpOption

if not str(connection_module.__file__).endswith(".py"):
    # The opt-in compiled build (docs/performance.md): an interpreted class cannot
    # inherit from a compiled one, and compiled methods leave no Python frames.
    pytest.skip("tcpstack.connection is compiled with mypyc", allow_module_level=True)

US = Endpoint(IPv4Address("192.0.2.1"), 40000)
PEER = Endpoint(IPv4Address("192.0.2.2"), 80)
ISS = 4_294_960_000  # our sequence numbers wrap during the test
IRS = 4_294_967_000  # and so do the peer's
PEER_WSCALE = 2
PEER_MSS = 1460


class SlowPath(Connection):
    """A connection that sends every segment through the eight steps."""

    __slots__ = ()
    header_prediction = False


@dataclass
class Peer:
    """The scripted peer: its timestamp clock."""

    tsval: int = 5_000


def establish(cls: type[Connection], config: TcpConfig, *, ecn: bool,
              keep: bool = True) -> tuple[Connection, Trace]:
    """An active open of ``cls`` to ESTABLISHED at 0.1 s, traced (with ``keep``
    False, untraced: its trace keeps nothing)."""
    trace = Trace(keep=keep)
    conn = cls(US, PEER, iss=ISS, config=config, trace=trace, host="us")
    conn.open_active(0.0)
    conn.packets_to_send(0.0)
    options: tuple[TcpOption, ...] = (Mss(PEER_MSS), SackPermitted(), Timestamps(4_999, 0),
                                      Nop(), WindowScale(PEER_WSCALE))
    flags = Flags.SYN | Flags.ACK | (Flags.ECE if ecn else Flags(0))
    conn.receive(Segment(PEER.port, US.port, IRS, seq_add(ISS, 1), flags, 65535,
                         options=options), 0.1)
    conn.packets_to_send(0.1)
    assert conn.state is State.ESTABLISHED
    return conn, trace


def observe(conn: Connection) -> dict[str, Any]:
    """Everything a user can see of the TCB (public properties only)."""
    names = ("state", "snd_una", "snd_nxt", "snd_max", "snd_wnd", "snd_wl1", "snd_wl2",
             "max_snd_wnd", "rcv_nxt", "rcv_wnd", "cwnd", "ssthresh", "srtt", "rto",
             "in_flight", "in_recovery", "dupacks", "ts_recent", "readable", "at_eof",
             "send_space", "unsent", "retransmissions", "probes_out", "fin_received",
             "urgent_pending", "orphaned")
    seen = {name: getattr(conn, name) for name in names}
    seen["timers"] = {t.value: conn.timer(t) for t in Timer}
    seen["stats"] = dict(conn.stats)
    seen["phase"] = conn.recovery.phase
    return seen


def drain(conn: Connection) -> list[ev.Event]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


# One step of the script: what happens next, with parameters relative to the
# connection's state so that many segments hit the prediction and many miss it.
def mostly(common: Any, *others: Any) -> st.SearchStrategy[Any]:
    """``common`` four times in five, else one of ``others``."""
    return st.sampled_from([common] * (4 * len(others)) + list(others))


segment_step = st.tuples(
    st.just("segment"),
    mostly(0, -1, -700, 1, 1448, 70_000),  # SEG.SEQ - RCV.NXT
    st.sampled_from(["una", "una", "una", "new", "new", "new", "all", "above", "old"]),  # SEG.ACK
    st.sampled_from([0, 0, 0, 1, 100, 1448, 1448, 1448, 3000]),  # payload bytes
    mostly("same", "zero", "other"),  # SEG.WND
    st.sampled_from(["A"] * 12 + ["PA"] * 6 + ["AE", "AC", "FA", "UA", "RA", "SA"]),  # flags
    mostly("next", "same", "old", "none"),  # TSopt
    mostly(None, (1, 1448), (2896, 4344)),  # a SACK block, relative to SND.UNA
)
user_step = st.tuples(
    st.sampled_from(["send", "send", "send", "read", "read", "close", "timer", "time"]),
    st.integers(min_value=0, max_value=20_000),
)
steps = st.lists(st.one_of(segment_step, segment_step, user_step),
                 min_size=20, max_size=80)


def peer_segment(conn: Connection, peer: Peer, step: tuple[Any, ...]) -> Segment:
    """The segment ``step`` describes, in the state ``conn`` is in."""
    _, dseq, ack_kind, length, wnd_kind, letters, ts_kind, sack = step
    una, nxt = conn.snd_una, conn.snd_max
    flight = seq_diff(nxt, una)
    ack = {
        "una": una,
        "new": seq_add(una, min(flight, 1448)),
        "all": nxt,
        "above": seq_add(nxt, 1000),
        "old": seq_add(una, -70_000),
    }[ack_kind]
    window = {"same": conn.snd_wnd >> PEER_WSCALE, "zero": 0, "other": 3000}[wnd_kind]
    flags = Flags(0)
    for letter, bit in (("A", Flags.ACK), ("P", Flags.PSH), ("E", Flags.ECE),
                        ("C", Flags.CWR), ("F", Flags.FIN), ("U", Flags.URG),
                        ("R", Flags.RST), ("S", Flags.SYN)):
        if letter in letters:
            flags |= bit
    options: tuple[TcpOption, ...] = ()
    if ts_kind != "none":
        if ts_kind == "next":
            peer.tsval += 7
        tsval = peer.tsval - 20 if ts_kind == "old" else peer.tsval
        options = (Nop(), Nop(), Timestamps(tsval % 2**32, 1))
    if sack is not None:
        left, right = sack
        options = (*options, Nop(), Nop(), Sack(((seq_add(una, left), seq_add(una, right)),)))
    seq = seq_add(conn.rcv_nxt, dseq)
    return Segment(PEER.port, US.port, seq, ack, flags, window, urgent=1 if "U" in letters else 0,
                   options=options, payload=bytes(range(256)) * (length // 256)
                   + bytes(length % 256))


def apply(conn: Connection, step: tuple[Any, ...], peer: Peer, now: float) -> list[Segment]:
    """Do ``step`` to ``conn`` at ``now``; return what it sends then."""
    kind = step[0]
    if kind == "segment":
        conn.receive(peer_segment(conn, peer, step), now)
    elif kind == "send":
        with suppress(LocalProtocolError):  # closed or closing: the same on both
            conn.send(bytes(step[1]), now)
    elif kind == "read":
        conn.read(step[1])
    elif kind == "close" and step[1] < 500:
        conn.shutdown(now)
    elif kind == "timer":
        conn.handle_timer(now)
    return conn.packets_to_send(now)


configs = st.builds(
    TcpConfig,
    timestamps=st.booleans(),
    sack=st.booleans(),
    congestion_control=st.sampled_from(["newreno", "cubic", "bbr"]),
    keepalive=st.booleans(),
    ecn=st.sampled_from(["off", "on"]),
    recv_buffer=st.sampled_from([65535, 8000]),
)


def scripted(config_strategy: st.SearchStrategy[TcpConfig]) -> Callable[[Any], Any]:
    """The settings and arguments of a script test: ``config`` drawn from
    ``config_strategy``, a ``script`` of steps, ``ecn_ack`` (the SYN,ACK agrees
    on ECN) and ``gaps`` (seconds before each step)."""
    gaps = st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.2, 1.5]), min_size=80, max_size=80)

    def decorate(test: Any) -> Any:
        return settings(max_examples=300, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])(
            given(config=config_strategy, script=steps, ecn_ack=st.booleans(), gaps=gaps)(test))
    return decorate


@scripted(configs)
def test_header_prediction_changes_nothing_observable(
    config: TcpConfig, script: list[tuple[Any, ...]], ecn_ack: bool, gaps: list[float],
) -> None:
    compare_runs(establish(Connection, config, ecn=ecn_ack),
                 establish(SlowPath, config, ecn=ecn_ack), script, gaps)


def compare_runs(
    fast_side: tuple[Connection, Trace], slow_side: tuple[Connection, Trace],
    script: list[tuple[Any, ...]], gaps: list[float],
    slow_context: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> None:
    """Play ``script`` (with ``gaps`` seconds before each step) on two connections
    and assert, after every step, that they sent the same segments (ECN codepoints
    included), reported the same events, hold the same TCB and traced the same
    records. The slow side's steps run inside ``slow_context()``."""
    fast, fast_trace = fast_side
    slow, slow_trace = slow_side
    fast_peer, slow_peer = Peer(), Peer()
    now = 0.1
    for i, step in enumerate(script):
        now += gaps[i]
        if step[0] == "time":
            continue
        sent_fast = apply(fast, step, fast_peer, now)
        with slow_context():
            sent_slow = apply(slow, step, slow_peer, now)
        assert sent_fast == sent_slow, (i, step)
        assert [s.ecn for s in sent_fast] == [s.ecn for s in sent_slow], (i, step)
        assert drain(fast) == drain(slow), (i, step)
        assert observe(fast) == observe(slow), (i, step)
        assert [r.to_dict() for r in fast_trace] == [r.to_dict() for r in slow_trace], (i, step)


def test_the_prediction_serves_a_bulk_transfer() -> None:
    """In-order data and pure ACKs of new data take the short routines (so the
    test above compares them with the eight steps, not the steps with themselves)."""
    conn, _ = establish(Connection, TcpConfig(), ecn=False)
    peer = Peer()
    # The window the peer's SYN,ACK offered is not scaled (RFC 7323 §2.2): the
    # first ACK changes it, and a changed window misses the prediction.
    conn.receive(peer_segment(conn, peer, ("segment", 0, "una", 0, "same", "A", "next", None)),
                 0.15)
    conn.send(b"x" * 20_000, 0.2)
    conn.packets_to_send(0.2)
    called: list[str] = []

    def spy(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        if event == "call" and frame.f_code.co_name.startswith("_predicted_"):
            called.append(frame.f_code.co_name)
        return None

    segments = [peer_segment(conn, peer, ("segment", 0, "new", 0, "same", "A", "next", None))]
    sys.setprofile(spy)  # type: ignore[arg-type]
    try:
        conn.receive(segments[0], 0.3)
        conn.receive(peer_segment(conn, peer, ("segment", 0, "una", 1448, "same", "PA", "next",
                                               None)), 0.31)
    finally:
        sys.setprofile(None)
    assert "_predicted_ack" in called and "_predicted_data" in called
    assert conn.readable == 1448
