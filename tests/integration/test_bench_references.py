"""``tcpstack bench``'s root-only references, at small sizes: kernel to kernel over
veth, and tcpstack on TUN against the kernel in both directions.

The benchmark makes its own namespaces (``tcpsbench-PID-...``) and must remove
them; these tests check that none of this process's is left. Speeds are
printed by the benchmark, never asserted on. Skipped like the other TUN tests
without root, /dev/net/tun or ``ip`` (``TCPSTACK_REQUIRE_TUN=1`` fails them
instead).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from tun_helpers import netns_names, require_or_skip, tun_unavailable_reason

from tcpstack.cli import main
from tcpstack.harness.references import kernel_loopback, kernel_veth, tun_bulk, tun_vs_veth

pytestmark = pytest.mark.tun

SIZE = 1 << 20
"""Bytes per transfer: enough for many windows, quick."""


def ours() -> set[str]:
    """The namespaces this process's benchmark made and did not remove."""
    return {n for n in netns_names() if n.startswith(f"tcpsbench-{os.getpid()}-")}


@pytest.fixture(autouse=True)
def _root_and_clean() -> Iterator[None]:
    reason = tun_unavailable_reason()
    if reason is not None:
        require_or_skip(reason)
    assert not ours()
    yield
    assert not ours(), "the benchmark left namespaces behind"


def test_veth_and_tun_both_directions_byte_exact() -> None:
    veth = kernel_veth(SIZE, runs=2)
    assert "skipped" not in veth, veth.get("skipped")
    assert veth["runs"] == 2 and veth["min"] > 0 and veth["bytes"] == SIZE
    tun = tun_bulk(SIZE, runs=2)
    for key in ("tun_bulk_mbps_send", "tun_bulk_mbps_recv"):
        fig = tun[key]
        assert "skipped" not in fig, fig.get("skipped")
        assert fig["runs"] == 2 and fig["min"] > 0
        assert fig["driver_options"] == {"offload": True} and fig["offload_in_effect"] is True
    ratio = tun_vs_veth(tun, veth)
    assert ratio["runs"] == 2 and ratio["median"] > 0 and isinstance(ratio["met"], bool)
    assert tun["tun_bulk_mbps_send"]["target"].endswith("(0.25 x kernel_veth_mbps)")


def test_loopback_runs_in_a_namespace_of_its_own() -> None:
    fig = kernel_loopback(SIZE, runs=1)
    assert fig["netns"] is True and fig["min"] > 0


def test_driver_options_reach_the_tun_driver() -> None:
    fig = tun_bulk(SIZE // 4, runs=1, options={"mtu": 1400})["tun_bulk_mbps_recv"]
    assert fig["driver_options"] == {"offload": True, "mtu": 1400} and fig["mtu"] == 1400
    plain = tun_bulk(SIZE // 4, runs=1, options={"offload": False})
    for key in ("tun_bulk_mbps_send", "tun_bulk_mbps_recv"):
        assert plain[key]["offload_in_effect"] is False and plain[key]["min"] > 0
    with pytest.raises(RuntimeError, match="no_such_option"):
        tun_bulk(1000, runs=1, options={"no_such_option": True})


def test_cli_prints_the_references_and_their_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "kernel_veth,tun_bulk", "--size", str(SIZE),
                 "--runs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("kernel_veth_mbps", "tun_bulk_mbps_send", "tun_bulk_mbps_recv", "tun_vs_veth"):
        assert "skipped" not in out[key] and out[key]["runs"] == 1
    assert out["tun_vs_veth"]["target"] == ">= 0.25"
