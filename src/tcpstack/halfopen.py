"""Half-open passive connections as small records, not full TCBs (RFC 4987 §3.5).

A SYN that a listener queues (:mod:`tcpstack.synqueue`) costs a full
:class:`~tcpstack.connection.Connection` only while it is being answered:
once its SYN,ACK has left (at once when its listener's SYN queue is longer
than ``Listener.light_load``, else once it has been retransmitted), the
stack keeps a :class:`HalfOpen` record in the listener's SYN queue and the
timer heap and lets the TCB go, as Linux keeps a ``request_sock`` and BSD a
``syncache`` entry until the handshake completes (RFC 4987 §3.5 "SYN cache").

Theory of operation. A TCB in SYN-RECEIVED that no application has seen is a
function of what happened to it: the SYN (a parsed, frozen segment), when it
arrived, when the SYN,ACK left, and when each retransmission timeout fired
and its SYN,ACK left. The record keeps exactly those inputs, and
:meth:`Connection.from_half_open <tcpstack.connection.Connection.from_half_open>`
replays them into a fresh TCB with a :class:`QuietOwner` (nothing traced,
counted or reported: all of it was, the first time) and then hands the TCB
to the stack. The rebuilt TCB is the one the stack would hold without
records, field for field, so every trace record (segment_sent/received,
state_updated, timer_*, metrics_updated) stays as it was. The stack rebuilds
a record:

* on any segment for its 4-tuple (the final ACK, data, a FIN, a RST, a
  repeated SYN): the TCB processes it by RFC 9293 §3.10.7.4 as always;
* on its retransmission timeout: the TCB backs off (RFC 6298 §5.5), sends
  its SYN,ACK again or gives up after ``synack_retries``, and becomes a
  record again once the SYN,ACK has left;
* when recycled for a new SYN (RFC 4987 §3.4), or when the application asks
  for it (``Stack.find``, ``Stack.connections``): then it stays a TCB.

Memory: a record is one object of six slots and one ``bytes`` (ISS, the
times, the SYN as on the wire); the listener's SYN queue keys it by the
peer's address and port as one integer, and it is not in the stack's
demultiplexing table of TCBs. About 370 bytes per entry in all
(docs/security.md, "SYN floods", measures it).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .config import TcpConfig
from .counters import Stats
from .seq import seq_add
from .state import State
from .trace import Trace
from .wire import IPAddress, Segment

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["LIGHT_LOAD", "MAX_TIMES", "HalfOpen", "QuietOwner", "peer_key"]


LIGHT_LOAD = 128
"""Half-open entries a listener may hold (its SYN queue's length, this one
included) for a fresh entry to stay a TCB: an entry becomes a record when its
SYN,ACK leaves if the SYN queue is longer, else at its first retransmission
timeout (the peer did not answer within the initial RTO: likely spoofed). A
lightly loaded server is spared a rebuild per handshake; a flood, which fills
the queue at once, costs records. 128 is the default ``max_syn_backlog``: with
it, only retransmitted entries become records."""

MAX_TIMES = 255
"""The most input times a record keeps (126 retransmissions): a TCB that
retransmitted more (``synack_retries`` above 126) stays a TCB."""

_HEAD = struct.Struct("!IBB")  # ISS, number of times, the SYN's IP ECN codepoint
_TIME = struct.Struct("!d")


class HalfOpen:
    """A half-open passive connection (SYN-RECEIVED) kept as the inputs that made it.

    Build one with :meth:`Connection.to_half_open
    <tcpstack.connection.Connection.to_half_open>`.

    Args:
        key: the peer's address and port as one integer: ``int(address) << 16 | port``
            (the key of the listener's SYN queue, :func:`peer_key`).
        serial: the TCB's creation order in its stack (its place in timer and
            output order).
        config: the configuration the TCB was made with.
        blob: ``pack(iss, times, syn)`` (:meth:`pack`): our ISS, the times of the
            inputs (seconds: the SYN's arrival, its SYN,ACK's departure, then per
            retransmission the timeout's firing and the SYN,ACK's departure), the
            IP ECN codepoint the SYN came with, and the peer's SYN as on the wire
            (its checksum aside).
        deadline: the TCB's retransmission deadline (seconds), or None once
            the record has been rebuilt into a TCB (its heap entry is stale).
        counts: the TCB's own counters (:attr:`Connection.stats
            <tcpstack.tcb.Tcb.stats>`), or None if it counted nothing.
    """

    __slots__ = ("blob", "config", "counts", "deadline", "key", "serial")

    def __init__(self, key: int, serial: int, config: TcpConfig, blob: bytes,
                 deadline: float | None, counts: Counter[str] | None) -> None:
        self.key = key
        self.serial = serial
        self.config = config
        self.blob = blob
        self.deadline = deadline
        self.counts = counts

    @staticmethod
    def pack(iss: int, times: tuple[float, ...], syn: Segment) -> bytes:
        """The ``blob`` of a record: ISS, ``times`` (seconds), ``syn`` as on the wire.

        Raises:
            ValueError: more than 255 times, or a SYN that does not encode (it
                was decoded from the wire, so it does).
        """
        if len(times) > MAX_TIMES:
            raise ValueError(f"a half-open record keeps at most {MAX_TIMES} times, "
                             f"got {len(times)}")
        # The IP ECN codepoint the SYN arrived with, where segments carry one
        # (RFC 3168 §6.1.1: an ECN-setup SYN that arrives ECT is refused ECN).
        ecn = getattr(syn, "ecn", 0)
        return b"".join((_HEAD.pack(iss, len(times), ecn), *map(_TIME.pack, times),
                         syn.encode_header(0), syn.payload))

    def _syn_at(self) -> int:
        return _HEAD.size + _TIME.size * self.blob[4]

    @property
    def iss(self) -> int:
        """ISS: our initial sequence number, the SYN,ACK's (RFC 6528)."""
        return int(_HEAD.unpack_from(self.blob)[0])

    @property
    def times(self) -> tuple[float, ...]:
        """The times (seconds) of the inputs (see the class)."""
        return struct.unpack_from(f"!{self.blob[4]}d", self.blob, _HEAD.size)

    @property
    def syn(self) -> Segment:
        """The peer's SYN, decoded again (the same segment, its IP ECN codepoint too)."""
        syn = Segment.decode_checked(memoryview(self.blob)[self._syn_at():], None)
        ecn = self.blob[5]
        if not ecn:
            return syn
        changes: dict[str, Any] = {"ecn": ecn}
        return replace(syn, **changes)

    @property
    def local_port(self) -> int:
        """Our port: the SYN's destination port."""
        at = self._syn_at() + 2
        return int.from_bytes(self.blob[at:at + 2], "big")

    @property
    def state(self) -> State:
        """Always SYN-RECEIVED (RFC 9293 §3.3.2)."""
        return State.SYN_RECEIVED

    @property
    def retransmissions(self) -> int:
        """SYN,ACK retransmissions so far (RFC 6298 §5.5 backoffs)."""
        return (self.blob[4] - 2) // 2

    @property
    def snd_una(self) -> int:
        """SND.UNA: the ISS (our SYN is not acknowledged)."""
        return self.iss

    @property
    def snd_max(self) -> int:
        """The highest sequence number sent, plus one: ISS + 1 (the SYN,ACK)."""
        return seq_add(self.iss, 1)

    def next_timer(self) -> float | None:
        """The retransmission deadline (seconds), None once rebuilt."""
        return self.deadline

    def __lt__(self, other: object) -> bool:
        """Never: in the stack's timer heap, entries ``(deadline, serial, entry)``
        that tie on deadline and serial (a record and the TCB rebuilt from it)
        are equal, whichever side the record is on."""
        return False

    def __gt__(self, other: object) -> bool:
        """Never (see :meth:`__lt__`)."""
        return False

    def __repr__(self) -> str:
        return (f"HalfOpen(key={self.key:#x}, serial={self.serial}, "
                f"retransmissions={self.retransmissions}, deadline={self.deadline})")


def peer_key(address: IPAddress, port: int) -> int:
    """A peer's ``(address, port)`` as one integer, the key of a listener's SYN
    queue: smaller than a tuple of an address object and a port."""
    return int(address) << 16 | port


class _NullTrace(Trace):
    """A trace that is active (so a replayed TCB keeps the values of its last
    ``metrics_updated`` as the original did) and keeps nothing."""

    def __init__(self) -> None:
        super().__init__(keep=False)

    @property
    def active(self) -> bool:
        return True

    def emit(self, time: float, host: str, conn: str, event: str, data: dict[str, Any]) -> None:
        return None


class QuietOwner:
    """The owner of a TCB being replayed from a :class:`HalfOpen` record: it
    traces, counts, reports and schedules nothing (the stack did all of that
    when the inputs first arrived).

    Args:
        name: the host's name.
        tracing: True if the stack's trace is active: the replay then keeps
            the TCB's last traced values as the original TCB did.
    """

    __slots__ = ("name", "stats", "trace")
    local_congestion = False  # a replay transmits nothing

    def __init__(self, name: str, *, tracing: bool) -> None:
        self.name = name
        self.trace: Trace | None = _NullTrace() if tracing else None
        self.stats = Stats()

    def clock(self) -> float | None:
        return None

    def on_event(self, conn: Connection, event: Any) -> None:
        return None

    def wake(self, conn: Connection) -> None:
        return None

    def timer_moved(self, conn: Connection) -> None:
        return None

    def state_changed(self, conn: Connection, old: State, new: State) -> None:
        return None

    def count(self, what: str, n: int = 1) -> None:
        return None
