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
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
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

# Kept records are stored flat until they are read (see ``Trace``): each
# record is a run of items in one list, ``time, host, conn, event, tag``
# and then, by the tag, its ``data`` as atomic values (numbers, strings,
# None):
#
# - ``_FLAT, n``, the n keys and the n values of a ``data`` dict that the
#   collector does not track (CPython tracks a dict only once it holds a
#   container: a dict of numbers and strings, as most records' are, is
#   untracked from birth);
# - a tag of ``_FIELDS`` or more, then the values of :meth:`Trace.emit_fields`:
#   the tag names the shared keys tuple of the record's kind
#   (:func:`fields_tag`), so that the store holds no tuple at all and one item
#   fewer per record;
# - ``_SEGMENT`` and the fields of a segment (:func:`_segment_items`);
# - ``_FROZEN`` and :func:`_freeze` of any other ``data``: a tuple.
#
# One emit appends one record's items at once (a reader in another thread
# sees whole records), and keeps no object the collector knows of: no tuple
# or dict per record (a segment's unusual options excepted).
#
# So a kept trace adds next to nothing to the collector's work, which grew
# with every kept record before (docs/performance.md, "The cost of a kept
# trace"): first a TraceRecord, its __dict__, the data dict, its flags list
# and options dict each; then, with each record five items of one list, its
# ``data`` an untracked dict or tuple, still one object per record that the
# collector counts as an allocation until its next pass: six times as many
# young collections as an untraced transfer makes and, in a 16 MiB one, two
# full collections it does not make, each visiting every kept item and
# more (3.4 µs per packet). A full collection still visits each item of the
# list once (the list is a container); the kept trace no longer causes one.
# (Sealing the list into tuples every few thousand records, which the
# collector untracks, costs more: each tuple is visited item by item at its
# first young collection, 0.8 µs per packet.)

# Tags of records (above) and of frozen values: ``(tag, *items)``; a frozen
# dict's items are its keys and values alternating.
_LIST = 0
_DICT = 1
_TUPLE = 2
_SEGMENT = 3
_FLAT = 5
_FROZEN = 6
_FIELDS = 7  # and up: the tags of emit_fields' key tuples (below); keep it last
_SEGMENT_ITEMS = 14  # time, host, conn, event, _SEGMENT and nine fields

# The key tuples of Trace.emit_fields, each by its tag: ``_FIELD_KEYS[tag]``.
# A tuple is found by its identity (``_FIELD_TAGS``, ``id(keys)`` -> tag:
# 60 ns, where hashing a 14-key tuple each time costs twice that); every
# tuple listed there stays alive in _FIELD_KEYS, so its id is never reused. An
# equal tuple made anew shares the tag of the first (found by value, not
# listed by id): the registry grows with the kinds of records, not with the
# records. A kind may have values that are rounded to the nanosecond when the
# record is read (``_FIELD_ROUNDED``: the tag's positions of them). Two
# threads may register one kind at once without a lock: each takes a fresh tag
# (``next`` of a count, atomic), fills it in, and ``setdefault`` (atomic)
# publishes the first; the other's tag stays unused.
_FIELD_KEYS: dict[int, tuple[str, ...]] = {}
_FIELD_TAGS: dict[int, int] = {}
_FIELD_TAGS_BY_VALUE: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
_FIELD_ROUNDED: dict[int, tuple[int, ...]] = {}
_FIELD_NEXT = itertools.count(_FIELDS)


def fields_tag(keys: tuple[str, ...], *, rounded: tuple[str, ...] = ()) -> int:
    """The tag of the ``data`` keys ``keys`` (strings) in a kept trace: an int, the
    same for every equal ``keys`` and ``rounded``, registered on first use; for
    :meth:`Trace.emit_tagged`.

    ``rounded`` names keys (of ``keys``) whose values are numbers that the
    record carries as ``round(value, 9)`` (seconds to the nanosecond): rounded
    when the record is read or forwarded, not when it is kept (``round`` with
    digits costs about 290 ns, a third of a ``timer_set`` record's cost).

    Raises:
        ValueError: a ``rounded`` name is not one of ``keys``.
    """
    if not rounded:
        tag = _FIELD_TAGS.get(id(keys))
        if tag is not None:
            return tag
    spec = (keys, rounded)
    tag = _FIELD_TAGS_BY_VALUE.get(spec)
    if tag is None:
        positions = tuple(keys.index(key) for key in rounded)  # (ValueError)
        fresh = next(_FIELD_NEXT)
        _FIELD_KEYS[fresh] = keys
        if positions:
            _FIELD_ROUNDED[fresh] = positions
        tag = _FIELD_TAGS_BY_VALUE.setdefault(spec, fresh)  # (the first one published)
        if not rounded:
            _FIELD_TAGS[id(keys)] = tag  # (keys stays alive in _FIELD_KEYS[fresh])
    return tag


def _fields_data(tag: int, values: Sequence[Any]) -> dict[str, Any]:
    """The ``data`` of a record of :func:`fields_tag`'s ``tag`` with ``values``."""
    rounded = _FIELD_ROUNDED.get(tag)
    if rounded is not None:
        values = list(values)
        for k in rounded:
            values[k] = round(values[k], 9)
    return dict(zip(_FIELD_KEYS[tag], values, strict=True))


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


def _record_end(items: Sequence[Any], i: int) -> int:
    """Where the record that starts at ``items[i]`` in the flat store ends (see above)."""
    tag = items[i + 4]
    if tag == _FLAT:
        n: int = items[i + 5]
        return i + 6 + 2 * n
    if tag >= _FIELDS:
        return i + 5 + len(_FIELD_KEYS[tag])
    if tag == _SEGMENT:
        return i + _SEGMENT_ITEMS
    return i + 6  # _FROZEN


def _record_count(items: Sequence[Any]) -> int:
    """How many records the flat store ``items`` holds."""
    count = i = 0
    end = len(items)
    while i < end:
        i = _record_end(items, i)
        count += 1
    return count


def _materialise(items: Sequence[Any]) -> Iterator[TraceRecord]:
    """The :class:`TraceRecord` objects of the flat store ``items`` (see above)."""
    i = 0
    end = len(items)
    while i < end:
        time, host, conn, event, tag = items[i:i + 5]
        j = _record_end(items, i)
        if tag == _FLAT:
            n = items[i + 5]
            data = dict(zip(items[i + 6:i + 6 + n], items[i + 6 + n:j], strict=True))
        elif tag >= _FIELDS:
            data = _fields_data(tag, items[i + 5:j])
        elif tag == _SEGMENT:
            data = _segment_data(items[i:j])
        else:
            data = _thaw(items[i + 5])
        yield _record(time, host, conn, event, data)
        i = j


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
    stay those objects). Until then a record is a few atomic items in one
    list, no object of its own, so keeping a trace adds no work to the
    process's garbage collector per record (docs/performance.md, "The cost of
    a kept trace"). ``len()`` counts the unread records by walking them.
    """

    if TYPE_CHECKING:
        @property
        def active(self) -> bool:
            """True if records are kept or forwarded: emitters may skip building them
            otherwise."""

    # At run time ``active`` is a plain instance attribute, set by __init__ and
    # add_sink (_set_active), not a property: every emitter asks it first,
    # about 8 times per packet of a bulk transfer, traced or not, and a
    # property is a Python call each time (76 -> 36 ns a read). Read-only to
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
            # stays for the next read. Each emit adds its items at once.
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

        A kept record holds a copy of ``data`` taken now: its keys and values (the
        same objects), and copies of the lists, dicts and tuples in them. Sinks get
        ``data`` itself.
        """
        if self._keep:
            compact = self._compact
            if type(data) is dict and not _is_tracked(data):
                # (A list display, not a tuple: no list-to-tuple copy, 35 ns.)
                compact += [time, host, conn, event, _FLAT, len(data), *data, *data.values()]
            else:
                compact += (time, host, conn, event, _FROZEN, _freeze(data))
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
            tag = _FIELD_TAGS.get(id(keys))  # (fields_tag's first step inlined)
            if tag is None:
                tag = fields_tag(keys)
            self._compact += [time, host, conn, event, tag, *values]
        if self._sinks:
            rec = _record(time, host, conn, event, dict(zip(keys, values, strict=True)))
            for sink in self._sinks:
                sink(rec)

    def emit_tagged(self, time: float, host: str, conn: str, event: str,
                    tag: int, values: tuple[Any, ...]) -> None:
        """:meth:`emit_fields` with the keys given by their :func:`fields_tag`: for
        an emitter of many records of one kind, which asks for the tag once
        (saves emit_fields' look-up of the tag, two calls a record). Values of
        the tag's ``rounded`` keys are rounded when the record is read or
        forwarded."""
        if self._keep:
            self._compact += [time, host, conn, event, tag, *values]
        if self._sinks:
            rec = _record(time, host, conn, event, _fields_data(tag, values))
            for sink in self._sinks:
                sink(rec)

    def emit_segment(self, time: float, host: str, conn: str, event: str, seg: Segment) -> None:
        """Record a ``segment_sent`` or ``segment_received`` event of ``seg``: the same
        record as ``emit(time, host, conn, event, segment_record(seg))``, kept without
        building its dict."""
        if self._keep:
            self._compact += _segment_items(time, host, conn, event, seg)
        if self._sinks:
            rec = _record(time, host, conn, event, segment_record(seg))
            for sink in self._sinks:
                sink(rec)

    def emit_segments(self, time: float, host: str, conn: str, event: str,
                      segs: Iterable[Segment]) -> None:
        """:meth:`emit_segment` of each of ``segs`` in order: the same records, in one
        call per output of a connection rather than one per segment."""
        if self._sinks:
            # (Kept and forwarded segment by segment, as emit_segment would: a sink
            # that reads ``records`` sees what it saw.)
            for seg in segs:
                self.emit_segment(time, host, conn, event, seg)
        elif self._keep:
            compact = self._compact
            for seg in segs:
                compact += _segment_items(time, host, conn, event, seg)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self._records) + _record_count(self._compact[:])

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
    return _segment_data(_segment_items(0.0, "", "", "", seg))


def _segment_items(time: float, host: str, conn: str, event: str,
                   seg: Segment) -> tuple[Any, ...]:
    """The items of the kept record of ``seg`` in the flat store (above), atomic values:
    ``time, host, conn, event, _SEGMENT, seq, ack, flag bits, len, window, ecn,
    tsval, tsecr, other options``. Options of only a timestamp (nearly every
    segment's) are ``tsval, tsecr`` and None; others are None, None and the
    frozen :meth:`options_dict`."""
    options = seg.options
    if len(options) == 3 and type(ts := options[2]) is Timestamps \
            and options[0] is NOP and options[1] is NOP:
        # Segment.options_dict's shortcut ({"ts": [tsval, tsecr]}) without
        # building that dict and list: 0.24 µs of a segment record's 0.53.
        return (time, host, conn, event, _SEGMENT, seg.seq, seg.ack, int(seg.flags),
                len(seg.payload), seg.window, seg.ecn, ts.tsval, ts.tsecr, None)
    return (time, host, conn, event, _SEGMENT, seg.seq, seg.ack, int(seg.flags),
            len(seg.payload), seg.window, seg.ecn, None, None, _freeze(seg.options_dict()))


def _segment_data(items: Sequence[Any]) -> dict[str, Any]:
    """The ``data`` dict of :func:`_segment_items`' record."""
    _, _, _, _, _, seq, ack, flags, length, window, ecn, tsval, tsecr, other = items
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
