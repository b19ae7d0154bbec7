"""asyncio servers over tcpstack listeners.

A :class:`TcpServer` is what ``loop.create_server`` (and so
``asyncio.start_server`` and aiohttp's ``TCPSite``) returns on a tcpstack
event loop: an :class:`asyncio.AbstractServer` whose listening sockets are
tcpstack listeners (RFC 9293 §3.10.1, passive OPEN). Each connection it
accepts gets a protocol from the factory and a
:class:`~tcpstack.drivers.aio.transport.TcpTransport`.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...config import TcpConfig
from ...connection import Connection, Endpoint
from ...errors import AddressInUse
from ...stack import Stack
from .transport import TcpSocket, TcpTransport, sockaddr

if TYPE_CHECKING:
    from .network import AioNetwork

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class TcpServer(asyncio.AbstractServer):
    """Listeners on one or more tcpstack addresses, and the connections they accepted.

    Args:
        network: the network the listeners live in.
        protocol_factory: makes the protocol of each accepted connection.
        bindings: ``(stack, port)`` to listen on.
        backlog: most half-open plus queued connections per listener.

    Created by ``loop.create_server``; use it as asyncio's ``Server``.
    """

    def __init__(self, network: AioNetwork, protocol_factory: ProtocolFactory,
                 bindings: list[tuple[Stack, int]], backlog: int) -> None:
        self._network = network
        self._loop = network.require_loop()
        self._factory = protocol_factory
        self._bindings = bindings
        self._backlog = backlog
        self._config_changes: dict[str, Any] = {}
        self._serving = False
        self._closed = False
        self._transports: set[TcpTransport] = set()
        self._closed_waiters: list[asyncio.Future[None]] = []
        self._serving_forever: asyncio.Future[None] | None = None
        self._sockets = [
            TcpSocket(None, listener=(Endpoint(stack.address, port), self._configure))
            for stack, port in bindings
        ]

    # -- asyncio.AbstractServer ---------------------------------------------------

    def close(self) -> None:
        """Stop listening; connections already accepted stay open."""
        if self._closed:
            return
        self._closed = True
        if self._serving:
            for stack, port in self._bindings:
                stack.unlisten(port)
                self._network.forget_server(stack, port)
        self._serving = False
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._serving_forever = None
        self._wake_closed_waiters()

    def close_clients(self) -> None:
        """Close every accepted connection (FIN after its buffered data)."""
        for transport in list(self._transports):
            transport.close()

    def abort_clients(self) -> None:
        """Reset every accepted connection."""
        for transport in list(self._transports):
            transport.abort()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        """Start listening (if ``create_server`` was called with ``start_serving=False``).

        Raises:
            OSError: EADDRINUSE if a port is taken.
        """
        self.start()
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Serve until the server is closed (or this coroutine is cancelled)."""
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        self.start()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection it accepted has ended."""
        if self._closed and not self._transports:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._closed_waiters.append(waiter)
        await waiter

    @property
    def sockets(self) -> tuple[TcpSocket, ...]:
        """One socket-like object per listening address (``getsockname()`` works)."""
        return tuple(self._sockets) if self._serving else ()

    # -- the network's side -------------------------------------------------------------

    def start(self) -> None:
        """Listen on every binding (idempotent).

        Raises:
            OSError: EADDRINUSE if a port is taken (nothing is left listening).
        """
        if self._serving or self._closed:
            return
        done: list[tuple[Stack, int]] = []
        try:
            for stack, port in self._bindings:
                stack.listen(port, self._backlog, config=self._listener_config(stack))
                self._network.remember_server(stack, port, self)
                done.append((stack, port))
        except AddressInUse:
            for stack, port in done:
                stack.unlisten(port)
                self._network.forget_server(stack, port)
            stack, port = self._bindings[len(done)]
            where = sockaddr(Endpoint(stack.address, port))
            raise OSError(
                errno.EADDRINUSE,
                f"error while attempting to bind on address {where!r}: address already in use",
            ) from None
        self._serving = True

    def accept(self, conn: Connection) -> TcpTransport:
        """Give an accepted connection its protocol and transport."""
        protocol = self._factory()
        transport = self._network.start_transport(conn, protocol, server=self)
        self._transports.add(transport)
        return transport

    def detach(self, transport: TcpTransport) -> None:
        """A connection this server accepted has ended."""
        self._transports.discard(transport)
        if self._closed and not self._transports:
            self._wake_closed_waiters()

    def _listener_config(self, stack: Stack) -> TcpConfig | None:
        if not self._config_changes:
            return None
        return replace(stack.config, **self._config_changes)

    def _configure(self, changes: dict[str, Any]) -> None:
        """Socket options set on a listening socket: for the connections accepted next."""
        self._config_changes.update(changes)
        if self._serving:
            for stack, port in self._bindings:
                listener = stack.listener(port)
                if listener is not None:
                    listener.config = self._listener_config(stack)

    def _wake_closed_waiters(self) -> None:
        if self._transports:
            return
        waiters, self._closed_waiters = self._closed_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __repr__(self) -> str:
        where = ", ".join(f"{stack.address}:{port}" for stack, port in self._bindings)
        return f"<TcpServer {where} {'serving' if self._serving else 'not serving'}>"
