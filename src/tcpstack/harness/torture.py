"""Torture runs: many seeded two-way transfers over hostile simulated links.

Each case draws, from its seed, the bytes each side sends (0 to a few MiB,
log-uniform), link delay and jitter, loss, duplication, reordering, bit
corruption and possibly an outage. Both ends send at once and shut down
their sending side when done (so one side keeps sending on a half-closed
connection). A case passes when

* both byte streams arrive exactly (SHA-256) and both ends close cleanly
  (no reset, no timeout, no TCB left), or
* an outage longer than R2 was drawn and the connection ended with the
  documented :class:`~tcpstack.events.ConnectionTimedOut` (the other end may
  then see a reset or a timeout of its own),

and the simulation finished within its step budget (no hang).
``tcpstack torture`` runs thousands of seeds; the test suite runs hundreds.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import TcpConfig
from ..connection import Connection
from ..drivers.sim import Network
from ..events import (
    Connected,
    ConnectionClosed,
    ConnectionReset,
    ConnectionTimedOut,
    Event,
)
from ..state import State
from ..trace import Trace

R2 = 600.0
"""R2 (seconds) used by torture connections: generous, like Linux's ~15 min,
so that a live but very lossy peer is never given up on."""

MAX_SIZE = 4 * 1024 * 1024
"""Largest transfer per direction, bytes."""


@dataclass(frozen=True)
class TortureCase:
    """One seeded case. Sizes in bytes, times in seconds, probabilities in [0, 1]."""

    seed: int
    up: int
    down: int
    delay: float
    jitter: float
    loss: float
    duplicate: float
    reorder: float
    corrupt: float
    outage_start: float | None = None
    outage_length: float = 0.0

    @property
    def fatal_outage(self) -> bool:
        """True if the outage is longer than R2: the connection must time out."""
        return self.outage_start is not None and self.outage_length > R2

    @classmethod
    def draw(cls, seed: int, *, max_size: int = MAX_SIZE) -> TortureCase:
        """The case for ``seed``: reproducible, independent of other seeds."""
        rng = random.Random(f"torture/{seed}")

        def size() -> int:
            if rng.random() < 0.1:
                return 0
            return int(math.exp(rng.uniform(0.0, math.log(max_size + 1)))) - 1

        outage_start: float | None = None
        outage_length = 0.0
        roll = rng.random()
        if roll < 0.15:  # a short outage: must be survived
            outage_start, outage_length = rng.uniform(0.0, 3.0), rng.uniform(0.5, 30.0)
        elif roll < 0.20:  # longer than R2: must end in a timeout
            outage_start, outage_length = rng.uniform(0.0, 3.0), rng.uniform(1.5 * R2, 3 * R2)
        return cls(
            seed=seed,
            up=size(),
            down=size(),
            delay=rng.uniform(0.001, 0.1),
            jitter=rng.choice([0.0, rng.uniform(0.0, 0.02)]),
            loss=rng.choice([0.0, rng.uniform(0.0, 0.05), rng.uniform(0.0, 0.3)]),
            duplicate=rng.choice([0.0, rng.uniform(0.0, 0.05)]),
            reorder=rng.choice([0.0, rng.uniform(0.0, 0.1)]),
            corrupt=rng.choice([0.0, rng.uniform(0.0, 0.02)]),
            outage_start=outage_start,
            outage_length=outage_length,
        )


@dataclass
class TortureResult:
    """What happened in one case."""

    case: TortureCase
    ok: bool
    outcome: str
    detail: str = ""
    wall_seconds: float = 0.0
    virtual_seconds: float = 0.0
    packets: int = 0
    events: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = asdict(self)
        d["case"] = asdict(self.case)
        return d


class Duplex:
    """Sends ``data`` with back-pressure, then shuts down; hashes what it receives."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.sent = 0
        self.digest = hashlib.sha256()
        self.received = 0
        self.shut = False
        self.connected = False
        self.ends: list[Event] = []

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            self.connected = True
        if isinstance(event, ConnectionClosed | ConnectionReset | ConnectionTimedOut):
            self.ends.append(event)
            return
        while chunk := conn.read(1 << 20):
            self.digest.update(chunk)
            self.received += len(chunk)
        if conn.state not in (State.ESTABLISHED, State.CLOSE_WAIT) or self.shut:
            return
        # Any event may follow freed send-buffer room (SendBufferAvailable or an ACK).
        while self.sent < len(self.data):
            n = conn.send(bytes(self.data[self.sent : self.sent + (1 << 18)]))
            if n == 0:
                break
            self.sent += n
        if self.sent == len(self.data):
            self.shut = True
            conn.shutdown()  # half-close: the other direction goes on


def payload(seed: int, size: int, direction: str) -> bytes:
    """The bytes one direction of a case carries (reproducible)."""
    return random.Random(f"torture/{seed}/{direction}").randbytes(size)


def run_case(case: TortureCase, *, max_steps: int = 3_000_000) -> TortureResult:
    """Run one case to completion and judge it. Never raises for a failed case."""
    up, down = payload(case.seed, case.up, "up"), payload(case.seed, case.down, "down")
    net = Network(seed=case.seed, trace=Trace(keep=False), keep_packets=False)
    # Keep-alive lets the side that has finished sending notice a peer that
    # vanished instead of waiting forever; idle = R2, then 9 probes 75 s apart,
    # so a live peer (which retransmits at least every rto_max) is never missed.
    config = TcpConfig(r2=R2, keepalive=True, keepalive_idle=R2)
    client_app, server_app = Duplex(up), Duplex(down)
    client = net.add_host("client", "192.0.2.1", config=config, app=client_app)
    server = net.add_host("server", "198.51.100.1", config=config, app=server_app)
    net.link(client, server, delay=case.delay, jitter=case.jitter, loss=case.loss,
             duplicate=case.duplicate, reorder=case.reorder, corrupt=case.corrupt)
    if case.outage_start is not None:
        net.outage(client, server, case.outage_start, case.outage_start + case.outage_length)
    server.stack.listen(5001)
    net.at(0.0, lambda: client.stack.connect("198.51.100.1", 5001, now=net.now))
    started = time.perf_counter()
    try:
        net.run(max_steps=max_steps)
        hung = ""
    except RuntimeError as exc:
        hung = str(exc)
    wall = time.perf_counter() - started
    ends = {
        "client": [type(e).__name__ for e in client_app.ends],
        "server": [type(e).__name__ for e in server_app.ends],
    }
    result = TortureResult(case, False, "failed", wall_seconds=round(wall, 3),
                           virtual_seconds=round(net.now, 3), packets=net.packets_sent,
                           events=ends)
    leftover = client.stack.connections + server.stack.connections
    if hung:
        result.detail = f"hang: {hung}"
        return result
    if leftover:
        result.detail = f"TCBs left: {leftover}"
        return result
    all_ends = client_app.ends + server_app.ends
    exact = (client_app.digest.digest() == hashlib.sha256(down).digest()
             and server_app.digest.digest() == hashlib.sha256(up).digest())
    clean = all(isinstance(e, ConnectionClosed) for e in all_ends) and (
        len(client_app.ends) == 1 and len(server_app.ends) == 1
    )
    if exact and clean:
        result.ok, result.outcome = True, "completed"
        return result
    if case.fatal_outage:
        # The outage outlasted R2 before the transfer was done: the connection
        # must end with the documented timeout (the peer may then be reset or
        # time out too), on both ends.
        timed_out = any(isinstance(e, ConnectionTimedOut) for e in all_ends)
        # Every end that had a connection saw exactly one end of it (a clean
        # close is possible for the side whose last ACK got through).
        # (An active opener whose SYN never got through reports its timeout
        # without ever having been connected.)
        ended = all(
            len(app.ends) == 1 if app.connected else len(app.ends) <= 1
            for app in (client_app, server_app)
        )
        result.ok = timed_out and ended
        result.outcome = "timed-out" if result.ok else "failed"
        if not result.ok:
            result.detail = f"outage longer than R2: expected timeouts, got {ends}"
        return result
    if not exact:
        result.detail = (f"bytes: client got {client_app.received}/{case.down}, "
                         f"server got {server_app.received}/{case.up}")
    elif not clean:
        result.detail = f"unclean end: {ends}"
    return result


def run_seeds(seeds: range, *, max_size: int = MAX_SIZE) -> list[TortureResult]:
    """Run the cases of ``seeds`` one after another."""
    return [run_case(TortureCase.draw(s, max_size=max_size)) for s in seeds]
