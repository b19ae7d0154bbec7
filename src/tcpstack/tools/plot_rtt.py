"""RTT samples of a trace's data sender over time, with its srtt and rto (matplotlib).

Like :mod:`tcpstack.tools.plot`, two steps: :func:`rtt_series` extracts the
series (seconds) from the records alone, :func:`plot_rtt` draws them.

The samples are measured from the trace, as tcptrace measures them from a
capture, not copied from the stack's estimator: a segment that occupies
sequence space (data, SYN or FIN) leaves the sender at its ``segment_sent``
time; the first acknowledgment the sender receives that covers all of it
(the cumulative ACK, or a SACK block, RFC 2018) ends the sample. Karn's rule
(Karn and Partridge 1987; RFC 6298 §3): a range sent more than once is
ambiguous, so no sample comes from any transmission of it. One ACK that
covers several segments gives one sample for each; delayed ACKs (RFC 9293
§3.8.6.3) are part of what the sender sees and stay in the samples.

The stack's own estimate is drawn beside them: ``srtt`` and ``rto`` from the
sender's ``metrics_updated`` records (RFC 6298 §2).

A trace without the sender (a TUN trace where the kernel sends) has no send
times. When the connection uses timestamps (RFC 7323), the receiver's side
still gives an estimate, as Linux's receiver does for its buffer tuning
(``tcp_rcv_rtt_measure_ts``): the receiver's ACK leaves with TSval X at
t0; the first data segment that arrives echoing X (TSecr = X) at t1 gives
t1 - t0, a round trip that also holds whatever the sender waited before
sending (an upper bound, exact for an ACK-clocked bulk sender). Only the
first echo of each value counts, so a retransmission that echoes an old
value gives nothing (timestamps make Karn's rule unnecessary, RFC 7323 §4).
Without timestamps :func:`rtt_series` says it cannot measure instead of
guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tcpstack.tools._model import _flags, _int
from tcpstack.tools.plot import (
    Direction,
    _isn,
    _number,
    _on,
    _relative,
    ack_of,
    find_direction,
    sender_metrics,
    unwrap,
)
from tcpstack.tools.plot_draw import Size, draw_figure, draw_steps
from tcpstack.trace import TraceRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["RttSample", "RttSeries", "plot_rtt", "rtt_series"]

#: The graph zooms on the samples when rto goes higher than this many times
#: the highest sample or srtt (RFC 6298's 1 s floor dwarfs a LAN's RTT).
RTO_ZOOM = 5


class RttSample(NamedTuple):
    """One RTT sample.

    Attributes:
        time: seconds: when the acknowledgment reached the sender (from the
            receiver: when the data echoing the ACK's timestamp arrived).
        rtt: seconds from the segment's send to that acknowledgment (from the
            receiver: from the ACK's send to that arrival), rounded to the
            nanosecond as trace times are.
        start, end: the segment's sequence range relative to the sender's ISN
            (the SYN is 0), ``end`` excluded.
    """

    time: float
    rtt: float
    start: int
    end: int


@dataclass
class RttSeries:
    """What :func:`plot_rtt` draws (see the module docstring).

    Attributes:
        direction: whose data it is.
        vantage: ``"sender"`` (send to ACK, Karn's rule) or ``"receiver"``
            (timestamp echo, no srtt or rto).
        samples: in the order the acknowledgments arrived.
        srtt: ``(time, seconds)`` after every ``metrics_updated`` with an srtt.
        rto: ``(time, seconds)`` after every ``metrics_updated``.
        ambiguous: transmissions acknowledged but not sampled because their
            range was sent more than once (Karn's rule).
    """

    direction: Direction
    vantage: str = "sender"
    samples: list[RttSample] = field(default_factory=list)
    srtt: list[tuple[float, float]] = field(default_factory=list)
    rto: list[tuple[float, float]] = field(default_factory=list)
    ambiguous: int = 0


@dataclass
class _Sent:
    time: float
    start: int
    end: int
    again: bool  # its range was sent more than once (Karn)


def _sack_blocks(options: Any, isn: int, ref: int) -> list[tuple[int, int]]:
    """The SACK blocks of a segment's options, relative and unwrapped (hostile
    values are skipped)."""
    blocks = options.get("sack") if isinstance(options, dict) else None
    out: list[tuple[int, int]] = []
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, list | tuple) and len(block) == 2:
            left, right = _int(block[0]), _int(block[1])
            if left is not None and right is not None:
                out.append((unwrap(_relative(left, isn), ref),
                            unwrap(_relative(right, isn), ref)))
    return out


def rtt_series(
    records: Iterable[TraceRecord], *, conn: str | None = None, host: str | None = None
) -> RttSeries:
    """The RTT samples, srtt and rto of one data sender (see the module docstring).

    Args:
        records: trace records, in trace order (times in seconds).
        conn, host: which connection and which sender
            (:func:`~tcpstack.tools.plot.find_direction`).

    Raises:
        ValueError: as :func:`~tcpstack.tools.plot.find_direction`; the sender
            is not traced and the connection has no timestamps; or there is
            neither a sample nor an srtt.
    """
    recs = list(records)
    d = find_direction(recs, conn=conn, host=host)
    isn = _isn(recs, d) or 0
    if d.sender_host is None:
        return _from_the_receiver(recs, d, isn)
    out = RttSeries(d)
    outstanding: list[_Sent] = []
    high = 0  # the highest relative sequence number sent, plus one
    for r in recs:
        if r.event == "segment_sent" and _on(r, d.sender, d.receiver):
            seq, length = _int(r.data.get("seq")), _int(r.data.get("len")) or 0
            flags = _flags(r.data.get("flags"))
            span = max(length, 0) + ("SYN" in flags) + ("FIN" in flags)
            if seq is None or span == 0:
                continue  # a pure ACK: nothing to acknowledge, no sample
            start = unwrap(_relative(seq, isn), high)
            sent = _Sent(r.time, start, start + span, start < high)
            if sent.again:
                # Karn's rule (RFC 6298 §3): sent again, every transmission of
                # the range is ambiguous.
                for old in outstanding:
                    if old.start < sent.end and sent.start < old.end:
                        old.again = True
            outstanding.append(sent)
            high = max(high, sent.end)
        elif r.event == "segment_received" and _on(r, d.sender, d.receiver):
            ack = ack_of(r)
            if ack is None:
                continue
            acked = unwrap(_relative(ack, isn), high)
            blocks = _sack_blocks(r.data.get("options"), isn, high)
            keep: list[_Sent] = []
            for sent in outstanding:
                # The first ACK that covers the whole segment: cumulatively
                # (RFC 9293 §3.4) or in a SACK block (RFC 2018 §3).
                if sent.end <= acked or any(left <= sent.start and sent.end <= right
                                            for left, right in blocks):
                    if sent.again:
                        out.ambiguous += 1
                    else:
                        out.samples.append(RttSample(r.time, round(r.time - sent.time, 9),
                                                     sent.start, sent.end))
                else:
                    keep.append(sent)
            outstanding = keep
    for r in sender_metrics(recs, d):
        srtt, rto = _number(r.data.get("srtt")), _number(r.data.get("rto"))
        if srtt is not None:
            out.srtt.append((r.time, srtt))
        if rto is not None:
            out.rto.append((r.time, rto))
    if not out.samples and not out.srtt:
        raise ValueError(f"no RTT samples for {d.name}: no segment sent only once was "
                         "acknowledged")
    return out


def _ts(r: TraceRecord) -> tuple[int, int] | None:
    """A segment's ``[tsval, tsecr]`` (RFC 7323 §3), or None."""
    options = r.data.get("options")
    ts = options.get("ts") if isinstance(options, dict) else None
    if isinstance(ts, list | tuple) and len(ts) == 2:
        tsval, tsecr = _int(ts[0]), _int(ts[1])
        if tsval is not None and tsecr is not None:
            return tsval, tsecr
    return None


def _from_the_receiver(recs: list[TraceRecord], d: Direction, isn: int) -> RttSeries:
    """The receiver's timestamp-echo estimate (see the module docstring)."""
    out = RttSeries(d, "receiver")
    echoed_at: dict[int, float] = {}  # the receiver's TSval -> when it first left
    sampled: set[int] = set()
    high = 0
    for r in recs:
        if not _on(r, d.receiver, d.sender) or (ts := _ts(r)) is None:
            continue
        if r.event == "segment_sent":
            echoed_at.setdefault(ts[0], r.time)
        elif r.event == "segment_received" and (_int(r.data.get("len")) or 0) > 0:
            seq = _int(r.data.get("seq"))
            tsecr = ts[1]
            if seq is None or tsecr not in echoed_at or tsecr in sampled:
                continue  # echoes nothing we sent, or not the first echo of it
            sampled.add(tsecr)
            start = unwrap(_relative(seq, isn), high)
            start += "SYN" in _flags(r.data.get("flags"))
            end = start + (_int(r.data.get("len")) or 0)
            high = max(high, end)
            out.samples.append(RttSample(r.time, round(r.time - echoed_at[tsecr], 9),
                                         start, end))
    if not out.samples:
        raise ValueError(f"the data sender {d.sender} is not traced and the connection "
                         "has no timestamps: no RTT samples (the receiver's side has no "
                         "send times)")
    return out


def plot_rtt(series: RttSeries, path: Path | str, *, title: str | None = None,
             size: Size | None = None) -> None:
    """Draw the RTT samples (dots), srtt and rto (steps) in milliseconds into ``path``
    (``.png``, ``.svg`` or ``.pdf``; ``size`` in inches).

    Raises:
        ValueError: another extension.
        OSError: the file cannot be written.
    """

    def draw(ax: Axes) -> None:
        ms = 1000.0
        times = [s.time for s in series.samples] + [t for t, _ in series.srtt + series.rto]
        end = max(times, default=0.0)
        if series.samples:
            label = "RTT sample" + (" (receiver: timestamp echo, an upper bound)"
                                    if series.vantage == "receiver" else "")
            ax.plot([s.time for s in series.samples], [s.rtt * ms for s in series.samples],
                    linestyle="none", marker=".", color="tab:blue", label=label)
        draw_steps(ax, [(t, v * ms) for t, v in series.srtt], end, color="tab:green",
                   linewidth=1.5, label="srtt")
        draw_steps(ax, [(t, v * ms) for t, v in series.rto], end, color="tab:red",
                   linewidth=1, linestyle="--", label="rto")
        data_top = max([s.rtt for s in series.samples] + [v for _, v in series.srtt],
                       default=0.0) * ms
        rto_top = max((v for _, v in series.rto), default=0.0) * ms
        if rto_top > RTO_ZOOM * data_top > 0:
            ax.set_ylim(0, data_top * 1.3)
            ax.annotate(f"rto above, up to {rto_top:g} ms", (0.99, 0.98),
                        xycoords="axes fraction", ha="right", va="top", color="tab:red")
        else:
            ax.set_ylim(bottom=0)
        if series.ambiguous:
            ax.annotate(f"{series.ambiguous} transmissions of ranges sent more than once: "
                        "not sampled (Karn's rule)", (0.01, 0.02), xycoords="axes fraction",
                        ha="left", va="bottom", color="tab:gray")

    when = ("when the ACK reached the sender" if series.vantage == "sender"
            else "when the data echoing the timestamp reached the receiver")
    draw_figure(path, draw, title=title or f"RTT of {series.direction.name}",
                xlabel=f"time (s), {when}", ylabel="milliseconds", size=size)
