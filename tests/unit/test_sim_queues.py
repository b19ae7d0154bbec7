"""Queue disciplines (drop-tail, RED, CoDel), CE marking, and the simulator's
shared bottleneck: hand-computed decisions, FIFO service, sojourn times."""

from __future__ import annotations

import pickle
import random

import pytest

from tcpstack.drivers.queues import (
    ACCEPT,
    MARK,
    CoDel,
    DropTail,
    QueueDiscipline,
    Red,
    make_queue,
)
from tcpstack.drivers.sim import Bottleneck, LinkConfig, Network, bdp_bytes
from tcpstack.wire import Flags, Segment, encode_packet, internet_checksum
from tcpstack.wire.ecn import CE, ECT_0, ECT_1, NOT_ECT, ecn_codepoint

SIZE = 1000  # bytes of every hand-made packet


class Draws(random.Random):
    """A generator whose ``random()`` returns the given values in turn."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def packet(number: int = 0, *, tos: int = NOT_ECT, size: int = SIZE,
           src: str = "192.0.2.1", dst: str = "192.0.2.2") -> bytes:
    """A ``size``-byte IPv4 packet carrying a RST (seq ``number``), ECN bits ``tos``."""
    import ipaddress

    seg = Segment(40000, 9, seq=number, ack=0, flags=Flags.RST, window=0,
                  payload=bytes(size - 40))
    return encode_packet(ipaddress.ip_address(src), ipaddress.ip_address(dst), seg, tos=tos)


# --- bdp and drop-tail -----------------------------------------------------------------


def test_bdp_bytes_is_rate_times_rtt_in_bytes() -> None:
    assert bdp_bytes(10e6, 0.05) == 62_500  # 10^7 bit/s * 0.05 s / 8
    assert bdp_bytes(1e6, 0.1) == 12_500
    with pytest.raises(ValueError, match="bandwidth"):
        bdp_bytes(0, 0.1)


def test_droptail_limits_in_packets_and_bytes() -> None:
    q = DropTail(limit_packets=3)
    assert q.enqueue(SIZE, 0.0, 2, 2 * SIZE, None, False) == ACCEPT
    assert q.enqueue(SIZE, 0.0, 3, 3 * SIZE, None, False) == "queue-overflow"
    q = DropTail(limit_bytes=2500)
    assert q.enqueue(SIZE, 0.0, 1, 1500, None, False) == ACCEPT  # 1500 + 1000 fits
    assert q.enqueue(SIZE, 0.0, 2, 1501, None, False) == "queue-overflow"
    # Drop-tail never marks, ECT or not.
    assert DropTail(limit_packets=0, ecn=True).enqueue(SIZE, 0.0, 0, 0, None, True) == (
        "queue-overflow")
    # A packet that finds the link idle goes straight into service: it always fits.
    assert DropTail(limit_bytes=0).enqueue(SIZE, 1.0, 0, 0, 0.5, False) == ACCEPT
    with pytest.raises(ValueError, match="limit_packets"):
        DropTail(limit_packets=-1)


def test_shared_droptail_bottleneck_serves_one_and_queues_the_limit() -> None:
    net = Network(seed=1)
    for name, addr in (("a", "192.0.2.1"), ("b", "192.0.2.2")):
        net.add_host(name, addr)
    shared = net.bottleneck(8e6, limit_packets=2)  # 1000 bytes: 1 ms each
    net.link("a", "b", delay=0.01, bottleneck=shared)
    for i in range(5):
        net.inject(0.0, "a", packet(i))
    net.run()
    # One in service, two waiting, two dropped at the tail.
    assert shared.stats.drops == {"queue-overflow": 2}
    assert net.link_stats("a", "b").queue_drops == 2
    assert net.link_stats("a", "b").lost == {"queue-overflow": 2}
    assert list(shared.sojourns) == pytest.approx([0.0, 0.001, 0.002])
    assert shared.queue_delays() == pytest.approx((0.001, 0.002, 0.002, 3))
    assert shared.stats.max_queue_packets == 2 and shared.stats.max_queue_bytes == 2 * SIZE
    assert shared.busy_time(1.0) == pytest.approx(0.003)


# --- RED -------------------------------------------------------------------------------


def red(**kw: object) -> Red:
    """RED over 8000 bit/s with 1000-byte mean packets: s = 1 s per packet time."""
    params: dict[str, object] = {"min_th": 1000, "max_th": 3000, "max_p": 0.1, "w_q": 0.5,
                                 "mean_packet_size": 1000}
    params.update(kw)
    q = Red(**params)  # type: ignore[arg-type]
    q.attach(8000.0, Draws(*([0.5] * 10)))
    return q


def test_red_average_probability_and_idle_decay_by_hand() -> None:
    q = red()
    q.rng = Draws(0.5, 0.08)
    # avg = 0.5 * 0 + 0.5 * 2000 = 1000 = min_th: count 0, p_b = 0 (no drop for 0.5).
    assert q.enqueue(SIZE, 0.0, 2, 2000, None, False) == ACCEPT
    assert q.avg == 1000 and q.count == 0
    # avg = 0.5 * 1000 + 0.5 * 4000 = 2500: count 1, p_b = 0.1 * 1500 / 2000 = 0.075,
    # p_a = 0.075 / (1 - 0.075) = 0.08108...: a draw of 0.08 drops it, count back to 0.
    assert q.enqueue(SIZE, 1.0, 4, 4000, None, False) == "red-drop"
    assert q.avg == 2500 and q.count == 0
    # Idle since t=10, arrival at t=12: m = 2 packet times, avg = 2500 * 0.5^2 = 625.
    assert q.enqueue(SIZE, 12.0, 0, 0, 10.0, False) == ACCEPT
    assert q.avg == 625 and q.count == -1


def test_red_count_spreads_drops() -> None:
    q = red(w_q=1.0)  # avg = the instantaneous backlog
    q.rng = Draws(0.99, 0.99, 0.99)
    # avg 2000: p_b = 0.05; count 0, 1, 2: p_a = 0.05, 0.05/0.95, 0.05/0.9.
    for count in (0, 1, 2):
        assert q.enqueue(SIZE, 0.0, 2, 2000, None, False) == ACCEPT
        assert q.count == count
    q.rng = Draws(0.0555)  # p_a at count 3 = 0.05 / 0.85 = 0.0588...
    assert q.enqueue(SIZE, 0.0, 2, 2000, None, False) == "red-drop"


def test_red_marks_ect_drops_not_ect_and_drops_above_max_th() -> None:
    q = red(w_q=1.0, ecn=True)
    q.rng = Draws(0.0, 0.0)
    assert q.enqueue(SIZE, 0.0, 2, 2500, None, True) == MARK
    assert q.enqueue(SIZE, 0.0, 2, 2500, None, False) == "red-drop"
    # Above max_th (not gentle): dropped even if ECT (RFC 3168 §7), no draw.
    assert q.enqueue(SIZE, 0.0, 3, 3000, None, True) == "red-drop"


def test_gentle_red_rises_to_one_at_twice_max_th() -> None:
    q = red(w_q=1.0, gentle=True, ecn=True)
    # avg 4500: p_b = 0.1 + 0.9 * 1500 / 3000 = 0.55, used as it is.
    assert q.probability(4500) == pytest.approx(0.55)
    q.rng = Draws(0.549, 0.551)
    assert q.enqueue(SIZE, 0.0, 4, 4500, None, True) == MARK
    assert q.enqueue(SIZE, 0.0, 4, 4500, None, True) == ACCEPT
    assert q.enqueue(SIZE, 0.0, 6, 6000, None, True) == "red-drop"


def test_red_hard_limit_still_drops() -> None:
    q = red(w_q=1.0, limit_bytes=2500)
    assert q.enqueue(SIZE, 0.0, 0, 0, None, False) == ACCEPT
    assert q.enqueue(SIZE, 0.0, 2, 2000, None, False) == "queue-overflow"  # 0.5 > p_a


def test_red_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="min_th < max_th"):
        Red(min_th=10, max_th=10)
    with pytest.raises(ValueError, match="max_p"):
        Red(min_th=1, max_th=10, max_p=0)


# --- CoDel -----------------------------------------------------------------------------


def codel_drops(q: CoDel, sojourn_at: object, until: float, backlog: int = 100 * SIZE
                ) -> list[float]:
    """Serve one packet per ms from 0 to ``until``: the times of the drops.

    Like the bottleneck, a drop at dequeue is followed at the same instant by
    the decision on the next head."""
    drops = []
    for k in range(round(until * 1000) + 1):
        now = k / 1000
        while (v := q.dequeue(SIZE, now, sojourn_at(now), backlog, False)) == "codel-drop":  # type: ignore[operator]
            drops.append(now)
        assert v == ACCEPT
    return drops


def test_codel_drop_times_for_a_standing_queue_follow_the_control_law() -> None:
    # Sojourn 10 ms (> 5 ms target) from t=0: above target since 0, so the first
    # drop at 0 + interval = 0.100; then drop_next = 0.1 + 0.1/sqrt(1) = 0.2,
    # 0.2 + 0.1/sqrt(2) = 0.27071, + 0.1/sqrt(3) = 0.32845, + 0.1/sqrt(4) = 0.37845,
    # + 0.1/sqrt(5) = 0.42317: drops at the first ms tick at or after each.
    q = CoDel()
    assert codel_drops(q, lambda t: 0.010, 0.45) == pytest.approx(
        [0.100, 0.200, 0.271, 0.329, 0.379, 0.424])
    assert q.count == 6 and q.dropping


def test_codel_leaves_dropping_below_target_and_reenters_with_the_last_count() -> None:
    q = CoDel()
    # Standing queue to t=0.3 (drops at 0.1, 0.2, 0.271), short after.
    drops = codel_drops(q, lambda t: 0.010 if t <= 0.3 else 0.001, 0.35)
    assert drops == pytest.approx([0.100, 0.200, 0.271])
    assert not q.dropping and q.count == 3 and q.lastcount == 1
    # Above target again from 0.4: ok to drop at 0.4 + 0.1 = 0.5, within 16 intervals
    # of drop_next: count restarts at count - lastcount = 2, next drop 0.5 + 0.1/sqrt(2).
    q2_drops = []
    for k in range(400, 600):
        now = k / 1000
        while q.dequeue(SIZE, now, 0.010, 100 * SIZE, False) == "codel-drop":
            q2_drops.append(now)
    assert q2_drops == pytest.approx([0.500, 0.571])
    assert q.lastcount == 2


def test_codel_does_not_drop_with_less_than_a_packet_behind() -> None:
    q = CoDel()
    assert codel_drops(q, lambda t: 0.010, 0.3, backlog=SIZE) == []


def test_codel_marks_ect_packets_instead_of_dropping() -> None:
    q = CoDel(ecn=True)
    verdicts = [q.dequeue(SIZE, k / 1000, 0.010, 100 * SIZE, True) for k in range(0, 301)]
    marks = [k / 1000 for k, v in enumerate(verdicts) if v == MARK]
    # A mark sends the packet and schedules the next signal by the control law.
    assert marks == pytest.approx([0.100, 0.200, 0.271])
    assert "codel-drop" not in verdicts


def test_a_dequeue_time_queue_serves_at_the_link_rate() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    shared = net.bottleneck(8e6, "codel")  # 1 ms per packet
    net.link("a", "b", delay=0.01, bottleneck=shared)
    for i, t in enumerate((0.0, 0.0002, 0.0004, 0.0100)):
        net.inject(t, "a", packet(i))
    net.run()
    got = [r.time for r in net.trace if r.event == "segment_received"]
    # Served back to back from 0, then the late one at once: delay 10 ms after each.
    assert got == pytest.approx([0.011, 0.012, 0.013, 0.021])
    assert list(shared.sojourns) == pytest.approx([0.0, 0.0008, 0.0016, 0.0])
    assert shared.busy_time(1.0) == pytest.approx(0.004)


def test_codel_in_the_simulator_drops_at_dequeue() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    shared = net.bottleneck(8e6, "codel", name="c")  # 1 ms per packet
    net.link("a", "b", delay=0.01, bottleneck=shared)
    # 2 packets per ms for 300 ms: the sojourn time grows by 1 ms per ms.
    for i in range(600):
        net.inject(i * 0.0005, "a", packet(i))
    net.run()
    s = shared.stats
    # The sojourn time passes 5 ms at about 10 ms; the first drop an interval later.
    assert s.drops["codel-drop"] >= 3
    assert s.sent + s.drops_total == 600 == s.offered
    assert net.link_stats("a", "b").lost == {"codel-drop": s.drops["codel-drop"]}
    assert net.link_stats("a", "b").delivered == s.sent


# --- CE marking in the bottleneck ------------------------------------------------------


class SignalAll(QueueDiscipline):
    """Signals congestion on every packet: marks ECT, drops Not-ECT."""

    def enqueue(self, size: int, now: float, backlog_packets: int, backlog_bytes: int,
                idle_since: float | None, ect: bool) -> str:
        return MARK if ect else "test-drop"


@pytest.mark.parametrize("tos", [ECT_0, ECT_1])
def test_bottleneck_marks_ce_only_on_ect_packets(tos: int) -> None:
    b = Bottleneck(8e6, SignalAll(ecn=True))
    out = b.offer(packet(1, tos=tos), 0.0)
    assert not isinstance(out, str)
    departs, marked = out
    assert departs == pytest.approx(0.001)
    assert ecn_codepoint(marked) == CE
    assert internet_checksum(marked[:20]) == 0  # the IPv4 header checksum still verifies
    assert b.offer(packet(2, tos=NOT_ECT), 0.0) == "test-drop"
    assert b.stats.ce_marked == 1 and b.stats.drops == {"test-drop": 1}


def test_marks_are_counted_per_direction_and_delivered() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    got: list[bytes] = []
    receive = net.hosts["b"].stack.receive
    net.hosts["b"].stack.receive = lambda p, now: (got.append(p), receive(p, now))[1]  # type: ignore[method-assign]
    net.link("a", "b", delay=0.01, bandwidth=8e6, queue=SignalAll(ecn=True))
    net.inject(0.0, "a", packet(1, tos=ECT_0))
    net.inject(0.0, "a", packet(2))
    net.run()
    assert [ecn_codepoint(p) for p in got] == [CE]
    stats = net.link_stats("a", "b")
    assert stats.ce_marked == 1 == net.stats.ce_marked
    assert stats.lost == {"test-drop": 1} and stats.queue_drops == 1


# --- the shared bottleneck -------------------------------------------------------------


def test_two_host_pairs_share_one_fifo_at_its_rate() -> None:
    net = Network(seed=1)
    for name, addr in (("a1", "192.0.2.1"), ("b1", "198.51.100.1"),
                       ("a2", "192.0.2.2"), ("b2", "198.51.100.2")):
        net.add_host(name, addr)
    shared = net.bottleneck(8e6)  # 1 ms per 1000-byte packet, no limit
    net.link("a1", "b1", delay=0.010, bottleneck=shared, reverse=LinkConfig(delay=0.010))
    net.link("a2", "b2", delay=0.020, bottleneck=shared, reverse=LinkConfig(delay=0.020))
    # Interleaved arrivals: a1 at 0.0, a2 at 0.0001, a1 at 0.0002, ...: 10 packets.
    for i in range(10):
        src, dst = ("a1", "b1") if i % 2 == 0 else ("a2", "b2")
        net.inject(i * 0.0001, src, packet(i, src=str(net.hosts[src].address),
                                            dst=str(net.hosts[dst].address)))
    net.run()
    got = sorted((r.time - (0.010 if r.host == "b1" else 0.020), r.data["seq"])
                 for r in net.trace if r.event == "segment_received")
    # Served in arrival order, one per ms: packet i leaves at (i + 1) ms.
    assert [seq for _, seq in got] == list(range(10))
    assert [t for t, _ in got] == pytest.approx([(i + 1) * 0.001 for i in range(10)])
    # Together no faster than the bottleneck: 10 packets * 8000 bits in 10 ms.
    assert shared.busy_time(1.0) == pytest.approx(0.010)
    assert list(shared.sojourns) == pytest.approx([i * 0.0009 for i in range(10)])


def test_link_config_checks_bottleneck_and_queue() -> None:
    net = Network()
    shared = net.bottleneck(1e6)
    with pytest.raises(ValueError, match="shared bottleneck"):
        LinkConfig(bandwidth=1e6, bottleneck=shared)
    with pytest.raises(ValueError, match="needs its bandwidth"):
        LinkConfig(queue="red")
    with pytest.raises(ValueError, match="one bottleneck"):
        Bottleneck(1e6, shared.queue)
    with pytest.raises(ValueError, match="unknown queue 'fifo'"):
        net.bottleneck(1e6, "fifo")
    with pytest.raises(ValueError, match="byte limit"):
        make_queue("red")


def test_a_zero_buffer_bottleneck_still_carries_one_packet_at_a_time() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    shared = net.bottleneck(8e6, limit_bytes=0)  # 1 ms per packet, no waiting room
    net.link("a", "b", delay=0.01, bottleneck=shared)
    for i, t in enumerate((0.0, 0.0005, 0.001, 0.0025)):
        net.inject(t, "a", packet(i))
    net.run()
    # 0.0 served; 0.0005 finds it busy: dropped; 0.001 and 0.0025 find it idle.
    assert shared.stats.drops == {"queue-overflow": 1} and shared.stats.sent == 3


def test_a_named_queue_on_a_link_uses_its_limits() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    net.link("a", "b", delay=0.01, bandwidth=8e6, queue="droptail", queue_limit=1)
    for i in range(4):
        net.inject(0.0, "a", packet(i))
    net.run()
    assert net.link_stats("a", "b").lost == {"queue-overflow": 2}


def test_disciplines_pickle() -> None:
    q = pickle.loads(pickle.dumps(Red(min_th=1, max_th=2, limit_bytes=5)))
    assert (q.min_th, q.max_th, q.limit_bytes) == (1, 2, 5)


def test_a_discipline_given_to_link_serves_each_direction_separately() -> None:
    net = Network(seed=1)
    net.add_host("a", "192.0.2.1")
    net.add_host("b", "192.0.2.2")
    net.link("a", "b", delay=0.01, bandwidth=8e6, queue=DropTail(limit_packets=1))
    for i in range(3):
        net.inject(0.0, "a", packet(i))
        net.inject(0.0, "b", packet(i, src="192.0.2.2", dst="192.0.2.1"))
    net.run()
    # Each direction: one in service, one waiting, one dropped.
    assert net.link_stats("a", "b").lost == {"queue-overflow": 1}
    assert net.link_stats("b", "a").lost == {"queue-overflow": 1}
