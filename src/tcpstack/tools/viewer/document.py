"""The viewer's document: one connection of a trace as steps the page walks through.

:func:`build_document` reads trace records (docs/trace.md) and nothing else,
and returns one JSON-serialisable dict the page's script draws:

``steps``
    Every segment send, arrival, TCP drop and network loss, state change,
    timer expiry and application call of the connection, in trace order,
    each with a caption in English and Chinese. A timer set or stopped in
    the same instant by the host of the step before it, a ``metrics_updated``
    and a delivery to the receive buffer are not steps of their own: they
    are folded into that step (timer changes are listed as its ``effects``).
``tcbs``
    Each end's TCB after each step, stored once per distinct value: the
    state, SND.UNA, SND.NXT, SND.WND, RCV.NXT, RCV.WND, cwnd, ssthresh,
    srtt, rto (from the latest ``metrics_updated``; sequence numbers also
    relative to the ISNs), the running timers with their expiry (seconds
    on the trace's clock; ``prev`` when a running timer was re-armed) and
    the bytes delivered but not yet read. ``step.tcb`` is ``[left, right]``,
    indexes into ``tcbs``.
``segments``
    The segments of :func:`~tcpstack.tools._model.build_model`, with
    absolute and relative seq/ack, flags, window (and the window after
    scaling), options, ports and addresses, fate, retransmission flag, and
    the steps at which each was sent, arrived, was discarded or lost.
``transitions``
    :data:`tcpstack.state.RULES`, for the state diagram.
``series``
    For the time-sequence graph and the cwnd plot: data sent and ACKs
    received per direction, and cwnd/ssthresh per host over time.

Times are seconds; sizes bytes. Nothing here raises on odd or partial
traces (a host that never appears has an empty lifeline; an empty trace is
a document without steps).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpstack.state import RULES, Cause, State
from tcpstack.tools._model import (
    LadderModel,
    SegKey,
    SegmentView,
    build_model,
    conn_key,
    flags_text,
    list_connections,
    split_conn,
)
from tcpstack.tools.i18n import Text
from tcpstack.tools.viewer.adapt import run_annotations, segment_fate
from tcpstack.tools.viewer.words import CAPTIONS, CAUSES, REASONS, TIMERS
from tcpstack.trace import TraceRecord

__all__ = ["DOC_VERSION", "TCB_FIELDS", "About", "build_document", "text_json"]

DOC_VERSION = 1
TCB_FIELDS = ("snd_una", "snd_nxt", "snd_wnd", "rcv_nxt", "rcv_wnd", "cwnd", "ssthresh",
              "srtt", "rto")
"""The ``metrics_updated`` fields a TCB snapshot carries (docs/trace.md)."""

_SEQ_FIELDS = {"snd_una": "own", "snd_nxt": "own", "rcv_nxt": "peer"}
_MOD = 1 << 32
_SIDES = ("L", "R")


@dataclass(frozen=True)
class About:
    """What a run is, when the caller knows: the scenario and its options.

    Attributes:
        name: the scenario's name.
        summary, question, answer: its texts, in both languages (a plain
            string is English only; the page shows it in both modes).
        options: the options of the run (seed, loss, delay in seconds...).
    """

    name: str | None = None
    summary: Text | str | None = None
    question: Text | str | None = None
    answer: Text | str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def text_json(text: Text | str | None) -> dict[str, str] | None:
    """``{"en": ..., "zh": ...}`` for a :class:`Text`, ``{"en": s}`` for a plain string."""
    if text is None:
        return None
    if isinstance(text, Text):
        return text.to_dict()
    return {"en": str(text)}


def _num(value: Any) -> float | int | None:
    """A finite number from the trace, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    """A trace value made safe for JSON: non-finite floats become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _round(t: float) -> float:
    return round(t, 9)


def _endpoint(addr: str) -> tuple[str, int | None]:
    """``"192.0.2.1:80"`` -> ``("192.0.2.1", 80)``; ``"[2001:db8::1]:80"`` -> ``("2001:db8::1",
    80)``; no port: ``(addr, None)``."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, int(port) if port.isdigit() else None


def _record_key(r: TraceRecord) -> SegKey:
    d = r.data

    def integer(v: Any) -> int | None:
        n = _num(v)
        return int(n) if n is not None and float(n).is_integer() else None

    flags = d.get("flags")
    fl = frozenset(str(f).upper() for f in flags) if isinstance(flags, list | tuple) else None
    return (integer(d.get("seq")), integer(d.get("ack")), fl or frozenset(), integer(d.get("len")))


class _Tcb:
    """One end's TCB as the trace shows it so far."""

    def __init__(self, state: str | None) -> None:
        self.reset(state)

    def reset(self, state: str | None) -> None:
        """Forget everything (a new TCB, or a host that restarted)."""
        self.state = state
        self.vars: dict[str, Any] = dict.fromkeys(TCB_FIELDS)
        self.timers: dict[str, dict[str, float | None]] = {}
        self.unread = 0
        self.peer_syn = False  # RCV.NXT means something once the peer's SYN arrived

    def snapshot(self, own_isn: int | None, peer_isn: int | None) -> dict[str, Any]:
        snap: dict[str, Any] = {"state": self.state}
        for name in TCB_FIELDS:
            snap[name] = self.vars[name]
        for name, whose in _SEQ_FIELDS.items():
            value = self.vars[name]
            base = own_isn if whose == "own" else peer_isn
            known = whose == "own" or self.peer_syn
            rel = None
            if isinstance(value, int) and base is not None and known:
                rel = (value - base) % _MOD
            snap[name + "_rel"] = rel
        snap["timers"] = [
            {"timer": name, **entry} for name, entry in sorted(self.timers.items())
        ]
        snap["unread"] = self.unread
        return snap


def _app_call_text(data: Mapping[str, Any]) -> str:
    call = str(data.get("call", "?"))
    if call == "send":
        return f"write({data.get('bytes', '?')})"
    if call == "shutdown":
        return "shutdown(WR)"
    if call == "read":
        return f"read() → {data.get('bytes', '?')}"
    return f"{call}()"


class _Builder:
    def __init__(
        self,
        records: Sequence[TraceRecord],
        model: LadderModel,
        about: About | None,
    ) -> None:
        self.records = records
        self.m = model
        self.about = about
        self.side = {model.left: "L", model.right: "R"}
        self.steps: list[dict[str, Any]] = []
        self.tcbs: list[dict[str, Any]] = []
        self._last_snap: dict[str, int] = {}
        self.step_of_record: dict[int, int] = {}
        self.seg_steps: dict[int, dict[str, int]] = {}
        key = conn_key(model.conn) if model.conn else None
        self.key = key
        self.addr = {model.left: model.left_addr, model.right: model.right_addr}
        self.tcb = {h: _Tcb(self._initial_state(h)) for h in (model.left, model.right)}
        self._segs = self._segment_lookup()
        self.retransmits: dict[int, bool] = {}
        self._arrived: dict[tuple[str, float, SegKey], int] = {}
        self.tcp_drops: dict[int, str] = {}  # segment -> reason: arrived, then discarded

    # -- which records ----------------------------------------------------------

    def relevant(self, r: TraceRecord) -> bool:
        if r.host not in self.side:
            return False
        if not r.conn or self.key is None:
            return True
        if conn_key(r.conn) == self.key:
            return True
        parts = split_conn(r.conn)  # the host's listener: "addr:port-*" (or "-0.0.0.0:0")
        if parts is None or parts[0] != self.addr[r.host]:
            return False
        return "*" in parts[1] or parts[1].endswith(":0")

    def _initial_state(self, host: str) -> str | None:
        if host not in self.m.traced:
            return None
        for r in self.records:
            if r.host != host or not self.relevant(r):
                continue
            if r.event == "app" and r.data.get("call") in ("listen", "connect"):
                return "CLOSED"
            if r.event == "state_updated":
                return _code(r.data.get("old"), "CLOSED")
        return "CLOSED"

    # -- segments -----------------------------------------------------------------

    def _segment_lookup(self) -> dict[tuple[str, str, float, SegKey], deque[int]]:
        table: dict[tuple[str, str, float, SegKey], deque[int]] = {}

        def add(host: str, role: str, t: float | None, seg: SegmentView) -> None:
            if t is not None:
                table.setdefault((host, role, _round(t), seg.key), deque()).append(seg.index)

        for seg in self.m.segments:
            add(seg.src, "sent", seg.send_time, seg)
            add(seg.dst, "received", seg.recv_time, seg)
            if seg.status == "lost":
                add(seg.src, "dropped", seg.drop_time, seg)
            elif seg.status == "dropped":
                add(seg.dst, "dropped", seg.drop_time, seg)
        return table

    def _segment_of(self, r: TraceRecord) -> int | None:
        role = {"segment_sent": "sent", "segment_received": "received"}.get(r.event, "dropped")
        q = self._segs.get((r.host, role, _round(r.time), _record_key(r)))
        return q.popleft() if q else None

    def _label(self, index: int) -> str:
        return " ".join(self.m.segments[index].label_parts(False, window=False, options=False))

    # -- steps ----------------------------------------------------------------------

    def _caption(self, key: str, **values: object) -> Text:
        return CAPTIONS[key].format(**values)

    def _finish_step(self) -> None:
        if not self.steps:
            return
        step = self.steps[-1]
        refs = []
        for host in (self.m.left, self.m.right):
            peer = self.m.right if host == self.m.left else self.m.left
            snap = self.tcb[host].snapshot(self.m.isn.get(host), self.m.isn.get(peer))
            last = self._last_snap.get(host)
            if last is None or self.tcbs[last] != snap:
                self.tcbs.append(snap)
                last = len(self.tcbs) - 1
                self._last_snap[host] = last
            refs.append(last)
        step["tcb"] = refs

    def _step(self, r: TraceRecord, kind: str, text: Text, **extra: Any) -> dict[str, Any]:
        self._finish_step()
        step: dict[str, Any] = {
            "i": len(self.steps),
            "t": _round(r.time),
            "host": r.host,
            "side": self.side[r.host],
            "kind": kind,
            "seg": None,
            "text": text.to_dict(),
            "effects": [],
            "notes": [],
            **extra,
        }
        self.steps.append(step)
        return step

    def _same_instant(self, r: TraceRecord) -> dict[str, Any] | None:
        """The last step, if ``r`` is its host's consequence in the same instant."""
        last = self.steps[-1] if self.steps else None
        if last is not None and last["host"] == r.host and last["t"] == _round(r.time):
            return last
        return None

    def build_steps(self) -> None:
        for n, r in enumerate(self.records):
            if not self.relevant(r):
                continue
            handler = getattr(self, "_on_" + r.event, None)
            if handler is not None:
                handler(r)
            if self.steps:
                self.step_of_record[n] = len(self.steps) - 1
        self._finish_step()

    def _on_metrics_updated(self, r: TraceRecord) -> None:
        tcb = self.tcb[r.host]
        for name in TCB_FIELDS:
            if name in r.data:
                tcb.vars[name] = _num(r.data[name])

    def _on_segment_sent(self, r: TraceRecord) -> None:
        index = self._segment_of(r)
        host = r.host
        label = self._label(index) if index is not None else flags_text(_record_key(r)[2])
        retx = index is not None and self.retransmits.get(index, False)
        step = self._step(r, "send", self._caption("send_retx" if retx else "send", host=host,
                                                   seg=label))
        self._attach(step, index, "sent")

    def _on_segment_received(self, r: TraceRecord) -> None:
        index = self._segment_of(r)
        label = self._label(index) if index is not None else flags_text(_record_key(r)[2])
        step = self._step(r, "arrive", self._caption("arrive", host=r.host, seg=label))
        self._attach(step, index, "arrived")
        if index is not None:
            self._arrived[(r.host, _round(r.time), _record_key(r))] = index
        if "SYN" in _record_key(r)[2]:
            self.tcb[r.host].peer_syn = True

    def _on_segment_dropped(self, r: TraceRecord) -> None:
        reason = _code(r.data.get("reason"), "dropped")
        explained = REASONS.get(reason)
        why = (Text(f"{reason} ({explained.en})", f"{reason}（{explained.zh}）") if explained
               else Text(reason, reason))
        index = self._segment_of(r)
        to = r.data.get("to")
        in_network = reason == "lost-in-network" or (isinstance(to, str) and to != r.host)
        if index is None and not in_network:
            # Discarded by TCP after its arrival (traced as received, then dropped).
            index = self._arrived.get((r.host, _round(r.time), _record_key(r)))
            if index is not None:
                self.tcp_drops.setdefault(index, reason)
        if index is None:
            self._step(r, "drop", _fill(CAPTIONS["host_drop"], why, host=r.host), reason=reason)
            return
        lost = self.m.segments[index].status == "lost"
        caption = CAPTIONS["lost" if lost else "tcp_drop"]
        step = self._step(r, "lost" if lost else "drop",
                          _fill(caption, why, host=r.host, seg=self._label(index)),
                          reason=reason)
        self._attach(step, index, "lost" if lost else "dropped")

    def _attach(self, step: dict[str, Any], index: int | None, role: str) -> None:
        step["seg"] = index
        if index is not None:
            self.seg_steps.setdefault(index, {}).setdefault(role, step["i"])

    def _on_state_updated(self, r: TraceRecord) -> None:
        old, new = _code(r.data.get("old"), "?"), _code(r.data.get("new"), "?")
        cause = _code(r.data.get("cause"), "?")
        said = CAUSES.get(cause) or Text(cause, cause)
        self._step(r, "state", _fill(CAPTIONS["state"], said, "cause", host=r.host, old=old,
                                     new=new),
                   old=old, new=new, cause=cause, rule=_rule(old, new, cause))
        self.tcb[r.host].state = new

    def _timer_words(self, r: TraceRecord) -> tuple[str, Text]:
        name = _code(r.data.get("timer"), "timer")
        return name, TIMERS.get(name) or Text(f"{name} timer", f"{name} 定时器")

    def _on_timer_fired(self, r: TraceRecord) -> None:
        name, words = self._timer_words(r)
        self._step(r, "timer", _fill(CAPTIONS["timer_fired"], words, "timer", host=r.host),
                   timer=name, action="fired")
        self.tcb[r.host].timers.pop(name, None)

    def _on_timer_set(self, r: TraceRecord) -> None:
        name, words = self._timer_words(r)
        at = _num(r.data.get("at"))
        timers = self.tcb[r.host].timers
        prev = timers[name]["at"] if name in timers else None
        caption = CAPTIONS["timer_restarted" if prev is not None else "timer_set"]
        said = _fill(caption, words, "timer", host=r.host, at=_fmt(at), prev=_fmt(prev))
        self._effect(r, said, timer=name, action="restarted" if prev is not None else "set",
                     at=at, prev=prev)
        timers[name] = {"at": at, "set": _round(r.time), "prev": prev}

    def _on_timer_cancelled(self, r: TraceRecord) -> None:
        name, words = self._timer_words(r)
        said = _fill(CAPTIONS["timer_cancelled"], words, "timer", host=r.host)
        self._effect(r, said, timer=name, action="cancelled")
        self.tcb[r.host].timers.pop(name, None)

    def _effect(self, r: TraceRecord, said: Text, **info: Any) -> None:
        step = self._same_instant(r)
        if step is None:
            self._step(r, "timer", said, **info)
        else:
            step["effects"].append({"text": said.to_dict(), **info})

    def _on_app(self, r: TraceRecord) -> None:
        # A step is made before the TCB changes: the step before keeps its own TCB.
        d = r.data
        tcb = self.tcb[r.host]
        if "delivered" in d:  # folded into the current step
            tcb.unread += int(_num(d.get("delivered")) or 0)
            return
        call = str(d.get("call", ""))
        label = _app_call_text(d)
        if call == "restart":
            self._step(r, "restart", self._caption("restart", host=r.host), call=call)
            tcb.reset("CLOSED")
        elif call == "read":
            n = int(_num(d.get("bytes")) or 0)
            key = "read_eof" if d.get("eof") else "read"
            self._step(r, "call", self._caption(key, host=r.host, n=n), call=call, label=label)
            tcb.unread = max(0, tcb.unread - n)
        elif call == "accept":
            self._step(r, "call", self._caption("accept", host=r.host), call=call, label=label)
        else:
            self._step(r, "call", self._caption("call", host=r.host, call=label), call=call,
                       label=label)
            if call == "listen":
                tcb.state = "LISTEN"

    # -- segments' extra fields ----------------------------------------------------------

    def find_retransmissions(self) -> None:
        """A segment that carries sequence space its sender had already sent."""
        base: dict[str, int] = {}
        high: dict[str, int] = {}
        syns: dict[str, set[int]] = {}
        for seg in sorted(self.m.segments, key=lambda s: (s.time, s.order)):
            if seg.seq is None or seg.send_time is None:
                continue
            src = seg.src
            if "SYN" in seg.flags:
                seen = syns.setdefault(src, set())
                self.retransmits[seg.index] = seg.seq in seen
                if seg.seq not in seen:  # a new incarnation starts its own sequence space
                    seen.add(seg.seq)
                    base[src], high[src] = seg.seq, 0
            base.setdefault(src, seg.seq)
            off = (seg.seq - base[src]) % _MOD
            space = (seg.length or 0) + ("SYN" in seg.flags) + ("FIN" in seg.flags)
            if space and "SYN" not in seg.flags:
                self.retransmits[seg.index] = off < high.get(src, 0)
            high[src] = max(high.get(src, 0), off + space)

    def window_shift(self) -> dict[str, int]:
        """Each sender's window scale (RFC 7323 §2.3): only if both SYNs carried one."""
        shifts: dict[str, int] = {}
        for seg in self.m.segments:
            if "SYN" in seg.flags and seg.src not in shifts:
                ws = _num(seg.options.get("wscale"))
                shifts[seg.src] = int(ws) if ws is not None else -1
        if len(shifts) == 2 and all(v >= 0 for v in shifts.values()):
            return shifts
        return {}

    def _sack_rel(self, seg: SegmentView) -> list[list[int]] | None:
        """SACK blocks relative to the ISN of the data they acknowledge (the receiver's)."""
        blocks = seg.options.get("sack")
        base = self.m.isn.get(seg.dst)
        if not isinstance(blocks, list) or base is None:
            return None
        out = []
        for block in blocks:
            if (isinstance(block, list | tuple) and len(block) == 2
                    and all(_num(v) is not None for v in block)):
                out.append([(int(block[0]) - base) % _MOD, (int(block[1]) - base) % _MOD])
        return out

    def segments_json(self) -> list[dict[str, Any]]:
        shifts = self.window_shift()
        out = []
        for seg in self.m.segments:
            src_ip, src_port = _endpoint(self.addr.get(seg.src, ""))
            dst_ip, dst_port = _endpoint(self.addr.get(seg.dst, ""))
            space = (seg.length or 0) + ("SYN" in seg.flags) + ("FIN" in seg.flags)
            scaled = None
            if seg.window is not None:
                shift = 0 if "SYN" in seg.flags else shifts.get(seg.src, 0)
                scaled = seg.window << shift
            steps = self.seg_steps.get(seg.index, {})
            out.append({
                "i": seg.index,
                "src": seg.src,
                "dst": seg.dst,
                "side": self.side.get(seg.src, "L"),
                "src_ip": src_ip, "src_port": src_port,
                "dst_ip": dst_ip, "dst_port": dst_port,
                "seq": seg.seq, "ack": seg.ack,
                "rel_seq": seg.rel_seq, "rel_ack": seg.rel_ack,
                "next_rel_seq": None if seg.rel_seq is None else (seg.rel_seq + space) % _MOD,
                "flags": [f for f in flags_text(seg.flags).split(",") if f != "none"],
                "len": seg.length,
                "window": seg.window,
                "window_scaled": scaled,
                "window_shift": shifts.get(seg.src) if "SYN" not in seg.flags else None,
                "options": _clean(seg.options),
                "sack_rel": self._sack_rel(seg),
                "category": seg.category,
                "label_rel": " ".join(seg.label_parts(False, options=False)),
                "label_abs": " ".join(seg.label_parts(True, options=False)),
                "sent": seg.send_time, "received": seg.recv_time, "dropped": seg.drop_time,
                "drop_reason": seg.drop_reason or self.tcp_drops.get(seg.index),
                "fate": segment_fate(seg, dropped_by_tcp=seg.index in self.tcp_drops),
                "status": seg.status,
                "retransmission": self.retransmits.get(seg.index, False),
                "step_sent": steps.get("sent"),
                "step_arrived": steps.get("arrived"),
                "step_dropped": steps.get("dropped"),
                "step_lost": steps.get("lost"),
            })
        return out

    # -- explanations ----------------------------------------------------------------------

    def attach_notes(self) -> None:
        for note in run_annotations(self.m, self.records):
            target = self._note_step(note.host, note.time, note.segment)
            if target is not None:
                self.steps[target]["notes"].append({"kind": note.kind,
                                                    "text": note.text.to_dict()})

    def _note_step(self, host: str, t: float, segment: int | None) -> int | None:
        if segment is not None:
            mine = [s for s in self.steps if s["seg"] == segment and s["host"] == host]
            if mine:
                return int(min(mine, key=lambda s: abs(s["t"] - t))["i"])
        before = [s for s in self.steps if s["host"] == host and s["t"] <= t + 1e-9]
        if before:
            return int(before[-1]["i"])
        after = [s for s in self.steps if s["t"] >= t]
        return int(after[0]["i"]) if after else None

    # -- series for the plots ------------------------------------------------------------------

    def series(self, segments: list[dict[str, Any]]) -> dict[str, Any]:
        has_data = any((s["len"] or 0) > 0 for s in segments)
        tsg: dict[str, Any] = {}
        for side, host in (("L", self.m.left), ("R", self.m.right)):
            data = [[s["sent"], s["rel_seq"], s["len"], s["retransmission"], s["fate"]]
                    for s in segments
                    if s["src"] == host and (s["len"] or 0) > 0 and s["sent"] is not None
                    and s["rel_seq"] is not None]
            acks = [[s["received"], s["rel_ack"],
                     None if s["window_scaled"] is None else s["rel_ack"] + s["window_scaled"]]
                    for s in segments
                    if s["dst"] == host and "ACK" in s["flags"] and s["received"] is not None
                    and s["rel_ack"] is not None]
            tsg[side] = {"data": data, "acks": acks,
                         "bytes": sum(int(d[2]) for d in data)}
        cwnd: dict[str, list[list[Any]]] = {"L": [], "R": []}
        for r in self.records:
            if r.event == "metrics_updated" and self.relevant(r) and r.conn:
                point = [_round(r.time), _num(r.data.get("cwnd")), _num(r.data.get("ssthresh"))]
                series = cwnd[self.side[r.host]]
                if not series or series[-1][1:] != point[1:]:
                    series.append(point)
        return {"has_data": has_data, "tsg": tsg, "cwnd": cwnd}

    # -- marks the steps do not draw -------------------------------------------------------------

    def extra_marks(self) -> list[dict[str, Any]]:
        drawn = {"state", "note", "drop", "call"}
        out = []
        for mark in self.m.marks:
            if mark.kind in drawn or mark.host not in self.side:
                continue
            step = self.step_of_record.get(mark.order)
            out.append({"side": self.side[mark.host], "kind": mark.kind, "text": mark.text,
                        "t": _round(mark.time), "step": step})
        return out


def _fill(template: Text, words: Text, name: str = "reason", **values: object) -> Text:
    """``template`` with ``values`` and, under ``name``, ``words`` in the same language."""
    return Text(template.en.format(**{name: words.en}, **values),
                template.zh.format(**{name: words.zh}, **values))


def _rule(old: str, new: str, cause: str) -> str | None:
    """The RFC rule of ``RULES`` for a traced transition, None if not in the table."""
    try:
        return RULES.get((State(old), State(new), Cause(cause)))
    except ValueError:
        return None


def _code(value: object, default: str) -> str:
    """A code from the trace (a reason, a cause, a state) as text; ``default`` if missing."""
    text = str(value).strip() if value is not None else ""
    return text or default


def _fmt(t: float | int | None) -> str:
    return "?" if t is None else f"{t:.3f}"


def _host_json(model: LadderModel, host: str) -> dict[str, Any]:
    addr = model.left_addr if host == model.left else model.right_addr
    ip, port = _endpoint(addr)
    return {"name": host, "addr": addr, "ip": ip, "port": port,
            "traced": host in model.traced, "isn": model.isn.get(host)}


def transitions_json() -> list[dict[str, str]]:
    """:data:`tcpstack.state.RULES` as ``[{"old", "new", "cause", "rule"}]`` (RFC spelling)."""
    return [{"old": str(old), "new": str(new), "cause": str(cause), "rule": rule}
            for (old, new, cause), rule in RULES.items()]


def build_document(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    conn: str | None = None,
    title: str | None = None,
    about: About | None = None,
    absolute: bool = False,
    gap: float = 1.0,
) -> dict[str, Any]:
    """The viewer's document for one connection of ``records`` (see the module doc).

    Args:
        records: trace records in trace order (times in seconds).
        left, right, conn: which hosts and connection, as for
            :func:`tcpstack.tools._model.build_model` (default: the client
            on the left, the connection with the most segment records).
        title: shown at the top of the page.
        about: the scenario and options of the run, when known.
        absolute: show wire sequence numbers first (the page can switch).
        gap: idle seconds from which the ladder marks a cut.

    Returns:
        A JSON-serialisable dict (``version``, ``title``, ``about``,
        ``hosts``, ``steps``, ``tcbs``, ``segments``, ``marks``,
        ``transitions``, ``states``, ``series``, ``connections``...).

    Raises:
        ValueError: ``conn`` is not in the trace, or ``left``/``right`` is
            not one of its hosts (bad input from the caller; odd traces
            never raise).
    """
    recs = list(records)
    model = build_model(recs, left=left, right=right, conn=conn)
    b = _Builder(recs, model, about)
    b.find_retransmissions()
    b.build_steps()
    b.attach_notes()
    segments = b.segments_json()
    end = max((s["t"] for s in b.steps), default=0.0)
    doc: dict[str, Any] = {
        "version": DOC_VERSION,
        "title": title or (about.name if about and about.name else None) or "TCP connection",
        "about": None if about is None else {
            "name": about.name,
            "summary": text_json(about.summary),
            "question": text_json(about.question),
            "answer": text_json(about.answer),
            "options": _clean(dict(about.options)),
        },
        "conn": model.conn,
        "connections": [{"conn": c, "segments": n}
                        for c, n in sorted(list_connections(recs), key=lambda cn: -cn[1])],
        "absolute": absolute,
        "gap": gap,
        "hosts": {"L": _host_json(model, model.left), "R": _host_json(model, model.right)},
        "steps": b.steps,
        "tcbs": b.tcbs,
        "segments": segments,
        "marks": b.extra_marks(),
        "transitions": transitions_json(),
        "states": [str(s) for s in State],
        "series": b.series(segments),
        "end": end,
        "decimals": model.decimals,
    }
    return doc
