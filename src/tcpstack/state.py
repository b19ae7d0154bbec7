"""The eleven TCP states and the transitions between them (RFC 9293 §3.3.2, Figure 5).

:data:`TRANSITIONS` is the single table every state change is checked
against. Each entry names the RFC rule that allows it; the docs' state diagram
is drawn from the same table.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """A connection state. ``str(state)`` gives the RFC spelling (``SYN-SENT``)."""

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

S = State

TRANSITIONS: dict[tuple[State, State], str] = {
    # Figure 5 arcs.
    (S.CLOSED, S.LISTEN): "passive OPEN (§3.10.1)",
    (S.CLOSED, S.SYN_SENT): "active OPEN, send SYN (§3.10.1)",
    (S.LISTEN, S.SYN_RECEIVED): "rcv SYN, send SYN,ACK (§3.10.7.2)",
    (S.LISTEN, S.SYN_SENT): "SEND in LISTEN: active open from a listener (§3.10.2)",
    (S.LISTEN, S.CLOSED): "CLOSE, delete TCB (§3.10.4)",
    (S.SYN_SENT, S.SYN_RECEIVED): "rcv SYN (simultaneous open), send SYN,ACK (§3.10.7.3)",
    (S.SYN_SENT, S.ESTABLISHED): "rcv SYN,ACK, send ACK (§3.10.7.3)",
    (S.SYN_SENT, S.CLOSED): "CLOSE, RST, or timeout (§3.10.4, §3.10.7.3, §3.8.3)",
    (S.SYN_RECEIVED, S.ESTABLISHED): "rcv ACK of SYN (§3.10.7.4)",
    (S.SYN_RECEIVED, S.FIN_WAIT_1): "CLOSE, send FIN (§3.10.4)",
    (S.SYN_RECEIVED, S.LISTEN): "rcv RST after passive OPEN (§3.10.7.4, MUST-11)",
    (S.SYN_RECEIVED, S.CLOSED): "rcv RST after active OPEN, or timeout (§3.10.7.4)",
    (S.SYN_RECEIVED, S.CLOSE_WAIT): "rcv FIN with the ACK of our SYN (§3.10.7.4 eighth)",
    (S.ESTABLISHED, S.FIN_WAIT_1): "CLOSE, send FIN (§3.10.4)",
    (S.ESTABLISHED, S.CLOSE_WAIT): "rcv FIN, send ACK (§3.10.7.4 eighth)",
    (S.ESTABLISHED, S.CLOSED): "ABORT, rcv RST, or timeout (§3.10.5, §3.10.7.4)",
    (S.FIN_WAIT_1, S.FIN_WAIT_2): "rcv ACK of FIN (§3.10.7.4 fifth)",
    (S.FIN_WAIT_1, S.CLOSING): "rcv FIN, send ACK: simultaneous close (§3.10.7.4 eighth)",
    (S.FIN_WAIT_1, S.TIME_WAIT): "rcv FIN,ACK of our FIN (§3.10.7.4 eighth)",
    (S.FIN_WAIT_1, S.CLOSED): "ABORT, rcv RST, or timeout (§3.10.5, §3.10.7.4)",
    (S.FIN_WAIT_2, S.TIME_WAIT): "rcv FIN, send ACK (§3.10.7.4 eighth)",
    (S.FIN_WAIT_2, S.CLOSED): "ABORT, rcv RST, or FIN-WAIT-2 timeout (§3.10.5)",
    (S.CLOSE_WAIT, S.LAST_ACK): "CLOSE, send FIN (§3.10.4)",
    (S.CLOSE_WAIT, S.CLOSED): "ABORT, rcv RST, or timeout (§3.10.5, §3.10.7.4)",
    (S.CLOSING, S.TIME_WAIT): "rcv ACK of FIN (§3.10.7.4 fifth)",
    (S.CLOSING, S.CLOSED): "ABORT or rcv RST (§3.10.5, §3.10.7.4)",
    (S.LAST_ACK, S.CLOSED): "rcv ACK of FIN, RST, or timeout (§3.10.7.4 fifth)",
    (S.TIME_WAIT, S.CLOSED): "2MSL timeout, or RST (§3.10.8, §3.10.7.4)",
    (S.TIME_WAIT, S.SYN_RECEIVED): "new SYN with a higher ISN reopens (MAY-2, §3.6.1)",
}
"""Allowed ``(old, new)`` state changes, each with the RFC 9293 rule behind it."""


def transition_reason(old: State, new: State) -> str:
    """Return the RFC rule allowing ``old -> new``.

    Raises:
        ValueError: the transition is not in :data:`TRANSITIONS`.
    """
    try:
        return TRANSITIONS[(old, new)]
    except KeyError:
        raise ValueError(f"illegal TCP state transition {old} -> {new}") from None


def mermaid_diagram() -> str:
    """The state diagram of :data:`TRANSITIONS` as Mermaid ``stateDiagram-v2`` text.

    ``docs/states.md`` embeds it; a test keeps the two identical.
    """
    lines = ["stateDiagram-v2", "    [*] --> CLOSED"]
    for (old, new), reason in TRANSITIONS.items():
        label = reason.replace(":", " -").replace('"', "'")
        lines.append(f"    {old.name} --> {new.name}: {label}")
    return "\n".join(lines) + "\n"
