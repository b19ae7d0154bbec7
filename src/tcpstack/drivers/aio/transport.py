"""asyncio transports over tcpstack connections.

A :class:`TcpTransport` is to a tcpstack :class:`~tcpstack.connection.Connection`
what asyncio's socket transport is to a kernel socket: the TCP send and
receive buffers are the connection's, and the transport adds asyncio's own
write buffer, flow control and protocol callbacks on top:

- ``write`` hands data to the connection as its send buffer allows; what does
  not fit waits in the transport (``get_write_buffer_size``), with
  ``pause_writing``/``resume_writing`` at the high and low water marks;
- reading is level-triggered like a selector reader: when the connection has
  data, a callback reads it and calls ``data_received``; ``pause_reading``
  stops reading, so the receive buffer fills and the advertised window closes;
- the peer's FIN becomes ``eof_received`` after the data before it; ``close``
  sends a FIN after the buffered data (RST with unread data, as the kernel
  does), ``abort`` a RST, ``write_eof`` half-closes;
- a RST becomes ``ConnectionResetError``, a timeout (R2, keep-alive, user
  timeout) ``TimeoutError``, both given to ``connection_lost``.

:class:`TcpSocket` stands in for the socket (``get_extra_info('socket')``,
``Server.sockets``): its ``setsockopt``/``getsockopt`` map the options users
reach for (TCP_NODELAY, SO_KEEPALIVE and TCP_KEEP*, TCP_USER_TIMEOUT,
SO_SNDBUF/SO_RCVBUF, SO_LINGER) onto the connection's configuration.
Sizes are bytes, times seconds.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ... import events as ev
from ...config import TcpConfig
from ...connection import Connection, Endpoint
from ...errors import LocalProtocolError

if TYPE_CHECKING:
    from .network import AioNetwork
    from .server import TcpServer

logger = logging.getLogger("tcpstack.aio")

READ_CHUNK = 256 * 1024
"""Most bytes one ``data_received`` call gets."""

DEFAULT_HIGH_WATER = 64 * 1024
"""Default high water mark of the transport's write buffer (asyncio's)."""

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)
TCP_KEEPIDLE = getattr(socket, "TCP_KEEPIDLE", 4)
TCP_KEEPINTVL = getattr(socket, "TCP_KEEPINTVL", 5)
TCP_KEEPCNT = getattr(socket, "TCP_KEEPCNT", 6)
_LINGER = struct.Struct("ii")
_DEFAULT_R2 = TcpConfig().r2


def sockaddr(endpoint: Endpoint) -> tuple[Any, ...]:
    """``endpoint`` as a socket address: ``(host, port)`` or ``(host, port, 0, 0)``."""
    if isinstance(endpoint.address, ipaddress.IPv6Address):
        return (str(endpoint.address), endpoint.port, 0, 0)
    return (str(endpoint.address), endpoint.port)


def family_of(endpoint: Endpoint) -> socket.AddressFamily:
    """The address family of ``endpoint``."""
    return socket.AF_INET6 if endpoint.address.version == 6 else socket.AF_INET


class TcpTransport(asyncio.Transport):
    """An asyncio transport on one tcpstack connection (see the module docstring).

    Created by the event loop of :mod:`tcpstack.drivers.aio` for each
    connection it opens or accepts; applications get it from
    ``connection_made`` or ``StreamWriter.transport``.
    """

    def __init__(self, network: AioNetwork, conn: Connection, protocol: asyncio.BaseProtocol,
                 *, server: TcpServer | None = None) -> None:
        self._network = network
        self._loop = network.require_loop()
        self._conn = conn
        self._protocol: asyncio.BaseProtocol = protocol
        self._server = server
        self._socket = TcpSocket(conn, transport=self)
        super().__init__(extra={
            "peername": sockaddr(conn.remote),
            "sockname": sockaddr(conn.local),
            "socket": self._socket,
            "tcpstack_connection": conn,
        })
        self._buffer = bytearray()  # written, not yet taken by the connection
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_HIGH_WATER // 4
        self._writing_paused = False
        self._reading = True
        self._read_scheduled = False
        self._write_scheduled = False
        self._closing = False
        self._eof_requested = False
        self._eof_sent = False
        self._eof_delivered = False
        self._lost = False
        self._writes_after_loss = 0
        self._drain_waiters: list[asyncio.Future[None]] = []
        self.linger_abort = False  # SO_LINGER with a zero timeout: close() resets

    # -- asyncio.BaseTransport ------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Send the buffered data, then a FIN; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._reading = False
        if self.linger_abort:  # SO_LINGER {on, 0}: close is an abort
            self.abort()
            return
        if not self._buffer:
            self._finish_close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # -- asyncio.ReadTransport ---------------------------------------------------------

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        """Stop reading: received data stays in the connection and its window closes."""
        self._reading = False

    def resume_reading(self) -> None:
        """Read again (what arrived meanwhile is delivered first)."""
        if self._closing or self._reading:
            return
        self._reading = True
        self._schedule_read()

    # -- asyncio.WriteTransport ---------------------------------------------------------

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        """Bytes written and not yet taken into the connection's send buffer."""
        return len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof_requested:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost:
            self._writes_after_loss += 1
            if self._writes_after_loss >= 5:
                logger.warning("write() on a connection that is lost")
            return
        self._buffer += data
        self._push()
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """Half-close: a FIN after the buffered data; reading goes on."""
        if self._closing or self._eof_requested:
            return
        self._eof_requested = True
        if not self._buffer:
            self._send_eof()

    def can_write_eof(self) -> bool:
        return True

    async def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send ``count`` bytes of ``file`` from ``offset`` (all if None); return how many.

        Reads chunks in the loop's executor and writes them with the
        transport's flow control (``loop.sendfile`` on this transport ends here).

        Raises:
            RuntimeError: the transport is closing.
            ConnectionError: the connection was lost meanwhile.
        """
        if self.is_closing():
            raise RuntimeError("Transport is closing")
        loop = self._loop
        file.seek(offset)
        total = 0
        try:
            while count is None or total < count:
                size = READ_CHUNK if count is None else min(READ_CHUNK, count - total)
                data = await loop.run_in_executor(None, file.read, size)
                if not data:
                    break
                self.write(data)
                total += len(data)
                await self._drain()
        finally:
            file.seek(offset + total)
        return total

    async def _drain(self) -> None:
        """Wait until the write buffer is at or below the low water mark.

        Raises:
            ConnectionResetError: the connection was lost.
        """
        if self._lost:
            raise ConnectionResetError(errno.ECONNRESET, "Connection lost")
        if len(self._buffer) <= self._low:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def _wake_drain_waiters(self, exc: BaseException | None = None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def abort(self) -> None:
        """Reset the connection (RST) at once; ``connection_lost(None)`` follows."""
        if self._lost:
            return
        self._closing = True
        self._reading = False
        self._buffer.clear()
        self._conn.abort()
        self._connection_lost(None)

    # -- what the connection tells us (from the network's dispatcher) --------------------

    def on_event(self, event: ev.Event) -> None:
        """React to one event of the connection."""
        if self._lost:
            return
        match event:
            case ev.DataReceived() | ev.PeerClosed():
                self._schedule_read()
            case ev.SendBufferAvailable():
                self._schedule_write()
            case ev.ConnectionReset():
                self._fail(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
            case ev.ConnectionTimedOut(reason=reason):
                self._fail(TimeoutError(errno.ETIMEDOUT, f"Connection timed out ({reason})"))
            case ev.ConnectionClosed():
                # Both directions are closed and acknowledged: nothing more can happen.
                self._schedule_read()
                self._loop.call_soon(self._ended)
            case ev.ConnectionAborted():
                self._fail(ConnectionAbortedError(errno.ECONNABORTED, "Connection aborted"))

    # -- internals ----------------------------------------------------------------------

    def _schedule_read(self) -> None:
        if not self._read_scheduled:
            self._read_scheduled = True
            self._loop.call_soon(self._read_ready)

    def _read_ready(self) -> None:
        """Like a selector reader callback: deliver what is readable, then the EOF."""
        self._read_scheduled = False
        if not self._reading or self._closing or self._lost:
            return
        conn = self._conn
        data = conn.read(READ_CHUNK)
        if data:
            self._protocol.data_received(data)  # type: ignore[attr-defined]
            if conn.readable:
                self._schedule_read()
                return
        if conn.at_eof and not self._eof_delivered and self._reading and not self._closing:
            self._eof_delivered = True
            keep_open = self._protocol.eof_received()  # type: ignore[attr-defined]
            if not keep_open:
                self.close()

    def _schedule_write(self) -> None:
        if not self._write_scheduled:
            self._write_scheduled = True
            self._loop.call_soon(self._write_ready)

    def _write_ready(self) -> None:
        self._write_scheduled = False
        if not self._lost:
            self._push()

    def _push(self) -> None:
        """Move buffered data into the connection; finish a pending EOF or close."""
        if self._buffer:
            try:
                n = self._conn.send(bytes(self._buffer))
            except LocalProtocolError:
                self._fail(ConnectionResetError(errno.EPIPE, "the connection is closed"))
                return
            del self._buffer[:n]
        if not self._buffer:
            if self._closing and not self._lost:
                self._finish_close()
            elif self._eof_requested and not self._eof_sent:
                self._send_eof()
        self._maybe_resume_protocol()

    def _send_eof(self) -> None:
        self._eof_sent = True
        self._conn.shutdown()

    def _finish_close(self) -> None:
        self._conn.close()  # FIN after what TCP holds; RST if data was left unread
        self._connection_lost(None)

    def _ended(self) -> None:
        if not self._lost:
            self._closing = True
            self._connection_lost(None)

    def _fail(self, exc: Exception) -> None:
        if self._lost:
            return
        # What arrived before the failure still reaches the protocol.
        data = self._conn.read()
        if data and self._reading and not self._closing:
            self._loop.call_soon(self._protocol.data_received, data)  # type: ignore[attr-defined]
        self._closing = True
        self._buffer.clear()
        self._connection_lost(exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake_drain_waiters(exc or ConnectionResetError(errno.ECONNRESET, "Connection lost"))
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._network.forget_transport(self._conn)
            if self._server is not None:
                self._server.detach(self)
                self._server = None

    def _maybe_pause_protocol(self) -> None:
        if not self._writing_paused and len(self._buffer) > self._high:
            self._writing_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as exc:  # as asyncio does: report, do not break the transport
                self._loop.call_exception_handler({
                    "message": "protocol.pause_writing() failed", "exception": exc,
                    "transport": self, "protocol": self._protocol})

    def _maybe_resume_protocol(self) -> None:
        if self._drain_waiters and len(self._buffer) <= self._low:
            self._wake_drain_waiters()
        if self._writing_paused and len(self._buffer) <= self._low:
            self._writing_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as exc:
                self._loop.call_exception_handler({
                    "message": "protocol.resume_writing() failed", "exception": exc,
                    "transport": self, "protocol": self._protocol})

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else "open"
        return f"<TcpTransport {self._conn.name} {self._conn.state} {state}>"


class TcpSocket:
    """A stand-in for the socket of a connection (or of a listener): addresses and
    the socket options users reach for, mapped onto tcpstack's configuration.

    ``setsockopt`` understands TCP_NODELAY (MUST-17), SO_KEEPALIVE with
    TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT in seconds and probes (§3.8.4),
    TCP_USER_TIMEOUT in milliseconds (R2 as the RFC 5482 user timeout, MUST-20/21; 0: the
    default),
    SO_SNDBUF/SO_RCVBUF in bytes, SO_LINGER (on with a zero timeout makes
    ``close()`` an abort) and SO_REUSEADDR/SO_REUSEPORT (accepted, no effect).
    Others raise ``OSError(ENOPROTOOPT)``. On a listener's socket the options
    apply to the connections it accepts from then on.

    Args:
        conn: the connection, or None for a listener.
        transport: the connection's transport (for SO_LINGER).
        listener: for a listener: ``(endpoint, apply)`` where ``apply(changes)``
            records configuration changes for future connections.
    """

    type = socket.SOCK_STREAM
    proto = socket.IPPROTO_TCP

    def __init__(self, conn: Connection | None, *, transport: TcpTransport | None = None,
                 listener: tuple[Endpoint, Any] | None = None) -> None:
        self._conn = conn
        self._transport = transport
        self._listener = listener
        self._linger = (0, 0)
        local = conn.local if conn is not None else listener[0] if listener is not None else None
        assert local is not None
        self._local = local
        self.family = family_of(local)

    def fileno(self) -> int:
        """-1: there is no file descriptor behind a tcpstack connection."""
        return -1

    def getsockname(self) -> tuple[Any, ...]:
        return sockaddr(self._local)

    def getpeername(self) -> tuple[Any, ...]:
        if self._conn is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return sockaddr(self._conn.remote)

    def setblocking(self, flag: bool) -> None:
        """No effect: nothing blocks."""

    def settimeout(self, value: float | None) -> None:
        """No effect: nothing blocks."""

    def gettimeout(self) -> float | None:
        return 0.0

    def close(self) -> None:
        """No effect: the transport owns the connection (close that instead)."""

    def setsockopt(self, level: int, optname: int, value: int | bytes) -> None:
        """Set an option (see the class docstring).

        Raises:
            OSError: ENOPROTOOPT for an option tcpstack does not map.
        """
        flag = value if isinstance(value, int) else 0
        changes: dict[str, Any]
        if (level, optname) == (socket.IPPROTO_TCP, socket.TCP_NODELAY):
            changes = {"nagle": not flag}
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            changes = {"keepalive": bool(flag)}
        elif (level, optname) == (socket.IPPROTO_TCP, TCP_KEEPIDLE):
            changes = {"keepalive_idle": float(flag)}
        elif (level, optname) == (socket.IPPROTO_TCP, TCP_KEEPINTVL):
            changes = {"keepalive_interval": float(flag)}
        elif (level, optname) == (socket.IPPROTO_TCP, TCP_KEEPCNT):
            changes = {"keepalive_count": flag}
        elif (level, optname) == (socket.IPPROTO_TCP, TCP_USER_TIMEOUT):
            # R2 becomes the user timeout, a deadline (RFC 5482 §3).
            changes = {"r2": flag / 1000 if flag else _DEFAULT_R2,
                       "user_timeout": flag / 1000 if flag else None}
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_SNDBUF):
            changes = {"send_buffer": flag}
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_RCVBUF):
            changes = {"recv_buffer": flag}
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_LINGER):
            onoff, seconds = _LINGER.unpack(bytes(value)) if not isinstance(value, int) else (0, 0)
            self._linger = (onoff, seconds)
            if self._transport is not None:
                self._transport.linger_abort = bool(onoff) and seconds == 0
            return
        elif level == socket.SOL_SOCKET and optname in (
            socket.SO_REUSEADDR, getattr(socket, "SO_REUSEPORT", -1)
        ):
            return
        else:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")
        try:
            if self._conn is not None:
                self._conn.reconfigure(**changes)
            elif self._listener is not None:
                self._listener[1](changes)
        except ValueError as exc:
            raise OSError(errno.EINVAL, f"Invalid argument: {exc}") from None

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        """Read an option back (see the class docstring).

        Raises:
            OSError: ENOPROTOOPT for an option tcpstack does not map.
        """
        if self._conn is None:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available on a listener")
        config = self._conn.config
        key = (level, optname)
        if key == (socket.IPPROTO_TCP, socket.TCP_NODELAY):
            return int(not config.nagle)
        if key == (socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            return int(config.keepalive)
        if key == (socket.IPPROTO_TCP, TCP_KEEPIDLE):
            return int(config.keepalive_idle)
        if key == (socket.IPPROTO_TCP, TCP_KEEPINTVL):
            return int(config.keepalive_interval)
        if key == (socket.IPPROTO_TCP, TCP_KEEPCNT):
            return config.keepalive_count
        if key == (socket.IPPROTO_TCP, TCP_USER_TIMEOUT):
            return int(config.r2 * 1000) if config.r2 is not None else 0
        if key == (socket.SOL_SOCKET, socket.SO_SNDBUF):
            return config.send_buffer
        if key == (socket.SOL_SOCKET, socket.SO_RCVBUF):
            return config.recv_buffer
        if key == (socket.SOL_SOCKET, socket.SO_LINGER):
            return _LINGER.pack(*self._linger)
        if key == (socket.SOL_SOCKET, socket.SO_TYPE):
            return socket.SOCK_STREAM
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")

    def __repr__(self) -> str:
        peer = f" peer={self._conn.remote}" if self._conn is not None else ""
        return f"<tcpstack socket local={self._local}{peer}>"
