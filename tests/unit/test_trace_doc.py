"""docs/trace.md documents what the code emits: events, causes, timers, drop reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpstack.scenarios import SCENARIOS, ScenarioOptions, get_scenario
from tcpstack.state import Cause
from tcpstack.timers import Timer
from tcpstack.trace import EVENT_NAMES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "trace.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EVENT_NAMES))
def test_every_event_is_documented(name: str) -> None:
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("cause", list(Cause), ids=lambda c: c.name)
def test_every_cause_is_documented(cause: Cause) -> None:
    assert f"| `{cause.value}` |" in DOC


@pytest.mark.parametrize("timer", list(Timer), ids=lambda t: t.name)
def test_every_timer_is_documented(timer: Timer) -> None:
    assert f"| `{timer.value}` |" in DOC


def test_every_drop_reason_the_scenarios_produce_is_documented() -> None:
    reasons: set[str] = set()
    for name in SCENARIOS:
        for options in (ScenarioOptions(), ScenarioOptions(seed=3, loss=0.3, duplicate=0.1,
                                                           reorder=0.1, jitter=0.01)):
            result = get_scenario(name).run(options)
            reasons |= {r.data["reason"] for r in result.records
                        if r.event == "segment_dropped"}
    assert len(reasons) > 5
    missing = {r for r in reasons if f"`{r}`" not in DOC}
    assert missing == set()
