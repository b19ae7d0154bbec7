"""The drill runner against a scripted fake target: sequence-number conversion, matching,
timing, unexpected packets, system-call results and blocking calls."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import pytest

from tcpstack.harness.drill.model import DrillError, Script, Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import (
    DEFAULT_TOLERANCE,
    PEER_ISN,
    PEER_PORT,
    DrillResult,
    Failure,
    run_script,
    spec_summary,
)
from tcpstack.harness.drill.target import LOCAL_ADDRESS, LOCAL_PORT, REMOTE_ADDRESS, SyscallResult
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    WindowScale,
    decode_packet,
    encode_packet,
)

LOCAL = IPv4Address(LOCAL_ADDRESS)
REMOTE = IPv4Address(REMOTE_ADDRESS)
ISS = 5000  # the fake TCP's ISN
A = Flags.ACK


def out(at: float, flags: Flags, seq: int, ack: int = 0, *, sport: int = LOCAL_PORT,
        dport: int = PEER_PORT, window: int = 1000, options: tuple[TcpOption, ...] = (),
        payload: int = 0, urgent: int = 0) -> tuple[float, bytes]:
    """A packet the fake TCP sends at ``at`` (absolute seq/ack)."""
    seg = Segment(sport, dport, seq % 2**32, ack % 2**32, flags, window, urgent, options,
                  bytes(payload))
    return at, encode_packet(LOCAL, REMOTE, seg)


Reply = Callable[[Syscall, float], SyscallResult]


@dataclass
class FakePending:
    outcome: SyscallResult | None

    def result(self) -> SyscallResult | None:
        return self.outcome


@dataclass
class FakeTarget:
    """Sends pre-programmed packets; system calls answer from ``replies`` (default 0)."""

    outbound: list[tuple[float, bytes]] = field(default_factory=list)
    replies: dict[str, Reply] = field(default_factory=dict)
    late_packets: bool = False  # next_outbound also returns packets after the deadline
    never_return: bool = False  # start_syscall's calls never complete
    name: str = "fake"
    t: float = 0.0
    injected: list[tuple[float, Segment]] = field(default_factory=list)
    calls: list[tuple[float, str]] = field(default_factory=list)
    started: bool = False
    closed: bool = False
    start_error: str | None = None

    def __post_init__(self) -> None:
        self.queue = deque(sorted(self.outbound, key=lambda p: p[0]))

    def prepare(self, script: Script) -> None:
        self.script = script

    def start(self) -> None:
        if self.start_error:
            raise DrillError(self.start_error)
        self.started = True

    def close(self) -> None:
        self.closed = True

    def now(self) -> float:
        return self.t

    def wait_until(self, t: float) -> None:
        self.t = max(self.t, t)

    def inject(self, packet: bytes) -> None:
        _, seg = decode_packet(packet)
        self.injected.append((self.t, seg))

    def next_outbound(self, deadline: float) -> tuple[float, bytes] | None:
        if self.queue and (self.queue[0][0] <= deadline or self.late_packets):
            sent_at, packet = self.queue.popleft()
            self.t = max(self.t, min(sent_at, max(deadline, self.t)))
            return sent_at, packet
        self.t = max(self.t, deadline)
        return None

    def _reply(self, call: Syscall) -> SyscallResult:
        self.calls.append((self.t, call.name))
        reply = self.replies.get(call.name)
        if reply is None:
            return SyscallResult(call.result if call.result is not None else 0, call.errno,
                                 self.t)
        return reply(call, self.t)

    def syscall(self, call: Syscall) -> SyscallResult:
        return self._reply(call)

    def start_syscall(self, call: Syscall) -> FakePending:
        return FakePending(None if self.never_return else self._reply(call))


def run(text: str, target: FakeTarget, **kwargs: object) -> DrillResult:
    return run_script(parse(text, "t.pkt"), target, **kwargs)  # type: ignore[arg-type]


def failure(result: DrillResult) -> Failure:
    assert not result.passed
    assert result.failure is not None
    return result.failure


LISTEN = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
"""


def handshake_target(*extra: tuple[float, bytes], **kwargs: object) -> FakeTarget:
    syn_ack = out(0.0, Flags.SYN | A, ISS, PEER_ISN + 1, options=(Mss(1460),))
    return FakeTarget([syn_ack, *extra], **kwargs)  # type: ignore[arg-type]


HANDSHAKE = LISTEN + """\
+0 < S 0:0(0) win 1000 <mss 1000,nop,nop,sackOK>
+0 > S. 0:0(0) ack 1 <mss 1460>
+.1 < . 1:1(0) ack 1 win 1000
"""

# ----------------------------------------------------------------------
# Sequence numbers, ports, options
# ----------------------------------------------------------------------


def test_passive_open_relative_numbers() -> None:
    target = handshake_target()
    result = run(HANDSHAKE, target)
    assert result.passed, result.failure
    (t0, syn), (t1, ack) = target.injected
    assert (t0, t1) == (0.0, 0.1)
    assert (syn.src_port, syn.dst_port, syn.seq, syn.flags) == (PEER_PORT, LOCAL_PORT, PEER_ISN,
                                                                 Flags.SYN)
    assert syn.options == (Mss(1000), Nop(), Nop(), SackPermitted())
    assert syn.window == 1000
    # The ACK acknowledges the ISN learned from the SYN-ACK.
    assert (ack.seq, ack.ack, ack.flags) == (PEER_ISN + 1, ISS + 1, A)
    assert target.started and target.closed
    assert result.target == "fake" and result.path == "t.pkt"


def test_active_open_learns_port_and_isn_from_the_syn() -> None:
    syn = out(0.0, Flags.SYN, 777, sport=50000, dport=8080, options=(Mss(1460),))
    target = FakeTarget([syn, out(0.1, A, 778, PEER_ISN + 1, sport=50000, dport=8080)])
    result = run("""\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 connect(3, ..., ...) = -1 EINPROGRESS
+0 > S 0:0(0) <mss 1460>
+.1 < S. 0:0(0) ack 1 win 5000
+0 > . 1:1(0) ack 1
""", target)
    assert result.passed, result.failure
    _, syn_ack = target.injected[0]
    assert (syn_ack.src_port, syn_ack.dst_port) == (8080, 50000)
    assert (syn_ack.seq, syn_ack.ack) == (PEER_ISN, 778)


def test_sequence_numbers_wrap() -> None:
    iss = 2**32 - 2
    target = FakeTarget([
        out(0.0, Flags.SYN | A, iss, 0 + 1),
        out(0.1, Flags.PSH | A, iss + 1, 11, payload=10),
    ])
    result = run(LISTEN + """\
+0 < S 0:0(0) win 1000
+0 > S. 0:0(0) ack 1
+.1 > P. 1:11(10) ack 11
+0 < . 11:11(0) ack 11 win 1000
""", target, peer_isn=2**32 + 0)
    assert result.passed, result.failure
    _, ack = target.injected[1]
    assert ack.ack == (iss + 11) % 2**32


def test_no_syn_seen_means_isn_zero() -> None:
    target = FakeTarget([out(0.0, Flags.RST, 1, window=0)])
    result = run(LISTEN + "+0 < . 1:1(0) ack 1 win 1000\n+0 > R 1:1(0) win 0\n", target)
    assert result.passed, result.failure
    assert target.injected[0][1].ack == 1


def test_inbound_without_ack_flag_keeps_ack_as_written() -> None:
    target = FakeTarget([])
    run(LISTEN + "+0 < R 5:5(0) win 0\n", target)
    assert target.injected[0][1].ack == 0
    target = FakeTarget([])
    run(LISTEN + "+0 < S 0:0(0) ack 7 win 0\n", target)
    assert target.injected[0][1].ack == 7


def test_inbound_payload_window_urgent() -> None:
    target = FakeTarget([])
    run(LISTEN + "+0 < U. 1:11(10) ack 1 win 77 urg 4\n", target)
    seg = target.injected[0][1]
    assert (len(seg.payload), seg.window, seg.urgent, seg.flags) == (10, 77, 4, Flags.URG | A)


def test_timestamps_ecr_maps_to_the_real_tsval() -> None:
    syn_ack = out(0.0, Flags.SYN | A, ISS, PEER_ISN + 1,
                  options=(Mss(1460), Nop(), Nop(), Timestamps(987654, 100)))
    target = FakeTarget([syn_ack])
    result = run(LISTEN + """\
+0 < S 0:0(0) win 1000 <mss 1000,nop,nop,TS val 100 ecr 0>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,TS val 700 ecr 100>
+.1 < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 200 ecr 700>
+0 < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 300 ecr 12345>
""", target)
    assert result.passed, result.failure
    assert target.injected[1][1].timestamps == Timestamps(200, 987654)
    assert target.injected[2][1].timestamps == Timestamps(300, 12345)  # no mapping: as written


def test_inbound_sack_edges_are_relative_to_the_tested_isn() -> None:
    target = handshake_target()
    run(HANDSHAKE + "+0 < . 1:1(0) ack 1 win 1000 <nop,nop,sack 1001:2001 3001:4001>\n", target)
    assert target.injected[-1][1].sack_blocks == ((ISS + 1001, ISS + 2001),
                                                   (ISS + 3001, ISS + 4001))


def test_inbound_eol_pads_and_nothing_may_follow() -> None:
    target = FakeTarget([])
    assert run(LISTEN + "+0 < S 0:0(0) win 1 <mss 1000,sackOK,eol,eol>\n", target).passed
    assert target.injected[0][1].options == (Mss(1000), SackPermitted())
    result = run(LISTEN + "+0 < S 0:0(0) win 1 <eol,nop,nop,nop,mss 1000>\n", FakeTarget([]))
    assert "options after 'eol'" in failure(result).message


def test_outbound_sack_edges_are_relative_to_the_peer_isn() -> None:
    sack = Sack(((PEER_ISN + 1001, PEER_ISN + 2001),))
    target = handshake_target(out(0.2, A, ISS + 1, PEER_ISN + 1, options=(Nop(), Nop(), sack)))
    ok = run(HANDSHAKE + "+.1 > . 1:1(0) ack 1 <nop,nop,sack 1001:2001>\n", target)
    assert ok.passed, ok.failure
    target = handshake_target(out(0.2, A, ISS + 1, PEER_ISN + 1, options=(Nop(), Nop(), sack)))
    bad = failure(run(HANDSHAKE + "+.1 > . 1:1(0) ack 1 <nop,nop,sack 1:2001>\n", target))
    assert "options <nop,nop,sack 1001:2001>, expected <nop,nop,sack 1:2001>" in bad.message


@pytest.mark.parametrize(
    ("spec", "options", "ok"),
    [
        ("<...>", (Mss(1460), WindowScale(7)), True),
        ("<mss 1460,nop,wscale 7>", (Mss(1460), Nop(), WindowScale(7)), True),
        ("<mss 1460,nop,wscale 7>", (Mss(1460), Nop(), WindowScale(8)), False),
        ("<mss 1460,nop,wscale 7>", (Mss(1400), Nop(), WindowScale(7)), False),
        ("<mss 1460,nop,wscale 7>", (Nop(), Mss(1460), WindowScale(7)), False),
        ("<mss 1460,sackOK,eol,eol>", (Mss(1460), SackPermitted()), True),
        ("<mss 1460,sackOK,nop,nop>", (Mss(1460), SackPermitted()), False),
        ("<nop,nop,TS val 1 ecr 2>", (Nop(), Nop(), Timestamps(555, 666)), True),
        ("<nop,nop,TS val 1 ecr 2>", (Nop(), Nop(), Mss(1)), False),
        ("", (), True),
        ("", (Mss(1460),), False),
        ("<mss 1460>", (), False),
    ],
)
def test_outbound_options(spec: str, options: tuple[TcpOption, ...], ok: bool) -> None:
    target = FakeTarget([out(0.0, Flags.SYN, 0, options=options, sport=50000, dport=8080)])
    result = run(f"0 > S 0:0(0) {spec}\n", target)
    assert result.passed is ok, result.failure


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("+.1 > P. 1:11(10) ack 1", None),
        ("+.1 > P. 1:11(10) ack 1 win 1000", None),
        ("+.1 > P. 1:11(10) ack 1 win 999", "win 1000, expected 999"),
        ("+.1 > . 1:11(10) ack 1", "flags [P.], expected [.]"),
        ("+.1 > P. 2:12(10) ack 1", "seq 1, expected 2"),
        ("+.1 > P. 1:12(11) ack 1", "length 10, expected 11"),
        ("+.1 > P. 1:11(10) ack 2", "ack 1, expected 2"),
        ("+.1 > P. *:*(*) ack *", None),
        ("+.1 > P. *:11(*) ack *", None),
        ("+.1 > P. *:12(*) ack *", "end 11, expected 12"),
        ("+.1 > P. 1:11(10) ack 1 urg 0", None),
        ("+.1 > P. 1:11(10) ack 1 urg 3", "urg 0, expected 3"),
    ],
)
def test_outbound_fields(line: str, message: str | None) -> None:
    target = handshake_target(out(0.2, Flags.PSH | A, ISS + 1, PEER_ISN + 1, payload=10))
    result = run(HANDSHAKE + line + "\n", target)
    if message is None:
        assert result.passed, result.failure
    else:
        fail = failure(result)
        assert message in fail.message, fail.message
        assert fail.line == 7
        assert fail.expected.startswith("Flags [")
        assert fail.actual == "Flags [P.], seq 1:11, ack 1, win 1000, length 10"


def test_outbound_ports_and_addresses_are_checked() -> None:
    target = handshake_target(out(0.2, A, ISS + 1, PEER_ISN + 1, sport=9999))
    fail = failure(run(HANDSHAKE + "+.1 > . 1:1(0) ack 1\n", target))
    assert "ports 9999 > 40000, expected 8080 > 40000" in fail.message
    seg = Segment(LOCAL_PORT, PEER_PORT, ISS + 1, PEER_ISN + 1, A, 1000)
    target = handshake_target((0.2, encode_packet(LOCAL, IPv4Address("203.0.113.9"), seg)))
    fail = failure(run(HANDSHAKE + "+.1 > . 1:1(0) ack 1\n", target))
    assert "addresses 192.0.2.1 > 203.0.113.9" in fail.message


def test_malformed_outbound_packet() -> None:
    target = FakeTarget([(0.0, b"\x45garbage")])
    fail = failure(run("0 > S 0:0(0) <...>\n", target))
    assert "malformed packet" in fail.message


# ----------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "sent", "ok"),
    [
        ("+.1 > . 1:1(0) ack 1", 0.2, True),
        ("+.1 > . 1:1(0) ack 1", 0.203, True),
        ("+.1 > . 1:1(0) ack 1", 0.197, True),
        ("+.1 > . 1:1(0) ack 1", 0.21, False),
        ("+.1 > . 1:1(0) ack 1", 0.19, False),
        ("0.2 > . 1:1(0) ack 1", 0.2, True),
        ("0.3 > . 1:1(0) ack 1", 0.2, False),
        ("+0~+.2 > . 1:1(0) ack 1", 0.25, True),
        ("+0~+.2 > . 1:1(0) ack 1", 0.31, False),
        ("0.15~0.25 > . 1:1(0) ack 1", 0.2, True),
        ("0.25~0.35 > . 1:1(0) ack 1", 0.2, False),
        ("* > . 1:1(0) ack 1", 30.0, True),
    ],
)
def test_outbound_timing(line: str, sent: float, ok: bool) -> None:
    target = handshake_target(out(sent, A, ISS + 1, PEER_ISN + 1))
    result = run(HANDSHAKE + line + "\n", target)
    assert result.passed is ok, result.failure
    if not ok:
        fail = failure(result)
        assert fail.line == 7
        assert "timing error" in fail.message
        assert fail.timing_error is not None and abs(fail.timing_error) > DEFAULT_TOLERANCE


def test_timing_error_is_measured_from_the_nearest_end() -> None:
    target = handshake_target(out(0.5, A, ISS + 1, PEER_ISN + 1))
    fail = failure(run(HANDSHAKE + "+.1~+.2 > . 1:1(0) ack 1\n", target))
    assert fail.timing_error == pytest.approx(0.2)
    assert "between 0.200000 and 0.300000 s" in fail.message


def test_missing_packet_and_late_packet() -> None:
    fail = failure(run(HANDSHAKE + "+.1 > . 1:1(0) ack 1\n", handshake_target()))
    assert "expected a packet at 0.200000 s, none was sent by 3.204 s" in fail.message
    assert fail.actual == "(no packet)"
    target = handshake_target(out(1.2, A, ISS + 1, PEER_ISN + 1))
    fail = failure(run(HANDSHAKE + "+.1 > . 1:1(0) ack 1\n", target))
    assert "sent at 1.200000 s" in fail.message
    assert fail.timing_error == pytest.approx(1.0)


def test_unexpected_packet() -> None:
    target = handshake_target(out(0.5, A, ISS + 1, PEER_ISN + 1))
    fail = failure(run(HANDSHAKE + "+1 < . 1:1(0) ack 1 win 1000\n", target))
    assert fail.line == 7
    assert "unexpected packet sent at 0.500 s" in fail.message
    assert fail.expected == "(no packet)"
    assert fail.actual.startswith("Flags [.], ack 1")


def test_packet_within_tolerance_of_the_next_event_waits_for_it() -> None:
    # Sent 2 ms before the inbound packet at 1.1: not unexpected; the next line matches it.
    target = handshake_target(out(1.098, A, ISS + 1, PEER_ISN + 1))
    result = run(HANDSHAKE + "+1 < . 1:1(0) ack 1 win 1000\n+0 > . 1:1(0) ack 1\n", target)
    assert result.passed, result.failure


def test_no_check_after_the_last_line() -> None:
    target = handshake_target(out(0.5, A, ISS + 1, PEER_ISN + 1))
    assert run(HANDSHAKE, target).passed


def test_a_packet_returned_after_the_deadline_is_kept_for_later() -> None:
    target = handshake_target(out(0.6, A, ISS + 1, PEER_ISN + 1), late_packets=True)
    result = run(HANDSHAKE + "+.5 < . 1:1(0) ack 1 win 1000\n+0 > . 1:1(0) ack 1\n", target)
    assert result.passed, result.failure


def test_relative_times() -> None:
    # Inbound after inbound: from the previous one's scheduled time. After an outbound
    # packet: from its real send time. After a call: from its return.
    target = handshake_target(out(0.102, A, ISS + 1, PEER_ISN + 1))
    result = run(HANDSHAKE + """\
+0 > . 1:1(0) ack 1
+.1 < . 1:1(0) ack 1 win 1000
+.1 < . 1:1(0) ack 1 win 1000
+.1 close(3) = 0
""", target)
    assert result.passed, result.failure
    times = [t for t, _ in target.injected]
    assert times == pytest.approx([0.0, 0.1, 0.202, 0.302])
    assert target.calls[-1][0] == pytest.approx(0.402)


def test_tolerance_from_the_script_and_from_the_caller() -> None:
    text = HANDSHAKE + "+.1 > . 1:1(0) ack 1\n"
    late = out(0.208, A, ISS + 1, PEER_ISN + 1)
    assert not run(text, handshake_target(late)).passed
    assert run("--tolerance_usecs=10000\n" + text, handshake_target(late)).passed
    assert run(text, handshake_target(late), tolerance=0.01).passed
    assert not run("--tolerance_usecs=10000\n" + text, handshake_target(late),
                   tolerance=0.001).passed


# ----------------------------------------------------------------------
# System calls
# ----------------------------------------------------------------------


def fixed(value: int, errno: str | None = None, delay: float = 0.0,
          outputs: dict[str, int] | None = None) -> Reply:
    def reply(call: Syscall, now: float) -> SyscallResult:
        return SyscallResult(value, errno, now + delay, outputs or {})
    return reply


@pytest.mark.parametrize(
    ("line", "reply", "message"),
    [
        ("0 accept(3, ..., ...) = -1 EAGAIN", fixed(5), "accept() returned 5, expected -1 EAGAIN"),
        ("0 accept(3, ..., ...) = 4", fixed(-1, "EAGAIN"), "returned -1 EAGAIN, expected 4"),
        ("0 read(4, ..., 10) = -1 EAGAIN", fixed(-1, "ECONNRESET"),
         "returned -1 ECONNRESET, expected -1 EAGAIN"),
        ("0 read(4, ..., 10) = -1 EAGAIN", fixed(3), "returned 3, expected -1 EAGAIN"),
        ("0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0",
         fixed(0, outputs={"optval": 0}),
         "optval is 0, expected ECONNREFUSED"),
        ("0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0", fixed(0, outputs={"optval": 104}),
         "optval is ECONNRESET, expected 0"),
        ("0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [1000], [4]) = 0",
         fixed(0, outputs={"optval": 2000}),
         "optval is 2000, expected 1000"),
        ("0 getsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, [8]) = 0",
         fixed(0, outputs={"onoff": 0, "linger": 0}), "onoff is 0, expected 1"),
        ("0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 0) = 1",
         fixed(1, outputs={"revents[0]": 0x11}), "revents[0] is POLLIN|POLLHUP, expected POLLIN"),
        ("0 poll([{fd=3, events=POLLIN}], 1, 0) = 0", fixed(0, outputs={"revents[0]": 1}),
         "revents[0] is POLLIN, expected 0"),
    ],
)
def test_syscall_result_mismatches(line: str, reply: Reply, message: str) -> None:
    name = line.split()[1].split("(")[0]
    fail = failure(run(line + "\n", FakeTarget(replies={name: reply})))
    assert fail.line == 1
    assert message in fail.message, fail.message
    assert fail.expected.startswith(name + "(")
    assert fail.actual.startswith("= ")


def test_outputs_a_target_does_not_report_are_not_checked() -> None:
    line = "0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0\n"
    assert run(line, FakeTarget(replies={"getsockopt": fixed(0)})).passed


def test_errno_not_written_is_not_checked() -> None:
    assert run("0 read(4, ..., 1) = -1\n", FakeTarget(replies={"read": fixed(-1, "EIO")})).passed


def test_a_call_without_dots_must_return_at_once() -> None:
    ok = run("0 accept(3, ..., ...) = 4\n",
             FakeTarget(replies={"accept": fixed(4, delay=0.05)}))
    assert ok.passed  # within the slack allowed for a target's own overhead
    fail = failure(run("0 accept(3, ..., ...) = 4\n",
                       FakeTarget(replies={"accept": fixed(4, delay=2.0)})))
    assert "should return at once" in fail.message
    assert fail.timing_error == pytest.approx(2.0)


def test_blocking_call() -> None:
    def later(call: Syscall, now: float) -> SyscallResult:
        return SyscallResult(4, None, now + 0.5)

    target = FakeTarget(replies={"accept": later})
    assert run("0...0.5 accept(3, ..., ...) = 4\n", target).passed
    fail = failure(run("0...0.4 accept(3, ..., ...) = 4\n", FakeTarget(replies={"accept": later})))
    assert "accept() expected to return at 0.400000 s" in fail.message
    assert fail.timing_error == pytest.approx(0.1)
    fail = failure(run("0...0.5 accept(3, ..., ...) = -1 EAGAIN\n",
                       FakeTarget(replies={"accept": later})))
    assert "returned 4, expected -1 EAGAIN" in fail.message


def test_blocking_call_that_never_returns() -> None:
    target = FakeTarget(never_return=True)
    fail = failure(run("0...0.5 accept(3, ..., ...) = 4\n", target))
    assert fail.line == 1
    assert "should have returned at 0.500 s but is still blocked" in fail.message
    # Still blocked long after its time, while later lines run: reported at once.
    target = FakeTarget(never_return=True)
    fail = failure(run("0...0.5 accept(3, ..., ...) = 4\n+2 close(3) = 0\n+1 close(4) = 0\n",
                       target))
    assert fail.line == 1
    assert target.calls == [(2.0, "close")]


def test_target_errors_become_failures_and_close_is_always_called() -> None:
    def boom(call: Syscall, now: float) -> SyscallResult:
        raise DrillError("read() blocks forever")

    target = FakeTarget(replies={"read": boom})
    fail = failure(run("0 close(3) = 0\n+1 read(4, ..., 1) = 1\n", target))
    assert (fail.line, fail.message) == (2, "read() blocks forever")
    assert target.closed


def test_start_errors_propagate() -> None:
    target = FakeTarget(start_error="needs root")
    with pytest.raises(DrillError, match="needs root"):
        run("0 close(3) = 0\n", target)


def test_log() -> None:
    lines: list[str] = []
    target = handshake_target()
    run(HANDSHAKE + "+0 accept(3, ..., ...) = 4\n+0...1 read(4, ..., 1) = 1\n", target,
        log=lines.append)
    assert any("line 4" in line and "< Flags [S]" in line for line in lines)
    assert any("> Flags [S.], seq 0, ack 1" in line for line in lines)
    assert any("accept(3, ..., ...) -> 4" in line for line in lines)
    assert any("read(4, ..., 1) started" in line for line in lines)


# ----------------------------------------------------------------------
# Results and summaries
# ----------------------------------------------------------------------


def test_result_properties() -> None:
    ok = DrillResult("a.pkt", "linux", True, linux_deviation="x")
    assert ok.failure is None and ok.timing_error is None and not ok.expected_deviation
    fail = Failure(3, "late", timing_error=0.5)
    bad = DrillResult("a.pkt", "linux", False, (fail,), linux_deviation="x")
    assert bad.failure == fail and bad.timing_error == 0.5 and bad.expected_deviation
    assert not DrillResult("a.pkt", "tcpstack", False, (fail,),
                           linux_deviation="x").expected_deviation
    assert not DrillResult("a.pkt", "linux", False, (fail,)).expected_deviation


def test_duration_is_target_time() -> None:
    result = run(HANDSHAKE, handshake_target())
    assert result.duration == pytest.approx(0.1)
    assert result.wall_time >= 0


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("> S. 0:0(0) ack 1 <...>", "Flags [S.], seq 0, ack 1, win *, options [...], length 0"),
        ("> P. 1:1001(1000) ack 1 win 5", "Flags [P.], seq 1:1001, ack 1, win 5, length 1000"),
        ("> . 1:1(0) ack 1", "Flags [.], ack 1, win *, length 0"),
        ("> . *:*(*) ack *", "Flags [.], seq *, ack *, win *, length *"),
        ("> R 1:1(0)", "Flags [R], seq 1, win *, length 0"),
        ("> F. 5:5(0) ack 2 <nop,nop,TS val 1 ecr 2>",
         "Flags [F.], seq 5, ack 2, win *, options [nop,nop,TS val 1 ecr 2], length 0"),
        ("> U. 1:2(1) ack 1 urg 1 <nop,nop,sack 1:2>",
         "Flags [.U], seq 1:2, ack 1, win *, urg 1, options [nop,nop,sack 1:2], length 1"),
    ],
)
def test_spec_summary(line: str, text: str) -> None:
    spec = parse("0 " + line + "\n").events[0].action
    assert spec_summary(spec) == text  # type: ignore[arg-type]
