"""Sans-I/O applications that run on a :class:`~tcpstack.connection.Connection`.

The same application objects serve the simulator and the TUN driver: a driver
creates one application per connection, calls :meth:`App.on_accept` when a
passive open completes (or :meth:`App.on_start` right after an active open),
and feeds it every event that ``Stack.next_event()`` reports for that
connection through :meth:`App.on_event`. Applications never block, never
sleep and never do I/O of their own, except :class:`HttpApp` reading the files
it serves.

Applications are *level-triggered*: on any event they look at what the
connection can do now (read what is buffered, send what is pending, close
when done), so a missed or coalesced event cannot stall them.

Back-pressure: ``conn.send()`` may accept fewer bytes than offered. Every
application then keeps the rest, stops reading (so the receive window
closes and TCP flow control slows the peer down), and continues on
:class:`~tcpstack.events.SendBufferAvailable`.

Sizes are bytes throughout.
"""

from __future__ import annotations

import html
import mimetypes
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import IO, Generic, Protocol, TypeVar

from .. import events
from ..errors import TcpStackError

__all__ = [
    "APPS",
    "MAX_HEADER_BYTES",
    "App",
    "AppConnection",
    "DiscardApp",
    "EchoApp",
    "HttpApp",
    "PerConnection",
    "SendClient",
    "SinkClient",
    "safe_dispatch",
]

READ_CHUNK = 65536
"""Largest read an application makes at once (bytes)."""

MAX_HEADER_BYTES = 16 * 1024
"""Largest HTTP request head (request line + headers) :class:`HttpApp` accepts (bytes)."""

_TERMINAL_EVENTS = (
    events.ConnectionClosed,
    events.ConnectionReset,
    events.ConnectionAborted,
    events.ConnectionTimedOut,
)


class AppConnection(Protocol):
    """The part of :class:`~tcpstack.connection.Connection` an application uses.

    Stated as a protocol so applications can be tested with a fake connection.
    """

    def send(self, data: bytes) -> int:
        """Queue ``data``; return how many bytes the send buffer accepted."""
        ...

    def read(self, max_bytes: int = -1) -> bytes:
        """Return up to ``max_bytes`` buffered bytes (all if -1); ``b""`` if none."""
        ...

    @property
    def at_eof(self) -> bool:
        """True once the peer's FIN arrived and every byte before it was read."""
        ...

    def shutdown(self) -> None:
        """Half-close: send FIN after the queued data; reading continues."""
        ...

    def close(self) -> None:
        """Full close: FIN after the queued data; the application reads no more."""
        ...

    def abort(self) -> None:
        """Reset the connection (RST)."""
        ...


class App:
    """Base class of applications: every hook does nothing by default.

    Attributes:
        finished: True once the application has nothing more to do on its
            connection (it closed it, or the connection ended).
        error: the terminal event if the connection ended abnormally
            (reset, abort or timeout), else None.
    """

    def __init__(self) -> None:
        self.finished = False
        self.error: events.Event | None = None

    def on_accept(self, conn: AppConnection) -> None:
        """A passive open completed: ``conn`` is ESTABLISHED (it may hold data)."""
        self.poll(conn)

    def on_start(self, conn: AppConnection) -> None:
        """An active open was started: ``conn`` is in SYN-SENT."""

    def on_event(self, conn: AppConnection, event: events.Event) -> None:
        """React to one event of ``conn``.

        The default marks the application finished on a terminal event and
        calls :meth:`poll` on any other.
        """
        if isinstance(event, _TERMINAL_EVENTS):
            self.finished = True
            if not isinstance(event, events.ConnectionClosed):
                self.error = event
            self.on_end(conn, event)
            return
        if isinstance(event, events.StateChanged):
            return
        self.poll(conn)

    def on_end(self, conn: AppConnection, event: events.Event) -> None:
        """The connection ended (``event`` is closed, reset, aborted or timed out)."""

    def poll(self, conn: AppConnection) -> None:
        """Make whatever progress is possible now (read, send, close)."""


AppFactory = Callable[[], App]
"""Creates one application per connection."""


class EchoApp(App):
    """Send back every byte received (RFC 862), with back-pressure.

    On the peer's FIN it closes its own side once everything has been echoed.

    Attributes:
        echoed: bytes accepted by ``send()`` so far.
    """

    def __init__(self, chunk: int = READ_CHUNK) -> None:
        super().__init__()
        self._chunk = chunk
        self._pending = bytearray()
        self._closed = False
        self.echoed = 0

    def poll(self, conn: AppConnection) -> None:
        """Echo what is buffered; stop reading while the send buffer is full."""
        if self._closed or self.finished:
            return
        while True:
            if self._pending:
                n = conn.send(_offered(conn, self._pending, 0, len(self._pending)))
                self.echoed += n
                del self._pending[:n]
                if self._pending:
                    return  # wait for SendBufferAvailable; do not read meanwhile
            data = conn.read(self._chunk)
            if not data:
                break
            self._pending += data
        if conn.at_eof:
            self._closed = True
            self.finished = True
            conn.close()


class DiscardApp(App):
    """Read and drop everything (RFC 863); close when the peer closes.

    Attributes:
        discarded: bytes read and dropped so far.
    """

    def __init__(self) -> None:
        super().__init__()
        self.discarded = 0

    def poll(self, conn: AppConnection) -> None:
        """Drain the receive buffer; close after the peer's FIN."""
        if self.finished:
            return
        while data := conn.read(READ_CHUNK):
            self.discarded += len(data)
        if conn.at_eof:
            self.finished = True
            conn.close()

    def on_end(self, conn: AppConnection, event: events.Event) -> None:
        """After a graceful close, count (and drop) what was still buffered."""
        if isinstance(event, events.ConnectionClosed):
            while data := conn.read(READ_CHUNK):
                self.discarded += len(data)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}

_INDEX_MARKER = "Served by tcpstack"


def _index_page() -> bytes:
    from .. import __version__

    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>tcpstack</title></head>\n'
        "<body><h1>Hello from tcpstack</h1>\n"
        f"<p>{_INDEX_MARKER} {html.escape(__version__)}: a TCP (RFC 9293) written in pure "
        "Python, talking to your kernel through a TUN device.</p>\n</body></html>\n"
    ).encode()


class HttpApp(App):
    """A minimal HTTP/1.0 and HTTP/1.1 server: one request per connection.

    ``GET``/``HEAD /`` returns a small built-in page containing "Served by
    tcpstack". Any other path is looked up under ``root`` (when given):
    ``..`` segments give 403, a path that resolves outside ``root`` (for
    example through a symlink) gives 403, a missing file or a directory
    without ``index.html`` gives 404. Other methods give 405, a malformed
    request 400, an unsupported version 505, a request head larger than
    :data:`MAX_HEADER_BYTES` 431. Every response has ``Content-Length`` and
    ``Connection: close``; the app closes the connection once the response
    is queued. File bodies are streamed in chunks as the send buffer drains.

    Attributes:
        status: the status code of the response, once chosen.
        method, path: of the parsed request (None before).
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self._root = root.resolve() if root is not None else None
        self._buf = bytearray()
        self._out = bytearray()
        self._file: IO[bytes] | None = None
        self._responding = False
        self._closed = False
        self.status: int | None = None
        self.method: str | None = None
        self.path: str | None = None

    # -- connection side -------------------------------------------------

    def poll(self, conn: AppConnection) -> None:
        """Read the request head, then stream the response and close."""
        if self._closed or self.finished:
            return
        if not self._responding:
            while data := conn.read(READ_CHUNK):
                self._buf += data
                if b"\r\n\r\n" in self._buf or len(self._buf) > MAX_HEADER_BYTES:
                    break
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0 and end + 4 <= MAX_HEADER_BYTES:
                self._respond(bytes(self._buf[:end]))
            elif len(self._buf) > MAX_HEADER_BYTES:
                self._error(431)
            elif conn.at_eof:
                if not self._buf:  # peer connected and left without a request
                    self._finish(conn)
                    return
                self._error(400)
            else:
                return
        self._pump(conn)

    def on_end(self, conn: AppConnection, event: events.Event) -> None:
        """Release the open file, if any."""
        self._close_file()

    def _pump(self, conn: AppConnection) -> None:
        while conn.read(READ_CHUNK):
            pass  # a request body or pipelined data we will not serve: drop it, so
            # that close() finds nothing unread (which would turn it into a reset)
        while True:
            if not self._out and self._file is not None:
                chunk = self._file.read(READ_CHUNK)
                if chunk:
                    self._out += chunk
                else:
                    self._close_file()
            if not self._out:
                break
            n = conn.send(_offered(conn, self._out, 0, len(self._out)))
            del self._out[:n]
            if self._out:
                return  # send buffer full: continue on SendBufferAvailable
        self._finish(conn)

    def _finish(self, conn: AppConnection) -> None:
        self._closed = True
        self.finished = True
        self._close_file()
        conn.close()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- HTTP ------------------------------------------------------------

    def _respond(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        try:
            request_line = lines[0].decode("ascii")
        except UnicodeDecodeError:
            self._error(400)
            return
        parts = request_line.split(" ")
        if len(parts) != 3 or not all(parts):
            self._error(400)
            return
        method, target, version = parts
        self.method = method
        if not version.startswith("HTTP/") or version[5:] not in ("1.0", "1.1"):
            self._error(505 if version.startswith("HTTP/") else 400)
            return
        for line in lines[1:]:
            if b":" not in line or line[:1] in (b" ", b"\t"):
                self._error(400)
                return
        if method not in ("GET", "HEAD"):
            self._error(405, extra=[("Allow", "GET, HEAD")])
            return
        raw_path = urllib.parse.urlsplit(target).path if target.startswith("/") else ""
        if not raw_path.startswith("/"):
            self._error(400)
            return
        try:
            path = urllib.parse.unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self._error(400)
            return
        self.path = path
        if "\x00" in path:
            self._error(400)
            return
        if path == "/":
            self._start(200, _index_page(), "text/html; charset=utf-8", head_only=method == "HEAD")
            return
        self._serve_file(path, head_only=method == "HEAD")

    def _serve_file(self, path: str, *, head_only: bool) -> None:
        if self._root is None:
            self._error(404)
            return
        segments = [s for s in path.split("/") if s]
        if any(s == ".." for s in segments) or any("\\" in s for s in segments):
            self._error(403)
            return
        candidate = self._root.joinpath(*segments)
        try:
            if candidate.is_dir():
                candidate = candidate / "index.html"
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            self._error(404)
            return
        if not resolved.is_relative_to(self._root):
            self._error(403)  # a symlink pointing out of root
            return
        try:
            fp = resolved.open("rb")
        except (IsADirectoryError, FileNotFoundError, NotADirectoryError):
            self._error(404)
            return
        except OSError:
            self._error(403)
            return
        try:
            size = _file_size(fp)
        except OSError:
            fp.close()
            self._error(403)
            return
        ctype = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        self._start(200, b"", ctype, length=size, head_only=head_only)
        if head_only:
            fp.close()
        else:
            self._file = fp

    def _error(self, status: int, extra: list[tuple[str, str]] | None = None) -> None:
        reason = _REASONS[status]
        body = (
            f"<!DOCTYPE html>\n<html><body><h1>{status} {reason}</h1>\n"
            f"<p>{_INDEX_MARKER}</p></body></html>\n"
        ).encode()
        self._start(
            status, body, "text/html; charset=utf-8", extra=extra, head_only=self.method == "HEAD"
        )

    def _start(
        self,
        status: int,
        body: bytes,
        ctype: str,
        *,
        length: int | None = None,
        extra: list[tuple[str, str]] | None = None,
        head_only: bool = False,
    ) -> None:
        from .. import __version__

        self.status = status
        self._responding = True
        headers = [
            ("Server", f"tcpstack/{__version__}"),
            ("Content-Type", ctype),
            ("Content-Length", str(len(body) if length is None else length)),
            ("Connection", "close"),
            *(extra or []),
        ]
        head = f"HTTP/1.1 {status} {_REASONS[status]}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers
        )
        self._out += head.encode("ascii") + b"\r\n"
        if not head_only:
            self._out += body


def _file_size(fp: IO[bytes]) -> int:
    return os.fstat(fp.fileno()).st_size


class SendClient(App):
    """Active-open client: send ``data``, half-close, collect the reply until EOF.

    ``data`` is sent with back-pressure once the connection is ESTABLISHED,
    then ``shutdown()`` sends our FIN; everything the peer sends is passed to
    ``sink`` (or kept in :attr:`received` when no sink is given) until the
    peer's FIN. The connection then closes by itself (we sent FIN first, so
    our end goes through TIME-WAIT).

    Attributes:
        sent: bytes accepted by ``send()`` so far.
        received: the reply when no ``sink`` was given.
        received_bytes: length of the reply so far.
        connected: the handshake completed.
    """

    def __init__(self, data: bytes = b"", *, sink: Callable[[bytes], None] | None = None) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._sink = sink
        self._shut = False
        self.sent = 0
        self.received = bytearray()
        self.received_bytes = 0
        self.connected = False

    def on_event(self, conn: AppConnection, event: events.Event) -> None:
        """Note the handshake, then behave as :meth:`App.on_event`."""
        if isinstance(event, events.Connected):
            self.connected = True
        super().on_event(conn, event)

    def poll(self, conn: AppConnection) -> None:
        """Send what the buffer takes, half-close when done, read to EOF."""
        if self.finished or not self.connected:
            return
        while self.sent < len(self._data):
            chunk = _offered(conn, self._data, self.sent, self.sent + READ_CHUNK * 4)
            n = conn.send(chunk)
            self.sent += n
            if n < len(chunk):
                # The send buffer is full: stop here rather than offer (and copy)
                # the next chunk only to have 0 bytes accepted.
                break
        if self.sent == len(self._data) and not self._shut:
            self._shut = True
            self._after_send(conn)
        self._drain(conn)
        if conn.at_eof and self._shut:
            self.finished = True
            self._at_eof(conn)

    def on_end(self, conn: AppConnection, event: events.Event) -> None:
        """After a graceful close, collect what is still buffered.

        The connection can reach CLOSED with bytes not read yet (a slow reader,
        and a RST answered to TIME-WAIT, say): they were received in order
        before the peer's FIN, so they belong to the reply.
        """
        if isinstance(event, events.ConnectionClosed):
            self._drain(conn)

    def _drain(self, conn: AppConnection) -> None:
        while chunk := conn.read(READ_CHUNK):
            self.received_bytes += len(chunk)
            if self._sink is not None:
                self._sink(chunk)
            else:
                self.received += chunk

    def _after_send(self, conn: AppConnection) -> None:
        conn.shutdown()

    def _at_eof(self, conn: AppConnection) -> None:
        """Nothing to do: both FINs are (or will be) sent."""


def _offered(conn: AppConnection, data: bytearray | memoryview, start: int, stop: int) -> bytes:
    """What to offer ``conn.send()`` of ``data[start:stop]``.

    All of it, unless the connection says how much it would accept now
    (``send_space``, as :class:`~tcpstack.connection.Connection` does): then
    at most one byte more. ``send()`` accepts the same bytes either way, and
    the extra byte keeps a send that fills the buffer cut short (which is
    what brings :class:`~tcpstack.events.SendBufferAvailable` later). Saves
    copying all that waits (up to 256 KiB for :class:`SendClient`) on every
    ACK to send a few KiB.

    The ``bytes`` is made in one copy, through a view: ``bytes(data[start:stop])``
    of a ``bytearray`` copied twice (its slice is a ``bytearray``). The send
    buffer keeps a ``bytes`` as it is (docs/performance.md "Zero-copy send
    payloads"), so this is the payload's only copy before the packet's.
    """
    space = getattr(conn, "send_space", None)
    if isinstance(space, int):
        stop = min(stop, start + max(space, 0) + 1)
    if type(data) is memoryview:
        return bytes(data[start:stop])
    with memoryview(data) as view:  # released at once: the caller may resize ``data``
        return bytes(view[start:stop])


class SinkClient(SendClient):
    """Active-open client that sends nothing and collects until the peer closes.

    It keeps its side open until the peer's FIN, then closes (so the peer
    is the one that passes through TIME-WAIT).
    """

    def __init__(self, *, sink: Callable[[bytes], None] | None = None) -> None:
        super().__init__(b"", sink=sink)

    def _after_send(self, conn: AppConnection) -> None:
        """Do not half-close: wait for the peer to finish first."""

    def _at_eof(self, conn: AppConnection) -> None:
        conn.close()


APPS: dict[str, Callable[..., App]] = {
    "echo": EchoApp,
    "discard": DiscardApp,
    "http": HttpApp,
}
"""Server applications by the name the command line uses."""


def safe_dispatch(
    app: App, conn: AppConnection, event: events.Event | None
) -> TcpStackError | None:
    """Call ``app.on_accept`` (``event`` None) or ``app.on_event``; return a raised
    :class:`~tcpstack.errors.TcpStackError` instead of propagating it.

    A local-API error inside an application (for example ``send()`` on a
    connection that was reset in the meantime) must not stop a driver that
    serves other connections.
    """
    try:
        if event is None:
            app.on_accept(conn)
        else:
            app.on_event(conn, event)
    except TcpStackError as exc:
        app.finished = True
        return exc
    return None


C = TypeVar("C", bound=AppConnection)


class PerConnection(Generic[C]):
    """Run one application per connection behind a single host-level ``on_event``.

    The simulator gives a host one application object that sees the events
    of all its connections (``on_event(conn, event)``); the TUN driver uses
    the same object to keep its connection-to-application map. A connection
    gets its application either from :meth:`attach` (an active open, or an
    accepted connection) or, when ``factory`` is given, from ``factory()`` at
    its :class:`~tcpstack.events.Connected` event (the simulator's passive
    opens). Events of connections without an application are ignored.

    A :class:`~tcpstack.errors.TcpStackError` raised inside an application
    is kept in :attr:`errors` (the application is marked finished) instead of
    stopping the host. A connection is forgotten after its terminal event
    (closed, reset, aborted, timed out) or :meth:`remove`; :attr:`ended`
    counts them.

    Example (simulator)::

        server = net.add_host("server", "192.0.2.2", app=PerConnection(EchoApp))
    """

    def __init__(self, factory: Callable[[], App] | None = None) -> None:
        self._factory = factory
        self._apps: dict[int, tuple[C, App]] = {}
        self.errors: list[TcpStackError] = []
        self.ended = 0

    def attach(self, conn: C, app: App, *, accepted: bool = False) -> App:
        """Give ``conn`` its application: ``on_accept`` if ``accepted``, else ``on_start``."""
        self._apps[id(conn)] = (conn, app)
        if accepted:
            self._call(app, conn, None)
        else:
            app.on_start(conn)
        return app

    def app_of(self, conn: C) -> App | None:
        """The application of ``conn``, or None."""
        entry = self._apps.get(id(conn))
        return entry[1] if entry is not None else None

    def on_event(self, conn: C, event: events.Event) -> None:
        """Dispatch ``event`` to the application of ``conn`` (see the class docstring)."""
        app = self.app_of(conn)
        if app is None:
            if self._factory is not None and isinstance(event, events.Connected):
                self.attach(conn, self._factory(), accepted=True)
            return
        self._call(app, conn, event)
        if isinstance(event, _TERMINAL_EVENTS):
            self.remove(conn)

    def poll(self, conn: C) -> None:
        """Call the ``poll`` of the application of ``conn`` (if any), keeping errors.

        Drivers use it to let an application continue without an event, for
        example once a throttled reader may read again.
        """
        app = self.app_of(conn)
        if app is None or app.finished:
            return
        try:
            app.poll(conn)
        except TcpStackError as exc:
            app.finished = True
            self.errors.append(exc)

    def remove(self, conn: C) -> None:
        """Forget ``conn`` (its application gets no more events); counts in :attr:`ended`."""
        if self._apps.pop(id(conn), None) is not None:
            self.ended += 1

    def items(self) -> list[tuple[C, App]]:
        """``(connection, application)`` pairs, oldest first."""
        return list(self._apps.values())

    def __len__(self) -> int:
        return len(self._apps)

    def _call(self, app: App, conn: C, event: events.Event | None) -> None:
        err = safe_dispatch(app, conn, event)
        if err is not None:
            self.errors.append(err)
