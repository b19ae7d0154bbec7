"""The one fault model shared by the simulator's links and the TUN fault injector:
the same decisions in both drivers, the draw discipline, the documented order of
the pipeline, and each knob's effect."""

from __future__ import annotations

import argparse
import itertools
import random
from collections import Counter
from dataclasses import fields
from ipaddress import IPv4Address
from typing import Any

import pytest

from tcpstack.drivers.faults import (
    BURST_LOSS,
    DRAWS,
    LOSS,
    NO_FAULTS,
    FaultConfig,
    FaultInjector,
    FaultModel,
    GilbertElliott,
    corrupt_packet,
    stream_rng,
)
from tcpstack.drivers.sim import LinkConfig, Network
from tcpstack.errors import MalformedPacket
from tcpstack.wire import Flags, Segment, decode_packet, encode_packet

A, B = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


def packet(i: int, size: int = 60, *, zeros: bool = False) -> bytes:
    """A RST (to a closed port: nothing answers it) numbered ``i``, ``size`` bytes long."""
    payload = bytes(size - 40) if zeros else bytes((i + k) & 0xFF for k in range(size - 40))
    seg = Segment(40000, 9, seq=i, ack=0, flags=Flags.RST, window=0, payload=payload)
    return encode_packet(A, B, seg)


def seq_of(pkt: bytes) -> int:
    return int.from_bytes(pkt[24:28], "big")  # read raw: corrupted packets do not decode


def bit_distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def knobs(cfg: FaultConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


class Scripted(random.Random):
    """A generator whose ``random()`` returns the given numbers, in turn."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)
        self.drawn = 0

    def random(self) -> float:
        self.drawn += 1
        return self.values.pop(0)


def draws(**u: float) -> Scripted:
    """One packet's draws, in the documented order; unnamed ones are 0.5."""
    order = ("move", "burst", "loss", "corrupt", "duplicate", "jitter", "reorder", "pattern")
    assert set(u) <= set(order) and len(order) == DRAWS
    return Scripted(*(u.get(name, 0.5) for name in order))


# --- one model, two drivers -------------------------------------------------------

BUSY = FaultConfig(
    delay=0.004,
    jitter=0.003,
    loss=0.05,
    duplicate=0.05,
    reorder=0.05,
    reorder_delay=0.002,
    corrupt=0.1,
    corrupt_bits=3,
    burst_loss=GilbertElliott(0.02, 0.3),
)


def through_sim(cfg: FaultConfig, seed: int, n: int, interval: float) -> list[tuple[float, bytes]]:
    """What b's stack receives when a sends n packets over a link configured by ``cfg``."""
    net = Network(seed=seed)
    net.add_host("a", str(A))
    net.add_host("b", str(B))
    link = net.link("a", "b", **knobs(cfg))
    assert link.faults == cfg
    stack = net.hosts["b"].stack
    receive = stack.receive
    got: list[tuple[float, bytes]] = []

    def spy(packet: bytes, now: float) -> None:  # the name of Stack.receive's argument
        got.append((now, packet))
        receive(packet, now)

    stack.receive = spy  # type: ignore[method-assign]
    for i in range(n):
        net.inject(i * interval, "a", packet(i))
    net.run()
    return got


def through_injector(
    cfg: FaultConfig, seed: int, n: int, interval: float
) -> list[tuple[float, bytes]]:
    """The same packets through a FaultInjector, each released exactly when due."""
    inj = FaultInjector(cfg, stream_rng(seed, "a->b"))
    out: list[tuple[float, bytes]] = []
    i = 0
    while i < n or inj.pending:
        due = inj.next_due()
        if i < n and (due is None or i * interval <= due):
            now = i * interval
            out.extend((now, p) for p in inj.push(packet(i), now))
            i += 1
        else:
            assert due is not None
            out.extend((due, p) for p in inj.pop_due(due))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("jitter_reorders", [False, True])
def test_a_sim_link_and_an_injector_decide_the_same(seed: int, jitter_reorders: bool) -> None:
    cfg = FaultConfig(**{**knobs(BUSY), "jitter_reorders": jitter_reorders})
    sim = through_sim(cfg, seed, 600, 0.001)
    tun = through_injector(cfg, seed, 600, 0.001)
    assert sim == tun
    copies = Counter(seq_of(p) for _, p in sim)
    assert len(copies) < 600 and max(copies.values()) >= 2  # some lost, some duplicated
    assert any(p != packet(seq_of(p)) for _, p in sim)  # some corrupted


def test_the_sim_counts_what_the_model_decided() -> None:
    net = Network(seed=4)
    net.add_host("a", str(A))
    net.add_host("b", str(B))
    net.link("a", "b", **knobs(BUSY))
    for i in range(600):
        net.inject(i * 0.001, "a", packet(i))
    net.run()
    inj = FaultInjector(BUSY, stream_rng(4, "a->b"))
    for i in range(600):
        inj.push(packet(i), i * 0.001)
    s, f = net.link_stats("a", "b"), inj.stats
    assert s.lost.get(BURST_LOSS, 0) == f.burst_dropped > 0
    assert s.lost.get(LOSS, 0) == f.dropped - f.burst_dropped > 0
    assert (s.corrupted, s.corrupted_undetected, s.duplicated) == (
        f.corrupted,
        f.corrupted_undetected,
        f.duplicated,
    )


def test_one_direction_never_shifts_the_other() -> None:
    """Each direction of a link has a stream of its own."""

    def forward(**reverse: Any) -> list[tuple[float, bytes]]:
        net = Network(seed=5)
        net.add_host("a", str(A))
        net.add_host("b", str(B))
        net.link("a", "b", reverse=LinkConfig(**reverse), **knobs(BUSY))
        got: list[tuple[float, bytes]] = []

        def spy(packet: bytes, now: float) -> None:
            got.append((now, packet))

        net.hosts["b"].stack.receive = spy  # type: ignore[method-assign]
        for i in range(200):
            net.inject(i * 0.001, "a", packet(i))
            rst = encode_packet(B, A, Segment(9, 40000, seq=i, ack=0, flags=Flags.RST, window=0))
            net.inject(i * 0.001, "b", rst)
        net.run()
        return got

    assert forward() == forward(loss=0.3, jitter=0.01, corrupt=0.2)


# --- the draw discipline ---------------------------------------------------------------


def test_a_random_configuration_draws_exactly_draws_numbers_per_packet() -> None:
    for cfg in (FaultConfig(loss=0.5), BUSY, FaultConfig(corrupt=1.0, corrupt_bits=5)):
        rng = random.Random(9)
        model = FaultModel(rng)
        for i in range(100):
            model.decide(cfg, packet(i), i * 0.001)
        reference = random.Random(9)
        for _ in range(100 * DRAWS):
            reference.random()
        assert rng.getstate() == reference.getstate(), cfg


def test_a_configuration_without_randomness_draws_nothing() -> None:
    for cfg in (NO_FAULTS, FaultConfig(delay=0.1), FaultConfig(delay=0.1, jitter_reorders=True)):
        assert not cfg.randomized
        rng = Scripted()
        fate = FaultModel(rng).decide(cfg, packet(0), 1.0)
        assert rng.drawn == 0
        assert fate.due == 1.0 + cfg.delay and fate.lost is None and fate.copies == 1


def test_no_knob_shifts_the_decisions_of_another() -> None:
    def fates(cfg: FaultConfig) -> list[tuple[bool, float]]:
        model = FaultModel(random.Random(3))
        out = []
        for i in range(2000):
            fate = model.decide(cfg, packet(i), i * 0.001)
            out.append((fate.lost is not None, fate.due - i * 0.001))
        return out

    lossy = fates(FaultConfig(loss=0.1, jitter=0.01))
    busy = fates(
        FaultConfig(loss=0.1, jitter=0.01, jitter_reorders=True, corrupt=0.5, duplicate=0.5)
    )
    assert [lost for lost, _ in lossy] == [lost for lost, _ in busy]
    jitter_only = fates(FaultConfig(jitter=0.01, jitter_reorders=True))
    kept = [hold for (lost, _), (_, hold) in zip(lossy, jitter_only, strict=True) if not lost]
    assert kept == [hold for lost, hold in busy if not lost]


# --- the documented order ----------------------------------------------------------------


def test_each_decision_reads_its_own_draw() -> None:
    cfg = FaultConfig(
        loss=0.5, corrupt=0.5, duplicate=0.5, jitter=0.010, reorder=0.5, reorder_delay=0.1,
        delay=0.020, burst_loss=GilbertElliott(0.5, 0.5),
    )  # fmt: skip
    pkt = packet(1)

    def decide(**u: float) -> Any:
        return FaultModel(draws(**u)).decide(cfg, pkt, 10.0)

    quiet = dict(move=0.9, loss=0.9, corrupt=0.9, duplicate=0.9, reorder=0.9, jitter=0.0)
    assert decide(**quiet) == decide(**quiet)
    fate = decide(**quiet)
    assert (fate.lost, fate.copies, fate.corrupted, fate.reordered) == (None, 1, False, False)
    assert fate.packet == pkt and fate.due == pytest.approx(10.020)
    assert decide(**{**quiet, "move": 0.1, "burst": 0.3}).lost == BURST_LOSS
    assert decide(**{**quiet, "move": 0.1, "burst": 0.3, "loss": 0.1}).lost == BURST_LOSS
    assert decide(**{**quiet, "loss": 0.1}).lost == LOSS
    assert decide(**{**quiet, "corrupt": 0.1}).corrupted
    assert decide(**{**quiet, "duplicate": 0.1}).copies == 2
    assert decide(**{**quiet, "jitter": 0.5}).due == pytest.approx(10.025)
    fate = decide(**{**quiet, "jitter": 0.5, "reorder": 0.1})
    assert fate.reordered and fate.due == pytest.approx(10.125)


def test_loss_comes_before_corruption_and_duplication() -> None:
    inj = FaultInjector(
        FaultConfig(loss=1.0, corrupt=1.0, duplicate=1.0, reorder=1.0), random.Random(1)
    )
    for i in range(50):
        assert inj.push(packet(i), 0.0) == []
    st = inj.stats
    assert st.dropped == 50 and st.corrupted == st.duplicated == st.reordered == 0


def test_burst_loss_comes_before_random_loss() -> None:
    always_bad = GilbertElliott(p_good_to_bad=1.0, p_bad_to_good=0.0)
    inj = FaultInjector(FaultConfig(loss=1.0, burst_loss=always_bad), random.Random(1))
    for i in range(20):
        inj.push(packet(i), 0.0)
    assert inj.stats.dropped == inj.stats.burst_dropped == 20


def test_a_duplicate_is_the_corrupted_packet_due_at_the_same_time() -> None:
    cfg = FaultConfig(corrupt=1.0, corrupt_bits=4, duplicate=1.0, delay=0.01, jitter=0.01)
    inj = FaultInjector(cfg, random.Random(2))
    for i in range(20):
        assert inj.push(packet(i), 0.0) == []
    seen: list[tuple[float, bytes]] = []
    while (due := inj.next_due()) is not None:
        seen.extend((due, p) for p in inj.pop_due(due))
    assert len(seen) == 40
    for (t1, p1), (t2, p2) in zip(seen[::2], seen[1::2], strict=True):
        assert (t1, p1) == (t2, p2) and p1 != packet(seq_of(p1))


# --- each knob -----------------------------------------------------------------------


def test_jitter_keeps_order_unless_jitter_reorders() -> None:
    def order(jitter_reorders: bool) -> list[int]:
        cfg = FaultConfig(delay=0.01, jitter=0.02, jitter_reorders=jitter_reorders)
        model = FaultModel(random.Random(6))
        dues = [model.decide(cfg, packet(i), i * 0.001).due for i in range(200)]
        return sorted(range(200), key=lambda i: (dues[i], i))

    assert order(False) == list(range(200))
    assert order(True) != list(range(200))


def test_a_lowered_delay_does_not_reorder_unless_jitter_reorders() -> None:
    for jitter_reorders, expected in ((False, 0.050), (True, 0.011)):
        model = FaultModel(random.Random(0))
        slow = FaultConfig(delay=0.050, jitter_reorders=jitter_reorders)
        fast = FaultConfig(delay=0.010, jitter_reorders=jitter_reorders)
        assert model.decide(slow, packet(0), 0.0).due == 0.050
        assert model.decide(fast, packet(1), 0.001).due == pytest.approx(expected)


def test_a_reordered_packet_neither_waits_for_nor_holds_back_the_others() -> None:
    cfg = FaultConfig(delay=0.010, reorder=0.5, reorder_delay=0.030)
    model = FaultModel(draws(reorder=0.1))
    held = model.decide(cfg, packet(0), 0.0)
    assert held.reordered and held.due == pytest.approx(0.040)
    model.rng = draws(reorder=0.9)
    assert model.decide(cfg, packet(1), 0.001).due == pytest.approx(0.011)  # overtakes it


@pytest.mark.parametrize("bits", [1, 2, 7])
def test_corruption_flips_up_to_corrupt_bits_of_the_tcp_part(bits: int) -> None:
    cfg = FaultConfig(corrupt=1.0, corrupt_bits=bits)
    model = FaultModel(random.Random(bits))
    for i in range(200):
        original = packet(i)
        fate = model.decide(cfg, original, 0.0)
        assert fate.corrupted and len(fate.packet) == len(original)
        assert fate.packet[:20] == original[:20]  # the IP header
        assert fate.packet[32] >> 4 == original[32] >> 4  # the data offset
        assert 1 <= bit_distance(fate.packet, original) <= bits
        try:
            decode_packet(fate.packet)
        except MalformedPacket as exc:
            assert exc.reason == "bad-checksum" and not fate.undetected
        else:
            assert fate.undetected and bits > 1


@pytest.mark.parametrize("escapes", [True, False])
def test_corrupt_escapes_decides_whether_the_checksum_may_miss(escapes: bool) -> None:
    cfg = FaultConfig(corrupt=1.0, corrupt_bits=2, corrupt_escapes=escapes)
    inj = FaultInjector(cfg, random.Random(8))
    passed = 0
    for i in range(3000):
        (bad,) = inj.push(packet(i, 40), 0.0)
        try:
            decode_packet(bad)
            passed += 1
        except MalformedPacket:
            pass
    assert passed == inj.stats.corrupted_undetected
    assert (passed > 0) == escapes


def test_corrupt_packet_leaves_short_packets_alone() -> None:
    assert corrupt_packet(b"\x45" + bytes(19), 3, random.Random(0)) is None
    assert corrupt_packet(b"", 3, random.Random(0)) is None


def test_burst_loss_follows_the_chain() -> None:
    ge = GilbertElliott(p_good_to_bad=0.05, p_bad_to_good=0.25)
    assert ge.move(False, 0.04) and not ge.move(False, 0.05)
    assert ge.move(True, 0.25) and not ge.move(True, 0.24)
    model = FaultModel(random.Random(10))
    cfg = FaultConfig(burst_loss=ge)
    lost = [model.decide(cfg, packet(i), 0.0).lost is not None for i in range(20_000)]
    runs = [len(list(g)) for k, g in itertools.groupby(lost) if k]
    assert sum(lost) / len(lost) == pytest.approx(ge.loss_rate, rel=0.15)
    assert sum(runs) / len(runs) == pytest.approx(1 / ge.p_bad_to_good, rel=0.15)


# --- one set of names and defaults ---------------------------------------------------------


def test_link_config_has_the_model_fields_and_defaults() -> None:
    link = LinkConfig()
    for f in fields(FaultConfig):
        expected = 0.010 if f.name == "delay" else getattr(NO_FAULTS, f.name)
        assert getattr(link, f.name) == expected, f.name
    assert link.faults == FaultConfig(delay=0.010)


def test_link_config_changes_reach_the_model_and_are_checked() -> None:
    link = LinkConfig(loss=0.1)
    link.loss = 0.3
    link.burst_loss = GilbertElliott(0.1, 0.5)
    link.bandwidth = 1e6  # not a fault: the link's own
    assert link.faults == FaultConfig(delay=0.010, loss=0.3, burst_loss=GilbertElliott(0.1, 0.5))
    with pytest.raises(ValueError, match="loss must be between 0 and 1"):
        link.loss = 1.5
    with pytest.raises(ValueError, match="corrupt-bits"):
        link.corrupt_bits = 0
    assert link.loss == 0.3 and link.corrupt_bits == 1 and link.faults.loss == 0.3


def test_spec_knows_burst_loss_and_the_flags() -> None:
    cfg = FaultConfig.parse("burst-loss=0.02:0.25,jitter-reorders=yes,corrupt_escapes=off")
    assert cfg == FaultConfig(
        burst_loss=GilbertElliott(0.02, 0.25), jitter_reorders=True, corrupt_escapes=False
    )
    assert cfg.active and cfg.randomized
    assert cfg.describe() == "jitter-reorders=1,corrupt-escapes=0,burst-loss=0.02:0.25"
    assert FaultConfig.parse(cfg.describe()) == cfg
    partial_loss = FaultConfig.parse("burst-loss=0.1:0.2:0.01:0.5")
    assert partial_loss.burst_loss == GilbertElliott(0.1, 0.2, 0.01, 0.5)
    assert FaultConfig.parse(partial_loss.describe()) == partial_loss
    assert cfg.with_spec("burst-loss=none").burst_loss is None
    for spec, message in (
        ("burst-loss=0.1", "burst-loss: expected"),
        ("burst-loss=2:0.1", "between 0 and 1"),
        ("burst-loss=a:b", "not a number"),
        ("jitter-reorders=maybe", "jitter-reorders: expected 1/0"),
    ):
        with pytest.raises(ValueError, match=message):
            FaultConfig.parse(spec)


def test_tun_cli_burst_loss_applies_to_both_directions() -> None:
    from tcpstack.cli import tun as tun_cli

    parser = argparse.ArgumentParser()
    tun_cli._add_commands(parser)
    args = parser.parse_args(["serve", "--burst-loss", "0.01:0.5", "--to-kernel", "loss=0.02"])
    to_kernel, from_kernel = tun_cli.fault_configs(args)
    ge = GilbertElliott(0.01, 0.5)
    assert to_kernel == FaultConfig(loss=0.02, burst_loss=ge)
    assert from_kernel == FaultConfig(burst_loss=ge)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--burst-loss", "0.5"])
