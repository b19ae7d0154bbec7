"""``tcpstack tun ... --stats / --stats-json``: our counters against the kernel's own.

The kernel's TCP and our stack talk over a TUN device in a namespace the test
makes (no route out, removed afterwards). With plain packets (``--no-offload``)
and no loss, what one side counts as sent the other counts as received, and
Linux's names let the two be compared directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_tun import ECHO_CLIENT, serve_args
from tun_helpers import OURS, Netns

pytestmark = pytest.mark.tun


def run_echo(ns: Netns, tmp_path: Path, size: int, *extra: str) -> dict[str, Any]:
    """Serve one echo connection of ``size`` bytes with ``--stats --stats-json``;
    return the host's counters object."""
    path = tmp_path / "stats.json"
    stack = ns.start_stack(*serve_args("--app", "echo", "--port", "7", "--count", "1",
                                       "--no-offload", "--stats", "--stats-json", str(path),
                                       *extra))
    out = ns.python(ECHO_CLIENT, OURS, "7", str(size), timeout=90)
    assert out["error"] is None and out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=60) == 0, ns.output("stack")[1]
    obj = json.loads(path.read_text())
    host: dict[str, Any] = obj["hosts"]["tcpstack"]
    return host


def test_stats_match_the_kernels_counters(ns: Netns, tmp_path: Path) -> None:
    ours = run_echo(ns, tmp_path, 64 * 1024)
    kernel = ns.tcp_counters()
    nstat = ours["nstat"]
    assert nstat["TcpPassiveOpens"] == kernel["ActiveOpens"] == 1
    assert nstat["TcpInSegs"] == kernel["OutSegs"], (nstat, kernel)
    assert nstat["TcpOutSegs"] == kernel["InSegs"], (nstat, kernel)
    assert nstat["TcpInCsumErrors"] == kernel["InCsumErrors"] == 0
    assert nstat["TcpEstabResets"] == kernel["EstabResets"] == 0
    assert nstat["TcpOutRsts"] == kernel["OutRsts"] == 0
    # --stats: the table on stderr names the counters and their Linux names.
    err = ns.output("stack")[1]
    assert "passive_opens" in err and "TcpPassiveOpens" in err


def test_stats_count_retransmissions_under_loss(ns: Netns, tmp_path: Path) -> None:
    ours = run_echo(ns, tmp_path, 256 * 1024, "--to-kernel", "loss=0.05", "--seed", "7")
    assert ours["counters"]["retrans_segs"] > 0
    [conn] = ours["connections"]
    assert conn["name"].startswith(f"{OURS}:7-")
    assert conn["counters"]["retrans_segs"] == ours["counters"]["retrans_segs"]
    assert ns.tcp_counters()["EstabResets"] == 0
