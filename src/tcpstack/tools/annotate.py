"""Per-step explanations computed from a run: what a segment or a timer caused, and why.

:func:`annotate` reads a :class:`~tcpstack.tools._model.LadderModel` and the
trace records it was built from, and returns :class:`Annotation` values in
English and Simplified Chinese. Nothing here is written per scenario: each
annotation is found by a rule over the records, so it appears wherever the
run does the thing it explains, and nowhere else.

=====================  ======================================================
``kind``               when, and the English text
=====================  ======================================================
``syn-consumes``       the first segment that acknowledges a SYN:
                       "ack = x + 1: the SYN (seq x) consumes one sequence
                       number" (RFC 9293 §3.4)
``fin-consumes``       the first segment that acknowledges a FIN: "the FIN
                       consumes one sequence number"
``time-wait``          entering TIME-WAIT: "TIME-WAIT: 2 MSL = 240 s", from
                       the ``time_wait`` timer (RFC 9293 §3.10.8)
``time-wait-restart``  the timer re-armed in TIME-WAIT by a retransmitted FIN:
                       "2 MSL restarted" (RFC 9293 §3.10.7.4)
``rto``                the retransmission timer fired: "RTO fired, backoff
                       to 2 s", the new RTO from the next ``metrics_updated``
                       (RFC 6298 §5.5)
``tlp``                a tail loss probe (RFC 8985 §7)
``dup-ack``            an ACK that repeats the last one while data is
                       outstanding: "duplicate ACK n" (RFC 5681 §2)
``fast-retransmit``    the first retransmission after duplicate ACKs, no
                       timer involved: "fast retransmit (3 dup ACKs)"
                       (RFC 5681 §3.2)
``retransmission``     any other segment that resends sequence space
``challenge-ack``      the ACK answering an RST or SYN that was dropped as
                       ``rst-challenged``/``syn-challenged`` (RFC 5961)
``eof``                ``read()`` found the end of the stream: "read()
                       returns 0: the peer's FIN"
``zero-window``        a segment advertising window 0 after a non-zero one
``window-reopened``    the first non-zero window after window 0
``window-probe``       the persist timer fired with window 0: a zero-window
                       probe (RFC 9293 §3.8.6.1)
``persist``            the persist timer fired with a small window: the
                       sender's SWS override (RFC 9293 §3.8.6.2.1)
``keepalive``          the keep-alive timer fired and a probe left
                       (RFC 9293 §3.8.4)
``cause``              a state change whose cause needs saying: 2 MSL over,
                       R2 reached, keep-alive or FIN-WAIT-2 timeout, RST
                       received, close() with unread data, ...
=====================  ======================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tcpstack.seq import seq_gt, seq_lt
from tcpstack.tools._model import LadderModel, SegmentView, record_data, usable
from tcpstack.tools.i18n import Text
from tcpstack.trace import TraceRecord

__all__ = ["KINDS", "Annotation", "annotate"]

KINDS = (
    "syn-consumes",
    "fin-consumes",
    "time-wait",
    "time-wait-restart",
    "rto",
    "tlp",
    "dup-ack",
    "fast-retransmit",
    "retransmission",
    "challenge-ack",
    "eof",
    "zero-window",
    "window-reopened",
    "window-probe",
    "persist",
    "keepalive",
    "cause",
)
"""Every ``Annotation.kind``, as documented above."""


@dataclass(frozen=True)
class Annotation:
    """One explanation, drawn beside ``host``'s lifeline at ``time`` (seconds).

    Attributes:
        time: when it happened, seconds on the trace's clock.
        host: the host it is about (whose lifeline it stands on).
        text: the explanation in English and Chinese.
        segment: the index in ``model.segments`` of the segment it explains,
            or ``None`` (a timer, a state change, a call).
        kind: one of :data:`KINDS`.
    """

    time: float
    host: str
    text: Text
    segment: int | None
    kind: str


def secs(x: float) -> str:
    """Seconds as short text: ``2``, ``1.5``, ``0.25``, ``240``."""
    return f"{x:.3f}".rstrip("0").rstrip(".")


_CAUSES: dict[str, Text] = {
    "2 MSL timeout": Text("2 MSL passed: TIME-WAIT ends", "2 MSL 到时：TIME-WAIT 结束"),
    "retransmission timeout (R2)": Text(
        "gave up: retransmissions went on for R2 seconds", "放弃连接：重传已持续到 R2 时限"
    ),
    "keep-alive timeout": Text(
        "no answer to the keep-alive probes: the connection is dropped",
        "保活探测始终没有回应：断开连接",
    ),
    "FIN-WAIT-2 timeout": Text(
        "FIN-WAIT-2 timeout: the peer never sent its FIN", "FIN-WAIT-2 超时：对方始终没有发来 FIN"
    ),
    "new SYN reopens": Text(
        "a new SYN reopens the 4-tuple from TIME-WAIT", "新的 SYN 重新启用了 TIME-WAIT 中的四元组"
    ),
    "rcv ACK with a valid SYN cookie": Text(
        "a valid SYN cookie: the connection is made from it", "有效的 SYN cookie：由它建立连接"
    ),
    "SYN,ACK retries exceeded": Text(
        "SYN,ACK retries exceeded: the half-open entry goes", "SYN,ACK 重传次数用尽：半连接被删除"
    ),
    "recycled for a new SYN": Text(
        "SYN queue full: recycled for a new SYN", "SYN 队列已满：让位给新的 SYN"
    ),
    "TIME-WAIT limit reached": Text(
        "TIME-WAIT limit reached: closed at once", "TIME-WAIT 数量已达上限：立即关闭"
    ),
    "CLOSE with unread data": Text(
        "close() with unread data: RST instead of FIN", "关闭时还有未读的数据：发送 RST 而不是 FIN"
    ),
    "data after CLOSE": Text(
        "data arrived after close(): answered with RST", "close() 之后又收到数据：回复 RST"
    ),
}
_RST_RECEIVED = Text("RST received: the connection is reset", "收到 RST：连接被重置")
_RST_TO_LISTEN = Text("RST received: back to LISTEN", "收到 RST：回到 LISTEN")


def _host_of(seg: SegmentView) -> str:
    """The host at whose end ``seg.time`` is: the sender, else the receiver."""
    return seg.src if seg.send_time is not None else seg.dst


def _num(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


class _Annotator:
    def __init__(self, model: LadderModel, records: Sequence[TraceRecord]) -> None:
        self.m = model
        self.recs = records
        self.out: list[tuple[float, int, Annotation]] = []
        self.seen: set[tuple[int | None, str, float, str]] = set()
        self.explained: set[int] = set()  # retransmissions a timer annotation explains
        self.state: dict[str, str] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.hi_sent: dict[str, int] = {}
        self.last_ack: dict[str, tuple[int, int | None]] = {}
        self.dups: dict[str, int] = {}
        self.fast_done: dict[str, bool] = {}
        self.tw_armed: dict[str, bool] = {}
        self.challenge: dict[str, float] = {}
        self.last_recv: dict[str, tuple[float, int]] = {}
        self.syn_only: dict[str, int] = {}  # the seq of the SYN without ACK each host sent

    def add(self, t: float, pos: int, host: str, text: Text, seg: int | None, kind: str) -> None:
        k = (seg, kind, t, host)
        if k in self.seen:
            return
        self.seen.add(k)
        self.out.append((t, pos, Annotation(t, host, text, seg, kind)))

    def segment(self, pos: int) -> SegmentView | None:
        idx = self.m.segment_of_record.get(pos)
        return None if idx is None else self.m.segments[idx]

    def ahead(self, pos: int, host: str, t: float, event: str) -> tuple[int, TraceRecord] | None:
        """The next record of ``event`` by ``host`` at the same instant."""
        for j in range(pos + 1, len(self.recs)):
            r = self.recs[j]
            if not usable(r) or float(r.time) != t:
                return None
            if r.host == host and r.event == event and self.m.in_connection(r):
                return j, r
        return None

    def sent_ahead(self, pos: int, host: str, t: float) -> SegmentView | None:
        found = self.ahead(pos, host, t, "segment_sent")
        return None if found is None else self.segment(found[0])

    # -- the walk over the records ----------------------------------------------

    def run(self) -> list[Annotation]:
        for pos, r in enumerate(self.recs):
            if not (self.m.in_connection(r) or pos in self.m.segment_of_record):
                continue
            t, h, d = float(r.time), r.host, record_data(r)
            match r.event:
                case "metrics_updated":
                    self.metrics[h] = d
                case "state_updated":
                    self.on_state(pos, t, h, d)
                case "timer_fired":
                    self.on_timer(pos, t, h, str(d.get("timer")))
                case "timer_set" if d.get("timer") == "time_wait":
                    self.on_time_wait(pos, t, h, d)
                case "segment_dropped" if d.get("reason") in ("rst-challenged", "syn-challenged"):
                    self.challenge[h] = t
                case "segment_received":
                    self.on_received(pos, t, h)
                case "segment_sent":
                    self.on_sent(pos, t, h)
                case "app" if d.get("call") == "read" and d.get("eof"):
                    text = Text(
                        "read() returns 0: the peer's FIN (end of stream)",
                        "read() 返回 0：收到了对方的 FIN（数据流结束）",
                    )
                    self.add(t, pos, h, text, None, "eof")
        self.per_segment()
        self.out.sort(key=lambda item: (item[0], item[1]))
        return [a for _, _, a in self.out]

    def on_state(self, pos: int, t: float, h: str, d: dict[str, Any]) -> None:
        new, old, cause = str(d.get("new")), str(d.get("old")), d.get("cause")
        self.state[h] = new
        if new != "TIME-WAIT":
            self.tw_armed[h] = False
        text = _CAUSES.get(cause) if isinstance(cause, str) else None
        if cause == "rcv RST" and old != "SYN-SENT":  # SYN-SENT: "connect() fails" says it
            text = _RST_TO_LISTEN if new == "LISTEN" else _RST_RECEIVED
        if text is not None:
            self.add(t, pos, h, text, None, "cause")

    def on_timer(self, pos: int, t: float, h: str, timer: str) -> None:
        seg = self.sent_ahead(pos, h, t)
        if seg is not None and "RST" in seg.flags:
            seg = None  # the timer gave up: the RST is not a probe or a retransmission
        idx = None if seg is None else seg.index
        if timer == "rto":
            # RFC 5681 §3.2, RFC 6582: a timeout ends fast recovery; duplicate
            # ACKs counted before it do not make what follows a fast retransmit.
            self.dups[h], self.fast_done[h] = 0, True
            found = self.ahead(pos, h, t, "metrics_updated")
            rto = None if found is None else record_data(found[1]).get("rto")
            if isinstance(rto, (int, float)) and not isinstance(rto, bool):
                text = Text(
                    f"RTO fired, backoff to {secs(rto)} s",
                    f"超时重传：RTO 到期，退避到 {secs(rto)} 秒",
                )
            else:
                text = Text("RTO fired", "超时重传：RTO 到期")
            self.add(t, pos, h, text, idx, "rto")
        elif timer == "tlp":
            text = Text("tail loss probe (RFC 8985)", "尾部丢失探测 TLP（RFC 8985）")
            self.add(t, pos, h, text, idx, "tlp")
        elif timer == "persist" and seg is not None:
            if _num(self.metrics.get(h, {}).get("snd_wnd")) == 0:
                text = Text("zero-window probe", "零窗口探测")
                self.add(t, pos, h, text, idx, "window-probe")
            else:
                text = Text(
                    "persist timer: send into the small window (SWS override)",
                    "持续计时器到期：窗口虽小，也把能发的数据发出去",
                )
                self.add(t, pos, h, text, idx, "persist")
        elif timer == "keepalive" and seg is not None:
            self.add(t, pos, h, Text("keep-alive probe", "保活探测"), idx, "keepalive")
        else:
            return
        if idx is not None:
            self.explained.add(idx)

    def on_time_wait(self, pos: int, t: float, h: str, d: dict[str, Any]) -> None:
        at = d.get("at")
        if isinstance(at, bool) or not isinstance(at, (int, float)):
            return
        if self.tw_armed.get(h):
            last = self.last_recv.get(h)
            seg = last[1] if last is not None and last[0] == t else None
            text = Text(
                f"2 MSL restarted: TIME-WAIT until {secs(at)} s",
                f"2 MSL 重新计时：TIME-WAIT 持续到 {secs(at)} 秒",
            )
            self.add(t, pos, h, text, seg, "time-wait-restart")
        else:
            two_msl = at - t
            text = Text(
                f"TIME-WAIT: 2 MSL = {secs(two_msl)} s",
                f"TIME-WAIT：等待 2 MSL = {secs(two_msl)} 秒"
                f"（MSL 即最大报文段生存时间，{secs(two_msl / 2)} 秒）",
            )
            self.add(t, pos, h, text, None, "time-wait")
        self.tw_armed[h] = True

    def outstanding(self, h: str) -> bool:
        m = self.metrics.get(h, {})
        una, nxt = _num(m.get("snd_una")), _num(m.get("snd_nxt"))
        return una is not None and nxt is not None and seq_gt(nxt, una)

    def on_received(self, pos: int, t: float, h: str) -> None:
        seg = self.segment(pos)
        if seg is None:
            return
        self.last_recv[h] = (t, seg.index)
        if "ACK" not in seg.flags or seg.ack is None or "RST" in seg.flags:
            return
        prev = self.last_ack.get(h)
        pure = seg.length == 0 and not seg.flags & {"SYN", "FIN"}
        if prev is None or seq_gt(seg.ack, prev[0]):
            self.dups[h], self.fast_done[h] = 0, False
        elif seg.ack == prev[0] and pure and seg.window == prev[1] and self.outstanding(h):
            # RFC 5681 §2: same ACK, no data, no SYN/FIN, same window, data outstanding.
            n = self.dups.get(h, 0) + 1
            self.dups[h] = n
            text = Text(f"duplicate ACK {n}", f"第 {n} 个重复确认")
            self.add(t, pos, h, text, seg.index, "dup-ack")
        if prev is None or not seq_lt(seg.ack, prev[0]):
            self.last_ack[h] = (seg.ack, seg.window)

    def on_sent(self, pos: int, t: float, h: str) -> None:
        seg = self.segment(pos)
        if seg is None or seg.seq is None:
            return
        if self.challenge.get(h) == t and "ACK" in seg.flags and not seg.flags & {"RST", "SYN"}:
            del self.challenge[h]
            text = Text("challenge ACK (RFC 5961)", "挑战 ACK（RFC 5961）")
            self.add(t, pos, h, text, seg.index, "challenge-ack")
        span = (seg.length or 0) + len(seg.flags & {"SYN", "FIN"})
        if span <= 0 or "RST" in seg.flags:
            return
        end = (seg.seq + span) % 2**32
        hi = self.hi_sent.get(h)
        # A SYN,ACK repeating our own SYN's number is a simultaneous open
        # (RFC 9293 §3.5), not a retransmission.
        answer = seg.flags >= {"SYN", "ACK"} and self.syn_only.get(h) == seg.seq
        if "SYN" in seg.flags and "ACK" not in seg.flags:
            self.syn_only[h] = seg.seq
        again = hi is not None and seq_lt(seg.seq, hi)
        if again and seg.index not in self.explained and not answer:
            n = self.dups.get(h, 0)
            if n > 0 and not self.fast_done.get(h):
                self.fast_done[h] = True
                text = Text(
                    f"fast retransmit ({n} dup ACK{'s' if n > 1 else ''})",
                    f"快速重传（收到 {n} 个重复确认）",
                )
                self.add(t, pos, h, text, seg.index, "fast-retransmit")
            else:
                self.add(t, pos, h, Text("retransmission", "重传"), seg.index, "retransmission")
        if hi is None or seq_gt(end, hi):
            self.hi_sent[h] = end

    # -- rules over the segments ----------------------------------------------------

    def per_segment(self) -> None:
        segs = sorted(self.m.segments, key=lambda s: (s.time, s.order))
        # Each SYN or FIN once (its retransmissions carry the same number); a
        # new incarnation of the connection has new ones.
        acked: set[tuple[str, str, int]] = set()
        window: dict[str, int] = {}
        for s in segs:
            if s.seq is None:
                continue
            for flag in ("SYN", "FIN"):
                if flag in s.flags and (s.src, flag, s.seq) not in acked:
                    end = (s.seq + (s.length or 0) + 1 + (flag == "FIN" and "SYN" in s.flags))
                    self.first_ack_of(segs, s, flag, end % 2**32)
                    acked.add((s.src, flag, s.seq))
            if s.window is None or s.flags & {"RST", "SYN"}:
                continue
            before = window.get(s.src)
            t, host = s.time, _host_of(s)
            if s.window == 0 and before != 0:
                text = Text(
                    "window 0: the receiver is full; the sender stops and probes",
                    "零窗口：接收方的缓存满了，发送方暂停发送并定时探测",
                )
                self.add(t, s.order, host, text, s.index, "zero-window")
            elif s.window > 0 and before == 0:
                text = Text(
                    "window reopened: the sender may send again", "窗口重新打开：发送方可以继续发送"
                )
                self.add(t, s.order, host, text, s.index, "window-reopened")
            window[s.src] = s.window

    def first_ack_of(self, segs: list[SegmentView], s: SegmentView, flag: str, end: int) -> None:
        """Annotate the first segment from the peer that acknowledges ``s``'s SYN or FIN."""
        for a in segs:
            if a.src == s.src or "ACK" not in a.flags or a.ack != end or a.time < s.time:
                continue
            if flag == "SYN":
                text = Text(
                    "ack = x + 1: the SYN (seq x) consumes one sequence number",
                    "确认号 = x + 1：SYN（序列号 x）占用一个序列号",
                )
            elif s.length:
                text = Text(
                    "ack = FIN's seq + len + 1: the FIN consumes one sequence number",
                    "确认号 = FIN 的序列号 + 数据长度 + 1：FIN 也占用一个序列号",
                )
            else:
                text = Text(
                    "ack = FIN's seq + 1: the FIN consumes one sequence number",
                    "确认号 = FIN 的序列号 + 1：FIN 也占用一个序列号",
                )
            self.add(a.time, a.order, _host_of(a), text, a.index, f"{flag.lower()}-consumes")
            return


def annotate(model: LadderModel, records: Sequence[TraceRecord]) -> list[Annotation]:
    """The explanations of one run's steps, in time order.

    Args:
        model: the ladder model built from ``records`` by
            :func:`tcpstack.tools._model.build_model`.
        records: the same records, in the same order (the model refers to
            them by position).

    Returns:
        The annotations (see the module docstring for each ``kind``); never
        raises on odd or partial traces.
    """
    return _Annotator(model, records).run()
