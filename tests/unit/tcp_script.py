"""Scripted-segment helpers for the state-by-state unit tests (DESIGN.md "Tests").

One :class:`~tcpstack.connection.Connection` is driven by segments written
out by hand and fed at explicit times; what it sends is pulled with
``packets_to_send(t)`` and compared field by field. No sleeps, no patching of
private attributes: every state is reached through the public API.

The building blocks:

* :func:`deliver` / :func:`expect_sent` work on absolute values;
* :class:`Script` wraps a connection with the peer's ISN so a test reads in
  *relative* sequence numbers, the way tcpdump shows them: ``s.rx("A", seq=1,
  ack=1, at=2.0)`` delivers a segment from the peer whose SEQ is IRS+1 and
  whose ACK is ISS+1; ``s.expect([Out("A", seq=1, ack=2)], at=2.0)`` checks
  that exactly one ACK left with SEQ = ISS+1 and ACK = IRS+2;
* ``make_*`` builders bring a connection into each state honestly (used by
  the fixtures of ``conftest.py``, and directly by tests that need a custom
  :class:`~tcpstack.config.TcpConfig` or ISN);
* :func:`packet` / :func:`stack_sent` do the same for a whole
  :class:`~tcpstack.stack.Stack`, in raw IP bytes.

Timeline of the builders (seconds), so tests can continue after them:

=====================  ===================================================
syn_sent               SYN sent at 0.0 (RTO timer due at 1.0)
syn_received passive   peer SYN at 0.0, SYN-ACK sent at 0.0
syn_received active    SYN at 0.0, peer's bare SYN at 0.1, SYN-ACK at 0.1
established            SYN at 0.0, SYN-ACK at 0.1, ACK at 0.1
close_wait             established + peer FIN at 1.0, ACK at 1.0
last_ack               close_wait + shutdown() at 1.1, FIN sent at 1.1
fin_wait_1             established + shutdown() at 1.0, FIN sent at 1.0
fin_wait_2             fin_wait_1 + ACK of our FIN at 1.1
closing                fin_wait_1 + peer FIN (our FIN not ACKed) at 1.1
time_wait              fin_wait_2 + peer FIN at 1.2, ACK at 1.2
=====================  ===================================================

Relative numbers: our SYN is ``seq=0``, our first data byte ``seq=1``; the
peer's SYN is ``seq=0`` and its first data byte ``seq=1``. In the
established fixtures the peer offers a 65535-byte window and MSS 1460.

Options (RFC 7323, RFC 2018): ``Out(..., options=...)`` compares a sent
segment's options exactly; ``Script.seg(..., ts=(tsval, tsecr), sack=[(l, r)])``
adds a timestamps option and SACK blocks (edges relative to ISS) to a
scripted segment; ``Script.ts_opt(at, ecr)`` and ``Script.sack_opt(blocks)``
build what we are expected to send (our TSval at ``at``, blocks relative to
IRS); ``make_established(options=...)`` replaces the SYN-ACK's options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection, Endpoint
from tcpstack.seq import SEQ_MOD, seq_add
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.timers import Timer
from tcpstack.wire import (
    Flags,
    IPAddress,
    IPHeader,
    Mss,
    Nop,
    Sack,
    Segment,
    Timestamps,
    decode_packet,
    encode_packet,
)
from tcpstack.wire.options import TcpOption

US_ADDR = IPv4Address("192.0.2.1")
PEER_ADDR = IPv4Address("192.0.2.2")
US = Endpoint(US_ADDR, 40000)
PEER = Endpoint(PEER_ADDR, 80)
ISS = 1_000
"""Our fixed initial send sequence number."""
IRS = 7_000_000
"""The scripted peer's initial sequence number."""
PEER_WINDOW = 65535
PEER_MSS = 1460

_LETTERS = {
    "S": Flags.SYN,
    "F": Flags.FIN,
    "R": Flags.RST,
    "P": Flags.PSH,
    "A": Flags.ACK,
    "U": Flags.URG,
    "E": Flags.ECE,
    "C": Flags.CWR,
}
_ORDER = "SFRPAUEC"


def flags(spec: str) -> Flags:
    """Flags from letters: ``"SA"`` is SYN+ACK, ``"FA"`` FIN+ACK, ``""`` none.

    S=SYN F=FIN R=RST P=PSH A=ACK U=URG E=ECE C=CWR.
    """
    out = Flags(0)
    for letter in spec:
        out |= _LETTERS[letter]
    return out


def letters(value: Flags) -> str:
    """The canonical letter string of ``value`` (inverse of :func:`flags`)."""
    return "".join(letter for letter in _ORDER if value & _LETTERS[letter])


@dataclass(frozen=True)
class Out:
    """What one sent segment should look like.

    ``flags`` as letters (order does not matter). ``seq``/``ack`` are compared
    relative to the bases given to :func:`expect_sent` (absolute when the
    bases are 0); ``ack`` is compared only when the segment carries ACK and
    must then be given. ``window`` and ``mss`` are compared only when given
    (``mss=0`` means "no MSS option"). ``options`` (the whole option list, in
    wire order, absolute numbers) is compared only when given; ``()`` means
    "no options".
    """

    flags: str
    seq: int
    ack: int | None = None
    len: int = 0
    window: int | None = None
    mss: int | None = None
    options: tuple[TcpOption, ...] | None = None


def deliver(conn: Connection, segment: Segment, *, at: float) -> None:
    """Feed one segment to ``conn`` at time ``at`` (seconds)."""
    conn.receive(segment, at)


def sent(conn: Connection, *, at: float) -> list[Segment]:
    """Everything ``conn`` transmits at ``at``."""
    return conn.packets_to_send(at)


def expect_sent(
    conn: Connection, expected: list[Out], *, at: float, base: tuple[int, int] = (0, 0)
) -> list[Segment]:
    """Pull ``conn.packets_to_send(at)`` and assert it is exactly ``expected``.

    Args:
        base: ``(seq_base, ack_base)`` subtracted (mod 2**32) from each
            segment's SEQ and ACK before comparing.

    Returns:
        The segments actually sent.
    """
    got = sent(conn, at=at)
    assert describe(got, expected, base) == [_canon(e) for e in expected], (
        f"at t={at}: sent {[s.summary(base) for s in got]}"
    )
    return got


def describe(got: list[Segment], expected: list[Out], base: tuple[int, int]) -> list[Out]:
    """``got`` as :class:`Out` values showing the fields ``expected`` compares."""
    seq_base, ack_base = base
    out = []
    for i, seg in enumerate(got):
        want = expected[i] if i < len(expected) else Out("", 0, window=0, mss=0)
        has_mss = seg.mss if seg.mss is not None else 0
        out.append(
            Out(
                flags=letters(seg.flags),
                seq=(seg.seq - seq_base) % SEQ_MOD,
                ack=(seg.ack - ack_base) % SEQ_MOD if seg.has(Flags.ACK) else None,
                len=len(seg.payload),
                window=seg.window if want.window is not None else None,
                mss=has_mss if want.mss is not None else None,
                options=seg.options if want.options is not None else None,
            )
        )
    return out


def _canon(e: Out) -> Out:
    return Out(
        flags=letters(flags(e.flags)),
        seq=e.seq % SEQ_MOD,
        ack=e.ack % SEQ_MOD if e.ack is not None else None,
        len=e.len,
        window=e.window,
        mss=e.mss,
        options=e.options,
    )


def drain(conn: Connection) -> list[ev.Event]:
    """Pop every pending event of ``conn``."""
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def app_events(events: list[ev.Event]) -> list[ev.Event]:
    """``events`` without the StateChanged notifications."""
    return [e for e in events if not isinstance(e, ev.StateChanged)]


@dataclass
class Script:
    """A connection under test plus the scripted peer's ISN, for relative numbering.

    Attributes:
        conn: the connection under test.
        irs: the peer's initial sequence number (its SYN's SEQ).
        t: the time of the last step the builder took (informative).
        states: every state the connection went through, oldest first.
        ts_base: our TSval at time 0, read from our SYN when it carried a
            timestamps option (RFC 7323 §3), else None.
    """

    conn: Connection
    irs: int = IRS
    t: float = 0.0
    states: list[State] = field(default_factory=list)
    ts_base: int | None = None

    @property
    def iss(self) -> int:
        return self.conn.iss

    @property
    def state(self) -> State:
        return self.conn.state

    @property
    def base(self) -> tuple[int, int]:
        """``(ISS, IRS)``: the bases of our SEQ and of our ACK field."""
        return (self.iss, self.irs)

    def seg(
        self,
        flag_letters: str,
        *,
        seq: int = 1,
        ack: int = 1,
        data: bytes = b"",
        window: int = PEER_WINDOW,
        options: tuple[TcpOption, ...] = (),
        ts: tuple[int, int] | None = None,
        sack: Sequence[tuple[int, int]] = (),
    ) -> Segment:
        """A segment from the peer: ``seq`` relative to IRS, ``ack`` relative to ISS.

        ``ack`` is put in the header even without the ACK flag (as a sloppy
        or hostile peer might); the receiver must ignore it then. ``ts``
        appends ``NOP, NOP, Timestamps(tsval, tsecr)`` (absolute values);
        ``sack`` appends ``NOP, NOP, SACK`` with edges relative to ISS.
        """
        if ts is not None:
            options = (*options, Nop(), Nop(), Timestamps(*ts))
        if sack:
            blocks = tuple((seq_add(self.iss, a), seq_add(self.iss, b)) for a, b in sack)
            options = (*options, Nop(), Nop(), Sack(blocks))
        return Segment(
            src_port=self.conn.remote.port,
            dst_port=self.conn.local.port,
            seq=seq_add(self.irs, seq),
            ack=seq_add(self.iss, ack),
            flags=flags(flag_letters),
            window=window,
            options=options,
            payload=data,
        )

    def rx(self, flag_letters: str, *, at: float, **fields: object) -> None:
        """Deliver ``self.seg(flag_letters, **fields)`` at ``at``."""
        deliver(self.conn, self.seg(flag_letters, **fields), at=at)  # type: ignore[arg-type]

    def expect(self, expected: list[Out], *, at: float) -> list[Segment]:
        """Assert exactly ``expected`` (relative numbers) is sent at ``at``."""
        return expect_sent(self.conn, expected, at=at, base=self.base)

    def expect_nothing(self, *, at: float) -> None:
        """Assert nothing is sent at ``at``."""
        self.expect([], at=at)

    def events(self) -> list[ev.Event]:
        """Pop the pending events, StateChanged included."""
        out = drain(self.conn)
        self.states.extend(e.new for e in out if isinstance(e, ev.StateChanged))
        return out

    def app_events(self) -> list[ev.Event]:
        """Pop the pending events, StateChanged left out."""
        return app_events(self.events())

    def fire(self, at: float) -> None:
        """Run the timers due at ``at``."""
        self.conn.handle_timer(at)

    def tsval(self, at: float) -> int:
        """Our TSval at time ``at``: a 1 ms clock from :attr:`ts_base` (RFC 7323 §5.4)."""
        assert self.ts_base is not None, "our SYN carried no timestamps option"
        return (self.ts_base + int(at * 1000)) % SEQ_MOD

    def ts_opt(self, at: float, ecr: int) -> tuple[TcpOption, ...]:
        """``NOP, NOP, Timestamps(our TSval at at, ecr)``: what we append after the SYN."""
        return (Nop(), Nop(), Timestamps(self.tsval(at), ecr))

    def sack_opt(self, blocks: Sequence[tuple[int, int]]) -> tuple[TcpOption, ...]:
        """``NOP, NOP, SACK`` with ``blocks`` given relative to IRS (the peer's bytes)."""
        return (
            Nop(),
            Nop(),
            Sack(tuple((seq_add(self.irs, a), seq_add(self.irs, b)) for a, b in blocks)),
        )


# ----------------------------------------------------------------------
# Builders: one per state, each through the public API only
# ----------------------------------------------------------------------


def new_connection(
    *, config: TcpConfig | None = None, iss: int = ISS, passive: bool = False
) -> Connection:
    return Connection(US, PEER, iss=iss, config=config, passive=passive)


def make_syn_sent(*, config: TcpConfig | None = None, iss: int = ISS, irs: int = IRS) -> Script:
    """CLOSED --connect()--> SYN-SENT; the SYN leaves at 0.0."""
    s = Script(new_connection(config=config, iss=iss), irs=irs)
    s.conn.open_active(0.0)
    mss = s.conn.config.mss
    [syn] = s.expect([Out("S", seq=0, mss=mss)], at=0.0)
    if syn.timestamps is not None:
        s.ts_base = syn.timestamps.tsval
    s.events()
    assert s.state is State.SYN_SENT
    return s


def make_listen(*, config: TcpConfig | None = None, iss: int = ISS, irs: int = IRS) -> Script:
    """A passive-open TCB in LISTEN (the Stack normally owns these)."""
    s = Script(new_connection(config=config, iss=iss, passive=True), irs=irs)
    assert s.state is State.LISTEN
    return s


def make_syn_received_passive(
    *, config: TcpConfig | None = None, iss: int = ISS, irs: int = IRS
) -> Script:
    """LISTEN --SYN--> SYN-RECEIVED at 0.0; our SYN-ACK leaves at 0.0."""
    s = make_listen(config=config, iss=iss, irs=irs)
    s.rx("S", seq=0, ack=0, options=(Mss(PEER_MSS),), at=0.0)
    s.expect([Out("SA", seq=0, ack=1, mss=s.conn.config.mss)], at=0.0)
    s.events()
    assert s.state is State.SYN_RECEIVED
    return s


def make_syn_received_active(
    *, config: TcpConfig | None = None, iss: int = ISS, irs: int = IRS
) -> Script:
    """SYN-SENT --bare SYN (simultaneous open)--> SYN-RECEIVED at 0.1; SYN-ACK at 0.1."""
    s = make_syn_sent(config=config, iss=iss, irs=irs)
    s.rx("S", seq=0, ack=0, options=(Mss(PEER_MSS),), at=0.1)
    s.expect([Out("SA", seq=0, ack=1, mss=s.conn.config.mss)], at=0.1)
    s.events()
    s.t = 0.1
    assert s.state is State.SYN_RECEIVED
    return s


def make_established(
    *,
    config: TcpConfig | None = None,
    iss: int = ISS,
    irs: int = IRS,
    window: int = PEER_WINDOW,
    peer_mss: int | None = PEER_MSS,
    options: tuple[TcpOption, ...] | None = None,
) -> Script:
    """SYN-SENT --SYN-ACK--> ESTABLISHED at 0.1; our ACK leaves at 0.1.

    ``options`` replaces the SYN-ACK's options (default: only MSS ``peer_mss``).
    """
    s = make_syn_sent(config=config, iss=iss, irs=irs)
    opts = (Mss(peer_mss),) if peer_mss is not None else ()
    if options is not None:
        opts = options
    s.rx("SA", seq=0, ack=1, window=window, options=opts, at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    assert s.app_events() == [ev.Connected()]
    s.t = 0.1
    assert s.state is State.ESTABLISHED
    return s


def make_fin_wait_1(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """ESTABLISHED --shutdown()--> FIN-WAIT-1 at 1.0; our FIN (seq 1) leaves at 1.0."""
    s = make_established(config=config, iss=iss)
    s.conn.shutdown(now=1.0)
    s.expect([Out("FA", seq=1, ack=1)], at=1.0)
    s.events()
    s.t = 1.0
    assert s.state is State.FIN_WAIT_1
    return s


def make_fin_wait_2(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """FIN-WAIT-1 --ACK of FIN--> FIN-WAIT-2 at 1.1; nothing sent."""
    s = make_fin_wait_1(config=config, iss=iss)
    s.rx("A", seq=1, ack=2, at=1.1)
    s.expect_nothing(at=1.1)
    s.events()
    s.t = 1.1
    assert s.state is State.FIN_WAIT_2
    return s


def make_closing(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """FIN-WAIT-1 --peer FIN, our FIN not ACKed--> CLOSING at 1.1; ACK of it sent."""
    s = make_fin_wait_1(config=config, iss=iss)
    s.rx("FA", seq=1, ack=1, at=1.1)
    s.expect([Out("A", seq=2, ack=2)], at=1.1)
    assert s.app_events() == [ev.PeerClosed()]
    s.t = 1.1
    assert s.state is State.CLOSING
    return s


def make_time_wait(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """FIN-WAIT-2 --peer FIN--> TIME-WAIT at 1.2; its ACK leaves at 1.2."""
    s = make_fin_wait_2(config=config, iss=iss)
    s.rx("FA", seq=1, ack=2, at=1.2)
    s.expect([Out("A", seq=2, ack=2)], at=1.2)
    assert s.app_events() == [ev.PeerClosed()]
    s.t = 1.2
    assert s.state is State.TIME_WAIT
    return s


def make_close_wait(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """ESTABLISHED --peer FIN--> CLOSE-WAIT at 1.0; its ACK leaves at 1.0."""
    s = make_established(config=config, iss=iss)
    s.rx("FA", seq=1, ack=1, at=1.0)
    s.expect([Out("A", seq=1, ack=2)], at=1.0)
    assert s.app_events() == [ev.PeerClosed()]
    s.t = 1.0
    assert s.state is State.CLOSE_WAIT
    return s


def make_last_ack(*, config: TcpConfig | None = None, iss: int = ISS) -> Script:
    """CLOSE-WAIT --shutdown()--> LAST-ACK at 1.1; our FIN (seq 1) leaves at 1.1."""
    s = make_close_wait(config=config, iss=iss)
    s.conn.shutdown(now=1.1)
    s.expect([Out("FA", seq=1, ack=2)], at=1.1)
    s.events()
    s.t = 1.1
    assert s.state is State.LAST_ACK
    return s


# ----------------------------------------------------------------------
# Stack helpers: raw IP packets in and out
# ----------------------------------------------------------------------

STACK_KEY = b"fixed-isn-key-for-unit-tests!!!!"
"""A fixed RFC 6528 key so a Stack's ISNs are reproducible."""


def new_stack(*, config: TcpConfig | None = None) -> Stack:
    """A Stack on :data:`US_ADDR` with a fixed ISN key."""
    return Stack(US_ADDR, config=config, isn_key=STACK_KEY, name="us")


def packet(
    seg: Segment, *, src: IPAddress = PEER_ADDR, dst: IPAddress = US_ADDR
) -> bytes:
    """``seg`` in an IP packet from the peer to us."""
    return encode_packet(src, dst, seg)


def peer_seg(
    flag_letters: str,
    *,
    seq: int,
    ack: int = 0,
    sport: int = PEER.port,
    dport: int = 80,
    data: bytes = b"",
    window: int = PEER_WINDOW,
    options: tuple[TcpOption, ...] = (),
) -> Segment:
    """A segment from the peer to a Stack, absolute numbers."""
    return Segment(
        src_port=sport,
        dst_port=dport,
        seq=seq % SEQ_MOD,
        ack=ack % SEQ_MOD,
        flags=flags(flag_letters),
        window=window,
        options=options,
        payload=data,
    )


def stack_sent(stack: Stack, *, at: float) -> list[tuple[IPHeader, Segment]]:
    """Decode everything ``stack`` transmits at ``at``."""
    return [decode_packet(p) for p in stack.packets_to_send(at)]


def stack_segments(stack: Stack, *, at: float) -> list[Segment]:
    """Like :func:`stack_sent`, segments only."""
    return [seg for _, seg in stack_sent(stack, at=at)]


def stack_events(stack: Stack) -> list[tuple[Connection, ev.Event]]:
    """Pop every pending ``(connection, event)`` of ``stack``."""
    out = []
    while (e := stack.next_event()) is not None:
        out.append(e)
    return out


class RecordingTimerOwner:
    """A timer owner (what :class:`~tcpstack.timers.Timers` calls) that records the
    trace records it is given and counts the moves of the next deadline."""

    def __init__(self, tracing: bool = True) -> None:
        self.tracing = tracing
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.moved = 0

    def _trace(self, event: str, data: dict[str, Any]) -> None:
        self.records.append((event, data))

    def _trace_timer(self, event: str, timer: Timer, at: float | None) -> None:
        # (Timers' one trace call: the record Tcb._trace_timer emits when tracing)
        if self._tracing():
            self._trace(event, {"timer": timer.value} if at is None
                        else {"timer": timer.value, "at": round(at, 9)})

    def _tracing(self) -> bool:
        return self.tracing

    def _timer_moved(self) -> None:
        self.moved += 1
