"""Errors reach asyncio programs as the exceptions asyncio users expect."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from aio_helpers import CLIENT, SERVER, flagged, run_sim

import tcpstack.aio


def test_connection_refused_when_the_peer_answers_the_syn_with_rst() -> None:
    async def main() -> None:
        await asyncio.open_connection(SERVER, 4444)

    with pytest.raises(ConnectionRefusedError) as info:
        run_sim(main)
    assert info.value.errno == errno.ECONNREFUSED


def test_refused_connect_leaves_the_rst_in_the_trace() -> None:
    async def main() -> str:
        try:
            await asyncio.open_connection(SERVER, 4444)
        except ConnectionRefusedError as exc:
            return type(exc).__name__
        return "connected"

    name, net = run_sim(main)
    assert name == "ConnectionRefusedError"
    assert flagged(net, SERVER, "RST")


def test_timeout_when_the_syn_goes_unanswered() -> None:
    """The link is down for ten minutes: the SYNs go nowhere until R2 for SYNs passes."""

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await asyncio.open_connection(SERVER, 80)
        except TimeoutError as exc:
            assert exc.errno == errno.ETIMEDOUT
            return start, loop.time()
        raise AssertionError("connected through an outage")

    (start, end), net = run_sim(main, outage=(0.0, 600.0))
    assert 60 <= end - start <= 300  # R2 for a SYN: at least 3 minutes by default
    assert len(flagged(net, CLIENT, "SYN")) >= 3  # retransmitted with backoff


def test_asyncio_wait_for_cancels_a_pending_connect_cleanly() -> None:
    async def main() -> str:
        try:
            await asyncio.wait_for(asyncio.open_connection(SERVER, 80), timeout=5)
        except TimeoutError:
            return "timed out"
        return "connected"

    result, net = run_sim(main, outage=(0.0, 600.0))
    assert result == "timed out"
    # The connection attempt was abandoned: no more SYNs after the 5 s timeout.
    assert all(r.time <= 5.0 for r in flagged(net, CLIENT, "SYN"))


def test_connection_reset_when_the_peer_aborts() -> None:
    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.transport.abort()

        server = await asyncio.start_server(serve, SERVER, 80)
        reader, writer = await asyncio.open_connection(SERVER, 80)
        writer.write(b"x")
        try:
            await reader.read()
        finally:
            writer.close()
            server.close()

    with pytest.raises(ConnectionResetError) as info:
        run_sim(main)
    assert info.value.errno == errno.ECONNRESET


def test_drain_raises_once_the_connection_is_reset() -> None:
    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.transport.abort()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        try:
            for _ in range(100):
                writer.write(b"y" * 100_000)
                await writer.drain()
        finally:
            server.close()

    with pytest.raises(ConnectionResetError):
        run_sim(main)


def test_timeout_when_the_peer_vanishes_mid_transfer() -> None:
    """R2 (TCP_USER_TIMEOUT 20 s here) expires while data goes unacknowledged."""

    async def main() -> float:
        loop = asyncio.get_running_loop()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 20_000)
        await asyncio.sleep(10)  # the outage starts at 10 s
        start = loop.time()
        try:
            while True:
                writer.write(b"z" * 10_000)
                await writer.drain()
        except TimeoutError:
            return loop.time() - start
        finally:
            server.close()

    took, _ = run_sim(main, outage=(10.0, 1000.0))
    assert 19 <= took <= 45  # R2 is checked when the retransmission timer fires


def test_address_in_use_for_a_second_server_on_the_same_port() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        try:
            await asyncio.start_server(lambda r, w: None, SERVER, 80)
        finally:
            server.close()

    with pytest.raises(OSError) as info:
        run_sim(main)
    assert info.value.errno == errno.EADDRINUSE


def test_address_not_available_for_a_foreign_address() -> None:
    async def bind() -> None:
        await asyncio.start_server(lambda r, w: None, "198.51.100.9", 80)

    async def connect_from() -> None:
        await asyncio.open_connection(SERVER, 80, local_addr=("198.51.100.9", 0))

    for main in (bind, connect_from):
        with pytest.raises(OSError) as info:
            run_sim(main)
        assert info.value.errno == errno.EADDRNOTAVAIL


def test_connect_to_a_local_port_in_use_is_address_in_use() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        _r, w = await asyncio.open_connection(SERVER, 80, local_addr=(CLIENT, 5000))
        try:
            await asyncio.open_connection(SERVER, 80, local_addr=(CLIENT, 5000))
        finally:
            w.close()
            server.close()

    with pytest.raises(OSError) as info:
        run_sim(main)
    assert info.value.errno == errno.EADDRINUSE


def test_getaddrinfo_resolves_literals_only() -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        out: list[object] = [
            await loop.getaddrinfo("192.0.2.2", 80),
            await loop.getaddrinfo(b"2001:db8::1", "8080"),
            await loop.getnameinfo(("192.0.2.2", 80)),
        ]
        for host, port in (("example.com", 80), ("localhost", 80), ("192.0.2.2", "http")):
            try:
                await loop.getaddrinfo(host, port)
            except socket.gaierror as exc:
                out.append(exc.errno)
        return out

    out, _ = run_sim(main)
    assert out[0] == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                       ("192.0.2.2", 80))]
    assert out[1] == [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                       ("2001:db8::1", 8080, 0, 0))]
    assert out[2] == ("192.0.2.2", "80")
    assert out[3:] == [socket.EAI_NONAME, socket.EAI_NONAME, socket.EAI_SERVICE]


def test_open_connection_by_name_fails_with_gaierror() -> None:
    async def main() -> None:
        await asyncio.open_connection("example.com", 80)

    with pytest.raises(socket.gaierror):
        run_sim(main)


def test_tls_and_datagrams_are_refused_clearly() -> None:
    async def tls() -> None:
        await asyncio.open_connection(SERVER, 443, ssl=True)

    async def udp() -> None:
        await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=(SERVER, 53))

    with pytest.raises(ValueError, match="TLS"):
        run_sim(tls)
    with pytest.raises(NotImplementedError, match="TCP only"):
        run_sim(udp)


def test_a_loop_without_tcpstack_network_calls_is_refused_outside_run() -> None:
    net = tcpstack.aio.SimulatedNetwork()
    with pytest.raises(RuntimeError, match=r"tcpstack\.aio\.run"):
        net.require_loop()
