"""An asyncio event loop whose TCP goes over tcpstack.

:class:`TcpstackEventLoop` is a :class:`asyncio.SelectorEventLoop` in which
``create_server``, ``create_connection``, ``sock_connect`` and
``getaddrinfo`` use a tcpstack network (:mod:`tcpstack.drivers.aio.network`)
instead of the machine's sockets and resolver. Everything asyncio builds on
them works unchanged: ``asyncio.start_server`` and ``open_connection``,
streams, and aiohttp's server and client (whose happy-eyeballs connector
creates a socket, calls ``sock_connect`` and hands the socket to
``create_connection``: the loop connects that socket over tcpstack).

Its clock is the network's: virtual seconds for the simulator, the monotonic
clock for a TUN device. Names are not resolved: ``getaddrinfo`` takes IP
literals (and numeric ports) only, so no query ever leaves the machine.
TLS is not offered. Use :func:`run` (like ``asyncio.run``) or
:func:`new_event_loop` (for ``asyncio.Runner(loop_factory=...)``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import inspect
import ipaddress
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from .network import AioNetwork
from .server import ProtocolFactory, TcpServer
from .transport import TcpTransport

T = TypeVar("T")

_NO_TLS = "TLS (ssl=...) is not supported over tcpstack"


class TcpstackEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose TCP goes over ``network`` (see the module docstring).

    Args:
        network: a :class:`~tcpstack.drivers.aio.network.SimulatedNetwork` or
            :class:`~tcpstack.drivers.aio.tun.TunNetwork`; it serves one loop
            at a time.

    Attributes:
        network: the network.
    """

    def __init__(self, network: AioNetwork) -> None:
        self.network = network
        self._woke = False
        self._threads = 0
        super().__init__(network.make_selector())
        try:
            network.attach(self)
        except BaseException:  # e.g. the TUN device cannot be made: leave nothing open
            super().close()
            if network.loop is self:
                network.detach()
            raise

    # -- the clock and the network's wake-ups --------------------------------------

    def time(self) -> float:
        """The network's clock, seconds (virtual time in the simulator)."""
        return self.network.time()

    def network_woke(self) -> None:
        """The network scheduled work for the program (its selector stops waiting)."""
        self._woke = True

    def network_quiet(self) -> None:
        """The selector starts waiting."""
        self._woke = False

    def network_has_woken(self) -> bool:
        """True if the network scheduled work since :meth:`network_quiet`."""
        return self._woke

    def threads_busy(self) -> bool:
        """True while work handed to threads is pending."""
        return self._threads > 0

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.network.detach()

    # -- work in threads (counted: it takes no virtual time) ------------------------

    def run_in_executor(self, executor: concurrent.futures.Executor | None,  # type: ignore[override]
                        func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._threads += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self._threads -= 1

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        self._threads += 1
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._threads -= 1

    # -- names --------------------------------------------------------------------------

    async def getaddrinfo(  # type: ignore[override]
        self, host: bytes | str | None, port: bytes | str | int | None, *,
        family: int = 0, type: int = 0, proto: int = 0, flags: int = 0,
    ) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]]:
        """Resolve an IP literal and a numeric port, never asking the machine's resolver.

        Raises:
            socket.gaierror: a host name (EAI_NONAME) or a service name (EAI_SERVICE).
        """
        if isinstance(host, bytes):
            host = host.decode()
        if host is None:
            raise socket.gaierror(socket.EAI_NONAME, "tcpstack needs an address to resolve")
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            raise socket.gaierror(
                socket.EAI_NONAME,
                f"{host!r} is not an IP address (tcpstack resolves no names)",
            ) from None
        number = _port_number(port)
        fam = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        if family not in (0, socket.AF_UNSPEC, fam):
            raise socket.gaierror(socket.EAI_FAMILY, f"{host} is not of family {family}")
        sockaddr: tuple[Any, ...] = ((str(addr), number, 0, 0) if addr.version == 6
                                     else (str(addr), number))
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
        """The numeric host and port of ``sockaddr`` (no reverse lookup)."""
        return str(sockaddr[0]), str(sockaddr[1])

    # -- servers and connections ------------------------------------------------------------

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        family: int = socket.AF_UNSPEC,
        flags: int = socket.AI_PASSIVE,
        sock: Any = None,
        backlog: int = 100,
        ssl: Any = None,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        keep_alive: bool | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> TcpServer:
        """Listen on tcpstack (``host``: an address of the network, a list of them,
        or None for all; ``port`` 0 or None picks a free one).

        Raises:
            OSError: EADDRINUSE (port taken), EADDRNOTAVAIL (address not in the network).
            ValueError: ``ssl`` or ``sock`` given.
        """
        if ssl:
            raise ValueError(_NO_TLS)
        if sock is not None:
            raise ValueError("a tcpstack event loop listens itself: pass host and port, "
                             "not sock")
        stacks = self.network.bind_stacks(host)
        if not port:
            port = _free_port(stacks)
        server = TcpServer(self.network, protocol_factory,
                           [(stack, port) for stack in stacks], backlog)
        if keep_alive:
            server._configure({"keepalive": True})
        if start_serving:
            server.start()
            await asyncio.sleep(0)
        return server

    async def create_connection(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        sock: Any = None,
        local_addr: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        happy_eyeballs_delay: float | None = None,
        interleave: int | None = None,
        all_errors: bool = False,
    ) -> tuple[TcpTransport, asyncio.BaseProtocol]:
        """Open a connection over tcpstack and make its transport and protocol.

        From ``local_addr``'s host (by default the network's first host), or
        take the connection ``sock`` was connected to by :meth:`sock_connect`.

        Raises:
            ConnectionRefusedError: the peer answered with a RST.
            TimeoutError: the SYN went unanswered for R2 (three minutes by default).
            OSError: EADDRINUSE, EADDRNOTAVAIL; socket.gaierror for names.
            ValueError: ``ssl``, or a ``sock`` this loop did not connect.
        """
        if ssl:
            raise ValueError(_NO_TLS)
        network = self.network
        if sock is not None:
            conn = network.take_sock(sock)
            sock.close()  # the real socket only stood for the connection
        else:
            if host is None or port is None:
                raise ValueError("host and port are needed unless sock is given")
            infos = await self.getaddrinfo(host, port, family=family)
            address = infos[0][4]
            stack = (network.stack_of(local_addr[0]) if local_addr is not None
                     else network.default_stack())
            local_port = local_addr[1] or None if local_addr is not None else None
            conn = await network.open(stack, address[0], address[1], local_port)
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = self.create_future()
        transport = network.start_transport(conn, protocol, waiter=waiter)
        await waiter
        return transport, protocol

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect ``sock`` over tcpstack: the socket then stands for the connection,
        which ``create_connection(sock=sock)`` takes (the way aiohttp connects).

        Raises:
            ConnectionRefusedError, TimeoutError, OSError: as :meth:`create_connection`.
        """
        host, port = address[0], address[1]
        infos = await self.getaddrinfo(host, port)
        address = infos[0][4]
        bound = sock.getsockname()
        bound_host = bound[0] if isinstance(bound, tuple) else ""
        network = self.network
        if bound_host not in ("", "0.0.0.0", "::"):
            stack = network.stack_of(bound_host)
            local_port = bound[1] or None
        else:
            stack, local_port = network.default_stack(), None
        conn = await network.open(stack, address[0], address[1], local_port)
        network.register_sock(sock, conn)

    async def sendfile(self, transport: asyncio.WriteTransport, file: Any, offset: int = 0,
                       count: int | None = None, *, fallback: bool = True) -> int:
        """Send a file on a transport: read in chunks, written with flow control
        (there is no kernel ``sendfile`` under tcpstack).

        Raises:
            RuntimeError: the transport is closing.
        """
        if isinstance(transport, TcpTransport):
            return await transport.sendfile(file, offset, count)
        return await super().sendfile(transport, file, offset, count, fallback=fallback)

    async def create_datagram_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered: tcpstack carries TCP only.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("tcpstack carries TCP only: no datagram endpoints")

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered: tcpstack carries TCP only.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("tcpstack carries TCP only: no Unix sockets")

    async def create_unix_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered: tcpstack carries TCP only.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("tcpstack carries TCP only: no Unix sockets")


def _port_number(port: bytes | str | int | None) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if not port.isdigit():
            raise socket.gaierror(socket.EAI_SERVICE,
                                  f"service {port!r}: tcpstack takes numeric ports only")
        port = int(port)
    if not 0 <= port <= 65535:
        raise socket.gaierror(socket.EAI_SERVICE, f"port {port} out of range")
    return port


def _free_port(stacks: list[Any]) -> int:
    """A port free on every stack (for ``port=0``), from the dynamic range.

    Raises:
        OSError: EADDRINUSE if none is.
    """
    for port in range(49152, 65536):
        if all(not stack.listening(port) for stack in stacks):
            return port
    raise OSError(errno.EADDRINUSE, "no free port")


def new_event_loop(network: AioNetwork) -> TcpstackEventLoop:
    """A new event loop whose TCP goes over ``network``.

    For ``asyncio.Runner(loop_factory=lambda: new_event_loop(network))``.
    """
    return TcpstackEventLoop(network)


def run(main: Coroutine[Any, Any, T], *, network: AioNetwork, debug: bool | None = None) -> T:
    """Run ``main`` like ``asyncio.run``, with its TCP over ``network``.

    Returns what ``main`` returns; raises what it raises (and
    :class:`~tcpstack.drivers.aio.network.Deadlock` when, in the simulator,
    nothing can happen any more while ``main`` waits).
    """
    try:
        with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(network)) as runner:
            return runner.run(main)
    finally:
        if inspect.getcoroutinestate(main) == inspect.CORO_CREATED:
            main.close()  # the loop could not start (a TUN device refused): main never ran
