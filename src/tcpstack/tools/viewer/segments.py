"""The segments of a ladder model as the viewer shows them.

:func:`segments_json` gives each :class:`~tcpstack.tools._model.SegmentView`
the fields of its header view (ports, addresses, absolute and relative
seq/ack, the next sequence number, flags, the window before and after
scaling, options, SACK blocks in relative numbers), its fate and the steps
at which it was sent, arrived, was discarded or lost.
:func:`retransmissions` says which segments repeat sequence space their
sender had already sent (Wireshark's "retransmission").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tcpstack.tools._model import LadderModel, SegKey, SegmentView, flags_text
from tcpstack.tools.viewer.values import MOD, clean, endpoint, num
from tcpstack.trace import TraceRecord

__all__ = ["record_key", "retransmissions", "sack_rel", "segments_json", "window_shifts"]


def record_key(r: TraceRecord) -> SegKey:
    """What identifies a segment record on both ends: ``(seq, ack, flags, len)``."""
    d = r.data

    def integer(v: Any) -> int | None:
        n = num(v)
        return int(n) if n is not None and float(n).is_integer() else None

    flags = d.get("flags")
    fl = frozenset(str(f).upper() for f in flags) if isinstance(flags, list | tuple) else None
    return (integer(d.get("seq")), integer(d.get("ack")), fl or frozenset(), integer(d.get("len")))


def _space(seg: SegmentView) -> int:
    """Sequence space the segment occupies: its bytes, plus one each for SYN and FIN."""
    return (seg.length or 0) + ("SYN" in seg.flags) + ("FIN" in seg.flags)


def retransmissions(model: LadderModel) -> dict[int, bool]:
    """Segment index -> True when it carries sequence space its sender had sent before.

    A SYN is a retransmission when its sender sent a SYN with the same
    sequence number; a SYN with a new one starts a new incarnation.
    """
    out: dict[int, bool] = {}
    base: dict[str, int] = {}
    high: dict[str, int] = {}
    syns: dict[str, set[int]] = {}
    for seg in sorted(model.segments, key=lambda s: (s.time, s.order)):
        if seg.seq is None or seg.send_time is None:
            continue
        src = seg.src
        if "SYN" in seg.flags:
            seen = syns.setdefault(src, set())
            out[seg.index] = seg.seq in seen
            if seg.seq not in seen:  # a new incarnation starts its own sequence space
                seen.add(seg.seq)
                base[src], high[src] = seg.seq, 0
        base.setdefault(src, seg.seq)
        off = (seg.seq - base[src]) % MOD
        space = _space(seg)
        if space and "SYN" not in seg.flags:
            out[seg.index] = off < high.get(src, 0)
        high[src] = max(high.get(src, 0), off + space)
    return out


def window_shifts(model: LadderModel) -> dict[str, int]:
    """Each sender's window scale (RFC 7323 §2.3): only when both SYNs carried one."""
    shifts: dict[str, int] = {}
    for seg in model.segments:
        if "SYN" in seg.flags and seg.src not in shifts:
            ws = num(seg.options.get("wscale"))
            shifts[seg.src] = int(ws) if ws is not None else -1
    if len(shifts) == 2 and all(v >= 0 for v in shifts.values()):
        return shifts
    return {}


def sack_rel(model: LadderModel, seg: SegmentView) -> list[list[int]] | None:
    """SACK blocks relative to the ISN of the data they acknowledge (the receiver's)."""
    blocks = seg.options.get("sack")
    base = model.isn.get(seg.dst)
    if not isinstance(blocks, list) or base is None:
        return None
    out = []
    for block in blocks:
        if isinstance(block, list | tuple) and len(block) == 2 and all(
                num(v) is not None for v in block):
            out.append([(int(block[0]) - base) % MOD, (int(block[1]) - base) % MOD])
    return out


def segments_json(
    model: LadderModel,
    *,
    retransmits: Mapping[int, bool],
    steps: Mapping[int, Mapping[str, int]],
) -> list[dict[str, Any]]:
    """Every segment of ``model`` as the page's JSON.

    Args:
        model: the ladder model.
        retransmits: :func:`retransmissions` of the model.
        steps: segment index -> ``{"sent"|"arrived"|"dropped"|"lost": step index}``.
    """
    shifts = window_shifts(model)
    addr = {model.left: model.left_addr, model.right: model.right_addr}
    out = []
    for seg in model.segments:
        src_ip, src_port = endpoint(addr.get(seg.src, ""))
        dst_ip, dst_port = endpoint(addr.get(seg.dst, ""))
        syn = "SYN" in seg.flags
        scaled = None
        if seg.window is not None:
            scaled = seg.window << (0 if syn else shifts.get(seg.src, 0))
        at = steps.get(seg.index, {})
        out.append({
            "i": seg.index,
            "src": seg.src,
            "dst": seg.dst,
            "side": "L" if seg.src == model.left else "R",
            "src_ip": src_ip, "src_port": src_port,
            "dst_ip": dst_ip, "dst_port": dst_port,
            "seq": seg.seq, "ack": seg.ack,
            "rel_seq": seg.rel_seq, "rel_ack": seg.rel_ack,
            "next_rel_seq": None if seg.rel_seq is None else (seg.rel_seq + _space(seg)) % MOD,
            "flags": [f for f in flags_text(seg.flags).split(",") if f != "none"],
            "len": seg.length,
            "window": seg.window,
            "window_scaled": scaled,
            "window_shift": None if syn else shifts.get(seg.src),
            "options": clean(seg.options),
            "sack_rel": sack_rel(model, seg),
            "category": seg.category,
            "label_rel": " ".join(seg.label_parts(False, options=False)),
            "label_abs": " ".join(seg.label_parts(True, options=False)),
            "sent": seg.send_time, "received": seg.recv_time, "dropped": seg.drop_time,
            "drop_reason": seg.drop_reason,
            "fate": seg.fate,
            "status": seg.status,
            "retransmission": retransmits.get(seg.index, False),
            "step_sent": at.get("sent"),
            "step_arrived": at.get("arrived"),
            "step_dropped": at.get("dropped"),
            "step_lost": at.get("lost"),
        })
    return out
