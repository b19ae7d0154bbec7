"""The ladder diagram as SVG, and as a self-contained interactive HTML page.

Same content as the terminal ladder (:mod:`tcpstack.tools.ladder`): the
client's lifeline on the left, the server's on the right, one sloped arrow
per segment from its send time to its arrival time, each side's state
changes beside its lifeline, lost segments ending in ``✕ lost``, long idle
gaps cut out and marked ``⋮ N s later``. Time runs down the page; the
vertical scale is not linear (short gaps are stretched so that labels do
not overlap, long ones are cut).

Both the relative and the absolute sequence numbers are in the drawing; the
class on the ``<svg>`` root (``show-rel`` or ``show-abs``) picks which one is
visible. The HTML page adds a checkbox for that and a box that shows every
field of a segment when the mouse is over its arrow. No external resources:
CSS and JavaScript are inline.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from tcpstack.tools._model import LadderModel, Mark, SegmentView, build_model, options_text
from tcpstack.tools.i18n import Lang, default_lang
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
MIN_DY = 20.0  # px between two things that happen at different times
TYPICAL_DY = 36.0  # px the typical time step is drawn as
MIN_SPAN = 420.0  # px between the lifelines, at least
LABEL_AT = 0.58  # where along an arrow (from its start) its label is centred
MAX_DY = 110.0
GAP_DY = 44.0  # px a cut-out idle gap takes (dotted lifelines)
GAP_PAD = 16.0  # px of solid lifeline before and after a cut-out gap

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
    order: int
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
.tcp-ladder .note { fill: #7b1fa2; font-style: italic; }
.tcp-ladder .drop { fill: #c62828; }
.tcp-ladder .label, .tcp-ladder .state, .tcp-ladder .note, .tcp-ladder .drop {
  paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.tcp-ladder .seg .hit { stroke: transparent; stroke-width: 12; }
.tcp-ladder .seg:hover .shaft { stroke-width: 3; }
.tcp-ladder .lost { fill: #c62828; font-weight: bold; }
.tcp-ladder .opts { font-size: 10px; }
.tcp-ladder.show-rel .abs, .tcp-ladder.show-abs .rel { display: none; }
"""


class _SvgBuilder:
    def __init__(
        self,
        model: LadderModel,
        *,
        absolute: bool,
        title: str | None,
        gap: float,
        width: int,
    ) -> None:
        self.m = model
        self.absolute = absolute
        self.title = title
        self.gap = gap
        self.width = max(width, 640)
        # Margins from the content: time column, then the left host's marks; the
        # right host's marks after its lifeline. The arrows get what is left
        # (at least MIN_SPAN px: the drawing widens if needed).
        times = model.times() or [0.0]
        time_col = 16 + CHAR_PX * max(len(model.fmt_time(t)) for t in (times[0], times[-1]))
        left_marks = [len(mk.text) for mk in model.marks if mk.host == model.left]
        right_marks = [len(mk.text) for mk in model.marks if mk.host != model.left]
        left_head = max(len(model.left), len(model.left_addr)) * CHAR_PX / 2
        right_head = max(len(model.right), len(model.right_addr)) * CHAR_PX / 2
        self.x_left = max(
            time_col + max(left_marks, default=0) * CHAR_PX + 20, time_col + left_head, 200.0
        )
        right_margin = max(max(right_marks, default=0) * CHAR_PX + 24, right_head + 8, 120.0)
        self.width = max(self.width, int(self.x_left + MIN_SPAN + right_margin))
        self.x_right = self.width - right_margin
        self.parts: list[str] = []

    # -- vertical layout --------------------------------------------------------

    def _layout(
        self, top: float
    ) -> tuple[dict[tuple[int, str], float], list[tuple[float, float, float]], float]:
        """y for every segment end and mark, the cut gaps (y0, y1, seconds), the bottom y."""
        points: list[tuple[_Point, tuple[int, str]]] = []
        for seg in self.m.segments:
            ends = (("send", seg.send_time), ("recv", seg.recv_time), ("drop", seg.drop_time))
            for kind, t in ends:
                if t is None:
                    continue
                at_sender = kind == "send" or (kind == "drop" and seg.status == "lost")
                host = seg.src if at_sender else seg.dst
                points.append((_Point(t, host, kind, seg.order), (seg.index, kind)))
        for i, mark in enumerate(self.m.marks):
            points.append((_Point(mark.time, mark.host, "mark", mark.order), (-1 - i, "mark")))
        points.sort(key=lambda p: (p[0].time, p[0].order))
        times = sorted({p.time for p, _ in points})
        steps = [b - a for a, b in itertools.pairwise(times) if 0 < b - a < self.gap]
        typical = sorted(steps)[len(steps) // 2] if steps else 1.0
        ys: dict[tuple[int, str], float] = {}
        gaps: list[tuple[float, float, float]] = []
        y = top
        prev: float | None = None
        used: set[tuple[str, str]] = set()
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
            used.add(slot)
            ys[ref] = y
            prev = p.time
        return ys, gaps, y

    # -- drawing -----------------------------------------------------------------

    def build(self) -> str:
        m = self.m
        top = 28.0 if self.title else 8.0
        head_y = top + 16
        first_y = head_y + 44
        ys, gaps, bottom = self._layout(first_y)
        height = bottom + 60
        xl, xr = self.x_left, self.x_right
        out = self.parts
        out.append(
            f'<svg xmlns="http://www.w3.org/2000/svg" class="tcp-ladder show-'
            f'{"abs" if self.absolute else "rel"}" width="{self.width}" height="{_num(height)}"'
            f' viewBox="0 0 {self.width} {_num(height)}" role="img"'
            f" aria-label={_attr('TCP ladder diagram ' + m.conn)}>"
        )
        out.append(f"<title>{_text(self.title or 'TCP ladder ' + m.conn)}</title>")
        out.append(f"<style>{SVG_STYLE}</style>")
        out.append("<defs>")
        for cat, color in COLORS.items():
            out.append(
                f'<marker id="tcp-ladder-head-{cat}" viewBox="0 0 10 10" refX="10" refY="5"'
                f' markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            )
        out.append("</defs>")
        if self.title:
            out.append(f'<text class="host" x="10" y="{_num(top)}">{_text(self.title)}</text>')
        for x, host, addr in ((xl, m.left, m.left_addr), (xr, m.right, m.right_addr)):
            name = host if host in m.traced else "(not traced)"
            out.append(
                f'<text class="host" x="{_num(x)}" y="{_num(head_y)}" text-anchor="middle">'
                f"{_text(name)}</text>"
            )
            if addr:
                out.append(
                    f'<text class="addr" x="{_num(x)}" y="{_num(head_y + 16)}"'
                    f' text-anchor="middle">{_text(addr)}</text>'
                )
        out.append(f'<text class="time" x="10" y="{_num(head_y)}">time (s)</text>')
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
                f' text-anchor="middle">⋮ {dt:.3f} s later ⋮</text>'
            )
        # Time labels: one per distinct y.
        labelled: set[float] = set()
        stamps: list[tuple[float, float]] = []
        for seg in m.segments:
            for kind, t in (("send", seg.send_time), ("recv", seg.recv_time)):
                if t is not None and (seg.index, kind) in ys:
                    stamps.append((ys[(seg.index, kind)], t))
        for i, mark in enumerate(m.marks):
            stamps.append((ys[(-1 - i, "mark")], mark.time))
        for y, t in sorted(stamps):
            if round(y, 1) in labelled:
                continue
            labelled.add(round(y, 1))
            out.append(f'<text class="time" x="10" y="{_num(y + 4)}">{_text(m.fmt_time(t))}</text>')
        for i, mark in enumerate(m.marks):
            out.append(self._mark(mark, ys[(-1 - i, "mark")]))
        for seg in m.segments:
            out.append(self._segment(seg, ys))
        out.append(
            f'<text class="time" x="10" y="{_num(bottom + 48)}">{_text(self._summary())}</text>'
        )
        out.append("</svg>")
        return "\n".join(out)

    def _summary(self) -> str:
        segs = self.m.segments
        lost = sum(1 for s in segs if s.status in ("lost", "unmatched"))
        text = f"{len(segs)} segments"
        if lost:
            text += f", {lost} lost"
        return text + "; SYN green, FIN blue, RST red, data yellow"

    @staticmethod
    def _vline(x: float, y0: float, y1: float, cls: str) -> str:
        return (
            f'<line class="{cls}" x1="{_num(x)}" y1="{_num(y0)}" x2="{_num(x)}" y2="{_num(y1)}"/>'
        )

    def _mark(self, mark: Mark, y: float) -> str:
        left = mark.host == self.m.left
        x = self.x_left - 10 if left else self.x_right + 10
        anchor = "end" if left else "start"
        return (
            f'<text class="{mark.kind}" x="{_num(x)}" y="{_num(y + 4)}" text-anchor="{anchor}">'
            f"{_text(mark.text)}</text>"
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
        lines.append(f"status: {seg.status}")
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
        head = True
        if seg.status in ("lost", "unmatched"):
            y1 = ysend if ysend is not None else (ydrop or 0.0)
            frac = 0.6
            x2 = xs + frac * (xd - xs)
            y2 = max(ydrop if ydrop is not None else y1, y1 + frac * TYPICAL_DY)
            x1 = xs
            head = False
            tail = "lost" if seg.status == "lost" else "lost?"
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
        else:  # delivered, dropped
            y1 = ysend if ysend is not None else 0.0
            y2 = yrecv if yrecv is not None else y1
            x1, x2 = xs, xd
            if seg.status == "dropped":
                head = False
                tail = "✕"
        g = [f'<g class="seg {seg.category}" data-i="{seg.index}">']
        g.append(f"<title>{_text(self._tooltip(seg))}</title>")
        g.append(
            f'<line class="hit" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"/>'
        )
        style = ' stroke-dasharray="5 4"' if dashed else ""
        marker = f' marker-end="url(#tcp-ladder-head-{seg.category})"' if head else ""
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
            g.append(
                f'<text class="lost" x="{_num(x2)}" y="{_num(y2 + 5)}"'
                ' text-anchor="middle">✕</text>'
            )
            if tail != "✕":
                dx = 12 if x2 > x1 else -12
                anchor = "start" if x2 > x1 else "end"
                g.append(
                    f'<text class="lost" x="{_num(x2 + dx)}" y="{_num(y2 + 5)}"'
                    f' text-anchor="{anchor}">{tail}</text>'
                )
        # The label runs along the arrow, left to right, just above it, a bit
        # past the middle: there the previous arrow is furthest away.
        (lx, ly), (rx, ry) = sorted(((x1, y1), (x2, y2)))
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
        mx, my = x1 + LABEL_AT * (x2 - x1), y1 + LABEL_AT * (y2 - y1)
        rot = f' transform="rotate({angle:.2f} {_num(mx)} {_num(my)})"'
        rel = " ".join(seg.label_parts(False, options=False))
        absl = " ".join(seg.label_parts(True, options=False))
        room = 2 * (1 - LABEL_AT) * math.hypot(rx - lx, ry - ly) - 12
        size = ""
        longest = max(len(rel), len(absl))
        if longest * CHAR_PX > room:
            size = f' font-size="{max(8.0, room / longest / CHAR_PX * FONT_PX):.1f}px"'
        common = f'x="{_num(mx)}" y="{_num(my - 5)}" text-anchor="middle" fill="{color}"{rot}{size}'
        if rel == absl:
            g.append(f'<text class="label" {common}>{_text(rel)}</text>')
        else:
            g.append(f'<text class="label rel" {common}>{_text(rel)}</text>')
            g.append(f'<text class="label abs" {common}>{_text(absl)}</text>')
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
) -> str:
    """Draw the ladder of one connection as a standalone SVG document.

    Args:
        records: trace records (times in seconds).
        left, right, conn: which hosts and connection, as in
            :func:`tcpstack.tools.ladder.render_ladder`.
        absolute: show wire ``seq``/``ack`` values first (both are in the
            file; the root's ``show-abs``/``show-rel`` class picks one).
        title: a heading inside the drawing.
        gap: idle time (seconds) from which a gap is cut out and marked.
        width: drawing width in pixels (at least 640).

    Returns:
        The SVG text (UTF-8, no XML declaration); all trace text escaped.

    Raises:
        ValueError: ``conn``, ``left`` or ``right`` is not in the trace.
    """
    model = _build(records, left, right, conn)
    return _SvgBuilder(model, absolute=absolute, title=title, gap=gap, width=width).build()


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
