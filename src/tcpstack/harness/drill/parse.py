"""The drill script parser: the TCP subset of packetdrill's language.

A script is a list of timed events, one per line::

    // a comment; /* a block comment */ too
    0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0  bind(3, ..., ...) = 0
    +0  listen(3, 1) = 0
    +0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
    +0  > S. 0:0(0) ack 1 <...>
    +.1 < . 1:1(0) ack 1 win 257
    +0  accept(3, ..., ...) = 4

:func:`parse` turns the text into a :class:`~tcpstack.harness.drill.model.Script`.
Everything outside the supported subset (shell commands in backticks,
``%{ python }%`` blocks, UDP/ICMP/IPv6 packets, unknown system calls or
socket options...) raises :class:`~tcpstack.harness.drill.model.DrillSyntaxError`
naming the line: a script is never run with a line silently skipped.

The module also gives the targets what they need to interpret a
:class:`~tcpstack.harness.drill.model.Syscall`'s raw arguments: :func:`int_arg`
(``"O_RDWR|O_NONBLOCK"`` -> ``0x802``), :func:`list_arg` (``"[1]"``),
:func:`struct_arg` (``"{onoff=1, linger=0}"``) and :func:`pollfds_arg`,
with the Linux values of every symbol drill knows (:data:`SYMBOLS`,
:data:`ERRNOS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .model import DrillSyntaxError, Event, PacketSpec, Script, Syscall, TcpOptionSpec, Timing

__all__ = [
    "ERRNOS",
    "SOCKOPTS",
    "SUPPORTED_SYSCALLS",
    "SYMBOLS",
    "PollFd",
    "int_arg",
    "list_arg",
    "options_length",
    "parse",
    "parse_file",
    "pollfds_arg",
    "split_args",
    "struct_arg",
]

ERRNOS: dict[str, int] = {
    "EPERM": 1, "ENOENT": 2, "EINTR": 4, "EIO": 5, "EBADF": 9, "EAGAIN": 11,
    "EWOULDBLOCK": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14, "EBUSY": 16,
    "EEXIST": 17, "EINVAL": 22, "EMFILE": 24, "ENOSPC": 28, "EPIPE": 32,
    "ENOTSOCK": 88, "EDESTADDRREQ": 89, "EMSGSIZE": 90, "EPROTOTYPE": 91,
    "ENOPROTOOPT": 92, "EPROTONOSUPPORT": 93, "EOPNOTSUPP": 95, "EAFNOSUPPORT": 97,
    "EADDRINUSE": 98, "EADDRNOTAVAIL": 99, "ENETDOWN": 100, "ENETUNREACH": 101,
    "ENETRESET": 102, "ECONNABORTED": 103, "ECONNRESET": 104, "ENOBUFS": 105,
    "EISCONN": 106, "ENOTCONN": 107, "ESHUTDOWN": 108, "ETIMEDOUT": 110,
    "ECONNREFUSED": 111, "EHOSTDOWN": 112, "EHOSTUNREACH": 113, "EALREADY": 114,
    "EINPROGRESS": 115,
}
"""Errno names drill accepts after ``= -1``, with their Linux values."""

SYMBOLS: dict[str, int] = {
    # socket()
    "AF_INET": 2, "SOCK_STREAM": 1, "SOCK_NONBLOCK": 0o4000, "IPPROTO_TCP": 6,
    # levels
    "SOL_SOCKET": 1, "SOL_TCP": 6,
    # SOL_SOCKET options
    "SO_REUSEADDR": 2, "SO_ERROR": 4, "SO_SNDBUF": 7, "SO_RCVBUF": 8,
    "SO_KEEPALIVE": 9, "SO_LINGER": 13,
    # IPPROTO_TCP options
    "TCP_NODELAY": 1, "TCP_KEEPIDLE": 4, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 6,
    "TCP_USER_TIMEOUT": 18,
    # shutdown()
    "SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
    # fcntl()
    "F_GETFL": 3, "F_SETFL": 4, "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2,
    "O_NONBLOCK": 0o4000,
    # poll()
    "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10,
    "POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLWRNORM": 0x100, "POLLRDHUP": 0x2000,
}
"""Symbolic constants drill accepts in system call arguments (Linux values)."""

SOCKOPTS: dict[str, tuple[str, ...]] = {
    "SO_KEEPALIVE": ("SOL_SOCKET",),
    "SO_LINGER": ("SOL_SOCKET",),
    "SO_RCVBUF": ("SOL_SOCKET",),
    "SO_SNDBUF": ("SOL_SOCKET",),
    "SO_REUSEADDR": ("SOL_SOCKET",),
    "SO_ERROR": ("SOL_SOCKET",),
    "TCP_NODELAY": ("IPPROTO_TCP", "SOL_TCP"),
    "TCP_KEEPIDLE": ("IPPROTO_TCP", "SOL_TCP"),
    "TCP_KEEPINTVL": ("IPPROTO_TCP", "SOL_TCP"),
    "TCP_KEEPCNT": ("IPPROTO_TCP", "SOL_TCP"),
    "TCP_USER_TIMEOUT": ("IPPROTO_TCP", "SOL_TCP"),
}
"""Socket options drill supports, with the levels they belong to."""

SUPPORTED_SYSCALLS: dict[str, tuple[int, ...]] = {
    "socket": (3,), "bind": (3,), "listen": (2,), "accept": (3,), "connect": (3,),
    "write": (3,), "read": (3,), "close": (1,), "shutdown": (2,),
    "setsockopt": (5,), "getsockopt": (5,), "fcntl": (2, 3), "poll": (3,),
}
"""System calls drill supports, with the numbers of arguments they take."""

SCRIPT_OPTIONS = ("tolerance_usecs", "ip_version")
"""Script options (``--name=value`` lines before the first event) drill understands."""

_Fail = Callable[[str], DrillSyntaxError]
"""``fail(message)``: a DrillSyntaxError for the line being parsed."""

_OPTION_SIZE = {"mss": 4, "sackOK": 2, "nop": 1, "eol": 1, "wscale": 3, "TS": 10}
_FLAG_LETTERS = "FSRP.UEW"
_U32 = 1 << 32

_NUM = r"(?:\d+\.\d+|\d+|\.\d+)"
_TIMING = re.compile(
    rf"""(?P<star>\*)
       |(?P<p1>\+)?(?P<t1>{_NUM})
        (?:\s*~\s*(?P<p2>\+)?(?P<t2>{_NUM}))?
        (?:\s*\.\.\.\s*(?P<t3>{_NUM}))?""",
    re.VERBOSE,
)
_SEQ = re.compile(r"(\*|\d+):(\*|\d+)\((\*|\d+)\)|\*(?=\s|$)")
_KEYWORD = re.compile(r"(ack|win|urg)\s+(\*|\d+)(?=\s|<|$)")
_SYSCALL_START = re.compile(r"([A-Za-z_]\w*)\s*\(")
_RESULT = re.compile(
    r"=\s*(?P<value>-?0x[0-9a-fA-F]+|-?\d+)"
    r"(?:\s+(?P<errno>[A-Z][A-Z0-9_]*))?"
    r"(?:\s*\((?P<note>[^()]*)\))?\s*$"
)
_DEVIATION = re.compile(r"^\s*linux-deviation\s*:\s*(.*?)\s*$")


def parse_file(path: str | Path) -> Script:
    """Read and parse the script at ``path``.

    Raises:
        OSError: the file cannot be read.
        DrillSyntaxError: see :func:`parse`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DrillSyntaxError(str(p), 1, f"not a text file: {exc.reason}") from None
    return parse(text, str(p))


def parse(text: str, path: str = "<script>") -> Script:
    """Parse a drill script.

    Args:
        text: the script.
        path: the name used in error messages and in the result.

    Raises:
        DrillSyntaxError: with the 1-based line of the first problem.
    """
    lines, deviations = _strip_comments(text, path)
    events: list[Event] = []
    options: dict[str, str] = {}
    for number, logical in _logical_lines(lines):
        if logical.startswith("--"):
            if events:
                raise DrillSyntaxError(path, number, "script options must come before the "
                                       "first event")
            name, value = _parse_option(logical, path, number)
            options[name] = value
            continue
        events.append(_parse_event(logical, path, number))
    if not events:
        raise DrillSyntaxError(path, max(1, len(lines)), "script has no events")
    deviation = " ".join(deviations) if deviations else None
    return Script(path=path, events=tuple(events), linux_deviation=deviation, options=options)


# ----------------------------------------------------------------------
# Comments and lines
# ----------------------------------------------------------------------


def _strip_comments(text: str, path: str) -> tuple[list[str], list[str]]:
    """Remove comments, keeping line numbers; collect ``// linux-deviation:`` texts."""
    out: list[str] = []
    deviations: list[str] = []
    in_block = False
    block_start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        kept = []
        i = 0
        while i < len(line):
            if in_block:
                end = line.find("*/", i)
                if end < 0:
                    i = len(line)
                    break
                in_block = False
                i = end + 2
                kept.append(" ")
                continue
            if line.startswith("//", i):
                match = _DEVIATION.match(line[i + 2 :])
                if match:
                    if not match.group(1):
                        raise DrillSyntaxError(path, number, "linux-deviation comment without "
                                               "a reason")
                    deviations.append(match.group(1))
                break
            if line.startswith("/*", i):
                in_block = True
                block_start = number
                i += 2
                continue
            kept.append(line[i])
            i += 1
        out.append("".join(kept))
    if in_block:
        raise DrillSyntaxError(path, block_start, "unterminated /* comment")
    return out, deviations


def _logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """Join lines that continue (open brackets, a trailing comma); skip blank ones."""
    result: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not buffer:
            if not line:
                continue
            buffer, start = line, number
        elif line:
            buffer = f"{buffer} {line}"
        if _continues(buffer):
            continue
        result.append((start, buffer))
        buffer = ""
    if buffer:
        result.append((start, buffer))
    return result


def _continues(text: str) -> bool:
    if text.endswith(","):
        return True
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth > 0


def _parse_option(text: str, path: str, line: int) -> tuple[str, str]:
    match = re.fullmatch(r"--([A-Za-z_][\w-]*)(?:\s*=\s*(\S+))?", text)
    if not match:
        raise DrillSyntaxError(path, line, f"cannot parse script option {text!r}")
    name, value = match.group(1), match.group(2) or ""
    if name not in SCRIPT_OPTIONS:
        raise DrillSyntaxError(path, line, f"unsupported: script option --{name} "
                               f"(drill knows --{', --'.join(SCRIPT_OPTIONS)})")
    if name == "tolerance_usecs" and not value.isdigit():
        raise DrillSyntaxError(path, line, "--tolerance_usecs needs a number of microseconds")
    if name == "ip_version" and value != "ipv4":
        raise DrillSyntaxError(path, line, f"unsupported: --ip_version={value} "
                               "(drill runs IPv4 only)")
    return name, value


# ----------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------


def _parse_event(text: str, path: str, line: int) -> Event:
    def fail(message: str) -> DrillSyntaxError:
        return DrillSyntaxError(path, line, message)

    if text.startswith("`"):
        raise fail("unsupported: shell command in backticks")
    if text.startswith("%{"):
        raise fail("unsupported: %{ code }% block")
    match = _TIMING.match(text)
    if match is None:
        raise fail(f"expected a time ('0.1', '+0.1', '*') at the start of {text!r}")
    timing = _timing(match, fail)
    rest = text[match.end() :].strip()
    if not rest:
        raise fail("a time without an event")
    if "`" in rest:
        raise fail("unsupported: shell command in backticks")
    if rest.startswith("%{"):
        raise fail("unsupported: %{ code }% block")
    action: PacketSpec | Syscall
    if rest[0] in "<>":
        action = _parse_packet(rest, fail)
        if timing.blocking_end is not None:
            raise fail("'...' (a blocking call) is only for system calls")
        if action.direction == "<" and timing.kind == "any":
            raise fail("time '*' can only be used with outbound packets")
        if action.direction == "<" and timing.end != timing.start:
            raise fail("a time range can only be used with outbound packets")
    else:
        action = _parse_syscall(rest, fail)
        if timing.kind == "any":
            raise fail("time '*' can only be used with outbound packets")
        if timing.end != timing.start:
            raise fail("a time range can only be used with outbound packets")
    return Event(line=line, timing=timing, action=action, text=text)


def _timing(match: re.Match[str], fail: _Fail) -> Timing:
    if match.group("star"):
        return Timing("any")
    relative = bool(match.group("p1"))
    start = float(match.group("t1"))
    end = start
    if match.group("t2") is not None:
        if bool(match.group("p2")) != relative:
            raise fail("a time range must be both absolute (0.1~0.2) or both relative "
                       "(+0.1~+0.2)")
        end = float(match.group("t2"))
        if end < start:
            raise fail("time range is backwards")
    blocking = float(match.group("t3")) if match.group("t3") is not None else None
    if blocking is not None:
        if end != start:
            raise fail("a blocking call cannot have a time range")
        if blocking < start:
            raise fail(f"a blocking call cannot return ({blocking:g}) before it starts "
                       f"({start:g})")
    return Timing("rel" if relative else "abs", start, end, blocking)


# ----------------------------------------------------------------------
# Packets
# ----------------------------------------------------------------------

_UNSUPPORTED_PACKET_WORDS = {
    "udp": "UDP packets", "icmp": "ICMP packets", "ipv4": "IP encapsulation",
    "ipv6": "IPv6 packets", "gre": "GRE encapsulation", "mpls": "MPLS encapsulation",
}


def _parse_packet(text: str, fail: _Fail) -> PacketSpec:
    direction: Literal["<", ">"] = "<" if text[0] == "<" else ">"
    rest = text[1:].lstrip()
    first = rest.split(None, 1)[0] if rest else ""
    word = first.rstrip(":,").lower()
    if word in _UNSUPPORTED_PACKET_WORDS:
        raise fail(f"unsupported: {_UNSUPPORTED_PACKET_WORDS[word]}")
    if first[:1] in "[(":
        raise fail(f"unsupported: IP/ECN information {first!r} before the flags")
    if re.match(r"\d+>\d+", first) or re.match(r"\d+\s*>\s*\d+", rest):
        raise fail("unsupported: explicit ports in a packet line")
    match = re.match(r"(-|[A-Za-z]*\.?)(?=\s|$)", rest)
    if match is None or not match.group(1):
        raise fail(f"expected TCP flags after '{direction}', got {first!r}")
    flags = "" if match.group(1) == "-" else match.group(1)
    for letter in flags:
        if letter not in _FLAG_LETTERS:
            if letter == "A" or letter.isdigit():
                raise fail(f"unsupported: TCP flag {letter!r} (AccECN)")
            raise fail(f"invalid TCP flag {letter!r} (known: {' '.join(_FLAG_LETTERS)})")
    rest = rest[match.end() :].lstrip()

    seq_match = _SEQ.match(rest)
    if seq_match is None:
        raise fail(f"expected 'start:end(length)' after the flags, got {rest[:20]!r}")
    seq = end = length = None
    if seq_match.group(0) != "*":
        seq = _int_or_star(seq_match.group(1), 32, "start sequence number", fail)
        end = _int_or_star(seq_match.group(2), 32, "end sequence number", fail)
        length = _int_or_star(seq_match.group(3), 16, "payload length", fail)
        if seq is not None and end is not None and length is not None and (
            end != (seq + length) % _U32
        ):
            raise fail(f"inconsistent sequence numbers and payload size: {seq}:{end}({length})")
        if seq is not None and end is not None and length is None:
            length = (end - seq) % _U32
            if length > 0xFFFF:
                raise fail("payload length out of range")
    rest = rest[seq_match.end() :].lstrip()

    values: dict[str, int | None] = {}
    wildcards: set[str] = set()
    order = ["ack", "win", "urg"]
    while (kw := _KEYWORD.match(rest)) is not None:
        name, raw = kw.group(1), kw.group(2)
        if name in values or name in wildcards:
            raise fail(f"'{name}' given twice")
        if any(k in values or k in wildcards for k in order[order.index(name) + 1 :]):
            raise fail("write 'ack', 'win' and 'urg' in this order")
        if raw == "*":
            if name == "urg":
                raise fail("'urg *' is not supported")
            wildcards.add(name)
        else:
            values[name] = _int_or_star(raw, 32 if name == "ack" else 16, name, fail)
        rest = rest[kw.end() :].lstrip()

    options: tuple[TcpOptionSpec, ...] | None = None
    options_wildcard = False
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            raise fail("TCP options: missing '>'")
        body = rest[1:close].strip()
        rest = rest[close + 1 :].strip()
        if body == "...":
            options_wildcard = True
        else:
            options = _parse_options(body, fail)
    else:
        options = ()
    if rest:
        if rest.startswith("{"):
            raise fail("unsupported: packet fuzzing '{...}'")
        word = rest.split(None, 1)[0]
        raise fail(f"unexpected {word!r} in a packet line")

    if direction == "<":
        if options_wildcard:
            raise fail("<...> for TCP options can only be used with outbound packets")
        if seq is None or end is None or length is None or wildcards:
            raise fail("'*' wildcards can only be used in outbound packets")
        if "win" not in values:
            raise fail("window must be specified for inbound packets")
    if options is not None:
        size = options_length(options)
        if size > 40:
            raise fail(f"TCP options too long: {size} bytes (at most 40)")
        if size % 4:
            raise fail(f"TCP options are not padded to a multiple of 4 bytes ({size} bytes); "
                       "add nop or eol")
    return PacketSpec(
        direction=direction,
        flags=flags,
        seq=seq,
        end=end,
        length=length,
        ack=values.get("ack"),
        win=values.get("win"),
        urg=values.get("urg"),
        options=options,
        options_wildcard=options_wildcard,
    )


def _int_or_star(raw: str, bits: int, what: str, fail: _Fail) -> int | None:
    if raw == "*":
        return None
    value = int(raw)
    if value >= 1 << bits:
        raise fail(f"{what} {value} out of range (at most {(1 << bits) - 1})")
    return value


def _parse_options(body: str, fail: _Fail) -> tuple[TcpOptionSpec, ...]:
    if not body:
        raise fail("empty TCP option list '<>'")
    result: list[TcpOptionSpec] = []
    for item in body.split(","):
        words = item.split()
        if not words:
            raise fail("empty TCP option in the list")
        name, args = words[0], words[1:]
        if name in ("nop", "eol", "sackOK") and not args:
            result.append(TcpOptionSpec(name))  # type: ignore[arg-type]
        elif name == "mss" and len(args) == 1 and args[0].isdigit():
            result.append(TcpOptionSpec("mss", (_ranged(args[0], 16, "mss", fail),)))
        elif name == "wscale" and len(args) == 1 and args[0].isdigit():
            result.append(TcpOptionSpec("wscale", (_ranged(args[0], 8, "wscale", fail),)))
        elif (
            name == "TS" and len(args) == 4 and args[0] == "val" and args[2] == "ecr"
            and args[1].isdigit() and args[3].isdigit()
        ):
            val = _ranged(args[1], 32, "TS val", fail)
            ecr = _ranged(args[3], 32, "TS ecr", fail)
            result.append(TcpOptionSpec("TS", (val, ecr)))
        elif name == "sack" and args:
            edges: list[int] = []
            for block in args:
                m = re.fullmatch(r"(\d+):(\d+)", block)
                if m is None:
                    raise fail(f"SACK block {block!r}: expected 'left:right'")
                edges += [_ranged(m.group(1), 32, "SACK edge", fail),
                          _ranged(m.group(2), 32, "SACK edge", fail)]
            if len(edges) > 8:
                raise fail("at most 4 SACK blocks fit in the option space")
            result.append(TcpOptionSpec("sack", tuple(edges)))
        elif name in ("nop", "eol", "sackOK", "mss", "wscale", "TS", "sack"):
            raise fail(f"TCP option {item.strip()!r}: bad arguments")
        else:
            raise fail(f"unsupported: TCP option {name!r}")
    return tuple(result)


def _ranged(raw: str, bits: int, what: str, fail: _Fail) -> int:
    value = int(raw)
    if value >= 1 << bits:
        raise fail(f"{what} {value} out of range (at most {(1 << bits) - 1})")
    return value


def options_length(options: tuple[TcpOptionSpec, ...]) -> int:
    """Bytes the options take on the wire (without padding)."""
    return sum(
        2 + 4 * len(o.values) if o.kind == "sack" else _OPTION_SIZE[o.kind]
        for o in options
    )


# ----------------------------------------------------------------------
# System calls
# ----------------------------------------------------------------------


def _parse_syscall(text: str, fail: _Fail) -> Syscall:
    match = _SYSCALL_START.match(text)
    if match is None:
        word = text.split(None, 1)[0]
        raise fail(f"expected a packet ('<' or '>') or a system call, got {word!r}")
    name = match.group(1)
    depth = 0
    close = -1
    for i in range(match.end() - 1, len(text)):
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
            if depth == 0:
                close = i
                break
    if close < 0:
        raise fail(f"{name}(: missing ')'")
    inner = text[match.end() : close]
    args = split_args(inner) if inner.strip() else ()
    result_text = text[close + 1 :].strip()
    res = _RESULT.match(result_text)
    if res is None:
        if not result_text.startswith("="):
            raise fail(f"{name}(): expected '= result' after the call")
        raise fail(f"{name}(): cannot parse the result {result_text[1:].strip()!r}")
    value = int(res.group("value"), 0)
    errno = res.group("errno")
    if errno is not None:
        if errno not in ERRNOS:
            raise fail(f"unknown errno {errno}")
        if value != -1:
            raise fail(f"an errno ({errno}) goes with the result -1, not {value}")
    if name not in SUPPORTED_SYSCALLS:
        raise fail(f"unsupported: system call {name}()")
    if len(args) not in SUPPORTED_SYSCALLS[name]:
        counts = " or ".join(str(n) for n in SUPPORTED_SYSCALLS[name])
        raise fail(f"{name}() takes {counts} arguments, got {len(args)}")
    call = Syscall(name=name, args=args, result=value, errno=errno)
    _check_args(call, fail)
    return call


def split_args(text: str) -> tuple[str, ...]:
    """Split an argument list at the commas outside brackets; strip each argument."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return tuple(parts)


def _check_args(call: Syscall, fail: _Fail) -> None:
    """Reject argument forms drill does not implement (sockaddrs, strings, unknown options)."""
    name, args = call.name, call.args

    def integer(i: int, what: str) -> int:
        try:
            return int_arg(args[i])
        except ValueError:
            raise fail(f"{name}(): {what} must be a number, got {args[i]!r}") from None

    def ellipsis(*indexes: int) -> None:
        for i in indexes:
            if args[i] != "...":
                raise fail(f"unsupported: {name}() argument {args[i]!r} (write '...')")

    def symbols(i: int, allowed: set[str], what: str) -> int:
        for word in args[i].split("|"):
            word = word.strip()
            if word not in allowed and not _is_int(word):
                raise fail(f"unsupported: {what} {word!r} in {name}()")
        return int_arg(args[i])

    if name == "socket":
        if args[0] not in ("...", "AF_INET"):
            raise fail(f"unsupported: socket domain {args[0]!r} (drill runs IPv4 only)")
        symbols(1, {"SOCK_STREAM", "SOCK_NONBLOCK"}, "socket type")
        if "SOCK_STREAM" not in args[1]:
            raise fail("unsupported: socket() of a type other than SOCK_STREAM")
        if args[2] not in ("IPPROTO_TCP", "0"):
            raise fail(f"unsupported: socket protocol {args[2]!r}")
        return
    if name != "poll":
        integer(0, "the file descriptor")
    if name in ("bind", "accept", "connect"):
        ellipsis(1, 2)
    elif name == "listen":
        integer(1, "the backlog")
    elif name in ("read", "write"):
        ellipsis(1)
        if integer(2, "the length") < 0:
            raise fail(f"{name}(): negative length")
    elif name == "shutdown":
        if args[1] not in ("SHUT_RD", "SHUT_WR", "SHUT_RDWR"):
            raise fail(f"unsupported: shutdown() how {args[1]!r}")
    elif name in ("setsockopt", "getsockopt"):
        level, opt = args[1], args[2]
        if opt not in SOCKOPTS:
            raise fail(f"unsupported: socket option {opt}")
        if level not in SOCKOPTS[opt]:
            raise fail(f"{opt} belongs to level {SOCKOPTS[opt][0]}, not {level}")
        if name == "setsockopt" and opt == "SO_ERROR":
            raise fail("SO_ERROR can only be read (getsockopt)")
        _check_optval(name, opt, args[3], fail)
        if name == "setsockopt":
            integer(4, "the option length")
        else:
            try:
                list_arg(args[4])
            except ValueError:
                raise fail(f"getsockopt(): the length must be '[N]', got {args[4]!r}") from None
    elif name == "fcntl":
        if args[1] == "F_GETFL":
            if len(args) != 2:
                raise fail("fcntl(F_GETFL) takes no third argument")
        elif args[1] == "F_SETFL":
            if len(args) != 3:
                raise fail("fcntl(F_SETFL) needs the flags")
            symbols(2, {"O_RDWR", "O_RDONLY", "O_WRONLY", "O_NONBLOCK"}, "file flag")
        else:
            raise fail(f"unsupported: fcntl() command {args[1]!r}")
    elif name == "poll":
        try:
            pollfds_arg(args[0])
        except ValueError as exc:
            raise fail(f"poll(): {exc}") from None
        integer(1, "nfds")
        integer(2, "the timeout")


def _check_optval(name: str, opt: str, raw: str, fail: _Fail) -> None:
    if opt == "SO_LINGER":
        try:
            fields = struct_arg(raw)
        except ValueError:
            fields = {}
        if set(fields) != {"onoff", "linger"}:
            raise fail(f"{name}(SO_LINGER): the value must be '{{onoff=N, linger=N}}', "
                       f"got {raw!r}")
        return
    try:
        items = list_arg(raw)
    except ValueError:
        raise fail(f"{name}({opt}): the value must be '[N]', got {raw!r}") from None
    if len(items) != 1:
        raise fail(f"{name}({opt}): the value must be one number in brackets")
    try:
        int_arg(items[0])
    except ValueError:
        raise fail(f"{name}({opt}): cannot read the value {items[0]!r}") from None


# ----------------------------------------------------------------------
# Argument helpers for the targets
# ----------------------------------------------------------------------


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", text) is not None


def int_arg(text: str) -> int:
    """The value of an integer argument: ``"3"``, ``"0x2"``, ``"O_RDWR|O_NONBLOCK"``,
    ``"ECONNREFUSED"`` (errno names give their number).

    Raises:
        ValueError: not a number, a known symbol or an OR of them.
    """
    value = 0
    for word in text.split("|"):
        word = word.strip()
        if _is_int(word):
            value |= int(word, 0)
        elif word in SYMBOLS:
            value |= SYMBOLS[word]
        elif word in ERRNOS:
            value |= ERRNOS[word]
        else:
            raise ValueError(f"not a number or known symbol: {word!r}")
    return value


def list_arg(text: str) -> tuple[str, ...]:
    """The items of a bracketed argument: ``"[1]"`` -> ``("1",)``.

    Raises:
        ValueError: not in brackets.
    """
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"expected '[...]', got {text!r}")
    inner = text[1:-1].strip()
    return split_args(inner) if inner else ()


def struct_arg(text: str) -> dict[str, str]:
    """The fields of a braced argument: ``"{onoff=1, linger=0}"`` -> ``{"onoff": "1", ...}``.

    Raises:
        ValueError: not ``{name=value, ...}``.
    """
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"expected '{{...}}', got {text!r}")
    fields: dict[str, str] = {}
    for item in split_args(text[1:-1]):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected 'name=value', got {item!r}")
        fields[key.strip()] = value.strip()
    return fields


@dataclass(frozen=True)
class PollFd:
    """One ``{fd=N, events=..., revents=...}`` entry of ``poll()``; ``revents`` 0 when not
    written (as in packetdrill)."""

    fd: int
    events: int
    revents: int


def pollfds_arg(text: str) -> tuple[PollFd, ...]:
    """The entries of poll()'s first argument.

    Raises:
        ValueError: malformed entries or unknown event names.
    """
    result = []
    for item in list_arg(text):
        fields = struct_arg(item)
        unknown = set(fields) - {"fd", "events", "revents"}
        if unknown or "fd" not in fields or "events" not in fields:
            raise ValueError(f"expected '{{fd=N, events=..., revents=...}}', got {item!r}")
        result.append(PollFd(int_arg(fields["fd"]), int_arg(fields["events"]),
                             int_arg(fields.get("revents", "0"))))
    if not result:
        raise ValueError("no pollfd entries")
    return tuple(result)
