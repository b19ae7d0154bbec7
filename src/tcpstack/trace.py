"""The structured trace: JSON Lines, one record per event (DESIGN.md, "The trace").

Every record has ``time`` (the driver's clock, seconds), ``host``, ``conn``
(``"laddr:lport-raddr:rport"`` or ``""`` for host-level events), ``event``
and ``data``. Event names are a contract read by the tools and tests:

``segment_sent``, ``segment_received``, ``segment_dropped`` (``reason``),
``state_updated`` (``old``, ``new``, ``cause``), ``timer_set`` (``timer``,
``at``), ``timer_cancelled`` (``timer``), ``timer_fired`` (``timer``),
``metrics_updated`` (``cwnd``, ``ssthresh``, ``srtt``, ``rto``, ``snd_wnd``,
``snd_una``, ``snd_nxt``, ``rcv_nxt``, ``rcv_wnd``),
``app`` (``call`` and its arguments, or ``delivered`` bytes).
``docs/trace.md`` documents every field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .wire.ecn import ECN_NAMES

if TYPE_CHECKING:
    from .wire import Segment

EVENT_NAMES = frozenset(
    {
        "segment_sent",
        "segment_received",
        "segment_dropped",
        "state_updated",
        "timer_set",
        "timer_cancelled",
        "timer_fired",
        "metrics_updated",
        "app",
    }
)


@dataclass(frozen=True)
class TraceRecord:
    """One trace event; ``data`` is JSON-serialisable."""

    time: float
    host: str
    conn: str
    event: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object of the trace format."""
        return {
            "time": round(self.time, 9),
            "host": self.host,
            "conn": self.conn,
            "event": self.event,
            "data": self.data,
        }

    def to_json(self) -> str:
        """One line of JSON (no trailing newline)."""
        return json.dumps(self.to_dict(), separators=(", ", ": "))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TraceRecord:
        """Build a record from a parsed JSON object.

        Raises:
            ValueError: a required key is missing or has the wrong type.
        """
        try:
            return cls(
                time=float(obj["time"]),
                host=str(obj["host"]),
                conn=str(obj["conn"]),
                event=str(obj["event"]),
                data=dict(obj.get("data") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a trace record: {obj!r}") from exc


Sink = Callable[[TraceRecord], None]

_new = object.__new__


class Trace:
    """Collects trace records in memory and forwards them to optional sinks.

    One ``Trace`` can be shared by several hosts (the simulator does so), so
    records of both ends interleave in time order.
    """

    def __init__(self, *, keep: bool = True) -> None:
        self.records: list[TraceRecord] = []
        self._keep = keep
        self._sinks: list[Sink] = []

    @property
    def active(self) -> bool:
        """True if records are kept or forwarded: emitters may skip building them otherwise."""
        return self._keep or bool(self._sinks)

    def add_sink(self, sink: Sink) -> None:
        """Call ``sink(record)`` for every record emitted from now on."""
        self._sinks.append(sink)

    def emit(self, time: float, host: str, conn: str, event: str, data: dict[str, Any]) -> None:
        """Record one event (see the module docstring for names and fields)."""
        # TraceRecord(...) without its frozen __init__ (one object.__setattr__
        # per field): half the cost, the same record.
        rec = _new(TraceRecord)
        rec.__dict__.update(time=time, host=host, conn=conn, event=event, data=data)
        if self._keep:
            self.records.append(rec)
        for sink in self._sinks:
            sink(rec)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def select(
        self, event: str | None = None, host: str | None = None
    ) -> list[TraceRecord]:
        """Records matching an event name and/or host."""
        return [
            r
            for r in self.records
            if (event is None or r.event == event) and (host is None or r.host == host)
        ]

    def write_jsonl(self, fp: IO[str]) -> None:
        """Write all kept records as JSON Lines."""
        for rec in self.records:
            fp.write(rec.to_json() + "\n")


def read_jsonl(lines: Iterable[str]) -> list[TraceRecord]:
    """Parse JSON Lines text into records, skipping blank lines.

    Raises:
        ValueError: a line is not valid JSON or not a trace record.
    """
    out: list[TraceRecord] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: not JSON: {exc}") from exc
        out.append(TraceRecord.from_dict(obj))
    return out


def segment_record(seg: Segment) -> dict[str, Any]:
    """The ``data`` of a ``segment_sent``/``segment_received`` trace record; with
    ``"ecn"`` (``"ECT(0)"``, ``"ECT(1)"`` or ``"CE"``, RFC 3168 §5) when the IP
    packet that carries it is not Not-ECT."""
    record: dict[str, Any] = {
        "seq": seg.seq,
        "ack": seg.ack,
        "flags": seg.flags.names(),
        "len": len(seg.payload),
        "window": seg.window,
        "options": seg.options_dict(),
    }
    if seg.ecn:
        record["ecn"] = ECN_NAMES[seg.ecn]
    return record
