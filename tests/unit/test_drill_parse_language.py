"""The drill parser on the whole packetdrill language TCP scripts use: backtick
commands, ``%{ }%`` blocks, free spacing, ECN marks, the socket calls of the
public suites, every script option, ``#ifdef``, and the constructs reported as
unsupported with a stable name. Scripts here are small and written for these tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpstack.harness.drill.model import (
    DrillSyntaxError,
    DrillUnsupported,
    PacketSpec,
    PythonBlock,
    Shell,
    Syscall,
    Timing,
)
from tcpstack.harness.drill.parse import (
    EpollEvent,
    epoll_events_arg,
    int_arg,
    iovecs_arg,
    msghdr_arg,
    parse,
    parse_file,
    struct_arg,
)

SOCKET = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"


def unsupported(text: str) -> DrillUnsupported:
    with pytest.raises(DrillUnsupported) as info:
        parse(text, "u.pkt")
    return info.value


# ----------------------------------------------------------------------
# Shell commands and code blocks
# ----------------------------------------------------------------------


def test_init_command_without_time_runs_first_at_time_zero() -> None:
    script = parse("`../common/defaults.sh`\n\n" + "+0 " + SOCKET[2:])
    first = script.events[0]
    assert first.action == Shell("../common/defaults.sh")
    assert first.timing == Timing("abs", 0.0, 0.0)
    assert first.line == 1
    assert isinstance(script.events[1].action, Syscall)


def test_timed_and_cleanup_commands() -> None:
    script = parse(SOCKET + "+0 `sysctl -q net.ipv4.tcp_sack=0`\n+0 close(3) = 0\n"
                   "`echo done`\n")
    assert script.events[1].action == Shell("sysctl -q net.ipv4.tcp_sack=0")
    assert script.events[1].timing == Timing("rel", 0.0, 0.0)
    assert script.events[3].action == Shell("echo done")
    assert script.events[3].timing == Timing("rel", 0.0, 0.0)


def test_untimed_command_in_the_middle_is_an_error() -> None:
    with pytest.raises(DrillSyntaxError, match=r"first event .* or the last"):
        parse(SOCKET + "`echo x`\n+0 close(3) = 0\n")


def test_multiline_command_keeps_line_numbers() -> None:
    script = parse(SOCKET + "+0 `echo a;\necho b`\n+0 close(3) = 0\n")
    assert script.events[1].action == Shell("echo a;\necho b")
    assert script.events[2].line == 4


def test_comment_markers_inside_commands_and_code_are_kept() -> None:
    script = parse(SOCKET + "+0 `echo // not a comment`\n"
                            "+0 %{ assert 7 // 2 == 3 /* kept */ }%\n")
    assert script.events[1].action == Shell("echo // not a comment")
    assert script.events[2].action == PythonBlock("assert 7 // 2 == 3 /* kept */")


def test_code_block_one_line_and_multi_line() -> None:
    script = parse(SOCKET + "+0 %{ assert tcpi_rto == 1 }%\n"
                            "+0.1 %{\n    a = tcpi_snd_cwnd\n    assert a > 2, a\n}%\n"
                            "+0 close(3) = 0\n")
    assert script.events[1].action == PythonBlock("assert tcpi_rto == 1")
    assert script.events[2].action == PythonBlock("a = tcpi_snd_cwnd\nassert a > 2, a")
    assert script.events[2].timing == Timing("rel", 0.1, 0.1)
    assert script.events[3].line == 7


def test_code_block_needs_a_time() -> None:
    with pytest.raises(DrillSyntaxError, match="needs a time"):
        parse(SOCKET + "%{ x = 1 }%\n+0 close(3) = 0\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SOCKET + "+0 `echo\n", "unterminated backtick"),
        (SOCKET + "+0 %{ x = 1\n", "missing }%"),
        (SOCKET + "+0...1 `echo`\n", "plain time"),
        (SOCKET + "+0 close(`3`) = 0\n", "unexpected backticks"),
    ],
)
def test_command_and_block_errors(text: str, message: str) -> None:
    with pytest.raises(DrillSyntaxError, match=message):
        parse(text)


# ----------------------------------------------------------------------
# Spacing
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "timing"),
    [
        ("+ 0.00", Timing("rel", 0.0, 0.0)),
        ("+.1", Timing("rel", 0.1, 0.1)),
        ("0.100", Timing("abs", 0.1, 0.1)),
        ("+0.1 ~ +0.2", Timing("rel", 0.1, 0.2)),
        ("0.1~ 0.3", Timing("abs", 0.1, 0.3)),
    ],
)
def test_time_spacing(written: str, timing: Timing) -> None:
    script = parse(f"{written} > . 1:1(0) ack 1\n")
    assert script.events[0].timing == timing


def test_blocking_call_with_spaces() -> None:
    script = parse(SOCKET + "+0 ... 0.5 accept(3, ..., ...) = 4\n")
    assert script.events[1].timing == Timing("rel", 0.0, 0.0, 0.5)


def test_packet_spacing() -> None:
    spec = parse("0 < P. 1 : 1001 (1000) ack 1 win 257 < nop , nop , sack 1 : 2 >\n"
                 ).events[0].action
    assert isinstance(spec, PacketSpec)
    assert (spec.seq, spec.end, spec.length, spec.ack, spec.win) == (1, 1001, 1000, 1, 257)
    assert spec.options is not None and spec.options[2].values == (1, 2)


@pytest.mark.parametrize(("mark", "ecn"), [("[ect0]", "ect0"), ("[ce]", "ce"),
                                           ("[noecn]", "noecn"), ("[ect1]", "ect1")])
def test_ecn_marks(mark: str, ecn: str) -> None:
    spec = parse(f"0 < {mark} . 1:1(0) ack 1 win 100\n").events[0].action
    assert isinstance(spec, PacketSpec) and spec.ecn == ecn


def test_ect01_outbound() -> None:
    spec = parse("0 > [ect01] . 1:1(0) ack 1\n").events[0].action
    assert isinstance(spec, PacketSpec) and spec.ecn == "ect01"


# ----------------------------------------------------------------------
# System calls
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "recv(4, ..., 1000, 0) = 1000",
        "recv(4, ..., 1000, MSG_PEEK|MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable)",
        "send(4, ..., 1000, MSG_MORE) = 1000",
        "sendto(4, ..., 1000, 0, ..., ...) = 1000",
        "recvfrom(4, ..., 1000, 0, ..., ...) = 1000",
        "readv(4, [{iov_base=..., iov_len=500}, {iov_base=..., iov_len=500}], 2) = 1000",
        "writev(4, [{..., 1000}], 1) = 1000",
        "sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, 0) = 1000",
        "recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0,\n"
        "  msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=10}]}, 0) = 1000",
        "ioctl(4, SIOCINQ, [1000]) = 0",
        "ioctl(4, SIOCOUTQ, [0]) = 0",
        "ioctl(4, FIONREAD, [1000]) = 0",
        "epoll_create(1) = 5",
        "epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT, fd=4}) = 0",
        "epoll_wait(5, [{events=EPOLLIN, u64=4}], 1, 0) = 1",
        "getsockname(4, ..., ...) = 0",
        "getpeername(4, {sa_family=AF_INET, sin_port=htons(8080), "
        "sin_addr=inet_addr(\"192.0.2.1\")}, [16]) = 0",
        "setsockopt(4, IPPROTO_TCP, TCP_CONGESTION, \"reno\", 4) = 0",
        "setsockopt(4, IPPROTO_TCP, TCP_MAXSEG, [1000], 4) = 0",
        "setsockopt(4, SOL_IPV6, IPV6_TCLASS, [1], 4) = 0",
        "getsockopt(4, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0",
        "bind(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"0.0.0.0\")},"
        " 16) = 0",
        "connect(4, ..., 16) = 0",
        "write(4, \"a, b\", 4) = 4",
        "shutdown(4, 7) = -1 EINVAL (Invalid argument)",
        "fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK|O_APPEND) = 0",
        "socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 4",
        "accept4(3, ..., ..., SOCK_NONBLOCK) = 4",
    ],
)
def test_calls_of_the_suites_parse_with_raw_args(line: str) -> None:
    script = parse(SOCKET + "+0 " + line + "\n")
    call = script.events[1].action
    assert isinstance(call, Syscall)
    assert call.name == line.split("(")[0]


def test_argument_helpers() -> None:
    assert iovecs_arg("[{iov_base=..., iov_len=500}, {..., 7}]") == (500, 7)
    fields = msghdr_arg("{msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=MSG_EOR}")
    assert iovecs_arg(fields["msg_iov"]) == (1000,)
    assert int_arg(fields["msg_flags"]) == 0x80
    assert epoll_events_arg("{events=EPOLLIN|EPOLLET, u64=9}") == (
        EpollEvent(0x1 | 1 << 31, 9),)
    assert epoll_events_arg("[{events=EPOLLOUT, fd=4}, {events=EPOLLIN, ptr=0}]") == (
        EpollEvent(4, 4), EpollEvent(1, 0))
    assert int_arg("htons(8080)") == 8080
    assert int_arg("SIOCINQ") == int_arg("FIONREAD") == 0x541B
    assert struct_arg("{}") == {}
    with pytest.raises(ValueError):
        iovecs_arg("[{iov_len=1, x=2}]")
    with pytest.raises(ValueError):
        msghdr_arg("{msg_flags=0}")
    with pytest.raises(ValueError):
        epoll_events_arg("{u64=1}")


@pytest.mark.parametrize(
    ("line", "construct"),
    [
        ("setsockopt(3, SOL_TCP, TCP_ZEROCOPY_RECEIVE, [1], 4) = 0", "zero-copy"),
        ("setsockopt(3, SOL_SOCKET, SO_TIMESTAMP, [1], 4) = 0", "timestamping"),
        ("recvmsg(3, {msg_iov(1)=[{..., 0}], msg_control=[{cmsg_level=SOL_SOCKET, "
         "cmsg_type=SCM_TIMESTAMPING_OPT_STATS, cmsg_data=1}]}, MSG_ERRQUEUE) = 0",
         "timestamping statistics"),
        ("setsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [1], 4) = 0", "non-Linux socket option"),
        ("vmsplice(4, ..., 1, 0) = 10", "splice"),
        ("recvmsg(3, {msg_iov(1)=[{..., 10}], msg_control=[{cmsg_level=SOL_SOCKET, "
         "cmsg_type=1, cmsg_data={a=1}}]}, 0) = 10", "ancillary data (msg_control)"),
        ("sendmsg(3, {msg_iov(1)=[{..., 10}], msg_control=[{cmsg_level=SOL_TCP, "
         "cmsg_type=TCP_CM_INQ, cmsg_data=1}]}, 0) = 10", "ancillary data (msg_control)"),
        ("socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3", "non-TCP sockets"),
    ],
)
def test_unsupported_calls_name_their_construct(line: str, construct: str) -> None:
    exc = unsupported(SOCKET + "+0 " + line + "\n")
    assert exc.construct == construct
    assert exc.line == 2
    assert exc.message.startswith(f"unsupported: {construct}")


@pytest.mark.parametrize(
    ("line", "construct"),
    [
        ("< S 0:0(0) win 1 <md5 0123456789abcdef0123456789abcdef>", "TCP MD5 option"),
        ("< udp (1000)", "UDP packets"),
        ("> icmp unreachable port", "outbound ICMP packets"),
        ("< icmp unreachable [udp (100)]", "ICMP quoting UDP or raw data"),
        ("< (flowlabel 0x1) S 0:0(0) win 1", "IP header fields"),
        ("< S 0:0(0) win 1 {mutate}", "packet fuzzing"),
    ],
)
def test_unsupported_packets_name_their_construct(line: str, construct: str) -> None:
    assert unsupported(f"0 {line}\n").construct == construct


# ----------------------------------------------------------------------
# Script options and #ifdef
# ----------------------------------------------------------------------


def test_every_option_kind() -> None:
    script = parse("--mss=1000\n--ip_version=ipv4-mapped-ipv6\n--tolerance_usecs=7000\n"
                   "--bind_port=9000\n--connect_port=9001\n--non_fatal=packet,syscall\n"
                   "--dry_run\n--speed=100M\n--init_rto=3\n" + SOCKET)
    assert script.options == {
        "mss": "1000", "ip_version": "ipv4-mapped-ipv6", "tolerance_usecs": "7000",
        "bind_port": "9000", "connect_port": "9001", "non_fatal": "packet,syscall",
        "dry_run": "", "speed": "100M", "init_rto": "3"}


def test_options_may_follow_the_init_command() -> None:
    script = parse("`true`\n--mss=1200\n+0 " + SOCKET[2:])
    assert script.options == {"mss": "1200"}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--mss=0", "out of range"),
        ("--mss=65536", "out of range"),
        ("--bind_port=x", "needs a number"),
        ("--local_ip=not-an-address", "needs an IP address"),
        ("--non_fatal=everything", "unknown kind"),
        ("--dry_run=1", "takes no value"),
        ("--tolerance_percent=101", "at most 100"),
    ],
)
def test_option_values_are_checked(option: str, message: str) -> None:
    with pytest.raises(DrillSyntaxError, match=message):
        parse(option + "\n" + SOCKET)


@pytest.mark.parametrize(("option", "construct"), [
    ("--wire_server", "wire client/server mode"),
    ("--udp_encapsulation=sctp", "UDP encapsulation"),
    ("--tcp_md5_secret=abc", "TCP MD5 option"),
])
def test_options_drill_cannot_honour(option: str, construct: str) -> None:
    assert unsupported(option + "\n" + SOCKET).construct == construct


def test_ifdef_keeps_the_standard_branch_and_line_numbers() -> None:
    script = parse(SOCKET + "#ifdef STANDARD\n+0 close(3) = 0\n#else\n+0 bogus\n#endif\n"
                   "#ifdef FreeBSD\n+0 also bogus\n#endif\n#ifndef FreeBSD\n+0 listen(3, 1) = 0\n"
                   "#endif\n")
    assert [(e.line, e.action.name) for e in script.events  # type: ignore[union-attr]
            ] == [(1, "socket"), (3, "close"), (11, "listen")]


@pytest.mark.parametrize(("text", "message"), [
    ("#ifdef STANDARD\n" + SOCKET, "without #endif"),
    (SOCKET + "#endif\n", "without #ifdef"),
])
def test_ifdef_errors(text: str, message: str) -> None:
    with pytest.raises(DrillSyntaxError, match=message):
        parse(text)


# ----------------------------------------------------------------------
# The public suite (read-only checkout; CI has none)
# ----------------------------------------------------------------------

SUITE = Path(os.environ.get("TCPSTACK_PACKETDRILL", "/work/suites/packetdrill")) / \
    "gtests/net/tcp"


@pytest.mark.skipif(not SUITE.is_dir(), reason="no packetdrill checkout at " + str(SUITE))
def test_every_script_of_gtests_net_tcp_parses_or_is_unsupported() -> None:
    scripts = sorted(SUITE.rglob("*.pkt"))
    assert len(scripts) > 100
    errors = []
    for path in scripts:
        try:
            parse_file(path)
        except DrillUnsupported:
            continue
        except DrillSyntaxError as exc:
            errors.append(str(exc))
    assert errors == []


def test_code_block_ending_in_a_line_continuation() -> None:
    script = parse(SOCKET + "+0 %{ assert 1 <= 2, 'a';\\\n      assert 3 <= 4, 'b';\\\n}%\n")
    code = script.events[1].action
    assert code == PythonBlock("assert 1 <= 2, 'a';\\\nassert 3 <= 4, 'b';")
    assert isinstance(code, PythonBlock)
    compile(code.code, "t", "exec")
