"""tcpstack.tools.fates: each packet of a simulated run joined with what the trace says of it."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tcpstack.cli import main
from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.sim import Network
from tcpstack.scenarios import SCENARIOS, ScenarioOptions, get_scenario
from tcpstack.tools.fates import packet_comments, packet_fates
from tcpstack.tools.pcap import read_packets
from tcpstack.tools.reasons import DROP_REASONS, NETWORK_LOSSES
from tcpstack.trace import TraceRecord
from tcpstack.wire import Flags, decode_packet

DOC = (Path(__file__).resolve().parents[2] / "docs" / "trace.md").read_text(encoding="utf-8")


def _segment_sent(records: list[TraceRecord]) -> int:
    return sum(1 for r in records if r.event == "segment_sent")


def test_lost_final_ack_names_the_lost_ack_and_the_dropped_fin() -> None:
    result = get_scenario("lost-final-ack").run(ScenarioOptions())
    packets = result.network.packets
    fates = packet_fates(packets, result.records)
    assert len(fates) == len(packets) == _segment_sent(result.records)
    losses = [r for r in result.records if r.event == "segment_dropped" and "to" in r.data]
    assert [f.number for f in fates if f.fate == "lost"] == [r.data["packet"] for r in losses]
    (lost,) = [f for f in fates if f.fate == "lost"]
    _, ack = decode_packet(packets[lost.number - 1][1])
    assert ack.flags == Flags.ACK and lost.src.endswith(f":{ack.src_port}")
    assert lost.comment() == f"lost: dropped on purpose by the scenario [{lost.lost}]"
    # The server's FIN comes again; TIME-WAIT at the client drops it, re-ACKs it.
    (dropped,) = [f for f in fates if f.fate == "dropped"]
    _, fin = decode_packet(packets[dropped.number - 1][1])
    assert fin.flags & Flags.FIN and dropped.number > lost.number
    assert [(a.host, a.received, a.drops) for a in dropped.arrivals] == [
        ("client", True, ["retransmitted-fin"])
    ]
    assert dropped.comment() == (
        f"dropped by client ({dropped.dst}) on arrival: a retransmitted FIN: TIME-WAIT ACKs it "
        "again and restarts 2 MSL [retransmitted-fin]"
    )
    assert dropped.comment("zh") is not None and "重传的 FIN" in dropped.comment("zh")  # type: ignore[operator]
    processed = [f for f in fates if f.fate == "processed"]
    assert len(processed) == len(fates) - 2 and all(f.comment() is None for f in processed)


def _echo_over(seed: int, **link: object) -> Network:
    net = Network(seed=seed)
    client = net.add_host("client", "192.0.2.1", app=SendClient(b"x" * 30_000))
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, **link)  # type: ignore[arg-type]
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=2_000.0)
    return net


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_delivered_copy_is_one_arrival_and_corruption_is_found(seed: int) -> None:
    net = _echo_over(seed, corrupt=0.1, corrupt_bits=1, duplicate=0.1, loss=0.05,
                     jitter=0.004, jitter_reorders=True)
    fates = packet_fates(net.packets, net.trace.records)
    assert len(fates) == net.stats.sent
    assert sum(1 for f in fates if f.fate == "lost") == net.stats.lost_total
    assert sum(len(f.arrivals) for f in fates) == net.stats.delivered
    assert not [f for f in fates if f.fate == "unknown"]
    copies = Counter(len(f.arrivals) for f in fates)
    assert set(copies) <= {0, 1, 2} and copies[2] == net.stats.duplicated
    # A one-bit flip never passes the checksum: each corrupted copy is a bad-checksum drop.
    # (Packets with the same bytes, two identical ACKs sent at once, cannot be told apart.)
    corrupted = Counter(net.packets[n - 1][1] for n, _ in net.corrupted)
    found = Counter(net.packets[f.number - 1][1] for f in fates
                    if any("bad-checksum" in a.drops for a in f.arrivals))
    assert found == corrupted and corrupted
    received = sum(1 for r in net.trace.records if r.event == "segment_received")
    assert sum(a.received for f in fates for a in f.arrivals) == received


def test_duplicated_packets_say_what_each_copy_met() -> None:
    net = _echo_over(2, duplicate=0.3)
    fates = packet_fates(net.packets, net.trace.records)
    twice = [f for f in fates if len(f.arrivals) == 2]
    assert len(twice) == net.stats.duplicated > 0
    for f in twice:
        text = f.comment()
        assert text is not None and text.startswith("duplicated in the network: 2 copies arrived")
        assert "copy 1: " in text and "copy 2: " in text


def test_trace_without_packet_numbers_still_matches_losses() -> None:
    """Traces written before the ``packet`` field: losses matched by time, ends and fields."""
    result = get_scenario("lost-syn").run(ScenarioOptions(loss=0.3, seed=4))
    old = [
        TraceRecord(r.time, r.host, r.conn, r.event,
                    {k: v for k, v in r.data.items() if k != "packet"})
        for r in result.records
    ]
    assert packet_comments(result.network.packets, old) == packet_comments(
        result.network.packets, result.records
    )


def test_odd_inputs_never_raise() -> None:
    assert packet_fates([], []) == []
    (junk,) = packet_fates([(0.0, b"\x00garbage")], [])
    assert junk.fate == "unknown" and junk.comment() is None
    result = get_scenario("lifecycle").run(ScenarioOptions())
    half = result.records[: len(result.records) // 2]  # the trace stops mid-run
    fates = packet_fates(result.network.packets, half)
    assert {f.fate for f in fates} == {"processed", "unknown"}
    assert "no arrival in the trace" in str(fates[-1].comment())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_under_loss_matches_every_arrival(name: str) -> None:
    opts = ScenarioOptions(seed=3, loss=0.3, duplicate=0.1, reorder=0.1, jitter=0.01)
    result = get_scenario(name).run(opts)
    net = result.network
    fates = packet_fates(net.packets, result.records)
    # Every packet a stack sent, and those a scenario injected (an old duplicate).
    assert len(fates) == len(net.packets) == net.packets_sent >= _segment_sent(result.records)
    assert sum(1 for f in fates if f.fate == "lost") == net.stats.lost_total
    assert sum(len(f.arrivals) for f in fates) == net.stats.delivered


def _documented_reasons() -> set[str]:
    """The codes in the last column of docs/trace.md's table of drop reasons."""
    table = DOC.split("| who | reasons |")[1].split("\n\n")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    return {code for row in rows for code in row.split("|")[2].split("`")[1::2]}


def test_every_documented_drop_reason_has_words_in_both_languages() -> None:
    reasons = _documented_reasons()
    assert {"out-of-window", "retransmitted-fin", "lost-in-network", "bad-checksum"} <= reasons
    assert reasons - set(DROP_REASONS) == set()
    assert set(DROP_REASONS) >= NETWORK_LOSSES


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_demo_pcap_is_pcapng_with_comments_tshark_shows(tmp_path: Path) -> None:
    path = tmp_path / "run.pcapng"
    assert main(["demo", "lost-final-ack", "--pcap", str(path), "--quiet"]) == 0
    assert path.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    result = get_scenario("lost-final-ack").run(ScenarioOptions())
    want = packet_comments(result.network.packets, result.records)
    rows = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-T", "fields",
         "-E", "separator=|", "-e", "frame.comment", "-e", "tcp.checksum.status"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()
    assert [r.split("|")[0] or None for r in rows] == want
    assert sum(1 for c in want if c) == 2
    assert all(r.split("|")[1] == "1" for r in rows)
    assert len(read_packets(path)) == _segment_sent(result.records)
