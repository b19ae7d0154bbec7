"""The agent of the Linux drill target: runs *inside* the target's network namespace.

:class:`tcpstack.harness.drill.targets.linux.LinuxTarget` starts it as::

    ip netns exec NS python -m tcpstack.harness.drill.targets.linux_agent --fd N

where ``N`` is one end of an ``AF_UNIX`` stream socket pair inherited from
the parent. The agent configures the namespace (sysctls, the TUN device,
the route to the peer, the qdisc), hands the TUN file descriptor to the
parent (``SCM_RIGHTS``), and then owns the kernel sockets of the script:
each system call runs in its own thread, so a blocking call really blocks
while later ones proceed. It exits when asked to (``quit``) or when the
parent goes away (end of file on the socket).

The protocol: JSON Lines in both directions, one object per line.

Parent to agent:

* ``{"id": 0, "op": "setup", "ifname": "tun0", "address": "192.0.2.1/24",
  "routes": ["198.51.100.0/24"], "mtu": 1500, "offload": true,
  "address6": "2001:db8::1/64" | null, "routes6": [...],
  "sysctls": [[name, value, required], ...]}``: the first request. The
  answer ``{"id": 0, "ok": true, "sysctls": {name: value read back, or
  null when the kernel lacks it}}`` carries the TUN fd as ancillary data;
  on failure ``{"id": 0, "ok": false, "error": "..."}`` and the agent exits.
* ``{"id": n, "op": "call", "call": NAME, ...}``: a system call with its
  arguments already parsed (see ``_Agent._call_*``); script fds (3, 4, ...)
  are mapped to real sockets here. Answer ``{"id": n, "value": int,
  "errno": "EAGAIN" | null, "t": time.monotonic() when it returned,
  "out": extra result or null}``.
* ``{"id": n, "op": "tcp_info", "fd": N}``: ``getsockopt(TCP_INFO)`` of script fd
  N, answered ``{"id": n, "info": {"tcpi_state": 1, ...}}`` (or ``"errno"``).
* ``{"id": n, "op": "shell", "command": "...", "cwd": "...", "timeout": s}``:
  ``/bin/sh -c command`` in directory cwd, inside the namespace, answered
  ``{"id": n, "status": int, "output": "stdout and stderr"}`` (see
  :func:`run_shell`).
* ``{"id": n, "op": "quit"}``: close every socket and the device, answer
  ``{"id": n, "ok": true}``, exit.

A request the agent cannot understand is answered ``{"id": n, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .linux_device import DeviceConfig, make_device
from .linux_tcpinfo import TCP_INFO, TCP_INFO_BUFFER, decode_tcp_info

__all__ = ["PROC_SYS_READ_ONLY", "main", "run_shell"]

SHELL_OUTPUT_LIMIT = 64 * 1024
"""Bytes of a shell command's output kept."""

PROC_SYS_READ_ONLY = (
    "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && "
    "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"
)
"""Run once by the agent in its own mount namespace (``ip netns exec`` makes one, a
slave of the host's): ``/proc/sys`` read-only except ``/proc/sys/net``, whose
entries are those of the target's network namespace. A script's shell command can
then change the namespace's ``net.*`` settings but no host-wide one (``kernel.*``,
``vm.*``...). The host-wide ``net.*`` entries (``net.ipv4.tcp_mem``,
``tcp_max_orphans``, ``net.core.default_qdisc``...) do not exist in a child
namespace, and ``net.core.rmem_max``/``wmem_max`` are read-only there."""

HOST_WIDE_HINT = (
    "drill: {key} is a host-wide setting, not one of the network namespace's; "
    "the linux target does not change it"
)

_LINGER = struct.Struct("ii")
_INT = struct.Struct("i")


class _FileFd:
    """A file or pipe end of the script (``open``, ``pipe``): an OS descriptor that
    the fd table holds like a socket."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


_LIBC = ctypes.CDLL(None, use_errno=True)


def _null_buffer_call(name: str, fd: int, count: int, flags: int | None = None) -> int:
    """``read``/``write``/``send``/``recv`` of ``count`` bytes with a NULL buffer, as a
    script writes ``write(4, NULL, 1000)``: the kernel's answer (EFAULT when it copies).

    Raises:
        OSError: the call failed (errno as the kernel set it).
    """
    func = getattr(_LIBC, name)
    func.restype = ctypes.c_ssize_t
    args: list[Any] = [ctypes.c_int(fd), ctypes.c_void_p(None), ctypes.c_size_t(count)]
    if flags is not None:
        args.append(ctypes.c_int(flags))
    result = int(func(*args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


_SCM_TIMESTAMPING = 37  # SO_TIMESTAMPING
_RECVERR = {(socket.SOL_IP, 11), (41, 25)}  # (SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)
_TIMESPEC = struct.Struct("=qq")
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err


def _cmsg_data(level: int, ctype: int, data: bytes) -> Any:
    """The data of a control message as packetdrill compares it: for
    ``SCM_TIMESTAMPING`` ``{"ts": t}``, its software timestamp (the first timespec,
    ``CLOCK_REALTIME``) as ``time.monotonic()`` seconds; for ``IP_RECVERR`` /
    ``IPV6_RECVERR`` ``{"ee": [errno, origin, type, code, info, data]}`` of its
    ``struct sock_extended_err``; else the C ``int`` (-1 when it is not 4 bytes long,
    which matches no integer a script writes for it)."""
    if level == socket.SOL_SOCKET and ctype == _SCM_TIMESTAMPING and len(data) >= 16:
        sec, nsec = _TIMESPEC.unpack_from(data)
        return {"ts": sec + nsec / 1e9 - (time.time() - time.monotonic())}
    if (level, ctype) in _RECVERR and len(data) >= _EXTENDED_ERR.size:
        ee_errno, origin, ee_type, code, _pad, info, ee_data = _EXTENDED_ERR.unpack_from(data)
        return {"ee": [ee_errno, origin, ee_type, code, info, ee_data]}
    return int(_INT.unpack(data)[0]) if len(data) == _INT.size else -1


def _errno_name(code: int | None) -> str:
    if code is None:
        return "EIO"
    return errno.errorcode.get(code, f"E{code}")


class _FdTable:
    """Script file descriptors (lowest free number >= 3, like POSIX) to sockets."""

    FIRST = 3

    def __init__(self) -> None:
        self._socks: dict[int, Any] = {}
        self._lock = threading.Lock()

    def add(self, sock: Any) -> int:
        with self._lock:
            fd = self.FIRST
            while fd in self._socks:
                fd += 1
            self._socks[fd] = sock
            return fd

    def get(self, fd: int) -> socket.socket:
        """The socket of script fd ``fd`` (EBADF: none; ENOTSOCK: an epoll fd)."""
        with self._lock:
            sock = self._socks.get(fd)
        if sock is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if not isinstance(sock, socket.socket):
            raise OSError(errno.ENOTSOCK, os.strerror(errno.ENOTSOCK))
        return sock

    def get_any(self, fd: int) -> Any:
        """The object (socket or epoll) of script fd ``fd`` (EBADF: none)."""
        with self._lock:
            obj = self._socks.get(fd)
        if obj is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return obj

    def pop(self, fd: int) -> Any:
        with self._lock:
            sock = self._socks.pop(fd, None)
        if sock is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return sock

    def close_all(self) -> None:
        with self._lock:
            socks = list(self._socks.values())
            self._socks.clear()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()


_LIBC.sendto.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                         ctypes.c_void_p, ctypes.c_uint32]
_LIBC.sendto.restype = ctypes.c_ssize_t


def _sockaddr(sock: socket.socket, host: str, port: int) -> bytes:
    """A ``struct sockaddr_in`` / ``sockaddr_in6`` for ``host``:``port`` in the
    socket's family."""
    if sock.family == socket.AF_INET6:
        return struct.pack("=HHI16sI", socket.AF_INET6, socket.htons(port), 0,
                           socket.inet_pton(socket.AF_INET6, host), 0)
    return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port),
                       socket.inet_aton(host))


def _host(sock: socket.socket, req: dict[str, Any]) -> str:
    """The address of ``req`` for the socket's family (``host`` or ``host6``)."""
    return str(req["host6"] if sock.family == socket.AF_INET6 else req["host"])


class _Epoll:
    """An epoll instance of the script; remembers each fd's ``epoll_data`` (fd or ptr)."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._data: dict[int, tuple[str, int]] = {}

    def fileno(self) -> int:
        return self._ep.fileno()

    def close(self) -> None:
        self._ep.close()

    def ctl(self, op: int, real_fd: int, events: int, data: tuple[str, int]) -> None:
        if op == 1:  # EPOLL_CTL_ADD
            self._ep.register(real_fd, events)
            self._data[real_fd] = data
        elif op == 3:  # EPOLL_CTL_MOD
            self._ep.modify(real_fd, events)
            self._data[real_fd] = data
        elif op == 2:  # EPOLL_CTL_DEL
            self._ep.unregister(real_fd)
            self._data.pop(real_fd, None)
        else:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    def wait(self, timeout_ms: int, maxevents: int) -> list[list[Any]]:
        timeout = -1.0 if timeout_ms < 0 else timeout_ms / 1000
        got = self._ep.poll(timeout, max(1, maxevents))
        return [[mask, *self._data.get(real, ("fd", -1))] for real, mask in got]


def _write_sysctl(name: str, value: str) -> str:
    """Write ``value`` to sysctl ``name`` in this namespace; return what reads back."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path, "w") as fp:
        fp.write(value)
    with open(path) as fp:
        return " ".join(fp.read().split())


CAPTURE_BUFFER = 8 * 1024 * 1024
"""Receive buffer (bytes) of the capture socket: room for bursts of 64 KiB segments."""


def _capture_socket(ifname: str) -> socket.socket:
    """An ``AF_PACKET`` socket seeing every packet of ``ifname``, with kernel timestamps.

    packetdrill captures the packets the kernel sends the same way (a packet
    socket on tun0): ``SO_TIMESTAMPNS`` gives the time each one was handed to
    the device, whatever the scheduling of the process that reads it.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL
    try:
        sock.bind((ifname, 3))
        sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
        sock.setsockopt(socket.SOL_SOCKET, 33, CAPTURE_BUFFER)  # SO_RCVBUFFORCE
    except BaseException:
        sock.close()
        raise
    return sock


def _protect_host_sysctls() -> None:
    """Make ``/proc/sys`` read-only but for ``/proc/sys/net`` (see :data:`PROC_SYS_READ_ONLY`).

    Raises:
        RuntimeError: the mounts failed (the agent then refuses to run scripts).
    """
    done = subprocess.run(["/bin/sh", "-c", PROC_SYS_READ_ONLY], capture_output=True,
                          text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cannot protect the host's sysctls: {done.stderr.strip()}")


_DENIED = re.compile(r'permission denied on key "?([\w./-]+)"?'
                     r"|/proc/sys/([\w/.-]+): (?:Read-only|Permission denied)")
"""A refused sysctl write: root may write every setting of its own network
namespace, so a refusal means a host-wide (or read-only) one."""


def run_shell(command: str, cwd: str, timeout: float) -> tuple[int, str]:
    """Run ``/bin/sh -c command`` from ``cwd`` as packetdrill does (its ``system()``).

    The environment is the agent's plus ``PACKETDRILL_PID`` (packetdrill sets
    it to its own pid; here the agent's, which is also the command's
    ``$PPID``). stdout and stderr are returned together (at most
    :data:`SHELL_OUTPUT_LIMIT` bytes). A command still running after
    ``timeout`` seconds is killed with its process group: status 124 (as
    timeout(1)). A refused write to a host-wide sysctl gets a line saying so.

    Returns:
        (exit status, or 128 + signal number; output text).
    """
    env = dict(os.environ)
    env["PACKETDRILL_PID"] = str(os.getpid())
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return 127, f"drill: cannot run /bin/sh in {cwd}: {exc.strerror}"
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\ndrill: killed after {timeout:g} s\n".encode()
        status = 124
    text = out[:SHELL_OUTPUT_LIMIT].decode(errors="replace")
    if status < 0:
        status = 128 - status
    for match in _DENIED.finditer(text):
        key = match.group(1) or (match.group(2) or "").replace("/", ".")
        text += HOST_WIDE_HINT.format(key=key) + "\n"
    return status, text


class _Agent:
    def __init__(self, ctl: socket.socket) -> None:
        self.ctl = ctl
        self.fds = _FdTable()
        self._send_lock = threading.Lock()
        self._tun_fd = -1
        self._capture: Any = None

    # -- transport -------------------------------------------------------

    def send(self, obj: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        with self._send_lock:
            if fds:
                sent = socket.send_fds(self.ctl, [data], list(fds))
                if sent < len(data):
                    self.ctl.sendall(data[sent:])
            else:
                self.ctl.sendall(data)

    def serve(self) -> int:
        reader = self.ctl.makefile("rb")
        first = True
        for _ in range(10**9):  # bounded only by the parent's lifetime
            line = reader.readline()
            if not line:
                break  # the parent is gone
            try:
                req: dict[str, Any] = json.loads(line)
                op = req["op"]
                rid = req.get("id", -1)
            except (ValueError, KeyError, TypeError) as exc:
                self.send({"id": -1, "error": f"bad request: {exc}"})
                continue
            if first:
                first = False
                if op != "setup" or not self.setup(req):
                    self.shutdown()
                    return 1
                continue
            if op == "quit":
                self.shutdown()
                self.send({"id": rid, "ok": True})
                return 0
            handler = {
                "call": self.run_call, "shell": self.run_shell, "tcp_info": self.run_tcp_info
            }.get(op)
            if handler is None:
                self.send({"id": rid, "error": f"unknown op {op!r}"})
                continue
            threading.Thread(target=handler, args=(req,), daemon=True).start()
        self.shutdown()
        return 0

    # -- setup -----------------------------------------------------------

    def setup(self, req: dict[str, Any]) -> bool:
        rid = req.get("id", 0)
        try:
            applied = self._apply_sysctls(req.get("sysctls", []))
            tun_fd = make_device(
                DeviceConfig(
                    ifname=str(req["ifname"]),
                    address=str(req["address"]),
                    routes=tuple(str(r) for r in req.get("routes", [])),
                    mtu=int(req.get("mtu", 1500)),
                    offload=bool(req.get("offload", True)),
                    address6=req.get("address6"),
                    routes6=tuple(str(r) for r in req.get("routes6", [])),
                )
            )
            self._tun_fd = tun_fd
            self._capture = _capture_socket(str(req["ifname"]))
            if req.get("protect_host", True):
                _protect_host_sysctls()
        except Exception as exc:
            self.send({"id": rid, "ok": False, "error": str(exc) or type(exc).__name__})
            return False
        self.send({"id": rid, "ok": True, "sysctls": applied},
                  fds=(tun_fd, self._capture.fileno()))
        return True

    @staticmethod
    def _apply_sysctls(items: list[list[Any]]) -> dict[str, str | None]:
        applied: dict[str, str | None] = {}
        for name, value, required in items:
            path = "/proc/sys/" + str(name).replace(".", "/")
            if not os.path.exists(path):
                if required:
                    raise RuntimeError(f"sysctl {name} does not exist in this kernel")
                applied[name] = None
                continue
            try:
                applied[name] = _write_sysctl(str(name), str(value))
            except OSError as exc:
                if required:
                    raise RuntimeError(f"sysctl {name}={value}: {exc.strerror}") from None
                try:
                    with open(path) as fp:
                        applied[name] = " ".join(fp.read().split())
                except OSError:
                    applied[name] = None
        return applied

    def shutdown(self) -> None:
        self.fds.close_all()
        cap, self._capture = self._capture, None
        if cap is not None:
            cap.close()
        fd, self._tun_fd = self._tun_fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- other requests ----------------------------------------------------

    def run_shell(self, req: dict[str, Any]) -> None:
        rid = req.get("id", -1)
        status, output = run_shell(
            str(req["command"]), str(req.get("cwd") or "."), float(req.get("timeout", 60.0))
        )
        with contextlib.suppress(OSError):
            self.send({"id": rid, "status": status, "output": output})

    def run_tcp_info(self, req: dict[str, Any]) -> None:
        rid = req.get("id", -1)
        try:
            sock = self.fds.get(int(req["fd"]))
            raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, TCP_INFO_BUFFER)
            info: dict[str, int] | None = decode_tcp_info(raw)
            err = None
        except OSError as exc:
            info, err = None, _errno_name(exc.errno)
        except ValueError as exc:
            info, err = None, f"EIO ({exc})"
        with contextlib.suppress(OSError):
            self.send({"id": rid, "info": info, "errno": err})

    # -- system calls ----------------------------------------------------

    def run_call(self, req: dict[str, Any]) -> None:
        rid = req.get("id", -1)
        name = str(req.get("call", ""))
        handler: Callable[[dict[str, Any]], tuple[int, Any]] | None = getattr(
            self, f"_call_{name}", None
        )
        if handler is None:
            self.send({"id": rid, "error": f"unsupported call {name!r}"})
            return
        out: Any = None
        err: str | None = None
        try:
            value, out = handler(req)
        except OSError as exc:
            value, err = -1, _errno_name(exc.errno)
        except (KeyError, TypeError, ValueError) as exc:
            self.send({"id": rid, "error": f"{name}: bad arguments: {exc}"})
            return
        returned = time.monotonic()
        with contextlib.suppress(OSError):  # the parent is gone: serve() notices
            self.send({"id": rid, "value": value, "errno": err, "t": returned, "out": out})

    def _call_socket(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = socket.socket(int(req["family"]), int(req["type"]), int(req["proto"]))
        return self.fds.add(sock), None

    def _call_bind(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        sock.bind((_host(sock, req), int(req["port"])))
        return 0, None

    def _call_listen(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.get(req["fd"]).listen(int(req["backlog"]))
        return 0, None

    def _call_accept(self, req: dict[str, Any]) -> tuple[int, Any]:
        conn, _addr = self.fds.get(req["fd"]).accept()
        return self.fds.add(conn), None

    def _call_connect(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        code = sock.connect_ex((_host(sock, req), int(req["port"])))
        if code:
            raise OSError(code, os.strerror(code))
        return 0, None

    def _call_read(self, req: dict[str, Any]) -> tuple[int, Any]:
        fd = self.fds.get_any(req["fd"]).fileno()
        if req.get("null"):
            return _null_buffer_call("read", fd, int(req["count"])), None
        return len(os.read(fd, int(req["count"]))), None

    def _call_write(self, req: dict[str, Any]) -> tuple[int, Any]:
        fd = self.fds.get_any(req["fd"]).fileno()
        if req.get("null"):
            return _null_buffer_call("write", fd, int(req["count"])), None
        return os.write(fd, bytes(int(req["count"]))), None

    def _call_recv(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        if req.get("null"):
            return _null_buffer_call("recv", sock.fileno(), int(req["count"]),
                                     int(req["flags"])), None
        return len(sock.recv(int(req["count"]), int(req["flags"]))), None

    def _call_send(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        if req.get("null"):
            return _null_buffer_call("send", sock.fileno(), int(req["count"]),
                                     int(req["flags"])), None
        return sock.send(bytes(int(req["count"])), int(req["flags"])), None

    # open, sendfile, pipe, splice: files and pipes in the script's fd table.

    def _call_open(self, req: dict[str, Any]) -> tuple[int, Any]:
        return self.fds.add(_FileFd(os.open(str(req["path"]), int(req["flags"])))), None

    def _call_sendfile(self, req: dict[str, Any]) -> tuple[int, Any]:
        out_fd = self.fds.get_any(req["fd"]).fileno()
        in_fd = self.fds.get_any(req["in_fd"]).fileno()
        return os.sendfile(out_fd, in_fd, int(req["offset"]), int(req["count"])), None

    def _call_pipe(self, req: dict[str, Any]) -> tuple[int, Any]:
        read_end, write_end = os.pipe()
        return 0, [self.fds.add(_FileFd(read_end)), self.fds.add(_FileFd(write_end))]

    def _call_splice(self, req: dict[str, Any]) -> tuple[int, Any]:
        src = self.fds.get_any(req["fd"]).fileno()
        dst = self.fds.get_any(req["out_fd"]).fileno()
        return os.splice(src, dst, int(req["count"]), flags=int(req["flags"])), None

    def _call_sendto(self, req: dict[str, Any]) -> tuple[int, Any]:
        """sendto() to the request's address (``host``/``host6``, ``port``: with
        MSG_FASTOPEN this connects), or to an address of only a family
        (``family_only``, e.g. AF_UNSPEC); ``null``: a NULL buffer."""
        sock = self.fds.get(req["fd"])
        count, flags = int(req["count"]), int(req["flags"])
        if "family_only" not in req and not req.get("null"):
            address = (_host(sock, req), int(req["port"]))
            return sock.sendto(bytes(count), flags, address), None
        if "family_only" in req:
            raw = struct.pack("=H", int(req["family_only"])).ljust(128, b"\0")
        else:
            raw = _sockaddr(sock, _host(sock, req), int(req["port"]))
        name = ctypes.create_string_buffer(raw, len(raw))
        data = None if req.get("null") else ctypes.create_string_buffer(count)
        result = _LIBC.sendto(sock.fileno(), data, count, flags, name, len(raw))
        if result < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return int(result), None

    def _call_readv(self, req: dict[str, Any]) -> tuple[int, Any]:
        buffers = [bytearray(int(n)) for n in req["lengths"]]
        return os.readv(self.fds.get(req["fd"]).fileno(), buffers), None

    def _call_writev(self, req: dict[str, Any]) -> tuple[int, Any]:
        buffers = [bytes(int(n)) for n in req["lengths"]]
        return os.writev(self.fds.get(req["fd"]).fileno(), buffers), None

    def _call_sendmsg(self, req: dict[str, Any]) -> tuple[int, Any]:
        buffers = [bytes(int(n)) for n in req["lengths"]]
        sock = self.fds.get(req["fd"])
        if "port" in req:  # msg_name: the script's peer (with MSG_FASTOPEN this connects)
            address = (_host(sock, req), int(req["port"]))
            return sock.sendmsg(buffers, [], int(req["flags"]), address), None
        return sock.sendmsg(buffers, [], int(req["flags"])), None

    def _call_recvmsg(self, req: dict[str, Any]) -> tuple[int, Any]:
        buffers = [bytearray(int(n)) for n in req["lengths"]]
        cmsgs = int(req.get("cmsgs", 0))
        # packetdrill's buffer holds exactly the control messages the script expects.
        room = int(req.get("cmsg_room", cmsgs * socket.CMSG_SPACE(_INT.size)))
        count, ancillary, msg_flags, _addr = self.fds.get(req["fd"]).recvmsg_into(
            buffers, room, int(req["flags"])
        )
        if not cmsgs:
            return count, msg_flags
        return count, [msg_flags, [[level, ctype, len(data), _cmsg_data(level, ctype, data)]
                                   for level, ctype, data in ancillary]]

    def _call_getsockname(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.get(req["fd"]).getsockname()
        return 0, None

    def _call_getpeername(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.get(req["fd"]).getpeername()
        return 0, None

    def _call_epoll_create(self, req: dict[str, Any]) -> tuple[int, Any]:
        return self.fds.add(_Epoll()), None

    _call_epoll_create1 = _call_epoll_create

    def _call_epoll_ctl(self, req: dict[str, Any]) -> tuple[int, Any]:
        ep = self.fds.get_any(req["epfd"])
        if not isinstance(ep, _Epoll):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        fd = int(req["fd"])
        real = self.fds.get_any(fd).fileno()
        ep.ctl(int(req["ctl"]), real, int(req["events"]), (str(req["key"]), int(req["data"])))
        return 0, None

    def _call_epoll_wait(self, req: dict[str, Any]) -> tuple[int, Any]:
        ep = self.fds.get_any(req["epfd"])
        if not isinstance(ep, _Epoll):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        ready = ep.wait(int(req["timeout"]), int(req["maxevents"]))
        return len(ready), ready

    def _call_close(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.pop(req["fd"]).close()
        return 0, None

    def _call_shutdown(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.get(req["fd"]).shutdown(int(req["how"]))
        return 0, None

    def _call_setsockopt(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        level, opt, kind, value = int(req["level"]), int(req["opt"]), req["kind"], req["value"]
        if kind == "linger":
            sock.setsockopt(level, opt, _LINGER.pack(int(value[0]), int(value[1])))
        elif kind == "str":
            sock.setsockopt(level, opt, str(value).encode())
        elif kind == "bytes":  # a C string and its length (TCP_FASTOPEN_KEY)
            data = bytes(int(b) for b in value)
            if data:
                sock.setsockopt(level, opt, data)
            else:
                sock.setsockopt(level, opt, None, 0)
        else:  # an int: as C's 32-bit int, so 0xffffffff (TCP_NOTSENT_LOWAT) works too
            sock.setsockopt(level, opt, struct.pack("=I", int(value) & 0xFFFFFFFF))
        return 0, None

    def _call_getsockopt(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        level, opt, kind = int(req["level"]), int(req["opt"]), req["kind"]
        if kind == "linger":
            return 0, list(_LINGER.unpack(sock.getsockopt(level, opt, _LINGER.size)))
        if kind == "str":
            raw = sock.getsockopt(level, opt, 64)
            return 0, raw.split(b"\0", 1)[0].decode(errors="replace")
        # packetdrill compares 32-bit patterns: report -1 as 0xffffffff (unsigned)
        return 0, sock.getsockopt(level, opt) & 0xFFFFFFFF

    def _call_fcntl(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        cmd = int(req["cmd"])
        arg = req.get("arg")
        if cmd == fcntl.F_SETFL and arg is not None:
            # Keep Python's view of the socket (its timeout) in step with O_NONBLOCK.
            sock.setblocking(not (int(arg) & os.O_NONBLOCK))
        result = fcntl.fcntl(sock.fileno(), cmd, 0 if arg is None else int(arg))
        return int(result), None

    def _call_ioctl(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        raw = fcntl.ioctl(sock.fileno(), int(req["request"]), bytes(_INT.size))
        return 0, _INT.unpack(raw)[0]

    def _call_poll(self, req: dict[str, Any]) -> tuple[int, Any]:
        entries: list[list[int]] = req["fds"]
        always = select.POLLERR | select.POLLHUP | select.POLLNVAL
        real_to_index: dict[int, list[int]] = {}
        wanted: dict[int, int] = {}
        revents = [0] * len(entries)
        for i, (fd, events) in enumerate(entries):
            try:
                real = self.fds.get(fd).fileno()
            except OSError:
                revents[i] = select.POLLNVAL
                continue
            wanted[real] = wanted.get(real, 0) | int(events)
            real_to_index.setdefault(real, []).append(i)
        if wanted:
            poller = select.poll()
            for real, events in wanted.items():
                poller.register(real, events)
            # An invalid fd makes poll() return at once, as in the kernel.
            timeout = 0 if any(revents) else int(req["timeout"])
            for real, mask in poller.poll(timeout):
                for i in real_to_index.get(real, []):
                    revents[i] = mask & (int(entries[i][1]) | always)
        return sum(1 for r in revents if r), revents


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m tcpstack.harness.drill.targets.linux_agent --fd N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fd", type=int, required=True, help="inherited AF_UNIX control socket")
    args = parser.parse_args(argv)
    ctl = socket.socket(fileno=args.fd)
    agent = _Agent(ctl)
    try:
        code = agent.serve()
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        agent.shutdown()
        code = 1
    # Calls still blocked in their threads must not keep the process alive.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
