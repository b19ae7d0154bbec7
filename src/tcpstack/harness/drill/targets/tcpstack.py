"""The tcpstack drill target: the sans-I/O :class:`~tcpstack.stack.Stack` in virtual time.

The stack lives at :data:`~tcpstack.harness.drill.target.LOCAL_ADDRESS`. Injected
packets go to :meth:`Stack.receive`; what it sends is collected after every
step with its virtual send time. :meth:`TcpstackTarget.wait_until` jumps the
clock, firing the stack's timers in order on the way.

System calls are emulated with a small file-descriptor table on top of the
stack and connection API, with Linux's blocking rules and errnos:

=============  ==============================================================
socket         a new fd (the lowest free, from 3); ``SOCK_NONBLOCK`` honoured
bind           the socket will use port 8080 (:data:`LOCAL_PORT`)
listen         :meth:`Stack.listen`, backlog + 1 connections (as Linux)
accept         the next queued connection; blocks, or ``EAGAIN`` if non-blocking
connect        :meth:`Stack.connect` to the peer at 198.51.100.2:8080; blocks until
               ESTABLISHED (or ``ECONNREFUSED``/``ETIMEDOUT``), or returns
               ``EINPROGRESS`` on a non-blocking socket (then ``SO_ERROR``)
read, write    :meth:`Connection.read`/:meth:`Connection.send` (``write`` sends
               zero bytes); ``ECONNRESET`` once after a reset then 0 / ``EPIPE``;
               ``EPIPE`` after ``shutdown(SHUT_WR)``; ``ENOTCONN``; ``EAGAIN``
close          :meth:`Connection.close`; with ``SO_LINGER {onoff=1, linger=0}``
               :meth:`Connection.abort` (RST)
shutdown       ``SHUT_WR`` is :meth:`Connection.shutdown`; ``SHUT_RD`` makes reads
               return 0
setsockopt     ``TCP_NODELAY`` -> ``nagle``; ``SO_KEEPALIVE``, ``TCP_KEEPIDLE``,
               ``TCP_KEEPINTVL``, ``TCP_KEEPCNT`` -> the keep-alive fields;
               ``TCP_USER_TIMEOUT`` (ms) -> ``r2`` and ``r2_syn`` (s); ``SO_RCVBUF``/``SO_SNDBUF``
               -> ``recv_buffer``/``send_buffer`` of new connections (getsockopt
               reports twice the value, as Linux); ``SO_LINGER``; ``SO_REUSEADDR``
getsockopt     the values above, ``SO_ERROR`` (pending error, then 0)
fcntl          ``F_GETFL`` / ``F_SETFL`` with ``O_NONBLOCK``
poll           Linux's ``tcp_poll`` mask; blocks up to the timeout (ms)
=============  ==============================================================

A call that blocks waits in virtual time until it can complete. A blocking
call written without ``...`` that can never complete (no timer pending, so
nothing can change without the script's next packet) raises
:class:`~tcpstack.harness.drill.model.DrillError`, which the runner reports on that line.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .... import events as ev
from ....config import TcpConfig
from ....connection import Connection
from ....errors import LocalProtocolError, TcpStackError
from ....stack import Stack
from ....state import State
from ..model import DrillError, Script, Syscall
from ..parse import ERRNOS, SYMBOLS, int_arg, list_arg, pollfds_arg, struct_arg
from ..target import LOCAL_ADDRESS, LOCAL_PORT, REMOTE_ADDRESS, ShellResult, SyscallResult

__all__ = ["TcpstackTarget"]

BLOCK_LIMIT = 3600.0
"""Longest a blocking call may wait in virtual time (seconds) before it is an error."""

_LOOP_LIMIT = 100_000
_O_NONBLOCK = SYMBOLS["O_NONBLOCK"]
_POLL = {
    name: SYMBOLS[name]
    for name in (
        "POLLIN",
        "POLLOUT",
        "POLLERR",
        "POLLHUP",
        "POLLNVAL",
        "POLLRDNORM",
        "POLLWRNORM",
        "POLLRDHUP",
    )
}
_CLOSING = (State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSING, State.LAST_ACK, State.TIME_WAIT)


@dataclass
class _Ret:
    value: int
    errno: str | None = None
    outputs: dict[str, int] = field(default_factory=dict)


def _err(name: str) -> _Ret:
    return _Ret(-1, name)


_Op = Generator[float | None, None, _Ret]
"""A blocking call: yields the time it wants to be woken at (None: on any change)."""


@dataclass
class _Status:
    """What the events told us about one connection."""

    established: bool = False
    closed: bool = False
    err: str | None = None  # Linux sk_err: reported once by the next call
    state_before_close: State | None = None


@dataclass
class _Sock:
    fd: int
    nonblocking: bool = False
    port: int | None = None
    listening: bool = False
    conn: Connection | None = None
    opts: dict[str, int] = field(default_factory=dict)
    linger: tuple[int, int] | None = None
    shut_rd: bool = False
    shut_wr: bool = False
    connecting: bool = False  # a non-blocking connect() not yet reported done (SS_CONNECTING)


class _Pending:
    """A call in progress (:class:`~tcpstack.harness.drill.target.PendingCall`)."""

    def __init__(self, call: Syscall, op: _Op) -> None:
        self.call = call
        self.op = op
        self.wake: float | None = None
        self.outcome: SyscallResult | None = None

    def result(self) -> SyscallResult | None:
        return self.outcome


class TcpstackTarget:
    """tcpstack as a drill target, in virtual time.

    Args:
        config: configuration of the stack's connections; default
            :meth:`TcpConfig.linux` (Linux's RTO bounds and delayed-ACK time,
            so that scripts written against Linux timing apply).
        seed: seeds the stack's randomness (ISN key, ephemeral ports).
    """

    name = "tcpstack"

    def __init__(self, config: TcpConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or TcpConfig.linux()
        self.seed = seed
        self.stack = Stack(
            LOCAL_ADDRESS, config=self.config, name="tcpstack", rng=random.Random(seed)
        )
        self._now = 0.0
        self._out: deque[tuple[float, bytes]] = deque()
        self._socks: dict[int, _Sock] = {}
        self._status: dict[Connection, _Status] = {}
        self._pending: list[_Pending] = []
        self._pumping = False

    # ------------------------------------------------------------------
    # Target protocol
    # ------------------------------------------------------------------

    def prepare(self, script: Script) -> None:
        """Remember the script (its options and directory); see ``Target.prepare``."""
        self.script = script

    def shell(self, command: str, cwd: str) -> ShellResult:
        """Interim: shell commands are not run yet (see ``Target.shell``)."""
        raise DrillError(f"{self.name} target: shell commands are not supported yet: "
                         f"`{command}`")

    def tcp_info(self, fd: int) -> Mapping[str, int]:
        """Interim: TCP_INFO is not available yet (see ``Target.tcp_info``)."""
        raise DrillError(f"{self.name} target: TCP_INFO is not supported yet (fd {fd})")

    def start(self) -> None:
        """Nothing to set up: the stack exists from construction, at time 0."""

    def close(self) -> None:
        """Drop every pending call."""
        self._pending.clear()

    def now(self) -> float:
        return self._now

    def wait_until(self, t: float) -> None:
        self._advance(t)

    def inject(self, packet: bytes) -> None:
        self.stack.receive(packet, self._now)
        self._pump()

    def next_outbound(self, deadline: float) -> tuple[float, bytes] | None:
        for _ in range(_LOOP_LIMIT):
            if self._out:
                return self._out.popleft() if self._out[0][0] <= deadline else None
            wake = self._next_wake()
            if wake is None or wake > deadline:
                self._advance(deadline)
                if self._out and self._out[0][0] <= deadline:
                    return self._out.popleft()
                return None
            self._advance(wake)
        raise DrillError("tcpstack target: timers keep firing without time advancing")

    def syscall(self, call: Syscall) -> SyscallResult:
        pending = self._start(call)
        limit = self._now + BLOCK_LIMIT
        for _ in range(_LOOP_LIMIT):
            if pending.outcome is not None:
                return pending.outcome
            wake = self._next_wake()
            if wake is None:
                self._pending.remove(pending)
                raise DrillError(
                    f"{call.name}() blocks forever: nothing can happen in virtual time "
                    "before the script's next line (write it as a blocking call "
                    "'+0...T', or make it non-blocking)"
                )
            if wake > limit:
                self._pending.remove(pending)
                raise DrillError(f"{call.name}() still blocked after {BLOCK_LIMIT:g} s")
            self._advance(wake)
        raise DrillError(f"{call.name}(): timers keep firing without time advancing")

    def start_syscall(self, call: Syscall) -> _Pending:
        return self._start(call)

    # ------------------------------------------------------------------
    # Virtual time
    # ------------------------------------------------------------------

    def _next_wake(self) -> float | None:
        times = [
            t for t in (self.stack.next_timer(), *(p.wake for p in self._pending)) if t is not None
        ]
        return max(min(times), self._now) if times else None

    def _advance(self, t: float) -> None:
        """Fire every timer due up to ``t`` in order, then set the clock to ``t``."""
        for _ in range(_LOOP_LIMIT):
            wake = self._next_wake()
            if wake is None or wake > t:
                break
            self._now = max(self._now, wake)
            self.stack.handle_timer(self._now)
            self._pump(wake_due=True)
            if self._next_wake() == wake and wake == self._now:
                # Something is due now and did not go away: it would loop forever.
                raise DrillError(f"tcpstack target: a timer due at {wake:.6f} s keeps firing")
        if t > self._now:
            self._now = t
            self.stack.tick(t)
            self._pump()

    def _pump(self, *, wake_due: bool = False) -> None:
        """Collect output and events; let pending calls progress, until nothing changes."""
        if self._pumping:
            return
        self._pumping = True
        try:
            for _ in range(_LOOP_LIMIT):
                for packet in self.stack.packets_to_send(self._now):
                    self._out.append((self._now, packet))
                while (item := self.stack.next_event()) is not None:
                    self._on_event(*item)
                if not self._step_pending():
                    return
        finally:
            self._pumping = False

    def _step_pending(self) -> bool:
        """Run every pending call one step; True if one of them completed."""
        done = False
        for pending in list(self._pending):
            self._step(pending)
            if pending.outcome is not None:
                self._pending.remove(pending)
                done = True
        return done

    def _step(self, pending: _Pending) -> None:
        try:
            pending.wake = next(pending.op)
        except StopIteration as stop:
            ret: _Ret = stop.value
            pending.outcome = SyscallResult(ret.value, ret.errno, self._now, ret.outputs)

    def _start(self, call: Syscall) -> _Pending:
        handler: Callable[[Syscall], _Ret | _Op] | None = getattr(self, f"_sys_{call.name}", None)
        if handler is None:
            raise DrillError(f"tcpstack target: {call.name}() is not supported")
        try:
            op = handler(call)
        except (ValueError, IndexError) as exc:
            raise DrillError(f"{call.name}(): bad arguments: {exc}") from None
        pending = _Pending(call, _done(op) if isinstance(op, _Ret) else op)
        self._step(pending)
        if pending.outcome is None:
            self._pending.append(pending)
        self._pump()
        return pending

    def _on_event(self, conn: Connection, event: ev.Event) -> None:
        status = self._status.setdefault(conn, _Status())
        if isinstance(event, ev.StateChanged):
            if event.new is State.CLOSED:
                status.state_before_close = event.old
        elif isinstance(event, ev.Connected):
            status.established = True
        elif isinstance(event, ev.ConnectionReset):
            # Linux tcp_reset(): ECONNREFUSED in SYN-SENT, EPIPE in CLOSE-WAIT, else ECONNRESET.
            if event.refused:
                status.err = "ECONNREFUSED"
            elif status.state_before_close is State.CLOSE_WAIT:
                status.err = "EPIPE"
            else:
                status.err = "ECONNRESET"
            status.closed = True
        elif isinstance(event, ev.ConnectionTimedOut):
            status.err = "ETIMEDOUT"
            status.closed = True
        elif isinstance(event, ev.ConnectionClosed | ev.ConnectionAborted):
            status.closed = True

    # ------------------------------------------------------------------
    # Sockets
    # ------------------------------------------------------------------

    def _sock(self, call: Syscall) -> _Sock | None:
        return self._socks.get(int_arg(call.args[0]))

    def _st(self, conn: Connection) -> _Status:
        return self._status.setdefault(conn, _Status())

    def _take_err(self, conn: Connection | None) -> str | None:
        if conn is None:
            return None
        status = self._st(conn)
        err, status.err = status.err, None
        return err

    def _alive(self, conn: Connection) -> bool:
        return not self._st(conn).closed and conn.state is not State.CLOSED

    def _config_for(self, sock: _Sock, *, buffers: bool = True) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name, value in sock.opts.items():
            changes.update(self._changes(name, value, buffers=buffers))
        return changes

    def _changes(self, name: str, value: int, *, buffers: bool = True) -> dict[str, Any]:
        """TcpConfig fields for a socket option (ValueError: EINVAL)."""
        base = self.config
        if name == "SO_KEEPALIVE":
            return {"keepalive": bool(value)}
        if name == "TCP_NODELAY":
            return {"nagle": not value}
        if name == "TCP_KEEPIDLE":
            _check_range(value, 1, 32767)
            return {"keepalive_idle": float(value)}
        if name == "TCP_KEEPINTVL":
            _check_range(value, 1, 32767)
            return {"keepalive_interval": float(value)}
        if name == "TCP_KEEPCNT":
            _check_range(value, 1, 127)
            return {"keepalive_count": value}
        if name == "TCP_USER_TIMEOUT":
            _check_range(value, 0, 2**31 - 1)
            if not value:
                return {"r2": base.r2, "r2_syn": base.r2_syn}
            return {"r2": value / 1000, "r2_syn": value / 1000}
        if name == "SO_RCVBUF" and buffers:
            limit = (1 << 30) if base.window_scaling else 65535
            return {"recv_buffer": min(max(value, 1), limit)}
        if name == "SO_SNDBUF" and buffers:
            return {"send_buffer": max(value, 1)}
        return {}

    def _new_config(self, sock: _Sock) -> TcpConfig:
        changes = self._config_for(sock)
        return replace(self.config, **changes) if changes else self.config

    def _add(self, sock: _Sock) -> _Sock:
        self._socks[sock.fd] = sock
        return sock

    def _free_fd(self) -> int:
        """The lowest free descriptor (0-2 are stdin, stdout, stderr)."""
        fd = 3
        while fd in self._socks:
            fd += 1
        return fd

    # ------------------------------------------------------------------
    # System calls: each returns a _Ret, or a generator for a blocking call
    # ------------------------------------------------------------------

    def _sys_socket(self, call: Syscall) -> _Ret:
        kind = int_arg(call.args[1])
        sock = self._add(_Sock(self._free_fd(), nonblocking=bool(kind & _O_NONBLOCK)))
        return _Ret(sock.fd)

    def _sys_bind(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.port is not None or sock.conn is not None:
            return _err("EINVAL")
        if any(s.port == LOCAL_PORT and s.listening for s in self._socks.values()) and not (
            sock.opts.get("SO_REUSEADDR")
        ):
            return _err("EADDRINUSE")
        sock.port = LOCAL_PORT
        return _Ret(0)

    def _sys_listen(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.conn is not None:
            return _err("EINVAL")
        if sock.listening:
            return _Ret(0)
        backlog = max(int_arg(call.args[1]), 0) + 1
        port = sock.port if sock.port is not None else LOCAL_PORT
        try:
            self.stack.listen(port, backlog, config=self._new_config(sock), now=self._now)
        except TcpStackError:
            return _err("EADDRINUSE")
        sock.port, sock.listening = port, True
        return _Ret(0)

    def _sys_accept(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if not sock.listening or sock.port is None:
            return _err("EINVAL")
        return self._accept(sock)

    def _accept(self, listener: _Sock) -> _Op:
        while True:
            port = listener.port
            if not listener.listening or port is None or listener.fd not in self._socks:
                return _err("EBADF")
            conn = self.stack.accept(port)
            if conn is not None:
                new = self._add(_Sock(self._free_fd(), port=port, conn=conn,
                                       opts=dict(listener.opts), linger=listener.linger))
                changes = self._config_for(new, buffers=False)
                if changes:
                    conn.reconfigure(**changes)
                return _Ret(new.fd)
            if listener.nonblocking:
                return _err("EAGAIN")
            yield None

    def _sys_connect(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.listening:
            return _err("EISCONN")
        if sock.conn is not None:
            status = self._st(sock.conn)
            if (err := self._take_err(sock.conn)) is not None:
                sock.connecting = False
                return _err(err)
            if status.established:
                if sock.connecting:
                    # Linux __inet_stream_connect: the first connect() after a
                    # non-blocking one completed reports success, later ones EISCONN.
                    sock.connecting = False
                    return _Ret(0)
                return _err("EISCONN")
            if not status.closed:
                return _err("EALREADY")
        try:
            conn = self.stack.connect(
                REMOTE_ADDRESS,
                LOCAL_PORT,
                now=self._now,
                local_port=sock.port,
                config=self._new_config(sock),
            )
        except TcpStackError:
            return _err("EADDRINUSE")
        sock.conn = conn
        self._status[conn] = _Status()
        if sock.nonblocking:
            sock.connecting = True
            return _err("EINPROGRESS")
        return self._connect_wait(conn)

    def _connect_wait(self, conn: Connection) -> _Op:
        while True:
            status = self._st(conn)
            if status.established:
                return _Ret(0)
            if status.closed:
                return _err(self._take_err(conn) or "ECONNABORTED")
            yield None

    def _sys_read(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.conn is None:
            return _err("ENOTCONN")
        return self._read(sock, sock.conn, int_arg(call.args[2]))

    def _read(self, sock: _Sock, conn: Connection, size: int) -> _Op:
        # The order of Linux tcp_recvmsg(): queued data first (also after
        # SHUT_RD), then end of stream once the peer's FIN was processed
        # (SOCK_DONE: a reset that came after the FIN is left for write() and
        # SO_ERROR), then a pending error, then the read side being shut.
        while True:
            if conn.readable and size:
                data = conn.read(size)
                return _Ret(len(data))
            if size == 0 or conn.fin_received:
                return _Ret(0)
            if (err := self._take_err(conn)) is not None:
                return _err(err)
            if sock.shut_rd or conn.at_eof or self._st(conn).closed:
                return _Ret(0)
            if sock.nonblocking:
                return _err("EAGAIN")
            yield None

    def _sys_write(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.conn is None:
            return _err("EPIPE")
        return self._write(sock, sock.conn, int_arg(call.args[2]))

    def _write(self, sock: _Sock, conn: Connection, size: int) -> _Op:
        done = 0
        while True:
            if (err := self._take_err(conn)) is not None:
                return _Ret(done) if done else _err(err)
            if sock.shut_wr or not self._alive(conn) or conn.state in _CLOSING:
                return _Ret(done) if done else _err("EPIPE")
            if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
                if sock.nonblocking:
                    return _err("EAGAIN")
            else:
                try:
                    done += conn.send(bytes(size - done))
                except LocalProtocolError:
                    return _Ret(done) if done else _err("EPIPE")
                if done == size:
                    return _Ret(size)
                if sock.nonblocking:
                    return _Ret(done) if done else _err("EAGAIN")
            yield None

    def _sys_close(self, call: Syscall) -> _Ret | _Op:
        sock = self._socks.pop(int_arg(call.args[0]), None)
        if sock is None:
            return _err("EBADF")
        if sock.listening and sock.port is not None:
            # Linux resets the connections nobody accepted (inet_csk_listen_stop).
            while (queued := self.stack.accept(sock.port)) is not None:
                queued.abort(self._now)
            self.stack.unlisten(sock.port)
            sock.listening = False
            return _Ret(0)
        conn = sock.conn
        if conn is None:
            return _Ret(0)
        if sock.linger is not None and sock.linger[0] and sock.linger[1] == 0:
            conn.abort(self._now)
            return _Ret(0)
        conn.close(self._now)
        if sock.linger is not None and sock.linger[0] and not sock.nonblocking:
            return self._linger(conn, self._now + sock.linger[1])
        return _Ret(0)

    def _linger(self, conn: Connection, until: float) -> _Op:
        while self._alive(conn) and conn.state not in (State.FIN_WAIT_2, State.TIME_WAIT):
            if self._now >= until:
                break
            yield until
        return _Ret(0)

    def _sys_shutdown(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        how = call.args[1]
        if sock.listening and sock.port is not None:
            if how in ("SHUT_RD", "SHUT_RDWR"):
                self.stack.unlisten(sock.port)
                sock.listening = False
            return _Ret(0)
        conn = sock.conn
        if conn is None or not self._alive(conn):
            return _err("ENOTCONN")
        if how in ("SHUT_WR", "SHUT_RDWR"):
            conn.shutdown(self._now)
            sock.shut_wr = True
        if how in ("SHUT_RD", "SHUT_RDWR"):
            sock.shut_rd = True
        return _Ret(0)

    def _sys_setsockopt(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        name = call.args[2]
        if name == "SO_LINGER":
            fields = struct_arg(call.args[3])
            sock.linger = (int_arg(fields["onoff"]), int_arg(fields["linger"]))
            return _Ret(0)
        value = int_arg(list_arg(call.args[3])[0])
        try:
            changes = self._changes(name, value)
        except ValueError:
            return _err("EINVAL")
        sock.opts[name] = value
        if sock.conn is not None and self._alive(sock.conn):
            live = {k: v for k, v in changes.items() if k not in ("recv_buffer", "send_buffer")}
            if live:
                sock.conn.reconfigure(**live)
        return _Ret(0)

    def _sys_getsockopt(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        name = call.args[2]
        if name == "SO_LINGER":
            onoff, linger = sock.linger or (0, 0)
            return _Ret(0, outputs={"onoff": onoff, "linger": linger})
        if name == "SO_ERROR":
            err = self._take_err(sock.conn)
            return _Ret(0, outputs={"optval": ERRNOS[err] if err else 0})
        base = self.config
        defaults = {
            "SO_KEEPALIVE": 0,
            "TCP_NODELAY": 0,
            "SO_REUSEADDR": 0,
            "TCP_USER_TIMEOUT": 0,
            "TCP_KEEPIDLE": int(base.keepalive_idle),
            "TCP_KEEPINTVL": int(base.keepalive_interval),
            "TCP_KEEPCNT": base.keepalive_count,
            "SO_RCVBUF": base.recv_buffer,
            "SO_SNDBUF": base.send_buffer,
        }
        value = sock.opts.get(name)
        if value is None:
            value = defaults[name]
        elif name in ("SO_RCVBUF", "SO_SNDBUF"):
            value *= 2  # Linux doubles the value set, for bookkeeping overhead
        elif name in ("SO_KEEPALIVE", "TCP_NODELAY", "SO_REUSEADDR"):
            value = int(bool(value))
        return _Ret(0, outputs={"optval": value})

    def _sys_fcntl(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if call.args[1] == "F_GETFL":
            return _Ret(SYMBOLS["O_RDWR"] | (_O_NONBLOCK if sock.nonblocking else 0))
        sock.nonblocking = bool(int_arg(call.args[2]) & _O_NONBLOCK)
        return _Ret(0)

    def _sys_poll(self, call: Syscall) -> _Ret | _Op:
        fds = pollfds_arg(call.args[0])
        timeout = int_arg(call.args[2])
        return self._poll([(p.fd, p.events) for p in fds], timeout)

    def _poll(self, fds: list[tuple[int, int]], timeout_ms: int) -> _Op:
        until = None if timeout_ms < 0 else self._now + timeout_ms / 1000
        while True:
            always = _POLL["POLLERR"] | _POLL["POLLHUP"] | _POLL["POLLNVAL"]
            revents = [self._poll_mask(fd) & (events | always) for fd, events in fds]
            ready = sum(1 for r in revents if r)
            if ready or (until is not None and self._now >= until):
                return _Ret(ready, outputs={f"revents[{i}]": r for i, r in enumerate(revents)})
            yield until

    def _poll_mask(self, fd: int) -> int:
        """The mask of Linux tcp_poll() for ``fd``."""
        p = _POLL
        sock = self._socks.get(fd)
        if sock is None:
            return p["POLLNVAL"]
        if sock.listening:
            queued = sock.port is not None and any(
                self._st(c).established
                and c.passive
                and c.local.port == sock.port
                and c not in {s.conn for s in self._socks.values()}
                for c in self.stack.connections
            )
            return p["POLLIN"] | p["POLLRDNORM"] if queued else 0
        conn = sock.conn
        status = self._st(conn) if conn is not None else None
        closed = (
            conn is None or conn.state is State.CLOSED or (status is not None and status.closed)
        )
        rcv_shut = sock.shut_rd or (
            conn is not None and (conn.fin_received or (status is not None and status.closed))
        )
        snd_shut = sock.shut_wr or (status is not None and status.closed)
        mask = 0
        if (rcv_shut and snd_shut) or closed:
            mask |= p["POLLHUP"]
        if rcv_shut:
            mask |= p["POLLIN"] | p["POLLRDNORM"] | p["POLLRDHUP"]
        state = conn.state if conn is not None else State.CLOSED
        if state is not State.SYN_SENT and state is not State.SYN_RECEIVED:
            if conn is not None and conn.readable:
                mask |= p["POLLIN"] | p["POLLRDNORM"]
            if snd_shut or conn is None or conn.send_space > 0:
                mask |= p["POLLOUT"] | p["POLLWRNORM"]
        if status is not None and status.err is not None:
            mask |= p["POLLERR"]
        return mask


def _done(ret: _Ret) -> _Op:
    return ret
    yield  # pragma: no cover - makes this a generator


def _check_range(value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{value} not in {low}..{high}")
