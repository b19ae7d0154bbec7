"""The ladder (sequence) diagram of one connection, drawn in the terminal with ``rich``.

(:func:`tcpstack.tools.sample.lifecycle_trace` at 84 columns, first lines)::

         time (s)       client │                                        │ server
               192.0.2.1:40000 │                                        │ 192.0.2.2:80
    ───────────────────────────┼────────────────────────────────────────┼─────────────
            0.000              │                                        │ listen()
            0.000    connect() │                                        │ LISTEN
                               │  SYN seq=0 len=0 win=65535 <mss 1460,  │
                               │            wscale 7,sackOK>            │
    0.000 → 0.010     SYN-SENT │───────────────────────────────────────▶│
                               │  SYN,ACK seq=0 ack=1 len=0 win=65535   │
                               │       <mss 1460,wscale 7,sackOK>       │
    0.010 → 0.020              │◀───────────────────────────────────────│ SYN-RECEIVED
            0.010              │         ↳ ack = x + 1: the SYN (seq x) │
                               │           consumes one sequence number │
            0.020  ESTABLISHED │                                        │
            0.020              │ connect() returns                      │
    0.020 → 0.030              │─── ACK seq=1 ack=1 len=0 win=64240 ───▶│
            0.020              │ ↳ ack = x + 1: the SYN (seq x)         │
                               │ consumes one sequence number           │
                               │ PSH,ACK seq=1 ack=1 len=100 win=64240  │
        0.030 → ✕   write(100) │──────────────────────────────✕ lost    │ ESTABLISHED

The client (the host that sent the first SYN without ACK) is on the left.
Each segment is an arrow in its direction, labelled with flags, ``seq``,
``ack``, ``len`` and ``win`` relative to each side's ISN (like Wireshark)
unless ``absolute``; the time column shows ``send → arrival`` (seconds).

A segment's fate (:mod:`tcpstack.tools._model`) decides how its arrow ends:

- ``▶`` it arrived and was processed;
- ``▷`` it arrived and TCP dropped it; the next line says what TCP did, at
  the receiver: ``↺ retransmitted FIN: re-ACKed`` for drops that are TCP
  working as the RFCs say (answered, nothing wrong), ``⊘ bad TCP checksum:
  discarded`` for the others;
- ``✕ lost`` it was lost in the network and stops midway;
- ``? lost?`` it was sent and never seen again (no record of a loss either).

Beside each lifeline stand the host's state changes (RFC spelling), its
application's calls (``connect()``, ``listen()``, ``write(18)``,
``read() → 44``, ``read() → 0``, ``shutdown(WR)``, ``close()``, ``abort()``)
and the returns of blocking calls (``connect() returns``, ``accept()
returns``), so that a FIN-WAIT-1 with data still flowing is explained by the
``close()`` above it. Lines starting ``↳`` are annotations computed from the
run (:mod:`tcpstack.tools.annotate`): what a segment or timer caused, in
English or Chinese (``lang``). Idle gaps of ``gap`` seconds or more are a
``⋮ N s later`` line. A legend ends the drawing.

Width: the drawing fits the console (60 to 120 columns). Long labels and
explanations wrap between words (never inside a number); what cannot fit is
cut with a visible ``…``. Colours (SYN green, FIN blue, RST red, data yellow)
only add to what the text already says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from tcpstack.tools._model import LadderModel, Mark, SegmentView, build_model
from tcpstack.tools.annotate import Annotation, annotate
from tcpstack.tools.i18n import Text as I18n
from tcpstack.tools.wrap import wrap
from tcpstack.trace import TraceRecord

__all__ = [
    "WORDS",
    "LadderDiagram",
    "legend_keys",
    "print_ladder",
    "render_ladder",
    "word",
    "wrap_text",
]

SEGMENT_STYLES = {
    "syn": "green",
    "fin": "blue",
    "rst": "bold red",
    "data": "yellow",
    "ack": "",
}
MARK_STYLES = {
    "state": "bold cyan",
    "call": "bright_blue",
    "return": "bright_blue",
    "note": "magenta",
}
ROUTINE_STYLE = "cyan"
DISCARD_STYLE = "dark_orange"
ANNOTATION_STYLE = "italic magenta"
LOST_STYLE = "bold red"
MIN_WIDTH = 60
MAX_WIDTH = 120
#: The arrow region is never narrower than this (wider consoles get more).
MIN_REGION = 24
#: State columns are at most this wide; longer marks get rows of their own,
#: written inside the arrow region next to their host's lifeline.
MAX_CELL = 14

WORDS = {
    "time": I18n("time (s)", "时间（秒）"),
    "later": I18n("{gap} s later", "{gap} 秒后"),
    "lost": I18n("lost", "丢失"),
    "lost?": I18n("lost?", "丢失?"),
    "empty": I18n("(no segments in the trace)", "（跟踪记录里没有报文段）"),
    "segments": I18n("{n} segments", "{n} 个报文段"),
    "n_lost": I18n("{n} lost in the network", "{n} 个在网络中丢失"),
    "n_dropped": I18n("{n} dropped by TCP", "{n} 个被 TCP 丢弃"),
    "n_unknown": I18n("{n} never seen arriving", "{n} 个没有到达记录"),
    "relative": I18n("seq/ack relative to each side's ISN", "序列号/确认号相对于各自的 ISN"),
    "absolute": I18n("seq/ack absolute", "序列号/确认号为绝对值"),
    "no_win": I18n("win omitted (narrow console)", "终端太窄，未显示窗口"),
    "colours": I18n("SYN green, FIN blue, RST red, data yellow",
                    "SYN 绿色，FIN 蓝色，RST 红色，数据黄色"),
    # The legend (the SVG draws its own samples instead of LEGEND_GLYPHS).
    "processed": I18n("arrived, processed", "到达并处理"),
    "dropped": I18n("arrived, dropped by TCP (↺ answered per the RFC, ⊘ discarded)",
                    "到达后被 TCP 丢弃（↺ 按 RFC 正常应答，⊘ 丢弃）"),
    "net_lost": I18n("lost in the network", "在网络中丢失"),
    "unknown": I18n("never seen arriving", "没有到达的记录"),
    "annotation": I18n("↳ what it means", "↳ 说明"),
}
"""Every word the ladders (terminal and SVG) draw themselves, in both languages."""


def word(key: str, lang: str, **values: object) -> str:
    """``WORDS[key]`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    text = WORDS[key]
    return (text.format(**values) if values else text).get(lang)


LEGEND_GLYPHS = {"processed": "▶ ", "dropped": "▷ ", "net_lost": "✕ ", "unknown": "? "}


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` terminal cells (Chinese counts two).

    :func:`tcpstack.tools.wrap.wrap` breaks at spaces, between Chinese
    characters and after punctuation, never inside a number or a word; a
    single word wider than a line (a very long name) is then split at the
    width, so that nothing is cropped unseen.
    """
    width = max(width, 2)
    lines: list[str] = []
    for line in wrap(text, width):
        while cell_len(line) > width:
            cut = 0
            while cell_len(line[: cut + 1]) <= width:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * max(0, width - cell_len(text))
    return gap + text if align == "right" else text + gap


@dataclass
class _Row:
    time: float
    seg: SegmentView | None = None
    cells: dict[str, Mark] = field(default_factory=dict)
    side: str = ""  # "L" or "R" for a row of text beside one lifeline
    text: str = ""
    style: str = ""
    gap: float | None = None


@dataclass
class _Item:
    key: tuple[float, float, int, int]
    payload: SegmentView | Mark | Annotation


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
        lang: str = "en",
        annotations: Sequence[Annotation] = (),
        legend: bool = True,
    ) -> None:
        self.model = model
        self.absolute = absolute
        self.title = title
        self.gap = gap
        self.lang = lang
        self.annotations = list(annotations)
        self.legend = legend

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(MIN_WIDTH, options.max_width), options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    def _w(self, key: str, **values: object) -> str:
        return word(key, self.lang, **values)

    # -- layout ---------------------------------------------------------------

    def lines(self, width: int) -> list[Text]:
        """The diagram as lines of at most ``max(width, 60)`` cells (capped at 120)."""
        m = self.model
        width = max(MIN_WIDTH, min(width, MAX_WIDTH))
        out: list[Text] = []
        if self.title:
            out.append(Text(self.title, style="bold", no_wrap=True, overflow="ellipsis"))
        if not m.segments and not m.marks:
            out.append(Text(self._w("empty"), style="dim"))
            return out

        times = [_time_text(m, s) for s in m.segments] + [m.fmt_time(t) for t in m.times()]
        tw = max([cell_len(self._w("time")), *(len(t) for t in times)])
        fits = [
            cell_len(mk.display(self.lang))
            for mk in m.marks
            if mk.kind in MARK_STYLES and mk.kind != "note"
            and cell_len(mk.display(self.lang)) <= MAX_CELL
        ]
        heads = (m.heading(m.right), m.right_addr)
        cw = min(max([8, *fits, *(cell_len(h) for h in heads)]), 24)
        region = width - tw - 2 * cw - 7
        if region < MIN_REGION:
            # Narrow console: squeeze the state columns.
            cw = max(8, cw - (MIN_REGION - region + 1) // 2)
            region = max(MIN_REGION, width - tw - 2 * cw - 7)
        self._tw, self._cw, self._region, self._width = tw, cw, region, width
        # Narrow consoles: leave the window out everywhere rather than wrap most labels.
        self._show_win = all(
            len(" ".join(s.label_parts(self.absolute, options=False))) <= region - 2
            for s in m.segments
        )

        out.append(self._header(self._w("time"), m.heading(m.left), m.heading(m.right), "bold"))
        if m.left_addr or m.right_addr:
            out.append(self._header("", m.left_addr, m.right_addr, "dim"))
        out.append(self._rule())
        for row in self._rows():
            if row.gap is not None:
                out.append(self._gap_line(row.gap))
            elif row.side:
                out.extend(self._side_lines(row))
            else:
                out.extend(self._row_lines(row))
        out.append(self._rule())
        out.extend(self._summary(width))
        return out

    def _items(self) -> list[_Item]:
        m = self.model
        items = [_Item((s.time, s.order, 0, 0), s) for s in m.segments]
        for mark in m.marks:
            seg = m.segments[mark.segment] if mark.segment is not None else None
            if seg is not None:  # a drop: right after the arrow it is about
                items.append(_Item((seg.time, seg.order, 2, 0), mark))
            else:
                items.append(_Item((mark.time, mark.order, 0, 1), mark))
        for k, ann in enumerate(self.annotations):
            if ann.segment is not None and 0 <= ann.segment < len(m.segments):
                # After the arrow: first what the sender did, then the receiver.
                seg = m.segments[ann.segment]
                items.append(_Item((seg.time, seg.order, 1 if ann.host == seg.src else 3, k), ann))
            else:
                items.append(_Item((ann.time, math.inf, 3, k), ann))
        items.sort(key=lambda it: it.key)
        return items

    def _fits(self, mark: Mark) -> bool:
        return mark.kind in ("state", "call", "return") and (
            cell_len(mark.display(self.lang)) <= self._cw
        )

    def _rows(self) -> list[_Row]:
        """Segments, marks and annotations in time order; short marks share rows."""
        m = self.model
        rows: list[_Row] = []
        last_time: float | None = None
        for item in self._items():
            t = item.key[0]
            if last_time is not None and t - last_time >= self.gap:
                rows.append(_Row(time=t, gap=t - last_time))
            prev = rows[-1] if rows and rows[-1].gap is None and not rows[-1].side else None
            same = prev is not None and abs(prev.time - t) < 1e-9
            p = item.payload
            if isinstance(p, SegmentView):
                if prev is not None and same and prev.seg is None:
                    prev.seg = p
                else:
                    rows.append(_Row(time=t, seg=p))
                for ts in (p.send_time, p.recv_time, p.drop_time):
                    if ts is not None:
                        last_time = ts if last_time is None else max(last_time, ts)
                continue
            if isinstance(p, Mark) and self._fits(p):
                side = m.side(p.host)
                if prev is not None and same and side not in prev.cells:
                    prev.cells[side] = p
                else:
                    rows.append(_Row(time=t, cells={side: p}))
            elif isinstance(p, Mark):
                rows.append(self._mark_row(p))
            else:
                text = "↳ " + p.text.get(self.lang)
                rows.append(
                    _Row(time=p.time, side=m.side(p.host), text=text, style=ANNOTATION_STYLE)
                )
            shown = p.time
            last_time = max(t, shown) if last_time is None else max(last_time, t, shown)
        return rows

    def _mark_row(self, mark: Mark) -> _Row:
        text, style = mark.display(self.lang), MARK_STYLES.get(mark.kind, "")
        if mark.kind == "drop":
            glyph, style = ("↺", ROUTINE_STYLE) if mark.routine else ("⊘", DISCARD_STYLE)
            text = f"{glyph} {text}"
        return _Row(time=mark.time, side=self.model.side(mark.host), text=text, style=style)

    def _header(self, time: str, left: str, right: str, style: str) -> Text:
        """A header line: names may spill over the time column and past the right cell."""
        area = self._tw + 1 + self._cw
        room = self._width - area - self._region - 4  # what is left right of the right lifeline
        left, right = _elide(left, area), _elide(right, room)
        line = Text(no_wrap=True, overflow="crop")
        if time and self._tw + 1 + cell_len(left) <= area:
            line.append(_pad(time, self._tw, "right"), style="dim")
            line.append(" " * (area - self._tw - cell_len(left)))
        else:
            line.append(" " * (area - cell_len(left)))
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
        label = f" {self._w('later', gap=f'{gap:.3f}')} "
        mid = Text(_center(label, self._region), style="dim italic")
        return self._assemble("⋮", Text(" " * self._cw), Text(" " * self._cw), mid, bar="⋮")

    def _cell(self, mark: Mark | None, align: str) -> Text:
        if mark is None:
            return Text(" " * self._cw)
        return Text(
            _pad(mark.display(self.lang), self._cw, align), style=MARK_STYLES.get(mark.kind, "")
        )

    def _side_lines(self, row: _Row) -> list[Text]:
        """A row of text beside one lifeline, wrapped inside the arrow region."""
        n = self._region
        out = []
        for i, chunk in enumerate(wrap_text(row.text, n - 2)):
            mid = Text()
            if row.side == "L":
                mid.append(" ")
                mid.append(chunk, style=row.style)
                mid.append(" " * (n - 1 - cell_len(chunk)))
            else:
                mid.append(" " * (n - 1 - cell_len(chunk)))
                mid.append(chunk, style=row.style)
                mid.append(" ")
            time = self.model.fmt_time(row.time) if i == 0 else ""
            out.append(self._assemble(time, self._cell(None, ""), self._cell(None, ""), mid))
        return out

    def _row_lines(self, row: _Row) -> list[Text]:
        lcell, rcell = self._cell(row.cells.get("L"), "right"), self._cell(row.cells.get("R"), "")
        seg = row.seg
        if seg is None:
            blank = Text(" " * self._region)
            return [self._assemble(self.model.fmt_time(row.time), lcell, rcell, blank)]
        label = " ".join(seg.label_parts(self.absolute, window=self._show_win))
        arrow, above = self._arrow(seg, label)
        lines = []
        for chunk in above:
            mid = Text(_center(chunk, self._region), style=SEGMENT_STYLES[seg.category])
            lines.append(self._assemble("", self._cell(None, ""), self._cell(None, ""), mid))
        lines.append(self._assemble(_time_text(self.model, seg), lcell, rcell, arrow))
        return lines

    def _assemble(self, time: str, lcell: Text, rcell: Text, mid: Text, bar: str = "│") -> Text:
        line = Text(no_wrap=True, overflow="crop")
        line.append(_pad(time, self._tw, "right"), style="dim")
        line.append(" ")
        line.append_text(lcell)
        line.append(f" {bar}")
        line.append_text(mid)
        line.append(f"{bar} ")
        line.append_text(rcell)
        line.rstrip()
        return line

    def _arrow(self, seg: SegmentView, label: str) -> tuple[Text, list[str]]:
        """The arrow across the region, and label lines to print above it (if too long)."""
        n = self._region
        rightward = seg.src == self.model.left
        style = SEGMENT_STYLES[seg.category]
        # The tail: where the arrow ends short of the far lifeline.
        if seg.fate == "lost":
            tail = "✕ " + self._w("lost")
        elif seg.status == "unmatched":
            tail = "? " + self._w("lost?")
        else:
            tail = ""
        tail_w = cell_len(tail)
        heads = ("▷", "◁") if seg.fate == "dropped" else ("▶", "◀")
        head = heads[0] if rightward else heads[1]
        start = "?" if seg.status == "orphan" else "─"
        shaft_len = n - 1 - (tail_w + 2 if tail else 0)
        if tail:
            shaft_len = min(shaft_len, max(n * 3 // 4, n - 12))
        inline = f" {label} "
        above: list[str] = []
        if cell_len(inline) + 4 <= shaft_len:
            pad = shaft_len - cell_len(inline)
            a, b = pad // 2, pad - pad // 2
            shaft = "─" * a + inline + "─" * b
        else:
            shaft = "─" * shaft_len
            above = wrap_text(label, n - 2)
        text = Text(no_wrap=True, overflow="crop")
        head_style = style
        if seg.fate == "dropped":
            head_style = ROUTINE_STYLE if _routine(self.model, seg) else DISCARD_STYLE
        if rightward:
            text.append(start + shaft[1:], style=style)
            if tail:
                text.append(tail, style=LOST_STYLE)
            else:
                text.append(head, style=head_style)
            text.append(" " * (n - shaft_len - (tail_w if tail else 1)))
        else:
            text.append(" " * (n - shaft_len - (tail_w if tail else 1)))
            if tail:
                text.append(tail[2:] + " " + tail[0], style=LOST_STYLE)
            else:
                text.append(head, style=head_style)
            text.append(shaft[:-1] + start, style=style)
        return text, above

    def _summary(self, width: int) -> list[Text]:
        segs = self.model.segments
        counts = {f: sum(1 for s in segs if s.fate == f) for f in ("lost", "dropped")}
        unknown = sum(1 for s in segs if s.status == "unmatched")
        parts = [self._w("segments", n=len(segs))]
        if counts["lost"]:
            parts.append(self._w("n_lost", n=counts["lost"]))
        if counts["dropped"]:
            parts.append(self._w("n_dropped", n=counts["dropped"]))
        if unknown:
            parts.append(self._w("n_unknown", n=unknown))
        parts.append(self._w("absolute" if self.absolute else "relative"))
        if not self._show_win:
            parts.append(self._w("no_win"))
        out = _pack(parts, "  ·  ", width, "dim")
        if self.legend:
            keys = legend_keys(self.model, bool(self.annotations))
            items = [LEGEND_GLYPHS.get(k, "") + self._w(k) for k in keys]
            out.extend(_pack(items, "   ", width, "dim"))
        return out


def legend_keys(model: LadderModel, annotated: bool) -> list[str]:
    """What the legend explains: the fates that occur in the drawing, and ``↳``."""
    fates = {s.fate for s in model.segments}
    keys = [k for k, fate in (("processed", "processed"), ("dropped", "dropped"),
                              ("net_lost", "lost")) if fate in fates]
    if any(s.status == "unmatched" for s in model.segments):
        keys.append("unknown")
    if annotated:
        keys.append("annotation")
    return keys


def _routine(model: LadderModel, seg: SegmentView) -> bool:
    return any(mk.segment == seg.index and mk.routine for mk in model.marks)


def _elide(text: str, width: int) -> str:
    """``text``, or ``…`` and its end (an address's port) when it is wider than ``width``."""
    if cell_len(text) <= width:
        return text
    tail = text
    while tail and cell_len(tail) > width - 1:
        tail = tail[1:]
    return "…" + tail


def _center(text: str, width: int) -> str:
    pad = max(0, width - cell_len(text))
    return " " * (pad // 2) + text + " " * (pad - pad // 2)


def _pack(parts: list[str], sep: str, width: int, style: str) -> list[Text]:
    """Lines of ``parts`` joined by ``sep``, a part never split unless wider than a line."""
    lines: list[str] = []
    cur = ""
    for part in parts:
        if cur and cell_len(cur) + cell_len(sep) + cell_len(part) > width:
            lines.append(cur)
            cur = part
        else:
            cur = f"{cur}{sep}{part}" if cur else part
    if cur:
        lines.append(cur)
    return [
        Text(chunk, style=style)
        for line in lines
        for chunk in (wrap_text(line, width) if cell_len(line) > width else [line])
    ]


def _time_text(model: LadderModel, seg: SegmentView) -> str:
    f = model.fmt_time
    if seg.fate == "lost":
        return f"{f(seg.send_time)} → ✕"
    if seg.status == "unmatched":
        return f"{f(seg.send_time)} → ?"
    if seg.status == "one-sided":
        return f(seg.send_time) if seg.send_time is not None else f"→ {f(seg.recv_time)}"
    return f"{f(seg.send_time)} → {f(seg.recv_time)}"


def render_ladder(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    absolute: bool = False,
    title: str | None = None,
    conn: str | None = None,
    gap: float = 1.0,
    lang: str = "en",
    annotations: bool = True,
    legend: bool = True,
) -> RenderableType:
    """Build the ladder diagram of one connection as a ``rich`` renderable.

    Args:
        records: trace records (a ``Trace`` or a list from ``read_jsonl``).
        left: the host drawn on the left (default: the client, i.e. the first
            host that sends a SYN without ACK).
        right: the host drawn on the right (default: the other one). A named
            host that never appears in the trace gets an empty lifeline.
        absolute: show wire ``seq``/``ack`` values instead of values relative
            to each side's ISN.
        title: a line printed above the diagram.
        conn: which connection to draw, as ``"addr:port-addr:port"`` in either
            direction (default: the one with the most segments).
        gap: idle time (seconds) from which a ``⋮ N s later`` line is drawn.
        lang: ``"en"`` or ``"zh"``: the language of annotations, drop
            reasons, the summary and the legend.
        annotations: draw the explanations of :mod:`tcpstack.tools.annotate`.
        legend: end with the legend of the arrow heads.

    Returns:
        A renderable that lays itself out for the console's width (at least
        60 columns; 80 or more recommended).

    Raises:
        ValueError: ``conn`` is not in the trace, or ``left`` and ``right``
            are the same host.
    """
    recs = list(records)
    model = build_model(recs, left=left, right=right, conn=conn)
    notes = annotate(model, recs) if annotations else []
    return LadderDiagram(
        model, absolute=absolute, title=title, gap=gap, lang=lang, annotations=notes,
        legend=legend,
    )


def print_ladder(records: Iterable[TraceRecord], console: Console | None = None, **kw: Any) -> None:
    """Print :func:`render_ladder` of ``records`` on ``console`` (default: a new stdout console).

    Keyword arguments are those of :func:`render_ladder`.
    """
    (console or Console()).print(render_ladder(records, **kw))
