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

import contextlib
import gc
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .wire.ecn import ECN_NAMES
from .wire.options import NOP, Timestamps
from .wire.segment import FLAGS_BY_VALUE

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


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One trace event; ``data`` is JSON-serialisable."""

    # Slots: one object for the collector and 72 bytes, where a __dict__ made
    # two and 240 (reading a kept trace makes one per record).

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
_is_tracked = gc.is_tracked

# Kept records are stored flat until they are read (see ``Trace``): five
# items per record in one list, ``time, host, conn, event, data``, where
# ``data`` is what the collector never walks:
#
# - the ``data`` dict itself when the collector does not track it (CPython
#   tracks a dict only once it holds a container: a dict of numbers and
#   strings, as most records' are, is untracked from birth);
# - else a tuple: :func:`_freeze` of the dict, whose tag is ``_DICT``, or
#   ``_SEGMENT`` and :func:`_segment_fields` of a segment, or ``_FIELDS``, the
#   keys and the values of :meth:`Trace.emit_fields`. Such tuples hold
#   only atomic values and tuples of them, and the collector untracks them at
#   its first pass over them.
#
# So a long kept trace adds nothing to the collector's full collections,
# which walked every kept record before (TraceRecord, its __dict__, the data
# dict, its flags list and options dict: docs/performance.md, "The cost of a
# kept trace").
_RECORD_ITEMS = 5

# Tags: ``(tag, *items)``; a frozen dict's items are its keys and values
# alternating.
_LIST = 0
_DICT = 1
_TUPLE = 2
_SEGMENT = 3
_FIELDS = 4  # (_FIELDS, keys, values) of Trace.emit_fields


def _freeze(value: Any) -> Any:
    """``value`` with every list, dict and tuple in it (exact types only) turned into
    a tagged tuple, so that a value of JSON data becomes atomic for the collector;
    :func:`_thaw` undoes it. Other objects are kept as they are."""
    kind = type(value)
    if kind is list:
        return (_LIST, *map(_freeze, value))
    if kind is dict:
        return (_DICT, *[x for item in value.items() for x in (item[0], _freeze(item[1]))])
    if kind is tuple:
        return (_TUPLE, *map(_freeze, value))
    return value


def _thaw(value: Any) -> Any:
    """The value :func:`_freeze` froze: equal to it, with the same types and key order."""
    if type(value) is not tuple:
        return value
    tag = value[0]
    if tag == _LIST:
        return [_thaw(x) for x in value[1:]]
    if tag == _DICT:
        return {value[i]: _thaw(value[i + 1]) for i in range(1, len(value), 2)}
    return tuple(_thaw(x) for x in value[1:])


def _materialise(compact: list[Any]) -> Iterator[TraceRecord]:
    """The :class:`TraceRecord` objects of the flat store ``compact`` (see above)."""
    items = iter(compact)
    for time, host, conn, event, data in zip(items, items, items, items, items, strict=True):
        if type(data) is tuple:
            tag = data[0]
            if tag == _SEGMENT:
                data = _segment_data(data)
            elif tag == _FIELDS:
                data = dict(zip(data[1], data[2], strict=True))
            else:
                data = _thaw(data)
        yield _record(time, host, conn, event, data)


# The slots' own setters: TraceRecord(...) without its frozen __init__ (one
# object.__setattr__ per field), 0.45 µs instead of 0.75, the same record.
_set_time = vars(TraceRecord)["time"].__set__
_set_host = vars(TraceRecord)["host"].__set__
_set_conn = vars(TraceRecord)["conn"].__set__
_set_event = vars(TraceRecord)["event"].__set__
_set_data = vars(TraceRecord)["data"].__set__


def _record(time: float, host: str, conn: str, event: str, data: dict[str, Any]) -> TraceRecord:
    rec: TraceRecord = _new(TraceRecord)
    _set_time(rec, time)
    _set_host(rec, host)
    _set_conn(rec, conn)
    _set_event(rec, event)
    _set_data(rec, data)
    return rec


class Trace:
    """Collects trace records in memory and forwards them to optional sinks.

    One ``Trace`` can be shared by several hosts (the simulator does so), so
    records of both ends interleave in time order.

    Kept records are stored compactly and become :class:`TraceRecord` objects
    when :attr:`records` is first read after they were emitted (then they
    stay those objects). A kept trace so costs the process's garbage
    collector nothing per record: it walked every kept record at each full
    collection, 12 points of ``trace_cost`` in a 16 MiB bulk transfer
    (docs/performance.md, "The cost of a kept trace").
    """

    if TYPE_CHECKING:
        @property
        def active(self) -> bool:
            """True if records are kept or forwarded: emitters may skip building them
            otherwise."""

    # At run time ``active`` is a plain instance attribute, set by __init__ and
    # add_sink (_set_active), not a property: every emitter asks it first,
    # about 8 times per packet of a bulk transfer, traced or not, and a
    # property is a Python call each time (76 -> 58 ns a read). Read-only to
    # the type checker, so that a subclass may still make it a property
    # (halfopen._NullTrace does). Not set through vars(self): a materialised
    # __dict__ makes every other attribute access of emit slower (140 -> 226
    # ns an emit).

    def __init__(self, *, keep: bool = True) -> None:
        self._records: list[TraceRecord] = []  # materialised, in emission order
        self._compact: list[Any] = []  # emitted after them, not yet read (flat)
        self._keep = keep
        self._sinks: list[Sink] = []
        self._set_active()

    @property
    def records(self) -> list[TraceRecord]:
        """Every kept record, in emission order (one list, which grows as records are
        emitted and read)."""
        compact = self._compact
        if compact:
            # The records there now; one emitted meanwhile (a driver's thread)
            # stays for the next read. Each emit adds its five items at once.
            n = len(compact)
            self._records.extend(_materialise(compact[:n]))
            del compact[:n]
        return self._records

    def add_sink(self, sink: Sink) -> None:
        """Call ``sink(record)`` for every record emitted from now on."""
        self._sinks.append(sink)
        self._set_active()

    def _set_active(self) -> None:
        # (AttributeError: a subclass made ``active`` a read-only property; it decides.)
        with contextlib.suppress(AttributeError):
            self.active = self._keep or bool(self._sinks)  # type: ignore[misc]

    def emit(self, time: float, host: str, conn: str, event: str, data: dict[str, Any]) -> None:
        """Record one event (see the module docstring for names and fields).

        The record holds ``data`` itself, or a copy when ``data`` holds lists or dicts.
        """
        if self._keep:
            self._compact += (time, host, conn, event,
                              _freeze(data) if _is_tracked(data) else data)
        if self._sinks:
            rec = _record(time, host, conn, event, data)
            for sink in self._sinks:
                sink(rec)

    def emit_fields(self, time: float, host: str, conn: str, event: str,
                    keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        """Record one event whose ``data`` is ``dict(zip(keys, values))``: the same
        record as :meth:`emit` of that dict, kept without building it. ``values``
        must be atomic (numbers, strings, None) and as many as ``keys``."""
        if self._keep:
            self._compact += (time, host, conn, event, (_FIELDS, keys, values))
        if self._sinks:
            rec = _record(time, host, conn, event, dict(zip(keys, values, strict=True)))
            for sink in self._sinks:
                sink(rec)

    def emit_segment(self, time: float, host: str, conn: str, event: str, seg: Segment) -> None:
        """Record a ``segment_sent`` or ``segment_received`` event of ``seg``: the same
        record as ``emit(time, host, conn, event, segment_record(seg))``, kept without
        building its dict."""
        if self._keep:
            self._compact += (time, host, conn, event, _segment_fields(seg))
        if self._sinks:
            rec = _record(time, host, conn, event, segment_record(seg))
            for sink in self._sinks:
                sink(rec)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self._records) + len(self._compact) // _RECORD_ITEMS

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
    """The ``data`` of a ``segment_sent``/``segment_received`` trace record: ``seq``,
    ``ack``, ``flags`` (list of names), ``len``, ``window``, ``options``
    (:meth:`~tcpstack.wire.Segment.options_dict`), and ``"ecn"`` (``"ECT(0)"``,
    ``"ECT(1)"`` or ``"CE"``, RFC 3168 §5) when the IP packet that carries it is
    not Not-ECT."""
    return _segment_data(_segment_fields(seg))


def _segment_fields(seg: Segment) -> tuple[Any, ...]:
    """What :func:`segment_record` shows of ``seg``, as a tuple of atomic values:
    ``(_SEGMENT, seq, ack, flag bits, len, window, ecn, tsval, tsecr, other options)``.
    Options of only a timestamp (nearly every segment's) are ``tsval, tsecr``
    and None; others are None, None and the frozen :meth:`options_dict`."""
    options = seg.options
    if len(options) == 3 and type(ts := options[2]) is Timestamps \
            and options[0] is NOP and options[1] is NOP:
        # Segment.options_dict's shortcut ({"ts": [tsval, tsecr]}) without
        # building that dict and list: 0.24 µs of a segment record's 0.53.
        return (_SEGMENT, seg.seq, seg.ack, int(seg.flags), len(seg.payload), seg.window,
                seg.ecn, ts.tsval, ts.tsecr, None)
    return (_SEGMENT, seg.seq, seg.ack, int(seg.flags), len(seg.payload), seg.window, seg.ecn,
            None, None, _freeze(seg.options_dict()))


def _segment_data(fields: tuple[Any, ...]) -> dict[str, Any]:
    """The ``data`` dict of :func:`_segment_fields`' tuple."""
    _, seq, ack, flags, length, window, ecn, tsval, tsecr, other = fields
    record: dict[str, Any] = {
        "seq": seq,
        "ack": ack,
        "flags": FLAGS_BY_VALUE[flags].names(),
        "len": length,
        "window": window,
        "options": {"ts": [tsval, tsecr]} if other is None else _thaw(other),
    }
    if ecn:
        record["ecn"] = ECN_NAMES[ecn]
    return record
