"""The transition table: complete for RFC 9293 Figure 5, enforced, and documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpstack.cli.docs import STATES_PAGE, states_page
from tcpstack.state import TRANSITIONS, State, transition_reason

FIGURE_5 = [
    ("CLOSED", "LISTEN"), ("CLOSED", "SYN-SENT"), ("LISTEN", "SYN-RECEIVED"),
    ("LISTEN", "SYN-SENT"), ("LISTEN", "CLOSED"), ("SYN-SENT", "SYN-RECEIVED"),
    ("SYN-SENT", "ESTABLISHED"), ("SYN-SENT", "CLOSED"), ("SYN-RECEIVED", "ESTABLISHED"),
    ("SYN-RECEIVED", "FIN-WAIT-1"), ("SYN-RECEIVED", "LISTEN"), ("ESTABLISHED", "FIN-WAIT-1"),
    ("ESTABLISHED", "CLOSE-WAIT"), ("FIN-WAIT-1", "FIN-WAIT-2"), ("FIN-WAIT-1", "CLOSING"),
    ("FIN-WAIT-2", "TIME-WAIT"), ("CLOSE-WAIT", "LAST-ACK"), ("CLOSING", "TIME-WAIT"),
    ("LAST-ACK", "CLOSED"), ("TIME-WAIT", "CLOSED"),
]


@pytest.mark.parametrize(("old", "new"), FIGURE_5)
def test_every_figure_5_arc_is_allowed(old: str, new: str) -> None:
    assert transition_reason(State(old), State(new))


def test_every_state_is_reachable_and_can_reach_closed() -> None:
    targets = {new for _, new in TRANSITIONS}
    sources = {old for old, _ in TRANSITIONS}
    assert targets | {State.CLOSED} == set(State)
    assert sources == set(State)


def test_illegal_transition_raises() -> None:
    with pytest.raises(ValueError, match="ESTABLISHED -> LISTEN"):
        transition_reason(State.ESTABLISHED, State.LISTEN)


def test_docs_page_is_current() -> None:
    page = Path(__file__).resolve().parents[2] / STATES_PAGE
    assert page.read_text(encoding="utf-8") == states_page(), "run python -m tcpstack.cli.docs"
