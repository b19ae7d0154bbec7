"""Unit tests of the sans-I/O applications (tcpstack.apps) on a fake connection."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tcpstack import events
from tcpstack.connection import Connection
from tcpstack.drivers.apps import (
    MAX_HEADER_BYTES,
    DiscardApp,
    EchoApp,
    HttpApp,
    PerConnection,
    SendClient,
    SinkClient,
    safe_dispatch,
)
from tcpstack.drivers.sim import Host, Network
from tcpstack.errors import LocalProtocolError
from tcpstack.state import State


class FakeConn:
    """Just enough of Connection: a receive buffer, a bounded send buffer, close calls."""

    def __init__(self, send_space: int = 1 << 30) -> None:
        self.inbox = bytearray()
        self.fin = False
        self.send_space = send_space
        self.sent = bytearray()
        self.shutdown_called = False
        self.closed = False
        self.aborted = False
        self.reset_on_close = False

    # peer side helpers
    def deliver(self, data: bytes, fin: bool = False) -> None:
        self.inbox += data
        self.fin = self.fin or fin

    def ack(self, n: int) -> None:
        """The peer acknowledged n bytes: room in the send buffer again."""
        self.send_space += n

    # Connection API
    def send(self, data: bytes) -> int:
        if self.closed or self.shutdown_called:
            raise LocalProtocolError("send: connection closing")
        n = min(len(data), self.send_space)
        self.send_space -= n
        self.sent += data[:n]
        return n

    def read(self, max_bytes: int = -1) -> bytes:
        if max_bytes < 0:
            max_bytes = len(self.inbox)
        data = bytes(self.inbox[:max_bytes])
        del self.inbox[:max_bytes]
        return data

    @property
    def at_eof(self) -> bool:
        return self.fin and not self.inbox

    def shutdown(self) -> None:
        self.shutdown_called = True

    def close(self) -> None:
        if self.inbox:
            self.reset_on_close = True  # the real stack resets with unread data
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


DATA = events.DataReceived(1)
SPACE = events.SendBufferAvailable(1)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return status, headers, body


# --- EchoApp -----------------------------------------------------------------


def test_echo_returns_bytes_and_closes_after_peer_fin() -> None:
    conn, app = FakeConn(), EchoApp()
    app.on_accept(conn)
    conn.deliver(b"hello ")
    app.on_event(conn, DATA)
    conn.deliver(b"world")
    app.on_event(conn, DATA)
    assert not conn.closed
    conn.deliver(b"", fin=True)
    app.on_event(conn, events.PeerClosed())
    assert bytes(conn.sent) == b"hello world"
    assert conn.closed and not conn.reset_on_close
    assert app.finished and app.echoed == 11


def test_echo_back_pressure_stops_reading_until_space() -> None:
    conn, app = FakeConn(send_space=10), EchoApp(chunk=4)
    conn.deliver(b"0123456789abcdefghij", fin=True)
    app.on_accept(conn)
    assert bytes(conn.sent) == b"0123456789"
    # It stopped reading: unread data stays in the connection (window closes).
    assert len(conn.inbox) > 0
    assert not conn.closed
    conn.ack(4)
    app.on_event(conn, SPACE)
    assert bytes(conn.sent) == b"0123456789abcd"
    assert not conn.closed
    conn.ack(100)
    app.on_event(conn, SPACE)
    assert bytes(conn.sent) == b"0123456789abcdefghij"
    assert conn.closed and not conn.reset_on_close


def test_echo_large_stream_with_small_buffer() -> None:
    payload = os.urandom(200_000)
    conn, app = FakeConn(send_space=3000), EchoApp()
    app.on_accept(conn)
    fed = 0
    for _ in range(10_000):
        if fed < len(payload):
            conn.deliver(payload[fed : fed + 1460], fin=fed + 1460 >= len(payload))
            fed += 1460
            app.on_event(conn, DATA)
        conn.ack(1460)
        app.on_event(conn, SPACE)
        if conn.closed:
            break
    assert bytes(conn.sent) == payload
    assert conn.closed


def test_echo_terminal_event_marks_error() -> None:
    conn, app = FakeConn(), EchoApp()
    app.on_event(conn, events.ConnectionReset())
    assert app.finished
    assert isinstance(app.error, events.ConnectionReset)
    conn.deliver(b"late")
    app.on_event(conn, DATA)  # ignored after the end
    assert conn.sent == b""


# --- DiscardApp ----------------------------------------------------------------


def test_discard_reads_everything_and_closes_on_fin() -> None:
    conn, app = FakeConn(), DiscardApp()
    conn.deliver(b"x" * 5000)
    app.on_accept(conn)
    assert app.discarded == 5000 and not conn.closed
    conn.deliver(b"y" * 10, fin=True)
    app.on_event(conn, events.PeerClosed())
    assert app.discarded == 5010
    assert conn.closed and conn.sent == b"" and not conn.reset_on_close


# --- HttpApp -------------------------------------------------------------------


def http(request: bytes, root: Path | None = None, send_space: int = 1 << 30) -> FakeConn:
    conn, app = FakeConn(send_space=send_space), HttpApp(root)
    app.on_accept(conn)
    conn.deliver(request)
    app.on_event(conn, DATA)
    return conn


def test_http_get_index() -> None:
    conn = http(b"GET / HTTP/1.1\r\nHost: 192.0.2.2\r\nUser-Agent: t\r\n\r\n")
    status, headers, body = parse_response(bytes(conn.sent))
    assert status == 200
    assert b"Served by tcpstack" in body
    assert int(headers["content-length"]) == len(body)
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("text/html")
    assert conn.closed and not conn.reset_on_close


def test_http_request_in_pieces() -> None:
    conn, app = FakeConn(), HttpApp()
    app.on_accept(conn)
    for piece in (b"GET / HT", b"TP/1.0\r\n", b"Host: x\r\n\r", b"\n"):
        assert conn.sent == b""
        conn.deliver(piece)
        app.on_event(conn, DATA)
    assert parse_response(bytes(conn.sent))[0] == 200
    assert app.method == "GET" and app.path == "/"


def test_http_head_has_no_body() -> None:
    conn = http(b"HEAD / HTTP/1.1\r\n\r\n")
    status, headers, body = parse_response(bytes(conn.sent))
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 0


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /nothing HTTP/1.1\r\n\r\n", 404),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / FTP/1.0\r\n\r\n", 400),
        (b"GET noslash HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nbad header line\r\n\r\n", 400),
        (b"GET /%ff HTTP/1.1\r\n\r\n", 400),
        (b"GET \xff HTTP/1.1\r\n\r\n", 400),
    ],
)
def test_http_errors(request_bytes: bytes, status: int) -> None:
    conn = http(request_bytes)
    got, headers, body = parse_response(bytes(conn.sent))
    assert got == status
    assert int(headers["content-length"]) == len(body)
    assert conn.closed
    if status == 405:
        assert headers["allow"] == "GET, HEAD"


def test_http_header_too_large() -> None:
    conn = http(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_BYTES + 10))
    assert parse_response(bytes(conn.sent))[0] == 431
    assert conn.closed


def test_http_eof_before_request_end() -> None:
    conn, app = FakeConn(), HttpApp()
    conn.deliver(b"GET / HTTP/1.1\r\n", fin=True)
    app.on_accept(conn)
    assert parse_response(bytes(conn.sent))[0] == 400
    assert conn.closed


def test_http_eof_without_request_closes_silently() -> None:
    conn, app = FakeConn(), HttpApp()
    conn.deliver(b"", fin=True)
    app.on_event(conn, events.PeerClosed())
    assert conn.sent == b"" and conn.closed


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello file\n")
    (root / "sub" / "index.html").write_text("<p>sub index</p>\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "inside.txt").symlink_to(root / "hello.txt")
    return root


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/hello.txt", 200, b"hello file\n"),
        ("/inside.txt", 200, b"hello file\n"),
        ("/sub/", 200, b"<p>sub index</p>\n"),
        ("/sub", 200, b"<p>sub index</p>\n"),
        ("/missing.txt", 404, None),
        ("/../secret.txt", 403, None),
        ("/sub/../../secret.txt", 403, None),
        ("/%2e%2e/secret.txt", 403, None),
        ("/escape.txt", 403, None),
        ("/hello.txt?x=1", 200, b"hello file\n"),
    ],
)
def test_http_files(site: Path, path: str, status: int, body: bytes | None) -> None:
    conn = http(f"GET {path} HTTP/1.1\r\n\r\n".encode(), root=site)
    got, headers, got_body = parse_response(bytes(conn.sent))
    assert got == status
    if body is not None:
        assert got_body == body
    assert int(headers["content-length"]) == len(got_body)
    assert b"secret" not in got_body


def test_http_large_file_streams_with_back_pressure(tmp_path: Path) -> None:
    payload = os.urandom(1 << 20)
    (tmp_path / "big.bin").write_bytes(payload)
    conn, app = FakeConn(send_space=20_000), HttpApp(tmp_path)
    app.on_accept(conn)
    conn.deliver(b"GET /big.bin HTTP/1.0\r\n\r\n")
    app.on_event(conn, DATA)
    assert not conn.closed
    for _ in range(10_000):
        if conn.closed:
            break
        conn.ack(20_000)
        app.on_event(conn, SPACE)
    status, headers, body = parse_response(bytes(conn.sent))
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    assert int(headers["content-length"]) == len(payload)
    assert body == payload
    assert conn.closed


# --- clients -------------------------------------------------------------------


def test_send_client_waits_for_connected_then_sends_and_half_closes() -> None:
    payload = os.urandom(300_000)
    conn, app = FakeConn(send_space=65536), SendClient(payload)
    app.on_start(conn)
    app.on_event(conn, events.StateChanged(*_states("CLOSED", "SYN-SENT")))
    assert conn.sent == b""
    app.on_event(conn, events.Connected())
    assert len(conn.sent) == 65536 and not conn.shutdown_called
    for _ in range(100):
        if conn.shutdown_called:
            break
        conn.ack(65536)
        app.on_event(conn, SPACE)
    assert bytes(conn.sent) == payload and conn.shutdown_called
    conn.deliver(b"reply", fin=True)
    app.on_event(conn, DATA)
    assert bytes(app.received) == b"reply"
    assert app.finished and app.error is None
    assert not conn.closed  # shutdown already sent our FIN


def test_send_client_with_sink() -> None:
    chunks: list[bytes] = []
    conn, app = FakeConn(), SendClient(b"abc", sink=chunks.append)
    app.on_event(conn, events.Connected())
    conn.deliver(b"xyz")
    app.on_event(conn, DATA)
    assert chunks == [b"xyz"] and app.received == b"" and app.received_bytes == 3


def test_send_client_refused() -> None:
    conn, app = FakeConn(), SendClient(b"abc")
    app.on_event(conn, events.ConnectionReset(refused=True))
    assert app.finished
    assert app.error == events.ConnectionReset(refused=True)


def test_sink_client_closes_after_peer() -> None:
    conn, app = FakeConn(), SinkClient()
    app.on_event(conn, events.Connected())
    assert not conn.shutdown_called
    conn.deliver(b"data", fin=True)
    app.on_event(conn, DATA)
    assert app.received == b"data" and conn.closed


def test_safe_dispatch_contains_local_errors() -> None:
    conn, app = FakeConn(), EchoApp()
    conn.closed = True
    conn.deliver(b"x")
    err = safe_dispatch(app, conn, DATA)
    assert isinstance(err, LocalProtocolError)
    assert app.finished
    assert safe_dispatch(EchoApp(), FakeConn(), None) is None


def _states(old: str, new: str) -> tuple[State, State]:
    return State(old), State(new)


def test_http_drops_unserved_body_so_close_is_clean() -> None:
    conn, app = FakeConn(), HttpApp()
    app.on_accept(conn)
    conn.deliver(b"POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" + b"b" * 70000)
    app.on_event(conn, DATA)
    assert parse_response(bytes(conn.sent))[0] == 405
    assert conn.closed and not conn.reset_on_close


# --- PerConnection -----------------------------------------------------------------


def test_per_connection_factory_on_connected() -> None:
    host: PerConnection[FakeConn] = PerConnection(EchoApp)
    a, b = FakeConn(), FakeConn()
    a.deliver(b"early")  # data that arrived with the handshake's last ACK
    host.on_event(a, events.StateChanged(State.SYN_RECEIVED, State.ESTABLISHED))
    assert host.app_of(a) is None  # no application before Connected
    host.on_event(a, events.Connected())
    host.on_event(b, events.Connected())
    assert bytes(a.sent) == b"early"  # on_accept polled at once
    app_a, app_b = host.app_of(a), host.app_of(b)
    assert isinstance(app_a, EchoApp) and isinstance(app_b, EchoApp) and app_a is not app_b
    b.deliver(b"bee")
    host.on_event(b, DATA)
    assert bytes(b.sent) == b"bee" and bytes(a.sent) == b"early"
    host.on_event(a, events.ConnectionClosed())
    assert host.app_of(a) is None and len(host) == 1 and host.ended == 1


def test_per_connection_attach_and_errors() -> None:
    host: PerConnection[FakeConn] = PerConnection()
    conn = FakeConn()
    host.on_event(conn, events.Connected())  # no factory: ignored
    assert host.app_of(conn) is None
    client = SendClient(b"x")
    host.attach(conn, client)
    conn.closed = True  # send() will raise LocalProtocolError
    host.on_event(conn, events.Connected())
    assert len(host.errors) == 1 and client.finished


# --- the apps on real connections (simulator) ------------------------------------


def _sim_pair(
    server_app: PerConnection[Connection], *, loss: float = 0.0, seed: int = 1
) -> tuple[Network, Host, PerConnection[Connection]]:
    net = Network(seed=seed)
    clients: PerConnection[Connection] = PerConnection()
    client = net.add_host("client", "192.0.2.1", app=clients)
    server = net.add_host("server", "192.0.2.2", app=server_app)
    net.link(client, server, delay=0.01, loss=loss)
    return net, client, clients


@pytest.mark.parametrize("loss", [0.0, 0.03])
def test_echo_over_simulator(loss: float) -> None:
    payload = random.Random(5).randbytes(300_000)
    net, client, clients = _sim_pair(PerConnection(EchoApp), loss=loss)
    net.hosts["server"].stack.listen(7)
    conn = client.stack.connect("192.0.2.2", 7, now=net.now)
    app = SendClient(payload)
    clients.attach(conn, app)
    net.run(until=600.0)
    assert app.finished and app.error is None
    assert bytes(app.received) == payload
    assert conn.state in (State.TIME_WAIT, State.CLOSED)


def test_http_over_simulator(tmp_path: Path) -> None:
    body = os.urandom(200_000)
    (tmp_path / "f.bin").write_bytes(body)
    net, client, clients = _sim_pair(PerConnection(lambda: HttpApp(tmp_path)))
    net.hosts["server"].stack.listen(80)
    conn = client.stack.connect("192.0.2.2", 80, now=net.now)
    app = SendClient(b"GET /f.bin HTTP/1.0\r\n\r\n")
    clients.attach(conn, app)
    net.run(until=60.0)
    status, _headers, got = parse_response(bytes(app.received))
    assert status == 200 and got == body
    assert app.finished and app.error is None


def test_send_client_refused_over_simulator() -> None:
    net, client, clients = _sim_pair(PerConnection(EchoApp))
    conn = client.stack.connect("192.0.2.2", 9, now=net.now)
    app = SendClient(b"x")
    clients.attach(conn, app)
    net.run(until=10.0)
    assert app.error == events.ConnectionReset(refused=True)
