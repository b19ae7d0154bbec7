"""Networks an asyncio program can run on: the simulator (virtual time) and a TUN device.

:class:`AioNetwork` is what the event loop of :mod:`tcpstack.drivers.aio`
needs from a network: which stack binds or connects for an address, the
loop's clock, a selector, and the dispatch of every connection event to the
transport, server or pending connect it belongs to.

:class:`SimulatedNetwork` runs the program in the simulator's virtual time:
its :class:`VirtualSelector` never sleeps. When the loop would wait, it
steps the simulator (packets arrive, TCP timers fire) until something is
ready for the program or the loop's next timer is due, and jumps the clock
there. A two-hour ``asyncio.sleep`` or keep-alive passes in milliseconds, and
a run is reproducible from the seed. Work handed to threads
(``run_in_executor``) takes no virtual time: the loop waits for it in real
time. When nothing at all can happen any more, the selector raises
:class:`Deadlock` instead of waiting forever.

:class:`~tcpstack.drivers.aio.tun.TunNetwork` (in ``tun.py``) puts the stack
on a Linux TUN device, in real time.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import math
import selectors
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ... import events as ev
from ...config import TcpConfig
from ...connection import Connection
from ...stack import Stack
from ...trace import Trace
from ...wire import IPAddress
from ..faults import GilbertElliott
from ..sim import Host, Network
from .transport import TcpTransport

if TYPE_CHECKING:
    import socket

    from .loop import TcpstackEventLoop
    from .server import TcpServer


class Deadlock(RuntimeError):
    """Virtual time stands still: nothing can happen any more.

    No callback is ready, no timer is set, no thread is working and the
    simulated network has nothing left to deliver: the program waits for
    something that will never come (a server serving forever with no clients
    left, a read from a peer that went away without a word...).
    """


class AioNetwork:
    """The part of a network the tcpstack event loop talks to (subclassed)."""

    def __init__(self) -> None:
        self.loop: TcpstackEventLoop | None = None
        self._servers: dict[tuple[int, int], TcpServer] = {}
        self._transports: dict[Connection, TcpTransport] = {}
        self._connecting: dict[Connection, asyncio.Future[None]] = {}
        self._socks: dict[socket.socket, Connection] = {}

    # -- what a concrete network provides ------------------------------------------

    def time(self) -> float:
        """The loop's clock, seconds."""
        raise NotImplementedError

    def make_selector(self) -> selectors.BaseSelector:
        """The selector the loop waits on."""
        raise NotImplementedError

    def attach(self, loop: TcpstackEventLoop) -> None:
        """Start serving ``loop`` (called by the loop's constructor)."""
        if self.loop is not None and not self.loop.is_closed():
            raise RuntimeError("this network already serves a running event loop")
        self.loop = loop

    def detach(self) -> None:
        """The loop closed."""
        self.loop = None

    @property
    def stacks(self) -> list[Stack]:
        """Every stack of the network."""
        raise NotImplementedError

    def default_stack(self) -> Stack:
        """The stack a client uses when it does not bind a local address."""
        raise NotImplementedError

    # -- addresses --------------------------------------------------------------------

    def require_loop(self) -> TcpstackEventLoop:
        """The loop this network serves.

        Raises:
            RuntimeError: no loop is attached.
        """
        if self.loop is None:
            raise RuntimeError("the network serves no event loop (use tcpstack.aio.run)")
        return self.loop

    def stack_of(self, address: str | IPAddress) -> Stack:
        """The stack that owns ``address``.

        Raises:
            OSError: EADDRNOTAVAIL if no stack of the network has it.
        """
        known = ", ".join(str(stack.address) for stack in self.stacks)
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            raise OSError(errno.EADDRNOTAVAIL,
                          f"{address!r} is not an IP address (tcpstack resolves no names; "
                          f"this network has {known})") from None
        for stack in self.stacks:
            if stack.address == addr:
                return stack
        raise OSError(errno.EADDRNOTAVAIL,
                      f"Cannot assign requested address: {address} is not in this network "
                      f"(it has {known})")

    def bind_stacks(self, host: str | Sequence[str] | None) -> list[Stack]:
        """The stacks a server binds on: all of them for ``None``, ``""``, ``0.0.0.0``
        or ``::``; else the ones with the given addresses.

        Raises:
            OSError: EADDRNOTAVAIL for an address not in the network.
        """
        if host is None or host in ("", "0.0.0.0", "::"):
            return list(self.stacks)
        hosts = [host] if isinstance(host, str) else list(host)
        return [self.stack_of(h) for h in hosts]

    # -- registries ---------------------------------------------------------------------

    def remember_server(self, stack: Stack, port: int, server: TcpServer) -> None:
        """``server`` listens on ``stack``'s ``port``."""
        self._servers[(id(stack), port)] = server

    def forget_server(self, stack: Stack, port: int) -> None:
        """Nobody listens on ``stack``'s ``port`` any more."""
        self._servers.pop((id(stack), port), None)

    def forget_transport(self, conn: Connection) -> None:
        """The transport of ``conn`` is gone; later events of ``conn`` are ignored."""
        self._transports.pop(conn, None)

    def start_transport(self, conn: Connection, protocol: asyncio.BaseProtocol,
                        *, server: TcpServer | None = None,
                        waiter: asyncio.Future[None] | None = None) -> TcpTransport:
        """Make the transport of an open connection and introduce it to ``protocol``:
        ``connection_made``, then whatever data already arrived."""
        loop = self.require_loop()
        transport = TcpTransport(self, conn, protocol, server=server)
        self._transports[conn] = transport
        loop.call_soon(protocol.connection_made, transport)
        if waiter is not None:
            loop.call_soon(_set_result, waiter)
        if conn.readable or conn.at_eof:
            transport.on_event(ev.DataReceived(conn.readable))
        return transport

    async def open(self, stack: Stack, host: str, port: int, local_port: int | None) -> Connection:
        """Active OPEN from ``stack`` to ``host:port``; return once ESTABLISHED.

        Raises:
            ConnectionRefusedError: the peer answered with a RST.
            TimeoutError: nobody answered within R2 for SYNs (MUST-23).
            OSError: EADDRINUSE if the local port is taken.
        """
        loop = self.require_loop()
        from ...errors import AddressInUse  # a cycle-free late import

        try:
            conn = stack.connect(host, port, now=loop.time(), local_port=local_port)
        except AddressInUse as exc:
            raise OSError(errno.EADDRINUSE, f"address already in use: {exc}") from None
        waiter: asyncio.Future[None] = loop.create_future()
        self._connecting[conn] = waiter
        self.kick()
        try:
            await waiter
        except BaseException:
            self._connecting.pop(conn, None)
            if conn.state.value != "CLOSED":
                conn.abort()
                self.kick()
            raise
        return conn

    def register_sock(self, sock: socket.socket, conn: Connection) -> None:
        """``sock`` (a socket created by the program) stands for ``conn``."""
        self._socks[sock] = conn

    def take_sock(self, sock: socket.socket) -> Connection:
        """The connection ``sock`` stands for (``create_connection(sock=...)``).

        Raises:
            ValueError: ``sock`` was not connected through this loop's ``sock_connect``.
        """
        try:
            return self._socks.pop(sock)
        except KeyError:
            raise ValueError("a tcpstack event loop only takes sockets it connected itself "
                             "(loop.sock_connect): real sockets do not reach tcpstack") from None

    def kick(self) -> None:
        """Make sure stack work pending now gets done soon (a driver's flush)."""

    # -- dispatch -------------------------------------------------------------------------

    def on_event(self, stack: Stack, conn: Connection, event: ev.Event) -> None:
        """Route one event of ``stack`` to its transport, pending connect or server."""
        transport = self._transports.get(conn)
        if transport is not None:
            transport.on_event(event)
            return
        waiter = self._connecting.get(conn)
        if waiter is not None:
            exc = _connect_error(conn, event)
            if isinstance(event, ev.Connected):
                del self._connecting[conn]
                _set_result(waiter)
            elif exc is not None:
                del self._connecting[conn]
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        if isinstance(event, ev.Connected) and conn.passive:
            server = self._servers.get((id(stack), conn.local.port))
            if server is None or not server.is_serving():
                conn.abort()  # its listener is gone, as a closed listening socket resets its queue
                return
            while (accepted := stack.accept(conn.local.port)) is not None:
                server.accept(accepted)


def _set_result(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _connect_error(conn: Connection, event: ev.Event) -> BaseException | None:
    """The exception ``event`` raises in a connect still waiting, or None."""
    where = f"({conn.remote.address}, {conn.remote.port})"
    match event:
        case ev.ConnectionReset(refused=True):
            return ConnectionRefusedError(errno.ECONNREFUSED, f"Connect call failed {where}")
        case ev.ConnectionReset():
            return ConnectionResetError(errno.ECONNRESET, f"Connection reset {where}")
        case ev.ConnectionTimedOut():
            return TimeoutError(errno.ETIMEDOUT, f"Connect call failed {where}: timed out")
        case ev.ConnectionClosed() | ev.ConnectionAborted():
            return ConnectionAbortedError(errno.ECONNABORTED, f"Connect call aborted {where}")
    return None


class SimulatedNetwork(AioNetwork):
    """The simulator, for asyncio programs: hosts joined by links, in virtual time.

    Every pair of hosts is linked both ways with the same link options, those
    of ``tcpstack demo`` and of :class:`~tcpstack.drivers.sim.LinkConfig`.

    Args:
        hosts: host addresses (IPv4 or IPv6 literals), or ``(name, address)``
            pairs; a plain address is also the host's name in the trace.
            Clients connect from the first host unless they bind a
            ``local_addr``; a server binds on the host(s) of its ``host``.
        delay: one-way propagation delay, seconds.
        loss, duplicate, reorder, corrupt: probabilities per packet in [0, 1].
        jitter: extra delay up to this many seconds per packet.
        bandwidth: bottleneck rate of each link in bits per second (None: no limit).
        outage: ``(start, end)`` in virtual seconds, or a list of them: every
            link is down then.
        burst_loss: Gilbert-Elliott burst loss (see :mod:`tcpstack.drivers.faults`).
        seed: seeds every random choice (loss, ISNs, ports): a run is
            reproducible from it.
        config: TCP configuration of every host.
        keep_packets: keep every packet (for :meth:`write_pcap`).
        link_options: more :class:`~tcpstack.drivers.sim.LinkConfig` fields.

    Attributes:
        network: the simulator (:class:`~tcpstack.drivers.sim.Network`).
        real_waits: how many times the loop waited in real time (only ever for
            work handed to threads, ``run_in_executor``): 0 means the whole
            run took no wall-clock waiting, whatever its virtual duration.

    Raises:
        ValueError: no host, a duplicate address or an invalid link option.
    """

    def __init__(
        self,
        hosts: Sequence[str | tuple[str, str]] = ("192.0.2.1", "192.0.2.2"),
        *,
        delay: float = 0.010,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        jitter: float = 0.0,
        corrupt: float = 0.0,
        bandwidth: float | None = None,
        outage: tuple[float, float] | Iterable[tuple[float, float]] | None = None,
        burst_loss: GilbertElliott | None = None,
        seed: int = 0,
        config: TcpConfig | None = None,
        keep_packets: bool = True,
        **link_options: Any,
    ) -> None:
        super().__init__()
        if not hosts:
            raise ValueError("a simulated network needs at least one host")
        self.network = Network(seed=seed, keep_packets=keep_packets)
        self.real_waits = 0
        self._hosts: list[Host] = []
        for entry in hosts:
            name, address = (entry, entry) if isinstance(entry, str) else entry
            host = self.network.add_host(name, address, config=config)
            host.auto_accept = False  # servers accept (or refuse) themselves
            host.app = self._host_app(host)
            self._hosts.append(host)
        options = dict(loss=loss, duplicate=duplicate, reorder=reorder, jitter=jitter,
                       corrupt=corrupt, bandwidth=bandwidth, burst_loss=burst_loss,
                       **link_options)
        for i, a in enumerate(self._hosts):
            for b in self._hosts[i + 1:]:
                self.network.link(a, b, delay=delay, **options)
        if outage is not None:
            windows: list[tuple[float, float]] = (
                [outage] if isinstance(outage, tuple) and _is_window(outage)
                else list(outage)  # type: ignore[arg-type]
            )
            for start, end in windows:
                for i, a in enumerate(self._hosts):
                    for b in self._hosts[i + 1:]:
                        self.network.outage(a, b, start, end)

    @property
    def trace(self) -> Trace:
        """The run's trace (the ladder, pcap and HTML tools read it)."""
        return self.network.trace

    @property
    def hosts(self) -> list[Host]:
        """The simulated hosts, in the order given."""
        return list(self._hosts)

    @property
    def stacks(self) -> list[Stack]:
        return [host.stack for host in self._hosts]

    def default_stack(self) -> Stack:
        return self._hosts[0].stack

    def host(self, address: str) -> Host:
        """The host with ``address`` (or that name).

        Raises:
            KeyError: no such host.
        """
        for host in self._hosts:
            if host.name == address or str(host.address) == address:
                return host
        raise KeyError(f"no host {address!r}")

    def write_pcap(self, path: str) -> int:
        """Write every packet of the run to a pcap file; returns how many."""
        from ...tools.pcap import write_pcap

        return write_pcap(path, self.network.packets)

    def time(self) -> float:
        return self.network.now

    def make_selector(self) -> selectors.BaseSelector:
        return VirtualSelector(self)

    def attach(self, loop: TcpstackEventLoop) -> None:
        super().attach(loop)
        self.network.restart_run()

    def _host_app(self, host: Host) -> Any:
        def dispatch(conn: Connection, event: ev.Event) -> None:
            self.on_event(host.stack, conn, event)
            if self.loop is not None:
                self.loop.network_woke()

        return dispatch


def _is_window(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int | float) for v in value))


class VirtualSelector(selectors.BaseSelector):
    """The selector of a simulated network: it advances virtual time instead of waiting.

    Registered file descriptors (the loop's self-pipe, for callbacks from
    threads) are polled without waiting; when work handed to a thread is
    pending, ``select`` waits for it in real time, virtual time standing still.
    """

    def __init__(self, network: SimulatedNetwork) -> None:
        self._network = network
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Process the simulated network until the program has something to do or
        ``timeout`` virtual seconds have passed.

        Raises:
            Deadlock: nothing can happen any more (see :class:`Deadlock`).
        """
        ready = self._real.select(0)
        if ready:
            return ready
        net = self._network
        sim = net.network
        loop = net.require_loop()
        limit = math.inf if timeout is None else sim.now + max(timeout, 0.0)
        loop.network_quiet()
        sim.flush()
        while not loop.network_has_woken():
            t = sim.next_time()
            if t > sim.now:  # (what is due now is always processed first)
                if timeout == 0:
                    return []  # callbacks are ready: no time passes
                if loop.threads_busy():
                    # Threads take no virtual time: wait for them in real time.
                    net.real_waits += 1
                    return self._real.select(None)
                if t > limit or t == math.inf:
                    if limit == math.inf:
                        raise Deadlock(
                            "virtual time stands still: no task is ready, no timer is set "
                            "and the simulated network has nothing left to deliver"
                        )
                    sim.now = max(sim.now, limit)
                    return []
            sim.step()
        return []
