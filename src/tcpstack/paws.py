"""TS.Recent and PAWS: what a TCP remembers of its peer's timestamp clock (RFC 7323 §4.3, §5).

Once both SYNs carried the timestamps option, every segment does (§3.2). The
receiver keeps TS.Recent, the latest TSval worth echoing, and rejects a
segment whose TSval is older: an old duplicate from an earlier wrap of the
sequence space (PAWS, §5). Timestamps are 32-bit values compared modulo 2**32
(:mod:`tcpstack.seq`); times are seconds.
"""

from __future__ import annotations

from .seq import seq_ge, seq_le, seq_lt
from .wire import Flags, Segment

PAWS_IDLE = 24 * 86400.0
"""Seconds after which TS.Recent is too old for PAWS (RFC 7323 §5.5: 24 days)."""


def ts_clock(iss: int, now: float) -> int:
    """Our timestamp clock (TSval) at ``now`` (seconds) for a connection whose ISS
    is ``iss``: milliseconds plus an offset derived from the ISS, fixed per
    connection (RFC 7323 §5.4). A connection made from a SYN cookie goes on
    from the TSval its cookie SYN,ACK carried, because both use this clock."""
    return (int(now * 1000) + ((iss * 2654435761) & 0xFFFFFFFF)) & 0xFFFFFFFF


class TsRecent:
    """TS.Recent of one connection, and PAWS against it.

    Args:
        tsval: the TSval of the peer's SYN (§4.3 (1)).
        now: when it arrived, seconds.

    Attributes:
        value: TS.Recent, echoed in the TSecr of every segment we send.
    """

    __slots__ = ("_at", "value")

    def __init__(self, tsval: int, now: float) -> None:
        self.value = tsval
        self._at: float | None = now  # when TS.Recent was set; None: no longer valid

    def rejects(self, tsval: int, now: float) -> bool:
        """PAWS (§5.3 R1): True if ``tsval`` is older than TS.Recent.

        After more than 24 days without an update the peer's clock may have
        advanced by 2**31 or more: TS.Recent is then invalid and rejects
        nothing (§5.5).
        """
        at = self._at
        if at is not None and now - at > PAWS_IDLE:
            self._at = at = None
        return at is not None and seq_lt(tsval, self.value)

    def order(self, tsval: int, now: float) -> int | None:
        """How ``tsval`` compares with TS.Recent, modulo 2**32: -1 older, 0 equal,
        1 newer; None when TS.Recent is no longer valid (24 days idle, §5.5).

        RFC 6191 §2 decides with it whether a SYN may reuse a TIME-WAIT
        connection (:meth:`~tcpstack.connection.Connection.accept_reopen`).
        """
        at = self._at
        if at is None or now - at > PAWS_IDLE:
            return None
        if tsval == self.value:
            return 0
        return -1 if seq_lt(tsval, self.value) else 1

    def disordered_ack(self, seg: Segment, tsval: int, *, rto: float) -> bool:
        """Could ``seg``, rejected by PAWS, be a duplicate ACK overtaken by newer
        segments (reordering) rather than an old duplicate?

        Like Linux (``tcp_disordered_ack``): a pure ACK (no data, SYN, FIN or RST)
        at most one RTO (``rto`` seconds, with a 1 ms timestamp clock) older than
        TS.Recent. (The caller also checks that it sits at RCV.NXT, acknowledges
        exactly SND.UNA and leaves the window unchanged.) Dropping it would lose
        the SACK blocks and the duplicate-ACK count loss recovery needs.
        """
        flags = seg.flags
        return (
            not seg.payload
            and flags & (Flags.SYN | Flags.FIN | Flags.RST) == 0
            and bool(flags & Flags.ACK)
            and ((self.value - tsval) & 0xFFFFFFFF) <= int(rto * 1000)
        )

    def update(self, tsval: int, seq: int, last_ack_sent: int, now: float) -> None:
        """An accepted segment (SEG.SEQ = ``seq``) carried ``tsval`` (§4.3 (2)).

        "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent then SEG.TSval
        is copied to TS.Recent"; only accepted segments may do so (a segment
        dropped for its ACK field must not, or the next valid one would fail
        PAWS and the connection would stall).
        """
        if (self._at is None or seq_ge(tsval, self.value)) and seq_le(seq, last_ack_sent):
            self.value = tsval
            self._at = now
