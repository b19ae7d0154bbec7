"""The torture test: 300 seeded two-way transfers over hostile links (issue: reliable transfer).

Each seed draws sizes (0 to 4 MiB each way, half-closed as each side
finishes), loss up to 30 %, duplication, reordering, corruption up to 2 %,
jitter and sometimes an outage. Each must arrive byte-exact and close
cleanly, or, when the outage outlasts R2, end in the documented timeout; no
run may hang. ``tcpstack torture --seeds 5000`` runs the long version.
"""

from __future__ import annotations

import pytest

from tcpstack.harness.torture import TortureCase, run_case

SEEDS = range(300)


@pytest.mark.parametrize("seed", SEEDS)
def test_seed(seed: int) -> None:
    result = run_case(TortureCase.draw(seed))
    rerun = f"tcpstack torture --start {seed} --seeds 1"
    assert result.ok, f"{result.detail} ({result.case}); rerun: {rerun}"


def test_the_draw_covers_the_promised_ranges() -> None:
    cases = [TortureCase.draw(s) for s in SEEDS]
    assert min(c.up for c in cases) == 0 and max(max(c.up, c.down) for c in cases) > 3 * 2**20
    assert max(c.loss for c in cases) > 0.25 and min(c.loss for c in cases) == 0.0
    assert max(c.corrupt for c in cases) > 0.015
    assert any(c.duplicate for c in cases) and any(c.reorder for c in cases)
    assert any(c.jitter for c in cases)
    assert any(c.fatal_outage for c in cases)
    assert any(c.outage_start is not None and not c.fatal_outage for c in cases)
    assert sum(1 for c in cases if c.up and c.down) > 200  # both directions at once


def test_same_seed_same_outcome() -> None:
    a, b = run_case(TortureCase.draw(7)), run_case(TortureCase.draw(7))
    assert (a.ok, a.outcome, a.packets, a.virtual_seconds) == (b.ok, b.outcome, b.packets,
                                                               b.virtual_seconds)
