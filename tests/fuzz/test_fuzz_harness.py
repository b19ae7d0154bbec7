"""The fuzz harness (issue 12, item 6): each target for a bounded number of inputs,
the world it starts from, its invariant checks, its seeds and its command line.

The long campaign (atheris, coverage-guided) is a documented command
(docs/security.md, "Fuzzing"); here both targets run over the seed corpus
and seeded random mutations of it, without atheris, deterministically. With
atheris installed, each harness script also runs under libFuzzer for a few
hundred inputs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tcpstack.config import TcpConfig
from tcpstack.harness import fuzz
from tcpstack.harness.fuzz import (
    InvariantViolation,
    World,
    check_connection,
    check_output,
    held_bytes,
    parser_one_input,
    run_mutations,
    seeds_from_captures,
    seeds_from_packets,
    stack_one_input,
)
from tcpstack.state import State
from tcpstack.timers import Timer
from tcpstack.tools.pcap import read_pcap, write_pcapng
from tcpstack.wire import Flags, Segment, encode_packet

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"

PARSER_INPUTS = int(os.environ.get("TCPSTACK_FUZZ_PARSER_INPUTS", "3000"))
STACK_INPUTS = int(os.environ.get("TCPSTACK_FUZZ_STACK_INPUTS", "400"))
"""Inputs per target in the bounded run (seeds first, then mutations); raise
them for a deeper local run."""


@pytest.fixture(scope="module")
def seeds() -> tuple[list[bytes], list[bytes]]:
    return seeds_from_captures(fuzz.scenario_packets().values())


# ----------------------------------------------------------------------
# Bounded runs of both targets
# ----------------------------------------------------------------------


def test_parser_target_bounded_run(seeds: tuple[list[bytes], list[bytes]]) -> None:
    run = run_mutations(parser_one_input, seeds[0], PARSER_INPUTS, seed=12)
    assert run.inputs == PARSER_INPUTS
    assert (run.escapes, run.violations) == (0, 0), run.findings


def test_stack_target_bounded_run(seeds: tuple[list[bytes], list[bytes]]) -> None:
    run = run_mutations(stack_one_input, seeds[1], STACK_INPUTS, seed=12)
    assert run.inputs == STACK_INPUTS
    assert (run.escapes, run.violations) == (0, 0), run.findings


def test_a_failing_target_is_counted_not_raised() -> None:
    def target(data: bytes) -> None:
        if data.startswith(b"\x01"):
            raise InvariantViolation("planted")
        if data.startswith(b"\x02"):
            raise KeyError("planted escape")

    run = run_mutations(target, [b"\x00", b"\x01", b"\x02"], 3)
    assert (run.inputs, run.violations, run.escapes) == (3, 1, 1)
    assert [text.split(":")[0] for _, text in run.findings] == ["InvariantViolation", "KeyError"]


def test_mutations_are_seeded() -> None:
    rng_a, rng_b = fuzz.random.Random(5), fuzz.random.Random(5)
    data = bytes(range(64))
    a = [fuzz.mutate(data, rng_a) for _ in range(50)]
    b = [fuzz.mutate(data, rng_b) for _ in range(50)]
    assert a == b and any(m != data for m in a)


# ----------------------------------------------------------------------
# The world: a connection in every state
# ----------------------------------------------------------------------


def test_world_holds_every_state() -> None:
    world = World.build()
    states = {slot.conn.state for slot in world.slots if slot.conn is not None}
    assert states == set(State) - {State.CLOSED, State.LISTEN}
    assert world.target.listening(fuzz.LISTEN_PORT)  # LISTEN: the listener
    assert [s.label for s in world.slots] == (["listen"] + [lb for lb, _ in fuzz.WORLD_STATES]
                                              + ["listen-cookies"])
    assert world.target.listening(fuzz.COOKIE_PORT)  # and one answering with SYN cookies


def test_an_input_can_complete_a_cookie_handshake() -> None:
    # The cookie listener's slot takes its irs/iss bases from the SYN,ACK it
    # sent, so the fuzzer reaches a valid cookie with offsets of 1, not by luck.
    slot = len(fuzz.WORLD_STATES) + 1
    segment = fuzz.STACK_OPS.index("segment")
    mss = bytes([2, 4, 0x05, 0xB4])
    syn = (bytes([segment, slot, int(Flags.SYN), 3, 3]) + (0x5000).to_bytes(4, "big")
           + bytes(4) + (65535).to_bytes(2, "big") + bytes(2) + bytes([4]) + mss + bytes([0]))
    ack = (bytes([segment, slot, int(Flags.ACK), 0, 0]) + (1).to_bytes(4, "big")
           + (1).to_bytes(4, "big") + (65535).to_bytes(2, "big") + bytes(2) + bytes([0, 0]))
    world = stack_one_input(syn + ack)
    stats = world.target.stats
    assert stats["syncookies_sent"] == 1 and stats["syncookies_validated"] == 1
    [conn] = [c for c in world.target.connections if c.local.port == fuzz.COOKIE_PORT]
    assert conn.state is State.ESTABLISHED and conn.irs == 0x5000
    # A wrong acknowledgment offset fails the check instead.
    bad = ack[:9] + (2).to_bytes(4, "big") + ack[13:]
    assert stack_one_input(syn + bad).target.stats["syncookies_failed"] == 1


def test_world_copies_are_independent_and_alike() -> None:
    base = World.build()
    a, b = base.fresh(), base.fresh()
    conn_a = a.slots[4].conn
    assert conn_a is not None and conn_a.state is State.ESTABLISHED
    conn_a.abort()
    b_conn = b.slots[4].conn
    assert b_conn is not None and b_conn.state is State.ESTABLISHED
    assert [s.conn.snd_nxt for s in b.slots if s.conn] == [
        s.conn.snd_nxt for s in base.fresh().slots if s.conn
    ]


def _segment_op(slot: int, flags: Flags, *, seq_base: int = 1, seq_off: int = 0,
                ack_base: int = 2, ack_off: int = 0, payload: bytes = b"") -> bytes:
    """A ``segment`` operation (see fuzz.STACK_OPS): bases are indexes in
    _SEQ_BASES / _ACK_BASES (1: RCV.NXT, 2: SND.MAX)."""
    chunk = payload[:64]
    return (bytes([fuzz.STACK_OPS.index("segment"), slot, int(flags), seq_base, ack_base])
            + (seq_off & 0xFFFF).to_bytes(2, "big") + (ack_off & 0xFFFF).to_bytes(2, "big")
            + (65535).to_bytes(2, "big") + b"\0\0" + b"\0"
            + bytes([len(chunk)]) + chunk + (b"\0" if chunk else b""))


def _slot(label: str) -> int:
    return [s.label for s in fuzz.base_world().slots].index(label)


def test_a_segment_operation_reaches_its_connection() -> None:
    # An in-window RST on RCV.NXT resets ESTABLISHED (RFC 9293 §3.10.7.4, RFC 5961 §3.2).
    world = stack_one_input(_segment_op(_slot("established"), Flags.RST))
    conn = world.slots[_slot("established")].conn
    assert conn is not None and conn.state is State.CLOSED
    # Data on RCV.NXT is delivered to the connection the operation names (one
    # without timestamps: RFC 7323 §3.2 drops a segment that lacks them).
    world = stack_one_input(_segment_op(_slot("established-plain"), Flags.ACK | Flags.PSH,
                                        payload=b"fuzzed bytes"))
    conn = world.slots[_slot("established-plain")].conn
    assert conn is not None and conn.read() == b"fuzzed bytes"


def test_same_input_same_outcome(seeds: tuple[list[bytes], list[bytes]]) -> None:
    data = seeds[1][3] + _segment_op(_slot("fin-wait-1"), Flags.ACK, ack_off=-1)
    a, b = stack_one_input(data), stack_one_input(data)
    assert a.now == b.now and a.target.stats == b.target.stats
    assert [(c.state, c.snd_una, c.rcv_nxt) for c in a.target.connections] == [
        (c.state, c.snd_una, c.rcv_nxt) for c in b.target.connections
    ]


# ----------------------------------------------------------------------
# The invariant checks catch what they claim to
# ----------------------------------------------------------------------


@dataclasses.dataclass
class FakeTcb:
    """What check_connection reads, settable (a real TCB never lets us break it)."""

    state: State = State.ESTABLISHED
    snd_una: int = 100
    snd_nxt: int = 100
    snd_max: int = 100
    rcv_wnd: int = 1000
    readable: int = 0
    snd_wnd: int = 1000
    in_flight: int = 0
    config: TcpConfig = dataclasses.field(default_factory=TcpConfig)
    timers: dict[Timer, float] = dataclasses.field(default_factory=dict)
    _sndbuf: bytes = b""
    _rcvbuf: None = None

    def timer(self, t: Timer) -> float | None:
        return self.timers.get(t)


BROKEN: dict[str, Callable[[FakeTcb], None]] = {
    "SND.UNA =< SND.NXT": lambda t: setattr(t, "snd_una", 101),
    "SND.NXT =< SND.MAX": lambda t: setattr(t, "snd_nxt", 150),
    "RCV.WND over the buffer": lambda t: setattr(t, "readable", 65535),
    "SND.WND over 2**30": lambda t: setattr(t, "snd_wnd", 1 << 31),
    "in flight with no timer": lambda t: (setattr(t, "snd_max", 101),
                                          setattr(t, "in_flight", 1),
                                          setattr(t, "_sndbuf", b"")),
    "RTO with persist": lambda t: t.timers.update({Timer.RTO: 5.0, Timer.PERSIST: 6.0}),
    "TIME-WAIT timer in ESTABLISHED": lambda t: t.timers.update({Timer.TIME_WAIT: 9.0}),
    "TIME-WAIT without its timer": lambda t: setattr(t, "state", State.TIME_WAIT),
    "a timer in CLOSED": lambda t: (setattr(t, "state", State.CLOSED),
                                    t.timers.update({Timer.KEEPALIVE: 9.0})),
    "a timer due after handle_timer": lambda t: t.timers.update({Timer.DELAYED_ACK: 0.5}),
    "a NaN deadline": lambda t: t.timers.update({Timer.KEEPALIVE: float("nan")}),
    "send buffer over send_buffer": lambda t: setattr(t, "_sndbuf", bytes(262145)),
}


def test_a_sound_fake_passes() -> None:
    check_connection(FakeTcb(), now=0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_broken_invariant_is_caught(name: str) -> None:
    tcb = FakeTcb()
    BROKEN[name](tcb)
    with pytest.raises(InvariantViolation):
        check_connection(tcb, now=0.5)  # type: ignore[arg-type]


def test_held_bytes_sees_both_buffers() -> None:
    """check_connection reads two private buffers; this fails if they move."""
    world = World.build()
    conn = world.slots[_slot("established-plain")].conn
    assert conn is not None
    conn.send(b"x" * 5000)
    hole = _segment_op(_slot("established-plain"), Flags.ACK, seq_off=100, payload=b"late" * 8)
    fuzz._apply(world, fuzz.Reader(hole))
    assert held_bytes(conn) == (5000, 32)


def test_check_output_rejects_bad_packets() -> None:
    stack = fuzz.base_world().fresh().target
    us, them = stack.address, fuzz._V4_SRC
    good = Segment(80, 5000, seq=1, ack=2, flags=Flags.ACK, window=100)
    assert check_output(stack, [encode_packet(us, them, good)]) == [good]
    synrst = dataclasses.replace(good, flags=Flags.SYN | Flags.RST)
    for bad in (encode_packet(us, them, synrst), encode_packet(them, us, good),
                encode_packet(us, them, good)[:-1]):
        with pytest.raises(InvariantViolation):
            check_output(stack, [bad])


# ----------------------------------------------------------------------
# Seeds from real traces
# ----------------------------------------------------------------------


def test_seeds_from_a_pcap_equal_the_in_process_ones(tmp_path: Path) -> None:
    packets = fuzz.scenario_packets(["lifecycle"])["lifecycle"]
    path = tmp_path / "lifecycle.pcapng"
    write_pcapng(path, [(0.001 * i, raw) for i, raw in enumerate(packets)])
    assert seeds_from_packets(raw for _, raw in read_pcap(path)) == seeds_from_packets(packets)


def test_stack_seeds_replay_the_conversation_on_every_slot() -> None:
    packets = fuzz.scenario_packets(["lifecycle"])["lifecycle"]
    parser_seeds, stack_seeds = seeds_from_packets(packets)
    assert len(parser_seeds) == 2 * len(packets)
    slots = len(fuzz.WORLD_STATES) + 2
    assert len(stack_seeds) == slots
    # The same operations, aimed at slot 0, 1, ...: only the slot bytes differ.
    first = stack_seeds[0]
    for slot, seed in enumerate(stack_seeds):
        diff = {i for i, (a, b) in enumerate(zip(first, seed, strict=True)) if a != b}
        assert all(seed[i] == slot for i in diff)
    # Replayed on the listener slot, the client's SYN opens a connection.
    world = stack_one_input(stack_seeds[0])
    assert world.target.stats["packets_in"] >= len(packets) // 2


# ----------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------


def test_fuzzing_without_atheris_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(fuzz, "_load_atheris", lambda: None)
    assert fuzz.main(["stack", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "atheris is not installed" in err


def test_replay_and_seed_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.main(["seeds", str(tmp_path / "corpus")]) == 0
    stack_seeds = sorted((tmp_path / "corpus" / "stack").iterdir())
    assert len(stack_seeds) > 20
    assert fuzz.main(["stack", str(stack_seeds[0]), str(stack_seeds[-1])]) == 0
    assert "2 inputs replayed" in capsys.readouterr().out
    parser_dir = tmp_path / "corpus" / "parser"
    assert fuzz.main(["parser", "--replay", str(parser_dir)]) == 0
    assert f"{len(list(parser_dir.iterdir()))} inputs replayed" in capsys.readouterr().out
    assert fuzz.main(["parser", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert fuzz.main(["mutate", "parser", "--inputs", "300"]) == 0
    assert "300 inputs, 0 escapes, 0 invariant violations" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["parser", "stack"])
def test_harness_script_under_libfuzzer(target: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        reason = "atheris not installed (pip install '.[fuzz]')"
        if os.environ.get("TCPSTACK_REQUIRE_FUZZ") == "1":  # set by .ci/run
            pytest.fail(f"TCPSTACK_REQUIRE_FUZZ=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    assert fuzz.main(["seeds", str(tmp_path)]) == 0
    runs = 2000 if target == "parser" else 100
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, str(HERE / f"fuzz_{target}.py"), str(tmp_path / target), "--",
         f"-runs={runs}", "-seed=1"],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = re.search(r"Done (\d+) runs", proc.stderr)
    assert done is not None and int(done[1]) >= runs, proc.stderr[-2000:]
