"""Everything that affects the state machine lives here (RFC 9293 §3.3.2, Figure 5, §3.10).

* :class:`State`: the eleven states.
* :class:`Cause`: why a transition happens: an arriving segment, a user
  call, a timeout.
* :data:`RULES`: every ``(old, new, cause)`` the implementation makes, each
  with the RFC rule behind it. It is the single table that
  ``Connection._set_state`` checks every change against; ``docs/states.md``
  is drawn from it; a test fails if the suite never takes one of its
  entries, or takes a transition that is not in it.
* :data:`TRANSITIONS`: the same table as arcs, ``(old, new)`` -> rules.

Theory of operation: a connection starts in CLOSED (active) or LISTEN
(passive, MUST-11), moves through the handshake to ESTABLISHED, closes
through FIN-WAIT-1/2, CLOSING and TIME-WAIT (active close) or CLOSE-WAIT and
LAST-ACK (passive close), and ends in CLOSED, where its TCB is deleted. A
passive TCB whose handshake is reset goes back to LISTEN and is deleted too:
the listener itself is a record of the host, not a TCB. State that does not
fit the table (the application closed: *orphaned*; a FIN queued behind
data) is held by the connection and its send buffer, not by extra states.
"""

from __future__ import annotations

import enum
from collections import Counter
from typing import Final


class State(enum.Enum):
    """A connection state. ``str(state)`` gives the RFC spelling (``SYN-SENT``)."""

    # Members are singletons compared by identity: hash them by identity too,
    # in C (Enum.__hash__ hashes the name in Python; a connection hashes its
    # states and timers dozens of times per packet).
    __hash__ = object.__hash__

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    def __str__(self) -> str:
        return self.value

    @property
    def synchronized(self) -> bool:
        """True once the handshake has completed (RFC 9293 §3.5.2)."""
        return self in SYNCHRONIZED


SYNCHRONIZED = frozenset(
    {
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.CLOSE_WAIT,
        State.CLOSING,
        State.LAST_ACK,
        State.TIME_WAIT,
    }
)
"""States after the handshake: ``SYN`` here draws a challenge ACK (RFC 5961 §4)."""


class Cause(enum.Enum):
    """Why a connection changes state; the value is the ``cause`` of ``state_updated``."""

    # Members are singletons compared by identity: hash them by identity too,
    # in C (Enum.__hash__ hashes the name in Python; a connection hashes its
    # states and timers dozens of times per packet).
    __hash__ = object.__hash__

    OPEN = "active OPEN"
    OPEN_PASSIVE = "passive OPEN"
    SEND = "SEND"
    RCV_SYN = "rcv SYN"
    RCV_SYN_ACK = "rcv SYN,ACK"
    RCV_ACK_OF_SYN = "rcv ACK of SYN"
    RCV_FIN = "rcv FIN"
    RCV_ACK_OF_FIN = "rcv ACK of FIN"
    RCV_RST = "rcv RST"
    CLOSE = "CLOSE"
    FIN_SENT = "FIN sent"
    ABORT = "ABORT"
    CLOSE_UNREAD = "CLOSE with unread data"
    DATA_AFTER_CLOSE = "data after CLOSE"
    R2_TIMEOUT = "retransmission timeout (R2)"
    KEEPALIVE_TIMEOUT = "keep-alive timeout"
    FIN_WAIT_2_TIMEOUT = "FIN-WAIT-2 timeout"
    TIME_WAIT_TIMEOUT = "2 MSL timeout"
    REOPEN = "new SYN reopens"
    SYN_COOKIE = "rcv ACK with a valid SYN cookie"
    SYNACK_RETRIES = "SYN,ACK retries exceeded"
    RECYCLED = "recycled for a new SYN"
    TIME_WAIT_OVERFLOW = "TIME-WAIT limit reached"

    def __str__(self) -> str:
        return self.value


class S:
    """The :class:`State` members as plain class attributes: ``S.ESTABLISHED`` is
    ``State.ESTABLISHED`` (the same object), read as cheaply as a plain class's
    attribute. Shared by the
    rule table below, sender.py, connection.py and tcb.py.

    What it saves: in Python 3.11 an Enum's metaclass has an attribute hook
    (``EnumType.__getattr__``), so a member read from its class takes the slow
    lookup (73 ns by timeit) where a plain class's attribute takes 16 ns; the
    connection reads states a few times per packet and about 120 times per
    churn lifecycle (the eight steps, ``_set_state``, the sender's output).
    Value patterns (``case S.CLOSED:``) keep working, and mypy sees each
    attribute as the member's literal.
    """

    CLOSED: Final = State.CLOSED
    LISTEN: Final = State.LISTEN
    SYN_SENT: Final = State.SYN_SENT
    SYN_RECEIVED: Final = State.SYN_RECEIVED
    ESTABLISHED: Final = State.ESTABLISHED
    FIN_WAIT_1: Final = State.FIN_WAIT_1
    FIN_WAIT_2: Final = State.FIN_WAIT_2
    CLOSE_WAIT: Final = State.CLOSE_WAIT
    CLOSING: Final = State.CLOSING
    LAST_ACK: Final = State.LAST_ACK
    TIME_WAIT: Final = State.TIME_WAIT


C = Cause

RULES: dict[tuple[State, State, Cause], str] = {
    # Opening (§3.5, §3.10.1, §3.10.7.2-3).
    (S.CLOSED, S.SYN_SENT, C.OPEN): "active OPEN: send SYN (§3.10.1)",
    (S.CLOSED, S.LISTEN, C.OPEN_PASSIVE): "passive OPEN: wait for a SYN (§3.10.1)",
    (S.LISTEN, S.SYN_SENT, C.SEND): "SEND in LISTEN with the remote socket specified: "
                                    "become active, send SYN (§3.10.2)",
    (S.LISTEN, S.SYN_RECEIVED, C.RCV_SYN): "SYN to a listener: send SYN,ACK (§3.10.7.2)",
    (S.SYN_SENT, S.ESTABLISHED, C.RCV_SYN_ACK): "SYN,ACK acknowledges our SYN: send ACK "
                                                 "(§3.10.7.3)",
    (S.SYN_SENT, S.SYN_RECEIVED, C.RCV_SYN): "simultaneous open: send SYN,ACK (§3.10.7.3)",
    (S.SYN_RECEIVED, S.ESTABLISHED, C.RCV_ACK_OF_SYN): "ACK of our SYN (§3.10.7.4 fifth)",
    (S.SYN_RECEIVED, S.ESTABLISHED, C.RCV_SYN_ACK): "simultaneous open: the peer's SYN,ACK "
                                                     "(§3.5 Figure 8)",
    # A handshake that fails.
    (S.SYN_SENT, S.CLOSED, C.RCV_RST): "RST with an acceptable ACK: connection refused "
                                       "(§3.10.7.3)",
    (S.SYN_SENT, S.CLOSED, C.CLOSE): "CLOSE: delete the TCB (§3.10.4)",
    (S.SYN_SENT, S.CLOSED, C.ABORT): "ABORT: delete the TCB (§3.10.5)",
    (S.SYN_SENT, S.CLOSED, C.R2_TIMEOUT): "SYN retransmitted for R2 (MUST-23, §3.8.3)",
    (S.SYN_RECEIVED, S.LISTEN, C.RCV_RST): "RST after a passive OPEN: back to LISTEN "
                                           "(§3.10.7.4 second, MUST-11)",
    (S.SYN_RECEIVED, S.LISTEN, C.RCV_SYN): "SYN in the window after a passive OPEN "
                                           "(§3.10.7.4 fourth)",
    (S.SYN_RECEIVED, S.CLOSED, C.RCV_RST): "RST after an active OPEN: refused (§3.10.7.4 second)",
    (S.SYN_RECEIVED, S.CLOSED, C.ABORT): "ABORT: send RST (§3.10.5)",
    (S.SYN_RECEIVED, S.CLOSED, C.R2_TIMEOUT): "SYN,ACK retransmitted for R2 (§3.8.3)",
    (S.SYN_RECEIVED, S.FIN_WAIT_1, C.CLOSE): "CLOSE: FIN after the handshake (§3.10.4)",
    # Data transfer ends: active close (§3.6).
    (S.ESTABLISHED, S.FIN_WAIT_1, C.CLOSE): "CLOSE: FIN follows the data (§3.10.4)",
    (S.FIN_WAIT_1, S.FIN_WAIT_2, C.RCV_ACK_OF_FIN): "ACK of our FIN (§3.10.7.4 fifth)",
    (S.FIN_WAIT_1, S.CLOSING, C.RCV_FIN): "the peer's FIN before the ACK of ours: "
                                          "simultaneous close (§3.10.7.4 eighth)",
    (S.FIN_WAIT_1, S.TIME_WAIT, C.RCV_FIN): "the peer's FIN with the ACK of ours "
                                            "(§3.10.7.4 eighth)",
    (S.FIN_WAIT_2, S.TIME_WAIT, C.RCV_FIN): "the peer's FIN: send ACK (§3.10.7.4 eighth)",
    (S.CLOSING, S.TIME_WAIT, C.RCV_ACK_OF_FIN): "ACK of our FIN (§3.10.7.4 fifth)",
    (S.TIME_WAIT, S.CLOSED, C.TIME_WAIT_TIMEOUT): "2 MSL elapsed: delete the TCB "
                                                  "(§3.10.8, MUST-13)",
    (S.TIME_WAIT, S.CLOSED, C.REOPEN): "a new SYN beyond the old sequence space reopens "
                                       "the 4-tuple (MAY-2, RFC 1122 §4.2.2.13)",
    # Passive close (§3.6).
    (S.ESTABLISHED, S.CLOSE_WAIT, C.RCV_FIN): "the peer's FIN: send ACK (§3.10.7.4 eighth)",
    (S.CLOSE_WAIT, S.LAST_ACK, C.FIN_SENT): "CLOSE queued until the data is segmentized; "
                                            "the FIN leaves (§3.10.4)",
    (S.LAST_ACK, S.CLOSED, C.RCV_ACK_OF_FIN): "ACK of our FIN: delete the TCB "
                                              "(§3.10.7.4 fifth)",
    # Resets and aborts in the synchronized states (§3.10.5, §3.10.7.4 second).
    (S.ESTABLISHED, S.CLOSED, C.RCV_RST): "RST: connection reset (§3.10.7.4 second)",
    (S.ESTABLISHED, S.CLOSED, C.ABORT): "ABORT: send RST (§3.10.5)",
    (S.ESTABLISHED, S.CLOSED, C.CLOSE_UNREAD): "CLOSE with unread data: send RST (SHLD-3)",
    (S.ESTABLISHED, S.CLOSED, C.R2_TIMEOUT): "data retransmitted for R2 (MUST-20, §3.8.3)",
    (S.ESTABLISHED, S.CLOSED, C.KEEPALIVE_TIMEOUT): "keep-alive probes unanswered (§3.8.4)",
    (S.FIN_WAIT_1, S.CLOSED, C.RCV_RST): "RST: connection reset (§3.10.7.4 second)",
    (S.FIN_WAIT_1, S.CLOSED, C.ABORT): "ABORT: send RST (§3.10.5)",
    (S.FIN_WAIT_1, S.CLOSED, C.DATA_AFTER_CLOSE): "data for a closed application: send RST "
                                                  "(SHLD-3)",
    (S.FIN_WAIT_1, S.CLOSED, C.R2_TIMEOUT): "FIN retransmitted for R2 (§3.8.3)",
    (S.FIN_WAIT_2, S.CLOSED, C.RCV_RST): "RST: connection reset (§3.10.7.4 second)",
    (S.FIN_WAIT_2, S.CLOSED, C.ABORT): "ABORT: send RST (§3.10.5)",
    (S.FIN_WAIT_2, S.CLOSED, C.DATA_AFTER_CLOSE): "data for a closed application: send RST "
                                                  "(SHLD-3)",
    (S.FIN_WAIT_2, S.CLOSED, C.FIN_WAIT_2_TIMEOUT): "an orphan gave up waiting for the FIN "
                                                    "(Linux tcp_fin_timeout)",
    (S.FIN_WAIT_2, S.CLOSED, C.KEEPALIVE_TIMEOUT): "keep-alive probes unanswered (§3.8.4)",
    (S.CLOSE_WAIT, S.CLOSED, C.RCV_RST): "RST: connection reset (§3.10.7.4 second)",
    (S.CLOSE_WAIT, S.CLOSED, C.ABORT): "ABORT: send RST (§3.10.5)",
    (S.CLOSE_WAIT, S.CLOSED, C.CLOSE_UNREAD): "CLOSE with unread data: send RST (SHLD-3)",
    (S.CLOSE_WAIT, S.CLOSED, C.R2_TIMEOUT): "data retransmitted for R2 (§3.8.3)",
    (S.CLOSE_WAIT, S.CLOSED, C.KEEPALIVE_TIMEOUT): "keep-alive probes unanswered (§3.8.4)",
    (S.CLOSING, S.CLOSED, C.RCV_RST): "RST (§3.10.7.4 second)",
    (S.CLOSING, S.CLOSED, C.ABORT): "ABORT (§3.10.5)",
    (S.CLOSING, S.CLOSED, C.R2_TIMEOUT): "FIN retransmitted for R2 (§3.8.3)",
    (S.LAST_ACK, S.CLOSED, C.RCV_RST): "RST (§3.10.7.4 second)",
    (S.LAST_ACK, S.CLOSED, C.ABORT): "ABORT (§3.10.5)",
    (S.LAST_ACK, S.CLOSED, C.R2_TIMEOUT): "FIN retransmitted for R2 (§3.8.3)",
    (S.TIME_WAIT, S.CLOSED, C.RCV_RST): "RST, unless RFC 1337 protection is on "
                                        "(§3.10.7.4 second)",
    (S.TIME_WAIT, S.CLOSED, C.ABORT): "ABORT: delete the TCB (§3.10.5)",
    (S.LISTEN, S.CLOSED, C.CLOSE): "CLOSE: delete the TCB (§3.10.4)",
    (S.LISTEN, S.CLOSED, C.ABORT): "ABORT: delete the TCB (§3.10.5)",
    # SYN flood defence and host limits (RFC 4987; docs/security.md).
    (S.LISTEN, S.ESTABLISHED, C.SYN_COOKIE): "the final ACK returns a valid SYN cookie: "
                                             "the connection is made from it (RFC 4987 §3.6)",
    (S.SYN_RECEIVED, S.CLOSED, C.SYNACK_RETRIES): "SYN,ACK retransmitted synack_retries "
                                                  "times: dropped silently (Linux "
                                                  "tcp_synack_retries)",
    (S.SYN_RECEIVED, S.CLOSED, C.RECYCLED): "SYN queue full: the oldest retransmitted "
                                            "half-open entry makes room (RFC 4987 §3.4)",
    (S.TIME_WAIT, S.CLOSED, C.TIME_WAIT_OVERFLOW): "more TIME-WAIT TCBs than max_time_wait: "
                                                   "closed at once (Linux tcp_max_tw_buckets)",
}
"""Every ``(old, new, cause)`` state change the implementation makes, with its RFC rule."""


def arcs() -> dict[tuple[State, State], list[Cause]]:
    """:data:`RULES` as arcs: ``(old, new)`` -> the causes that take it, in table order."""
    out: dict[tuple[State, State], list[Cause]] = {}
    for old, new, cause in RULES:
        out.setdefault((old, new), []).append(cause)
    return out


TRANSITIONS: dict[tuple[State, State], str] = {
    (old, new): "; ".join(f"{cause}: {RULES[(old, new, cause)]}" for cause in causes)
    for (old, new), causes in arcs().items()
}
"""The allowed ``(old, new)`` state changes, each with its causes and rules (from :data:`RULES`)."""

TAKEN: Counter[tuple[State, State, Cause]] = Counter()
"""How often each transition was taken in this process (statistics, like a MIB
counter; the test suite reads it to check that every entry of the table is taken)."""


def check_transition(old: State, new: State, cause: Cause) -> str:
    """Return the RFC rule allowing ``old -> new`` for ``cause``, and count it.

    Raises:
        ValueError: the transition is not in :data:`TRANSITIONS` (a bug).
    """
    key = (old, new, cause)
    try:
        rule = RULES[key]
    except KeyError:
        raise ValueError(f"illegal TCP state transition {old} -> {new} ({cause})") from None
    TAKEN[key] += 1
    return rule


def transition_reason(old: State, new: State) -> str:
    """The causes and RFC rules allowing ``old -> new``.

    Raises:
        ValueError: no cause allows ``old -> new``.
    """
    try:
        return TRANSITIONS[(old, new)]
    except KeyError:
        raise ValueError(f"illegal TCP state transition {old} -> {new}") from None


def mermaid_diagram() -> str:
    """The state diagram of :data:`TRANSITIONS` as Mermaid ``stateDiagram-v2`` text.

    One arrow per ``(old, new)`` pair, labelled with its causes.
    ``docs/states.md`` embeds it; a test keeps the two identical.
    """
    lines = ["stateDiagram-v2", "    [*] --> CLOSED"]
    for (old, new), causes in arcs().items():
        label = " / ".join(c.value for c in causes).replace(":", " -").replace('"', "'")
        lines.append(f"    {old.name} --> {new.name}: {label}")
    return "\n".join(lines) + "\n"
