"""The simulator itself: virtual time, seeded impairments, scripted faults."""

from __future__ import annotations

import pytest

from tcpstack.drivers.sim import LinkConfig, Network
from tcpstack.wire import Flags


def pinger(seed: int = 1, **link: float) -> Network:
    """A client that opens a connection to a closed port (SYN -> RST,ACK), no retries."""
    net = Network(seed=seed)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    net.link("a", "b", **link)  # type: ignore[arg-type]
    return net


def test_delay_is_virtual_time() -> None:
    net = pinger(delay=0.25)
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    net.run()
    rcv = [r for r in net.trace if r.event == "segment_received"]
    assert [r.time for r in rcv] == [0.25, 0.5]


def test_run_until_stops_early_and_resumes() -> None:
    net = pinger(delay=0.3)
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    assert net.run(until=0.2) == 0.2
    assert not [r for r in net.trace if r.event == "segment_received"]
    net.run()
    assert len([r for r in net.trace if r.event == "segment_received"]) == 2


def test_drop_nth_and_first_matching() -> None:
    net = pinger()
    fault = net.drop_first(lambda p: p.segment.has(Flags.RST))
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    net.run(until=1.5)  # the SYN is retransmitted at 1 s; its RST gets through
    assert fault.hits == 1
    assert [r.data["reason"] for r in net.trace if r.event == "segment_dropped"] == [
        "scripted-drop"
    ]
    net2 = pinger()
    net2.drop_nth(1)
    net2.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    net2.run(until=0.5)
    assert not [r for r in net2.trace if r.event == "segment_received"]


def test_loss_is_seeded() -> None:
    def losses(seed: int) -> list[float]:
        net = pinger(seed=seed, loss=0.5)
        net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
        net.run()
        return [r.time for r in net.trace if r.event == "segment_dropped"]

    assert losses(3) == losses(3)
    assert any(losses(s) != losses(3) for s in range(4, 10))


def test_duplication_delivers_twice() -> None:
    net = pinger(duplicate=1.0)
    net.hosts["a"].stack.connect("192.0.2.2", 9, now=0.0)
    net.run(until=0.1)
    syns = [r for r in net.trace if r.event == "segment_received" and r.host == "b"]
    assert len(syns) == 2


def test_link_config_validation() -> None:
    with pytest.raises(ValueError):
        LinkConfig(loss=1.5)
    with pytest.raises(ValueError):
        LinkConfig(delay=-1)
    net = pinger()
    with pytest.raises(ValueError):
        net.add_host("a", "192.0.2.9")
    with pytest.raises(ValueError):
        net.add_host("c", "192.0.2.1")


def test_no_route_is_traced() -> None:
    net = Network()
    net.add_host("a", "192.0.2.1")
    net.hosts["a"].stack.connect("192.0.2.77", 9, now=0.0)
    net.run(until=0.5)
    (drop,) = [r for r in net.trace if r.event == "segment_dropped"]
    assert drop.data["reason"] == "no-route"
