"""Goodput per flow over time, in windows (matplotlib).

Like :mod:`tcpstack.tools.plot`, two steps: :func:`throughput_series`
extracts the series (bit/s per window) from the records alone,
:func:`plot_throughput` draws one line per flow.

A flow is one direction of one connection that carried data. Its goodput
counts each byte of the stream once, when it reached the application's side
of the receiver in order, from the most direct source the trace has:

1. ``delivered``: the receiver's ``app`` records ``{"delivered": n}`` (``n``
   bytes became readable, in order): what the receiving application can have,
   whether or not it has read it yet. Needs the receiver traced.
2. ``acked``: the progress of the cumulative ACK (RFC 9293 §3.4) as the
   sender received it; with the sender not traced, as the receiver sent it.
   Bytes count once, when first acknowledged; the SYN and FIN, which occupy
   sequence space but carry no data, do not count.

Retransmissions and duplicates never count (goodput, not throughput on the
wire). A byte counts in the window ``[start + k * interval, start + (k + 1)
* interval)`` holding its time; windows are aligned on multiples of the
interval and every flow has the same windows, zero where it moved nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tcpstack.tools._model import _flags, _int
from tcpstack.tools.plot import (
    Direction,
    _isn,
    _number,
    _on,
    _relative,
    ack_of,
    congestion_control_of,
    find_directions,
    sender_metrics,
    unwrap,
)
from tcpstack.tools.plot_draw import Size, draw_figure
from tcpstack.trace import TraceRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["WINDOWS", "Flow", "ThroughputSeries", "auto_interval", "plot_throughput",
           "throughput_series"]

#: The default interval divides the flows' active time into about this many windows.
WINDOWS = 50
#: Where a flow's bytes came from (see the module docstring).
SOURCES = {
    "delivered": "delivered in order at the receiver",
    "acked": "cumulative ACK at the sender",
    "acked-by-receiver": "cumulative ACK sent by the receiver",
}


@dataclass
class Flow:
    """One flow's goodput.

    Attributes:
        direction: the data's sender and receiver.
        source: a key of :data:`SOURCES`.
        congestion_control: the sender's algorithm, when its trace names it.
        events: ``(time, bytes)`` of every delivery counted, in trace order.
        rates: bit/s in each window of the series.
    """

    direction: Direction
    source: str
    congestion_control: str | None = None
    events: list[tuple[float, int]] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Bytes counted, in all."""
        return sum(n for _, n in self.events)

    @property
    def label(self) -> str:
        """``sender → receiver`` and the algorithm, for a legend."""
        algorithm = f" [{self.congestion_control}]" if self.congestion_control else ""
        return f"{self.direction.name}{algorithm}"


@dataclass
class ThroughputSeries:
    """What :func:`plot_throughput` draws.

    Attributes:
        interval: window length, seconds.
        start: the first window's start, seconds (a multiple of ``interval``).
        flows: the flows, largest first.
    """

    interval: float
    start: float
    flows: list[Flow] = field(default_factory=list)

    @property
    def windows(self) -> list[float]:
        """Each window's start, seconds."""
        count = max((len(f.rates) for f in self.flows), default=0)
        return [round(self.start + k * self.interval, 9) for k in range(count)]


def _delivered(recs: Sequence[TraceRecord], d: Direction) -> list[tuple[float, int]]:
    """Source 1: the receiver's ``{"delivered": n}`` records on this connection."""
    out: list[tuple[float, int]] = []
    for r in recs:
        if r.event == "app" and r.host == d.receiver_host and _on(r, d.receiver, d.sender):
            n = _int(r.data.get("delivered"))
            if n is not None and n > 0:
                out.append((r.time, n))
    return out


def _acked(recs: Sequence[TraceRecord], d: Direction, *,
           by_sender: bool) -> list[tuple[float, int]]:
    """Source 2: cumulative ACK progress over data bytes, as the sender received
    the ACKs (``by_sender``) or as the receiver sent them."""
    isn = _isn(recs, d) or 0
    if by_sender:
        data_event, ack_event, ends = "segment_sent", "segment_received", (d.sender, d.receiver)
    else:
        data_event, ack_event, ends = "segment_received", "segment_sent", (d.receiver, d.sender)
    out: list[tuple[float, int]] = []
    data_end = 0  # stream offset after the last data byte seen (offset 0 is relative seq 1)
    acked = 0  # stream offset acknowledged so far
    for r in recs:
        if r.event == data_event and _on(r, *ends):
            seq, length = _int(r.data.get("seq")), _int(r.data.get("len")) or 0
            if seq is None or length <= 0:
                continue
            start = unwrap(_relative(seq, isn), data_end + 1)
            start += "SYN" in _flags(r.data.get("flags"))  # data after the SYN's number
            data_end = max(data_end, start - 1 + length)
        elif r.event == ack_event and _on(r, *ends):
            ack = ack_of(r)
            if ack is None:
                continue
            # ACK = the next byte expected (RFC 9293 §3.4): relative ACK - 1 data
            # bytes, not counting the FIN's number beyond the last data byte.
            offset = min(unwrap(_relative(ack, isn), acked + 1) - 1, data_end)
            if offset > acked:
                out.append((r.time, offset - acked))
                acked = offset
    return out


def _flow(recs: Sequence[TraceRecord], d: Direction) -> Flow:
    """A flow with its events from the most direct source the trace has."""
    cc = congestion_control_of(recs, d)
    if d.receiver_host is not None and (events := _delivered(recs, d)):
        return Flow(d, "delivered", cc, events)
    if d.sender_host is not None:
        return Flow(d, "acked", cc, _acked(recs, d, by_sender=True))
    return Flow(d, "acked-by-receiver", cc, _acked(recs, d, by_sender=False))


def _nice(seconds: float) -> float:
    """The smallest 1, 2 or 5 × 10**k at or above ``seconds`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(seconds))
    for step in (1, 2, 5, 10):
        if step * power >= seconds * (1 - 1e-9):
            return round(step * power, 12)
    return round(10 * power, 12)  # unreachable: 10 * power > seconds


def auto_interval(span: float, rtt: float | None) -> float:
    """The default window: about :data:`WINDOWS` windows over ``span`` seconds, at
    least one ``rtt`` (seconds, the smallest srtt seen; None if unknown; a window
    shorter than a round trip shows the sender's bursts, not its rate), rounded up
    to 1, 2 or 5 × 10**k seconds; 1 s when neither gives a length."""
    raw = max(span / WINDOWS, rtt or 0.0)
    return _nice(raw) if raw > 0 else 1.0


def throughput_series(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None,
    interval: float | None = None,
) -> ThroughputSeries:
    """Goodput per flow in windows (see the module docstring).

    Args:
        records: trace records, in trace order (times in seconds).
        conn: only this connection (either direction); host: only flows this
            host (name or ``addr:port``) sends (:func:`~tcpstack.tools.plot.find_directions`).
        interval: window length in seconds (> 0); None: :func:`auto_interval`
            over the time the flows moved data and their smallest srtt.

    Raises:
        ValueError: as :func:`~tcpstack.tools.plot.find_directions`; an
            interval that is not a positive finite number; or no flow
            delivered a byte.
    """
    if interval is not None and not (interval > 0 and math.isfinite(interval)):
        raise ValueError(f"the interval must be a positive number of seconds, not {interval}")
    recs = list(records)
    flows = [f for f in (_flow(recs, d) for d in find_directions(recs, conn=conn, host=host))
             if f.events]
    if not flows:
        raise ValueError("no data delivered: no flow of the trace had a byte acknowledged "
                         "or delivered")
    times = [t for f in flows for t, _ in f.events]
    if interval is None:
        srtts = [v for f in flows for r in sender_metrics(recs, f.direction)
                 if (v := _number(r.data.get("srtt")))]
        interval = auto_interval(max(times) - min(times), min(srtts, default=None))
    first = math.floor(min(times) / interval + 1e-9)
    count = math.floor(max(times) / interval + 1e-9) - first + 1
    for f in flows:
        moved = [0] * count
        for t, n in f.events:
            # Times on a window's edge count in the window they open (1e-9:
            # float division of an edge time must not fall short of it).
            moved[math.floor(t / interval + 1e-9) - first] += n
        f.rates = [n * 8 / interval for n in moved]
    return ThroughputSeries(interval, round(first * interval, 9), flows)


def _unit(top: float) -> tuple[float, str]:
    """The divisor and name of the bit-rate unit for an axis reaching ``top`` bit/s."""
    for scale, name in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if top >= scale:
            return scale, name
    return 1.0, "bit/s"


def plot_throughput(series: ThroughputSeries, path: Path | str, *, title: str | None = None,
                    size: Size | None = None) -> None:
    """Draw each flow's goodput per window (steps, one line a flow) into ``path``
    (``.png``, ``.svg`` or ``.pdf``; ``size`` in inches).

    Raises:
        ValueError: another extension.
        OSError: the file cannot be written.
    """
    scale, unit = _unit(max((r for f in series.flows for r in f.rates), default=0.0))
    sources = {f.source for f in series.flows}

    def draw(ax: Axes) -> None:
        starts = series.windows  # every flow has the same windows
        xs = [*starts, round(series.start + len(starts) * series.interval, 9)]
        for f in series.flows:
            ys = [r / scale for r in f.rates]
            label = f.label if len(sources) == 1 else f"{f.label} ({SOURCES[f.source]})"
            ax.step(xs, [*ys, ys[-1]], where="post", linewidth=1.5, label=label)
        ax.set_ylim(bottom=0)

    source = f", {SOURCES[next(iter(sources))]}" if len(sources) == 1 else ""
    draw_figure(path, draw, title=title or f"Goodput per flow ({series.interval:g} s windows"
                f"{source})", xlabel="time (s)", ylabel=f"goodput ({unit})", size=size)
