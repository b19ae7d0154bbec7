"""What the page's time-sequence graph and cwnd plot draw (numbers only; the page draws).

For each direction, the data its sender sent (time it left in seconds,
relative sequence number, bytes, retransmission, fate) and the ACKs that
sender received (arrival time, relative ACK, ACK + the scaled window); for
each host, cwnd and ssthresh (bytes) at each change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tcpstack.tools._model import LadderModel
from tcpstack.tools.viewer.values import num, round_time
from tcpstack.trace import TraceRecord

__all__ = ["plot_series"]


def plot_series(
    model: LadderModel,
    segments: Sequence[Mapping[str, Any]],
    records: Iterable[TraceRecord],
    relevant: Callable[[TraceRecord], bool],
) -> dict[str, Any]:
    """``{"has_data", "tsg": {"L"|"R": {"data", "acks", "bytes"}}, "cwnd": {"L"|"R": [...]}}``.

    Args:
        model: the ladder model (which host is on which side).
        segments: the segments' JSON (:func:`tcpstack.tools.viewer.segments.segments_json`).
        records: the trace records.
        relevant: which records belong to the connection.
    """
    side = {model.left: "L", model.right: "R"}
    tsg: dict[str, Any] = {}
    for s_side, host in (("L", model.left), ("R", model.right)):
        data = [[s["sent"], s["rel_seq"], s["len"], s["retransmission"], s["fate"]]
                for s in segments
                if s["src"] == host and (s["len"] or 0) > 0 and s["sent"] is not None
                and s["rel_seq"] is not None]
        acks = [[s["received"], s["rel_ack"],
                 None if s["window_scaled"] is None else s["rel_ack"] + s["window_scaled"]]
                for s in segments
                if s["dst"] == host and "ACK" in s["flags"] and s["received"] is not None
                and s["rel_ack"] is not None]
        tsg[s_side] = {"data": data, "acks": acks, "bytes": sum(int(d[2]) for d in data)}
    cwnd: dict[str, list[list[Any]]] = {"L": [], "R": []}
    for r in records:
        if r.event == "metrics_updated" and r.conn and relevant(r) and r.host in side:
            point = [round_time(r.time), num(r.data.get("cwnd")), num(r.data.get("ssthresh"))]
            line = cwnd[side[r.host]]
            if not line or line[-1][1:] != point[1:]:
                line.append(point)
    return {"has_data": any((s["len"] or 0) > 0 for s in segments), "tsg": tsg, "cwnd": cwnd}
