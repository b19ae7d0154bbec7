"""Every example script in tests/drill/ passes against the tcpstack target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpstack.harness.drill.parse import parse_file
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "drill").glob("*.pkt"))


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_passes_on_tcpstack(path: Path) -> None:
    result = run_script(parse_file(path), TcpstackTarget())
    failure = result.failure
    assert result.passed, (
        f"{path.name}:{failure.line}: {failure.message}\n"
        f"  expected: {failure.expected}\n  actual:   {failure.actual}"
        if failure else ""
    )
