"""TcpTransport keeps asyncio's Transport contract: one test per method, protocol callbacks."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aio_helpers import CLIENT, SERVER, flagged, run_sim, segments

import tcpstack
from tcpstack.aio import TcpSocket, TcpTransport


class Recorder(asyncio.Protocol):
    """A protocol that records every callback it gets."""

    def __init__(self, made: asyncio.Future[Recorder] | None = None) -> None:
        self.made = made
        self.calls: list[str] = []
        self.data = bytearray()
        self.transport: TcpTransport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.eof = asyncio.Event()
        self.got = asyncio.Event()
        self.keep_open_on_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, TcpTransport)
        self.transport = transport
        self.calls.append("connection_made")
        if self.made is not None:
            self.made.set_result(self)

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.got.set()

    def eof_received(self) -> bool:
        self.calls.append("eof_received")
        self.eof.set()
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        assert self.transport is not None
        self.calls.append(f"pause_writing@{self.transport.get_write_buffer_size()}")

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.calls.append(f"resume_writing@{self.transport.get_write_buffer_size()}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("connection_lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    async def wait_for(self, n: int) -> bytes:
        """Wait until at least ``n`` bytes arrived."""
        while len(self.data) < n:
            self.got.clear()
            await self.got.wait()
        return bytes(self.data)


async def pair(
    port: int = 9000, **server_kwargs: Any
) -> tuple[Recorder, Recorder, asyncio.AbstractServer]:
    """A connected (client, server) pair of recorders."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Recorder] = loop.create_future()

    server = await loop.create_server(lambda: Recorder(accepted), SERVER, port, **server_kwargs)
    _t, client = await loop.create_connection(Recorder, SERVER, port)
    return client, await accepted, server


def test_write_and_writelines_deliver_in_order() -> None:
    async def main() -> bytes:
        client, peer, server = await pair()
        assert client.transport is not None
        client.transport.write(b"one ")
        client.transport.write(bytearray(b"two "))
        client.transport.write(memoryview(b"three "))
        client.transport.writelines([b"four ", b"five"])
        data = await peer.wait_for(23)
        server.close()
        return data

    data, _ = run_sim(main)
    assert data == b"one two three four five"


def test_write_rejects_non_bytes_and_writes_after_write_eof() -> None:
    async def main() -> None:
        client, _peer, server = await pair()
        t = client.transport
        assert t is not None
        with pytest.raises(TypeError, match="bytes-like"):
            t.write("text")  # type: ignore[arg-type]
        t.write(b"")  # nothing to send: fine
        t.write_eof()
        with pytest.raises(RuntimeError, match="write_eof"):
            t.write(b"late")
        server.close()

    run_sim(main)


def test_write_eof_sends_fin_and_reading_goes_on() -> None:
    async def main() -> tuple[list[str], bytes, bool]:
        client, peer, server = await pair()
        assert client.transport is not None and peer.transport is not None
        peer.keep_open_on_eof = True  # as a half-closing server does
        assert client.transport.can_write_eof()
        client.transport.write(b"question")
        client.transport.write_eof()
        await peer.eof.wait()
        peer.transport.write(b"answer after your FIN")
        await client.wait_for(21)
        closing = client.transport.is_closing()
        peer.transport.close()
        await client.lost
        server.close()
        return peer.calls, bytes(client.data), closing

    (peer_calls, answer, closing), net = run_sim(main)
    assert peer_calls[:2] == ["connection_made", "eof_received"]
    assert answer == b"answer after your FIN"
    assert not closing  # write_eof does not close the transport
    client_fin = flagged(net, CLIENT, "FIN")[0]
    answer_seg = next(r for r in segments(net, SERVER) if r.data["len"])
    assert answer_seg.time > client_fin.time


def test_eof_received_returning_false_closes_the_transport() -> None:
    async def main() -> tuple[list[str], Exception | None]:
        client, peer, server = await pair()
        assert client.transport is not None
        client.transport.write_eof()
        exc = await peer.lost  # peer.eof_received returned False: it closed
        await client.lost
        server.close()
        return peer.calls, exc

    (calls, exc), net = run_sim(main)
    assert calls == ["connection_made", "eof_received", "connection_lost"]
    assert exc is None
    assert flagged(net, SERVER, "FIN")


def test_close_then_connection_lost_with_none_and_is_closing() -> None:
    async def main() -> tuple[bool, bool, Exception | None, list[str]]:
        client, peer, server = await pair()
        t = client.transport
        assert t is not None
        before = t.is_closing()
        t.write(b"last words")
        t.close()
        after = t.is_closing()
        t.close()  # twice is harmless
        t.write(b"ignored")  # after close: dropped, as asyncio does
        exc = await client.lost
        await peer.wait_for(10)
        server.close()
        return before, after, exc, client.calls

    (before, after, exc, calls), net = run_sim(main)
    assert (before, after, exc) == (False, True, None)
    assert calls == ["connection_made", "connection_lost"]
    assert flagged(net, CLIENT, "FIN") and not flagged(net, CLIENT, "RST")


def test_abort_resets_and_discards_buffered_data() -> None:
    async def main() -> tuple[Exception | None, Exception | None, bool]:
        client, peer, server = await pair()
        t = client.transport
        assert t is not None
        t.set_write_buffer_limits(high=10**9)
        t.write(b"x" * 1_000_000)  # most of it still in the transport's buffer
        t.abort()
        closing = t.is_closing() and t.get_write_buffer_size() == 0
        mine = await client.lost
        theirs = await peer.lost
        server.close()
        return mine, theirs, closing

    (mine, theirs, closing), net = run_sim(main)
    assert mine is None and isinstance(theirs, ConnectionResetError) and closing
    assert flagged(net, CLIENT, "RST") and not flagged(net, CLIENT, "FIN")
    sent = sum(r.data["len"] for r in segments(net, CLIENT))
    assert sent < 1_000_000


def test_get_extra_info() -> None:
    async def main() -> dict[str, Any]:
        client, peer, server = await pair(port=8123)
        t, p = client.transport, peer.transport
        assert t is not None and p is not None
        sock = t.get_extra_info("socket")
        info = {
            "peername": t.get_extra_info("peername"),
            "sockname": t.get_extra_info("sockname"),
            "server_peername": p.get_extra_info("peername"),
            "conn": t.get_extra_info("tcpstack_connection"),
            "sock": sock,
            "sock_peer": sock.getpeername(),
            "family": sock.family,
            "missing": t.get_extra_info("cipher", "default"),
        }
        server.close()
        return info

    info, _ = run_sim(main)
    assert info["peername"] == (SERVER, 8123)
    assert info["sockname"][0] == CLIENT and info["server_peername"] == info["sockname"]
    assert isinstance(info["conn"], tcpstack.Connection)
    assert info["conn"].state is tcpstack.State.ESTABLISHED
    assert isinstance(info["sock"], TcpSocket) and info["sock_peer"] == (SERVER, 8123)
    assert info["family"] == socket.AF_INET
    assert info["missing"] == "default"


def test_set_and_get_protocol() -> None:
    async def main() -> bytes:
        client, peer, server = await pair()
        t = peer.transport
        assert t is not None and client.transport is not None
        other = Recorder()
        t.set_protocol(other)
        assert t.get_protocol() is other
        client.transport.write(b"to the new protocol")
        data = await other.wait_for(19)
        server.close()
        return data + bytes(peer.data)

    data, _ = run_sim(main)
    assert data == b"to the new protocol"


def test_write_buffer_limits_and_flow_control_callbacks_at_the_water_marks() -> None:
    async def main() -> tuple[tuple[int, int], list[str], int]:
        client, peer, server = await pair()
        t = client.transport
        assert t is not None and peer.transport is not None
        with pytest.raises(ValueError):
            t.set_write_buffer_limits(high=10, low=20)
        t.set_write_buffer_limits(high=400_000, low=100_000)
        limits = t.get_write_buffer_limits()
        # The send buffer (256 KiB) fills first; the rest waits in the transport.
        t.write(b"a" * 500_000)
        assert not any(c.startswith("pause") for c in client.calls)
        t.write(b"b" * 500_000)  # now above the high-water mark
        total = len(await peer.wait_for(1_000_000))
        server.close()
        return limits, client.calls, total

    (limits, calls, total), _ = run_sim(main)
    assert limits == (100_000, 400_000)
    assert total == 1_000_000
    pauses = [c for c in calls if c.startswith("pause_writing")]
    resumes = [c for c in calls if c.startswith("resume_writing")]
    assert len(pauses) == 1 and int(pauses[0].split("@")[1]) > 400_000
    assert len(resumes) == 1 and int(resumes[0].split("@")[1]) <= 100_000
    assert calls.index(pauses[0]) < calls.index(resumes[0])


def test_lowering_the_high_water_mark_pauses_at_once() -> None:
    async def main() -> list[str]:
        client, _peer, server = await pair()
        t = client.transport
        assert t is not None
        t.set_write_buffer_limits(high=10**9)
        t.write(b"z" * 500_000)
        assert not any(c.startswith("pause") for c in client.calls)
        t.set_write_buffer_limits(high=1000)
        server.close()
        return client.calls

    calls, _ = run_sim(main)
    assert any(c.startswith("pause_writing") for c in calls)


def test_pause_reading_closes_the_advertised_window_and_resume_reopens_it() -> None:
    async def main() -> tuple[bool, bool, int, int]:
        client, peer, server = await pair()
        pt, ct = peer.transport, client.transport
        assert pt is not None and ct is not None
        pt.pause_reading()
        paused = pt.is_reading()
        ct.write(b"q" * 200_000)  # more than the receive window (64 KiB)
        await asyncio.sleep(5)
        held = len(peer.data)
        pt.resume_reading()
        resumed = pt.is_reading()
        total = len(await peer.wait_for(200_000))
        server.close()
        return paused, resumed, held, total

    (paused, resumed, held, total), net = run_sim(main)
    assert (paused, resumed, held, total) == (False, True, 0, 200_000)
    windows = [r.data["window"] for r in segments(net, SERVER)]
    assert 0 in windows  # the window closed while reading was paused
    assert windows[-1] > 0  # and opened again
    # The sender probed the closed window instead of giving up.
    assert net.trace.select("timer_fired", host=CLIENT)


def test_eof_while_reading_is_paused_waits_for_resume() -> None:
    async def main() -> list[str]:
        client, peer, server = await pair()
        pt, ct = peer.transport, client.transport
        assert pt is not None and ct is not None
        peer.keep_open_on_eof = True
        pt.pause_reading()
        ct.write(b"data then fin")
        ct.write_eof()
        await asyncio.sleep(2)
        before = list(peer.calls)
        pt.resume_reading()
        await peer.eof.wait()
        server.close()
        return [*before, "--", *peer.calls[len(before):], bytes(peer.data).decode()]

    calls, _ = run_sim(main)
    assert calls == ["connection_made", "--", "eof_received", "data then fin"]
