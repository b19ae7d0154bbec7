"""Attack experiments: ``tcpstack attack NAME`` (issue 12, docs/security.md "Attack experiments").

Each attack runs in the simulator, seeded, through the stack's public API,
measures what the stack does, and judges it against the issue's "done
means" criterion (:class:`~.common.AttackResult`):

* ``blind-rst``, ``blind-syn``, ``blind-data`` and ``ack-storm``
  (:mod:`.blind`): spoofed segments at an established bulk transfer;
* ``syn-flood`` (:mod:`.synflood`): spoofed SYNs while clients connect;
* ``ofo-holes`` (:mod:`.ofo`): a window full of 1-byte holes;
* ``zero-window`` (:mod:`.zerowindow`): a peer that vanishes behind a zero window.
"""

from __future__ import annotations

from .blind import BLIND_KINDS, run_ack_storm, run_blind
from .common import AttackResult, Check, Metric, Progress
from .ofo import run_ofo_holes
from .synflood import run_syn_flood
from .zerowindow import run_zero_window

ATTACKS: dict[str, str] = {
    "blind-rst": "spoofed RSTs with guessed sequence numbers at a bulk transfer",
    "blind-syn": "spoofed SYNs with guessed sequence numbers at a bulk transfer",
    "blind-data": "spoofed data with guessed sequence and ACK numbers at a bulk transfer",
    "syn-flood": "spoofed SYNs from many addresses while legitimate clients connect",
    "ofo-holes": "a peer that fills the receive window with 1-byte holes",
    "zero-window": "a peer that advertises a zero window, then vanishes",
    "ack-storm": "duplicate, out-of-window, unsent and ancient ACKs at a data sender",
}
"""Every attack by name, with one line saying what it does."""

__all__ = [
    "ATTACKS",
    "BLIND_KINDS",
    "AttackResult",
    "Check",
    "Metric",
    "Progress",
    "run_ack_storm",
    "run_blind",
    "run_ofo_holes",
    "run_syn_flood",
    "run_zero_window",
]
