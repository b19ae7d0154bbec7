"""The drill parser: every construct of the supported subset, every error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpstack.harness.drill.model import (
    DrillSyntaxError,
    PacketSpec,
    Syscall,
    TcpOptionSpec,
    Timing,
)
from tcpstack.harness.drill.parse import (
    PollFd,
    int_arg,
    list_arg,
    options_length,
    parse,
    parse_file,
    pollfds_arg,
    split_args,
    struct_arg,
)

SOCKET = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"


def one(line: str):  # type: ignore[no-untyped-def]
    """Parse a one-event script and return its event."""
    script = parse(line + "\n", "t.pkt")
    assert len(script.events) == 1
    return script.events[0]


def packet(line: str) -> PacketSpec:
    action = one(line).action
    assert isinstance(action, PacketSpec)
    return action


def call(line: str) -> Syscall:
    action = one(line).action
    assert isinstance(action, Syscall)
    return action


def error(text: str) -> DrillSyntaxError:
    with pytest.raises(DrillSyntaxError) as info:
        parse(text, "bad.pkt")
    return info.value


# ----------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "timing"),
    [
        ("0", Timing("abs", 0.0, 0.0)),
        ("0.100", Timing("abs", 0.1, 0.1)),
        ("1.5", Timing("abs", 1.5, 1.5)),
        (".25", Timing("abs", 0.25, 0.25)),
        ("+0", Timing("rel", 0.0, 0.0)),
        ("+0.1", Timing("rel", 0.1, 0.1)),
        ("+.1", Timing("rel", 0.1, 0.1)),
        ("+2", Timing("rel", 2.0, 2.0)),
    ],
)
def test_times(prefix: str, timing: Timing) -> None:
    assert one(f"{prefix} close(3) = 0").timing == timing


@pytest.mark.parametrize(
    ("prefix", "timing"),
    [
        ("*", Timing("any")),
        ("0.1~0.2", Timing("abs", 0.1, 0.2)),
        ("0.1 ~ 0.2", Timing("abs", 0.1, 0.2)),
        ("+0.1~+0.2", Timing("rel", 0.1, 0.2)),
        ("+0~+.04", Timing("rel", 0.0, 0.04)),
    ],
)
def test_wildcard_and_range_times_on_outbound_packets(prefix: str, timing: Timing) -> None:
    assert one(f"{prefix} > . 1:1(0) ack 1").timing == timing


@pytest.mark.parametrize(
    ("prefix", "timing"),
    [
        ("+0...0.5", Timing("rel", 0.0, 0.0, 0.5)),
        ("0.1...0.2", Timing("abs", 0.1, 0.1, 0.2)),
        ("+.1...1", Timing("rel", 0.1, 0.1, 1.0)),
        ("0 ... 0.3", Timing("abs", 0.0, 0.0, 0.3)),
    ],
)
def test_blocking_calls(prefix: str, timing: Timing) -> None:
    event = one(f"{prefix} accept(3, ..., ...) = 4")
    assert event.timing == timing
    assert isinstance(event.action, Syscall)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("* < . 1:1(0) ack 1 win 100", "'*' can only be used with outbound packets"),
        ("* close(3) = 0", "'*' can only be used with outbound packets"),
        ("0.1~0.2 < . 1:1(0) ack 1 win 100", "range can only be used with outbound"),
        ("+0~+1 close(3) = 0", "range can only be used with outbound"),
        ("0.2~0.1 > . 1:1(0)", "time range is backwards"),
        ("0.1~+0.2 > . 1:1(0)", "both absolute"),
        ("+0.1~0.2 > . 1:1(0)", "both absolute"),
        ("+0...0.5 > . 1:1(0)", "'...' (a blocking call) is only for system calls"),
        ("0.5...0.1 read(4, ..., 1) = 1", "cannot return (0.1) before it starts (0.5)"),
        ("close(3) = 0", "expected a time"),
        ("< S 0:0(0) win 100", "expected a time"),
        ("0", "a time without an event"),
        ("+1 hello", "expected a packet ('<' or '>') or a system call, got 'hello'"),
    ],
)
def test_timing_errors(line: str, message: str) -> None:
    exc = error(SOCKET + line + "\n")
    assert exc.line == 2
    assert message in exc.message
    assert str(exc).startswith("bad.pkt:2: ")


def test_timing_error_for_blocking_range() -> None:
    # A range plus '...' is not a valid time (the regex stops at the range).
    exc = error("0.1~0.2...0.3 read(4, ..., 1) = 1\n")
    assert exc.line == 1


# ----------------------------------------------------------------------
# Comments, lines, options
# ----------------------------------------------------------------------


def test_comments_and_line_numbers() -> None:
    script = parse(
        "// a comment\n"
        "\n"
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3  // trailing\n"
        "/* a block\n"
        "   over lines // with a line comment inside\n"
        "*/\n"
        "+0 bind(3, /* inline */ ..., ...) = 0\n"
        "/* one-line */ +0 listen(3, 1) = 0\n",
        "c.pkt",
    )
    assert [e.line for e in script.events] == [3, 7, 8]
    assert [e.action.name for e in script.events] == ["socket", "bind", "listen"]  # type: ignore[union-attr]
    assert script.events[1].action.args == ("3", "...", "...")  # type: ignore[union-attr]
    assert script.path == "c.pkt"
    assert script.linux_deviation is None
    assert script.events[0].text == "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3"


def test_linux_deviation_comment() -> None:
    script = parse("// linux-deviation: Linux sends R.\n" + SOCKET)
    assert script.linux_deviation == "Linux sends R."


def test_several_linux_deviation_comments_are_joined() -> None:
    script = parse(SOCKET + "//linux-deviation:first\n+0 close(3) = 0 // linux-deviation: second\n")
    assert script.linux_deviation == "first second"


def test_linux_deviation_needs_text() -> None:
    exc = error(SOCKET + "// linux-deviation:\n")
    assert (exc.line, exc.message) == (2, "linux-deviation comment without a reason")


def test_other_comments_mentioning_linux_are_plain_comments() -> None:
    assert parse("// on linux-deviation: see docs\n" + SOCKET).linux_deviation is None


def test_unterminated_block_comment() -> None:
    exc = error(SOCKET + "\n/* never\nclosed\n")
    assert (exc.line, exc.message) == (3, "unterminated /* comment")


def test_continuation_lines() -> None:
    script = parse(
        "0 > S. 0:0(0) ack 1 <mss 1460,\n"
        "                     sackOK,nop,nop>\n"
        "+0 poll([{fd=4, events=POLLIN,\n"
        "          revents=POLLIN}], 1, 0) = 1\n"
    )
    assert [e.line for e in script.events] == [1, 3]
    spec = script.events[0].action
    assert isinstance(spec, PacketSpec)
    assert spec.options == (TcpOptionSpec("mss", (1460,)), TcpOptionSpec("sackOK"),
                            TcpOptionSpec("nop"), TcpOptionSpec("nop"))


def test_script_options() -> None:
    script = parse("--tolerance_usecs=10000\n--ip_version=ipv4\n" + SOCKET)
    assert script.options == {"tolerance_usecs": "10000", "ip_version": "ipv4"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("--wire_client\n" + SOCKET, 1, "unsupported: wire client/server mode"),
        ("--ip_version=ipv5\n" + SOCKET, 1, "must be one of ipv4, ipv6, ipv4-mapped-ipv6"),
        ("--no_such_option=1\n" + SOCKET, 1, "unknown script option --no_such_option"),
        ("--tolerance_usecs=abc\n" + SOCKET, 1, "needs a number"),
        ("--=3\n" + SOCKET, 1, "cannot parse script option"),
        (SOCKET + "--tolerance_usecs=5\n", 2, "must come before the first event"),
    ],
)
def test_script_option_errors(text: str, line: int, message: str) -> None:
    exc = error(text)
    assert exc.line == line
    assert message in exc.message


def test_empty_script() -> None:
    exc = error("// nothing\n\n")
    assert (exc.line, exc.message) == (2, "script has no events")
    assert error("").line == 1


# ----------------------------------------------------------------------
# Packets
# ----------------------------------------------------------------------


def test_inbound_syn() -> None:
    spec = packet("0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>")
    assert spec == PacketSpec(
        direction="<", flags="S", seq=0, end=0, length=0, ack=None, win=32792,
        options=(TcpOptionSpec("mss", (1000,)), TcpOptionSpec("sackOK"), TcpOptionSpec("nop"),
                 TcpOptionSpec("nop"), TcpOptionSpec("nop"), TcpOptionSpec("wscale", (7,))),
    )


def test_outbound_syn_ack_with_any_options() -> None:
    spec = packet("0 > S. 0:0(0) ack 1 <...>")
    assert (spec.direction, spec.flags, spec.ack, spec.win) == (">", "S.", 1, None)
    assert spec.options is None and spec.options_wildcard


def test_no_options_means_an_empty_list() -> None:
    spec = packet("0 > . 1:1(0) ack 1")
    assert spec.options == () and not spec.options_wildcard


@pytest.mark.parametrize(
    ("line", "flags", "seq", "end", "length", "ack", "win"),
    [
        ("< . 1:1(0) ack 1 win 257", ".", 1, 1, 0, 1, 257),
        ("> P. 1:1001(1000) ack 1", "P.", 1, 1001, 1000, 1, None),
        ("< F. 1:1(0) ack 1 win 10", "F.", 1, 1, 0, 1, 10),
        ("< R 1:1(0) win 0", "R", 1, 1, 0, None, 0),
        ("< R. 1:1(0) ack 1 win 0", "R.", 1, 1, 0, 1, 0),
        ("< FP. 1:11(10) ack 1 win 5", "FP.", 1, 11, 10, 1, 5),
        ("> SEW 0:0(0)", "SEW", 0, 0, 0, None, None),
        ("< - 1:1(0) win 5", "", 1, 1, 0, None, 5),
        ("> U. 1:2(1) ack 1 win 0", "U.", 1, 2, 1, 1, 0),
        ("< . 4294967295:4294967295(0) ack 4294967295 win 65535", ".", 2**32 - 1, 2**32 - 1, 0,
         2**32 - 1, 65535),
        ("< P. 4294967000:704(1000) ack 1 win 5", "P.", 4294967000, 704, 1000, 1, 5),
    ],
)
def test_packets(line: str, flags: str, seq: int, end: int, length: int, ack: int | None,
                 win: int | None) -> None:
    spec = packet("0 " + line)
    assert (spec.flags, spec.seq, spec.end, spec.length, spec.ack, spec.win) == (
        flags, seq, end, length, ack, win)


def test_urgent_pointer() -> None:
    spec = packet("0 < U. 1:11(10) ack 1 win 100 urg 3")
    assert spec.urg == 3
    assert packet("0 > U. 1:2(1) ack 1 urg 1").urg == 1


def test_options_of_every_kind() -> None:
    spec = packet("0 < . 1:1(0) ack 1 win 100 <nop,nop,TS val 100 ecr 7,nop,nop,"
                  "sack 1:1001 2001:3001,eol,eol,eol,eol>")
    assert spec.options == (
        TcpOptionSpec("nop"), TcpOptionSpec("nop"), TcpOptionSpec("TS", (100, 7)),
        TcpOptionSpec("nop"), TcpOptionSpec("nop"),
        TcpOptionSpec("sack", (1, 1001, 2001, 3001)), *[TcpOptionSpec("eol")] * 4,
    )
    assert options_length(spec.options or ()) == 36


def test_outbound_wildcards() -> None:
    spec = packet("0 > . *:*(*) ack * win *")
    assert (spec.seq, spec.end, spec.length, spec.ack, spec.win) == (None, None, None, None, None)
    spec = packet("* > P. * ack 1")
    assert (spec.seq, spec.end, spec.length, spec.ack) == (None, None, None, 1)
    spec = packet("0 > P. 1:1001(*) ack 1")
    assert (spec.seq, spec.end, spec.length) == (1, 1001, 1000)
    spec = packet("0 > P. *:*(100) ack 1")
    assert (spec.seq, spec.end, spec.length) == (None, None, 100)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("< . 1:1(0) ack 1", "window must be specified for inbound packets"),
        ("< . *:*(0) ack 1 win 1", "'*' wildcards can only be used in outbound packets"),
        ("< . 1:1(0) ack * win 1", "'*' wildcards can only be used in outbound packets"),
        ("< . 1:1(0) ack 1 win *", "'*' wildcards can only be used in outbound packets"),
        ("< S 0:0(0) win 1 <...>", "<...> for TCP options can only be used with outbound"),
        ("< udp (1472)", "unsupported: UDP packets"),
        ("> icmp unreachable frag_needed mtu 1200 [1:1461(1460)]",
         "unsupported: outbound ICMP packets"),
        ("< ipv6 2001:db8::1 > 2001:db8::2: S 0:0(0) win 1", "unsupported: IP encapsulation"),
        ("< ipv4 1.1.1.1 > 2.2.2.2: S 0:0(0) win 1", "unsupported: IP encapsulation"),
        ("< gre: S 0:0(0) win 1", "unsupported: GRE encapsulation"),
        ("< [ect01] S 0:0(0) win 1", "[ect01] can only be used with outbound packets"),
        ("< (tos 0x10) S 0:0(0) win 1", "unsupported: IP header fields"),
        ("< 40000>8080 S 0:0(0) win 1", "unsupported: explicit ports"),
        ("< SX 0:0(0) win 1", "invalid TCP flag 'X'"),
        ("< SA 0:0(0) win 1", "unsupported: AccECN (flag 'A')"),
        ("< S 0:0 win 1", "expected 'start:end(length)'"),
        ("< 0:0(0) win 1", "expected TCP flags"),
        ("< S 0:10(5) win 1", "inconsistent sequence numbers and payload size: 0:10(5)"),
        ("< S 4294967296:0(0) win 1", "start sequence number 4294967296 out of range"),
        ("< P. 1:70001(70000) ack 1 win 1", "payload length 70000 out of range"),
        ("< . 1:1(0) ack 1 win 65536", "win 65536 out of range"),
        ("< . 1:1(0) ack 4294967296 win 1", "ack 4294967296 out of range"),
        ("< . 1:1(0) win 1 ack 1", "write 'ack', 'win' and 'urg' in this order"),
        ("< . 1:1(0) ack 1 ack 2 win 1", "'ack' given twice"),
        ("> . 1:1(0) urg *", "'urg *' is not supported"),
        ("< . 1:1(0) ack 1 win 1 <mss 1000", "missing '>'"),
        ("< . 1:1(0) ack 1 win 1 <>", "empty TCP option list"),
        ("< S 0:0(0) win 1 <mss 1000,,nop,nop>", "empty TCP option"),
        ("< S 0:0(0) win 1 <mss>", "TCP option 'mss': bad arguments"),
        ("< S 0:0(0) win 1 <wscale x,nop>", "TCP option 'wscale x': bad arguments"),
        ("< S 0:0(0) win 1 <TS val 1 ecr>", "bad arguments"),
        ("< S 0:0(0) win 1 <mss 70000>", "mss 70000 out of range"),
        ("< S 0:0(0) win 1 <wscale 256,nop>", "wscale 256 out of range"),
        ("< S 0:0(0) win 1 <nop,nop,TS val 4294967296 ecr 0>", "TS val 4294967296 out of range"),
        ("< . 1:1(0) ack 1 win 1 <nop,nop,sack 1-2>", "SACK block '1-2'"),
        ("< . 1:1(0) ack 1 win 1 <nop,nop,sack 1:2 3:4 5:6 7:8 9:10>", "at most 4 SACK blocks"),
        ("< . 1:1(0) ack 1 win 1 <nop,nop,TS val 1 ecr 2,nop,nop,sack 1:2 3:4 5:6 7:8>",
         "TCP options too long: 48 bytes"),
        ("< S 0:0(0) win 1 <md5 abcd>", "unsupported: TCP MD5 option"),
        ("< S 0:0(0) win 1 <FO abc,nop>", "cookie 'abc' has an odd number of digits"),
        ("< S 0:0(0) win 1 <bogus 3>", "unknown TCP option 'bogus'"),
        ("< S 0:0(0) win 1 <mss 1000,sackOK>", "not padded to a multiple of 4 bytes (6 bytes)"),
        ("< S 0:0(0) win 1 <nop,nop,TS val 1 ecr 2,nop,nop,TS val 1 ecr 2,nop,nop,"
         "TS val 1 ecr 2,nop,nop,TS val 1 ecr 2>", "TCP options too long: 48 bytes"),
        ("< S 0:0(0) win 1 extra", "unexpected 'extra' in a packet line"),
        ("< S 0:0(0) win 1 {mutate tcp mss}", "unsupported: packet fuzzing"),
    ],
)
def test_packet_errors(line: str, message: str) -> None:
    exc = error(SOCKET + "+0 " + line + "\n")
    assert exc.line == 2
    assert message in exc.message, exc.message


# ----------------------------------------------------------------------
# System calls
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "args", "result", "errno"),
    [
        ("socket(..., SOCK_STREAM, IPPROTO_TCP) = 3", "socket",
         ("...", "SOCK_STREAM", "IPPROTO_TCP"), 3, None),
        ("socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0) = 3", "socket",
         ("AF_INET", "SOCK_STREAM|SOCK_NONBLOCK", "0"), 3, None),
        ("bind(3, ..., ...) = 0", "bind", ("3", "...", "..."), 0, None),
        ("listen(3, 1) = 0", "listen", ("3", "1"), 0, None),
        ("accept(3, ..., ...) = 4", "accept", ("3", "...", "..."), 4, None),
        ("connect(3, ..., ...) = 0", "connect", ("3", "...", "..."), 0, None),
        ("connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)", "connect",
         ("3", "...", "..."), -1, "EINPROGRESS"),
        ("write(4, ..., 1000) = 1000", "write", ("4", "...", "1000"), 1000, None),
        ("read(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)", "read",
         ("4", "...", "1000"), -1, "EAGAIN"),
        ("close(4) = 0", "close", ("4",), 0, None),
        ("shutdown(4, SHUT_WR) = 0", "shutdown", ("4", "SHUT_WR"), 0, None),
        ("shutdown(4, SHUT_RD) = 0", "shutdown", ("4", "SHUT_RD"), 0, None),
        ("shutdown(4, SHUT_RDWR) = -1 ENOTCONN", "shutdown", ("4", "SHUT_RDWR"), -1,
         "ENOTCONN"),
        ("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0", "setsockopt",
         ("3", "SOL_SOCKET", "SO_KEEPALIVE", "[1]", "4"), 0, None),
        ("setsockopt(3, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0", "setsockopt",
         ("3", "IPPROTO_TCP", "TCP_NODELAY", "[1]", "4"), 0, None),
        ("setsockopt(3, SOL_TCP, TCP_KEEPIDLE, [5], 4) = 0", "setsockopt",
         ("3", "SOL_TCP", "TCP_KEEPIDLE", "[5]", "4"), 0, None),
        ("setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0", "setsockopt",
         ("3", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "8"), 0, None),
        ("getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0", "getsockopt",
         ("3", "SOL_SOCKET", "SO_ERROR", "[ECONNREFUSED]", "[4]"), 0, None),
        ("getsockopt(3, SOL_SOCKET, SO_RCVBUF, [0x2000], [4]) = 0", "getsockopt",
         ("3", "SOL_SOCKET", "SO_RCVBUF", "[0x2000]", "[4]"), 0, None),
        ("fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0", "fcntl",
         ("3", "F_SETFL", "O_RDWR|O_NONBLOCK"), 0, None),
        ("fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)", "fcntl", ("3", "F_GETFL"), 2, None),
        ("poll([{fd=4, events=POLLIN, revents=POLLIN}], 1, 0) = 1", "poll",
         ("[{fd=4, events=POLLIN, revents=POLLIN}]", "1", "0"), 1, None),
        ("poll([{fd=4, events=POLLIN|POLLOUT}, {fd=5, events=POLLOUT, revents=POLLOUT}], 2, "
         "-1) = 1", "poll",
         ("[{fd=4, events=POLLIN|POLLOUT}, {fd=5, events=POLLOUT, revents=POLLOUT}]", "2",
          "-1"), 1, None),
    ],
)
def test_syscalls(line: str, name: str, args: tuple[str, ...], result: int,
                  errno: str | None) -> None:
    assert call("0 " + line) == Syscall(name, args, result, errno)


@pytest.mark.parametrize(
    "option", ["SO_KEEPALIVE", "SO_RCVBUF", "SO_SNDBUF", "SO_REUSEADDR"],
)
def test_socket_level_options(option: str) -> None:
    assert call(f"0 setsockopt(3, SOL_SOCKET, {option}, [1], 4) = 0").args[2] == option


@pytest.mark.parametrize(
    "option", ["TCP_NODELAY", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
               "TCP_USER_TIMEOUT"],
)
def test_tcp_level_options(option: str) -> None:
    assert call(f"0 getsockopt(3, IPPROTO_TCP, {option}, [1], [4]) = 0").args[2] == option


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("vmsplice(3, ..., 1, 0) = 10", "unsupported: splice"),
        ("close(3)", "expected '= result' after the call"),
        ("close(3) = ", "cannot parse the result"),
        ("close(3) = 0 ENOTCONN", "an errno (ENOTCONN) goes with the result -1, not 0"),
        ("close(3) = -1 EWHATEVER", "unknown errno EWHATEVER"),
        ("close(3) = 0 trailing words", "cannot parse the result"),
        ("close(3, 4) = 0", "close() takes 1 arguments, got 2"),
        ("listen(3) = 0", "listen() takes 2 arguments, got 1"),
        ("fcntl(3) = 0", "fcntl() takes 2 or 3 arguments, got 1"),
        ("close(3 = 0", "close(: missing ')'"),
        ("close(x) = 0", "the file descriptor must be a number, got 'x'"),
        ("socket(AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP) = 3", "unsupported: socket domain"),
        ("socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3", "unsupported: non-TCP sockets"),
        ("socket(..., SOCK_NONBLOCK, IPPROTO_TCP) = 3", "unsupported: non-TCP sockets"),
        ("socket(..., SOCK_STREAM, IPPROTO_UDP) = 3", "unsupported: non-TCP sockets"),
        ("listen(3, x) = 0", "the backlog must be a number"),
        ("read(4, ..., -1) = 0", "negative length"),
        ("shutdown(4, SHUT_BOTH) = 0", "not a number or known symbol: 'SHUT_BOTH'"),
        ("setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0",
         "unsupported: non-Linux socket option (TCP_NOOPT)"),
        ("setsockopt(3, SOL_TCP, TCP_ZEROCOPY_RECEIVE, [1], 4) = 0", "unsupported: zero-copy"),
        ("setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, [1], 4) = 0", "unsupported: TCP MD5 option"),
        ("setsockopt(3, SOL_SOCKET, TCP_NODELAY, [1], 4) = 0",
         "TCP_NODELAY belongs to level IPPROTO_TCP, not SOL_SOCKET"),
        ("setsockopt(3, IPPROTO_TCP, SO_KEEPALIVE, [1], 4) = 0",
         "SO_KEEPALIVE belongs to level SOL_SOCKET"),
        ("setsockopt(3, SOL_SOCKET, SO_ERROR, [0], 4) = 0", "SO_ERROR can only be read"),
        ("setsockopt(3, SOL_SOCKET, SO_LINGER, [1], 8) = 0",
         "the value must be '{onoff=N, linger=N}'"),
        ("setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1}, 8) = 0",
         "the value must be '{onoff=N, linger=N}'"),
        ("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, 1, 4) = 0", "the value must be '[N]'"),
        ("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1, 2], 4) = 0", "one number in brackets"),
        ("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [yes], 4) = 0", "cannot read the value"),
        ("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1], x) = 0",
         "the option length must be a number"),
        ("getsockopt(3, SOL_SOCKET, SO_ERROR, [0], 4) = 0", "the length must be '[N]'"),
        ("fcntl(3, F_GETFD, 1) = 0", "fcntl(F_GETFD) takes no third argument"),
        ("fcntl(3, F_GETFL, 0) = 2", "fcntl(F_GETFL) takes no third argument"),
        ("fcntl(3, F_SETFL) = 0", "fcntl(F_SETFL) needs the flags"),
        ("fcntl(3, F_SETFL, O_BOGUS) = 0", "not a number or known symbol: 'O_BOGUS'"),
        ("poll([{fd=4}], 1, 0) = 0", "poll(): expected '{fd=N, events=..., revents=...}'"),
        ("poll([], 0, 0) = 0", "poll(): no pollfd entries"),
        ("poll(4, 1, 0) = 0", "poll(): expected '[...]'"),
        ("poll([{fd=4, events=POLLBOGUS}], 1, 0) = 0", "poll(): not a number or known symbol"),
        ("poll([{fd=4, events=POLLIN}], 1, x) = 0", "the timeout must be a number"),
    ],
)
def test_syscall_errors(line: str, message: str) -> None:
    exc = error(SOCKET + "\n+0 " + line + "\n")
    assert exc.line == 3
    assert message in exc.message, exc.message


def test_errors_name_the_first_line_of_a_continued_event() -> None:
    exc = error(SOCKET + "+0 poll([{fd=4,\n events=POLLNOPE}], 1, 0) = 1\n")
    assert exc.line == 2


# ----------------------------------------------------------------------
# Files and argument helpers
# ----------------------------------------------------------------------


def test_parse_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pkt"
    path.write_text(SOCKET + "+0 close(3) = 0\n")
    script = parse_file(path)
    assert script.path == str(path)
    assert len(script.events) == 2


def test_parse_file_errors(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        parse_file(tmp_path / "missing.pkt")
    binary = tmp_path / "b.pkt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DrillSyntaxError, match="not a text file"):
        parse_file(binary)


def test_argument_helpers() -> None:
    assert int_arg("3") == 3
    assert int_arg("0x802") == 0x802
    assert int_arg("-1") == -1
    assert int_arg("O_RDWR|O_NONBLOCK") == 0x802
    assert int_arg("ECONNREFUSED") == 111
    assert int_arg("POLLIN | POLLOUT") == 5
    with pytest.raises(ValueError):
        int_arg("NOPE")
    assert list_arg("[1]") == ("1",)
    assert list_arg("[ ]") == ()
    with pytest.raises(ValueError):
        list_arg("1")
    assert struct_arg("{onoff=1, linger=0}") == {"onoff": "1", "linger": "0"}
    with pytest.raises(ValueError):
        struct_arg("{onoff}")
    with pytest.raises(ValueError):
        struct_arg("[1]")
    assert pollfds_arg("[{fd=4, events=POLLIN}]") == (PollFd(4, 1, 0),)
    assert split_args("3, [1, 2], {a=1, b=2}, ...") == ("3", "[1, 2]", "{a=1, b=2}", "...")
