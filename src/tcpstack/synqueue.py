"""A listener's two queues and what a SYN gets from them (RFC 4987 §3.1-3.6).

A :class:`Listener` holds the half-open connections (SYN-RECEIVED, the *SYN
queue*, bounded by ``TcpConfig.max_syn_backlog``) apart from the connections
that completed the handshake and wait for ``accept()`` (the *accept queue*,
bounded by the ``backlog`` of ``listen()``). :meth:`Listener.admit` decides,
for each new SYN, in this order:

1. the accept queue is full: drop the SYN (Linux ``tcp_conn_request``:
   ``sk_acceptq_is_full``, ListenOverflows); counted ``backlog_overflow``;
2. ``syncookies = "always"``: answer with a cookie, keep nothing;
3. the SYN queue is full (``max_syn_backlog``; counted ``syn_queue_overflow``):
   a cookie if ``syncookies = "on-overflow"``; with cookies off, recycle the
   oldest half-open entry whose SYN,ACK was already retransmitted, else drop;
4. half-open plus queued connections reach the backlog (every half-open
   entry keeps a place in the accept queue, as 4.4BSD counted incomplete
   connections against the backlog): recycle as in 3, else drop
   (``backlog_overflow``);
5. otherwise a new half-open entry joins the SYN queue: a TCB while its
   SYN is answered, then a small :class:`~tcpstack.halfopen.HalfOpen` record
   until the handshake completes (:mod:`tcpstack.halfopen`).

Cookies come before recycling: they cost no memory and leave the entries of
clients still completing their handshake alone. Recycling takes only entries
that have been retransmitted: a peer that answers completes in one round trip,
well before its SYN,ACK's first timeout (1 s).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .config import TcpConfig
from .halfopen import LIGHT_LOAD, HalfOpen

if TYPE_CHECKING:
    from .connection import Connection



class Admission(enum.Enum):
    """What a listener does with a new SYN (:meth:`Listener.admit`); the value
    of a refusal is its drop reason (``dropped:<value>`` in ``Stack.stats``)."""

    QUEUE = "queue"
    COOKIE = "cookie"
    RECYCLE = "recycle"
    BACKLOG_FULL = "backlog-full"
    SYN_QUEUE_FULL = "syn-queue-full"


class Listener:
    """A passive OPEN on one port (RFC 9293 §3.10.1) and its two queues.

    Args:
        port: the local port.
        backlog: most connections waiting in the accept queue; half-open
            plus queued connections are held to it too (see :meth:`admit`).
        config: configuration of the connections it creates (None: the stack's).

    Attributes:
        half_open: the SYN queue: its connections in SYN-RECEIVED by the
            peer's address and port (:func:`~tcpstack.halfopen.peer_key`),
            oldest first; each a
            :class:`~tcpstack.connection.Connection` or, once its SYN,ACK has
            left, a :class:`~tcpstack.halfopen.HalfOpen` record (the key keeps
            its place when one becomes the other).
        accept_queue: ESTABLISHED (or later) connections not yet taken by
            ``accept()``, oldest first; a connection leaves it when it dies.
        light_load: SYN queue lengths (entries, the new one included) up to
            which a fresh half-open entry stays a TCB until its first
            retransmission timeout rather than becoming a record when its
            SYN,ACK leaves (:data:`tcpstack.halfopen.LIGHT_LOAD` by default;
            0: always a record). Settable.
        cookie_sent_at: when this listener last answered a SYN with a cookie
            (seconds), or None: final ACKs are checked as cookies only while
            cookies sent then may still be valid (Linux
            ``tcp_synq_no_recent_overflow``), or with ``syncookies = "always"``.
    """

    __slots__ = ("accept_queue", "backlog", "config", "cookie_sent_at", "half_open",
                 "light_load", "port")

    def __init__(self, port: int, backlog: int, config: TcpConfig | None = None) -> None:
        self.port = port
        self.backlog = backlog
        self.config = config
        self.half_open: dict[int, Connection | HalfOpen] = {}
        self.accept_queue: dict[Connection, None] = {}
        self.cookie_sent_at: float | None = None
        self.light_load = LIGHT_LOAD

    @property
    def full(self) -> bool:
        """True when half-open plus queued connections reach the backlog."""
        return len(self.half_open) + len(self.accept_queue) >= self.backlog

    @property
    def accept_full(self) -> bool:
        """True when the accept queue holds ``backlog`` connections."""
        return len(self.accept_queue) >= self.backlog

    def admit(self, config: TcpConfig
              ) -> tuple[Admission, Connection | HalfOpen | None, bool]:
        """What a new SYN gets, under ``config`` (the listener's, else the
        stack's: ``syncookies`` and ``max_syn_backlog``; module docstring).

        Returns:
            ``(admission, victim, overflow)``: ``victim`` is the half-open
            connection to recycle (with :attr:`Admission.RECYCLE`), ``overflow``
            is True when the SYN queue was full (``syn_queue_overflow``).
        """
        if self.accept_full:
            return Admission.BACKLOG_FULL, None, False
        mode = config.syncookies
        if mode == "always":
            return Admission.COOKIE, None, False
        if len(self.half_open) >= config.max_syn_backlog:
            if mode == "on-overflow":
                return Admission.COOKIE, None, True
            victim = self.oldest_retransmitted()
            if victim is not None:
                return Admission.RECYCLE, victim, True
            return Admission.SYN_QUEUE_FULL, None, True
        if self.full:
            victim = self.oldest_retransmitted()
            if victim is not None:
                return Admission.RECYCLE, victim, False
            return Admission.BACKLOG_FULL, None, False
        return Admission.QUEUE, None, False

    def oldest_retransmitted(self) -> Connection | HalfOpen | None:
        """The oldest half-open entry whose SYN,ACK was retransmitted, or None.

        Entries are kept in arrival order and share the initial RTO, so the
        oldest retransmits first: only the oldest entry needs looking at.
        """
        oldest = next(iter(self.half_open.values()), None)
        return oldest if oldest is not None and oldest.retransmissions > 0 else None
