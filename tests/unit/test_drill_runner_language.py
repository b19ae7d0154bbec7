"""The drill runner on the rest of the packetdrill language: shell commands, %{ }%
blocks (snapshots at their line, run at the end), IPv6, ECN marks, segments above
the MSS, time limits and the blocked-call diagnosis. Uses the fake target of
test_drill_runner with the two methods the language needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from test_drill_runner import (
    HANDSHAKE,
    ISS,
    LISTEN,
    FakeTarget,
    failure,
    handshake_target,
    out,
    run,
)

from tcpstack.harness.drill.model import DrillError, Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import PEER_ISN, PEER_PORT, run_script
from tcpstack.harness.drill.target import (
    LOCAL_ADDRESS6,
    LOCAL_PORT,
    REMOTE_ADDRESS6,
    ShellResult,
    SyscallResult,
)
from tcpstack.wire import Flags, IPv4Header, IPv6Header, Segment, decode_packet, encode_packet

A = Flags.ACK


@dataclass
class LanguageTarget(FakeTarget):
    """The fake target, with shell commands answered from ``statuses`` and TCP_INFO
    whose ``tcpi_snd_cwnd`` is the target time in milliseconds (so a snapshot's
    moment shows)."""

    statuses: dict[str, ShellResult] = field(default_factory=dict)
    shells: list[tuple[float, str, str]] = field(default_factory=list)
    infos: list[tuple[float, int]] = field(default_factory=list)

    def shell(self, command: str, cwd: str) -> ShellResult:
        self.shells.append((self.t, command, cwd))
        return self.statuses.get(command, ShellResult(0, ""))

    def tcp_info(self, fd: int) -> Mapping[str, int]:
        if fd not in (3, 4):
            raise DrillError(f"fd {fd} is not a TCP socket")
        self.infos.append((self.t, fd))
        return {"tcpi_state": 1, "tcpi_snd_cwnd": round(self.t * 1000), "tcpi_rto": 200000}


def language_target(*packets: tuple[float, bytes], **kwargs: object) -> LanguageTarget:
    return LanguageTarget(list(packets), **kwargs)  # type: ignore[arg-type]


SOCKET = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"

# ----------------------------------------------------------------------
# Shell commands
# ----------------------------------------------------------------------


def test_shell_commands_run_at_their_time_in_the_scripts_directory(tmp_path: Path) -> None:
    target = language_target()
    script = parse("`./defaults.sh`\n" + "+0 " + SOCKET[2:] + "+.5 `sysctl -q x=1`\n",
                   str(tmp_path / "sub" / "s.pkt"))
    result = run_script(script, target)  # type: ignore[arg-type]
    assert result.passed, result.failure
    where = str(tmp_path / "sub")
    assert target.shells == [(0.0, "./defaults.sh", where), (0.5, "sysctl -q x=1", where)]


def test_a_failing_command_fails_the_script_with_its_output() -> None:
    target = language_target(statuses={"false": ShellResult(1, "oops\nbad thing\n")})
    result = run(SOCKET + "+0 `false`\n+0 close(3) = 0\n", target)
    f = failure(result)
    assert f.line == 2
    assert f.message == "command failed with status 1: `false`: bad thing"
    assert "oops" in f.actual
    assert [name for _, name in target.calls] == ["socket"]


# ----------------------------------------------------------------------
# %{ }% blocks
# ----------------------------------------------------------------------


def test_blocks_see_the_snapshot_of_their_line_and_run_at_the_end() -> None:
    target = language_target()
    result = run(SOCKET + "+.1 %{ first = tcpi_snd_cwnd }%\n"
                          "+.2 %{ assert (first, tcpi_snd_cwnd) == (100, 300), (first, "
                          "tcpi_snd_cwnd) }%\n"
                          "+.1 %{ assert tcpi_state == TCP_ESTABLISHED and TCP_CA_Loss == 4 }%\n",
                 target)
    assert result.passed, result.failure
    assert [(round(t, 6), fd) for t, fd in target.infos] == [(0.1, 3), (0.3, 3), (0.4, 3)]


def test_a_failing_assertion_names_the_line_and_the_values() -> None:
    result = run(SOCKET + "+0 %{\nx = 1\nassert tcpi_rto == 1000, tcpi_rto\n}%\n",
                 language_target())
    f = failure(result)
    assert f.line == 2
    assert f.message == ("error in Python code: AssertionError: 200000 (code line 2: "
                         "assert tcpi_rto == 1000, tcpi_rto)")


def test_blocks_run_only_after_the_last_event() -> None:
    # The assertion fails, but a later event's failure comes first: the code has not run.
    target = language_target(statuses={"false": ShellResult(1, "")})
    result = run(SOCKET + "+0 %{ assert False }%\n+0 `false`\n", target)
    assert "command failed" in failure(result).message


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os", "ImportError"),
        ("open('/etc/passwd')", "NameError: name 'open' is not defined"),
        ("__import__('os')", "NameError"),
        ("assert tcpi_nonexistent == 0", "NameError: name 'tcpi_nonexistent' is not defined"),
        ("x = (", "SyntaxError"),
    ],
)
def test_blocks_run_restricted(code: str, message: str) -> None:
    result = run(SOCKET + f"+0 %{{ {code} }}%\n", language_target())
    assert message in failure(result).message


def test_the_socket_under_test_is_the_last_one_accepted() -> None:
    target = language_target(out(0.0, Flags.SYN | A, ISS, PEER_ISN + 1))
    text = HANDSHAKE.replace("> S. 0:0(0) ack 1 <mss 1460>", "> S. 0:0(0) ack 1")
    result = run(text + "+0 %{ pass }%\n+0 accept(3, ..., ...) = 4\n+0 %{ pass }%\n", target)
    assert result.passed, result.failure
    assert [fd for _, fd in target.infos] == [3, 4]


def test_a_block_before_any_socket_fails() -> None:
    result = run("0 %{ pass }%\n+0 " + SOCKET[2:], language_target())
    assert "no socket to use" in failure(result).message


# ----------------------------------------------------------------------
# IPv6, ECN, large segments
# ----------------------------------------------------------------------

L6, R6 = IPv6Address(LOCAL_ADDRESS6), IPv6Address(REMOTE_ADDRESS6)


def out6(at: float, flags: Flags, seq: int, ack: int, payload: int = 0) -> tuple[float, bytes]:
    seg = Segment(LOCAL_PORT, PEER_PORT, seq, ack, flags, 1000, 0, (), bytes(payload))
    return at, encode_packet(L6, R6, seg)


def test_ipv6_packets_both_ways() -> None:
    target = language_target(out6(0.0, Flags.SYN | A, ISS, PEER_ISN + 1),
                             out6(0.2, A, ISS + 1, PEER_ISN + 101))
    result = run("--ip_version=ipv6\n" + LISTEN + """\
+0 < S 0:0(0) win 1000
+0 > S. 0:0(0) ack 1
+.1 < . 1:1(0) ack 1 win 1000
+.1 < P. 1:101(100) ack 1 win 1000
+0 > . 1:1(0) ack 101
""", target)
    assert result.passed, result.failure
    assert len(target.injected) == 3


def test_ipv6_inbound_packet_has_the_ipv6_header() -> None:
    seen: list[bytes] = []

    class Capture(LanguageTarget):
        def inject(self, packet: bytes) -> None:
            seen.append(packet)
            super().inject(packet)

    run("--ip_version=ipv6\n" + LISTEN + "+0 < S 0:0(0) win 1000\n", Capture([]))
    ip, seg = decode_packet(seen[0])
    assert isinstance(ip, IPv6Header)
    assert (ip.src, ip.dst) == (R6, L6)
    assert seen[0][0] >> 4 == 6 and len(seen[0]) == 40 + 20
    assert seg.flags == Flags.SYN


def test_ipv4_packet_in_an_ipv6_script_is_a_difference() -> None:
    target = language_target(out(0.0, Flags.SYN | A, ISS, PEER_ISN + 1))
    result = run("--ip_version=ipv6\n" + LISTEN + "+0 < S 0:0(0) win 1000\n"
                 "+0 > S. 0:0(0) ack 1\n", target)
    assert "addresses 192.0.2.1 > 198.51.100.2, expected 2001:db8::1 > 2001:db8:1::2" in \
        failure(result).message


def test_ipv4_mapped_ipv6_keeps_ipv4_on_the_wire() -> None:
    target = handshake_target()
    result = run("--ip_version=ipv4-mapped-ipv6\n" + HANDSHAKE, target)
    assert result.passed, result.failure


def test_ecn_marks_in_and_out() -> None:
    seen: list[bytes] = []

    class Capture(LanguageTarget):
        def inject(self, packet: bytes) -> None:
            seen.append(packet)
            super().inject(packet)

    ce = out(0.0, Flags.SYN | A, ISS, PEER_ISN + 1)
    target = Capture([ce])
    result = run(LISTEN + "+0 < [ect0] S 0:0(0) win 1000\n+0 > [ce] S. 0:0(0) ack 1\n", target)
    ip, _ = decode_packet(seen[0])
    assert isinstance(ip, IPv4Header) and ip.tos & 3 == 2
    assert "ECN field [noecn], expected [ce]" in failure(result).message


def test_a_segment_above_the_mss_compares_as_one_segment() -> None:
    big = out(0.2, Flags.PSH | A, ISS + 1, PEER_ISN + 1, payload=5840)
    target = handshake_target(big)
    result = run(HANDSHAKE + "+0 accept(3, ..., ...) = 4\n+.1 write(4, ..., 5840) = 5840\n"
                 "+0 > P. 1:5841(5840) ack 1\n", target)
    assert result.passed, result.failure


# ----------------------------------------------------------------------
# Limits and diagnosis
# ----------------------------------------------------------------------


def test_script_timeout_in_target_time() -> None:
    result = run(SOCKET + "+200 close(3) = 0\n+1 close(3) = 0\n", language_target(),
                 timeout=100.0)
    f = failure(result)
    assert f.line == 3
    assert "script timeout" in f.message and "limit 100 s" in f.message


def test_script_timeout_in_real_time() -> None:
    result = run(SOCKET + "+1 close(3) = 0\n", language_target(), wall_timeout=-1.0)
    assert "real-time limit" in failure(result).message


def test_a_call_still_blocked_names_the_likely_cause() -> None:
    target = handshake_target(never_return=True)
    result = run(HANDSHAKE + "+0...0.2 accept(3, ..., ...) = 4\n", target)
    message = failure(result).message
    assert "accept() should have returned at" in message
    assert "likely cause: no connection completed the handshake" in message


def test_values_written_back_by_ioctl_epoll_and_recvmsg_are_compared() -> None:
    def ioctl(call: Syscall, t: float) -> SyscallResult:
        return SyscallResult(0, None, t, {"optval": 999})

    def epoll(call: Syscall, t: float) -> SyscallResult:
        return SyscallResult(1, None, t, {"events[0]": 4, "data[0]": 4})

    result = run(SOCKET + "+0 ioctl(3, SIOCINQ, [1000]) = 0\n",
                 language_target(replies={"ioctl": ioctl}))
    assert "optval is 999, expected 1000" in failure(result).message
    result = run(SOCKET + "+0 epoll_wait(5, [{events=EPOLLIN, u64=4}], 1, 0) = 1\n",
                 language_target(replies={"epoll_wait": epoll}))
    assert "events[0] is POLLOUT, expected POLLIN" in failure(result).message


def test_an_exception_in_the_target_fails_the_script_instead_of_the_suite() -> None:
    def broken(call: Syscall, t: float) -> SyscallResult:
        raise ValueError("cannot read that argument")

    result = run(SOCKET + "+0 close(3) = 0\n", language_target(replies={"close": broken}))
    f = failure(result)
    assert f.line == 2
    assert f.message == ("internal error in the fake target or the runner: ValueError: "
                         "cannot read that argument")


def test_script_fds_are_names_mapped_to_the_targets_fds() -> None:
    """packetdrill's CHECK_FD: `socket(...) = 4` passes when the target returns 3, and
    the script's 4 means the target's 3 from then on."""
    def socket(call: Syscall, t: float) -> SyscallResult:
        return SyscallResult(3, None, t)

    seen: list[tuple[str, tuple[str, ...]]] = []

    def record(call: Syscall, t: float) -> SyscallResult:
        seen.append((call.name, call.args))
        return SyscallResult(call.result or 0, call.errno, t)

    target = language_target(replies={"socket": socket, "close": record, "poll": record,
                                      "epoll_ctl": record})
    result = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n"
                 "+0 poll([{fd=4, events=POLLIN}], 1, 0) = 0\n"
                 "+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, u64=4}) = 0\n"
                 "+0 %{ pass }%\n"
                 "+0 close(4) = 0\n+0 close(99) = -1 EBADF\n", target)
    assert result.passed, result.failure
    assert seen == [("poll", ("[{fd=3, events=POLLIN}]", "1", "0")),
                    ("epoll_ctl", ("5", "EPOLL_CTL_ADD", "3", "{events=EPOLLIN, u64=4}")),
                    ("close", ("3",)), ("close", ("99",))]
    assert [fd for _, fd in target.infos] == [3]


def test_a_failing_multi_line_command_is_shown_on_one_line() -> None:
    target = language_target(statuses={"true\n  false": ShellResult(1, "")})
    result = run(SOCKET + "+0 `true\n  false`\n", target)
    assert failure(result).message == "command failed with status 1: `true; false`"


WRITE_BURST = HANDSHAKE + "+0 accept(3, ..., ...) = 4\n+.1 write(4, ..., 3000) = 3000\n"


def test_mss_sized_segments_are_joined_to_the_length_the_script_expects() -> None:
    """packetdrill's aggregation: a script written for TSO (`1:3001(3000)`) matches
    three 1000-byte segments sent together; PSH comes from the last one."""
    target = handshake_target(
        out(0.2, A, ISS + 1, PEER_ISN + 1, payload=1000),
        out(0.2, A, ISS + 1001, PEER_ISN + 1, payload=1000),
        out(0.2, Flags.PSH | A, ISS + 2001, PEER_ISN + 1, payload=1000),
        out(0.3, A, ISS + 3001, PEER_ISN + 1))
    result = run(WRITE_BURST + "+0 > P. 1:3001(3000) ack 1\n+.1 > . 3001:3001(0) ack 1\n",
                 target)
    assert result.passed, result.failure


def test_a_packet_that_does_not_continue_the_run_is_left_for_the_next_line() -> None:
    target = handshake_target(
        out(0.2, A, ISS + 1, PEER_ISN + 1, payload=1000),
        out(0.2, Flags.FIN | A, ISS + 1001, PEER_ISN + 1, payload=0),
    )
    result = run(WRITE_BURST + "+0 > P. 1:3001(3000) ack 1\n", target)
    assert "length 1000, expected 3000" in failure(result).message
    target = handshake_target(
        out(0.2, A, ISS + 1, PEER_ISN + 1, payload=1000),
        out(0.2, Flags.FIN | A, ISS + 1001, PEER_ISN + 1, payload=0),
    )
    result = run(WRITE_BURST + "+0 > . 1:1001(1000) ack 1\n+0 > F. 1001:1001(0) ack 1\n",
                 target)
    assert result.passed, result.failure


def test_strict_segments_turns_aggregation_off() -> None:
    target = handshake_target(
        out(0.2, A, ISS + 1, PEER_ISN + 1, payload=1000),
        out(0.2, Flags.PSH | A, ISS + 1001, PEER_ISN + 1, payload=1000))
    result = run("--strict_segments\n" + WRITE_BURST + "+0 > P. 1:2001(2000) ack 1\n", target)
    assert "length 1000, expected 2000" in failure(result).message


def test_fragments_of_unequal_size_before_the_last_are_not_joined() -> None:
    target = handshake_target(
        out(0.2, A, ISS + 1, PEER_ISN + 1, payload=500),
        out(0.2, A, ISS + 501, PEER_ISN + 1, payload=1000),
        out(0.2, Flags.PSH | A, ISS + 1501, PEER_ISN + 1, payload=1000))
    result = run(WRITE_BURST.replace("3000", "2500") + "+0 > P. 1:2501(2500) ack 1\n", target)
    assert "length 500, expected 2500" in failure(result).message


def test_deferred_unexpected_packets_are_checked_by_the_next_outbound_line_only() -> None:
    """packetdrill's rule: a packet the script does not list is not an error by itself;
    the next `>` line compares it (and fails), and with no `>` line it is never seen."""
    unlisted = out(0.5, A, ISS + 1, PEER_ISN + 1, payload=1000)
    script = HANDSHAKE + "+1 < . 1:1(0) ack 1 win 1000\n"
    assert not run(script, handshake_target(unlisted)).passed  # drill's rule
    result = run(script, handshake_target(unlisted), unexpected="defer")
    assert result.passed, result.failure
    result = run(script + "+0 > F. 1:1(0) ack 1\n", handshake_target(unlisted),
                 unexpected="defer")
    assert "flags [.], expected [F.]" in failure(result).message


def test_a_failing_command_with_line_continuations_is_shown_as_the_shell_reads_it() -> None:
    command = "set_sysctls.py \\\n  a=1 \\\n  b=2\nethtool -K tun0 tso off"
    target = language_target(statuses={command: ShellResult(127, "ethtool: not found")})
    result = run(SOCKET + f"+0 `{command}`\n", target)
    assert failure(result).message == ("command failed with status 127: `set_sysctls.py a=1 "
                                       "b=2; ethtool -K tun0 tso off`: ethtool: not found")
