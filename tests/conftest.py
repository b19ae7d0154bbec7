"""Suite-wide check: the whole suite takes every transition of the state table.

``tcpstack.state.RULES`` lists every ``(old, new, cause)`` state change the
implementation makes; ``Connection._set_state`` refuses any other (a test that
causes one fails on the spot) and counts each one it makes in
``tcpstack.state.TAKEN``. When the whole suite runs (no file, ``-k`` or ``-m``
selection), an entry no test takes fails the run: the table, and the
``docs/states.md`` drawn from it, show only what the code does. Under
pytest-xdist each worker reports what it took and the controller adds them up.
``TCPSTACK_TRANSITION_CHECK=1`` runs the check on any selection.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tcpstack import state

TESTS = Path(__file__).resolve().parent
_taken: set[str] = set()
_untaken: list[str] = []


def _key(entry: tuple[state.State, state.State, state.Cause]) -> str:
    old, new, cause = entry
    return f"{old} -> {new} ({cause})"


def _taken_here() -> set[str]:
    return {_key(entry) for entry, count in state.TAKEN.items() if count}


def _whole_suite(config: pytest.Config) -> bool:
    """True if this run is the whole suite: only the tests folder, no selection
    (or TCPSTACK_TRANSITION_CHECK=1 asks for the check on any selection)."""
    if os.environ.get("TCPSTACK_TRANSITION_CHECK") == "1":
        return True
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    if config.getoption("deselect", None) or config.getoption("lf", False):
        return False
    args = [Path(a.split("::")[0]).resolve() for a in config.args] or [TESTS]
    return all(a == TESTS or a == TESTS.parent for a in args)


class _WorkerResults:
    """Collects what each xdist worker took (registered only with xdist)."""

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {})
        _taken.update(json.loads(output.get("transitions_taken", "[]")))


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_WorkerResults(), "tcpstack-transitions")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: report to the controller
        workeroutput["transitions_taken"] = json.dumps(sorted(_taken_here()))
        return
    if not _whole_suite(config) or session.testscollected == 0:
        return
    taken = _taken | _taken_here()
    _untaken[:] = [_key(entry) for entry in state.RULES if _key(entry) not in taken]
    if _untaken and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _untaken:
        terminalreporter.section("state transitions never taken", sep="=", red=True)
        terminalreporter.line(
            "tcpstack.state.RULES lists transitions no test takes; take them in a "
            "test or remove them from the table:"
        )
        for line in _untaken:
            terminalreporter.line(f"  {line}", red=True)
