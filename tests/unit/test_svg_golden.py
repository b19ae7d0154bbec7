"""Golden files: the SVG ladder of every scenario, as ``tcpstack demo NAME --svg FILE`` writes it.

A change of layout, wording or fate drawing shows up here as a diff. When
the change is intended, regenerate the files and review them like code::

    TCPSTACK_UPDATE_GOLDEN=1 python -m pytest -q tests/unit/test_svg_golden.py

On a mismatch the test writes the new drawing to its tmp directory and names
it, so it can be opened next to the golden one.
"""

from __future__ import annotations

import difflib
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.scenarios import SCENARIOS, ScenarioOptions
from tcpstack.tools.html import render_svg

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "svg"
UPDATE = os.environ.get("TCPSTACK_UPDATE_GOLDEN") == "1"


def demo_svg(name: str) -> str:
    """What ``tcpstack demo NAME --svg FILE`` writes, with default options."""
    result = SCENARIOS[name].run(ScenarioOptions())
    return render_svg(result.records, title=f"tcpstack: {result.name}", left=result.client,
                      right=result.server)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_svg_matches_its_golden_file(name: str, tmp_path: Path) -> None:
    svg = demo_svg(name)
    ET.fromstring(svg)  # well-formed XML
    assert demo_svg(name) == svg  # deterministic: no timestamps, no random ids
    golden = GOLDEN / f"{name}.svg"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(svg, encoding="utf-8")
        return
    fresh = tmp_path / f"{name}.svg"
    if not golden.exists():
        fresh.write_text(svg, encoding="utf-8")
        pytest.fail(f"no golden file {golden}; the drawing is in {fresh}; "
                    "create it with TCPSTACK_UPDATE_GOLDEN=1")
    expected = golden.read_text(encoding="utf-8")
    if svg != expected:
        fresh.write_text(svg, encoding="utf-8")
        diff = "\n".join(list(difflib.unified_diff(
            expected.splitlines(), svg.splitlines(), str(golden), str(fresh), lineterm="", n=1,
        ))[:40])
        pytest.fail(f"the SVG of {name} differs from {golden}; the new drawing is {fresh}. "
                    f"If the change is intended, rerun with TCPSTACK_UPDATE_GOLDEN=1.\n{diff}")
