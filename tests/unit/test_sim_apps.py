"""The application drivers' per-packet work: what the applications offer ``send()``."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tcpstack.drivers.apps import App, EchoApp, HttpApp, SendClient
from tcpstack.events import Connected, DataReceived, SendBufferAvailable


class BoundedConn:
    """A send buffer of bounded room that records every ``send()`` call.

    With ``tells_space`` it has a ``send_space`` as a Connection does.
    """

    def __init__(self, room: int, *, tells_space: bool) -> None:
        self.room = room
        self.tells_space = tells_space
        self.calls: list[tuple[int, int, int]] = []
        """``(room before, bytes offered, bytes accepted)`` per call."""
        self.data = bytearray()
        self.inbox = bytearray()
        self.short_sends = 0
        self.shutdown_called = False

    def __getattr__(self, name: str) -> int:
        if name == "send_space" and self.__dict__["tells_space"]:
            return int(self.__dict__["room"])
        raise AttributeError(name)

    def send(self, data: bytes) -> int:
        n = min(len(data), self.room)
        self.calls.append((self.room, len(data), n))
        self.short_sends += n < len(data)
        self.room -= n
        self.data += data[:n]
        return n

    def read(self, max_bytes: int = -1) -> bytes:
        n = len(self.inbox) if max_bytes < 0 else max_bytes
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    @property
    def at_eof(self) -> bool:
        return False

    def shutdown(self) -> None:
        self.shutdown_called = True

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def seen(conn: BoundedConn) -> list[tuple[int, int, bool]]:
    """Per ``send()`` call: the room before it, the bytes accepted, whether it was cut short."""
    return [(before, n, n < offered) for before, offered, n in conn.calls]


def drive(conn: BoundedConn, data: bytes, acks: list[int]) -> SendClient:
    """Run a SendClient on ``conn``: connect, then free ``acks`` bytes one at a time."""
    app = SendClient(data)
    app.on_event(conn, Connected())
    for n in acks:
        conn.room += n
        app.on_event(conn, SendBufferAvailable(conn.room))
    return app


@pytest.mark.parametrize("seed", range(5))
def test_send_client_offers_at_most_one_byte_more_than_the_buffer_takes(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(1, 2_000_000))
    room = rng.randrange(0, 300_000)
    acks = [rng.randrange(0, 5000) for _ in range(rng.randrange(1, 2000))]
    telling = BoundedConn(room, tells_space=True)
    silent = BoundedConn(room, tells_space=False)
    app_t, app_s = drive(telling, data, acks), drive(silent, data, acks)
    # The same calls: the same room, the same bytes accepted, the same sends cut short
    assert seen(telling) == seen(silent)
    assert any(short for _, _, short in seen(telling)) or room + sum(acks) >= len(data)
    assert telling.data == silent.data == data[: app_t.sent]
    assert app_t.sent == app_s.sent
    assert telling.shutdown_called == silent.shutdown_called == (app_t.sent == len(data))
    # ... while offering only what could be taken, plus the byte that shows it full:
    assert all(offered <= before + 1 for before, offered, _ in telling.calls)


def test_send_client_stops_at_the_first_short_send() -> None:
    conn = BoundedConn(1000, tells_space=False)
    acks = [500, 0, 700]
    drive(conn, bytes(1_000_000), acks)
    # One call per poll (the connect, then each ACK), each filling the buffer:
    assert [n for _, _, n in conn.calls] == [1000, *acks]
    assert all(n < offered for _, offered, n in conn.calls)


def serve(app: App, conn: BoundedConn, requests: list[bytes], acks: list[int]) -> None:
    """Accept, deliver each request as it comes, then free ``acks`` bytes one at a time."""
    app.on_accept(conn)
    for data in requests:
        conn.inbox += data
        app.on_event(conn, DataReceived(len(data)))
    for n in acks:
        conn.room += n
        app.on_event(conn, SendBufferAvailable(conn.room))


@pytest.mark.parametrize("seed", range(3))
def test_echo_and_http_offer_what_the_buffer_takes_and_send_the_same(
    seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    requests = [rng.randbytes(rng.randrange(1, 40_000)) for _ in range(20)]
    acks = [rng.randrange(0, 3000) for _ in range(400)]
    (tmp_path / "big.bin").write_bytes(rng.randbytes(300_000))
    get = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
    apps: list[tuple[Callable[[], App], list[bytes]]] = [
        (EchoApp, requests), (lambda: HttpApp(tmp_path), [get])]
    for make, inputs in apps:
        telling = BoundedConn(1000, tells_space=True)
        silent = BoundedConn(1000, tells_space=False)
        serve(make(), telling, inputs, acks)
        serve(make(), silent, inputs, acks)
        assert seen(telling) == seen(silent)
        assert telling.data == silent.data and len(telling.data) > 100_000
        assert all(offered <= before + 1 for before, offered, _ in telling.calls)
        assert any(offered > before + 1 for before, offered, _ in silent.calls)
