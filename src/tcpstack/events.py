"""Events a connection reports to its application (pulled with ``next_event()``).

Every event is a frozen dataclass. They answer the questions RFC 9293 says an
application must be able to ask: did the peer close normally or abort
(MUST-12), did the connection time out (MUST-20), is there data to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import State


@dataclass(frozen=True)
class Event:
    """Base class of all connection events."""


@dataclass(frozen=True)
class StateChanged(Event):
    """The connection moved from ``old`` to ``new`` (RFC 9293 Figure 5)."""

    old: State
    new: State


@dataclass(frozen=True)
class Connected(Event):
    """The three-way handshake completed: the connection is ESTABLISHED (§3.5)."""


@dataclass(frozen=True)
class DataReceived(Event):
    """``length`` new in-order bytes are ready for ``read()`` (§3.10.7.4, seventh)."""

    length: int


@dataclass(frozen=True)
class PeerClosed(Event):
    """The peer sent FIN: after the buffered bytes, reads return end-of-stream.

    The connection stays open for sending (half-close, §3.6). Counterpart of
    :class:`ConnectionReset` for MUST-12: a normal close, not an abort.
    """


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """The connection reached CLOSED gracefully; its TCB is deleted (§3.6)."""


@dataclass(frozen=True)
class ConnectionReset(Event):
    """The peer aborted with RST (§3.10.7, MUST-12).

    Attributes:
        refused: True when the RST answered our SYN ("connection refused",
            §3.10.7.3) or ended a SYN-RECEIVED entered by an active open.
    """

    refused: bool = False


@dataclass(frozen=True)
class ConnectionAborted(Event):
    """The local application aborted the connection (``abort()``, §3.10.5)."""


@dataclass(frozen=True)
class ConnectionTimedOut(Event):
    """Retransmission passed threshold R2 and the connection was closed (§3.8.3, MUST-20).

    Attributes:
        reason: what timed out: ``"syn"``, ``"data"``, ``"fin"``,
            ``"zero-window"`` (zero-window probes went unanswered for R2 or the
            user timeout, RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), or
            ``"local-congestion"`` (our own device refused the data that long:
            ``Stack.local_congestion``).
    """

    reason: str


@dataclass(frozen=True)
class SoftError(Event):
    """Retransmission passed threshold R1: delivery trouble, not yet fatal (§3.8.3, SHLD-9).

    Attributes:
        retransmissions: how many times the same segment has been resent.
    """

    retransmissions: int


@dataclass(frozen=True)
class SendBufferAvailable(Event):
    """Acknowledged data freed room in the send buffer after a short ``send()``."""

    space: int


@dataclass(frozen=True)
class UrgentDataReceived(Event):
    """The peer's urgent pointer moved beyond the data read so far (§3.8.5, MUST-32).

    Signalled once per continuous sequence of urgent data. The urgent bytes are
    delivered inline, in order; ``Connection.urgent_pending`` says how many of
    the unread bytes are urgent (MUST-33).

    Attributes:
        pending: urgent bytes not yet read.
    """

    pending: int
