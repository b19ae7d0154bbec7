"""Socket options through ``get_extra_info('socket')`` reach the connection's configuration."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from typing import Any

import pytest
from aio_helpers import CLIENT, SERVER, flagged, run_sim, segments

from tcpstack.aio import TcpSocket


async def _connected() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.AbstractServer,
                                asyncio.Future[asyncio.StreamWriter]]:
    accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(serve, SERVER, 80)
    reader, writer = await asyncio.open_connection(SERVER, 80)
    return reader, writer, server, accepted


def test_options_round_trip_into_the_connection_config() -> None:
    async def main() -> dict[str, Any]:
        _r, writer, server, _a = await _connected()
        sock = writer.get_extra_info("socket")
        assert isinstance(sock, TcpSocket)
        conn = writer.get_extra_info("tcpstack_connection")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 12_500)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 100_000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # accepted, no effect
        c = conn.config
        got = {
            "config": (c.nagle, c.keepalive, c.keepalive_idle, c.keepalive_interval,
                       c.keepalive_count, c.r2, c.send_buffer),
            "get": tuple(sock.getsockopt(level, name) for level, name in (
                (socket.IPPROTO_TCP, socket.TCP_NODELAY),
                (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                (socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
                (socket.SOL_SOCKET, socket.SO_SNDBUF),
                (socket.SOL_SOCKET, socket.SO_TYPE),
            )),
            "names": (sock.getsockname(), sock.getpeername(), sock.fileno()),
        }
        writer.close()
        server.close()
        return got

    got, _ = run_sim(main)
    assert got["config"] == (False, True, 30.0, 5.0, 3, 12.5, 100_000)
    assert got["get"] == (1, 1, 30, 5, 3, 12_500, 100_000, socket.SOCK_STREAM)
    assert got["names"][1] == (SERVER, 80) and got["names"][0][0] == CLIENT
    assert got["names"][2] == -1


def test_unknown_and_invalid_options_raise_oserror() -> None:
    async def main() -> list[int]:
        _r, writer, server, _a = await _connected()
        sock = writer.get_extra_info("socket")
        codes = []
        for call in (
            lambda: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 500),
            lambda: sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST),
            lambda: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 0),
        ):
            try:
                call()
            except OSError as exc:
                codes.append(exc.errno)
        writer.close()
        server.close()
        return codes

    assert run_sim(main)[0] == [errno.ENOPROTOOPT, errno.ENOPROTOOPT, errno.EINVAL]


@pytest.mark.parametrize("nodelay", [False, True])
def test_nodelay_sends_small_writes_at_once_nagle_coalesces_them(nodelay: bool) -> None:
    async def main() -> None:
        _r, writer, server, _a = await _connected()
        writer.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        for _ in range(20):
            writer.write(b"k")  # one keystroke at a time
            await asyncio.sleep(0.001)
        await asyncio.sleep(1)
        writer.close()
        server.close()

    _, net = run_sim(main, delay=0.05)
    data_segments = [r for r in segments(net, CLIENT) if r.data["len"]]
    if nodelay:
        assert len(data_segments) == 20
    else:  # one segment in flight at a time, the rest gathered behind it
        assert len(data_segments) <= 3


def test_so_linger_zero_makes_close_an_abort() -> None:
    async def main() -> bytes:
        _r, writer, server, _a = await _connected()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        linger = sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER)
        writer.close()
        await asyncio.sleep(1)
        server.close()
        return bytes(linger)

    linger, net = run_sim(main)
    assert struct.unpack("ii", linger) == (1, 0)
    assert flagged(net, CLIENT, "RST") and not flagged(net, CLIENT, "FIN")


def test_so_rcvbuf_on_the_listener_sets_the_advertised_window() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        (lsock,) = server.sockets
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 20_000)
        _r, writer = await asyncio.open_connection(SERVER, 80)
        await asyncio.sleep(0.1)
        writer.close()
        server.close()

    _, net = run_sim(main)
    synack = flagged(net, SERVER, "SYN")[0]
    assert synack.data["window"] == 20_000  # the SYN,ACK's window is never scaled
