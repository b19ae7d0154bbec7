"""``ofo-holes``: a peer that fills the receiver's window with 1-byte holes.

A client connects to a server whose receive buffer (and so its window) is
``window`` bytes (4 MiB by default, with window scaling; SACK on, timestamps
off). Then the client misbehaves: it sends one byte at every odd offset from
RCV.NXT (``segment`` bytes per segment, each followed by a 1-byte hole) up
to the window the server offered, so nothing is in order and the receiver
holds about half a window in as many ranges as it can. The segments are
built beforehand, chunk by chunk, and fed straight into the server's stack
at one instant of virtual time; the server's answers (duplicate ACKs with
SACK blocks) are taken and dropped (its link to the client is down during
the attack, so the attacker's own stack never sees them).

Measured:

* CPU time (``time.process_time``) of the receiver's processing of the hole
  segments: ``Stack.receive`` and ``Stack.packets_to_send`` per segment,
  nothing else (building packets is outside it). Also the cost of as many
  out-of-order 1-byte segments behind a *single* hole (offsets 1, 2, 3...
  on a fresh connection: each is out of order and draws an ACK with a SACK
  block, as a hole segment does, but they make one growing range), scaled
  from a calibration run, and the difference: what the *number* of holes
  adds, which is what the issue found quadratic. The issue's "done means"
  (under 2 s) is judged on that difference; the total and an in-order
  1-byte segment's cost are shown beside it (2 Mi segments through a
  pure-Python receive path cost far more than 2 s whatever the reassembly
  does). Feeding stops once ``cpu_budget`` seconds of CPU are spent (a stack
  whose cost per segment grows with the holes would otherwise not finish):
  the run then fails and says how far it got.
* Memory: :func:`~.common.deep_size` of the server's connection after the
  holes minus before, against the bytes held: the hole segments' bytes less
  those the receiver says it did not keep (its ``ofo_dropped`` segments and
  ``ofo_pruned`` ranges: in this pattern every range is one segment), all
  of them on a stack without those counters.
* Then the client sends the whole stream again in MSS-sized segments
  (a retransmission that fills every hole, overlapping what is held) and the
  server's application reads it: it must be byte-exact (SHA-256).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping

from ...config import TcpConfig
from ...connection import Connection
from ...drivers.sim import Host, Network
from ...events import Event
from ...seq import seq_add
from ...trace import Trace
from ...wire import Flags
from .common import (
    CLIENT_ADDRESS,
    SERVER_ADDRESS,
    SERVER_PORT,
    AttackResult,
    Progress,
    deep_size,
    ipv4_segment,
    no_progress,
)

DEFAULT_WINDOW = 4 * 1024 * 1024
"""Default receive window under attack, bytes."""

CPU_LIMIT = 2.0
"""Done means: a full window of 1-byte holes costs under 2 s of CPU (the out-of-order work)."""

MEMORY_RATIO = 2.0
"""Done means: memory within 2x the bytes held."""

DEFAULT_CPU_BUDGET = 300.0
"""CPU seconds after which feeding stops (the run then fails, saying how far it got)."""

CALIBRATION = 20_000
"""1-byte segments timed to price the in-order and the one-hole per-segment paths."""

NOT_KEPT_KEYS = ("ofo_dropped", "ofo_pruned")
"""Counters of out-of-order segments (ranges) a receiver did not keep (issue 12's keys)."""

CHUNK = 4096
"""Segments built, then fed, at a time."""

BUDGET_EVERY = 256
"""Packets fed between two looks at the CPU budget."""

CLIENT, SERVER, PORT = CLIENT_ADDRESS, SERVER_ADDRESS, SERVER_PORT


class _Reader:
    """The server's application: reads and hashes what is delivered."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.received = 0
        self.conn: Connection | None = None

    def on_event(self, conn: Connection, event: Event) -> None:
        self.conn = conn
        while chunk := conn.read(1 << 20):
            self.digest.update(chunk)
            self.received += len(chunk)


def _connected(seed: int, window: int) -> tuple[Network, Host, Host, _Reader, Connection]:
    """A handshake done between a client and a server offering ``window`` bytes:
    ``(net, client, server, reader, the client's connection)``."""
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    reader = _Reader()
    server = net.add_host("server", SERVER, app=reader,
                          config=TcpConfig(recv_buffer=window, timestamps=False))
    client = net.add_host("client", CLIENT, config=TcpConfig(timestamps=False))
    net.link(client, server, delay=0.010)
    server.stack.listen(PORT)
    conn = client.stack.connect(SERVER, PORT, now=0.0)
    net.run(until=1.0)
    if not conn.state.synchronized or reader.conn is None:
        raise RuntimeError("the handshake did not complete")
    # The attacker speaks for the client from now on: the server's answers
    # are not delivered to the client's stack.
    net.direction(server, client).up = False
    return net, client, server, reader, conn


def _feed(server: Host, packets: list[bytes], now: float,
          budget: float = float("inf")) -> tuple[float, int]:
    """Feed ``packets`` to the server's stack, stopping once ``budget`` CPU seconds
    are spent (checked every :data:`BUDGET_EVERY` packets): ``(CPU seconds its
    processing took, packets fed)``."""
    stack = server.stack
    receive, pending = stack.receive, stack.packets_to_send
    start = time.process_time()
    fed = 0
    for first in range(0, len(packets), BUDGET_EVERY):
        for packet in packets[first : first + BUDGET_EVERY]:
            receive(packet, now)
            pending(now)
        fed = min(first + BUDGET_EVERY, len(packets))
        if time.process_time() - start >= budget:
            break
    return time.process_time() - start, fed


def _calibration(seed: int, window: int, n: int, first: int) -> float:
    """CPU seconds per 1-byte segment at offsets ``first``, ``first + 1``... from
    RCV.NXT on a fresh connection (``n`` timed): ``first`` 0 is the in-order
    path, 1 the out-of-order path behind a single hole."""
    net, _, server, _, conn = _connected(seed, window)
    src, dst = conn.local.address.packed, conn.remote.address.packed
    base, ack = conn.snd_nxt, conn.rcv_nxt
    wnd = min(conn.rcv_wnd >> conn.negotiated.rcv_wscale, 0xFFFF)
    n = max(1, min(n, window - first))
    packets = [ipv4_segment(src, dst, conn.local.port, PORT, seq_add(base, first + i), ack,
                            Flags.ACK, wnd, payload=b"x") for i in range(n)]
    return _feed(server, packets, net.now)[0] / n


def _not_kept(stats: Mapping[str, int]) -> int:
    """Out-of-order segments and ranges a stack says it dropped or pruned."""
    return sum(stats.get(k, 0) for k in NOT_KEPT_KEYS)


def run_ofo_holes(*, seed: int = 1, window: int = DEFAULT_WINDOW, segment: int = 1,
                  cpu_budget: float = DEFAULT_CPU_BUDGET,
                  progress: Progress = no_progress) -> AttackResult:
    """``ofo-holes`` (module docstring).

    Args:
        seed: seeds the network and the stream's bytes.
        window: the server's receive buffer, bytes (up to 2**30).
        segment: data bytes per segment (each followed by a 1-byte hole).
        cpu_budget: CPU seconds of feeding after which the run stops.
        progress: told (hole segments fed, hole segments in all).

    Raises:
        ValueError: ``window`` < 4 or > 2**30, ``segment`` < 1, ``cpu_budget`` <= 0.
        RuntimeError: the handshake failed.
    """
    if not 4 <= window <= 1 << 30:
        raise ValueError(f"window must be in 4..{1 << 30} bytes, got {window}")
    if segment < 1 or not cpu_budget > 0:
        raise ValueError("segment must be >= 1 byte and cpu_budget > 0 s")
    started = time.perf_counter()
    net, _, server, reader, conn = _connected(seed, window)
    victim = server.stack.find(PORT, CLIENT, conn.local.port)
    assert victim is not None
    # What the server's window lets in: its own RCV.WND (the client's SND.WND
    # still holds the SYN-ACK's unscaled window, RFC 7323 §2.2).
    offered = min(window, victim.rcv_wnd)
    data = random.Random(f"attack/{seed}/ofo").randbytes(offered)
    src, dst = conn.local.address.packed, conn.remote.address.packed
    sport, base, ack = conn.local.port, conn.snd_nxt, conn.rcv_nxt
    wnd = min(conn.rcv_wnd >> conn.negotiated.rcv_wscale, 0xFFFF)
    step = segment + 1
    offsets = range(1, offered - segment + 1, step)  # the first byte stays missing
    total = len(offsets)
    exclude = [server.stack, net, net.trace, victim.config, reader]
    before = deep_size(victim, exclude=exclude)
    cpu = 0.0
    fed = 0
    not_kept = _not_kept(server.stack.stats)
    now = net.now
    for first in range(0, total, CHUNK):
        if cpu >= cpu_budget:
            break
        chunk = offsets[first : first + CHUNK]
        packets = [ipv4_segment(src, dst, sport, PORT, seq_add(base, off), ack, Flags.ACK, wnd,
                                payload=data[off : off + segment]) for off in chunk]
        spent, n = _feed(server, packets, now, cpu_budget - cpu)
        cpu += spent
        fed += n
        progress(fed, total)
    finished = fed == total
    held = max(fed - (_not_kept(server.stack.stats) - not_kept), 0) * segment
    memory = deep_size(victim, exclude=exclude) - before
    in_order = _calibration(seed, window, min(CALIBRATION, fed), 0)
    one_hole = _calibration(seed, window, min(CALIBRATION, fed), 1)
    above = cpu - one_hole * fed
    # Fill every hole: the whole stream again in MSS-sized segments.
    mss = conn.snd_mss
    fill = [ipv4_segment(src, dst, sport, PORT, seq_add(base, off), ack, Flags.ACK, wnd,
                         payload=data[off : off + mss]) for off in range(0, offered, mss)]
    fill_cpu = _feed(server, fill, net.now)[0]
    net.run(until=net.now + 1.0)
    exact = reader.received == offered and reader.digest.digest() == hashlib.sha256(
        data).digest()
    ratio = memory / held if held else None
    result = AttackResult(
        "ofo-holes", seed, {"window": window, "segment": segment, "cpu_budget": cpu_budget},
        f"a full window of 1-byte holes costs under {CPU_LIMIT:g} s of CPU (beyond the same "
        f"segments behind one hole) and memory within {MEMORY_RATIO:g}x the bytes held; the "
        "stream then arrives byte-exact")
    result.add("window_offered", "window offered", offered, "bytes")
    result.add("hole_segments", "hole segments fed", fed)
    result.add("hole_segments_total", "hole segments in a full window", total)
    result.add("finished", "fed them all (within the CPU budget)", finished)
    result.add("bytes_fed", "bytes in the hole segments", fed * segment, "bytes")
    result.add("bytes_held", "bytes held (less what the receiver dropped)", held, "bytes")
    result.add("cpu_total", "receiver CPU, total", round(cpu, 3), "s")
    result.add("cpu_per_segment_us", "receiver CPU per hole segment",
               round(cpu / fed * 1e6, 2) if fed else None, "us")
    result.add("cpu_in_order_us", "in-order 1-byte segment CPU (calibration)",
               round(in_order * 1e6, 2), "us")
    result.add("cpu_one_hole_us", "1-byte segment behind one hole CPU (calibration)",
               round(one_hole * 1e6, 2), "us")
    result.add("cpu_above_one_hole", "CPU the holes add (done means < 2 s)", round(above, 3),
               "s")
    result.add("memory", "receiver connection memory after the holes", memory, "bytes")
    result.add("memory_ratio", "memory / bytes held (done means <= 2)",
               round(ratio, 3) if ratio is not None else None)
    result.add("fill_segments", "filling segments", len(fill))
    result.add("fill_cpu", "receiver CPU to fill the holes", round(fill_cpu, 3), "s")
    result.add("bytes_exact", "stream byte-exact after the fill", exact)
    result.counters = {k: int(v) for k, v in sorted(server.stack.stats.items())
                       if v and ("ofo" in k or k.startswith("dropped:"))}
    result.check("fed a full window of holes", finished,
                 f"{fed:,} of {total:,} segments in {cpu:.1f} s of CPU")
    result.check(f"holes cost < {CPU_LIMIT:g} s of CPU", finished and above < CPU_LIMIT,
                 f"{above:.2f} s beyond one hole's cost ({cpu:.2f} s in all)")
    result.check(f"memory <= {MEMORY_RATIO:g} x bytes held",
                 ratio is not None and ratio <= MEMORY_RATIO,
                 f"{memory:,} bytes for {held:,} held" + (f" ({ratio:.1f}x)" if ratio else ""))
    result.check("stream byte-exact", exact, f"{reader.received:,} of {offered:,} bytes")
    result.wall_seconds = time.perf_counter() - started
    return result


__all__ = ["DEFAULT_CPU_BUDGET", "DEFAULT_WINDOW", "run_ofo_holes"]
