"""``zero-window``: a peer that advertises a zero window, then vanishes.

A server sends 1 MiB to a client whose application never reads: the client's
window closes, the server has data queued and sends zero-window probes
(RFC 9293 §3.8.6.1). Once the server has everything it sent acknowledged and
sees a zero window, the client vanishes: from then on every packet between
them is lost (a scripted :class:`~tcpstack.drivers.sim.Fault`, which also
notes when each probe left), so no probe is ever answered. The run then
steps the simulator until the server's connection is gone, or ``max_time``
seconds of virtual time pass.

The server can only notice the silence at its first unanswered probe (the
persist timer's first interval after the last ACK): R2 and the user timeout
are counted from there, as Linux counts them (``icsk_probes_tstamp``, set
when the first probe goes out); the time from the vanishing is shown too.

Three cases, each a fresh run with the same seed:

* ``r2``: the default configuration; done means the connection ends within
  R2 (``TcpConfig.r2``) of the first unanswered probe. R2 is checked when a probe
  is due, as for retransmissions (RFC 1122 §4.2.3.5), so the end may come up
  to one probe interval (at most ``rto_max``) after R2: that is the slack
  allowed.
* ``user-timeout``: ``TcpConfig.user_timeout`` set; it is a deadline (RFC
  5482 §3, the RTO cut short to it), so no slack.
* ``orphan``: the default configuration, and the server's application closes
  the connection at the moment the peer vanishes (FIN-WAIT-1, the FIN
  queued behind data a zero window holds back); done means it gives up after
  ``TcpConfig.orphan_retries`` probes (Linux ``tcp_orphan_retries``), so at
  most ``orphan_retries + 1`` probes after the close (the first one and its
  retries). A configuration without that field fails the case, saying so.

Measured per case: virtual seconds from the peer's vanishing to the first
probe and to the end (or "still alive"), how the connection ended (the
event its application saw), and the probes the server sent into the void.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass

from ...config import TcpConfig
from ...connection import Connection
from ...drivers.sim import Fault, Network, PacketInfo
from ...state import State
from ...trace import Trace
from .common import (
    CLIENT_ADDRESS,
    SERVER_ADDRESS,
    SERVER_PORT,
    AttackResult,
    Progress,
    Sink,
    Source,
    no_progress,
)

DEFAULT_MAX_TIME = 86_400.0
"""Virtual seconds a case may last after the peer vanished (one day)."""

DEFAULT_USER_TIMEOUT = 30.0
"""The user-timeout case's ``TcpConfig.user_timeout``, seconds."""

DATA = 1 << 20
"""Bytes the server tries to send (more than the client's window and the server's buffer)."""

SERVER, CLIENT, PORT = SERVER_ADDRESS, CLIENT_ADDRESS, SERVER_PORT
CASES = ("r2", "user-timeout", "orphan")


@dataclass
class ZeroWindowCase:
    """One case's outcome. Times are virtual seconds.

    Attributes:
        case: ``"r2"``, ``"user-timeout"`` or ``"orphan"``.
        limit: the time (or, for the orphan, the probe count) judged against; None: unknown.
        vanished_at: when the peer went silent.
        first_probe_after: seconds from then to the server's first unanswered
            segment; None: it sent none.
        ended_after: seconds from then to the connection's end; None: still alive.
        end: the name of the event that ended it, or the state it was left in.
        probes: segments the server sent after the peer went silent.
        passed: the case's criterion held.
        detail: the values it was judged on.
    """

    case: str
    limit: float | None
    vanished_at: float
    first_probe_after: float | None
    ended_after: float | None
    end: str
    probes: int
    passed: bool
    detail: str


def _run_case(seed: int, case: str, max_time: float, user_timeout: float) -> ZeroWindowCase:
    """Run one case (module docstring)."""
    base = TcpConfig()
    config = TcpConfig(user_timeout=user_timeout) if case == "user-timeout" else base
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    source = Source(random.Random(f"attack/{seed}/zero-window").randbytes(DATA))
    server = net.add_host("server", SERVER, config=config, app=source)
    client = net.add_host("client", CLIENT, app=Sink(DATA, lambda: net.now, read=False))
    net.link(client, server, delay=0.010)
    server.stack.listen(PORT)
    net.at(0.0, lambda: client.stack.connect(SERVER, PORT, now=net.now))
    conn: Connection | None = None
    while net.step():  # until the server is stuck behind a zero window
        conn = source.conn
        if conn is not None and conn.snd_wnd == 0 and conn.unsent > 0 and conn.in_flight == 0:
            break
        if net.now > 60.0:
            raise RuntimeError("the client's window never closed")
    assert conn is not None
    vanished = net.now
    into_the_void: list[float] = []  # when the server's unanswered segments left

    def lost(packet: PacketInfo) -> bool:
        if packet.src == "server":
            into_the_void.append(packet.time)
        return True

    net.add_fault(Fault(lost, count=sys.maxsize, reason="peer-vanished"))
    if case == "orphan":
        source.closed = True  # the application is done with it
        conn.close()
    deadline = vanished + max_time
    while conn.state is not State.CLOSED and net.next_time() <= deadline:
        net.step()
    alive = conn.state is not State.CLOSED
    ended_after = None if alive else round(net.now - vanished, 6)
    end = (f"still {conn.state} after {max_time:g} s" if alive
           else type(source.ends[0]).__name__ if source.ends else "closed")
    probes = len(into_the_void)
    first = into_the_void[0] if into_the_void else None
    silent = None if alive or first is None else round(net.now - first, 6)
    if case == "orphan":
        retries = getattr(config, "orphan_retries", None)
        limit = None if retries is None else float(retries)
        passed = not alive and retries is not None and probes <= retries + 1
        detail = (("TcpConfig has no orphan_retries" if retries is None
                   else f"{probes} probes <= orphan_retries + 1 = {retries + 1}")
                  + (f"; still alive after {max_time:g} s" if alive else ""))
    else:
        timeout = config.user_timeout if case == "user-timeout" else config.r2
        slack = 0.0 if case == "user-timeout" else config.rto_max
        limit = timeout
        allowed = math.inf if timeout is None else timeout + slack
        passed = silent is not None and silent <= allowed
        what = "user_timeout" if case == "user-timeout" else "R2 + rto_max"
        detail = (f"still alive after {max_time:g} s (limit {allowed:g} s)" if alive
                  else f"ended {silent:g} s after the first unanswered probe <= {what} = "
                  f"{allowed:g} s" if silent is not None else "ended without a probe")
    return ZeroWindowCase(case, limit, round(vanished, 6),
                          None if first is None else round(first - vanished, 6), ended_after,
                          end, probes, passed, detail)


def run_zero_window(*, seed: int = 1, max_time: float = DEFAULT_MAX_TIME,
                    user_timeout: float = DEFAULT_USER_TIMEOUT,
                    progress: Progress = no_progress) -> AttackResult:
    """``zero-window`` (module docstring): the three cases.

    Args:
        seed: seeds the network and the data.
        max_time: virtual seconds each case may last after the peer vanished.
        user_timeout: the user-timeout case's ``TcpConfig.user_timeout``.
        progress: told (cases done, 3).

    Raises:
        ValueError: ``max_time`` or ``user_timeout`` not > 0.
    """
    if not max_time > 0 or not user_timeout > 0:
        raise ValueError("max_time and user_timeout must be > 0 s")
    started = time.perf_counter()
    config = TcpConfig()
    result = AttackResult(
        "zero-window", seed, {"max_time": max_time, "user_timeout": user_timeout},
        "the connection ends within R2 (or the user timeout) after the peer stops answering; "
        "an orphan in FIN-WAIT-1 gives up after orphan_retries probes")
    result.add("r2", "R2 (TcpConfig.r2)", config.r2, "s")
    result.add("rto_max", "rto_max (probe interval at most)", config.rto_max, "s")
    result.add("user_timeout", "user timeout (its case)", user_timeout, "s")
    result.add("orphan_retries", "orphan_retries (TcpConfig)",
               getattr(config, "orphan_retries", None))
    for i, case in enumerate(CASES):
        outcome = _run_case(seed, case, max_time, user_timeout)
        key = case.replace("-", "_")
        result.add(f"{key}_first_probe_after", f"{case}: first probe after the peer vanished",
                   outcome.first_probe_after, "s")
        result.add(f"{key}_ended_after", f"{case}: ended after the peer vanished",
                   outcome.ended_after, "s")
        result.add(f"{key}_end", f"{case}: how it ended", outcome.end)
        result.add(f"{key}_probes", f"{case}: probes sent into the void", outcome.probes)
        result.check(f"{case}: connection ends in time", outcome.passed, outcome.detail)
        progress(i + 1, len(CASES))
    result.wall_seconds = time.perf_counter() - started
    return result


__all__ = ["CASES", "DEFAULT_MAX_TIME", "DEFAULT_USER_TIMEOUT", "ZeroWindowCase", "run_zero_window"]
