"""ECN over the simulator (RFC 3168): a bottleneck that marks CE instead of dropping.

The marking router is test-local: a wrapper around each receiving stack marks
an ECN-capable packet CE (:func:`tcpstack.wire.ecn.mark_ce`) when it waited
more than :data:`MARK_AFTER` seconds in the bottleneck's queue (its sojourn
time: arrival - send time - propagation - serialization, the measure CoDel
uses, RFC 8289). Not-ECT packets are never marked; with ECN off they fill the
queue until it drops them.

The link: 2 Mbit/s, 20 ms one way, a 20-packet queue (the path's BDP is about
7 full packets; a full packet takes 6 ms to serialize, so the marking starts
beyond about 3 packets of queue). A 500 kB echo over it (each side sends 500 kB).
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tcpstack.config import TcpConfig
from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.sim import Host, Network
from tcpstack.tools.pcap import write_pcap
from tcpstack.trace import Trace, TraceRecord
from tcpstack.wire import Flags, decode_tcp_packet
from tcpstack.wire.ecn import CE, ECT_0, mark_ce

BANDWIDTH = 2e6
DELAY = 0.02
QUEUE = 20
MARK_AFTER = 0.02
MSS = 1460
DATA = random.Random(13).randbytes(500_000)


@dataclass
class Run:
    net: Network
    client: Host
    server: Host
    app: SendClient
    marked: int = 0
    seen: list[tuple[float, bytes]] = field(default_factory=list)
    """Every packet as its receiver got it (after marking): the capture point."""

    def stat(self, host: Host, key: str) -> int:
        return host.stack.stats[key]

    def finished_at(self) -> float:
        """When the client got the last byte of the echo, virtual seconds."""
        return max(r.time for r in self.client_records("app") if "delivered" in r.data)

    def client_records(self, event: str) -> list[TraceRecord]:
        return [r for r in self.net.trace.records if r.host == "client" and r.event == event]


def echo_over_marking_bottleneck(ecn: str, *, capture: bool = False) -> Run:
    """Client (``ecn``) echoes :data:`DATA` through a server that accepts ECN."""
    net = Network(seed=1, trace=Trace(), keep_packets=False)
    app = SendClient(DATA)
    client = net.add_host("client", "192.0.2.1", app=app, config=TcpConfig(ecn=ecn))
    server = net.add_host("server", "192.0.2.2", app=EchoApp(),
                          config=TcpConfig(ecn="passive"))
    net.link(client, server, delay=DELAY, bandwidth=BANDWIDTH, queue_limit=QUEUE)
    run = Run(net, client, server, app)
    sent_at: dict[bytes, list[float]] = {}
    for host in (client, server):
        _mark_on_the_way(run, host, sent_at, capture)
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=120.0)
    return run


def _mark_on_the_way(run: Run, host: Host, sent_at: dict[bytes, list[float]],
                     capture: bool) -> None:
    """Note when ``host`` sends each packet; mark CE what reaches it after queueing."""
    stack = host.stack
    packets_to_send, receive = stack.packets_to_send, stack.receive

    def sending(now: float) -> list[bytes]:
        out = packets_to_send(now)
        for packet in out:
            sent_at.setdefault(packet, []).append(now)  # a resend may repeat the bytes
        return out

    def arriving(packet: bytes, now: float, *, checksum_verified: bool = False) -> None:
        times = sent_at[packet]
        sent = times.pop(0)
        if not times:
            del sent_at[packet]
        sojourn = now - sent - DELAY - len(packet) * 8 / BANDWIDTH
        if sojourn > MARK_AFTER:
            marked = mark_ce(packet)  # Not-ECT stays as it is (RFC 3168 §5)
            run.marked += marked is not packet
            packet = marked
        if capture:
            run.seen.append((now, packet))
        receive(packet, now, checksum_verified=checksum_verified)

    stack.packets_to_send = sending  # type: ignore[method-assign]
    stack.receive = arriving  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def with_ecn() -> Run:
    return echo_over_marking_bottleneck("on", capture=True)


@pytest.fixture(scope="module")
def without_ecn() -> Run:
    return echo_over_marking_bottleneck("off")


def test_marks_instead_of_losses(with_ecn: Run, without_ecn: Run) -> None:
    """Without ECN the queue overflows and data is resent; with ECN the same
    queue never drops, nothing is retransmitted, and the echo is byte-exact."""
    assert bytes(without_ecn.app.received) == DATA
    assert without_ecn.net.stats.queue_drops > 0
    assert without_ecn.stat(without_ecn.client, "retrans_segs") > 0
    run = with_ecn
    assert bytes(run.app.received) == DATA
    assert run.marked > 0
    assert run.net.stats.lost_total == 0 and run.net.stats.queue_drops == 0
    for host in (run.client, run.server):
        assert run.stat(host, "ecn_negotiated") == 1, host.name
        assert run.stat(host, "retrans_segs") == 0, host.name
    marks_seen = run.stat(run.client, "ecn_ce_received") + run.stat(run.server, "ecn_ce_received")
    assert marks_seen == run.marked
    assert run.stat(run.client, "ecn_reductions") > 0
    # The same goodput or better: the echo is complete no later.
    assert with_ecn.finished_at() <= without_ecn.finished_at()


def test_each_echo_halves_cwnd_once(with_ecn: Run) -> None:
    """Every time the client's cwnd falls (only ECE makes it fall here: no loss,
    no idle time), cwnd = ssthresh = half the bytes in flight after the ACK
    (RFC 3168 §6.1.2 via RFC 5681 equation 4, at least 2 * SMSS), so at most
    half the cwnd before; and CWR follows each reduction once."""
    run = with_ecn
    metrics = [r.data for r in run.client_records("metrics_updated")]
    drops = [(before, after) for before, after in itertools.pairwise(metrics)
             if after["cwnd"] < before["cwnd"]]
    assert len(drops) == run.stat(run.client, "ecn_reductions") > 0
    for before, after in drops:
        flight = (after["snd_nxt"] - after["snd_una"]) % 2**32
        assert after["cwnd"] == after["ssthresh"] == max(flight // 2, 2 * MSS), (before, after)
        assert after["cwnd"] <= max(before["cwnd"] // 2, 2 * MSS)
    cwr = [r for r in run.client_records("segment_sent")
           if "CWR" in r.data["flags"] and "SYN" not in r.data["flags"]]
    assert len(cwr) == run.stat(run.client, "ecn_cwr_sent")
    assert run.stat(run.client, "ecn_reductions") - 1 <= len(cwr) <= run.stat(
        run.client, "ecn_reductions")
    assert all(r.data["ecn"] == "ECT(0)" and r.data["len"] > 0 for r in cwr)


def test_the_trace_shows_the_codepoints(with_ecn: Run) -> None:
    """segment_sent / segment_received carry ``"ecn"`` unless Not-ECT: ECT(0) on
    every data segment (none is a retransmission here), nothing on the SYN and
    on pure ACKs; some arrive CE; each ECE the client took is in its trace."""
    run = with_ecn
    sent = run.client_records("segment_sent")
    assert sent[0].data["flags"] == ["SYN", "ECE", "CWR"] and "ecn" not in sent[0].data
    assert [r.data.get("ecn") for r in sent[1:]] == [
        "ECT(0)" if r.data["len"] else None for r in sent[1:]]
    received = [r.data for r in run.net.trace.records
                if r.host == "server" and r.event == "segment_received"]
    assert {d.get("ecn") for d in received} == {None, "ECT(0)", "CE"}
    echoes = [r.data for r in run.client_records("segment_received")
              if "ECE" in r.data["flags"] and "SYN" not in r.data["flags"]]
    assert len(echoes) == run.stat(run.client, "ecn_ece_received") > 0


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_same_ecn_fields(with_ecn: Run, tmp_path: Path) -> None:
    """The capture at the receivers: tshark's ip.dsfield.ecn and tcp.flags.ece/cwr
    agree, packet by packet, with what tcpstack decodes from the same bytes."""
    path = tmp_path / "ecn.pcap"
    write_pcap(path, with_ecn.seen)
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
         "-e", "ip.dsfield.ecn", "-e", "tcp.flags.ece", "-e", "tcp.flags.cwr"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    rows = [line.split("|") for line in proc.stdout.splitlines()]
    assert len(rows) == len(with_ecn.seen)
    expected = []
    for _, packet in with_ecn.seen:
        _, _, seg = decode_tcp_packet(packet)
        expected.append([str(seg.ecn), str(int(seg.has(Flags.ECE))),
                         str(int(seg.has(Flags.CWR)))])
    got = [[row[0], _bit(row[1]), _bit(row[2])] for row in rows]
    assert got == expected
    codepoints = {row[0] for row in got}
    assert {str(ECT_0), str(CE)} <= codepoints
    assert ["0", "1", "0"] in got  # a pure ACK echoing congestion
    assert [str(ECT_0), "0", "1"] in got  # new data announcing the reduction


def _bit(value: str) -> str:
    """tshark prints a flag as 1/0 or True/False, by version."""
    return {"True": "1", "False": "0"}.get(value, value)
