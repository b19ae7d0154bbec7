"""Where the viewer meets the ladder model's newer parts, in one place.

The ladder model (:mod:`tcpstack.tools._model`) is gaining each segment's
``fate`` and a module of per-step annotations
(:mod:`tcpstack.tools.annotate`). The viewer reads both through the two
functions here: :func:`segment_fate` falls back to the model's ``status``
when a :class:`SegmentView` has no ``fate``, and :func:`run_annotations`
is empty when there is no annotator. Nothing else in the viewer depends on
which of them exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tcpstack.tools._model import LadderModel, SegmentView
from tcpstack.tools.i18n import Text
from tcpstack.trace import TraceRecord

__all__ = ["FATES", "Note", "run_annotations", "segment_fate"]

FATES = ("processed", "dropped", "lost", "unknown")
"""A segment's fate: arrived and processed, arrived and discarded by TCP, lost
in the network, or unknown (the receiver is not traced, or it is in flight)."""

_STATUS_FATE = {"delivered": "processed", "orphan": "processed", "lost": "lost",
                "dropped": "dropped"}


def segment_fate(seg: SegmentView, *, dropped_by_tcp: bool = False) -> str:
    """One of :data:`FATES` for ``seg``: its ``fate`` if the model gives one,
    else derived from its ``status`` and whether the trace shows its receiver
    discarding it after its arrival (``dropped_by_tcp``)."""
    fate = getattr(seg, "fate", None)
    if isinstance(fate, str) and fate in FATES:
        return fate
    if dropped_by_tcp:
        return "dropped"
    if seg.status == "one-sided" and seg.recv_time is not None:
        return "processed"  # traced on arrival: it was received
    return _STATUS_FATE.get(seg.status, "unknown")


@dataclass(frozen=True)
class Note:
    """A per-step explanation computed from the run.

    Attributes:
        time: seconds on the trace's clock.
        host: the host it is about.
        text: both languages.
        segment: index into ``LadderModel.segments``, or None.
        kind: what kind of explanation (the annotator's name for it).
    """

    time: float
    host: str
    text: Text
    segment: int | None
    kind: str


def run_annotations(model: LadderModel, records: Sequence[TraceRecord]) -> list[Note]:
    """The annotations of ``tcpstack.tools.annotate.annotate(model, records)``,
    or none when that module is not there. Entries that do not carry a
    two-language text are skipped (an annotator must never break the page)."""
    try:
        module: Any = importlib.import_module("tcpstack.tools.annotate")
    except ImportError:
        return []
    notes: list[Note] = []
    for item in module.annotate(model, records):
        text = getattr(item, "text", None)
        if not isinstance(text, Text):
            continue
        segment = getattr(item, "segment", None)
        notes.append(Note(
            time=float(getattr(item, "time", 0.0)),
            host=str(getattr(item, "host", "")),
            text=text,
            segment=segment if isinstance(segment, int) else None,
            kind=str(getattr(item, "kind", "")),
        ))
    return notes
