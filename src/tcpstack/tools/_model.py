"""The ladder model shared by the terminal, SVG and HTML renderers.

:func:`build_model` picks one connection out of a trace, decides which host
is drawn on the left (the client: the first host that sends a SYN without
ACK), matches every ``segment_sent`` with its ``segment_received`` (or its
``segment_dropped``) and collects each side's state changes. Renderers only
read the resulting :class:`LadderModel`.

Matching is by ``(seq, ack, flags, len)``, first in first out per
direction, so retransmissions and duplicates pair up in order; a send that
never arrives is ``unmatched`` and a receive without a send is an
``orphan``. Nothing here raises on odd data: missing or ill-typed fields
become ``None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tcpstack.trace import TraceRecord

SEGMENT_EVENTS = frozenset({"segment_sent", "segment_received", "segment_dropped"})
FLAG_ORDER = ("SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
NETWORK_LOSS = "lost-in-network"
#: Timers whose firing is drawn as a note (the others are routine).
NOTED_TIMERS_EXCLUDED = frozenset({"delayed_ack", "time_wait"})

SegKey = tuple[int | None, int | None, frozenset[str], int | None]


def split_conn(conn: str) -> tuple[str, str] | None:
    """``"a:1-b:2"`` -> ``("a:1", "b:2")``; ``None`` when not of that form."""
    local, sep, remote = conn.partition("-")
    if not sep or not local or not remote:
        return None
    return local, remote


def conn_key(conn: str) -> frozenset[str] | None:
    """The direction-independent identity of a connection string."""
    parts = split_conn(conn)
    return frozenset(parts) if parts else None


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
    """One segment as drawn: who sent it, when it left and arrived, its fields.

    ``status`` is one of ``delivered`` (send and receive both traced),
    ``lost`` (dropped by the network), ``dropped`` (the receiver discarded
    it: see ``drop_reason``), ``unmatched`` (sent, never seen again: lost or
    still in flight), ``orphan`` (received, its send is not in the trace) or
    ``one-sided`` (the other end is not traced, e.g. a kernel peer on TUN).
    Times are seconds; ``None`` when unknown.
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
        }


@dataclass
class Mark:
    """Something drawn in one host's column: a state change or a note."""

    time: float
    host: str
    kind: str  # "state", "note" or "drop"
    text: str
    order: int


@dataclass
class LadderModel:
    """One connection ready to draw; ``left`` is the client."""

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

    def side(self, host: str) -> str:
        """``"L"`` or ``"R"``."""
        return "L" if host == self.left else "R"

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


def _is_wildcard(endpoint: str) -> bool:
    return "*" in endpoint or endpoint.endswith(":0") or endpoint in ("", "0.0.0.0", "::")


def list_connections(records: Iterable[TraceRecord]) -> list[tuple[str, int]]:
    """Connections in a trace as ``(conn string, number of segment records)``."""
    counts: dict[frozenset[str], int] = {}
    names: dict[frozenset[str], str] = {}
    for r in records:
        if r.event in SEGMENT_EVENTS:
            k = conn_key(r.conn)
            if k is not None:
                counts[k] = counts.get(k, 0) + 1
                names.setdefault(k, r.conn)
    return [(names[k], n) for k, n in counts.items()]


def build_model(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    conn: str | None = None,
) -> LadderModel:
    """Pick a connection from ``records`` and pair up its segments.

    Args:
        records: trace records, in trace order (times in seconds).
        left, right: host names to draw on each side (default: the client left).
        conn: a connection string in either direction
            (``"192.0.2.1:40000-192.0.2.2:80"``); default: the connection
            with the most segment records.

    Raises:
        ValueError: ``conn`` is not in the trace, or ``left``/``right`` name
            a host that is not part of the connection.
    """
    recs = list(records)
    counts: dict[frozenset[str], int] = {}
    names: dict[frozenset[str], str] = {}
    for r in recs:
        if r.event in SEGMENT_EVENTS:
            k = conn_key(r.conn)
            if k is not None:
                counts[k] = counts.get(k, 0) + 1
                names.setdefault(k, r.conn)
    key: frozenset[str] | None
    if conn is not None:
        key = conn_key(conn)
        if key is None or key not in counts:
            avail = ", ".join(names.values()) or "none"
            raise ValueError(f"connection {conn!r} is not in the trace (connections: {avail})")
    elif counts:
        key = max(counts, key=lambda k: counts[k])  # first of the largest on ties
    else:
        key = None
    single = len(counts) <= 1

    def in_conn(r: TraceRecord) -> bool:
        if key is None:
            return True
        return conn_key(r.conn) == key

    # Hosts of the connection, in order of appearance, and their local endpoints.
    hosts: list[str] = []
    local_of: dict[str, str] = {}
    remote_of: dict[str, str] = {}
    for r in recs:
        if in_conn(r) and r.event in SEGMENT_EVENTS | {"state_updated"} and r.conn:
            if r.host not in hosts:
                hosts.append(r.host)
            parts = split_conn(r.conn)
            if parts:
                local_of.setdefault(r.host, parts[0])
                remote_of.setdefault(r.host, parts[1])
    if not hosts:
        for r in recs:
            if r.event in SEGMENT_EVENTS and r.host not in hosts:
                hosts.append(r.host)
    traced = frozenset(hosts)

    def peer_of(h: str) -> str:
        for other in hosts:
            if other != h:
                return other
        return remote_of.get(h, "peer")

    # Who is the client?
    if left is None:
        for r in recs:
            if not in_conn(r) or r.event not in SEGMENT_EVENTS:
                continue
            fl = _flags(r.data.get("flags"))
            if "SYN" in fl and "ACK" not in fl:
                if r.event == "segment_received":
                    left = peer_of(r.host)
                    break
                if r.event == "segment_sent" or r.data.get("reason") == NETWORK_LOSS:
                    left = r.host
                    break
        if left is None:
            left = next((r.host for r in recs if in_conn(r) and r.event == "segment_sent"), None)
        if left is None:
            left = hosts[0] if hosts else "left"
    if right is None:
        right = peer_of(left) if left in traced else (hosts[0] if hosts else "right")
    for name, which in ((left, "left"), (right, "right")):
        if traced and name not in traced and name not in {peer_of(h) for h in traced}:
            raise ValueError(
                f"{which} host {name!r} is not part of the connection"
                f" (hosts: {', '.join(hosts) or 'none'})"
            )
    if left == right:
        raise ValueError(f"left and right are the same host {left!r}")
    pair = (left, right)

    def other(h: str) -> str:
        return right if h == left else left

    left_addr = local_of.get(left) or remote_of.get(right, "")
    right_addr = local_of.get(right) or remote_of.get(left, "")
    conn_str = f"{left_addr}-{right_addr}" if left_addr and right_addr else (conn or "")

    model = LadderModel(
        left=left,
        right=right,
        left_addr=left_addr,
        right_addr=right_addr,
        conn=conn_str,
        traced=traced,
    )

    pending: dict[tuple[str, str], dict[SegKey, deque[SegmentView]]] = {}
    early_lost: dict[tuple[str, str], dict[SegKey, deque[SegmentView]]] = {}

    def new_seg(r: TraceRecord, order: int, src: str, dst: str) -> SegmentView:
        d = r.data
        opts = d.get("options")
        seg = SegmentView(
            index=len(model.segments),
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
        model.segments.append(seg)
        return seg

    def rec_key(r: TraceRecord) -> SegKey:
        d = r.data
        return (_int(d.get("seq")), _int(d.get("ack")), _flags(d.get("flags")), _int(d.get("len")))

    def pop(
        table: dict[tuple[str, str], dict[SegKey, deque[SegmentView]]],
        direction: tuple[str, str],
        k: SegKey,
    ) -> SegmentView | None:
        q = table.get(direction, {}).get(k)
        return q.popleft() if q else None

    def push(
        table: dict[tuple[str, str], dict[SegKey, deque[SegmentView]]],
        direction: tuple[str, str],
        seg: SegmentView,
    ) -> None:
        table.setdefault(direction, {}).setdefault(seg.key, deque()).append(seg)

    for order, r in enumerate(recs):
        if r.host not in pair:
            continue
        stray = not (single and r.event == "segment_dropped" and not r.conn)
        if r.event in SEGMENT_EVENTS and not in_conn(r) and stray:
            continue
        ev = r.event
        if ev == "segment_sent":
            src, dst = r.host, other(r.host)
            seg = pop(early_lost, (src, dst), rec_key(r))
            if seg is not None:
                seg.send_time = r.time
                continue
            seg = new_seg(r, order, src, dst)
            seg.send_time = r.time
            if dst in traced:
                push(pending, (src, dst), seg)
            else:
                seg.status = "one-sided"
        elif ev == "segment_received":
            src, dst = other(r.host), r.host
            seg = pop(pending, (src, dst), rec_key(r)) if src in traced else None
            if seg is None:
                seg = new_seg(r, order, src, dst)
                seg.status = "orphan" if src in traced else "one-sided"
            else:
                seg.status = "delivered"
            seg.recv_time = r.time
        elif ev == "segment_dropped":
            reason = str(r.data.get("reason", "dropped"))
            to = r.data.get("to")
            if reason == NETWORK_LOSS or (isinstance(to, str) and to != r.host):
                src, dst = r.host, other(r.host)
                seg = pop(pending, (src, dst), rec_key(r))
                if seg is None:
                    seg = new_seg(r, order, src, dst)
                    seg.send_time = r.time
                    push(early_lost, (src, dst), seg)
                seg.status = "lost"
                seg.drop_time = r.time
                seg.drop_reason = reason
            else:
                src, dst = other(r.host), r.host
                if "seq" in r.data:
                    seg = pop(pending, (src, dst), rec_key(r))
                    if seg is not None:
                        seg.status = "dropped"
                        seg.recv_time = seg.drop_time = r.time
                        seg.drop_reason = reason
                model.marks.append(Mark(r.time, r.host, "drop", f"✕ {reason}", order))
        elif ev == "state_updated":
            ok = in_conn(r) or (single and not r.conn)
            if not ok:
                parts = split_conn(r.conn)
                mine = local_of.get(r.host)
                ok = parts is not None and parts[0] == mine and _is_wildcard(parts[1])
            if ok:
                new = str(r.data.get("new", "?"))
                model.marks.append(Mark(r.time, r.host, "state", new, order))
        elif ev == "timer_fired" and in_conn(r):
            timer = str(r.data.get("timer", "timer"))
            if timer not in NOTED_TIMERS_EXCLUDED:
                model.marks.append(Mark(r.time, r.host, "note", f"{timer} fired", order))

    for seg in model.segments:
        if seg.status == "pending":
            seg.status = "unmatched"

    # Each direction's ISN: its first SYN, else the first seq it sent.
    for host in pair:
        sent = [s for s in model.segments if s.src == host and s.seq is not None]
        syn = next((s for s in sent if "SYN" in s.flags), None)
        first = syn or (sent[0] if sent else None)
        if first is not None and first.seq is not None:
            model.isn[host] = first.seq
    for seg in model.segments:
        if seg.seq is not None and seg.src in model.isn:
            seg.rel_seq = (seg.seq - model.isn[seg.src]) % 2**32
        if seg.ack is not None and seg.dst in model.isn and "ACK" in seg.flags:
            seg.rel_ack = (seg.ack - model.isn[seg.dst]) % 2**32

    times = model.times()
    if any(abs(t * 1000 - round(t * 1000)) > 1e-6 for t in times):
        model.decimals = 6
    return model
