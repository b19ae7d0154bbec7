"""The steps of a connection: what the viewer's page walks through, one at a time.

:class:`StepBuilder` reads the records of one connection in trace order.
Every segment send, arrival, TCP drop and network loss, state change, timer
expiry and application call becomes a step with a caption in English and
Chinese (:data:`tcpstack.tools.viewer.words.CAPTIONS`). A timer set or
stopped in the same instant by the host of the step before it, a
``metrics_updated`` and a delivery to the receive buffer are not steps of
their own: they are folded into the step before them (timer changes are
listed as its ``effects``). A step is made before the TCB changes that its
record causes, so the TCB snapshot of each step (taken when the next step
starts) is the TCB at the end of that step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from tcpstack.state import RULES, Cause, State
from tcpstack.tools._model import (
    LadderModel,
    SegKey,
    SegmentView,
    conn_key,
    flags_text,
    split_conn,
)
from tcpstack.tools.annotate import annotate
from tcpstack.tools.i18n import Text
from tcpstack.tools.reasons import DROP_REASONS, is_network_reason
from tcpstack.tools.viewer.segments import record_key
from tcpstack.tools.viewer.tcb import TCB_FIELDS, TcbTracker
from tcpstack.tools.viewer.values import code, fmt_secs, num, round_time
from tcpstack.tools.viewer.words import CAPTIONS, CAUSES, TIMERS
from tcpstack.trace import TraceRecord

__all__ = ["StepBuilder"]


class StepBuilder:
    """Walks the records of one connection and makes its steps (see the module doc).

    After :meth:`build`: ``steps``, ``tcbs`` (the distinct TCB snapshots
    the steps point at), ``seg_steps`` (segment index -> the steps at which
    it was sent, arrived, was discarded or lost) and
    ``step_of_record`` (record index -> the step it belongs to).
    """

    def __init__(
        self,
        records: Sequence[TraceRecord],
        model: LadderModel,
        retransmits: Mapping[int, bool],
    ) -> None:
        self.records = records
        self.m = model
        self.retransmits = retransmits
        self.side = {model.left: "L", model.right: "R"}
        self.steps: list[dict[str, Any]] = []
        self.tcbs: list[dict[str, Any]] = []
        self._last_snap: dict[str, int] = {}
        self.step_of_record: dict[int, int] = {}
        self.seg_steps: dict[int, dict[str, int]] = {}
        key = conn_key(model.conn) if model.conn else None
        self.key = key
        self.addr = {model.left: model.left_addr, model.right: model.right_addr}
        self.tcb = {h: TcbTracker(self._initial_state(h)) for h in (model.left, model.right)}
        self._segs = self._segment_lookup()
        self._arrived: dict[tuple[str, float, SegKey], int] = {}

    # -- which records ----------------------------------------------------------

    def relevant(self, r: TraceRecord) -> bool:
        """True for the records of the connection: its hosts' records on its 4-tuple,
        their host-level records (conn ``""``) and the listener they opened."""
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
                return code(r.data.get("old"), "CLOSED")
        return "CLOSED"

    # -- segments -----------------------------------------------------------------

    def _segment_lookup(self) -> dict[tuple[str, str, float, SegKey], deque[int]]:
        table: dict[tuple[str, str, float, SegKey], deque[int]] = {}

        def add(host: str, role: str, t: float | None, seg: SegmentView) -> None:
            if t is not None:
                table.setdefault((host, role, round_time(t), seg.key), deque()).append(seg.index)

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
        q = self._segs.get((r.host, role, round_time(r.time), record_key(r)))
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
            "t": round_time(r.time),
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
        if last is not None and last["host"] == r.host and last["t"] == round_time(r.time):
            return last
        return None

    def build(self) -> None:
        """Walk the records, then place the annotations on their steps."""
        self._walk()
        self._attach_notes()

    def _walk(self) -> None:
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
                tcb.vars[name] = num(r.data[name])

    def _on_segment_sent(self, r: TraceRecord) -> None:
        index = self._segment_of(r)
        host = r.host
        label = self._label(index) if index is not None else flags_text(record_key(r)[2])
        retx = index is not None and self.retransmits.get(index, False)
        step = self._step(r, "send", self._caption("send_retx" if retx else "send", host=host,
                                                   seg=label))
        self._attach(step, index, "sent")

    def _on_segment_received(self, r: TraceRecord) -> None:
        index = self._segment_of(r)
        label = self._label(index) if index is not None else flags_text(record_key(r)[2])
        step = self._step(r, "arrive", self._caption("arrive", host=r.host, seg=label))
        self._attach(step, index, "arrived")
        if index is not None:
            self._arrived[(r.host, round_time(r.time), record_key(r))] = index
        if "SYN" in record_key(r)[2]:
            self.tcb[r.host].peer_syn = True

    def _on_segment_dropped(self, r: TraceRecord) -> None:
        reason = code(r.data.get("reason"), "dropped")
        explained = DROP_REASONS.get(reason)
        why = (Text(f"{reason} ({explained.en})", f"{reason}（{explained.zh}）") if explained
               else Text(reason, reason))
        index = self._segment_of(r)
        to = r.data.get("to")
        in_network = is_network_reason(reason) or (isinstance(to, str) and to != r.host)
        if index is None and not in_network:
            # Discarded by TCP after its arrival (traced as received, then dropped).
            index = self._arrived.get((r.host, round_time(r.time), record_key(r)))
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
        old, new = code(r.data.get("old"), "?"), code(r.data.get("new"), "?")
        cause = code(r.data.get("cause"), "?")
        said = CAUSES.get(cause) or Text(cause, cause)
        self._step(r, "state", _fill(CAPTIONS["state"], said, "cause", host=r.host, old=old,
                                     new=new),
                   old=old, new=new, cause=cause, rule=_rule(old, new, cause))
        self.tcb[r.host].state = new

    def _timer_words(self, r: TraceRecord) -> tuple[str, Text]:
        name = code(r.data.get("timer"), "timer")
        return name, TIMERS.get(name) or Text(f"{name} timer", f"{name} 定时器")

    def _on_timer_fired(self, r: TraceRecord) -> None:
        name, words = self._timer_words(r)
        self._step(r, "timer", _fill(CAPTIONS["timer_fired"], words, "timer", host=r.host),
                   timer=name, action="fired")
        self.tcb[r.host].timers.pop(name, None)

    def _on_timer_set(self, r: TraceRecord) -> None:
        name, words = self._timer_words(r)
        at = num(r.data.get("at"))
        timers = self.tcb[r.host].timers
        prev = timers[name]["at"] if name in timers else None
        caption = CAPTIONS["timer_restarted" if prev is not None else "timer_set"]
        said = _fill(caption, words, "timer", host=r.host, at=fmt_secs(at), prev=fmt_secs(prev))
        self._effect(r, said, timer=name, action="restarted" if prev is not None else "set",
                     at=at, prev=prev)
        timers[name] = {"at": at, "set": round_time(r.time), "prev": prev}

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
            tcb.unread += int(num(d.get("delivered")) or 0)
            return
        call = str(d.get("call", ""))
        label = _app_call_text(d)
        if call == "restart":
            self._step(r, "restart", self._caption("restart", host=r.host), call=call)
            tcb.reset("CLOSED")
        elif call == "read":
            n = int(num(d.get("bytes")) or 0)
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

    # -- explanations ----------------------------------------------------------------------

    def _attach_notes(self) -> None:
        for note in annotate(self.m, self.records):
            target = self._note_step(note.host, note.time, note.segment)
            if target is not None:
                self.steps[target]["notes"].append({"kind": note.kind,
                                                    "text": note.text.to_dict()})

    def _note_step(self, host: str, t: float, segment: int | None) -> int | None:
        """The step a note is about: its segment's at its host, else its host's at its time."""
        if segment is not None:
            mine = [s for s in self.steps if s["seg"] == segment and s["host"] == host]
            if mine:
                return int(min(mine, key=lambda s: abs(s["t"] - t))["i"])
        before = [s for s in self.steps if s["host"] == host and s["t"] <= t + 1e-9]
        if before:
            return int(before[-1]["i"])
        after = [s for s in self.steps if s["t"] >= t]
        return int(after[0]["i"]) if after else None


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


def _app_call_text(data: Mapping[str, Any]) -> str:
    """An application call as the ladder writes it: ``write(18)``, ``read() → 44``."""
    call = str(data.get("call", "?"))
    if call == "send":
        return f"write({data.get('bytes', '?')})"
    if call == "shutdown":
        return "shutdown(WR)"
    if call == "read":
        return f"read() → {data.get('bytes', '?')}"
    return f"{call}()"
