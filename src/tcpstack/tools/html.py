"""The ladder diagram as SVG, and as a self-contained interactive HTML page.

Same content as the terminal ladder (:mod:`tcpstack.tools.ladder`): the
client's lifeline on the left, the server's on the right, one sloped arrow
per segment from its send time to its arrival time, each side's state
changes and application calls beside its lifeline, long idle gaps cut out
and marked ``⋮ N s later``. Time runs down the page; the vertical scale is
not linear (short gaps are stretched so that labels do not overlap, long
ones are cut).

The three fates of a segment (:mod:`tcpstack.tools._model`) are drawn
distinctly: an arrow with a filled head arrived and was processed; an arrow
with a hollow head arrived and TCP dropped it, and the words beside the
receiver say what TCP did (``↺`` in teal when it was answered as the RFCs
say, ``⊘`` in orange when something was discarded); an arrow that stops
midway at ``✕ lost`` was lost in the network. A dashed arrow ending in
``? lost?`` was never seen again. Annotations (:mod:`tcpstack.tools.annotate`,
``↳``, in English or Chinese) stand in the margin beside the host they are
about; a legend ends the drawing.

Both the relative and the absolute sequence numbers are in the drawing; the
class on the ``<svg>`` root (``show-rel`` or ``show-abs``) picks which one is
visible. The output is deterministic (no timestamps, no random ids), so it
can be compared to a golden file. The HTML page adds a checkbox for that and
a box that shows every field of a segment when the mouse is over its arrow.
No external resources: CSS and JavaScript are inline.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from rich.cells import cell_len

from tcpstack.tools._model import LadderModel, Mark, SegmentView, build_model, options_text
from tcpstack.tools.annotate import Annotation, annotate
from tcpstack.tools.i18n import Lang, default_lang
from tcpstack.tools.ladder import legend_keys, word, wrap_text
from tcpstack.tools.viewer import About, build_document, render_page
from tcpstack.trace import TraceRecord

__all__ = ["render_html", "render_svg"]

COLORS = {
    "syn": "#2e7d32",
    "fin": "#1565c0",
    "rst": "#c62828",
    "data": "#a67c00",
    "ack": "#455a64",
}
LOST_COLOR = "#c62828"
FONT_PX = 12
CHAR_PX = 7.3  # approximate advance of a 12 px monospace character
NOTE_CHAR_PX = 6.2  # the same for the 11 px text of annotations
LINE_PX = 14.0  # px between the lines of a wrapped annotation
NOTE_CELLS = 38  # annotations wrap at this many cells (a Chinese character is two)
MIN_DY = 20.0  # px between two things that happen at different times
TYPICAL_DY = 36.0  # px the typical time step is drawn as
MIN_SPAN = 420.0  # px between the lifelines, at least
LABEL_AT = 0.58  # where along an arrow (from its start) its label is centred
MAX_DY = 110.0
GAP_DY = 44.0  # px a cut-out idle gap takes (dotted lifelines)
GAP_PAD = 16.0  # px of solid lifeline before and after a cut-out gap
LEGEND_DY = 22.0  # px per legend line

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")



def _text(s: object) -> str:
    """Escape for XML/HTML text content."""
    return escape(_INVALID_XML.sub("\ufffd", str(s)))


def _attr(s: object) -> str:
    """A quoted, escaped XML/HTML attribute value."""
    return quoteattr(
        _INVALID_XML.sub("\ufffd", str(s)), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
    )


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@dataclass
class _Point:
    time: float
    host: str
    kind: str
    order: float
    lines: int = 1  # lines of text beside the lifeline (marks and annotations)
    y: float = 0.0


SVG_STYLE = """
.tcp-ladder { background: #fff; }
.tcp-ladder text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.tcp-ladder .host { font-weight: bold; font-size: 14px; }
.tcp-ladder .addr, .tcp-ladder .time, .tcp-ladder .gap { fill: #666; }
.tcp-ladder .gap { font-style: italic; }
.tcp-ladder .lifeline { stroke: #222; stroke-width: 1.5; }
.tcp-ladder .lifeline.cut { stroke-dasharray: 2 5; }
.tcp-ladder .state { font-weight: bold; fill: #00695c; }
.tcp-ladder .call, .tcp-ladder .return { fill: #1a4fa0; }
.tcp-ladder .note { fill: #7b1fa2; font-style: italic; }
.tcp-ladder .drop.routine { fill: #00838f; }
.tcp-ladder .drop.discard { fill: #e65100; }
.tcp-ladder .annotation { fill: #6a1b9a; font-style: italic; font-size: 11px; }
.tcp-ladder .label, .tcp-ladder .state, .tcp-ladder .note, .tcp-ladder .drop,
.tcp-ladder .call, .tcp-ladder .return, .tcp-ladder .annotation, .tcp-ladder .lost {
  paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.tcp-ladder .seg .hit { stroke: transparent; stroke-width: 12; }
.tcp-ladder .seg:hover .shaft { stroke-width: 3; }
.tcp-ladder .lost { fill: #c62828; font-weight: bold; }
.tcp-ladder .unknown { fill: #666; font-weight: bold; }
.tcp-ladder .opts { font-size: 10px; }
.tcp-ladder .legend { fill: #444; }
.tcp-ladder.show-rel .abs, .tcp-ladder.show-abs .rel { display: none; }
"""


def _px(text: str, char_px: float) -> float:
    """The drawn width of ``text`` in a monospace font (a Chinese character is two cells)."""
    return cell_len(text) * char_px


class _SvgBuilder:
    def __init__(
        self,
        model: LadderModel,
        *,
        absolute: bool,
        title: str | None,
        gap: float,
        width: int,
        lang: str = "en",
        annotations: Sequence[Annotation] = (),
        legend: bool = True,
    ) -> None:
        self.m = model
        self.absolute = absolute
        self.title = title
        self.gap = gap
        self.lang = lang
        self.legend = legend
        self.notes = [
            (a, wrap_text("↳ " + a.text.get(lang), NOTE_CELLS)) for a in annotations
        ]
        self.width = max(width, 640)
        # Margins from the content: time column, then the left host's marks and
        # annotations; the right host's after its lifeline. The arrows get what
        # is left (at least MIN_SPAN px: the drawing widens if needed).
        times = model.times() or [0.0]
        time_col = 16 + CHAR_PX * max(len(model.fmt_time(t)) for t in (times[0], times[-1]))
        side: dict[bool, list[float]] = {True: [], False: []}
        for mk in model.marks:
            side[mk.host == model.left].append(_px(self._mark_text(mk), CHAR_PX))
        for a, lines in self.notes:
            side[a.host == model.left].extend(_px(line, NOTE_CHAR_PX) for line in lines)
        left_head = max(len(model.heading(model.left)), len(model.left_addr)) * CHAR_PX / 2
        right_head = max(len(model.heading(model.right)), len(model.right_addr)) * CHAR_PX / 2
        self.x_left = max(
            time_col + max(side[True], default=0) + 20, time_col + left_head, 200.0
        )
        right_margin = max(max(side[False], default=0) + 24, right_head + 8, 120.0)
        self.width = max(self.width, int(self.x_left + MIN_SPAN + right_margin))
        self.x_right = self.width - right_margin
        self.parts: list[str] = []
        self.transit_dy: float | None = None  # the median drop of an arrow that arrived, px

    def _w(self, key: str, **values: object) -> str:
        return word(key, self.lang, **values)

    def _mark_text(self, mark: Mark) -> str:
        text = mark.display(self.lang)
        if mark.kind == "drop":
            return ("↺ " if mark.routine else "⊘ ") + text
        return text

    # -- vertical layout --------------------------------------------------------

    def _points(self) -> list[tuple[_Point, tuple[int, str]]]:
        """Everything that needs a y: segment ends, marks and annotations, in time order."""
        m = self.m
        points: list[tuple[_Point, tuple[int, str]]] = []
        for seg in m.segments:
            ends = (("send", seg.send_time), ("recv", seg.recv_time), ("drop", seg.drop_time))
            for kind, t in ends:
                if t is None:
                    continue
                at_sender = kind == "send" or (kind == "drop" and seg.fate == "lost")
                host = seg.src if at_sender else seg.dst
                points.append((_Point(t, host, kind, seg.order), (seg.index, kind)))
        for i, mark in enumerate(m.marks):
            points.append((_Point(mark.time, mark.host, "mark", mark.order), (i, "mark")))
        # An annotation follows its segment's end; at the receiver, after the drop mark.
        dropped = {mk.segment: mk.order for mk in m.marks if mk.segment is not None}
        for k, (a, lines) in enumerate(self.notes):
            at = m.segments[a.segment] if a.segment is not None else None
            if at is None:
                order = math.inf
            elif a.host == at.src:
                order = at.order + 0.5
            else:
                order = dropped.get(at.index, at.order) + 0.5
            points.append((_Point(a.time, a.host, "mark", order, len(lines)), (k, "ann")))
        points.sort(key=lambda p: (p[0].time, p[0].order))
        return points

    def _layout(
        self, top: float
    ) -> tuple[dict[tuple[int, str], float], list[tuple[float, float, float]], float]:
        """y for every segment end, mark and annotation; the cut gaps (y0, y1, seconds);
        the bottom y."""
        points = self._points()
        times = sorted({p.time for p, _ in points})
        steps = [b - a for a, b in itertools.pairwise(times) if 0 < b - a < self.gap]
        typical = sorted(steps)[len(steps) // 2] if steps else 1.0
        ys: dict[tuple[int, str], float] = {}
        gaps: list[tuple[float, float, float]] = []
        y = top
        prev: float | None = None
        used: set[tuple[str, str]] = set()
        floor: dict[str, float] = {}  # below the last text beside each lifeline
        for p, ref in points:
            slot = (p.host, p.kind)
            if prev is None:
                pass
            elif p.time - prev > 1e-12:
                dt = p.time - prev
                if dt >= self.gap:
                    y += GAP_PAD
                    gaps.append((y, y + GAP_DY, dt))
                    y += GAP_DY + GAP_PAD
                else:
                    # Linear up to the typical step, then sqrt: short waits stay short.
                    steps_n = dt / typical if typical > 0 else 1.0
                    dy = TYPICAL_DY * (steps_n if steps_n <= 1 else math.sqrt(steps_n))
                    y += min(MAX_DY, max(MIN_DY, dy))
                used = set()
            elif slot in used:
                y += MIN_DY
                used = set()
            if p.kind == "mark" and floor.get(p.host, y) > y:
                y = floor[p.host]
                used = set()
            used.add(slot)
            ys[ref] = y
            if p.kind == "mark":
                floor[p.host] = y + MIN_DY + (p.lines - 1) * LINE_PX
            prev = p.time
        bottom = max([y, *floor.values()])
        return ys, gaps, bottom

    # -- drawing -----------------------------------------------------------------

    def build(self) -> str:
        m = self.m
        top = 28.0 if self.title else 8.0
        head_y = top + 16
        first_y = head_y + 44
        ys, gaps, bottom = self._layout(first_y)
        drops = sorted(
            ys[(s.index, "recv")] - ys[(s.index, "send")]
            for s in m.segments
            if (s.index, "recv") in ys and (s.index, "send") in ys
        )
        self.transit_dy = drops[len(drops) // 2] if drops else None
        keys = legend_keys(m, bool(self.notes)) if self.legend else []
        legend_lines = len([k for k in keys if k != "annotation"])
        height = bottom + 60 + legend_lines * LEGEND_DY
        xl, xr = self.x_left, self.x_right
        out = self.parts
        out.append(
            f'<svg xmlns="http://www.w3.org/2000/svg" class="tcp-ladder show-'
            f'{"abs" if self.absolute else "rel"}" width="{self.width}" height="{_num(height)}"'
            f' viewBox="0 0 {self.width} {_num(height)}" role="img"'
            f" aria-label={_attr('TCP ladder diagram ' + m.conn)} lang={_attr(self.lang)}>"
        )
        out.append(f"<title>{_text(self.title or 'TCP ladder ' + m.conn)}</title>")
        out.append(f"<style>{SVG_STYLE}</style>")
        out.append("<defs>")
        for cat, color in COLORS.items():
            # A filled head: arrived and processed; a hollow one: arrived, dropped by TCP.
            out.append(
                f'<marker id="tcp-ladder-head-{cat}" viewBox="0 0 10 10" refX="10" refY="5"'
                f' markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            )
            out.append(
                f'<marker id="tcp-ladder-hollow-{cat}" viewBox="0 0 12 12" refX="11" refY="6"'
                f' markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
                f'<path d="M1,1 L11,6 L1,11 z" fill="#fff" stroke="{color}"'
                f' stroke-width="1.5"/></marker>'
            )
        out.append("</defs>")
        if self.title:
            out.append(f'<text class="host" x="10" y="{_num(top)}">{_text(self.title)}</text>')
        for x, host, addr in ((xl, m.left, m.left_addr), (xr, m.right, m.right_addr)):
            out.append(
                f'<text class="host" x="{_num(x)}" y="{_num(head_y)}" text-anchor="middle">'
                f"{_text(m.heading(host))}</text>"
            )
            if addr:
                out.append(
                    f'<text class="addr" x="{_num(x)}" y="{_num(head_y + 16)}"'
                    f' text-anchor="middle">{_text(addr)}</text>'
                )
        out.append(f'<text class="time" x="10" y="{_num(head_y)}">{_text(self._w("time"))}</text>')
        # Lifelines, dotted across cut gaps.
        y0 = head_y + 26
        for x in (xl, xr):
            cur = y0
            for g0, g1, _ in gaps:
                out.append(self._vline(x, cur, g0, "lifeline"))
                out.append(self._vline(x, g0, g1, "lifeline cut"))
                cur = g1
            out.append(self._vline(x, cur, bottom + 24, "lifeline"))
        for g0, g1, dt in gaps:
            out.append(
                f'<text class="gap" x="{_num((xl + xr) / 2)}" y="{_num((g0 + g1) / 2 + 4)}"'
                f' text-anchor="middle">⋮ {_text(self._w("later", gap=f"{dt:.3f}"))} ⋮</text>'
            )
        # Time labels: one per distinct y.
        labelled: set[float] = set()
        stamps: list[tuple[float, float]] = []
        for seg in m.segments:
            for kind, t in (("send", seg.send_time), ("recv", seg.recv_time)):
                if t is not None and (seg.index, kind) in ys:
                    stamps.append((ys[(seg.index, kind)], t))
        for i, mark in enumerate(m.marks):
            stamps.append((ys[(i, "mark")], mark.time))
        for y, t in sorted(stamps):
            if round(y, 1) in labelled:
                continue
            labelled.add(round(y, 1))
            out.append(f'<text class="time" x="10" y="{_num(y + 4)}">{_text(m.fmt_time(t))}</text>')
        for i, mark in enumerate(m.marks):
            out.append(self._mark(mark, ys[(i, "mark")]))
        for k, (a, lines) in enumerate(self.notes):
            out.append(self._note(a, lines, ys[(k, "ann")]))
        # Segments that stop short last, so that their ✕ is never under another label.
        for seg in sorted(m.segments, key=lambda s: s.fate == "lost" or s.status == "unmatched"):
            out.append(self._segment(seg, ys))
        out.append(
            f'<text class="time" x="10" y="{_num(bottom + 48)}">{_text(self._summary())}</text>'
        )
        if keys:
            out.append(self._legend(keys, bottom + 48 + LEGEND_DY))
        out.append("</svg>")
        return "\n".join(out)

    def _summary(self) -> str:
        segs = self.m.segments
        parts = [self._w("segments", n=len(segs))]
        for fate, key in (("lost", "n_lost"), ("dropped", "n_dropped")):
            n = sum(1 for s in segs if s.fate == fate)
            if n:
                parts.append(self._w(key, n=n))
        sep = "，" if self.lang == "zh" else ", "
        return sep.join(parts) + ("；" if self.lang == "zh" else "; ") + self._w("colours")

    def _legend(self, keys: list[str], y: float) -> str:
        """Samples of the fates that occur in the drawing, and the annotation sign."""
        x = 10.0
        g = ['<g class="legend">']
        color = COLORS["ack"]
        samples = [k for k in keys if k != "annotation"]
        for i, key in enumerate(samples):
            yy = y + i * LEGEND_DY
            end = {"processed": "head", "dropped": "hollow"}.get(key, "")
            x2 = x + (40 if end else 24)
            marker = f' marker-end="url(#tcp-ladder-{end}-ack)"' if end else ""
            dash = ' stroke-dasharray="5 4"' if key == "unknown" else ""
            g.append(
                f'<line x1="{_num(x)}" y1="{_num(yy - 4)}" x2="{_num(x2)}" y2="{_num(yy - 4)}"'
                f' stroke="{color}" stroke-width="1.6"{dash}{marker}/>'
            )
            if not end:
                cls, glyph = ("lost", "✕") if key == "net_lost" else ("unknown", "?")
                g.append(
                    f'<text class="{cls}" x="{_num(x2 + 6)}" y="{_num(yy + 1)}"'
                    f' text-anchor="middle">{glyph}</text>'
                )
            g.append(
                f'<text class="legend" x="{_num(x + 56)}" y="{_num(yy)}">'
                f"{_text(self._w(key))}</text>"
            )
        if "annotation" in keys:
            widest = max((_px(self._w(k), CHAR_PX) for k in samples), default=0.0)
            g.append(
                f'<text class="annotation" x="{_num(x + 56 + widest + 40)}" y="{_num(y)}">'
                f"{_text(self._w('annotation'))}</text>"
            )
        g.append("</g>")
        return "".join(g)

    @staticmethod
    def _vline(x: float, y0: float, y1: float, cls: str) -> str:
        return (
            f'<line class="{cls}" x1="{_num(x)}" y1="{_num(y0)}" x2="{_num(x)}" y2="{_num(y1)}"/>'
        )

    def _beside(self, host: str) -> tuple[float, str]:
        """x and text-anchor of text beside ``host``'s lifeline, in its margin."""
        left = host == self.m.left
        return (self.x_left - 10, "end") if left else (self.x_right + 10, "start")

    def _mark(self, mark: Mark, y: float) -> str:
        x, anchor = self._beside(mark.host)
        cls = mark.kind
        if mark.kind == "drop":
            cls = "drop routine" if mark.routine else "drop discard"
        extra = f" data-segment={_attr(mark.segment)}" if mark.segment is not None else ""
        return (
            f'<text class="{cls}" x="{_num(x)}" y="{_num(y + 4)}" text-anchor="{anchor}"{extra}>'
            f"{_text(self._mark_text(mark))}</text>"
        )

    def _note(self, note: Annotation, lines: list[str], y: float) -> str:
        x, anchor = self._beside(note.host)
        seg = "" if note.segment is None else f" data-segment={_attr(note.segment)}"
        spans = "".join(
            f'<tspan x="{_num(x)}" dy="{0 if i == 0 else _num(LINE_PX)}">{_text(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        return (
            f'<text class="annotation" data-kind={_attr(note.kind)}{seg} x="{_num(x)}"'
            f' y="{_num(y + 4)}" text-anchor="{anchor}">{spans}</text>'
        )

    def _tooltip(self, seg: SegmentView) -> str:
        f = self.m.fmt_time
        lines = [
            f"{seg.src} → {seg.dst}: {seg.label(False)}",
            f"absolute: seq={seg.seq} ack={seg.ack}",
            f"len={seg.length} window={seg.window}",
        ]
        if seg.options:
            lines.append(f"options: {options_text(seg.options)}")
        lines.append(f"sent {f(seg.send_time)} s, received {f(seg.recv_time)} s")
        if seg.drop_reason:
            lines.append(f"dropped at {f(seg.drop_time)} s: {seg.drop_reason}")
        lines.append(f"fate: {seg.fate} (status: {seg.status})")
        return "\n".join(lines)

    def _segment(self, seg: SegmentView, ys: dict[tuple[int, str], float]) -> str:
        rightward = seg.src == self.m.left
        xs, xd = (self.x_left, self.x_right) if rightward else (self.x_right, self.x_left)
        color = COLORS[seg.category]
        ysend = ys.get((seg.index, "send"))
        yrecv = ys.get((seg.index, "recv"))
        ydrop = ys.get((seg.index, "drop"))
        tail = ""
        start_mark = ""
        dashed = False
        head = "head"
        if seg.fate == "lost" or seg.status == "unmatched":
            y1 = ysend if ysend is not None else (ydrop or 0.0)
            frac = 0.6
            x2 = xs + frac * (xd - xs)
            # The stub slopes like the arrows that arrived, so that labels stay apart.
            y2 = y1 + frac * (self.transit_dy or TYPICAL_DY)
            x1 = xs
            head = ""
            tail = "lost" if seg.fate == "lost" else "lost?"
            dashed = seg.fate != "lost"
        elif seg.status == "orphan":
            y2 = yrecv if yrecv is not None else 0.0
            x1 = xs + 0.4 * (xd - xs)
            y1 = y2 - 0.6 * TYPICAL_DY
            x2 = xd
            dashed = True
            start_mark = "?"
        elif seg.status == "one-sided":
            y1 = ysend if ysend is not None else (yrecv or 0.0)
            y2 = y1
            x1, x2 = xs, xd
        else:  # delivered, dropped by the receiver
            y1 = ysend if ysend is not None else (yrecv or 0.0)
            y2 = yrecv if yrecv is not None else y1
            x1, x2 = xs, xd
        if seg.fate == "dropped":
            head = "hollow"
            if seg.status == "orphan":
                start_mark = "?"
        g = [f'<g class="seg {seg.category}" data-i="{seg.index}"'
             f' data-fate="{seg.fate}">']
        g.append(f"<title>{_text(self._tooltip(seg))}</title>")
        g.append(
            f'<line class="hit" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"/>'
        )
        style = ' stroke-dasharray="5 4"' if dashed else ""
        marker = f' marker-end="url(#tcp-ladder-{head}-{seg.category})"' if head else ""
        g.append(
            f'<line class="shaft" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"'
            f' stroke="{color}" stroke-width="1.6"{style}{marker}/>'
        )
        if start_mark:
            g.append(
                f'<text class="lost" x="{_num(x1)}" y="{_num(y1 - 4)}" text-anchor="middle">'
                f"{start_mark}</text>"
            )
        if tail:
            cls = "lost" if seg.fate == "lost" else "unknown"
            glyph = "✕" if seg.fate == "lost" else "?"
            g.append(
                f'<text class="{cls}" x="{_num(x2)}" y="{_num(y2 + 5)}"'
                f' text-anchor="middle">{glyph}</text>'
            )
            dx = 12 if x2 > x1 else -12
            anchor = "start" if x2 > x1 else "end"
            g.append(
                f'<text class="{cls}" x="{_num(x2 + dx)}" y="{_num(y2 + 5)}"'
                f' text-anchor="{anchor}">{_text(self._w(tail))}</text>'
            )
        # The label runs along the arrow, left to right, just above it, a bit
        # past the middle: there the previous arrow is furthest away.
        # A stub that stops short keeps its label clear of the ✕ at its end.
        (lx, ly), (rx, ry) = sorted(((x1, y1), (x2, y2)))
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
        at = 0.45 if tail else LABEL_AT
        mx, my = x1 + at * (x2 - x1), y1 + at * (y2 - y1)
        rot = f' transform="rotate({angle:.2f} {_num(mx)} {_num(my)})"'
        rel = " ".join(seg.label_parts(False, options=False))
        absl = " ".join(seg.label_parts(True, options=False))
        room = 2 * min(at, 1 - at) * math.hypot(rx - lx, ry - ly) - 12
        common = f'x="{_num(mx)}" y="{_num(my - 5)}" text-anchor="middle" fill="{color}"{rot}'
        variants = [("label", rel)] if rel == absl else [("label rel", rel), ("label abs", absl)]
        for cls, label in variants:
            size = ""
            if len(label) * CHAR_PX > room:  # shrink to fit along the arrow
                # An inline style: the stylesheet's font-size would beat an attribute.
                size = f' style="font-size:{max(8.0, room / len(label) / CHAR_PX * FONT_PX):.1f}px"'
            g.append(f'<text class="{cls}" {common}{size}>{_text(label)}</text>')
        opts = options_text(seg.options) if "SYN" in seg.flags else ""
        if opts:
            ox, oy = x1 + (1 - LABEL_AT) * (x2 - x1), y1 + (1 - LABEL_AT) * (y2 - y1)
            g.append(
                f'<text class="label opts" x="{_num(ox)}" y="{_num(oy + 13)}"'
                f' text-anchor="middle" fill="{color}"'
                f' transform="rotate({angle:.2f} {_num(ox)} {_num(oy)})">'
                f"&lt;{_text(opts)}&gt;</text>"
            )
        g.append("</g>")
        return "".join(g)


def _build(
    records: Iterable[TraceRecord],
    left: str | None,
    right: str | None,
    conn: str | None,
) -> LadderModel:
    return build_model(records, left=left, right=right, conn=conn)


def render_svg(
    records: Iterable[TraceRecord],
    *,
    left: str | None = None,
    right: str | None = None,
    absolute: bool = False,
    title: str | None = None,
    conn: str | None = None,
    gap: float = 1.0,
    width: int = 1000,
    lang: str = "en",
    annotations: bool = True,
    legend: bool = True,
) -> str:
    """Draw the ladder of one connection as a standalone SVG document.

    Args:
        records: trace records (times in seconds).
        left, right, conn: which hosts and connection, as in
            :func:`tcpstack.tools.ladder.render_ladder` (a named host that
            never appears gets an empty lifeline).
        absolute: show wire ``seq``/``ack`` values first (both are in the
            file; the root's ``show-abs``/``show-rel`` class picks one).
        title: a heading inside the drawing.
        gap: idle time (seconds) from which a gap is cut out and marked.
        width: drawing width in pixels (at least 640; wider when the
            margins' text needs it).
        lang: ``"en"`` or ``"zh"``: the language of annotations, drop
            reasons, the summary and the legend.
        annotations: draw the explanations of :mod:`tcpstack.tools.annotate`.
        legend: end with the legend of the three fates.

    Returns:
        The SVG text (UTF-8, no XML declaration); all trace text escaped;
        the same records always give the same text.

    Raises:
        ValueError: ``conn`` is not in the trace, or ``left`` and ``right``
            are the same host.
    """
    recs = list(records)
    model = _build(recs, left, right, conn)
    notes = annotate(model, recs) if annotations else []
    return _SvgBuilder(
        model, absolute=absolute, title=title, gap=gap, width=width, lang=lang,
        annotations=notes, legend=legend,
    ).build()


def render_html(
    records: Iterable[TraceRecord],
    *,
    title: str = "TCP connection ladder",
    left: str | None = None,
    right: str | None = None,
    absolute: bool = False,
    conn: str | None = None,
    gap: float = 1.0,
    width: int = 1000,
    about: About | None = None,
    lang: Lang | None = None,
) -> str:
    """The interactive viewer of one connection, as one self-contained HTML page.

    The page (:mod:`tcpstack.tools.viewer`) steps forwards and backwards
    through the run (buttons, ←/→ keys) with the ladder drawn up to the
    current step, both ends' TCB at each step (state, SND.UNA, SND.NXT,
    SND.WND, RCV.NXT, RCV.WND, cwnd, ssthresh, srtt, rto, running timers
    with their expiry in seconds), the current segment's header as
    Wireshark shows it, RFC 9293 Figure 5 with each end's state and path,
    a time-sequence graph and cwnd plot when the run carries data, and an
    English / 中文 switch. CSS, script and data are inline; the page
    fetches nothing (it works from ``file://`` with the network off).

    Args:
        records: trace records (times in seconds).
        title: the page title and heading.
        left, right, conn: which hosts and connection, as for :func:`render_svg`.
        absolute: start with wire ``seq``/``ack`` values (the page can switch).
        gap: idle seconds from which the ladder marks a cut.
        width: accepted for compatibility with :func:`render_svg`; the page
            lays its ladder out itself.
        about: the scenario's question, answer and options, when known.
        lang: the language the page starts in (default: the locale's).

    Returns:
        The HTML document text (UTF-8).

    Raises:
        ValueError: ``conn``, ``left`` or ``right`` is not in the trace.
    """
    del width  # the page's script lays the ladder out
    document = build_document(records, left=left, right=right, conn=conn, title=title,
                              about=about, absolute=absolute, gap=gap)
    return render_page(document, mode="file", lang=lang or default_lang(), title=title)
