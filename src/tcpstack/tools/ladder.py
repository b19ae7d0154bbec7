"""The ladder (sequence) diagram of one connection, drawn in the terminal with ``rich``.

::

    time (s)                client │                                │ server
                   192.0.2.1:40000 │                                │ 192.0.2.2:80
    0.000 → 0.010         SYN-SENT │── SYN seq=0 len=0 win=65535 ──▶│
    0.010 → 0.020                  │◀─ SYN,ACK seq=0 ack=1 len=0 ───│ SYN-RECEIVED

The client (the host that sent the first SYN without ACK) is on the left.
Each row is one segment: an arrow in its direction, labelled with flags,
``seq``, ``ack``, ``len`` and ``win`` relative to each side's ISN (like
Wireshark) unless ``absolute``; the time column shows ``send → arrival``
(seconds). State changes stand in the column of their host at their time.
Lost segments end in ``✕ lost``; idle gaps of ``gap`` seconds or more are a
``⋮ N s later`` line. Colours (SYN green, FIN blue, RST red, data yellow)
only add to what the text already says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from tcpstack.tools._model import LadderModel, Mark, SegmentView, build_model
from tcpstack.trace import TraceRecord

__all__ = ["LadderDiagram", "print_ladder", "render_ladder"]

SEGMENT_STYLES = {
    "syn": "green",
    "fin": "blue",
    "rst": "bold red",
    "data": "yellow",
    "ack": "",
}
MARK_STYLES = {"state": "bold cyan", "note": "magenta", "drop": "bold red"}
LOST_STYLE = "bold red"
MIN_WIDTH = 60
MAX_WIDTH = 120
#: The arrow region is never narrower than this (wider consoles get more).
MIN_REGION = 24
#: State columns are at most this wide; longer notes get a row of their own
#: and are written inside the arrow region, next to their host's lifeline.
MAX_CELL = 14


@dataclass
class _Row:
    time: float
    seg: SegmentView | None = None
    cells: dict[str, Mark] = field(default_factory=dict)
    gap: float | None = None


def _has_long(row: _Row) -> bool:
    return any(len(mk.text) > MAX_CELL for mk in row.cells.values())


def _rows(model: LadderModel, gap: float) -> list[_Row]:
    """Segments and marks in time order; marks share a segment's row when they can."""
    items: list[tuple[float, int, int, SegmentView | Mark]] = []
    for seg in model.segments:
        items.append((seg.time, seg.order, 0, seg))
    for mark in model.marks:
        items.append((mark.time, mark.order, 1, mark))
    items.sort(key=lambda it: (it[0], it[1], it[2]))
    rows: list[_Row] = []
    last_time: float | None = None
    for t, _, _, item in items:
        if last_time is not None and t - last_time >= gap:
            rows.append(_Row(time=t, gap=t - last_time))
        prev = rows[-1] if rows and rows[-1].gap is None else None
        same = prev is not None and abs(prev.time - t) < 1e-9
        if isinstance(item, SegmentView):
            if prev is not None and same and prev.seg is None and not _has_long(prev):
                prev.seg = item
            else:
                rows.append(_Row(time=t, seg=item))
            for ts in (item.send_time, item.recv_time, item.drop_time):
                if ts is not None:
                    last_time = ts if last_time is None else max(last_time, ts)
        else:
            side = model.side(item.host)
            fits = len(item.text) <= MAX_CELL or (prev is not None and prev.seg is None)
            if prev is not None and same and side not in prev.cells and fits:
                prev.cells[side] = item
            else:
                rows.append(_Row(time=t, cells={side: item}))
            last_time = t if last_time is None else max(last_time, t)
    return rows


def _time_text(model: LadderModel, seg: SegmentView) -> str:
    f = model.fmt_time
    if seg.status == "lost":
        return f"{f(seg.send_time)} → ✕"
    if seg.status == "unmatched":
        return f"{f(seg.send_time)} → ?"
    if seg.status == "one-sided":
        return f(seg.send_time) if seg.send_time is not None else f"→ {f(seg.recv_time)}"
    return f"{f(seg.send_time)} → {f(seg.recv_time)}"


class LadderDiagram:
    """A rich renderable: the ladder of one connection, laid out for the console width.

    Built by :func:`render_ladder`; pass it to ``Console.print``.
    """

    def __init__(
        self,
        model: LadderModel,
        *,
        absolute: bool = False,
        title: str | None = None,
        gap: float = 1.0,
    ) -> None:
        self.model = model
        self.absolute = absolute
        self.title = title
        self.gap = gap

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(MIN_WIDTH, options.max_width), options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    # -- layout ---------------------------------------------------------------

    def lines(self, width: int) -> list[Text]:
        """The diagram as lines of at most ``max(width, 60)`` cells (capped at 120)."""
        m = self.model
        width = max(MIN_WIDTH, min(width, MAX_WIDTH))
        rows = _rows(m, self.gap)
        out: list[Text] = []
        if self.title:
            out.append(Text(self.title, style="bold", no_wrap=True, overflow="ellipsis"))
        if not m.segments and not m.marks:
            out.append(Text("(no segments in the trace)", style="dim"))
            return out

        times = [_time_text(m, r.seg) if r.seg else m.fmt_time(r.time) for r in rows]
        tw = max([len("time (s)"), *(len(t) for t in times)])
        marks = [mk.text for r in rows for mk in r.cells.values() if len(mk.text) <= MAX_CELL]
        right_head = (self._name(m.right), m.right_addr)
        cw = max([8, *(len(t) for t in marks), *(len(h) for h in right_head)])
        cw = min(cw, 24)
        region = width - tw - 2 * cw - 7
        if region < MIN_REGION:
            # Narrow console: squeeze the state columns.
            cw = max(8, cw - (MIN_REGION - region + 1) // 2)
            region = max(MIN_REGION, width - tw - 2 * cw - 7)
        self._tw, self._cw, self._region = tw, cw, region
        # Narrow consoles: leave the window out everywhere rather than wrap most labels.
        self._show_win = all(
            len(" ".join(s.label_parts(self.absolute, options=False))) <= region - 2
            for s in m.segments
        )

        out.append(self._header("time (s)", self._name(m.left), self._name(m.right), "bold"))
        if m.left_addr or m.right_addr:
            out.append(self._header("", m.left_addr, m.right_addr, "dim"))
        out.append(self._rule())
        for row, tt in zip(rows, times, strict=True):
            if row.gap is not None:
                out.append(self._gap_line(row.gap))
                continue
            out.extend(self._row_lines(row, tt))
        out.append(self._rule())
        out.append(self._summary())
        return out

    def _name(self, host: str) -> str:
        return host if host in self.model.traced else "(not traced)"

    def _cell(self, text: str, align: str, style: str = "") -> Text:
        cw = self._cw
        if len(text) > cw:
            text = text[: cw - 1] + "…"
        return Text(text.rjust(cw) if align == "right" else text.ljust(cw), style=style)

    def _line(
        self,
        time: str,
        left: str,
        right: str,
        middle: Text | None,
        *,
        style: str = "bold",
        bar: str = "│",
    ) -> Text:
        line = Text(no_wrap=True, overflow="crop")
        line.append(time.rjust(self._tw), style="dim")
        line.append(" ")
        line.append_text(self._cell(left, "right", style))
        line.append(f" {bar}")
        line.append_text(middle if middle is not None else Text(" " * self._region))
        line.append(f"{bar} ")
        line.append_text(self._cell(right, "left", style))
        line.rstrip()
        return line

    def _header(self, time: str, left: str, right: str, style: str) -> Text:
        """A header line: names may spill over the time column and past the right cell."""
        area = self._tw + 1 + self._cw
        if len(left) > area:
            left = "…" + left[-(area - 1) :]
        line = Text(no_wrap=True, overflow="crop")
        if time and self._tw + 1 + len(left) <= area:
            line.append(time.rjust(self._tw), style="dim")
            line.append(" " * (area - self._tw - len(left)))
        else:
            line.append(" " * (area - len(left)))
        line.append(left, style=style)
        line.append(" │" + " " * self._region + "│ ")
        line.append(right, style=style)
        return line

    def _rule(self) -> Text:
        left = "─" * (self._tw + 1 + self._cw + 1)
        mid = "─" * self._region
        right = "─" * (1 + self._cw)
        return Text(f"{left}┼{mid}┼{right}", style="dim", no_wrap=True, overflow="crop")

    def _gap_line(self, gap: float) -> Text:
        label = f" {gap:.3f} s later "
        mid = Text(label.center(self._region, " "), style="dim italic")
        return self._line("⋮", "", "", mid, bar="⋮")

    def _mark_cells(self, row: _Row) -> tuple[Text, Text]:
        cells = []
        for side, align in (("L", "right"), ("R", "left")):
            mk = row.cells.get(side)
            if mk is None or len(mk.text) > self._cw:
                cells.append(self._cell("", align))
            else:
                cells.append(self._cell(mk.text, align, MARK_STYLES.get(mk.kind, "")))
        return cells[0], cells[1]

    def _long_marks(self, row: _Row) -> Text:
        """Marks too wide for their cell, written in the region beside their lifeline."""
        n = self._region
        left, right = row.cells.get("L"), row.cells.get("R")
        wide = [mk for mk in (left, right) if mk is not None and len(mk.text) > self._cw]
        room = n - 2 if len(wide) < 2 else (n - 3) // 2
        text = Text(" ")
        used = 1
        if left is not None and left in wide:
            t = left.text if len(left.text) <= room else left.text[: room - 1] + "…"
            text.append(t, style=MARK_STYLES.get(left.kind, ""))
            used += len(t)
        if right is not None and right in wide:
            t = right.text if len(right.text) <= room else right.text[: room - 1] + "…"
            text.append(" " * (n - used - len(t) - 1))
            text.append(t + " ", style=MARK_STYLES.get(right.kind, ""))
        else:
            text.append(" " * (n - used))
        return text

    def _row_lines(self, row: _Row, time_text: str) -> list[Text]:
        lcell, rcell = self._mark_cells(row)
        seg = row.seg
        if seg is None:
            return [self._assemble(time_text, lcell, rcell, self._long_marks(row))]
        label = " ".join(seg.label_parts(self.absolute, window=self._show_win))
        arrow, above = self._arrow(seg, label)
        lines = []
        for chunk in above:
            mid = Text(chunk.center(self._region), style=SEGMENT_STYLES[seg.category])
            lines.append(self._assemble("", self._cell("", "right"), self._cell("", "left"), mid))
        lines.append(self._assemble(time_text, lcell, rcell, arrow))
        return lines

    def _assemble(self, time: str, lcell: Text, rcell: Text, mid: Text) -> Text:
        line = Text(no_wrap=True, overflow="crop")
        line.append(time.rjust(self._tw), style="dim")
        line.append(" ")
        line.append_text(lcell)
        line.append(" │")
        line.append_text(mid)
        line.append("│ ")
        line.append_text(rcell)
        line.rstrip()
        return line

    def _arrow(self, seg: SegmentView, label: str) -> tuple[Text, list[str]]:
        """The arrow across the region, and label lines to print above it (if too long)."""
        n = self._region
        rightward = seg.src == self.model.left
        style = SEGMENT_STYLES[seg.category]
        # The tail: where the arrow ends short of the far lifeline.
        if seg.status == "lost":
            tail = "✕ lost"
        elif seg.status == "unmatched":
            tail = "✕ lost?"
        else:
            tail = ""
        head = "▶" if rightward else "◀"
        if seg.status == "dropped":
            head = "✕"
        start = "?" if seg.status == "orphan" else "─"
        shaft_len = n - 1 - (len(tail) + 2 if tail else 0)
        if tail:
            shaft_len = min(shaft_len, max(n * 3 // 4, n - 12))
        inline = f" {label} "
        above: list[str] = []
        if len(inline) + 4 <= shaft_len:
            pad = shaft_len - len(inline)
            a, b = pad // 2, pad - pad // 2
            shaft = "─" * a + inline + "─" * b
        else:
            shaft = "─" * shaft_len
            above = _wrap(seg.label_parts(self.absolute, window=self._show_win), n - 2)
        if rightward:
            body = start + shaft[1:] + (head if not tail else "")
        else:
            body = ("" if tail else head) + shaft[:-1] + start
        text = Text(no_wrap=True, overflow="crop")
        if rightward:
            text.append(body, style=style)
            if tail:
                text.append(tail[0], style=LOST_STYLE)
                text.append(tail[1:], style=LOST_STYLE)
            text.append(" " * (n - len(body) - len(tail)))
        else:
            text.append(" " * (n - len(body) - len(tail)))
            if tail:
                rev = tail[1:].strip() + " " + tail[0]
                text.append(rev, style=LOST_STYLE)
            text.append(body, style=style)
        if seg.status == "dropped" and seg.drop_reason:
            text.stylize(LOST_STYLE, n - 1 if rightward else 0, n if rightward else 1)
        return text, above

    def _summary(self) -> Text:
        segs = self.model.segments
        lost = sum(1 for s in segs if s.status in ("lost", "unmatched"))
        dropped = sum(1 for s in segs if s.status == "dropped")
        parts = [f"{len(segs)} segments"]
        if lost:
            parts.append(f"{lost} lost")
        if dropped:
            parts.append(f"{dropped} dropped by the receiver")
        numbers = "absolute" if self.absolute else "relative to each side's ISN"
        parts.append(f"seq/ack {numbers}")
        if not self._show_win:
            parts.append("win omitted (narrow console)")
        return Text("  ·  ".join(parts), style="dim")


def _wrap(words: list[str], width: int) -> list[str]:
    """Join ``words`` with spaces into lines of at most ``width`` characters."""
    lines: list[str] = []
    cur = ""
    for w in words:
        while len(w) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(w[:width])
            w = w[width:]
        if not cur:
            cur = w
        elif len(cur) + 1 + len(w) <= width:
            cur += " " + w
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return lines


def render_ladder(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    absolute: bool = False,
    title: str | None = None,
    conn: str | None = None,
    gap: float = 1.0,
) -> RenderableType:
    """Build the ladder diagram of one connection as a ``rich`` renderable.

    Args:
        records: trace records (a ``Trace`` or a list from ``read_jsonl``).
        left: the host drawn on the left (default: the client, i.e. the first
            host that sends a SYN without ACK).
        right: the host drawn on the right (default: the other one).
        absolute: show wire ``seq``/``ack`` values instead of values relative
            to each side's ISN.
        title: a line printed above the diagram.
        conn: which connection to draw, as ``"addr:port-addr:port"`` in either
            direction (default: the one with the most segments).
        gap: idle time (seconds) from which a ``⋮ N s later`` line is drawn.

    Returns:
        A renderable that lays itself out for the console's width (at least
        60 columns; 80 or more recommended).

    Raises:
        ValueError: ``conn``, ``left`` or ``right`` is not in the trace.
    """
    model = build_model(records, left=left, right=right, conn=conn)
    return LadderDiagram(model, absolute=absolute, title=title, gap=gap)


def print_ladder(records: Iterable[TraceRecord], console: Console | None = None, **kw: Any) -> None:
    """Print :func:`render_ladder` of ``records`` on ``console`` (default: a new stdout console).

    Keyword arguments are those of :func:`render_ladder`.
    """
    (console or Console()).print(render_ladder(records, **kw))
