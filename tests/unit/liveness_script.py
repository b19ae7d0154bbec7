"""A scripted peer of one connection held by a :class:`~tcpstack.stack.Stack`.

The liveness tests (zero-window probes, orphans, RFC 1337, TIME-WAIT reuse)
need what a bare connection cannot show: the stack's counters
(:attr:`Stack.stats`) and its demultiplexing of a SYN that meets a TIME-WAIT
TCB. :class:`Server` is a Stack listening on port 80 whose connections the
test opens from a scripted peer, in relative numbers as
:class:`tcp_script.Script` uses them (our SEQ relative to ISS, our ACK
relative to IRS). With ``timestamps`` the peer's segments carry a
timestamps option whose TSval is a 1 ms clock (:meth:`Server.tsval`) and whose
TSecr echoes the last TSval we sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcp_script import (
    IRS,
    Out,
    _canon,
    describe,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.seq import SEQ_MOD, seq_add
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.wire import Mss, Nop, Segment, Timestamps
from tcpstack.wire.options import TcpOption

PORT = 80
"""The port the stack listens on."""
PEER_PORT = 5555
"""The scripted peer's port."""
TS_BASE = 500_000
"""The peer's TSval at time 0 (its clock ticks once a millisecond)."""


@dataclass
class Server:
    """A listening Stack and the scripted peer of its connection (see the module docstring).

    Attributes:
        stack: the stack under test.
        timestamps: the peer offers and sends the timestamps option.
        ts_base: the peer's TSval at time 0 (its clock ticks once a millisecond).
        irs: the peer's ISN of the current incarnation.
        iss: our ISN of the current incarnation (known once the SYN-ACK left).
        conn: the accepted connection of the current incarnation.
        ecr: the last TSval we sent (what the peer echoes).
    """

    config: TcpConfig | None = None
    timestamps: bool = False
    ts_base: int = TS_BASE
    irs: int = IRS
    stack: Stack = field(init=False)
    iss: int = 0
    conn: Connection | None = None
    ecr: int = 0

    def __post_init__(self) -> None:
        self.stack = new_stack(config=self.config)
        self.stack.listen(PORT)

    @property
    def base(self) -> tuple[int, int]:
        return (self.iss, self.irs)

    def tsval(self, at: float) -> int:
        """The peer's TSval at ``at`` seconds (modulo 2**32)."""
        return (self.ts_base + round(at * 1000)) % SEQ_MOD

    def seg(self, flag_letters: str, *, seq: int, ack: int = 0, at: float,
            window: int = 65535, data: bytes = b"", tsval: int | None = None,
            syn_options: bool = False) -> Segment:
        """A segment from the peer: ``seq`` relative to IRS, ``ack`` relative to ISS.
        ``tsval`` overrides the peer's clock; ``syn_options`` adds MSS 1460."""
        options: tuple[TcpOption, ...] = (Mss(1460),) if syn_options else ()
        if self.timestamps:
            stamp = self.tsval(at) if tsval is None else tsval
            options = (*options, Nop(), Nop(), Timestamps(stamp, self.ecr))
        return peer_seg(flag_letters, seq=seq_add(self.irs, seq), ack=seq_add(self.iss, ack),
                        sport=PEER_PORT, dport=PORT, window=window, data=data,
                        options=options)

    def rx(self, flag_letters: str, *, at: float, **fields: object) -> None:
        """Deliver ``self.seg(...)`` to the stack at ``at``."""
        self.stack.receive(packet(self.seg(flag_letters, at=at, **fields)), at)  # type: ignore[arg-type]

    def expect(self, expected: list[Out], *, at: float) -> list[Segment]:
        """Assert the stack sends exactly ``expected`` (relative numbers) at ``at``."""
        got = stack_segments(self.stack, at=at)
        assert describe(got, expected, self.base) == [_canon(e) for e in expected], (
            f"at t={at}: sent {[s.summary(self.base) for s in got]}"
        )
        for seg in got:
            if seg.timestamps is not None:
                self.ecr = seg.timestamps.tsval
        return got

    def fire(self, at: float) -> None:
        """Run the stack's timers due at ``at``."""
        self.stack.handle_timer(at)

    def app_events(self) -> list[ev.Event]:
        """Pop the stack's pending events of any connection, StateChanged left out."""
        return [e for _, e in stack_events(self.stack) if not isinstance(e, ev.StateChanged)]

    def open(self, *, at: float = 1.0, window: int = 65535) -> Connection:
        """Handshake a new incarnation: the peer's SYN at ``at``, our SYN-ACK, the
        peer's ACK (offering ``window``) at ``at + 0.1``; accept it."""
        self.rx("S", seq=0, at=at, syn_options=True)
        [syn_ack] = stack_segments(self.stack, at=at)
        self.iss = syn_ack.seq
        if syn_ack.timestamps is not None:
            self.ecr = syn_ack.timestamps.tsval
        assert describe([syn_ack], [Out("SA", 0, 0)], self.base) == [Out("SA", seq=0, ack=1)]
        self.rx("A", seq=1, ack=1, window=window, at=at + 0.1)
        self.expect([], at=at + 0.1)
        conn = self.stack.accept(PORT)
        assert conn is not None and conn.state is State.ESTABLISHED
        assert conn.negotiated.timestamps is (self.timestamps
                                              and conn.config.timestamps)
        self.conn = conn
        self.app_events()
        return conn

    def time_wait(self, *, at: float = 1.0) -> Connection:
        """Open an incarnation at ``at`` and close it, we first, into TIME-WAIT:
        our FIN at ``at + 1``, the peer's ACK of it at ``at + 1.1``, its FIN at
        ``at + 9`` (our ACK of it leaves then)."""
        conn = self.open(at=at)
        conn.shutdown(now=at + 1)
        self.expect([Out("FA", seq=1, ack=1)], at=at + 1)
        self.rx("A", seq=1, ack=2, at=at + 1.1)
        self.rx("FA", seq=1, ack=2, at=at + 9)
        self.expect([Out("A", seq=2, ack=2)], at=at + 9)
        assert conn.state is State.TIME_WAIT
        self.app_events()
        return conn

