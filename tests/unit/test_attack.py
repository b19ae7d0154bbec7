"""``tcpstack attack``: the attack experiments, small and seeded.

What holds today is asserted: blind segments reset nothing and corrupt
nothing, challenge ACKs stay within ``challenge_ack_limit`` per second, an
ACK storm draws replies within the rate limits. For ``syn-flood``,
``ofo-holes`` and ``zero-window`` (which need the issue 12 defences to
pass) the tests check that the command runs and reports its numbers; the
pass assertions come with the defences.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from tcpstack.cli import main
from tcpstack.config import TcpConfig
from tcpstack.harness.attack import (
    ATTACKS,
    run_ack_storm,
    run_blind,
    run_ofo_holes,
    run_syn_flood,
    run_zero_window,
)
from tcpstack.harness.attack.common import (
    challenge_acks,
    deep_size,
    ipv4_segment,
    syn_options,
    ts_option,
)
from tcpstack.harness.attack.synflood import syn_packet
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    PacketEncoder,
    SackPermitted,
    Segment,
    Timestamps,
    WindowScale,
    decode_tcp_packet,
)

SMALL = 256 * 1024  # bytes of the transfer under attack
A, B = ipaddress.IPv4Address("10.1.2.3"), ipaddress.IPv4Address("198.51.100.1")

# -- the attacker's packets -------------------------------------------------------------


def test_fast_builder_matches_the_stacks_encoder() -> None:
    seg = Segment(40000, 5001, 0xFFFFFFF0, 1234, Flags.ACK | Flags.PSH, 501,
                  options=(Nop(), Nop(), Timestamps(7, 9)), payload=b"hello")
    built = ipv4_segment(A.packed, B.packed, 40000, 5001, 0xFFFFFFF0, 1234,
                         Flags.ACK | Flags.PSH, 501, ts_option(7, 9), b"hello")
    assert built == PacketEncoder(A, B).encode(seg)


def test_spoofed_syn_is_a_linux_clients_syn() -> None:
    packet = syn_packet(int(A), 1234, B.packed, 80, 0xDEADBEEF, 77)
    src, dst, seg = decode_tcp_packet(packet)  # checksums verified
    assert (src, dst) == (A.packed, B.packed)
    assert (seg.src_port, seg.dst_port, seg.seq, seg.flags) == (1234, 80, 0xDEADBEEF, Flags.SYN)
    assert seg.options == (Mss(1460), SackPermitted(), Timestamps(77, 0), Nop(), WindowScale(7))
    assert len(syn_options(1)) == 20


def test_challenge_acks_from_todays_counters() -> None:
    stats = {"dropped:rst-challenged": 7, "dropped:syn-challenged": 5,
             "challenge-ack-rate-limited": 9}
    assert challenge_acks(stats) == (3, 9)
    assert challenge_acks({"challenge_ack_sent": 4, "challenge_ack_suppressed": 2}) == (4, 2)


def test_deep_size_follows_the_graph_and_stops_at_exclusions() -> None:
    shared = [bytearray(1000) for _ in range(10)]
    owner = {"mine": [bytearray(5000)], "shared": shared}
    assert deep_size(owner) >= 15_000
    assert 5_000 <= deep_size(owner, exclude=[shared]) < 10_000


# -- blind attacks and the ACK storm: what holds today --------------------------------


@pytest.mark.parametrize("kind", ["blind-rst", "blind-syn", "blind-data"])
def test_blind_segments_reset_nothing_and_corrupt_nothing(kind: str) -> None:
    result = run_blind(kind, seed=3, count=2000, size=SMALL)
    assert result.metric("segments") == 2000
    assert result.metric("bytes_exact") is True
    assert result.metric("resets") == 0
    assert result.metric("challenge_acks_max_per_second") <= 10  # type: ignore[operator]
    names = {c.name: c.passed for c in result.checks}
    assert names["transfer byte-exact"] and names["0 resets"]


@pytest.mark.parametrize("kind", ["blind-rst", "blind-syn"])
def test_in_window_guesses_draw_challenge_acks_within_the_limit(kind: str) -> None:
    # Guesses within 1 MiB of the true numbers: some land in the 64 KiB window.
    result = run_blind(kind, seed=5, count=3000, size=SMALL, spread=1 << 20)
    assert result.metric("resets") == 0 and result.metric("bytes_exact") is True
    sent = result.metric("challenge_acks")
    assert isinstance(sent, int) and sent > 0
    assert result.metric("challenge_acks_suppressed") > 0  # type: ignore[operator]
    assert result.metric("challenge_acks_max_per_second") <= 10  # type: ignore[operator]
    assert {c.name: c.passed for c in result.checks}["challenge ACKs within the limit"]


def test_ack_storm_draws_replies_within_the_rate_limits() -> None:
    result = run_ack_storm(seed=2, count=4000, size=SMALL)
    assert result.metric("segments") == 4000
    assert result.metric("bytes_exact") is True and result.metric("resets") == 0
    allowed = result.metric("reply_limit")
    assert allowed == 12  # challenge_ack_limit 10 + one per invalid_ack_ratelimit 0.5 s
    assert result.metric("replies_max_per_second") <= allowed  # type: ignore[operator]
    # The ACKs in reply that invalid_ack_ratelimit held back were counted.
    assert any("invalid" in k and v > 0 for k, v in result.counters.items())
    assert result.passed


def test_the_same_seed_gives_the_same_result() -> None:
    one = run_blind("blind-data", seed=9, count=500, size=64 * 1024).to_dict()
    two = run_blind("blind-data", seed=9, count=500, size=64 * 1024).to_dict()
    one.pop("wall_seconds"), two.pop("wall_seconds")
    assert one == two


# -- attacks that need the defences: they run and report ------------------------------


def test_syn_flood_runs_and_reports() -> None:
    result = run_syn_flood(seed=1, rate=5000, seconds=1.0, clients=20)
    assert result.metric("syns") == 5000
    assert result.metric("clients") == 20
    fraction = result.metric("connected_fraction")
    assert isinstance(fraction, float) and 0.0 <= fraction <= 1.0
    peak = result.metric("memory_peak")
    assert isinstance(peak, int) and peak > 0
    assert {c.name for c in result.checks} == {"clients connected >= 99 %",
                                               "peak memory under the bound"}
    assert result.counters  # the listener counted what it did with the SYNs
    # With the defences (SYN queue + cookies) every client gets through.
    assert result.passed, result.to_dict()
    assert result.metric("connected") == 20
    assert result.counters["syncookies_sent"] > 0
    assert result.metric("half_open_peak") == TcpConfig().max_syn_backlog


def test_without_a_flood_every_client_connects() -> None:
    result = run_syn_flood(seed=1, rate=0, seconds=1.0, clients=20)
    assert result.metric("connected") == 20
    assert result.metric("connect_p50") == pytest.approx(0.02)  # one RTT over 10 ms links
    assert result.passed


def test_ofo_holes_runs_and_reports() -> None:
    result = run_ofo_holes(seed=1, window=2048)
    assert result.metric("window_offered") == 2048
    # Every odd offset holds a byte, every even one (RCV.NXT first) is a hole.
    assert result.metric("hole_segments") == result.metric("hole_segments_total") == 1024
    assert result.metric("finished") is True
    assert result.metric("bytes_held") == 1024
    assert result.metric("memory") > 0  # type: ignore[operator]
    assert result.metric("bytes_exact") is True  # the fill makes the stream whole


def test_ofo_holes_pass_with_bounded_reassembly() -> None:
    # 4,096 holes: enough that a page's fixed cost no longer dominates memory
    # (2,048 bytes of window give 2.9x; 8 KiB 1.7x; the full 4 MiB 1.5x).
    result = run_ofo_holes(seed=1, window=8192)
    assert result.metric("bytes_held") == 4096
    ratio = result.metric("memory_ratio")
    assert isinstance(ratio, float) and ratio <= 2.0
    assert result.passed, result.to_dict()


def test_ofo_holes_stops_at_its_cpu_budget() -> None:
    result = run_ofo_holes(seed=1, window=1 << 20, cpu_budget=0.05)
    assert result.metric("finished") is False
    assert not result.passed
    assert result.metric("bytes_exact") is True


def test_zero_window_runs_and_reports() -> None:
    result = run_zero_window(seed=1, max_time=600.0)
    # Probes go out for at least R2 (100 s) whatever the defences do.
    assert result.metric("r2_probes") > 3  # type: ignore[operator]
    for case in ("r2", "user_timeout", "orphan"):
        probes = result.metric(f"{case}_probes")
        assert isinstance(probes, int) and probes >= 0
        ended = result.metric(f"{case}_ended_after")
        assert ended is None or 0 < ended <= 600.0  # type: ignore[operator]
        first = result.metric(f"{case}_first_probe_after")  # the persist timer's first RTO
        assert first == pytest.approx(1.0)
        if ended is None:
            assert "still" in str(result.metric(f"{case}_end"))
    assert len(result.checks) == 3
    # With the defences every case ends: R2 and the user timeout after the first
    # unanswered probe, the orphan after orphan_retries probes.
    assert result.passed, result.to_dict()
    assert all(result.metric(f"{case}_ended_after") is not None
               for case in ("r2", "user_timeout", "orphan"))


# -- the command ---------------------------------------------------------------------


def test_cli_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["attack", "blind-rst", "--count", "1,000", "--size", "65536", "--json"])
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    obj = json.loads(out)
    assert code == (0 if obj["passed"] else 1)
    assert set(obj) == {"attack", "seed", "params", "criterion", "passed", "checks", "metrics",
                        "units", "counters", "wall_seconds"}
    assert obj["attack"] == "blind-rst" and obj["params"]["count"] == 1000
    assert obj["metrics"]["resets"] == 0 and obj["units"]["time_with"] == "s"
    assert all(set(c) == {"name", "passed", "detail"} for c in obj["checks"])


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["attack", "zero-window", "--max-time", "200"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "probes sent into the void" in out and "done means" in out
    assert ("PASS" if code == 0 else "FAIL") in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["attack"], "name an attack"),
        (["attack", "nope"], "invalid choice"),
        (["attack", "blind-rst", "--count", "-1"], "must be >= 0"),
        (["attack", "syn-flood", "--seconds", "0"], "must be > 0"),
        (["attack", "ofo-holes", "--window", "2"], "--window"),
        (["attack", "blind-data", "--spread", "x"], "not a whole number"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("tcpstack")


def test_every_attack_has_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ATTACKS)
