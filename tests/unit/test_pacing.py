"""Pacing: segments leave at the algorithm's pacing rate (exact times in virtual seconds)."""

from __future__ import annotations

import pytest

from tcpstack import congestion
from tcpstack.config import TcpConfig
from tcpstack.congestion import NewReno
from tcpstack.drivers.apps import DiscardApp, SendClient
from tcpstack.drivers.sim import Host, Network
from tcpstack.sender import PACING_BURST
from tcpstack.timers import Timer

SEG = 1000  # data bytes per segment: MSS 1000, no timestamps
RATE = 100_000.0  # bytes per second: one segment every 10 ms


class Paced(NewReno):
    """NewReno at a fixed pacing rate (a test algorithm)."""

    name = "paced-test"

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.pacing_rate = RATE


@pytest.fixture(autouse=True)
def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(congestion.ALGORITHMS, Paced.name, Paced)


def _network(size: int, algorithm: str = Paced.name, *, tso: bool = False,
             ) -> tuple[Network, Host]:
    net = Network(seed=3)
    config = TcpConfig(mss=SEG, timestamps=False, initial_window=50,
                       congestion_control=algorithm, tso=tso)
    app = SendClient(b"p" * size)
    client = net.add_host("client", "192.0.2.1", config=config, app=app)
    server = net.add_host("server", "192.0.2.2", config=TcpConfig(mss=SEG, timestamps=False),
                          app=DiscardApp())
    net.link(client, server, delay=0.05)
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    return net, client


def _data_departures(net: Network) -> list[tuple[float, int]]:
    return [(r.time, r.data["len"]) for r in net.trace.select("segment_sent", host="client")
            if r.data["len"] > 0]


def test_segments_leave_at_the_pacing_rate() -> None:
    net, _ = _network(20 * SEG)
    net.run(until=5.0)
    sent = _data_departures(net)
    assert [n for _, n in sent] == [SEG] * 20  # nothing resent: no loss
    t0 = sent[0][0]
    # PACING_BURST (2) segments back to back, then one every SEG / RATE = 10 ms,
    # although cwnd (50 segments) would let all 20 go at once.
    assert PACING_BURST == 2
    expected = [t0, t0] + [t0 + i * 0.01 for i in range(1, 19)]
    assert [t for t, _ in sent] == pytest.approx(expected, abs=1e-9)


def test_the_pacing_timer_wakes_the_sender_and_is_not_traced() -> None:
    net, client = _network(20 * SEG)
    net.run(until=0.1 + 0.005)  # the handshake takes one RTT (0.1 s): data began at 0.1
    conn = client.stack.connections[0]
    sent = _data_departures(net)
    assert len(sent) == 2 and sent[0][0] == pytest.approx(0.1)
    assert conn.timer(Timer.PACING) == pytest.approx(0.11)
    assert conn.next_timer() == pytest.approx(0.11)
    net.run(until=5.0)
    assert not [r for r in net.trace.records if r.event.startswith("timer_")
                and r.data.get("timer") == "pacing"]


def test_paced_offload_sends_super_segments_of_at_least_two_segments() -> None:
    net, _ = _network(20 * SEG, tso=True)
    net.run(until=5.0)
    sent = _data_departures(net)
    # 1 ms at 100 kB/s is 100 bytes: less than PACING_BURST segments, so 2000-byte
    # super-segments. The first is the whole burst after idle (release times lag
    # by at most one segment, 10 ms): the next leaves 2000 / RATE - 10 ms = 10 ms
    # later, then one every 20 ms.
    assert [n for _, n in sent] == [2 * SEG] * 10
    t0 = sent[0][0]
    expected = [t0] + [t0 + 0.01 + i * 0.02 for i in range(9)]
    assert [t for t, _ in sent] == pytest.approx(expected, abs=1e-9)


def test_without_a_pacing_rate_the_window_goes_at_once() -> None:
    net, _ = _network(20 * SEG, "newreno")
    net.run(until=5.0)
    sent = _data_departures(net)
    assert len(sent) == 20 and len({t for t, _ in sent}) == 1



class PacedSteady(Paced):
    """Paced, and keeps cwnd in loss recovery (as BBR's two-BDP cwnd): RFC 6675's
    rule (2) then has room for new data during recovery (a test algorithm)."""

    name = "paced-steady-test"

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        pass


def test_new_data_sent_in_sack_recovery_is_paced_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 6675 rule (2) new data in recovery waits for the pacer like any new data
    (Linux tcp_pacing_check); only retransmissions go at once. Without that, the
    window's room went out in a burst and the pacer's clock ran ahead of time."""
    monkeypatch.setitem(congestion.ALGORITHMS, PacedSteady.name, PacedSteady)
    net, _ = _network(200 * SEG, PacedSteady.name)
    for n in (4, 5, 6):  # three data packets in a row (the 1st packet is the SYN)
        net.drop_nth(n)
    net.run(until=20.0)
    first: dict[int, float] = {}
    sent = [r for r in net.trace.select("segment_sent", host="client") if r.data["len"] > 0]
    for r in sent:
        first.setdefault(r.data["seq"], r.time)
    assert len(first) == 200 and len(sent) > 200  # everything sent, some of it twice
    new = sorted(first.values())
    # At most PACING_BURST (2) new segments within one segment's time (SEG / RATE = 10 ms).
    assert min(b - a for a, b in zip(new, new[2:], strict=False)) >= 0.01 - 1e-9
