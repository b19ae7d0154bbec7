"""The ladder of one connection as a Mermaid ``sequenceDiagram``.

Mermaid diagrams render in the note tools students use (Obsidian, Typora,
Notion, GitHub and GitLab Markdown, mermaid.live), so a run can be pasted
into notes and still be a picture::

    sequenceDiagram
        participant client as client 192.0.2.1:56823
        participant server as server 192.0.2.2:80
        Note over client: connect()
        Note over client: SYN-SENT
        client ->> server: SYN seq=0 len=0 win=65535 #60;mss 1460,sackOK#62;
        ...
        server -) client: FIN,ACK seq=45 ack=20 len=0 win=65517
        Note over client: dropped on arrival: a retransmitted FIN: ...

One message per segment, in the order they were sent, labelled like the
terminal ladder (flags, ``seq``, ``ack``, ``len``, ``win``, options on SYNs;
numbers relative to each side's ISN unless ``absolute``). What became of a
segment decides the arrow: ``->>`` processed by the receiver, ``-)`` (an
open arrowhead) arrived and dropped by TCP, followed by a note with the
reason in words, ``-x`` lost in the network, ``-->>`` (dotted) fate
unknown (the receiver is not traced, or the segment was still in flight).
State changes, application calls and timers are notes over their host;
idle gaps of ``gap`` seconds or more are a note across both lifelines.

Text is escaped with Mermaid's entity codes (``#35;`` for ``#``, ``#59;``
for ``;``, ``#60;``/``#62;`` for ``<``/``>``), the characters that end or
change a message. Explanations come in English or Simplified Chinese
(``lang``); state names stay in RFC spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tcpstack.tools._model import LadderModel, Mark, SegmentView, build_model
from tcpstack.tools.i18n import Lang, Text
from tcpstack.tools.reasons import drop_reason_text
from tcpstack.trace import TraceRecord

__all__ = ["ARROWS", "escape", "render_mermaid", "segment_fate"]

#: The Mermaid arrow of each fate of a segment.
ARROWS = {"processed": "->>", "dropped": "-)", "lost": "-x", "unknown": "-->>"}

_STATUS_FATE = {
    "delivered": "processed",
    "orphan": "processed",
    "lost": "lost",
    "dropped": "dropped",
}

#: Words Mermaid's sequence grammar reserves: a host called so gets another id.
_KEYWORDS = frozenset(
    "participant actor as loop alt else opt par and rect end note over left right of title "
    "autonumber activate deactivate critical break box create destroy link links properties "
    "details option accTitle accDescr sequenceDiagram".lower().split()
)

#: What ends a message (``#``, ``;``), reads as HTML (``<``, ``>``) or starts a comment (``%%``).
_SPECIAL = re.compile(r"[#;<>%]")

_LOST = Text("✕ lost", "✕ 丢失")
_DROPPED = Text("dropped on arrival: {words} [{reason}]", "收到后丢弃：{words} [{reason}]")
_GAP = Text("⋮ {seconds} s later", "⋮ {seconds} 秒后")
_EMPTY = Text("no segments in the trace", "追踪记录中没有报文段")
_NOT_TRACED = Text("(not traced)", "（未追踪）")
_HEADER = Text("tcpstack: one connection of a run, drawn from its trace; {numbers}",
               "tcpstack：根据追踪记录画出的一次运行中的一个连接；{numbers}")
_RELATIVE = Text("seq/ack relative to each side's ISN",
                 "seq/ack 为相对于各自初始序列号（ISN）的相对值")
_ABSOLUTE = Text("seq/ack as on the wire", "seq/ack 为报文中的绝对值")
_LEGEND = Text(
    "arrows: ->> processed, -) dropped by TCP on arrival, -x lost in the network, "
    "-->> fate unknown",
    "箭头：->> 已处理，-) 到达后被 TCP 丢弃，-x 在网络中丢失，-->> 去向未知",
)


def segment_fate(seg: SegmentView) -> str:
    """``processed``, ``dropped``, ``lost`` or ``unknown``: what became of ``seg``.

    The model's ``fate`` when it has one (lost in the network, dropped by
    TCP on arrival, processed, or unknown); else derived from its ``status``
    (``delivered`` and ``orphan`` were processed; ``unmatched`` and
    ``one-sided`` are unknown).
    """
    if seg.fate in ARROWS and seg.fate != "unknown":
        return seg.fate
    return _STATUS_FATE.get(seg.status, "unknown")


def escape(text: str) -> str:
    """``text`` made safe inside a Mermaid message, note or participant alias.

    ``#`` and ``;`` end a message in Mermaid's grammar, ``<``/``>`` read as
    HTML and ``%%`` starts a comment: they become entity codes (``#59;``);
    runs of white space, line breaks included, become one space.
    """
    return _SPECIAL.sub(lambda m: f"#{ord(m.group())};", " ".join(text.split()))


def _title(text: str) -> str:
    """A title: Mermaid ends it at ``#`` or ``;`` and does not decode entity codes there."""
    return " ".join(_SPECIAL.sub(" ", text).split())


def _ids(model: LadderModel) -> dict[str, str]:
    """A Mermaid participant id per host: its name when that is a plain word."""
    out: dict[str, str] = {}
    for host in (model.left, model.right):
        ident = re.sub(r"\W", "_", host, flags=re.ASCII)
        if not re.match(r"[A-Za-z]", ident) or ident.lower() in _KEYWORDS:
            ident = "h_" + ident
        while ident in out.values():
            ident += "_"
        out[host] = ident
    return out


def _drop_words(reason: str, lang: Lang) -> str:
    return _DROPPED.format(words=drop_reason_text(reason).get(lang), reason=reason).get(lang)


def _mark_text(mark: Mark, lang: Lang) -> str:
    if mark.kind == "drop":
        reason = mark.text.lstrip("✕ ").strip()
        return _drop_words(reason, lang) if reason else mark.text
    return mark.text


def render_mermaid(
    source: Iterable[TraceRecord] | LadderModel,
    *,
    left: str | None = None,
    right: str | None = None,
    conn: str | None = None,
    absolute: bool = False,
    title: str | None = None,
    lang: Lang = "en",
    gap: float = 1.0,
) -> str:
    """A Mermaid ``sequenceDiagram`` of one connection (see the module docstring).

    Args:
        source: trace records (a ``Trace`` or a list from ``read_jsonl``), or
            a ladder model already built (then ``left``, ``right`` and
            ``conn`` are not used).
        left, right: the hosts drawn first and second (default: the client first).
        conn: the connection, ``"addr:port-addr:port"`` in either direction
            (default: the one with the most segments).
        absolute: wire ``seq``/``ack`` instead of relative to each side's ISN.
        title: the diagram's title (Mermaid ``title``; ``# ; < > %`` become spaces).
        lang: the language of the notes, ``"en"`` or ``"zh"``.
        gap: idle time (seconds) from which a "N s later" note is drawn.

    Returns:
        The diagram text (Mermaid 10 and 11 syntax), ending with a newline.

    Raises:
        ValueError: ``conn``, ``left`` or ``right`` is not in the trace.
    """
    model = (source if isinstance(source, LadderModel)
             else build_model(source, left=left, right=right, conn=conn))
    ids = _ids(model)
    numbers = (_ABSOLUTE if absolute else _RELATIVE).get(lang)
    lines = [
        f"%% {_HEADER.format(numbers=numbers).get(lang)}",
        f"%% {_LEGEND.get(lang)}",
        "sequenceDiagram",
    ]
    if title:
        lines.append(f"    title {_title(title)}")
    for host, addr in ((model.left, model.left_addr), (model.right, model.right_addr)):
        label = f"{host} {addr}" if addr and addr != host else host
        if model.traced and host not in model.traced:
            label += " " + _NOT_TRACED.get(lang)
        lines.append(f"    participant {ids[host]} as {escape(label)}")
    if not model.segments and not model.marks:
        both = f"{ids[model.left]},{ids[model.right]}"
        lines.append(f"    Note over {both}: {escape(_EMPTY.get(lang))}")
        return "\n".join(lines) + "\n"

    # Drops drawn with their segment are not drawn again as the receiver's mark.
    drawn = {(s.dst, s.drop_time) for s in model.segments if segment_fate(s) == "dropped"}
    items: list[tuple[float, int, int, SegmentView | Mark]] = [
        (s.time, s.order, 0, s) for s in model.segments
    ]
    items += [(m.time, m.order, 1, m) for m in model.marks
              if not (m.kind == "drop" and (m.host, m.time) in drawn)]
    items.sort(key=lambda it: (it[0], it[1], it[2]))
    last: float | None = None
    for t, _, _, item in items:
        if last is not None and t - last >= gap:
            text = _GAP.format(seconds=f"{t - last:.3f}").get(lang)
            lines.append(f"    Note over {ids[model.left]},{ids[model.right]}: {escape(text)}")
        if isinstance(item, SegmentView):
            lines.extend(_segment_lines(item, ids, absolute, lang))
            times = [x for x in (item.send_time, item.recv_time, item.drop_time) if x is not None]
            last = max([t, *times] if last is None else [last, *times])
        else:
            lines.append(f"    Note over {ids[item.host]}: {escape(_mark_text(item, lang))}")
            last = t if last is None else max(last, t)
    return "\n".join(lines) + "\n"


def _segment_lines(seg: SegmentView, ids: dict[str, str], absolute: bool, lang: Lang) -> list[str]:
    fate = segment_fate(seg)
    src = ids.get(seg.src)
    dst = ids.get(seg.dst)
    if src is None or dst is None:  # a segment of a host that is not drawn
        return []
    label = seg.label(absolute)
    if fate == "lost":
        label += " " + _LOST.get(lang)
    lines = [f"    {src} {ARROWS[fate]} {dst}: {escape(label)}"]
    if fate == "dropped" and seg.drop_reason:
        lines.append(f"    Note over {dst}: {escape(_drop_words(seg.drop_reason, lang))}")
    return lines
