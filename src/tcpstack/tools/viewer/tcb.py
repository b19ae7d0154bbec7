"""One end's TCB as the trace shows it so far (RFC 9293 §3.3.1).

The values come from ``metrics_updated`` (docs/trace.md), the state from
``state_updated``, the timers from ``timer_set``/``timer_cancelled``/
``timer_fired`` and the unread bytes from the ``app`` records; the viewer's
step builder applies each record and takes a :meth:`TcbTracker.snapshot`
after every step.
"""

from __future__ import annotations

from typing import Any

from tcpstack.tools.viewer.values import MOD

__all__ = ["TCB_FIELDS", "TcbTracker"]

TCB_FIELDS = ("snd_una", "snd_nxt", "snd_wnd", "rcv_nxt", "rcv_wnd", "cwnd", "ssthresh",
              "srtt", "rto")
"""The ``metrics_updated`` fields a TCB snapshot carries."""

_SEQ_FIELDS = {"snd_una": "own", "snd_nxt": "own", "rcv_nxt": "peer"}


class TcbTracker:
    """One end's TCB, updated record by record.

    Attributes:
        state: RFC spelling, or None when the host is not traced.
        vars: the :data:`TCB_FIELDS` (None until the first ``metrics_updated``).
        timers: running timers by name: ``{"at": expiry s, "set": when armed s,
            "prev": the expiry it replaced when re-armed while running, else None}``.
        unread: bytes delivered to the receive buffer and not read yet.
        peer_syn: the peer's SYN arrived (before it, RCV.NXT means nothing).
    """

    def __init__(self, state: str | None) -> None:
        self.reset(state)

    def reset(self, state: str | None) -> None:
        """Forget everything (a new TCB, or a host that restarted)."""
        self.state = state
        self.vars: dict[str, Any] = dict.fromkeys(TCB_FIELDS)
        self.timers: dict[str, dict[str, float | int | None]] = {}
        self.unread = 0
        self.peer_syn = False

    def snapshot(self, own_isn: int | None, peer_isn: int | None) -> dict[str, Any]:
        """The TCB as JSON: the state, the fields, ``snd_una_rel``, ``snd_nxt_rel``
        (relative to our ISN), ``rcv_nxt_rel`` (to the peer's), ``timers`` as a
        list sorted by name, and ``unread``."""
        snap: dict[str, Any] = {"state": self.state}
        for name in TCB_FIELDS:
            snap[name] = self.vars[name]
        for name, whose in _SEQ_FIELDS.items():
            value = self.vars[name]
            base = own_isn if whose == "own" else peer_isn
            known = whose == "own" or self.peer_syn
            rel = None
            if isinstance(value, int) and base is not None and known:
                rel = (value - base) % MOD
            snap[name + "_rel"] = rel
        snap["timers"] = [{"timer": name, **entry} for name, entry in sorted(self.timers.items())]
        snap["unread"] = self.unread
        return snap
