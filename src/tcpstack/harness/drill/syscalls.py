"""Parsing a system call line: ``name(args) = result [ERRNO (text)]``.

Arguments are kept as written (see :mod:`~tcpstack.harness.drill.args` for
reading them); the parser checks what packetdrill's own run-time checks
would reject early (the number of arguments, integers where integers go,
the level of a socket option) and names the features drill does not run:

* system calls outside :data:`SYSCALLS` (``vmsplice``, ``sendmmsg``...);
* zero-copy receive (``TCP_ZEROCOPY_RECEIVE``), MD5 (``TCP_MD5SIG``), receive
  timestamps: see :data:`~tcpstack.harness.drill.symbols.UNSUPPORTED_SYMBOLS`;
* symbols a Linux TCP does not have (the FreeBSD suite's ``TCP_NOOPT``...);
* sockets that are not TCP (``SOCK_DGRAM``, ``IPPROTO_UDP``);
* ``msg_control`` other than the control messages ``recvmsg`` returns as an integer,
  a ``struct scm_timestamping`` or a ``struct sock_extended_err`` (the error queue,
  ``MSG_ERRQUEUE``; its level and type may be run_all's ``CMSG_LEVEL_IP`` and
  ``CMSG_TYPE_RECVERR``).

``open``/``sendfile`` and ``pipe``/``splice`` parse; they are optional features
(:mod:`~tcpstack.harness.drill.features`) a target may decline.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .args import (
    RUN_ALL_CMSG_DEFINES,
    cmsgs_arg,
    epoll_events_arg,
    int_arg,
    iovecs_arg,
    is_int,
    list_arg,
    msghdr_arg,
    pipe_arg,
    pollfds_arg,
    split_args,
    struct_arg,
)
from .model import DrillSyntaxError, DrillUnsupported, Syscall
from .symbols import ERRNOS, SYMBOLS, unsupported_construct

__all__ = ["SOCKOPT_LEVELS", "SYSCALLS", "parse_syscall"]

Fail = Callable[[str], DrillSyntaxError]
Unsupported = Callable[[str, str], DrillSyntaxError]

SYSCALLS: dict[str, tuple[int, ...]] = {
    "socket": (3,), "bind": (3,), "listen": (2,), "accept": (3,), "accept4": (4,),
    "connect": (3,), "write": (3,), "read": (3,), "close": (1,), "shutdown": (2,),
    "setsockopt": (5,), "getsockopt": (5,), "fcntl": (2, 3), "poll": (3,),
    "recv": (4,), "send": (4,), "recvfrom": (6,), "sendto": (6,), "recvmsg": (3,),
    "sendmsg": (3,), "readv": (3,), "writev": (3,), "ioctl": (3,),
    "epoll_create": (1,), "epoll_create1": (1,), "epoll_ctl": (4,), "epoll_wait": (4,),
    "getsockname": (3,), "getpeername": (3,),
    "open": (2,), "sendfile": (4,), "pipe": (1,), "splice": (6,),
}
"""System calls drill parses, with the numbers of arguments they take (the targets
implement them)."""

SOCKOPT_LEVELS: dict[str, tuple[str, ...]] = {
    "SO_": ("SOL_SOCKET",),
    "TCP_": ("IPPROTO_TCP", "SOL_TCP"),
    "IP_": ("IPPROTO_IP", "SOL_IP"),
    "IPV6_": ("IPPROTO_IPV6", "SOL_IPV6"),
}
"""The levels a socket option belongs to, by the prefix of its name."""

_UNSUPPORTED_CALLS = {
    "vmsplice": "splice", "sendmmsg": "sendmmsg/recvmmsg", "recvmmsg": "sendmmsg/recvmmsg",
}
"""Calls of features drill does not run, by the construct reported."""

_SYSCALL_START = re.compile(r"([A-Za-z_]\w*)\s*\(")
_RESULT = re.compile(
    r"=\s*(?P<value>-?0x[0-9a-fA-F]+|-?\d+)"
    r"(?:\s+(?P<errno>[A-Z][A-Z0-9_]*))?"
    r"(?:\s*\((?P<note>.*)\))?\s*$"
)
_WORD = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b|\bTCP_CA_\w+")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def parse_syscall(text: str, fail: Fail, unsupported: Unsupported) -> Syscall:
    """Parse the system call part of a line.

    Raises:
        DrillUnsupported: a call or argument drill does not run (see the module).
        DrillSyntaxError: not a valid call line.
    """
    match = _SYSCALL_START.match(text)
    if match is None:
        word = text.split(None, 1)[0]
        raise fail(f"expected a packet ('<' or '>') or a system call, got {word!r}")
    name = match.group(1)
    close = _closing(text, match.end() - 1)
    if close < 0:
        raise fail(f"{name}(: missing ')'")
    inner = text[match.end():close]
    args = split_args(inner) if inner.strip() else ()
    result_text = text[close + 1:].strip()
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
    if name not in SYSCALLS:
        raise unsupported(_UNSUPPORTED_CALLS.get(name, f"system call {name}()"), f"{name}()")
    if len(args) not in SYSCALLS[name]:
        counts = " or ".join(str(n) for n in SYSCALLS[name])
        raise fail(f"{name}() takes {counts} arguments, got {len(args)}")
    try:
        _check_symbols(args, unsupported)
    except DrillUnsupported:
        raise
    except DrillSyntaxError as exc:
        raise fail(f"{name}(): {exc.message}") from None
    call = Syscall(name=name, args=args, result=value, errno=errno)
    _check_args(call, fail, unsupported)
    return call


def _closing(text: str, open_index: int) -> int:
    depth = 0
    quote = False
    for i in range(open_index, len(text)):
        ch = text[i]
        if quote:
            if ch == '"' and text[i - 1] != "\\":
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _check_symbols(args: tuple[str, ...], unsupported: Unsupported) -> None:
    """Every upper-case word must be a Linux symbol drill knows, or name what drill
    does not run; raises a DrillSyntaxError with no place for an unknown one (the
    caller adds the place)."""
    for arg in args:
        for word in _WORD.findall(_STRING.sub('""', arg)):
            construct = unsupported_construct(word)
            if construct is not None:
                raise unsupported(construct, word)
            if word not in SYMBOLS and word not in ERRNOS and (
                word not in RUN_ALL_CMSG_DEFINES["ipv4"]
            ):
                raise DrillSyntaxError("", 0, f"not a number or known symbol: {word!r}")


def _check_args(call: Syscall, fail: Fail, unsupported: Unsupported) -> None:
    """Check the argument forms packetdrill would reject at run time."""
    name, args = call.name, call.args

    def integer(i: int, what: str) -> int:
        try:
            return int_arg(args[i])
        except ValueError:
            raise fail(f"{name}(): {what} must be a number, got {args[i]!r}") from None

    def reader(i: int, read: Callable[[str], object], what: str) -> None:
        if args[i] == "...":
            return
        try:
            read(args[i])
        except ValueError as exc:
            raise fail(f"{name}(): {exc} ({what})") from None

    if name == "socket":
        if args[0] not in ("...", "AF_INET", "AF_INET6", "PF_INET", "PF_INET6"):
            raise unsupported("socket domain", args[0])
        if "SOCK_STREAM" not in args[1] and args[1] != "...":
            raise unsupported("non-TCP sockets", args[1])
        if args[2] not in ("IPPROTO_TCP", "0", "..."):
            raise unsupported("non-TCP sockets", args[2])
        return
    if name == "poll":
        reader(0, pollfds_arg, "the pollfds")
        integer(1, "nfds")
        integer(2, "the timeout")
        return
    if name in ("epoll_create", "epoll_create1"):
        integer(0, "the size" if name == "epoll_create" else "the flags")
        return
    if name in ("open", "pipe"):
        _check_file_call(call, fail)
        return
    integer(0, "the file descriptor")
    if name == "listen":
        integer(1, "the backlog")
    elif name in ("read", "write", "recv", "send", "recvfrom", "sendto"):
        if integer(2, "the length") < 0:
            raise fail(f"{name}(): negative length")
        if name not in ("read", "write"):
            integer(3, "the flags")
    elif name in ("readv", "writev"):
        reader(1, iovecs_arg, "the iovec array")
        integer(2, "the iovec count")
    elif name in ("sendmsg", "recvmsg"):
        reader(1, msghdr_arg, "the msghdr")
        integer(2, "the flags")
        _check_msg_control(call, fail, unsupported)
    elif name in ("sendfile", "splice"):
        _check_file_call(call, fail)
    elif name == "shutdown":
        if args[1] not in ("SHUT_RD", "SHUT_WR", "SHUT_RDWR") and not is_int(args[1]):
            raise fail(f"shutdown(): unknown 'how' {args[1]!r}")
    elif name in ("setsockopt", "getsockopt"):
        _check_sockopt(call, fail)
    elif name == "fcntl":
        command = integer(1, "the command")
        if command in (SYMBOLS["F_SETFL"], SYMBOLS["F_SETFD"]) and len(args) != 3:
            raise fail(f"fcntl({args[1]}) needs the flags")
        if command in (SYMBOLS["F_GETFL"], SYMBOLS["F_GETFD"]) and len(args) != 2:
            raise fail(f"fcntl({args[1]}) takes no third argument")
        if len(args) == 3:
            integer(2, "the argument")
    elif name == "ioctl":
        integer(1, "the request")
    elif name == "epoll_ctl":
        integer(1, "the operation")
        integer(2, "the file descriptor")
        reader(3, epoll_events_arg, "the event")
    elif name == "epoll_wait":
        reader(1, epoll_events_arg, "the events")
        integer(2, "maxevents")
        integer(3, "the timeout")
    elif name == "accept4":
        integer(3, "the flags")


def _check_file_call(call: Syscall, fail: Fail) -> None:
    """open("path", flags), pipe([r, w]), sendfile(out, in, [offset], count),
    splice(in, off_in, out, off_out, len, flags): the forms packetdrill's
    ``syscall_open`` ... ``syscall_splice`` read."""
    name, args = call.name, call.args

    def integer(i: int, what: str) -> None:
        try:
            int_arg(args[i])
        except ValueError:
            raise fail(f"{name}(): {what} must be a number, got {args[i]!r}") from None

    if name == "open":
        if _STRING.fullmatch(args[0]) is None:
            raise fail(f'open(): the path must be a string ("/tmp/file"), got {args[0]!r}')
        integer(1, "the flags")
    elif name == "pipe":
        try:
            pipe_arg(args[0])
        except ValueError:
            raise fail(f"pipe(): expected '[read_fd, write_fd]', got {args[0]!r}") from None
    elif name == "sendfile":
        integer(0, "the output fd")
        integer(1, "the input fd")
        try:
            offset = list_arg(args[2])
        except ValueError:
            offset = ()
        if len(offset) != 1 or not is_int(offset[0]):
            raise fail(f"sendfile(): the offset must be '[N]', got {args[2]!r}")
        integer(3, "the count")
    else:
        for i, what in enumerate(("the input fd", "the input offset", "the output fd",
                                  "the output offset", "the length", "the flags")):
            integer(i, what)


def _check_msg_control(call: Syscall, fail: Fail, unsupported: Unsupported) -> None:
    """A recvmsg's ``msg_control`` lists the control messages expected (compared):
    drill reads those of :func:`~tcpstack.harness.drill.args.cmsgs_arg` and sends none."""
    if call.args[1] == "...":
        return
    control = msghdr_arg(call.args[1]).get("msg_control", "...")
    if control in ("...", "[]"):
        return
    if call.name == "sendmsg":
        raise unsupported("ancillary data (msg_control)", "sendmsg() with msg_control")
    try:
        cmsgs_arg(control)
    except ValueError as exc:
        if "cmsg_data other than" in str(exc):
            raise unsupported("ancillary data (msg_control)", str(exc)) from None
        raise fail(f"{call.name}(): {exc} (msg_control)") from None


def _check_sockopt(call: Syscall, fail: Fail) -> None:
    name, args = call.name, call.args
    level, opt = args[1], args[2]
    if opt in SYMBOLS:
        for prefix, levels in sorted(SOCKOPT_LEVELS.items(), key=lambda kv: -len(kv[0])):
            if opt.startswith(prefix):
                if level not in levels and not is_int(level):
                    raise fail(f"{opt} belongs to level {levels[0]}, not {level}")
                break
    if name == "setsockopt" and opt in ("SO_ERROR", "TCP_INFO"):
        raise fail(f"{opt} can only be read (getsockopt)")
    raw = args[3]
    if opt == "SO_LINGER" and raw != "...":
        try:
            fields = struct_arg(raw)
        except ValueError:
            fields = {}
        if set(fields) != {"onoff", "linger"}:
            raise fail(f"{name}(SO_LINGER): the value must be '{{onoff=N, linger=N}}', "
                       f"got {raw!r}")
    elif raw.startswith("["):
        items = list_arg(raw)
        if len(items) != 1:
            raise fail(f"{name}({opt}): the value must be one number in brackets")
        try:
            int_arg(items[0])
        except ValueError:
            raise fail(f"{name}({opt}): cannot read the value {items[0]!r}") from None
    elif not (raw.startswith('"') or raw.startswith("{")
              or (name == "getsockopt" and raw == "...")):
        raise fail(f"{name}({opt}): the value must be '[N]', a string or a struct, "
                   f"got {raw!r}")
    if name == "setsockopt":
        try:
            int_arg(args[4])
        except ValueError:
            raise fail(f"setsockopt(): the option length must be a number, got "
                       f"{args[4]!r}") from None
    elif args[4] != "..." and not args[4].startswith("["):
        raise fail(f"getsockopt(): the length must be '[N]', got {args[4]!r}")
