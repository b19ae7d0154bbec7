"""Every drill script of tests/drill/ against the Linux kernel (the ``linux`` target).

The scripts encode RFC 9293 (and RFCs 5961, 6298, 5681, 7323, 2018), not
Linux: each must pass on the kernel, or fail with a ``// linux-deviation:``
comment saying where Linux departs from the RFC (an expected deviation).
tests/unit/test_drill_scripts.py runs the same scripts against tcpstack.

Each run makes its own network namespace and TUN device (LinuxTarget), so
the tests are safe under pytest-xdist. Skipped without root, /dev/net/tun,
``ip`` or pyroute2; with ``TCPSTACK_REQUIRE_TUN=1`` those conditions fail
the tests instead.

Timing: the kernel runs in real time, its system calls go through a helper
process and its packets through a reader thread, so a run under load (two
xdist workers on two cores) sees a few milliseconds of scheduling jitter.
The timing tolerance is therefore :data:`LINUX_TOLERANCE` (or the script's
own ``--tolerance_usecs`` if larger) instead of drill's default 4 ms; the
scripts themselves use ranges where the kernel's timers are coarse (its
timer wheel fires a 1 s timer up to 32 ms late).

Load: the agent and the packet reader run at a raised priority, and a run that
fails on timing only is run once more (``run_with_timing_retry``: a fresh
namespace, so always safe); a real timing bug fails both runs. A pass on the
rerun is reported as a warning, so flakiness stays visible.

Offload: these scripts were written for a device without segmentation offload
(each segment at most one MSS, as tcpstack sends), so they run with
``LinuxTarget(offload=False)`` unless a script sets ``--tso`` itself;
packetdrill's own scripts run with the offloads packetdrill turns on.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from tun_helpers import require_linux_target

from tcpstack.harness.drill.parse import parse_file
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.linux import (
    LinuxTarget,
    run_with_timing_retry,
)

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "drill").glob("*.pkt"))

LINUX_TOLERANCE = 0.02
"""Timing tolerance on the kernel, seconds (see the module docstring)."""



def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 80


@pytest.mark.tun
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_on_linux(path: Path) -> None:
    require_linux_target()
    script = parse_file(path)
    usecs = script.options.get("tolerance_usecs")
    tolerance = max(LINUX_TOLERANCE, int(usecs) / 1e6 if usecs else 0.0)
    offload = None if "tso" in script.options else False
    result, reruns = run_with_timing_retry(
        lambda: run_script(script, LinuxTarget(offload=offload), tolerance=tolerance)
    )
    if result.passed:
        if reruns:
            warnings.warn(f"{path.name}: passed on retry ({reruns} rerun after a timing "
                          "failure)", stacklevel=1)
        return
    failure = result.failure
    assert failure is not None
    detail = (
        f"{path.name}:{failure.line}: {failure.message}\n"
        f"  expected: {failure.expected}\n  actual:   {failure.actual}"
    )
    assert result.expected_deviation, (
        f"fails on Linux without a '// linux-deviation:' comment\n{detail}"
    )
