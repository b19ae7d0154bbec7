"""``ss``-style counts of sockets per state over time, computed from a trace.

``ss -tan`` (or ``netstat -tan``) on a host lists its sockets with their
states; counting them per state is how a CLOSE-WAIT or TIME-WAIT pile-up is
spotted in practice. :func:`state_counts` gives the same counts for any
moment of a run, from the trace only: ``state_updated`` records (a
connection's state is the ``new`` of its latest record; CLOSED connections
are gone, as ``ss`` no longer shows them), listeners from ``app`` ``listen``
records, and a host's ``app`` ``restart`` record (the simulator's crash) forgets
all of that host's sockets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..tools.i18n import Text
from ..tools.wrap import cell_width
from ..trace import TraceRecord

ORDER = ("LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
         "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT")
"""The states ``ss`` can show, in the order of RFC 9293 Figure 5 (CLOSED is not a socket)."""


@dataclass(frozen=True)
class StateCount:
    """The sockets of one host at one moment.

    Attributes:
        time: the moment, seconds on the trace's clock (records at exactly
            this time are included).
        host: the host's name.
        counts: sockets per state (RFC spelling), only states with at least one.
    """

    time: float
    host: str
    counts: dict[str, int]

    def total(self) -> int:
        """All the host's sockets at that moment."""
        return sum(self.counts.values())


def state_counts(records: Iterable[TraceRecord], times: Sequence[float],
                 hosts: Sequence[str]) -> list[StateCount]:
    """Per host and per moment, how many sockets are in each state.

    Args:
        records: trace records in time order (any trace: odd or partial
            traces give what they show; unknown events are skipped).
        times: the moments, seconds, in increasing order.
        hosts: the hosts to count, in the order of the result.

    Returns:
        ``len(times) * len(hosts)`` counts: for each time, one per host.

    Raises:
        ValueError: ``times`` is not in increasing order.
    """
    if any(b < a for a, b in itertools.pairwise(times)):
        raise ValueError("times must be in increasing order")
    wanted = set(hosts)
    current: dict[str, dict[str, str]] = {h: {} for h in hosts}  # host -> conn -> state
    out: list[StateCount] = []
    pending = iter(records)
    rec = next(pending, None)
    for t in times:
        while rec is not None and rec.time <= t:
            if rec.host in wanted:
                _apply(current[rec.host], rec)
            rec = next(pending, None)
        for h in hosts:
            counts: dict[str, int] = {}
            for state in current[h].values():
                counts[state] = counts.get(state, 0) + 1
            out.append(StateCount(t, h, {s: counts[s] for s in ORDER if s in counts}))
    return out


def _apply(sockets: dict[str, str], rec: TraceRecord) -> None:
    """Update one host's socket states with one of its records."""
    if rec.event == "state_updated" and rec.conn:
        new = str(rec.data.get("new", ""))
        if new in ORDER:
            sockets[rec.conn] = new
        else:  # CLOSED (or nonsense): the socket is gone
            sockets.pop(rec.conn, None)
    elif rec.event == "app":
        call = rec.data.get("call")
        if call == "listen" and rec.conn.endswith("-*"):
            sockets[rec.conn] = "LISTEN"
        elif call == "restart":
            sockets.clear()


def state_table(counts: Sequence[StateCount]) -> Text:
    """The counts as a small fixed-width table, one row per moment, one column
    per host and state that ever had a socket, e.g.::

        time (s)  client ESTABLISHED  client FIN-WAIT-2  server CLOSE-WAIT
             0.0                   1                  0                  0
    """
    hosts = list(dict.fromkeys(c.host for c in counts))
    columns = [(h, s) for h in hosts for s in ORDER
               if any(c.host == h and s in c.counts for c in counts)]
    times = list(dict.fromkeys(c.time for c in counts))
    by_key = {(c.time, c.host): c.counts for c in counts}
    heads = [f"{h} {s}" for h, s in columns]
    rows = [[f"{t:.1f}"] + [str(by_key.get((t, h), {}).get(s, 0)) for h, s in columns]
            for t in times]

    if not rows:
        return Text("(no sockets)", "（没有套接字）")

    def table(first: str) -> str:
        lines = [[first, *heads], *rows]
        widths = [max(cell_width(line[i]) for line in lines) for i in range(len(lines[0]))]
        return "\n".join("  ".join(" " * (w - cell_width(cell)) + cell
                                   for cell, w in zip(line, widths, strict=True))
                         for line in lines)

    return Text(table("time (s)"), table("时间（秒）"))
