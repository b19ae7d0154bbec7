"""Steady state of each congestion control over one bottleneck (issue 13, "Done means").

The path: 10 Mbit/s from sender to receiver, 25 ms each way (RTT 50 ms),
a drop-tail queue of one BDP (10e6 * 0.05 / 8 = 62,500 bytes: 41 packets of
1,500 bytes). Utilisation is counted as goodput (payload bytes read by the
receiving application) over the link rate, stricter than the link's busy
fraction (headers are not counted). Fairness is Jain's index of the two
flows' goodputs, (sum x)^2 / (n * sum x^2).

Virtual time only. Costs (CPU seconds on this machine): about 2 s for a
10-second single flow, 12 s for 60 seconds of two flows.
"""

from __future__ import annotations

import pytest

from tcpstack import events
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.harness.experiments.models import jain_index

BANDWIDTH = 10e6  # bit/s
DELAY = 0.025  # seconds each way
BDP_PACKETS = int(BANDWIDTH * 2 * DELAY / 8 / 1500)  # 41
CHUNK = bytes(65536)


def bulk(algorithm: str, *, flows: int, duration: float, warmup: float,
         seed: int = 1) -> tuple[list[float], int]:
    """``flows`` bulk transfers from one host to another over the bottleneck.

    Returns each flow's goodput in bit/s over ``warmup`` .. ``duration``
    (virtual seconds), and the packets the queue dropped.
    """
    net = Network(seed=seed, keep_packets=False)
    config = TcpConfig(congestion_control=algorithm, recv_buffer=1 << 20, send_buffer=1 << 20)
    received: dict[int, int] = {}

    def sender(conn: Connection, event: events.Event) -> None:
        if isinstance(event, events.Connected | events.SendBufferAvailable):
            while conn.send(CHUNK):
                pass

    def receiver(conn: Connection, event: events.Event) -> None:
        if isinstance(event, events.DataReceived):
            received[id(conn)] = received.get(id(conn), 0) + len(conn.read())

    a = net.add_host("a", "192.0.2.1", config=config, app=sender)
    b = net.add_host("b", "198.51.100.1", config=config, app=receiver)
    net.link(a, b, delay=DELAY, bandwidth=BANDWIDTH, queue_limit=BDP_PACKETS)
    b.stack.listen(5001)
    for _ in range(flows):
        net.at(0.0, lambda: a.stack.connect("198.51.100.1", 5001, now=net.now))
    at_warmup: dict[int, int] = {}
    net.at(warmup, lambda: at_warmup.update(received))
    net.run(until=duration)
    assert len(received) == flows
    goodputs = [(received[k] - at_warmup.get(k, 0)) * 8 / (duration - warmup) for k in received]
    return goodputs, net.link_stats(a, b).queue_drops


def jain(xs: list[float]) -> float:
    """Jain's fairness index (Jain, Chiu, Hawe 1984): 1 when all are equal, 1/n at worst."""
    return jain_index(xs)


def test_jain_index() -> None:
    assert jain([5.0, 5.0]) == 1.0
    assert jain([1.0, 0.0]) == 0.5
    assert jain([3.0, 1.0]) == pytest.approx(16 / 20)


@pytest.mark.parametrize("algorithm", ["newreno", "cubic", "vegas", "bbr"])
def test_one_flow_fills_the_bottleneck(algorithm: str) -> None:
    # 10 virtual seconds; steady state from 4 s (slow start and the first
    # recovery are over within 2 s). With a one-BDP buffer NewReno's sawtooth
    # (41 to 82 packets, about 41 RTTs of 50 to 100 ms) never empties the
    # queue, so a part of a cycle measures the same as several.
    goodputs, drops = bulk(algorithm, flows=1, duration=10.0, warmup=4.0)
    assert goodputs[0] >= 0.9 * BANDWIDTH, (algorithm, goodputs, drops)


@pytest.mark.parametrize("algorithm", ["newreno", "cubic", "bbr"])
def test_two_flows_share_fairly(algorithm: str) -> None:
    # Not Vegas: every split in which each flow keeps alpha..beta (2..4)
    # segments queued is an equilibrium, so two Vegas flows settle where slow
    # start left them (with per-ACK RTTs: 31 and 18 segments, Jain 0.94).
    goodputs, drops = bulk(algorithm, flows=2, duration=60.0, warmup=0.0)
    assert jain(goodputs) >= 0.95, (algorithm, goodputs, drops)
    assert sum(goodputs) >= 0.8 * BANDWIDTH, (algorithm, goodputs, drops)
