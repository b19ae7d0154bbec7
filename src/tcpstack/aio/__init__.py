"""Ordinary asyncio programs over tcpstack: in the simulator's virtual time, or on TUN.

Run a program written for real sockets (``asyncio.start_server``,
``asyncio.open_connection``, ``loop.create_server``,
``loop.create_connection``, aiohttp's server and client) unmodified, with
its TCP over tcpstack::

    import asyncio
    import tcpstack.aio

    async def main() -> bytes:
        async def echo(reader, writer):
            writer.write(await reader.read(100))
            writer.close()

        server = await asyncio.start_server(echo, "192.0.2.2", 7)
        reader, writer = await asyncio.open_connection("192.0.2.2", 7)
        writer.write(b"hello")
        reply = await reader.read()
        writer.close()
        server.close()
        return reply

    net = tcpstack.aio.SimulatedNetwork(["192.0.2.1", "192.0.2.2"], loss=0.05)
    assert tcpstack.aio.run(main(), network=net) == b"hello"

* :func:`run` is ``asyncio.run`` on a tcpstack event loop;
  :func:`new_event_loop` makes one for ``asyncio.Runner(loop_factory=...)``.
* :class:`SimulatedNetwork`: hosts and links of the simulator; the loop's
  clock is virtual time (a two-hour ``asyncio.sleep`` takes milliseconds) and
  a run is reproducible from its seed; ``network.trace`` is the run's trace.
* :class:`TunNetwork`: the stack on a Linux TUN device, in real time, so the
  kernel's clients reach the program's servers and its clients the kernel's.

Transports are real ``asyncio.Transport`` objects (write flow control,
``write_eof`` half-close, ``close`` sends a FIN, ``abort`` a RST);
``transport.get_extra_info("tcpstack_connection")`` is the connection and
``get_extra_info("socket")`` takes the usual socket options. Errors are
asyncio's: ``ConnectionRefusedError``, ``ConnectionResetError``,
``TimeoutError``, ``OSError(EADDRINUSE)``. Names are not resolved: use IP
addresses. This module needs nothing beyond the standard library and
tcpstack.
"""

from tcpstack.drivers.aio import (
    Deadlock,
    SimulatedNetwork,
    TcpServer,
    TcpSocket,
    TcpstackEventLoop,
    TcpTransport,
    TunNetwork,
    new_event_loop,
    run,
)

__all__ = [
    "Deadlock",
    "SimulatedNetwork",
    "TcpServer",
    "TcpSocket",
    "TcpTransport",
    "TcpstackEventLoop",
    "TunNetwork",
    "new_event_loop",
    "run",
]
