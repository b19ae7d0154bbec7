"""Script system calls turned into requests for the Linux target's agent.

:func:`build_request` reads a :class:`~tcpstack.harness.drill.model.Syscall`'s
raw arguments as packetdrill writes them, with the parser's helpers
(:func:`~tcpstack.harness.drill.parse.int_arg`, ``list_arg``, ``struct_arg``,
``pollfds_arg``, with the Linux values of its ``SYMBOLS``); ``msghdr`` and
``iovec`` arguments are read with
:func:`~tcpstack.harness.drill.args.msghdr_arg` and ``iovecs_arg``: only
the lengths matter (the data is not compared, as in packetdrill).

Addresses: ``bind`` always names the side under test, ``connect`` (and
``sendto``'s address) the script's peer, with the ports and the address
family of :class:`Endpoints` (packetdrill's ``--ip_version``,
``--bind_port``, ``--connect_port``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from ..args import EE_FIELDS, cmsg_defines, cmsgs_arg, iovecs_arg, msghdr_arg
from ..fastopen import defines
from ..model import DrillError, Syscall
from ..parse import int_arg, list_arg, pollfds_arg, struct_arg
from ..target import LOCAL_ADDRESS, LOCAL_ADDRESS6, LOCAL_PORT, REMOTE_ADDRESS, REMOTE_ADDRESS6

__all__ = [
    "LOCAL_ADDRESS6",
    "REMOTE_ADDRESS6",
    "Endpoints",
    "build_request",
    "fastopen_key",
]


_STRING_OPTS = {"TCP_CONGESTION", "TCP_ULP"}
"""Socket options whose value is a string (``"reno"``)."""


@dataclass(frozen=True)
class Endpoints:
    """Where ``bind`` and ``connect`` point, from the script's options.

    ``family``: the socket family ``socket(..., ...)`` means (AF_INET, or
    AF_INET6 for ``ipv6`` and ``ipv4-mapped-ipv6``); ``local``/``remote``:
    addresses for an AF_INET socket; ``local6``/``remote6``: for an AF_INET6
    socket (IPv4-mapped ``::ffff:a.b.c.d`` when the wire is IPv4);
    ``bind_port``, ``connect_port``: packetdrill's ``--bind_port`` and
    ``--connect_port`` (default 8080).
    """

    family: int = socket.AF_INET
    local: str = LOCAL_ADDRESS
    remote: str = REMOTE_ADDRESS
    local6: str = "::ffff:" + LOCAL_ADDRESS
    remote6: str = "::ffff:" + REMOTE_ADDRESS
    bind_port: int = LOCAL_PORT
    connect_port: int = LOCAL_PORT
    cmsg_names: tuple[tuple[str, str], ...] = tuple(cmsg_defines("ipv4", {}).items())

    @property
    def wire_ipv6(self) -> bool:
        """True when the packets are IPv6 (``--ip_version=ipv6``)."""
        return self.local6 == LOCAL_ADDRESS6

    @classmethod
    def from_options(cls, options: dict[str, str]) -> Endpoints:
        """Read ``ip_version``, ``bind_port`` and ``connect_port``.

        Raises:
            DrillError: an unknown ip_version or a port out of range.
        """
        version = options.get("ip_version", "ipv4")
        ports = {}
        for key in ("bind_port", "connect_port"):
            raw = options.get(key, str(LOCAL_PORT))
            try:
                port = int(raw, 0)
            except ValueError:
                raise DrillError(f"--{key}={raw}: not a number") from None
            if not 0 < port < 65536:
                raise DrillError(f"--{key}={raw}: not a port")
            ports[key] = port
        bind_port, connect_port = ports["bind_port"], ports["connect_port"]
        names = tuple(cmsg_defines(version, defines(options)).items())
        if version == "ipv4":
            return cls(bind_port=bind_port, connect_port=connect_port, cmsg_names=names)
        if version == "ipv4-mapped-ipv6":
            return cls(family=socket.AF_INET6, bind_port=bind_port, connect_port=connect_port,
                       cmsg_names=names)
        if version == "ipv6":
            return cls(family=socket.AF_INET6, local6=LOCAL_ADDRESS6, remote6=REMOTE_ADDRESS6,
                       bind_port=bind_port, connect_port=connect_port, cmsg_names=names)
        raise DrillError(f"--ip_version={version}: expected ipv4, ipv6 or ipv4-mapped-ipv6")


DEFAULT_ENDPOINTS = Endpoints()


def _bad(call: Syscall, message: str) -> DrillError:
    return DrillError(f"{call.name}(): {message}")


def _arg(call: Syscall, index: int, what: str) -> str:
    try:
        return call.args[index]
    except IndexError:
        raise _bad(call, f"missing argument {index + 1} ({what})") from None


def _int(call: Syscall, index: int, what: str) -> int:
    raw = _arg(call, index, what)
    try:
        return int_arg(raw)
    except ValueError as exc:
        raise _bad(call, f"{what}: {exc}") from None


def _is_wild(text: str) -> bool:
    return text.strip() in ("...", "")


def build_request(
    call: Syscall, endpoints: Endpoints = DEFAULT_ENDPOINTS
) -> tuple[dict[str, Any], str | None]:
    """The agent request for ``call``, and the kind of its out-parameters.

    The kind says how the agent's ``out`` becomes ``SyscallResult.outputs``
    (see :func:`outputs`): ``"optval"`` (getsockopt, ioctl: ``{"optval": N}``,
    an errno number for SO_ERROR), ``"linger"`` (``{"onoff": N, "linger": N}``),
    ``"poll"`` (``{"revents[i]": N}``), ``"epoll"`` (``{"events[i]": N,
    "fd[i]": N}`` or ``"ptr[i]"``), ``"msg"`` (recvmsg: ``{"msg_flags": N}``;
    with ``msg_control`` also ``"cmsg_count"``, ``"cmsg_level[i]"``,
    ``"cmsg_type[i]"``, ``"cmsg_len[i]"`` and ``"cmsg_data[i]"``, ``"cmsg_ts[i]"`` or
    ``"ee_errno[i]"``...: see :func:`outputs`), ``"pipe"`` (``{"fds[0]": N,
    "fds[1]": N}``) or None.

    Raises:
        DrillError: an unsupported call or argument.
    """
    name = call.name
    req: dict[str, Any] = {"op": "call", "call": name}
    kind: str | None = None
    handler = _BUILDERS.get(name)
    if handler is None:
        raise DrillError(f"the linux target does not support {name}()")
    kind = handler(call, req, endpoints)
    return req, kind


def _socket(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    if len(call.args) != 3:
        raise _bad(call, "expected socket(domain, type, protocol)")
    family = ep.family if _is_wild(call.args[0]) else _int(call, 0, "domain")
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise _bad(call, "the linux target supports AF_INET and AF_INET6 only")
    stype = _int(call, 1, "type")
    if stype & 0xF != socket.SOCK_STREAM:
        raise _bad(call, "the linux target supports SOCK_STREAM only")
    proto = 0 if _is_wild(call.args[2]) else _int(call, 2, "protocol")
    req.update(family=int(family), type=stype, proto=proto)
    return None


def _address(req: dict[str, Any], ep: Endpoints, remote: bool) -> None:
    if remote:
        req.update(host=ep.remote, host6=ep.remote6, port=ep.connect_port)
    else:
        req.update(host=ep.local, host6=ep.local6, port=ep.bind_port)


def _bind_connect(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req["fd"] = _int(call, 0, "fd")
    _address(req, ep, remote=call.name == "connect")
    return None


def _fd_only(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req["fd"] = _int(call, 0, "fd")
    return None


def _listen(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(fd=_int(call, 0, "fd"), backlog=_int(call, 1, "backlog"))
    return None


def _read_write(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(fd=_int(call, 0, "fd"), count=_int(call, 2, "count"))
    _null_buffer(call, req)
    return None


def _send_recv(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    flags = _int(call, 3, "flags")
    req.update(fd=_int(call, 0, "fd"), count=_int(call, 2, "count"), flags=flags)
    req["call"] = "send" if call.name in ("send", "sendto") else "recv"
    _null_buffer(call, req)
    if call.name == "sendto":
        _sendto_address(call, req, ep)
    return None


def _null_buffer(call: Syscall, req: dict[str, Any]) -> None:
    """A buffer written ``NULL`` (read, write, send, recv...): the agent passes a null
    pointer, so that the kernel answers as it does (EFAULT when it copies)."""
    if call.args[1].strip() == "NULL":
        req["null"] = True


def _sendto_address(call: Syscall, req: dict[str, Any], ep: Endpoints) -> None:
    """sendto() as packetdrill makes it: to the script's peer when the address is
    ``...`` (what TCP Fast Open's ``sendto(fd, ..., n, MSG_FASTOPEN, ..., ...)``
    connects to), or to an address of only a family (``AF_UNSPEC``) when one is
    written."""
    req["call"] = "sendto"
    if len(call.args) > 4 and not _is_wild(call.args[4]):
        req["family_only"] = _int(call, 4, "address family")
    else:
        _address(req, ep, remote=True)


def _vector(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    try:
        lengths = list(iovecs_arg(_arg(call, 1, "iov")))
    except ValueError as exc:
        raise _bad(call, f"iov: {exc}") from None
    if len(call.args) > 2:
        count = _int(call, 2, "iovcnt")
        lengths = lengths[:count]
    req.update(fd=_int(call, 0, "fd"), lengths=lengths)
    return None


def _msg(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    try:
        fields = msghdr_arg(_arg(call, 1, "msg"))
        lengths = list(iovecs_arg(fields["msg_iov"]))
    except ValueError as exc:
        raise _bad(call, f"msg: {exc}") from None
    flags = _int(call, 2, "flags")
    req.update(fd=_int(call, 0, "fd"), lengths=lengths, flags=flags)
    _msg_control(call, fields, req, ep)
    if call.name == "sendmsg" and "msg_name" in fields:  # packetdrill: the script's peer
        _address(req, ep, remote=True)
    return "msg" if call.name == "recvmsg" else None


def _msg_control(call: Syscall, fields: dict[str, str], req: dict[str, Any],
                 ep: Endpoints) -> None:
    """recvmsg's ``msg_control``: room for the control messages the script expects
    (packetdrill passes a buffer of exactly their size: ``"cmsg_room"`` bytes); the
    agent reports what the kernel put there (see :func:`outputs`)."""
    control = fields.get("msg_control", "").strip()
    if control in ("", "[]", "..."):
        return
    if call.name != "recvmsg":
        raise _bad(call, "msg_control with ancillary data is only read (recvmsg)")
    try:
        cmsgs = cmsgs_arg(control, dict(ep.cmsg_names))
        req["cmsgs"] = len(cmsgs)
        req["cmsg_room"] = sum(socket.CMSG_SPACE(c.size) for c in cmsgs)
    except ValueError as exc:
        raise _bad(call, f"msg_control: {exc}") from None


def _open(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(path=_arg(call, 0, "path").strip().strip('"'), flags=_int(call, 1, "flags"))
    return None


def _pipe(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    return "pipe"


def _sendfile(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    try:
        offset = int_arg(list_arg(_arg(call, 2, "offset"))[0])
    except (IndexError, ValueError) as exc:
        raise _bad(call, f"offset: {exc}") from None
    req.update(fd=_int(call, 0, "out_fd"), in_fd=_int(call, 1, "in_fd"), offset=offset,
               count=_int(call, 3, "count"))
    return None


def _splice(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    if _int(call, 1, "off_in") or _int(call, 3, "off_out"):
        raise _bad(call, "offsets other than NULL are not supported")
    req.update(fd=_int(call, 0, "fd_in"), out_fd=_int(call, 2, "fd_out"),
               count=_int(call, 4, "len"), flags=_int(call, 5, "flags"))
    return None


def _ioctl(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(fd=_int(call, 0, "fd"), request=_int(call, 1, "request"))
    return "optval"


def _epoll_create(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req["flags"] = _int(call, 0, "flags") if call.name == "epoll_create1" else 0
    return None


def _epoll_event(call: Syscall, text: str) -> tuple[int, str, int]:
    try:
        fields = struct_arg(text)
        events = int_arg(fields.get("events", "0"))
        for key in ("fd", "ptr", "u32", "u64"):
            if key in fields:
                return events, key, int_arg(fields[key])
    except ValueError as exc:
        raise _bad(call, f"epoll_event: {exc}") from None
    return events, "fd", -1


def _epoll_ctl(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    events, key, data = (0, "fd", -1)
    if len(call.args) > 3 and not _is_wild(call.args[3]):
        events, key, data = _epoll_event(call, call.args[3])
    target_fd = _int(call, 2, "fd")
    req.update(epfd=_int(call, 0, "epfd"), ctl=_int(call, 1, "op"), fd=target_fd,
               events=events, key=key, data=target_fd if data == -1 else data)
    return None


def _epoll_wait(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(epfd=_int(call, 0, "epfd"), maxevents=_int(call, 2, "maxevents"),
               timeout=_int(call, 3, "timeout"))
    return "epoll"


def _fcntl(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    req.update(fd=_int(call, 0, "fd"), cmd=_int(call, 1, "cmd"))
    if len(call.args) > 2 and not _is_wild(call.args[2]):
        req["arg"] = _int(call, 2, "arg")
    return None


def _poll(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    try:
        entries = pollfds_arg(call.args[0]) if call.args else ()
    except ValueError as exc:
        raise _bad(call, str(exc)) from None
    timeout = _int(call, 2, "timeout") if len(call.args) > 2 else 0
    req.update(fds=[[e.fd, e.events] for e in entries], timeout=timeout)
    return "poll"


def _sockopt(call: Syscall, req: dict[str, Any], ep: Endpoints) -> str | None:
    if len(call.args) < 4:
        raise _bad(call, "expected (fd, level, optname, optval, optlen)")
    optname = call.args[2].strip()
    linger = optname == "SO_LINGER"
    kind = "linger" if linger else "str" if optname in _STRING_OPTS else "int"
    raw = call.args[3].strip()
    if kind == "int" and raw.startswith('"') and call.name == "setsockopt":
        kind = "bytes"  # TCP_FASTOPEN_KEY: "\xf7\x63..." and its length
    req.update(fd=_int(call, 0, "fd"), level=_int(call, 1, "level"),
               opt=_int(call, 2, "optname"), kind=kind)
    if call.name == "getsockopt":
        return None if kind == "str" else "linger" if linger else "optval"
    try:
        if linger:
            fields = struct_arg(raw)
            req["value"] = [int_arg(fields["onoff"]), int_arg(fields["linger"])]
        elif kind == "str":
            req["value"] = raw.strip('"')
        elif kind == "bytes":
            req["value"] = list(_c_string(raw, _int(call, 4, "optlen")))
        else:
            items = list_arg(raw) if raw.startswith("[") else (raw,)
            if len(items) != 1:
                raise ValueError(f"expected one value in brackets, got {raw!r}")
            req["value"] = int_arg(items[0])
    except (KeyError, ValueError) as exc:
        raise _bad(call, f"option value: {exc}") from None
    return None


def _c_string(raw: str, length: int) -> bytes:
    """A C string literal as packetdrill passes it: its bytes (escapes such as
    ``\xf7`` and ``\0`` decoded), cut or padded with zeros to ``length`` (the
    optlen argument).

    Raises:
        ValueError: not a quoted string, or a bad escape.
    """
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        raise ValueError(f"expected a quoted string, got {raw!r}")
    try:
        data = raw[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1")
    except UnicodeError as exc:
        raise ValueError(f"bad string {raw}: {exc}") from None
    if not 0 <= length <= 1 << 16:
        raise ValueError(f"optlen {length} out of range")
    return data[:length].ljust(length, b"\0")


def fastopen_key(call: Syscall) -> tuple[bytes, ...]:
    """The keys a ``setsockopt(fd, SOL_TCP, TCP_FASTOPEN_KEY, "...", 16)`` sets: the
    primary key (16 bytes), then the backup key when 32 bytes are given; ``()`` for
    another call or a length the kernel refuses."""
    if call.name != "setsockopt" or len(call.args) < 5 or (
        call.args[2].strip() != "TCP_FASTOPEN_KEY"
    ):
        return ()
    try:
        key = _c_string(call.args[3].strip(), int_arg(call.args[4]))
    except ValueError:
        return ()
    return (key[:16], key[16:]) if len(key) == 32 else (key,) if len(key) == 16 else ()


_BUILDERS = {
    "socket": _socket,
    "bind": _bind_connect,
    "connect": _bind_connect,
    "listen": _listen,
    "accept": _fd_only,
    "close": _fd_only,
    "getsockname": _fd_only,
    "getpeername": _fd_only,
    "read": _read_write,
    "write": _read_write,
    "send": _send_recv,
    "sendto": _send_recv,
    "recv": _send_recv,
    "recvfrom": _send_recv,
    "readv": _vector,
    "writev": _vector,
    "sendmsg": _msg,
    "recvmsg": _msg,
    "ioctl": _ioctl,
    "epoll_create": _epoll_create,
    "epoll_create1": _epoll_create,
    "epoll_ctl": _epoll_ctl,
    "epoll_wait": _epoll_wait,
    "shutdown": lambda c, r, e: _shutdown(c, r),
    "setsockopt": _sockopt,
    "getsockopt": _sockopt,
    "fcntl": _fcntl,
    "poll": _poll,
    "open": _open,
    "pipe": _pipe,
    "sendfile": _sendfile,
    "splice": _splice,
}


def _shutdown(call: Syscall, req: dict[str, Any]) -> str | None:
    req.update(fd=_int(call, 0, "fd"), how=_int(call, 1, "how"))
    return None


def outputs(kind: str | None, out: Any, t0: float = 0.0) -> dict[str, int]:
    """``SyscallResult.outputs`` from the agent's ``out`` for a request of ``kind``;
    ``t0``: the monotonic time of the script's start (timestamps are reported in
    microseconds since then)."""
    if kind is None or out is None:
        return {}
    if kind == "linger":
        return {"onoff": int(out[0]), "linger": int(out[1])}
    if kind == "poll":
        return {f"revents[{i}]": int(r) for i, r in enumerate(out)}
    if kind == "epoll":
        result: dict[str, int] = {}
        for i, (events, key, data) in enumerate(out):
            result[f"events[{i}]"] = int(events)
            result[f"{key}[{i}]"] = int(data)
        return result
    if kind == "msg":
        if isinstance(out, int):
            return {"msg_flags": out}
        flags, cmsgs = out
        result = {"msg_flags": int(flags), "cmsg_count": len(cmsgs)}
        for i, (level, ctype, length, data) in enumerate(cmsgs):
            result |= {f"cmsg_level[{i}]": int(level), f"cmsg_type[{i}]": int(ctype),
                       f"cmsg_len[{i}]": int(length)}
            result |= _cmsg_outputs(i, data, t0)
        return result
    if kind == "pipe":
        return {"fds[0]": int(out[0]), "fds[1]": int(out[1])}
    return {"optval": int(out)}


def _cmsg_outputs(i: int, data: Any, t0: float) -> dict[str, int]:
    """The outputs of the ``i``-th control message the agent decoded: ``{"ts": t}`` (a
    software timestamp, monotonic seconds) -> ``cmsg_ts[i]`` (microseconds since
    ``t0``); ``{"ee": [...]}`` -> ``ee_errno[i]``... (:data:`EE_FIELDS`); an int ->
    ``cmsg_data[i]``."""
    if isinstance(data, dict) and "ts" in data:
        return {f"cmsg_ts[{i}]": round((float(data["ts"]) - t0) * 1e6)}
    if isinstance(data, dict) and "ee" in data:
        return {f"{name}[{i}]": int(v) for name, v in zip(EE_FIELDS, data["ee"], strict=True)}
    return {f"cmsg_data[{i}]": int(data)}
