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
  "routes": ["198.51.100.0/24"], "mtu": 1500,
  "sysctls": [[name, value, required], ...]}``: the first request. The
  answer ``{"id": 0, "ok": true, "sysctls": {name: value read back, or
  null when the kernel lacks it}}`` carries the TUN fd as ancillary data;
  on failure ``{"id": 0, "ok": false, "error": "..."}`` and the agent exits.
* ``{"id": n, "op": "call", "call": NAME, ...}``: a system call with its
  arguments already parsed (see ``_Agent._call_*``); script fds (3, 4, ...)
  are mapped to real sockets here. Answer ``{"id": n, "value": int,
  "errno": "EAGAIN" | null, "t": time.monotonic() when it returned,
  "out": extra result or null}``.
* ``{"id": n, "op": "quit"}``: close every socket and the device, answer
  ``{"id": n, "ok": true}``, exit.

A request the agent cannot understand is answered ``{"id": n, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main"]

_LINGER = struct.Struct("ii")
_INT = struct.Struct("i")


def _errno_name(code: int | None) -> str:
    if code is None:
        return "EIO"
    return errno.errorcode.get(code, f"E{code}")


class _FdTable:
    """Script file descriptors (lowest free number >= 3, like POSIX) to sockets."""

    FIRST = 3

    def __init__(self) -> None:
        self._socks: dict[int, socket.socket] = {}
        self._lock = threading.Lock()

    def add(self, sock: socket.socket) -> int:
        with self._lock:
            fd = self.FIRST
            while fd in self._socks:
                fd += 1
            self._socks[fd] = sock
            return fd

    def get(self, fd: int) -> socket.socket:
        with self._lock:
            sock = self._socks.get(fd)
        if sock is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return sock

    def pop(self, fd: int) -> socket.socket:
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


def _write_sysctl(name: str, value: str) -> str:
    """Write ``value`` to sysctl ``name`` in this namespace; return what reads back."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path, "w") as fp:
        fp.write(value)
    with open(path) as fp:
        return " ".join(fp.read().split())


class _Agent:
    def __init__(self, ctl: socket.socket) -> None:
        self.ctl = ctl
        self.fds = _FdTable()
        self._send_lock = threading.Lock()
        self._device: Any = None  # a drivers.tun.TunDevice once set up

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
            if op != "call":
                self.send({"id": rid, "error": f"unknown op {op!r}"})
                continue
            threading.Thread(target=self.run_call, args=(req,), daemon=True).start()
        self.shutdown()
        return 0

    # -- setup -----------------------------------------------------------

    def setup(self, req: dict[str, Any]) -> bool:
        rid = req.get("id", 0)
        try:
            applied = self._apply_sysctls(req.get("sysctls", []))
            tun_fd = self._make_device(
                str(req["ifname"]),
                ipaddress.IPv4Interface(req["address"]),
                [str(r) for r in req.get("routes", [])],
                int(req.get("mtu", 1500)),
            )
        except Exception as exc:
            self.send({"id": rid, "ok": False, "error": str(exc) or type(exc).__name__})
            return False
        self.send({"id": rid, "ok": True, "sysctls": applied}, fds=(tun_fd,))
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

    def _make_device(
        self, ifname: str, address: ipaddress.IPv4Interface, routes: list[str], mtu: int
    ) -> int:
        from pyroute2 import IPRoute

        from ....drivers.tun import TunDevice

        self._device = TunDevice(ifname, address, mtu=mtu)
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=ifname)[0]
            for route in routes:
                net = ipaddress.IPv4Network(route)
                ipr.route(
                    "add",
                    dst=str(net.network_address),
                    dst_len=net.prefixlen,
                    oif=idx,
                    prefsrc=str(address.ip),
                )
            # A plain FIFO, as packetdrill does: a default qdisc of fq would pace.
            ipr.tc("replace", "pfifo", idx, handle="1:", limit=1000)
            for family in (socket.AF_INET, socket.AF_INET6):
                for route in ipr.get_routes(family=family):
                    if route["dst_len"] == 0 and route.get_attr("RTA_TABLE") != 255:
                        raise RuntimeError("the namespace has a default route; refusing to run")
        fd: int = self._device.fileno()
        return fd

    def shutdown(self) -> None:
        self.fds.close_all()
        dev, self._device = self._device, None
        if dev is not None:
            with contextlib.suppress(Exception):
                dev.close()

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
        self.fds.get(req["fd"]).bind((req["host"], int(req["port"])))
        return 0, None

    def _call_listen(self, req: dict[str, Any]) -> tuple[int, Any]:
        self.fds.get(req["fd"]).listen(int(req["backlog"]))
        return 0, None

    def _call_accept(self, req: dict[str, Any]) -> tuple[int, Any]:
        conn, _addr = self.fds.get(req["fd"]).accept()
        return self.fds.add(conn), None

    def _call_connect(self, req: dict[str, Any]) -> tuple[int, Any]:
        code = self.fds.get(req["fd"]).connect_ex((req["host"], int(req["port"])))
        if code:
            raise OSError(code, os.strerror(code))
        return 0, None

    def _call_read(self, req: dict[str, Any]) -> tuple[int, Any]:
        data = os.read(self.fds.get(req["fd"]).fileno(), int(req["count"]))
        return len(data), None

    def _call_write(self, req: dict[str, Any]) -> tuple[int, Any]:
        return os.write(self.fds.get(req["fd"]).fileno(), bytes(int(req["count"]))), None

    def _call_recv(self, req: dict[str, Any]) -> tuple[int, Any]:
        data = self.fds.get(req["fd"]).recv(int(req["count"]), int(req["flags"]))
        return len(data), None

    def _call_send(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        return sock.send(bytes(int(req["count"])), int(req["flags"])), None

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
        else:
            sock.setsockopt(level, opt, int(value))
        return 0, None

    def _call_getsockopt(self, req: dict[str, Any]) -> tuple[int, Any]:
        sock = self.fds.get(req["fd"])
        level, opt, kind = int(req["level"]), int(req["opt"]), req["kind"]
        if kind == "linger":
            return 0, list(_LINGER.unpack(sock.getsockopt(level, opt, _LINGER.size)))
        if kind == "str":
            raw = sock.getsockopt(level, opt, 64)
            return 0, raw.split(b"\0", 1)[0].decode(errors="replace")
        return 0, sock.getsockopt(level, opt)

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
