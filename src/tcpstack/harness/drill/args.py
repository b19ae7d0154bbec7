"""Reading a system call's raw arguments: helpers for the targets and the runner.

A :class:`~tcpstack.harness.drill.model.Syscall` keeps its arguments as
written (``"3"``, ``"..."``, ``"MSG_PEEK|MSG_DONTWAIT"``, ``"[1]"``,
``"{onoff=1, linger=0}"``, ``"[{iov_base=..., iov_len=1000}]"``). These
functions give their values, with the Linux values of the symbols
(:mod:`~tcpstack.harness.drill.symbols`); each raises ValueError for a form
it does not read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .symbols import ERRNOS, SYMBOLS

__all__ = [
    "EE_FIELDS",
    "RUN_ALL_CMSG_DEFINES",
    "Cmsg",
    "EpollEvent",
    "PollFd",
    "cmsg_defines",
    "cmsgs_arg",
    "epoll_events_arg",
    "int_arg",
    "iovecs_arg",
    "is_int",
    "list_arg",
    "msghdr_arg",
    "pipe_arg",
    "pollfds_arg",
    "split_args",
    "struct_arg",
]

_OPEN = "([{"
_CLOSE = ")]}"


def is_int(text: str) -> bool:
    """True for a decimal or ``0x`` hexadecimal integer, optionally negative."""
    return re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", text) is not None


def split_args(text: str) -> tuple[str, ...]:
    """Split an argument list at the commas outside brackets and strings; strip each.

    ``"3, [{a=1, b=2}], \\"x,y\\""`` -> ``("3", "[{a=1, b=2}]", "\\"x,y\\"")``.
    """
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    quote = False
    escaped = False
    for ch in text:
        if quote:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return tuple(parts)


def int_arg(text: str) -> int:
    """The value of an integer argument: ``"3"``, ``"0x2"``, ``"O_RDWR|O_NONBLOCK"``,
    ``"ECONNREFUSED"`` (errno names give their number), ``"htons(8080)"``.

    Raises:
        ValueError: not a number, a known symbol or an OR of them.
    """
    value = 0
    for word in text.split("|"):
        word = word.strip()
        htons = re.fullmatch(r"htons\s*\(\s*(\w+)\s*\)", word)
        if htons:
            word = htons.group(1)
        if is_int(word):
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

    A field written with a size, ``msg_iov(1)=[...]`` or ``msg_name(...)=...``, is
    keyed by its name alone (``"msg_iov"``).

    Raises:
        ValueError: not ``{name=value, ...}``.
    """
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"expected '{{...}}', got {text!r}")
    fields: dict[str, str] = {}
    inner = text[1:-1].strip()
    if not inner:
        return fields
    for item in split_args(inner):
        key, sep, value = item.partition("=")
        key = re.sub(r"\([^()]*\)$", "", key.strip())
        if not sep or not key or not value.strip():
            raise ValueError(f"expected 'name=value', got {item!r}")
        fields[key] = value.strip()
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


def iovecs_arg(text: str) -> tuple[int, ...]:
    """The lengths (bytes) of an iovec array: ``"[{iov_base=..., iov_len=1000}]"``
    (or ``"[{..., 1000}]"``) -> ``(1000,)``. The contents (``iov_base``) are not
    data drill sends: payloads are zeros.

    Raises:
        ValueError: not a list of ``{iov_base=..., iov_len=N}``.
    """
    lengths = []
    for item in list_arg(text):
        parts = split_args(item.strip()[1:-1]) if item.strip().startswith("{") else ()
        if len(parts) == 2 and "=" not in parts[0] + parts[1]:  # {..., 1000}
            lengths.append(int_arg(parts[1]))
            continue
        fields = struct_arg(item)
        if "iov_len" not in fields or set(fields) - {"iov_base", "iov_len"}:
            raise ValueError(f"expected '{{iov_base=..., iov_len=N}}', got {item!r}")
        lengths.append(int_arg(fields["iov_len"]))
    return tuple(lengths)


def msghdr_arg(text: str) -> dict[str, str]:
    """The fields of a ``struct msghdr`` argument (sendmsg/recvmsg), as raw strings:
    ``"{msg_name(...)=..., msg_iov(1)=[{iov_base=..., iov_len=1000}], msg_flags=0}"`` ->
    ``{"msg_name": "...", "msg_iov": "[...]", "msg_flags": "0"}``; read ``msg_iov``
    with :func:`iovecs_arg` and ``msg_flags`` with :func:`int_arg`.

    Raises:
        ValueError: not a braced list of fields, or without ``msg_iov``.
    """
    fields = struct_arg(text)
    if "msg_iov" not in fields:
        raise ValueError(f"a msghdr needs msg_iov, got {text!r}")
    iovecs_arg(fields["msg_iov"])
    return fields


@dataclass(frozen=True)
class EpollEvent:
    """An ``{events=EPOLLIN, u64=N}`` (or ``ptr=``/``fd=``/``u32=``) struct epoll_event."""

    events: int
    data: int


def epoll_events_arg(text: str) -> tuple[EpollEvent, ...]:
    """The events of epoll_ctl()'s fourth argument (one struct, braced) or
    epoll_wait()'s second (a bracketed list of them).

    Raises:
        ValueError: malformed entries.
    """
    text = text.strip()
    items = list_arg(text) if text.startswith("[") else (text,)
    result = []
    for item in items:
        fields = struct_arg(item)
        data_keys = set(fields) - {"events"}
        if "events" not in fields or len(data_keys) > 1 or data_keys - {"u64", "u32", "ptr",
                                                                          "fd"}:
            raise ValueError(f"expected '{{events=..., u64=N}}', got {item!r}")
        data = int_arg(fields[data_keys.pop()]) if data_keys else 0
        result.append(EpollEvent(int_arg(fields["events"]), data))
    return tuple(result)


EE_FIELDS = ("ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data")
"""The fields of a ``struct sock_extended_err`` (``<linux/errqueue.h>``) a script writes
as a ``cmsg_data``, in their order: errno (u32), origin, type, code (u8 each), info
and data (u32 each)."""

RUN_ALL_CMSG_DEFINES: dict[str, dict[str, str]] = {
    "ipv4": {"CMSG_LEVEL_IP": "SOL_IP", "CMSG_TYPE_RECVERR": "IP_RECVERR"},
    "ipv6": {"CMSG_LEVEL_IP": "SOL_IPV6", "CMSG_TYPE_RECVERR": "IPV6_RECVERR"},
}
"""The control message names packetdrill's ``run_all.py`` defines with ``-D`` for
each ``--ip_version`` (``ipv4``; ``ipv6`` also for ``ipv4-mapped-ipv6``, whose sockets
are AF_INET6): the level and type of the error-queue message."""


def cmsg_defines(ip_version: str, defined: Mapping[str, str]) -> dict[str, str]:
    """The names ``cmsgs_arg`` resolves: run_all's for ``ip_version``
    (:data:`RUN_ALL_CMSG_DEFINES`), overridden by ``defined`` (the script's
    ``--define`` and drill's ``-D``)."""
    key = "ipv4" if ip_version in ("", "ipv4") else "ipv6"
    return {**RUN_ALL_CMSG_DEFINES[key], **defined}


@dataclass(frozen=True)
class Cmsg:
    """One control message of a msghdr's ``msg_control``, as recvmsg expects it.

    ``level``, ``type``: numbers. The data is one of: ``data``, a C ``int``
    (``{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=9000}``);
    ``timestamp``, ``(sec, nsec)`` of the first timespec of a ``struct
    scm_timestamping`` (``cmsg_data={scm_sec=0,scm_nsec=20000000}``): a time since
    the script's start, ``(0, 0)`` for "not compared", as in packetdrill; or
    ``extended_err``, the :data:`EE_FIELDS` values of a ``struct sock_extended_err``
    (``cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ...}``).
    """

    level: int
    type: int
    data: int | None = None
    timestamp: tuple[int, int] | None = None
    extended_err: tuple[int, ...] | None = None

    @property
    def size(self) -> int:
        """The bytes of its data as Linux lays it out (x86-64): an int 4, a ``struct
        scm_timestamping`` 48 (three timespecs), a ``struct sock_extended_err`` 16 plus
        the offender's address (``sockaddr_in`` 16 at level SOL_IP, else
        ``sockaddr_in6`` 28), as ``ip_recv_error``/``ipv6_recv_error`` append it."""
        if self.timestamp is not None:
            return 48
        if self.extended_err is not None:
            return 16 + (16 if self.level == SYMBOLS["SOL_IP"] else 28)
        return 4


def _defined_int(text: str, defined: Mapping[str, str]) -> int:
    """:func:`int_arg` after replacing each word that ``defined`` names."""
    return int_arg("|".join(defined.get(w.strip(), w.strip()) for w in text.split("|")))


def cmsgs_arg(text: str, defined: Mapping[str, str] | None = None) -> tuple[Cmsg, ...]:
    """The control messages of ``msg_control=[...]`` (packetdrill's ``cmsg_new``):
    each ``{cmsg_level=..., cmsg_type=..., cmsg_data=...}`` whose data is one integer,
    ``{scm_sec=S, scm_nsec=N}`` or ``{ee_errno=..., ee_origin=..., ee_type=...,
    ee_code=..., ee_info=..., ee_data=...}`` (see :class:`Cmsg`). Names in ``defined``
    (``CMSG_LEVEL_IP``, see :func:`cmsg_defines`; None: run_all's for IPv4) stand for
    their value.

    Raises:
        ValueError: not a list of such entries, or data of another form ("cmsg_data
            other than ...": packetdrill's statistics lists).
    """
    if defined is None:
        defined = RUN_ALL_CMSG_DEFINES["ipv4"]
    result = []
    for item in list_arg(text):
        fields = struct_arg(item)
        if set(fields) != {"cmsg_level", "cmsg_type", "cmsg_data"}:
            raise ValueError(f"expected '{{cmsg_level=..., cmsg_type=..., cmsg_data=N}}', "
                             f"got {item!r}")
        level = _defined_int(fields["cmsg_level"], defined)
        kind = _defined_int(fields["cmsg_type"], defined)
        raw = fields["cmsg_data"]
        if not raw.startswith(("{", "[")):
            result.append(Cmsg(level, kind, data=_defined_int(raw, defined)))
            continue
        data = struct_arg(raw) if raw.startswith("{") else {}
        if list(data) == ["scm_sec", "scm_nsec"]:
            sec, nsec = (_defined_int(data[k], defined) for k in ("scm_sec", "scm_nsec"))
            if sec < 0 or not 0 <= nsec < 10**9:
                raise ValueError(f"a timestamp needs scm_sec >= 0 and 0 <= scm_nsec < 1e9, "
                                 f"got {raw!r}")
            result.append(Cmsg(level, kind, timestamp=(sec, nsec)))
        elif list(data) == list(EE_FIELDS):
            values = tuple(_defined_int(data[k], defined) for k in EE_FIELDS)
            result.append(Cmsg(level, kind, extended_err=values))
        elif data and set(data) <= {"scm_sec", "scm_nsec", *EE_FIELDS}:
            raise ValueError(f"expected {{scm_sec=S, scm_nsec=N}} or the fields "
                             f"{', '.join(EE_FIELDS)} in this order, got {raw!r}")
        else:
            raise ValueError(f"cmsg_data other than an integer, a timestamp or an "
                             f"extended error: {raw!r}")
    return tuple(result)


def pipe_arg(text: str) -> tuple[int, int]:
    """The two descriptors of ``pipe([5, 6])``: (read end, write end).

    Raises:
        ValueError: not two integers in brackets.
    """
    items = list_arg(text)
    if len(items) != 2:
        raise ValueError(f"expected '[read_fd, write_fd]', got {text!r}")
    return int_arg(items[0]), int_arg(items[1])
