"""What became of each packet of a simulated run: lost, dropped by TCP, or processed.

The simulator keeps every packet it put on a link (``Network.packets``, in
send order: packet number ``n`` is ``packets[n - 1]``); the trace says what
became of them. :func:`packet_fates` joins the two, so that a capture can
say, next to each packet, what the ladder says next to each arrow:

- **lost** in the network: the sending host's ``segment_dropped`` record
  with ``to`` names the packet by its number (``packet``; older traces are
  matched by time, endpoints and segment fields);
- **dropped** on arrival: the receiving host traced ``segment_received``
  and then ``segment_dropped`` with the reason (RFC 9293 §3.10.7), or only
  ``segment_dropped`` when the host threw it away before any connection saw
  it (a corrupted or malformed packet, a wrong address);
- **processed**: ``segment_received`` and no drop;
- **unknown**: no arrival in the trace (in flight when the run ended, or
  changed on the way by an undetected corruption).

Arrivals are matched to packets first in first out per direction and
segment fields (``seq``, ``ack``, flags, length), preferring a packet whose
window and options match too (a retransmission carries a new timestamp); a
second arrival of the same packet is a copy the network duplicated.
Nothing here raises on odd traces.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

from tcpstack.errors import MalformedPacket
from tcpstack.tools._model import _flags, _int, split_conn
from tcpstack.tools.i18n import Lang, Text
from tcpstack.tools.reasons import drop_reason_text, is_network_loss
from tcpstack.trace import TraceRecord
from tcpstack.wire import PROTO_TCP, IPv4Header, Segment, parse_ip

__all__ = ["Arrival", "PacketFate", "packet_comments", "packet_fates"]

#: A drop reason after which a new connection processes the segment (MAY-2).
TAKEOVER = "time-wait-reopened"

_Key = tuple[int | None, int | None, frozenset[str], int | None]
_Way = tuple[str, str, _Key]

_LOST = Text("lost in the network: {reason}", "在网络中丢失：{reason}")
_DROPPED = Text("dropped by {host} ({addr}) on arrival: {words} [{reason}]",
                "{host}（{addr}）收到后丢弃：{words} [{reason}]")
_TAKEN = Text("at {host} ({addr}): {words} [{reason}]", "在 {host}（{addr}）：{words} [{reason}]")
_COPIES = Text("duplicated in the network: {n} copies arrived", "被网络复制：到达了 {n} 份")
_COPY = Text("copy {i}: {what}", "第 {i} 份：{what}")
_PROCESSED = Text("processed by {host}", "{host} 正常处理")
_NO_ARRIVAL = Text(
    "no arrival in the trace: still in flight when the run ended, or changed on the way",
    "追踪记录中没有到达：运行结束时仍在途中，或在途中被改动",
)


@dataclass
class Arrival:
    """One copy of a packet arriving at a host.

    Attributes:
        time: arrival time, seconds.
        host: the receiving host's name.
        received: a ``segment_received`` record was traced for it.
        drops: the reasons of the ``segment_dropped`` records it drew, in order.
    """

    time: float
    host: str
    received: bool = False
    drops: list[str] = field(default_factory=list)


@dataclass
class PacketFate:
    """One packet put on a link, and what became of it.

    Attributes:
        number: the packet's number, from 1, in send order over the whole network.
        time: send time, seconds.
        size: the packet's length in bytes, IP header included.
        src, dst: the sending and receiving endpoints (``addr:port``, IPv6 in
            brackets); ``""`` when the packet could not be parsed.
        lost: the reason of its loss in the network, or None.
        arrivals: its arrivals (more than one if the network duplicated it).
    """

    number: int
    time: float
    size: int
    src: str
    dst: str
    key: _Key | None = field(default=None, repr=False)
    extra: tuple[int | None, str] | None = field(default=None, repr=False)
    lost: str | None = None
    arrivals: list[Arrival] = field(default_factory=list)

    @property
    def fate(self) -> str:
        """``lost``, ``dropped`` (the first copy that arrived was thrown away),
        ``processed`` or ``unknown`` (no arrival traced)."""
        if self.lost is not None:
            return "lost"
        if not self.arrivals:
            return "unknown"
        return "dropped" if _discarded(self.arrivals[0]) else "processed"

    def comment(self, lang: Lang = "en") -> str | None:
        """Words for a capture's packet comment; None for a packet processed once."""
        if self.lost is not None:
            words = drop_reason_text(self.lost)
            if words.en == self.lost:  # a scenario's own reason: say it was a loss
                return _LOST.format(reason=self.lost).get(lang)
            return f"{words.get(lang)} [{self.lost}]"
        if not self.arrivals:
            return _NO_ARRIVAL.get(lang) if self.src else None
        parts = [self._arrival_text(a, lang) for a in self.arrivals]
        if len(parts) == 1:
            return parts[0]
        head = _COPIES.format(n=len(parts)).get(lang)
        copies = (_COPY.format(i=i, what=p or _PROCESSED.format(host=a.host).get(lang))
                  for i, (p, a) in enumerate(zip(parts, self.arrivals, strict=True), 1))
        return "; ".join([head, *(c.get(lang) for c in copies)])

    def _arrival_text(self, arrival: Arrival, lang: Lang) -> str | None:
        if not arrival.drops:
            return None
        addr = self.dst or "?"
        texts = []
        for reason in arrival.drops:
            template = _TAKEN if reason == TAKEOVER else _DROPPED
            words = drop_reason_text(reason).get(lang)
            texts.append(template.format(host=arrival.host, addr=addr, words=words,
                                         reason=reason).get(lang))
        return "; ".join(texts)


def _discarded(arrival: Arrival) -> bool:
    return any(reason != TAKEOVER for reason in arrival.drops)


def _endpoint(address: object, port: int) -> str:
    return f"[{address}]:{port}" if isinstance(address, IPv6Address) else f"{address}:{port}"


def _parse(number: int, time: float, raw: bytes) -> PacketFate:
    try:
        ip, payload = parse_ip(raw)
        proto = ip.protocol if isinstance(ip, IPv4Header) else ip.next_header
        if proto != PROTO_TCP:
            raise MalformedPacket("not-tcp", str(proto))
        seg = Segment.decode(payload, ip.src, ip.dst, verify_checksum=False)
    except MalformedPacket:
        return PacketFate(number, time, len(raw), "", "")
    key: _Key = (seg.seq, seg.ack, frozenset(seg.flags.names()), len(seg.payload))
    extra = (seg.window, _canon(seg.options_dict()))
    return PacketFate(number, time, len(raw), _endpoint(ip.src, seg.src_port),
                      _endpoint(ip.dst, seg.dst_port), key, extra)


def _canon(options: Any) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def _record_key(data: dict[str, Any]) -> _Key:
    return (_int(data.get("seq")), _int(data.get("ack")), _flags(data.get("flags")),
            _int(data.get("len")))


def _record_extra(data: dict[str, Any]) -> tuple[int | None, str] | None:
    if "window" not in data or not isinstance(data.get("options"), dict):
        return None
    return (_int(data.get("window")), _canon(data["options"]))


class _Matcher:
    """Packets waiting for their arrival record, per direction and segment fields."""

    def __init__(self, fates: list[PacketFate]) -> None:
        self.pending: dict[_Way, deque[PacketFate]] = {}
        self.arrived: dict[_Way, list[PacketFate]] = {}
        for f in fates:
            if f.lost is None and f.key is not None:
                self.pending.setdefault((f.src, f.dst, f.key), deque()).append(f)

    def take(self, direction: _Way, extra: tuple[int | None, str] | None,
             time: float) -> PacketFate | None:
        """The packet a record at ``time`` is the arrival of: pending first, else a copy."""
        queue = self.pending.get(direction)
        seen = self.arrived.get(direction, [])
        chosen: PacketFate | None = None
        if queue:
            sent = [f for f in queue if f.time <= time + 1e-9]
            chosen = next((f for f in sent if extra is not None and f.extra == extra), None)
            if chosen is None and not any(f.extra == extra for f in seen):
                chosen = sent[0] if sent else None
        if chosen is not None and queue is not None:
            queue.remove(chosen)
            self.arrived.setdefault(direction, []).append(chosen)
            return chosen
        # A second arrival: a copy of a packet that arrived already.
        same = [f for f in seen if extra is not None and f.extra == extra] or seen
        return same[-1] if same else None

    def take_first(
        self,
        time: float,
        *,
        ends: tuple[str, str] | None = None,
        addresses: set[str] | None = None,
        size: int | None = None,
    ) -> PacketFate | None:
        """The oldest pending packet sent by ``time``, whatever its segment fields.

        Args:
            time: the arrival time, seconds.
            ends: only packets from ``ends[0]`` to ``ends[1]`` (``addr:port``).
            addresses: only packets to one of these addresses.
            size: only packets of this many bytes (a corrupted packet keeps its size).
        """
        best: tuple[_Way, PacketFate] | None = None
        for direction, queue in self.pending.items():
            if ends is not None and direction[:2] != ends:
                continue
            if addresses is not None and _address(direction[1]) not in addresses:
                continue
            for f in queue:
                if f.time > time + 1e-9:
                    break
                if size is None or f.size == size:
                    if best is None or f.number < best[1].number:
                        best = (direction, f)
                    break
        if best is None:
            return None
        self.pending[best[0]].remove(best[1])
        self.arrived.setdefault(best[0], []).append(best[1])
        return best[1]

    def free_twin(self, time: float, addresses: set[str], size: int | None) -> PacketFate | None:
        """A packet that arrived, given back because an identical packet took its arrivals.

        Two packets with the same bytes (two identical ACKs sent at once)
        cannot be told apart; when one of them was corrupted, the arrivals of
        both may have gone to the wrong one. The arrivals move to its twin and
        the packet is returned for the corrupted arrival.
        """
        for direction, seen in self.arrived.items():
            if _address(direction[1]) not in addresses:
                continue
            for f in reversed(seen):
                if f.size != size or f.time > time + 1e-9 or not f.arrivals:
                    continue
                if not all(a.received for a in f.arrivals):
                    continue
                twin = next((g for g in seen if g is not f and g.extra == f.extra
                             and g.key == f.key), None)
                if twin is None:
                    continue
                twin.arrivals.extend(f.arrivals)
                twin.arrivals.sort(key=lambda a: a.time)
                f.arrivals.clear()
                return f
        return None


@dataclass
class _Current:
    """The packet a host is processing: the records of one arrival follow each other."""

    time: float
    key: _Key | None
    ends: tuple[str, str] | None
    arrival: Arrival | None


def _address(endpoint: str) -> str:
    return endpoint.rpartition(":")[0]


def packet_fates(
    packets: Sequence[tuple[float, bytes]], records: Iterable[TraceRecord]
) -> list[PacketFate]:
    """What became of each packet, from the simulator's packets and the run's trace.

    Args:
        packets: every packet the simulator put on a link, in send order, as
            ``(send time in seconds, raw IP bytes)`` (``Network.packets``).
        records: the run's trace records, in trace order.

    Returns:
        One :class:`PacketFate` per packet, in the same order.
    """
    fates = [_parse(n, t, bytes(raw)) for n, (t, raw) in enumerate(packets, 1)]
    recs = list(records)
    _mark_losses(fates, recs)
    matcher = _Matcher(fates)
    addresses: dict[str, set[str]] = {}
    for r in recs:
        parts = split_conn(r.conn)
        if parts:
            addresses.setdefault(r.host, set()).add(parts[0].rpartition(":")[0])
    current: dict[str, _Current] = {}
    malformed: list[TraceRecord] = []
    for r in recs:
        if r.event == "segment_received":
            _on_received(r, matcher, current)
        elif r.event == "segment_dropped" and not is_network_loss(r.data):
            if r.conn:
                _on_dropped(r, matcher, current)
            else:
                malformed.append(r)
                current.pop(r.host, None)
    # A corrupted or malformed packet is known only by its size and its
    # receiver: it gets a packet no well-formed arrival claimed.
    previous: tuple[TraceRecord, PacketFate] | None = None
    for r in malformed:
        if previous is not None and (r.time, r.host, r.data) == (
            previous[0].time, previous[0].host, previous[0].data
        ):
            fate: PacketFate | None = previous[1]  # a copy: the same bytes, at the same time
        else:
            to, size = addresses.get(r.host, set()), _int(r.data.get("bytes"))
            fate = (matcher.take_first(r.time, addresses=to, size=size)
                    or matcher.free_twin(r.time, to, size))
        if fate is not None:
            fate.arrivals.append(Arrival(r.time, r.host, drops=[str(r.data.get("reason"))]))
            fate.arrivals.sort(key=lambda a: a.time)
            previous = (r, fate)
    return fates


def _mark_losses(fates: list[PacketFate], recs: list[TraceRecord]) -> None:
    unnumbered: list[TraceRecord] = []
    for r in recs:
        if r.event != "segment_dropped" or not is_network_loss(r.data):
            continue
        number = _int(r.data.get("packet"))
        reason = str(r.data.get("reason", "lost"))
        if number is not None and 1 <= number <= len(fates):
            fates[number - 1].lost = reason
        else:
            unnumbered.append(r)
    for r in unnumbered:  # a trace from before the ``packet`` field: time, ends, fields
        parts = split_conn(r.conn)
        key = _record_key(r.data)
        for f in fates:
            if (f.lost is None and f.key == key and abs(f.time - r.time) < 1e-9
                    and (parts is None or (f.src, f.dst) == parts)):
                f.lost = str(r.data.get("reason", "lost"))
                break


def _incoming(r: TraceRecord) -> tuple[str, str] | None:
    """``(source, destination)`` endpoints of a segment arriving at ``r.host``."""
    parts = split_conn(r.conn)
    return (parts[1], parts[0]) if parts else None


def _on_received(r: TraceRecord, matcher: _Matcher, current: dict[str, _Current]) -> None:
    ends = _incoming(r)
    key = _record_key(r.data)
    cur = current.get(r.host)
    if (cur is not None and cur.time == r.time and cur.key == key and cur.ends == ends
            and cur.arrival is not None and not cur.arrival.received):
        cur.arrival.received = True  # the new connection's record after a takeover
        return
    fate = None
    if ends is not None:
        fate = matcher.take((*ends, key), _record_extra(r.data), r.time)
    arrival = None
    if fate is not None:
        arrival = Arrival(r.time, r.host, received=True)
        fate.arrivals.append(arrival)
    current[r.host] = _Current(r.time, key, ends, arrival)


def _on_dropped(r: TraceRecord, matcher: _Matcher, current: dict[str, _Current]) -> None:
    reason = str(r.data.get("reason", "dropped"))
    ends = _incoming(r)
    key = _record_key(r.data) if "seq" in r.data else None
    cur = current.get(r.host)
    if (cur is not None and cur.time == r.time and ends is not None and cur.ends == ends
            and (key is None or key == cur.key)):
        if cur.arrival is not None:  # about the packet this host is processing
            cur.arrival.drops.append(reason)
        return
    # A packet thrown away before any connection traced it.
    if ends is None:
        fate = None
    elif key is not None:
        fate = matcher.take((*ends, key), _record_extra(r.data), r.time)
    else:  # a listener's drop without the segment's fields (a full backlog)
        fate = matcher.take_first(r.time, ends=ends)
    arrival = None
    if fate is not None:
        arrival = Arrival(r.time, r.host, drops=[reason])
        fate.arrivals.append(arrival)
    current[r.host] = _Current(r.time, key, ends, arrival)


def packet_comments(
    packets: Sequence[tuple[float, bytes]], records: Iterable[TraceRecord], lang: Lang = "en"
) -> list[str | None]:
    """The capture comment of each packet (:meth:`PacketFate.comment`), in packet order."""
    return [f.comment(lang) for f in packet_fates(packets, records)]
