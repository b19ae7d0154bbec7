"""The viewer's document: one connection of a trace as steps the page walks through.

:func:`build_document` reads trace records (docs/trace.md) and nothing else,
and returns one JSON-serialisable dict the page's script draws:

``steps``
    Every segment send, arrival, TCP drop and network loss, state change,
    timer expiry and application call of the connection, in trace order,
    each with a caption in English and Chinese (:mod:`.steps`).
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
    the steps at which each was sent, arrived, was discarded or lost
    (:mod:`.segments`).
``transitions``
    :data:`tcpstack.state.RULES`, for the state diagram.
``series``
    For the time-sequence graph and the cwnd plot: data sent and ACKs
    received per direction, and cwnd/ssthresh per host over time (:mod:`.series`).

Times are seconds; sizes bytes. Nothing here raises on odd or partial
traces (a host that never appears has an empty lifeline; an empty trace is
a document without steps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tcpstack.state import RULES, State
from tcpstack.tools._model import LadderModel, build_model, list_connections
from tcpstack.tools.i18n import Text
from tcpstack.tools.viewer.segments import retransmissions, segments_json
from tcpstack.tools.viewer.series import plot_series
from tcpstack.tools.viewer.steps import StepBuilder
from tcpstack.tools.viewer.tcb import TCB_FIELDS
from tcpstack.tools.viewer.values import clean, endpoint, round_time
from tcpstack.trace import TraceRecord

__all__ = ["DOC_VERSION", "TCB_FIELDS", "About", "build_document", "text_json",
           "transitions_json"]

DOC_VERSION = 1
"""The document's format version (the page reads this format)."""

MARKS_DRAWN_FROM_STEPS = frozenset({"state", "note", "drop", "call"})
"""Kinds of ladder-model marks the page draws from its own steps; others come along."""


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


def _extra_marks(model: LadderModel, step_of_record: Mapping[int, int]) -> list[dict[str, Any]]:
    """The model's marks of kinds the steps do not draw, each with its step."""
    side = {model.left: "L", model.right: "R"}
    return [{"side": side[mark.host], "kind": mark.kind, "text": mark.text,
             "t": round_time(mark.time), "step": step_of_record.get(mark.order)}
            for mark in model.marks
            if mark.kind not in MARKS_DRAWN_FROM_STEPS and mark.host in side]


def _host_json(model: LadderModel, host: str) -> dict[str, Any]:
    addr = model.left_addr if host == model.left else model.right_addr
    ip, port = endpoint(addr)
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
    retransmits = retransmissions(model)
    b = StepBuilder(recs, model, retransmits)
    b.build()
    segments = segments_json(model, retransmits=retransmits, steps=b.seg_steps)
    end = max((s["t"] for s in b.steps), default=0.0)
    doc: dict[str, Any] = {
        "version": DOC_VERSION,
        "title": title or (about.name if about and about.name else None) or "TCP connection",
        "about": None if about is None else {
            "name": about.name,
            "summary": text_json(about.summary),
            "question": text_json(about.question),
            "answer": text_json(about.answer),
            "options": clean(dict(about.options)),
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
        "marks": _extra_marks(model, b.step_of_record),
        "transitions": transitions_json(),
        "states": [str(s) for s in State],
        "series": plot_series(model, segments, recs, b.relevant),
        "end": end,
        "decimals": model.decimals,
    }
    return doc
