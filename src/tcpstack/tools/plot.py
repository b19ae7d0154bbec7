"""Plots of a trace: the time-sequence graph and cwnd/ssthresh over time (matplotlib).

Two steps, so that what is drawn can be checked apart from the drawing:

- :func:`tsg_series` and :func:`cwnd_series` extract the data series from
  trace records (plain numbers, seconds and bytes);
- :func:`plot_tsg` and :func:`plot_cwnd` draw them into a PNG, SVG or PDF
  file with matplotlib's non-interactive backends (no display, no pyplot state).

RTT samples and throughput per flow live beside this module
(:mod:`tcpstack.tools.plot_rtt`, :mod:`tcpstack.tools.plot_throughput`) and
share its choice of direction; all kinds draw with :mod:`tcpstack.tools.plot_draw`.

**Time-sequence graph** (as tcptrace and Wireshark's Stream Graphs draw it):
one direction of one connection; time on x, the sequence number relative to
the sender's ISN on y (the SYN is 0, the first data byte 1). Each data
segment is a vertical bar from its first to its last byte at the time it
left; retransmissions (a segment starting below the highest byte sent
before it) and segments lost in the network are marked; the ACK line is
the cumulative acknowledgment the sender received, the window line ACK +
the receiver's advertised window (scaled, RFC 7323 §2.3): the sender may
send up to it (RFC 9293 §3.8.6). When the sender is not traced (a TUN trace
whose sender is the kernel), the same series come from the receiver's side:
arrival times instead of send times, and no losses.

**cwnd**: the sender's congestion window and slow-start threshold after
every change (``metrics_updated``, RFC 5681). ssthresh starts "arbitrarily
high" (RFC 5681 §3.1); the series holds ``None`` for that and the plot
draws it at the top of the axes. When the records carry them (traces of
the congestion-control interface; older and TUN traces do not), the plot
adds bytes in flight, the pacing rate on a second axis and the sender's
phase (slow start, avoidance, recovery, loss, BBR's states) as shaded bands.

Labels are in English: matplotlib's default font has no Chinese glyphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tcpstack.tools._model import _flags, _int, conn_key, split_conn
from tcpstack.tools.plot_draw import FORMATS, Size, draw_figure, draw_steps
from tcpstack.tools.reasons import is_network_loss
from tcpstack.trace import TraceRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "FORMATS",
    "INFINITE_SSTHRESH",
    "CwndSeries",
    "DataSegment",
    "Direction",
    "TsgSeries",
    "cwnd_series",
    "find_direction",
    "find_directions",
    "plot_cwnd",
    "plot_tsg",
    "tsg_series",
]

#: ssthresh at or above this (bytes) is the initial "arbitrarily high" value
#: (``tcpstack.congestion.base.INFINITE_SSTHRESH``).
INFINITE_SSTHRESH = 1 << 30
_MOD = 1 << 32
#: The time-sequence graph zooms on the data when the window line goes
#: higher than this many times the highest byte sent or acknowledged.
WINDOW_ZOOM = 3


class DataSegment(NamedTuple):
    """One data segment of the time-sequence graph.

    Attributes:
        time: seconds (sent, or arrived when seen from the receiver).
        start: relative sequence number of its first byte.
        end: relative sequence number after its last byte (start + length).
        retransmission: it starts below the highest byte sent before it.
    """

    time: float
    start: int
    end: int
    retransmission: bool


@dataclass(frozen=True)
class Direction:
    """One direction of one connection: who sends the data.

    Attributes:
        sender, receiver: endpoints ``addr:port`` (IPv6 in brackets).
        sender_host, receiver_host: the traced hosts at those endpoints, or None.
        data_bytes: payload bytes seen going that way (retransmissions included).
    """

    sender: str
    receiver: str
    sender_host: str | None
    receiver_host: str | None
    data_bytes: int

    @property
    def name(self) -> str:
        """``sender -> receiver`` with host names where known."""
        def who(host: str | None, ep: str) -> str:
            return f"{host} ({ep})" if host else ep
        return f"{who(self.sender_host, self.sender)} → {who(self.receiver_host, self.receiver)}"


@dataclass
class TsgSeries:
    """The series of a time-sequence graph (see the module docstring).

    Attributes:
        direction: whose data it is.
        vantage: ``"sender"`` or ``"receiver"``: whose records the times are.
        isn: the sender's initial sequence number (absolute).
        segments: data segments, in trace order.
        lost: data segments lost in the network (sender's vantage only).
        acks: ``(time, relative ACK)`` of every acknowledgment, in trace order.
        window: ``(time, relative ACK + window in bytes)`` of the same segments.
        window_scale: the shift applied to the receiver's window field.
    """

    direction: Direction
    vantage: str
    isn: int
    segments: list[DataSegment] = field(default_factory=list)
    lost: list[DataSegment] = field(default_factory=list)
    acks: list[tuple[float, int]] = field(default_factory=list)
    window: list[tuple[float, int]] = field(default_factory=list)
    window_scale: int = 0


@dataclass
class CwndSeries:
    """cwnd and ssthresh of one sender after every change, with what else the
    sender traced at the same points.

    Attributes:
        host: the sender's host name; conn: its connection string.
        times: seconds.
        cwnd: bytes.
        ssthresh: bytes, ``None`` while it is the initial "infinite" value.
        in_flight: bytes in flight (RFC 6675 "pipe"), ``None`` where not traced.
        pacing_rate: bytes/s, ``None`` where not traced or not pacing.
        phase: the sender's phase (:data:`PHASE_LABELS` keys, or another
            name an algorithm reports), ``None`` where not traced.
        congestion_control: the algorithm's name, if the trace says it.
    """

    host: str
    conn: str
    times: list[float] = field(default_factory=list)
    cwnd: list[int] = field(default_factory=list)
    ssthresh: list[int | None] = field(default_factory=list)
    in_flight: list[int | None] = field(default_factory=list)
    pacing_rate: list[float | None] = field(default_factory=list)
    phase: list[str | None] = field(default_factory=list)
    congestion_control: str | None = None


#: The phases ``metrics_updated`` reports and their legend labels: RFC 5681's
#: slow start and congestion avoidance, fast recovery (RFC 6582), after an RTO
#: (RFC 5681 §3.1 "loss"), and BBR v1's states (Cardwell et al., ACM Queue 2016).
PHASE_LABELS = {
    "slow_start": "slow start",
    "avoidance": "congestion avoidance",
    "recovery": "fast recovery",
    "loss": "loss (after an RTO)",
    "startup": "BBR startup",
    "drain": "BBR drain",
    "probe_bw": "BBR probe bandwidth",
    "probe_rtt": "BBR probe RTT",
}
_PHASE_COLORS = {
    "slow_start": "tab:green", "avoidance": "tab:blue", "recovery": "tab:orange",
    "loss": "tab:red", "startup": "tab:green", "drain": "tab:purple",
    "probe_bw": "tab:blue", "probe_rtt": "tab:brown",
}


# -- choosing what to plot ---------------------------------------------------------


def _directions(records: Sequence[TraceRecord]) -> dict[tuple[str, str], Direction]:
    """Every direction that carried segments, with the data bytes seen on it."""
    host_of: dict[str, str] = {}
    seen: dict[tuple[str, str], dict[str, int]] = {}
    for r in records:
        parts = split_conn(r.conn)
        if parts is None or "*" in parts[1]:
            continue
        host_of.setdefault(parts[0], r.host)
        if r.event == "segment_sent":
            way, view = parts, "sent"
        elif r.event == "segment_received":
            way, view = (parts[1], parts[0]), "received"
        else:
            continue
        counts = seen.setdefault(way, {"sent": 0, "received": 0})
        counts[view] += max(_int(r.data.get("len")) or 0, 0)
    return {
        way: Direction(way[0], way[1], host_of.get(way[0]), host_of.get(way[1]),
                       max(counts.values()))
        for way, counts in seen.items()
    }


def find_directions(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None
) -> list[Direction]:
    """Every direction that carried data, largest first (ties: first seen first).

    Args:
        records: trace records.
        conn: only this connection (``addr:port-addr:port``, either direction).
        host: only this data sender: a host name of the trace, or an endpoint ``addr:port``.

    Raises:
        ValueError: ``conn`` or ``host`` is not in the trace, or no segment
            carried data (the message says what the trace has).
    """
    recs = list(records)
    dirs = list(_directions(recs).values())
    if not dirs:
        raise ValueError("no segments in the trace")
    if conn is not None:
        key = conn_key(conn)
        conns = sorted({"-".join(sorted((d.sender, d.receiver))) for d in dirs})
        dirs = [d for d in dirs if key == frozenset((d.sender, d.receiver))]
        if not dirs:
            raise ValueError(f"connection {conn!r} is not in the trace "
                             f"(connections: {', '.join(conns)})")
    if host is not None:
        names = sorted({h for d in dirs for h in (d.sender_host, d.receiver_host) if h})
        dirs = [d for d in dirs if host in (d.sender_host, d.sender)]
        if not dirs:
            raise ValueError(f"host {host!r} sends nothing in the trace"
                             f"{' on that connection' if conn else ''} "
                             f"(hosts: {', '.join(names) or 'none'})")
    with_data = sorted((d for d in dirs if d.data_bytes > 0), key=lambda d: -d.data_bytes)
    if not with_data:
        raise ValueError("no data in the trace: no segment carried payload"
                         + (f" from {host}" if host else ""))
    return with_data


def find_direction(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None
) -> Direction:
    """The direction to plot: by default the one that carried the most data.

    Args:
        records: trace records.
        conn: only this connection (``addr:port-addr:port``, either direction).
        host: the data sender: a host name of the trace, or an endpoint ``addr:port``.

    Raises:
        ValueError: as :func:`find_directions`.
    """
    return find_directions(records, conn=conn, host=host)[0]


def _on(r: TraceRecord, local: str, remote: str) -> bool:
    parts = split_conn(r.conn)
    return parts == (local, remote)


def _syn_option(recs: Sequence[TraceRecord], src: str, dst: str, option: str) -> Any:
    """The ``option`` of the SYN sent from ``src`` to ``dst`` (None: no SYN or no option)."""
    for r in recs:
        if r.event not in ("segment_sent", "segment_received") or "SYN" not in _flags(
            r.data.get("flags")
        ):
            continue
        if (r.event == "segment_sent" and _on(r, src, dst)) or (
            r.event == "segment_received" and _on(r, dst, src)
        ):
            opts = r.data.get("options")
            return opts.get(option) if isinstance(opts, dict) else None
    return None


def _isn(recs: Sequence[TraceRecord], d: Direction) -> int | None:
    """The sender's ISN: its SYN's seq, else the first seq it is seen sending."""
    first: int | None = None
    for r in recs:
        if (r.event == "segment_sent" and _on(r, d.sender, d.receiver)) or (
            r.event == "segment_received" and _on(r, d.receiver, d.sender)
        ):
            seq = _int(r.data.get("seq"))
            if seq is None:
                continue
            if "SYN" in _flags(r.data.get("flags")):
                return seq
            if first is None:
                first = seq
    return first


def tsg_series(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None
) -> TsgSeries:
    """The time-sequence graph's series of one data direction (see the module docstring).

    Args:
        records: trace records, in trace order (times in seconds).
        conn, host: which connection and which sender (:func:`find_direction`).

    Raises:
        ValueError: as :func:`find_direction`.
    """
    recs = list(records)
    d = find_direction(recs, conn=conn, host=host)
    isn = _isn(recs, d) or 0
    both_scale = [_syn_option(recs, a, b, "wscale") for a, b in
                  ((d.sender, d.receiver), (d.receiver, d.sender))]
    scale = both_scale[1] if all(isinstance(s, int) for s in both_scale) else 0
    by_sender = any(r.event == "segment_sent" and _on(r, d.sender, d.receiver) for r in recs)
    out = TsgSeries(d, "sender" if by_sender else "receiver", isn, window_scale=int(scale))
    # Data: what the sender sent (or, from the receiver, what arrived);
    # ACKs: what came back to the sender (or what the receiver sent).
    if by_sender:
        data_event, data_ends = "segment_sent", (d.sender, d.receiver)
        ack_event, ack_ends = "segment_received", (d.sender, d.receiver)
    else:
        data_event, data_ends = "segment_received", (d.receiver, d.sender)
        ack_event, ack_ends = "segment_sent", (d.receiver, d.sender)
    high = 0
    for r in recs:
        if r.event == data_event and _on(r, *data_ends):
            seg = _data_segment(r, isn, high)
            if seg is not None:
                out.segments.append(seg)
                high = max(high, seg.end)
        elif r.event == ack_event and _on(r, *ack_ends):
            _ack_point(r, isn, out)
        elif by_sender and r.event == "segment_dropped" and _on(r, d.sender, d.receiver) \
                and is_network_loss(r.data):
            lost = _data_segment(r, isn, high)
            if lost is not None:  # its segment_sent came just before: as it was marked
                sent = next((s for s in reversed(out.segments)
                             if (s.start, s.end) == (lost.start, lost.end)), None)
                out.lost.append(sent or lost)
    return out


def _relative(seq: int, isn: int) -> int:
    return (seq - isn) % _MOD


def unwrap(relative: int, ref: int) -> int:
    """The number congruent to ``relative`` modulo 2**32 nearest to ``ref`` (RFC 9293
    §3.4's comparisons, made absolute): sequence offsets past 4 GiB stay increasing."""
    return ref + (relative - ref + (_MOD >> 1)) % _MOD - (_MOD >> 1)


def _data_segment(r: TraceRecord, isn: int, high: int) -> DataSegment | None:
    length = _int(r.data.get("len"))
    seq = _int(r.data.get("seq"))
    if not length or length < 0 or seq is None:
        return None
    start = _relative(seq, isn)
    if "SYN" in _flags(r.data.get("flags")):
        start += 1  # the SYN's own number comes first (data on a SYN)
    return DataSegment(r.time, start, start + length, start < high)


def ack_of(r: TraceRecord) -> int | None:
    """The acknowledgment number a segment record carries: None without the ACK
    flag, on a RST (its ACK field acknowledges nothing the sender can count) or
    when the field is missing or not a number."""
    flags = _flags(r.data.get("flags"))
    if "ACK" not in flags or "RST" in flags:
        return None
    return _int(r.data.get("ack"))


def _ack_point(r: TraceRecord, isn: int, out: TsgSeries) -> None:
    ack = ack_of(r)
    if ack is None:
        return
    flags = _flags(r.data.get("flags"))
    rel = _relative(ack, isn)
    out.acks.append((r.time, rel))
    window = _int(r.data.get("window"))
    if window is not None:
        shift = 0 if "SYN" in flags else out.window_scale  # RFC 7323 §2.2: never on a SYN
        out.window.append((r.time, rel + (window << shift)))


def cwnd_series(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None
) -> CwndSeries:
    """cwnd and ssthresh of the data sender after every change (``metrics_updated``),
    with bytes in flight, pacing rate, phase and algorithm where the records have them.

    Args:
        records: trace records, in trace order.
        conn, host: which connection and which sender (:func:`find_direction`).

    Raises:
        ValueError: as :func:`find_direction`, or the sender is not traced or
            its trace has no ``metrics_updated`` records.
    """
    recs = list(records)
    d = find_direction(recs, conn=conn, host=host)
    if d.sender_host is None:
        raise ValueError(f"the data sender {d.sender} is not traced: no cwnd to plot")
    out = CwndSeries(d.sender_host, f"{d.sender}-{d.receiver}")
    for r in sender_metrics(recs, d):
        cwnd = _int(r.data.get("cwnd"))
        if cwnd is None:
            continue
        ssthresh = _int(r.data.get("ssthresh"))
        out.times.append(r.time)
        out.cwnd.append(cwnd)
        out.ssthresh.append(ssthresh if ssthresh is not None
                            and ssthresh < INFINITE_SSTHRESH else None)
        out.in_flight.append(_int(r.data.get("in_flight")))
        out.pacing_rate.append(_number(r.data.get("pacing_rate")))
        phase = r.data.get("phase")
        out.phase.append(phase if isinstance(phase, str) and phase else None)
        name = r.data.get("congestion_control")
        if isinstance(name, str) and name:
            out.congestion_control = name
    if not out.times:
        raise ValueError(f"no metrics_updated records for {d.sender_host} on {out.conn}")
    return out


def sender_metrics(recs: Sequence[TraceRecord], d: Direction) -> list[TraceRecord]:
    """The ``metrics_updated`` records of ``d``'s sender on its connection (none
    when the sender is not traced)."""
    return [r for r in recs if r.event == "metrics_updated" and r.host == d.sender_host
            and d.sender_host is not None and _on(r, d.sender, d.receiver)]


def congestion_control_of(recs: Sequence[TraceRecord], d: Direction) -> str | None:
    """The algorithm ``d``'s sender last named in ``metrics_updated``, if any."""
    names = [r.data.get("congestion_control") for r in sender_metrics(recs, d)]
    return next((n for n in reversed(names) if isinstance(n, str) and n), None)


def _number(value: Any) -> float | None:
    """A finite, non-negative number of a record, else None (a hostile trace never raises)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number >= 0 and number != float("inf") and number == number else None


def phase_spans(times: Sequence[float], phases: Sequence[str | None],
                end: float) -> list[tuple[float, float, str]]:
    """Runs of one phase as ``(start, stop, phase)`` seconds: each phase holds from
    its record until the next record with another phase (the last until ``end``);
    ``None`` (not traced) makes no span."""
    spans: list[tuple[float, float, str]] = []
    current: tuple[float, str] | None = None
    for t, phase in zip(times, phases, strict=True):
        if current is not None and phase == current[1]:
            continue
        if current is not None:
            spans.append((current[0], t, current[1]))
        current = (t, phase) if phase is not None else None
    if current is not None:
        spans.append((current[0], max(end, current[0]), current[1]))
    return spans


# -- drawing -------------------------------------------------------------------------


def plot_tsg(series: TsgSeries, path: Path | str, *, title: str | None = None,
             size: Size | None = None) -> None:
    """Draw a time-sequence graph into ``path`` (``.png``, ``.svg`` or ``.pdf``;
    ``size`` in inches).

    Raises:
        ValueError: another extension.
        OSError: the file cannot be written.
    """

    def draw(ax: Axes) -> None:
        times = [s.time for s in series.segments] + [t for t, _ in series.acks]
        end = max(times, default=0.0)
        draw_steps(ax, series.window, end, color="tab:olive", linewidth=1,
               label="window (ACK + advertised window)")
        draw_steps(ax, series.acks, end, color="tab:green", linewidth=1.2, label="ACK")
        for retrans, color, label in ((False, "tab:blue", "data segment"),
                                      (True, "tab:red", "retransmission")):
            segs = [s for s in series.segments if s.retransmission is retrans]
            if segs:
                ax.vlines([s.time for s in segs], [s.start for s in segs],
                          [s.end for s in segs], color=color, linewidth=2, label=label)
                ax.plot([s.time for s in segs], [s.end for s in segs], linestyle="none",
                        marker="_", color=color, markersize=6)
        if series.lost:
            ax.plot([s.time for s in series.lost],
                    [(s.start + s.end) / 2 for s in series.lost], linestyle="none",
                    marker="x", color="black", markersize=8, label="lost in the network")
        # A window far above the data would squash it into a line at the bottom.
        data_top = max([s.end for s in series.segments] + [a for _, a in series.acks] + [1])
        window_top = max([w for _, w in series.window], default=0)
        if window_top > WINDOW_ZOOM * data_top:
            ax.set_ylim(0, data_top * 1.3)
            ax.annotate(f"window line above, up to {window_top}", (0.99, 0.98),
                        xycoords="axes fraction", ha="right", va="top", color="tab:olive")

    seen = "sent" if series.vantage == "sender" else "arrived (seen by the receiver)"
    draw_figure(path, draw, title=title or f"Time-sequence graph: {series.direction.name}",
                xlabel=f"time (s), data when {seen}",
                ylabel="sequence number relative to the ISN (bytes)", size=size)


def plot_cwnd(series: CwndSeries, path: Path | str, *, title: str | None = None,
              size: Size | None = None) -> None:
    """Draw cwnd and ssthresh over time into ``path`` (``.png``, ``.svg`` or ``.pdf``;
    ``size`` in inches), with bytes in flight, the pacing rate (Mbit/s, on a second
    axis) and the phases (shaded bands) where the series has them.

    ssthresh's initial "infinite" value is drawn at the top of the axes.

    Raises:
        ValueError: another extension.
        OSError: the file cannot be written.
    """

    def draw(ax: Axes) -> None:
        end = series.times[-1] if series.times else 0.0
        labelled: set[str] = set()  # one legend entry a phase, however many bands
        for start, stop, phase in phase_spans(series.times, series.phase, end):
            label = PHASE_LABELS.get(phase, phase)
            ax.axvspan(start, stop, color=_PHASE_COLORS.get(phase, "tab:gray"), alpha=0.12,
                       linewidth=0, label="_nolegend_" if label in labelled else label)
            labelled.add(label)
        draw_steps(ax, list(zip(series.times, series.cwnd, strict=True)), end, color="tab:blue",
               linewidth=1.5, label="cwnd")
        finite = [s for s in series.ssthresh if s is not None]
        flight = [(t, f) for t, f in zip(series.times, series.in_flight, strict=True)
                  if f is not None]
        top = max([*series.cwnd, *finite, *(f for _, f in flight), 1]) * 1.15
        capped: list[float] = [top if s is None else s for s in series.ssthresh]
        if capped:
            label = "ssthresh" + (" (∞ drawn at the top)" if None in series.ssthresh else "")
            draw_steps(ax, list(zip(series.times, capped, strict=True)), end, color="tab:orange",
                   linewidth=1.2, linestyle="--", label=label)
        draw_steps(ax, flight, end, color="tab:gray", linewidth=1, label="bytes in flight")
        ax.set_ylim(0, top * 1.05)
        pacing = [(t, p * 8 / 1e6) for t, p in zip(series.times, series.pacing_rate,
                                                   strict=True) if p is not None]
        if pacing:
            rate_ax = ax.twinx()
            draw_steps(rate_ax, pacing, end, color="tab:purple", linewidth=1, linestyle=":",
                   label="pacing rate (right axis)")
            rate_ax.set_ylabel("pacing rate (Mbit/s)")
            rate_ax.set_ylim(0, max(p for _, p in pacing) * 1.15 or 1)

    algorithm = f" [{series.congestion_control}]" if series.congestion_control else ""
    draw_figure(path, draw,
                title=title or f"cwnd and ssthresh of {series.host} ({series.conn}){algorithm}",
                xlabel="time (s)", ylabel="bytes", size=size)
