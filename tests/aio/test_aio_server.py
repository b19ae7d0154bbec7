"""TcpServer keeps asyncio's AbstractServer contract."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aio_helpers import CLIENT, SERVER, flagged, run_sim

import tcpstack.aio


async def _hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hello")
    await writer.drain()
    writer.close()


async def _fetch(host: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    data = await reader.read()
    writer.close()
    return data


def test_sockets_is_serving_get_loop_and_port_zero() -> None:
    async def main() -> tuple[object, ...]:
        server = await asyncio.start_server(_hello, SERVER, 0)
        (sock,) = server.sockets
        host, port = sock.getsockname()
        reply = await _fetch(host, port)
        loop_ok = server.get_loop() is asyncio.get_running_loop()
        serving = server.is_serving()
        server.close()
        await server.wait_closed()
        return host, port, reply, loop_ok, serving, server.is_serving(), server.sockets

    host, port, reply, loop_ok, serving, after, sockets = run_sim(main)[0]
    assert host == SERVER and isinstance(port, int) and 1024 <= port <= 65535
    assert reply == b"hello" and loop_ok and serving
    assert after is False and sockets == ()


def test_binding_every_host_and_a_list_of_hosts() -> None:
    async def main() -> list[object]:
        everywhere = await asyncio.start_server(_hello, None, 80)
        listed = await asyncio.start_server(_hello, [CLIENT, SERVER], 81)
        names = sorted(s.getsockname() for s in everywhere.sockets)
        out: list[object] = [names, len(listed.sockets)]
        for host in (CLIENT, SERVER):
            out.append(await _fetch(host, 80))
            out.append(await _fetch(host, 81))
        everywhere.close()
        listed.close()
        return out

    out, _ = run_sim(main)
    assert out == [[(CLIENT, 80), (SERVER, 80)], 2] + [b"hello"] * 4


def test_close_stops_new_connections_but_keeps_accepted_ones() -> None:
    async def main() -> tuple[bytes, str]:
        release = asyncio.Event()

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            writer.write(b"still here")
            writer.close()

        server = await asyncio.start_server(slow, SERVER, 80)
        reader, writer = await asyncio.open_connection(SERVER, 80)
        await asyncio.sleep(0.1)
        server.close()
        try:
            await asyncio.open_connection(SERVER, 80)
            second = "connected"
        except ConnectionRefusedError:
            second = "refused"
        release.set()
        first = await reader.read()
        writer.close()
        return first, second

    (first, second), net = run_sim(main)
    assert (first, second) == (b"still here", "refused")
    assert flagged(net, SERVER, "RST")


def test_wait_closed_waits_for_accepted_connections_to_end() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            order.append("handler done")
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        await asyncio.sleep(0.1)
        server.close()

        async def later() -> None:
            await asyncio.sleep(30)
            order.append("client closes")
            writer.close()

        closer = asyncio.create_task(later())
        await server.wait_closed()
        order.append("wait_closed returned")
        await closer
        return order

    order, _ = run_sim(main)
    assert order == ["client closes", "handler done", "wait_closed returned"]


def test_serve_forever_until_cancelled_and_async_with() -> None:
    async def main() -> tuple[bytes, bool, bool]:
        server = await asyncio.start_server(_hello, SERVER, 80, start_serving=False)
        async with server:
            not_yet = server.is_serving()
            task = asyncio.create_task(server.serve_forever())
            await asyncio.sleep(0)
            reply = await _fetch(SERVER, 80)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return reply, not_yet, server.is_serving()

    (reply, not_yet, after), _ = run_sim(main)
    assert reply == b"hello" and not_yet is False and after is False


def test_start_serving_false_refuses_until_started() -> None:
    async def main() -> tuple[str, bytes]:
        server = await asyncio.start_server(_hello, SERVER, 80, start_serving=False)
        try:
            await asyncio.open_connection(SERVER, 80)
            before = "connected"
        except ConnectionRefusedError:
            before = "refused"
        await server.start_serving()
        reply = await _fetch(SERVER, 80)
        server.close()
        return before, reply

    assert run_sim(main)[0] == ("refused", b"hello")


def test_serve_forever_twice_or_after_close_is_an_error() -> None:
    async def main() -> list[str]:
        server = await asyncio.start_server(_hello, SERVER, 80)
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        errors = []
        try:
            await server.serve_forever()
        except RuntimeError as exc:
            errors.append(str(exc))
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        try:
            await server.serve_forever()
        except RuntimeError as exc:
            errors.append(str(exc))
        return errors

    errors, _ = run_sim(main)
    assert "already being awaited" in errors[0] and "closed" in errors[1]


def test_close_clients_and_abort_clients() -> None:
    async def main(abort: bool) -> list[bytes | str]:
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        clients = [await asyncio.open_connection(SERVER, 80) for _ in range(3)]
        await asyncio.sleep(0.1)
        server.close()
        if abort:
            server.abort_clients()
        else:
            server.close_clients()
        results: list[bytes | str] = []
        for reader, writer in clients:
            try:
                results.append(await reader.read())
            except ConnectionResetError:
                results.append("reset")
            writer.close()
        await server.wait_closed()
        return results

    closed, net = run_sim(lambda: main(False))
    assert closed == [b""] * 3
    assert len(flagged(net, SERVER, "FIN")) >= 3 and not flagged(net, SERVER, "RST")
    aborted, net = run_sim(lambda: main(True))
    assert aborted == ["reset"] * 3
    assert len(flagged(net, SERVER, "RST")) == 3


def test_a_small_backlog_still_serves_a_burst_of_clients() -> None:
    """The backlog bounds connections not yet accepted; the server accepts as they come."""

    async def main() -> list[bytes]:
        server = await asyncio.start_server(_hello, SERVER, 80, backlog=2)
        replies = await asyncio.gather(*(_fetch(SERVER, 80) for _ in range(10)))
        server.close()
        return replies

    assert run_sim(main)[0] == [b"hello"] * 10


def test_listening_socket_options_apply_to_accepted_connections() -> None:
    async def main() -> tuple[int, int, int]:
        accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(writer)
            await reader.read()

        server = await asyncio.start_server(serve, SERVER, 80)
        (lsock,) = server.sockets
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _r, w = await asyncio.open_connection(SERVER, 80)
        sock = (await accepted).get_extra_info("socket")
        values = (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                  sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                  sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        w.close()
        server.close()
        return values

    assert run_sim(main)[0] == (1, 60, 1)


def test_loop_create_server_keep_alive_and_refused_arguments() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[asyncio.BaseTransport] = loop.create_future()

        class P(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(transport)

        server = await loop.create_server(P, SERVER, 80, keep_alive=True)
        with pytest.raises(ValueError, match="sock"):
            await loop.create_server(P, sock=socket.socket())
        _r, w = await asyncio.open_connection(SERVER, 80)
        conn = (await accepted).get_extra_info("tcpstack_connection")
        w.close()
        server.close()
        return bool(conn.config.keepalive)

    assert run_sim(main)[0] is True


def test_repr_names_addresses() -> None:
    async def main() -> str:
        server = await asyncio.start_server(_hello, SERVER, 80)
        text = repr(server)
        server.close()
        return text

    text = run_sim(main)[0]
    assert "192.0.2.2:80" in text and "serving" in text
    assert isinstance(tcpstack.aio.TcpServer, type)
