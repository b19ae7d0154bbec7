"""The TUN driver's fault injector on its own (no root, no device), and its CLI options."""

from __future__ import annotations

import argparse
import itertools
import math
import random
from ipaddress import IPv4Address, IPv6Address

import pytest

from tcpstack import events
from tcpstack.drivers.apps import SendClient
from tcpstack.drivers.faults import (
    FAULT_KEYS,
    NO_FAULTS,
    FaultConfig,
    FaultInjector,
    direction_rng,
)
from tcpstack.errors import MalformedPacket
from tcpstack.state import State
from tcpstack.wire import Flags, Segment, decode_packet, encode_packet

SRC = IPv4Address("192.0.2.2")
DST = IPv4Address("192.0.2.1")


def packet(i: int, size: int = 100, *, v6: bool = False) -> bytes:
    """A valid TCP/IP packet whose sequence number is ``i`` (to follow it through)."""
    seg = Segment(
        40000,
        80,
        seq=i,
        ack=1,
        flags=Flags.ACK | Flags.PSH,
        window=65535,
        payload=bytes((i + k) & 0xFF for k in range(size)),
    )
    if v6:
        return encode_packet(IPv6Address("2001:db8::2"), IPv6Address("2001:db8::1"), seg)
    return encode_packet(SRC, DST, seg)


def seq_of(pkt: bytes) -> int:
    return decode_packet(pkt)[1].seq


def run(
    inj: FaultInjector, n: int, *, interval: float = 0.001, size: int = 100
) -> list[tuple[float, bytes]]:
    """Offer n packets every ``interval`` s, releasing due ones; return (time, packet) out."""
    out: list[tuple[float, bytes]] = []
    now = 0.0
    for i in range(n):
        now = i * interval
        out.extend((now, p) for p in inj.pop_due(now))
        out.extend((now, p) for p in inj.push(packet(i, size), now))
    for _ in range(100_000):
        due = inj.next_due()
        if due is None:
            break
        now = max(now, due)
        out.extend((now, p) for p in inj.pop_due(now))
    assert inj.pending == 0
    return out


def within(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


# --- configuration -------------------------------------------------------------


def test_default_config_is_inactive_and_passes_everything_through() -> None:
    inj = FaultInjector(NO_FAULTS, random.Random(1))
    pkts = [packet(i) for i in range(50)]
    out = [p for i, pkt in enumerate(pkts) for p in inj.push(pkt, i * 0.001)]
    assert out == pkts
    assert inj.stats.offered == inj.stats.delivered == 50
    assert inj.next_due() is None
    assert not NO_FAULTS.active
    assert NO_FAULTS.describe() == "none"


def test_spec_parsing_and_merging() -> None:
    base = FaultConfig(loss=0.05, delay=0.01)
    cfg = base.with_spec("reorder=0.02, reorder_delay=0.005,corrupt-bits=2")
    assert cfg == FaultConfig(
        loss=0.05, delay=0.01, reorder=0.02, reorder_delay=0.005, corrupt_bits=2
    )
    assert base.with_spec("none,jitter=0.003") == FaultConfig(jitter=0.003)
    assert base.with_spec("none") == NO_FAULTS
    assert FaultConfig.parse(cfg.describe()) == cfg
    assert cfg.describe() == "loss=0.05,reorder=0.02,reorder-delay=0.005,delay=0.01,corrupt-bits=2"
    assert set(FAULT_KEYS) >= {"loss", "duplicate", "reorder", "delay", "jitter", "corrupt"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("loss=1.5", "loss must be between 0 and 1"),
        ("loss=nan", "loss must be between 0 and 1"),
        ("delay=-1", "delay must be a finite number of seconds"),
        ("jitter=inf", "jitter must be a finite number of seconds"),
        ("corrupt-bits=0", "corrupt-bits must be an integer from 1"),
        ("corrupt-bits=1.5", "corrupt-bits: not an integer"),
        ("loss", "expected KEY=VALUE"),
        ("drop=0.1", "unknown fault 'drop'"),
        ("loss=x", "loss: not a number"),
        ("", "empty fault spec"),
    ],
)
def test_bad_specs_are_one_clear_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        FaultConfig.parse(spec)
    assert "\n" not in str(exc.value)


# --- determinism -----------------------------------------------------------------

BUSY = FaultConfig(
    loss=0.05, duplicate=0.03, reorder=0.04, reorder_delay=0.004, jitter=0.002, corrupt=0.02
)


def test_same_seed_same_run_different_seed_different_run() -> None:
    def once(seed: int) -> list[tuple[float, bytes]]:
        return run(FaultInjector(BUSY, direction_rng(seed, "to-kernel")), 2000)

    assert once(7) == once(7)
    assert once(7) != once(8)


def test_directions_have_independent_streams() -> None:
    a = direction_rng(7, "to-kernel")
    b = direction_rng(7, "from-kernel")
    assert [a.random() for _ in range(5)] != [b.random() for _ in range(5)]
    assert direction_rng(7, "to-kernel").random() == direction_rng(7, "to-kernel").random()
    with pytest.raises(ValueError):
        direction_rng(7, "sideways")


def test_one_knob_does_not_shift_the_others_decisions() -> None:
    """Five draws per packet whatever the settings: adding duplication keeps the same losses."""

    def lost(cfg: FaultConfig) -> set[int]:
        inj = FaultInjector(cfg, direction_rng(3, "from-kernel"))
        got = {seq_of(p) for _, p in run(inj, 3000)}
        return set(range(3000)) - got

    assert lost(FaultConfig(loss=0.05)) == lost(FaultConfig(loss=0.05, duplicate=0.2))


# --- rates -----------------------------------------------------------------------


def test_rates_within_tolerance() -> None:
    n = 20_000
    inj = FaultInjector(BUSY, direction_rng(11, "to-kernel"))
    out = run(inj, n, size=40)
    st = inj.stats
    assert st.offered == n
    assert within(st.dropped, n, BUSY.loss)
    survivors = n - st.dropped
    assert within(st.duplicated, survivors, BUSY.duplicate)
    assert within(st.reordered, survivors, BUSY.reorder)
    assert within(st.corrupted, survivors, BUSY.corrupt)
    assert st.delivered == len(out) == survivors + st.duplicated


# --- reordering, delay, duplication ------------------------------------------------


def test_reorder_actually_reorders_and_loses_nothing() -> None:
    cfg = FaultConfig(reorder=0.1, reorder_delay=0.005)
    inj = FaultInjector(cfg, direction_rng(5, "to-kernel"))
    out = [seq_of(p) for _, p in run(inj, 1000, interval=0.001)]
    assert sorted(out) == list(range(1000))
    overtaken = sum(1 for a, b in itertools.pairwise(out) if a > b)
    assert overtaken > 0
    assert overtaken <= inj.stats.reordered
    assert within(inj.stats.reordered, 1000, 0.1)


def test_a_reordered_packet_is_overtaken_by_the_next() -> None:
    cfg = FaultConfig(reorder=1.0, reorder_delay=0.010)
    inj = FaultInjector(cfg, random.Random(1))
    assert inj.push(packet(0), 0.0) == []
    assert inj.next_due() == pytest.approx(0.010)
    inj.config = NO_FAULTS  # the next packet goes straight through
    assert [seq_of(p) for p in inj.push(packet(1), 0.001)] == [1]
    assert inj.pop_due(0.0099) == []
    assert [seq_of(p) for p in inj.pop_due(0.010)] == [0]


def test_delay_and_jitter_keep_order_and_respect_due_times() -> None:
    cfg = FaultConfig(delay=0.050, jitter=0.020)
    inj = FaultInjector(cfg, direction_rng(9, "from-kernel"))
    sent_at = {i: i * 0.001 for i in range(500)}
    out = run(inj, 500, interval=0.001)
    seqs = [seq_of(p) for _, p in out]
    assert seqs == list(range(500))  # jitter never reorders
    for t, p in out:
        assert t >= sent_at[seq_of(p)] + cfg.delay - 1e-9
        assert t <= sent_at[seq_of(p)] + cfg.delay + cfg.jitter + 0.001 + 1e-9
    assert inj.stats.delayed == 500


def test_fixed_delay_holds_until_due() -> None:
    inj = FaultInjector(FaultConfig(delay=0.1), random.Random(2))
    assert inj.push(packet(0), 1.0) == []
    assert inj.push(packet(1), 1.05) == []
    assert inj.next_due() == pytest.approx(1.1)
    assert inj.pop_due(1.0999) == []
    assert [seq_of(p) for p in inj.pop_due(1.1)] == [0]
    assert [seq_of(p) for p in inj.pop_due(1.2)] == [1]
    assert inj.pending == 0


def test_duplicates_follow_their_original() -> None:
    inj = FaultInjector(FaultConfig(duplicate=1.0), random.Random(4))
    assert inj.push(packet(0), 0.0) == [packet(0), packet(0)]
    assert inj.stats.duplicated == 1
    assert inj.stats.delivered == 2


def test_clear_discards_held_packets() -> None:
    inj = FaultInjector(FaultConfig(delay=1.0), random.Random(4))
    inj.push(packet(0), 0.0)
    inj.push(packet(1), 0.0)
    assert inj.clear() == 2
    assert inj.stats.discarded == 2
    assert inj.next_due() is None


# --- corruption ----------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("size", [0, 1, 100, 1460])
def test_corruption_breaks_the_checksum(size: int, v6: bool) -> None:
    inj = FaultInjector(FaultConfig(corrupt=1.0), direction_rng(size, "to-kernel"))
    ip_len = 40 if v6 else 20
    for i in range(300):
        original = packet(i, size, v6=v6)
        (bad,) = inj.push(original, i * 0.001)
        assert len(bad) == len(original)
        assert bad[:ip_len] == original[:ip_len]  # the IP header is never touched
        assert bad[ip_len + 12] >> 4 == original[ip_len + 12] >> 4  # nor the data offset
        flipped = sum(bin(a ^ b).count("1") for a, b in zip(bad, original, strict=True))
        assert 1 <= flipped <= 3
        with pytest.raises(MalformedPacket) as exc:
            decode_packet(bad)
        assert exc.value.reason == "bad-checksum"
    assert inj.stats.corrupted == 300


def test_corrupt_bits_one_flips_exactly_one_bit() -> None:
    inj = FaultInjector(FaultConfig(corrupt=1.0, corrupt_bits=1), random.Random(0))
    for i in range(100):
        original = packet(i)
        (bad,) = inj.push(original, 0.0)
        assert sum(bin(a ^ b).count("1") for a, b in zip(bad, original, strict=True)) == 1


def test_too_short_packets_are_left_alone() -> None:
    inj = FaultInjector(FaultConfig(corrupt=1.0), random.Random(0))
    assert inj.push(b"\x45" + bytes(19), 0.0) == [b"\x45" + bytes(19)]
    assert inj.stats.corrupted == 0


# --- command line --------------------------------------------------------------------

tun_cli = pytest.importorskip("tcpstack.cli_tun")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tun_cli._add_commands(parser)
    return parser.parse_args(list(argv))


def test_cli_both_directions_then_per_direction_specs() -> None:
    args = parse(
        "serve",
        "--loss",
        "0.05",
        "--reorder",
        "0.02",
        "--to-kernel",
        "duplicate=0.01",
        "--from-kernel",
        "none,delay=0.02,jitter=0.005",
        "--seed",
        "3",
    )
    to_kernel, from_kernel = tun_cli.fault_configs(args)
    assert to_kernel == FaultConfig(loss=0.05, reorder=0.02, duplicate=0.01)
    assert from_kernel == FaultConfig(delay=0.02, jitter=0.005)
    assert args.seed == 3


def test_cli_loss_shortcut_applies_to_both_directions() -> None:
    to_kernel, from_kernel = tun_cli.fault_configs(
        parse("connect", "--to", "192.0.2.1:9", "--loss", "0.1")
    )
    assert to_kernel == from_kernel == FaultConfig(loss=0.1)


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--loss", "1.5"],
        ["serve", "--delay", "-0.1"],
        ["serve", "--corrupt", "abc"],
        ["serve", "--to-kernel", "loss=2"],
        ["serve", "--from-kernel", "nonsense"],
        ["connect", "--to", "192.0.2.1:9", "--read-rate", "0"],
        ["connect", "--to", "192.0.2.1:9", "--read-rate", "fast"],
    ],
)
def test_cli_bad_fault_values_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        tun_cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err


def test_cli_read_rate_suffixes() -> None:
    assert parse("serve", "--read-rate", "2M").read_rate == 2 * 1024 * 1024
    assert parse("serve", "--read-rate", "1500").read_rate == 1500
    assert parse("serve", "--read-rate", "0.5K").read_rate == 512


# --- slow readers (the driver's read throttle, no device needed) -----------------------

tun = pytest.importorskip("tcpstack.drivers.tun")


class FakeConn:
    """Just enough of a Connection for ThrottledConnection."""

    def __init__(self, data: bytes) -> None:
        self.buf = bytearray(data)
        self.fin_received = False
        self.closed = False
        self.state = State.ESTABLISHED

    @property
    def readable(self) -> int:
        return len(self.buf)

    @property
    def at_eof(self) -> bool:
        return self.fin_received and not self.buf

    def read(self, max_bytes: int = -1) -> bytes:
        n = len(self.buf) if max_bytes < 0 else max_bytes
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self) -> None:
        self.closed = True


def test_read_throttle_ticks_and_quota() -> None:
    now = [10.0]
    th = tun.ReadThrottle(1000.0, lambda: now[0], period=0.01)
    assert th.quota == 10
    assert th.next_tick == 10.0
    assert th.take(5) == 0  # between ticks: nothing
    th.open(10.0)
    assert th.take(4) == 4
    assert th.take(100) == 6
    assert th.take(1) == 0
    th.close()
    assert th.next_tick == pytest.approx(10.01)
    th.open(10.013)  # a little late: the next tick keeps the cadence
    assert th.next_tick == pytest.approx(10.02)
    th.open(10.5)  # very late: no burst of missed ticks
    assert th.next_tick == pytest.approx(10.51)
    assert th.ticks == 3


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_read_throttle_rejects_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="read rate"):
        tun.ReadThrottle(rate, lambda: 0.0)


def test_throttled_connection_reads_only_its_quota_and_keeps_the_rest() -> None:
    conn = FakeConn(b"x" * 25)
    th = tun.ReadThrottle(1000.0, lambda: 0.0, period=0.01)
    handle = tun.ThrottledConnection(conn, th)
    assert handle.read(100) == b""  # not a tick
    th.open(0.0)
    assert handle.read(100) == b"x" * 10
    assert handle.read(100) == b""
    th.close()
    assert conn.readable == 15  # stays in the receive buffer: the window stays closed
    assert handle.cut_short == 3
    conn.fin_received = True
    assert not handle.at_eof
    for t in (0.01, 0.02):
        th.open(t)
        handle.read()
        th.close()
    assert handle.at_eof
    handle.close()
    assert conn.closed


def test_reads_are_not_limited_once_the_connection_is_closed() -> None:
    conn = FakeConn(b"y" * 50)
    handle = tun.ThrottledConnection(conn, tun.ReadThrottle(100.0, lambda: 0.0))
    assert handle.read() == b""
    conn.state = State.CLOSED
    assert handle.read() == b"y" * 50


def test_send_client_collects_what_is_left_after_a_graceful_close() -> None:
    """A slow reader's connection can be CLOSED (a RST answered to TIME-WAIT) with bytes
    still buffered: they were received before the FIN and belong to the reply."""
    got: list[bytes] = []
    app = SendClient(b"", sink=got.append)
    conn = FakeConn(b"tail")
    app.on_event(conn, events.ConnectionClosed())  # type: ignore[arg-type]
    assert app.finished and app.error is None
    assert b"".join(got) == b"tail" and app.received_bytes == 4
