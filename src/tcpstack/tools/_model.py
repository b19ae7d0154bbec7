"""The ladder model shared by the terminal, SVG and HTML renderers.

:func:`build_model` picks one connection out of a trace, decides which host
is drawn on the left (the client: the first host that sends a SYN without
ACK), matches every ``segment_sent`` with its ``segment_received`` (or its
``segment_dropped``) and collects what happens on each host's lifeline.
Renderers only read the resulting :class:`LadderModel`.

Matching is by ``(seq, ack, flags, len)``, first in first out per
direction, so retransmissions and duplicates pair up in order; a send that
never arrives is ``unmatched`` and a receive without a send is an
``orphan``.

**Fates.** Every segment has a :attr:`SegmentView.fate`, the answer to "what
became of it", drawn three distinct ways:

- ``lost``: lost in the network, it never arrived (a ``segment_dropped`` with
  a network reason such as ``lost-in-network``); drawn stopping midway, ``✕``;
- ``dropped``: it arrived and TCP discarded it (a ``segment_dropped`` by the
  receiver; :attr:`SegmentView.drop_reason` says why, and
  :func:`tcpstack.tools.reasons.describe_drop` says it in words). Many such drops
  are TCP working normally: a retransmitted FIN in TIME-WAIT is re-ACKed;
- ``processed``: it arrived and was processed;
- ``unknown``: the receiver is not traced, or it was still in flight when the
  trace ends.

**Marks** (:class:`Mark`) stand on one host's lifeline: ``state`` (a state
change, RFC spelling), ``call`` (an application call from the trace's ``app``
records: ``listen()``, ``connect()``, ``write(18)``, ``read() → 44``,
``read() → 0`` at the end of the stream, ``shutdown(WR)``, ``close()``,
``abort()``), ``return`` (a blocking call returns: ``connect() returns`` at
ESTABLISHED or ``connect() fails``, ``accept() returns``), ``drop`` (what TCP
did with a segment it dropped, in words) and ``note`` (a host restart; a
named host with no records). Runs of consecutive reads or writes are folded
into one mark (``read() → 1448 ×12``) unless ``fold_calls=False``.

Nothing here raises on odd data: records with an unusable time are skipped,
missing or ill-typed fields become ``None``, and a host that is named but
never appears (its SYN was lost) gets an empty lifeline.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpstack.tools.i18n import Text
from tcpstack.tools.reasons import describe_drop, is_network_reason
from tcpstack.trace import TraceRecord

SEGMENT_EVENTS = frozenset({"segment_sent", "segment_received", "segment_dropped"})
FLAG_ORDER = ("SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
FATES = ("lost", "dropped", "processed", "unknown")
"""The values of :attr:`SegmentView.fate`."""
#: Folded runs of reads or writes are at least this long (or all at one instant).
FOLD_MIN = 3

SegKey = tuple[int | None, int | None, frozenset[str], int | None]


def split_conn(conn: str) -> tuple[str, str] | None:
    """``"a:1-b:2"`` -> ``("a:1", "b:2")``; ``None`` when not of that form."""
    if not isinstance(conn, str):
        return None
    local, sep, remote = conn.partition("-")
    if not sep or not local or not remote:
        return None
    return local, remote


def conn_key(conn: str) -> frozenset[str] | None:
    """The direction-independent identity of a connection string (``None`` for a
    listener ``addr:port-*`` or anything not of the form ``a:1-b:2``)."""
    parts = split_conn(conn)
    if parts is None or _is_wildcard(parts[1]):
        return None
    return frozenset(parts)


def _is_wildcard(endpoint: str) -> bool:
    return "*" in endpoint or endpoint.endswith(":0") or endpoint in ("", "0.0.0.0", "::")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _flags(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(f.strip().upper() for f in value.split(",") if f.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(f).upper() for f in value)
    return frozenset()


def record_time(r: TraceRecord) -> float | None:
    """The record's time in seconds, or ``None`` when it is not a finite number."""
    t = r.time
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        return None
    return float(t)


def record_data(r: TraceRecord) -> dict[str, Any]:
    """The record's ``data``, or ``{}`` when it is not an object."""
    return r.data if isinstance(r.data, dict) else {}


def usable(r: TraceRecord) -> bool:
    """True when a record has a finite time and string host, conn and event."""
    return (
        record_time(r) is not None
        and isinstance(r.host, str)
        and isinstance(r.conn, str)
        and isinstance(r.event, str)
    )


def flags_text(flags: Iterable[str]) -> str:
    """Flag names in tcpdump/Wireshark order joined by commas (``SYN,ACK``)."""
    fs = set(flags)
    known = [f for f in FLAG_ORDER if f in fs]
    extra = sorted(fs.difference(FLAG_ORDER))
    return ",".join(known + extra) or "none"


def options_text(options: dict[str, Any]) -> str:
    """TCP options in a compact tcpdump-like form (``mss 1460,wscale 7,sackOK``)."""
    parts: list[str] = []
    for name, value in options.items():
        if name == "sack_permitted":
            if value:
                parts.append("sackOK")
        elif value is True:
            parts.append(str(name))
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            parts.append(f"{name} " + " ".join(str(v) for v in value))
        elif isinstance(value, dict):
            parts.append(f"{name} " + " ".join(f"{k} {v}" for k, v in value.items()))
        else:
            parts.append(f"{name} {value}")
    return ",".join(parts)


@dataclass
class SegmentView:
    """One segment as drawn: who sent it, when it left and arrived, its fields, its fate.

    ``fate`` is ``lost``, ``dropped``, ``processed`` or ``unknown`` (see the
    module docstring). ``status`` says how the trace showed it: ``delivered``
    (send and receive both traced), ``lost`` (dropped by the network),
    ``dropped`` (the receiver discarded it: see ``drop_reason``),
    ``unmatched`` (sent, never seen again: lost or still in flight),
    ``orphan`` (received, its send is not in the trace) or ``one-sided``
    (the other end is not traced, e.g. a kernel peer on TUN). Times are
    seconds; ``None`` when unknown.
    """

    index: int
    src: str
    dst: str
    seq: int | None
    ack: int | None
    flags: frozenset[str]
    length: int | None
    window: int | None
    options: dict[str, Any]
    order: int
    send_time: float | None = None
    recv_time: float | None = None
    drop_time: float | None = None
    drop_reason: str | None = None
    status: str = "pending"
    rel_seq: int | None = None
    rel_ack: int | None = None
    fate: str = "unknown"

    @property
    def key(self) -> SegKey:
        """What identifies the segment on both ends: (seq, ack, flags, len)."""
        return (self.seq, self.ack, self.flags, self.length)

    @property
    def time(self) -> float:
        """The time the segment is drawn at: its send time, else its arrival."""
        if self.send_time is not None:
            return self.send_time
        if self.recv_time is not None:
            return self.recv_time
        return self.drop_time or 0.0

    @property
    def category(self) -> str:
        """``rst``, ``syn``, ``fin``, ``data`` or ``ack`` (decides the colour)."""
        if "RST" in self.flags:
            return "rst"
        if "SYN" in self.flags:
            return "syn"
        if "FIN" in self.flags:
            return "fin"
        if self.length:
            return "data"
        return "ack"

    def label(self, absolute: bool = False) -> str:
        """``SYN,ACK seq=0 ack=1 len=0 win=65535 <mss 1460>`` (relative unless ``absolute``).

        ``ack`` is shown only when the ACK flag is set; options on SYNs, and
        SACK blocks on other segments.
        """
        return " ".join(self.label_parts(absolute))

    def label_parts(
        self, absolute: bool = False, *, window: bool = True, options: bool = True
    ) -> list[str]:
        """The pieces of :meth:`label`, for wrapping between them (``win``/options optional)."""
        seq = self.seq if absolute or self.rel_seq is None else self.rel_seq
        ack = self.ack if absolute or self.rel_ack is None else self.rel_ack
        parts = [flags_text(self.flags), f"seq={'?' if seq is None else seq}"]
        if "ACK" in self.flags:
            parts.append(f"ack={'?' if ack is None else ack}")
        parts.append(f"len={'?' if self.length is None else self.length}")
        if window and self.window is not None:
            parts.append(f"win={self.window}")
        if options and "SYN" in self.flags and self.options:
            opts = options_text(self.options)
            if opts:
                parts.append(f"<{opts}>")
        elif options and self.options.get("sack"):
            # SACK blocks tell the loss-recovery story; shown in the same
            # (relative) numbering as the ACK field. Timestamps are left out.
            base = 0
            if not absolute and self.ack is not None and self.rel_ack is not None:
                base = self.ack - self.rel_ack
            blocks = " ".join(
                f"{(int(left) - base) % (1 << 32)}-{(int(right) - base) % (1 << 32)}"
                for left, right in self.options["sack"]
            )
            parts.append(f"<sack {blocks}>")
        return parts

    def to_info(self) -> dict[str, Any]:
        """Every known field, JSON-serialisable (for hover boxes and tooltips)."""
        return {
            "from": self.src,
            "to": self.dst,
            "flags": flags_text(self.flags),
            "seq": self.seq,
            "ack": self.ack,
            "rel_seq": self.rel_seq,
            "rel_ack": self.rel_ack,
            "len": self.length,
            "window": self.window,
            "options": self.options,
            "sent": self.send_time,
            "received": self.recv_time,
            "dropped": self.drop_time,
            "drop_reason": self.drop_reason,
            "status": self.status,
            "fate": self.fate,
        }


@dataclass
class Mark:
    """Something drawn on one host's lifeline at ``time`` (seconds).

    ``kind`` is ``state``, ``call``, ``return``, ``drop`` or ``note`` (see the
    module docstring). ``text`` is what is drawn, in English; ``words`` is the
    same in both languages when it is more than code or a state name (draw
    :meth:`display`). A ``drop`` has the trace's ``reason``, whether the drop
    is ``routine`` (TCP answered the segment as the RFCs say) and the index
    of the ``segment`` in :attr:`LadderModel.segments` (``None`` when the
    packet could not be parsed). A ``call`` has the trace's ``call`` name
    (``send``, ``read``, ...) and ``nbytes``; a folded run of calls has
    ``count`` > 1 and lasts until ``end_time``.
    """

    time: float
    host: str
    kind: str
    text: str
    order: int
    words: Text | None = None
    segment: int | None = None
    reason: str = ""
    routine: bool = False
    call: str = ""
    nbytes: int | None = None
    count: int = 1
    end_time: float | None = None

    def display(self, lang: str = "en") -> str:
        """The text to draw in ``lang`` (``en`` or ``zh``)."""
        return self.text if self.words is None else self.words.get(lang)


@dataclass
class LadderModel:
    """One connection ready to draw; ``left`` is the client.

    ``traced`` are the hosts with records anywhere in the trace, ``named``
    the hosts the caller asked for. ``segment_of_record`` maps the position
    of each segment record in the records given to :func:`build_model` to
    the index of its segment. ``conn_ids`` identifies the connection (both
    endpoints; ``None`` when the trace has none).
    """

    left: str
    right: str
    left_addr: str
    right_addr: str
    conn: str
    traced: frozenset[str]
    segments: list[SegmentView] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    isn: dict[str, int] = field(default_factory=dict)
    decimals: int = 3
    named: frozenset[str] = frozenset()
    segment_of_record: dict[int, int] = field(default_factory=dict)
    conn_ids: frozenset[str] | None = None

    def side(self, host: str) -> str:
        """``"L"`` or ``"R"``."""
        return "L" if host == self.left else "R"

    def heading(self, host: str) -> str:
        """The name drawn above ``host``'s lifeline (``(not traced)`` for an
        end known only by its address)."""
        return host if host in self.traced or host in self.named else "(not traced)"

    def in_connection(self, r: TraceRecord) -> bool:
        """True when ``r`` is a record of one of the two hosts about this connection."""
        if r.host not in (self.left, self.right) or not usable(r):
            return False
        return self.conn_ids is None or conn_key(r.conn) == self.conn_ids

    def fmt_time(self, t: float | None) -> str:
        """Seconds with the model's precision (``?`` when unknown)."""
        return "?" if t is None else f"{t:.{self.decimals}f}"

    def times(self) -> list[float]:
        """Every time that appears in the drawing, sorted."""
        ts: set[float] = {m.time for m in self.marks}
        for s in self.segments:
            for t in (s.send_time, s.recv_time, s.drop_time):
                if t is not None:
                    ts.add(t)
        return sorted(ts)


def list_connections(records: Iterable[TraceRecord]) -> list[tuple[str, int]]:
    """Connections in a trace as ``(conn string, number of segment records)``."""
    counts: dict[frozenset[str], int] = {}
    names: dict[frozenset[str], str] = {}
    for r in records:
        if r.event in SEGMENT_EVENTS and usable(r):
            k = conn_key(r.conn)
            if k is not None:
                counts[k] = counts.get(k, 0) + 1
                names.setdefault(k, r.conn)
    return [(names[k], n) for k, n in counts.items()]


def _pick_connection(
    recs: Sequence[TraceRecord], conn: str | None
) -> tuple[frozenset[str] | None, int]:
    """The connection to draw and how many connections the trace has.

    Raises:
        ValueError: ``conn`` is given and not in the trace.
    """
    seg_counts: dict[frozenset[str], int] = {}
    all_counts: dict[frozenset[str], int] = {}
    names: dict[frozenset[str], str] = {}
    for r in recs:
        k = conn_key(r.conn) if usable(r) else None
        if k is None:
            continue
        all_counts[k] = all_counts.get(k, 0) + 1
        names.setdefault(k, r.conn)
        if r.event in SEGMENT_EVENTS:
            seg_counts[k] = seg_counts.get(k, 0) + 1
    if conn is not None:
        key = conn_key(conn)
        if key is None or key not in all_counts:
            avail = ", ".join(names.values()) or "none"
            raise ValueError(f"connection {conn!r} is not in the trace (connections: {avail})")
        return key, len(all_counts)
    # The busiest connection (first of the largest on ties).
    for counts in (seg_counts, all_counts):
        if counts:
            return max(counts, key=lambda k: counts[k]), len(all_counts)
    return None, 0


def _call_mark(call: str, d: dict[str, Any]) -> tuple[str, str, Text | None]:
    """``(kind, text, words)`` of the mark for an ``app`` record's ``call``."""
    n = _int(d.get("bytes"))
    size = "" if n is None else str(n)
    match call:
        case "accept":
            return "return", "accept() returns", Text("accept() returns", "accept() 返回")
        case "send":
            return "call", f"write({size}, MSG_OOB)" if d.get("urgent") else f"write({size})", None
        case "read":
            return "call", "read() → 0" if d.get("eof") else f"read() → {size or '?'}", None
        case "shutdown":
            return "call", "shutdown(WR)", None
        case "restart":
            words = Text("host restarted: its connections are gone", "主机重启：原来的连接全部丢失")
            return "note", words.en, words
        case _:
            return "call", f"{call}()", None


def _connect_result(cause: Any) -> Text:
    if cause == "rcv RST":
        return Text("connect() fails: connection refused", "connect() 失败：连接被拒绝")
    if isinstance(cause, str) and cause.startswith("retransmission timeout"):
        return Text("connect() fails: timed out", "connect() 失败：连接超时")
    return Text("connect() fails", "connect() 失败")


def _fold_calls(marks: list[Mark]) -> list[Mark]:
    """Fold runs of consecutive reads (or writes) of one host into one mark.

    A run is broken by any other mark of the same host; it is folded when it
    has :data:`FOLD_MIN` calls or more, or when all its calls are at one instant.
    """
    runs: dict[str, list[Mark]] = {}
    folded: set[int] = set()  # ids of marks that vanish into the first of their run

    def close_run(host: str) -> None:
        run = runs.pop(host, [])
        if len(run) < 2 or (len(run) < FOLD_MIN and run[0].time != run[-1].time):
            return
        first, last = run[0], run[-1]
        sizes = [m.nbytes for m in run]
        total = sum(s or 0 for s in sizes)
        name = "write" if first.call == "send" else "read"
        n = len(run)
        if len(set(sizes)) == 1 and sizes[0] is not None:
            one = f"write({sizes[0]})" if name == "write" else f"read() → {sizes[0]}"
            words = Text(f"{one} ×{n}", f"{one} ×{n}")
        else:
            words = Text(f"{name}() ×{n}, {total} bytes in all", f"{name}() ×{n}，共 {total} 字节")
        if last.time != first.time:
            until = f"{last.time:.6f}".rstrip("0").rstrip(".")
            words = Text(f"{words.en}, until {until} s", f"{words.zh}，持续到 {until} 秒")
        first.text, first.words = words.en, (words if words.zh != words.en else None)
        first.count, first.nbytes, first.end_time = len(run), total, run[-1].time
        folded.update(id(m) for m in run[1:])

    for mark in marks:
        run = runs.get(mark.host)
        eof = mark.call == "read" and mark.nbytes == 0
        foldable = mark.kind == "call" and mark.call in ("send", "read") and not eof
        if run and not (foldable and mark.call == run[0].call):
            close_run(mark.host)
        if foldable:
            runs.setdefault(mark.host, []).append(mark)
    for host in list(runs):
        close_run(host)
    return [m for m in marks if id(m) not in folded]


def build_model(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    conn: str | None = None,
    fold_calls: bool = True,
) -> LadderModel:
    """Pick a connection from ``records`` and pair up its segments.

    Args:
        records: trace records, in trace order (times in seconds).
        left, right: host names to draw on each side (default: the client
            left). A named host that never appears gets an empty lifeline.
        conn: a connection string in either direction
            (``"192.0.2.1:40000-192.0.2.2:80"``); default: the connection
            with the most segment records.
        fold_calls: fold runs of reads or writes into one mark each.

    Raises:
        ValueError: ``conn`` is not in the trace, or ``left`` and ``right``
            name the same host.
    """
    recs = list(records)
    key, n_conns = _pick_connection(recs, conn)
    single = n_conns <= 1

    def in_conn(r: TraceRecord) -> bool:
        return key is None or conn_key(r.conn) == key

    # Hosts of the connection, in order of appearance, and their endpoints.
    hosts: list[str] = []
    all_hosts: list[str] = []
    local_of: dict[str, str] = {}
    remote_of: dict[str, str] = {}
    for r in recs:
        if not usable(r):
            continue
        if r.host not in all_hosts:
            all_hosts.append(r.host)
        if key is not None and conn_key(r.conn) == key:
            if r.host not in hosts:
                hosts.append(r.host)
            parts = split_conn(r.conn)
            if parts:
                local_of.setdefault(r.host, parts[0])
                remote_of.setdefault(r.host, parts[1])
    if key is None:
        hosts = [r.host for r in recs if usable(r) and r.event in SEGMENT_EVENTS][:1] or all_hosts
        hosts = list(dict.fromkeys(hosts + [h for h in all_hosts if h not in hosts]))[:2]
    traced = frozenset(all_hosts)

    def peer_of(h: str) -> str:
        for o in hosts:
            if o != h:
                return o
        return remote_of.get(h) or "(peer)"

    client = _find_client(recs, in_conn, peer_of)
    named = frozenset(h for h in (left, right) if h is not None)
    if left is None:
        if client is not None and client != right:
            left = client
        elif right is not None:
            left = peer_of(right)
        else:
            left = hosts[0] if hosts else "(left)"
    if right is None:
        right = peer_of(left)
    if left == right:
        raise ValueError(f"left and right are the same host {left!r}")
    pair = (left, right)

    def other(h: str) -> str:
        return right if h == left else left

    left_addr = local_of.get(left) or remote_of.get(right, "")
    right_addr = local_of.get(right) or remote_of.get(left, "")
    endpoint = {left: left_addr, right: right_addr}

    def listener_of_host(r: TraceRecord) -> bool:
        parts = split_conn(r.conn)
        return parts is not None and _is_wildcard(parts[1]) and parts[0] == endpoint[r.host]

    model = LadderModel(
        left=left,
        right=right,
        left_addr=left_addr,
        right_addr=right_addr,
        conn=f"{left_addr}-{right_addr}" if left_addr and right_addr else (conn or ""),
        traced=traced,
        named=named,
        conn_ids=key,
    )
    matcher = _Matcher(model, other)
    connecting: set[str] = set()
    last_mark: dict[str, Mark] = {}

    def add_mark(mark: Mark) -> None:
        model.marks.append(mark)
        last_mark[mark.host] = mark

    for order, r in enumerate(recs):
        if not usable(r) or r.host not in pair:
            continue
        t = float(r.time)
        d = record_data(r)
        ev = r.event
        if ev in SEGMENT_EVENTS:
            if in_conn(r) or (single and ev == "segment_dropped" and not r.conn):
                drop = matcher.record(order, r, t, d)
                if drop is not None:
                    add_mark(drop)
        elif ev == "state_updated":
            if not (in_conn(r) or (single and not r.conn) or listener_of_host(r)):
                continue
            new = str(d.get("new", "?"))
            add_mark(Mark(t, r.host, "state", new, order))
            if r.host in connecting and new in ("ESTABLISHED", "CLOSED"):
                connecting.discard(r.host)
                words = (
                    Text("connect() returns", "connect() 返回")
                    if new == "ESTABLISHED"
                    else _connect_result(d.get("cause"))
                )
                add_mark(Mark(t, r.host, "return", words.en, order, words=words, call="connect"))
        elif ev == "app":
            call = d.get("call")
            if not isinstance(call, str) or not call:
                continue  # "delivered": the read that follows is drawn
            if not (in_conn(r) or listener_of_host(r) or (call == "restart" and not r.conn)):
                continue
            prev = last_mark.get(r.host)
            if call == "shutdown" and prev is not None and prev.call == "close" and prev.time == t:
                continue  # close() traces the shutdown it makes: one call
            kind, text, call_words = _call_mark(call, d)
            if call == "connect":
                connecting.add(r.host)
            add_mark(
                Mark(t, r.host, kind, text, order, words=call_words, call=call,
                     nbytes=_int(d.get("bytes")))
            )

    for host in pair:
        if host in named and host not in traced:
            words = Text("no records of this host in the trace", "跟踪记录里没有这台主机")
            first = min(model.times(), default=0.0)
            model.marks.append(Mark(first, host, "note", words.en, -1, words=words))
    matcher.finish()
    if fold_calls:
        model.marks = _fold_calls(model.marks)
    _relative_numbers(model)
    times = model.times()
    if any(abs(t * 1000 - round(t * 1000)) > 1e-6 for t in times):
        model.decimals = 6
    return model


def _find_client(
    recs: Sequence[TraceRecord],
    in_conn: Callable[[TraceRecord], bool],
    peer_of: Callable[[str], str],
) -> str | None:
    """The host that opened the connection: it sent the first SYN without ACK."""
    for r in recs:
        if not usable(r) or not in_conn(r) or r.event not in SEGMENT_EVENTS:
            continue
        d = record_data(r)
        fl = _flags(d.get("flags"))
        if "SYN" in fl and "ACK" not in fl:
            if r.event == "segment_received":
                return peer_of(r.host)
            if r.event == "segment_sent" or is_network_reason(str(d.get("reason"))):
                return r.host
    return next(
        (r.host for r in recs if usable(r) and in_conn(r) and r.event == "segment_sent"), None
    )


def _rec_key(d: dict[str, Any]) -> SegKey:
    return (_int(d.get("seq")), _int(d.get("ack")), _flags(d.get("flags")), _int(d.get("len")))


_Table = dict[tuple[str, str], dict[SegKey, deque[SegmentView]]]


class _Matcher:
    """Pairs the segment records of one connection into :class:`SegmentView` objects."""

    def __init__(self, model: LadderModel, other: Callable[[str], str]) -> None:
        self.model = model
        self.other = other
        self.pending: _Table = {}  # sent, not yet seen again
        self.early_lost: _Table = {}  # lost before their send was traced
        self.arrived: _Table = {}  # received: a drop by the receiver may follow

    @staticmethod
    def _pop(
        table: _Table, direction: tuple[str, str], k: SegKey, *, latest: bool = False
    ) -> SegmentView | None:
        """The oldest (or ``latest``) segment of ``table`` with key ``k``, removed."""
        q = table.get(direction, {}).get(k)
        if not q:
            return None
        return q.pop() if latest else q.popleft()

    @staticmethod
    def _push(table: _Table, direction: tuple[str, str], seg: SegmentView) -> None:
        table.setdefault(direction, {}).setdefault(seg.key, deque()).append(seg)

    def _new(self, order: int, d: dict[str, Any], src: str, dst: str) -> SegmentView:
        opts = d.get("options")
        seg = SegmentView(
            index=len(self.model.segments),
            src=src,
            dst=dst,
            seq=_int(d.get("seq")),
            ack=_int(d.get("ack")),
            flags=_flags(d.get("flags")),
            length=_int(d.get("len")),
            window=_int(d.get("window")),
            options=dict(opts) if isinstance(opts, dict) else {},
            order=order,
        )
        self.model.segments.append(seg)
        return seg

    def record(self, order: int, r: TraceRecord, t: float, d: dict[str, Any]) -> Mark | None:
        """Take one segment record; returns the mark of a drop by the receiver."""
        traced = self.model.traced
        host, k = r.host, _rec_key(d)
        seg: SegmentView | None
        if r.event == "segment_sent":
            direction = (host, self.other(host))
            seg = self._pop(self.early_lost, direction, k)
            if seg is None:
                seg = self._new(order, d, *direction)
                # Kept for its receive, or for a loss the sender records.
                self._push(self.pending, direction, seg)
                if direction[1] not in traced:
                    seg.status = "one-sided"
            seg.send_time = t
        elif r.event == "segment_received":
            direction = (self.other(host), host)
            seg = self._pop(self.pending, direction, k) if direction[0] in traced else None
            if seg is None:
                seg = self._new(order, d, *direction)
                seg.status = "orphan" if direction[0] in traced else "one-sided"
            else:
                seg.status = "delivered"
            seg.recv_time = t
            self._push(self.arrived, direction, seg)
        else:
            reason = d.get("reason")
            reason = reason if isinstance(reason, str) and reason else "dropped"
            to = d.get("to")
            if is_network_reason(reason) or (isinstance(to, str) and to != host):
                # Lost in the network: recorded by the sender, or on TUN by the
                # fault injector for a packet from the kernel.
                incoming = d.get("direction") == "from-kernel"
                direction = (self.other(host), host) if incoming else (host, self.other(host))
                # The loss is recorded right after the send: the latest send matches.
                seg = None if incoming else self._pop(self.pending, direction, k, latest=True)
                if seg is None:
                    seg = self._new(order, d, *direction)
                    if not incoming:
                        seg.send_time = t
                        self._push(self.early_lost, direction, seg)
                seg.status = "lost"
                seg.drop_time = t
                seg.drop_reason = reason
            else:
                seg = self._receiver_drop(order, host, t, d, k, reason)
                drop = describe_drop(reason)
                if seg is not None:
                    self.model.segment_of_record[order] = seg.index
                return Mark(
                    t, host, "drop", drop.words.en, order, words=drop.words,
                    segment=None if seg is None else seg.index, reason=reason,
                    routine=drop.routine,
                )
        self.model.segment_of_record[order] = seg.index
        return None

    def _receiver_drop(
        self, order: int, host: str, t: float, d: dict[str, Any], k: SegKey, reason: str
    ) -> SegmentView | None:
        """The segment ``host`` received and dropped (``None`` for an unparsed packet)."""
        if "seq" not in d:
            return None
        direction = (self.other(host), host)
        seg = self._pop(self.pending, direction, k)  # no receive record before the drop
        if seg is None:
            q = self.arrived.get(direction, {}).get(k)
            seg = q.pop() if q else None  # the latest arrival of that segment
        if seg is None:
            seg = self._new(order, d, *direction)
        seg.status = "dropped"
        seg.recv_time = t if seg.recv_time is None else seg.recv_time
        seg.drop_time = t
        seg.drop_reason = reason
        return seg

    def finish(self) -> None:
        """Decide every segment's fate (see the module docstring)."""
        for seg in self.model.segments:
            if seg.status == "pending":
                seg.status = "unmatched"
            if seg.status == "lost":
                seg.fate = "lost"
            elif seg.status == "dropped":
                seg.fate = "dropped"
            elif seg.recv_time is not None:
                seg.fate = "processed"
            else:
                seg.fate = "unknown"


def _relative_numbers(model: LadderModel) -> None:
    """Each direction's ISN and the segments' seq/ack relative to it, like Wireshark.

    ``model.isn[host]`` is the host's first SYN (else the first seq it sent).
    A later SYN with another sequence number starts a new incarnation of the
    connection on the same 4-tuple (after TIME-WAIT, or after an old duplicate
    was reset): the segments after it count from its ISN. Only SYNs the host
    really sent count (an injected old duplicate does not), except for a
    host that is not traced, whose SYNs are known only by their arrival.
    """
    for host in (model.left, model.right):
        sent = [s for s in model.segments if s.src == host and s.seq is not None]
        syn = next((s for s in sent if "SYN" in s.flags), None)
        first = syn or (sent[0] if sent else None)
        if first is not None and first.seq is not None:
            model.isn[host] = first.seq
    starts: dict[str, list[tuple[tuple[float, int], int]]] = {}
    for seg in sorted(model.segments, key=lambda s: (s.time, s.order)):
        really_sent = seg.send_time is not None or seg.src not in model.traced
        if "SYN" in seg.flags and seg.seq is not None and really_sent:
            known = starts.setdefault(seg.src, [])
            if not known or known[-1][1] != seg.seq:
                known.append(((seg.time, seg.order), seg.seq))

    def base(host: str, seg: SegmentView) -> int | None:
        isn = model.isn.get(host)
        for at, seq in starts.get(host, []):
            if at <= (seg.time, seg.order):
                isn = seq
        return isn

    for seg in model.segments:
        src_isn, dst_isn = base(seg.src, seg), base(seg.dst, seg)
        if seg.seq is not None and src_isn is not None:
            seg.rel_seq = (seg.seq - src_isn) % 2**32
        if seg.ack is not None and dst_isn is not None and "ACK" in seg.flags:
            seg.rel_ack = (seg.ack - dst_isn) % 2**32
