"""Two stacks wired back to back, and crowds of idle connections between them.

The benchmarks of connection scaling (:mod:`~tcpstack.harness.scaling`) run
on this, through the public API only: :class:`~tcpstack.stack.Stack`'s
``listen``, ``accept``, ``connect``, ``receive``, ``packets_to_send``,
``next_timer``, ``handle_timer``, ``next_event`` and a connection's ``send``,
``read`` and ``abort``.

* :class:`Wire`: the smallest driver of two stacks, in virtual time;
* :class:`Population`: ``count`` idle ESTABLISHED connections, opened in
  batches so that building them costs the harness the same per connection
  whatever ``count`` is;
* :func:`wired_bulk`: a timed bulk transfer over a :class:`Wire`.
"""

from __future__ import annotations

import gc
import math
import random
from collections import deque

from ..config import TcpConfig
from ..connection import Connection
from ..stack import Stack
from ..state import State
from .figures import Sample, Stopwatch

CLIENT_ADDRESS = "192.0.2.1"
"""The active opener's address (RFC 5737 documentation range)."""
SERVER_ADDRESS = "192.0.2.2"
"""The listener's address."""

IDLE_PORT = 10_000
"""First server port of idle connections."""
FIRST_LOCAL_PORT = 1024
"""First client port of idle connections."""
PORTS_PER_LISTENER = 50_000
"""Idle connections per server port: client ports 1024..51023, then the next server port."""
BULK_PORT = 9
"""Server port of bulk transfers (discard, RFC 863): apart from the idle ones."""
BATCH = 1000
"""Connections opened per round of handshakes (and the listeners' backlog)."""


def idle_endpoint(index: int) -> tuple[int, int]:
    """``(client port, server port)`` of the ``index``-th idle connection (0-based).

    Ports are chosen, not drawn: one address pair has only 16,384 ephemeral
    ports (RFC 6335), and a 100,000-connection population needs more.
    """
    return FIRST_LOCAL_PORT + index % PORTS_PER_LISTENER, IDLE_PORT + index // PORTS_PER_LISTENER


def listener_ports(count: int) -> range:
    """The server ports that connections ``0 .. count - 1`` of :func:`idle_endpoint` use."""
    return range(IDLE_PORT, IDLE_PORT + math.ceil(count / PORTS_PER_LISTENER))


def drain_events(stack: Stack) -> int:
    """Pop and drop every pending event of ``stack``; returns how many there were."""
    count = 0
    while stack.next_event() is not None:
        count += 1
    return count


class Wire:
    """Two stacks joined back to back: the smallest driver of the public API.

    A packet ``a`` sends arrives at ``b`` ``delay`` seconds later and the
    other way round, in order, none lost. Time is virtual (:attr:`now`,
    seconds). Like the simulator and the TUN driver, each packet delivered
    is followed by the receiver's ``packets_to_send`` (:meth:`flush`), and
    before each step both stacks' ``next_timer`` are asked.

    Attributes:
        a, b: the two stacks (client and server by convention).
        now: virtual time, seconds.
        delivered: packets delivered so far, both directions.
    """

    def __init__(self, a: Stack, b: Stack, *, delay: float = 0.001) -> None:
        self.a = a
        self.b = b
        self.delay = delay
        self.now = 0.0
        self.delivered = 0
        self._flight: deque[tuple[float, Stack, bytes]] = deque()

    def flush(self, stack: Stack) -> None:
        """Put on the wire what ``stack`` (``a`` or ``b``) has to send now."""
        peer = self.b if stack is self.a else self.a
        arrives = self.now + self.delay
        for packet in stack.packets_to_send(self.now):
            self._flight.append((arrives, peer, packet))

    def step(self) -> Stack | None:
        """Do the next thing that happens: fire the earliest due timers of a stack,
        or deliver the oldest packet in flight.

        Returns the stack that had input (the caller then serves its events and
        calls :meth:`flush`), or None when nothing is in flight and no timer is
        armed.
        """
        due, timer_stack = math.inf, None
        for stack in (self.a, self.b):
            at = stack.next_timer()
            if at is not None and at < due:
                due, timer_stack = at, stack
        arrives = self._flight[0][0] if self._flight else math.inf
        if timer_stack is not None and due <= arrives:
            self.now = max(self.now, due)
            timer_stack.handle_timer(self.now)
            return timer_stack
        if not self._flight:
            return None
        _, dst, packet = self._flight.popleft()
        self.now = max(self.now, arrives)
        dst.receive(packet, self.now)
        self.delivered += 1
        return dst

    def settle(self) -> None:
        """Exchange packets in rounds until neither stack has any to send.

        Each round flushes both stacks and delivers everything in flight at
        once, so a batch of handshakes costs a few rounds (a few
        ``packets_to_send`` calls) whatever its size. Timers are not looked
        at: this is how populations are built, not how transfers are timed.
        """
        while True:
            self.flush(self.a)
            self.flush(self.b)
            if not self._flight:
                return
            self.now = self._flight[-1][0]
            while self._flight:
                _, dst, packet = self._flight.popleft()
                dst.receive(packet, self.now)
                self.delivered += 1

    def quiet(self) -> bool:
        """True if nothing is in flight and neither stack has a timer armed."""
        return not self._flight and self.a.next_timer() is None and self.b.next_timer() is None


def new_wire(seed: int = 1, *, config: TcpConfig | None = None, delay: float = 0.001) -> Wire:
    """A client stack (:data:`CLIENT_ADDRESS`) wired to a server stack
    (:data:`SERVER_ADDRESS`), no trace, seeded: the same ``seed`` gives the
    same ISNs and ports. ``delay`` is the one-way delay in seconds."""
    client = Stack(CLIENT_ADDRESS, config=config, name="client",
                   rng=random.Random(f"{seed}/client"))
    server = Stack(SERVER_ADDRESS, config=config, name="server",
                   rng=random.Random(f"{seed}/server"))
    return Wire(client, server, delay=delay)


class Population:
    """``count`` idle ESTABLISHED connections from ``wire.a`` to ``wire.b``.

    Connection ``i`` joins the client's and the server's ports of
    :func:`idle_endpoint` ``(i)``. Both ends stay referenced from
    :attr:`clients` and :attr:`servers`, lists of ``count`` slots allocated
    here, so that :meth:`open` allocates nothing in the harness that grows
    with ``count``: the memory it adds is the stacks'. The listeners are
    created here too (backlog ``batch``).

    Idle means: handshake completed, events drained, nothing to send, no
    timer armed.
    """

    def __init__(self, wire: Wire, count: int, *, batch: int = BATCH) -> None:
        if count < 0 or batch < 1:
            raise ValueError(f"need count >= 0 and batch >= 1, got {count} and {batch}")
        self.wire = wire
        self.count = count
        self.batch = batch
        self.clients: list[Connection | None] = [None] * count
        self.servers: list[Connection | None] = [None] * count
        for port in listener_ports(count):
            wire.b.listen(port, backlog=batch)

    def open(self) -> None:
        """Open every connection, ``batch`` at a time: connect, exchange the
        handshakes (:meth:`Wire.settle`), accept, drain both stacks' events.

        Raises:
            RuntimeError: a connection was not accepted, is not ESTABLISHED,
                or a timer is left armed.
        """
        wire, client, server = self.wire, self.wire.a, self.wire.b
        for start in range(0, self.count, self.batch):
            end = min(self.count, start + self.batch)
            for i in range(start, end):
                local, port = idle_endpoint(i)
                self.clients[i] = client.connect(server.address, port, now=wire.now,
                                                 local_port=local)
            wire.settle()
            taken = start
            for port in range(idle_endpoint(start)[1], idle_endpoint(end - 1)[1] + 1):
                while (conn := server.accept(port)) is not None:
                    self.servers[taken] = conn
                    taken += 1
            if taken != end:
                raise RuntimeError(f"accepted {taken - start} of connections {start}..{end - 1}")
            drain_events(client)
            drain_events(server)
        self.check()

    def check(self) -> None:
        """Raise RuntimeError unless every connection is open and idle."""
        for ends in (self.clients, self.servers):
            if any(c is None or c.state is not State.ESTABLISHED for c in ends):
                raise RuntimeError("an idle connection is not ESTABLISHED")
        if not self.wire.quiet():
            raise RuntimeError("idle connections left a timer armed or a packet in flight")


_READ_ALL = -1  # read(-1): everything buffered


def wired_bulk(wire: Wire, size: int) -> Sample:
    """Send ``size`` bytes from ``wire.a`` to ``wire.b`` on a new connection; time it.

    The connection to :data:`BULK_PORT` is opened (and accepted) before the
    clock starts and aborted after it stops; the wire is left quiet, as
    found. Timed: from the first ``send`` until the server has read the last
    byte, one :meth:`Wire.step` at a time, each followed by the receiver's
    events drained, the application's ``read`` or ``send`` and a
    :meth:`Wire.flush`.

    Returns:
        The cost of the timed part (wall and CPU seconds) and the packets
        delivered in it, both directions.

    Raises:
        RuntimeError: the transfer stalled, or the wire was not quiet after it.
    """
    client, server = wire.a, wire.b
    if not server.listening(BULK_PORT):
        server.listen(BULK_PORT)
    conn = client.connect(server.address, BULK_PORT, now=wire.now)
    wire.settle()
    peer = server.accept(BULK_PORT)
    if peer is None:
        raise RuntimeError("the bulk connection was not accepted")
    drain_events(client)
    drain_events(server)
    chunk = bytes(range(256)) * 256
    sent = received = 0
    gc.collect()
    with Stopwatch() as stopwatch:
        first = wire.delivered
        stack: Stack | None = client
        while received < size:
            if stack is None:
                raise RuntimeError(f"bulk transfer stalled after {received} of {size} bytes")
            drain_events(stack)
            if stack is server:
                received += len(peer.read(_READ_ALL))
            else:
                while sent < size and (n := conn.send(chunk[: size - sent], now=wire.now)):
                    sent += n
            wire.flush(stack)
            stack = wire.step()
        packets = wire.delivered - first
    conn.abort()
    stack = client
    while stack is not None:  # the RST, and the last ACKs in flight: until quiet
        drain_events(stack)
        wire.flush(stack)
        stack = wire.step()
    if not wire.quiet():
        raise RuntimeError("the bulk connection left a timer armed")
    return Sample(stopwatch, packets)
