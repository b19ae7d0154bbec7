"""What every attack experiment shares: results, spoofed packets, a victim's replies,
a bulk transfer to attack, and the memory an object graph holds.

Attacks run in the simulator (:mod:`tcpstack.drivers.sim`) through public
interfaces only: spoofed packets go straight into the victim's
:meth:`~tcpstack.stack.Stack.receive` (an attacker next to the victim: no
link, no extra per-packet work beyond building the packet), and what the
victim sends in answer is taken with
:meth:`~tcpstack.stack.Stack.packets_to_send` and put back on the network
with :meth:`~tcpstack.drivers.sim.Network.inject`, so it travels on as any
packet would. Sizes are bytes, times virtual seconds unless a name says
``wall`` or ``cpu``.
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
import struct
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...config import TcpConfig
from ...connection import Connection
from ...drivers.sim import Host, Network
from ...errors import MalformedPacket
from ...events import (
    ConnectionAborted,
    ConnectionClosed,
    ConnectionReset,
    ConnectionTimedOut,
    Event,
)
from ...trace import Trace
from ...wire import (
    PROTO_TCP,
    Flags,
    decode_tcp_packet,
    internet_checksum,
    ones_sum,
)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: how far an attack is, in units it chooses (packets, steps)."""


def no_progress(done: int, total: int) -> None:
    """A :data:`Progress` that shows nothing."""


@dataclass(frozen=True)
class Metric:
    """One measured value of an attack, as the table and the JSON show it.

    Attributes:
        key: JSON key (snake_case).
        label: the table's words for it.
        value: the number (or text, or None when it could not be measured).
        unit: ``"s"``, ``"bytes"``, ``"%"``, ``"/s"``... or ``""``.
    """

    key: str
    label: str
    value: float | int | str | bool | None
    unit: str = ""


@dataclass(frozen=True)
class Check:
    """One part of the issue's "done means" criterion, judged on measured values.

    Attributes:
        name: what is checked, e.g. ``"transfer byte-exact"``.
        passed: whether it held.
        detail: the values it was judged on, e.g. ``"1.04 <= 1.10"``.
    """

    name: str
    passed: bool
    detail: str = ""


@dataclass
class AttackResult:
    """What one attack run measured, and whether it met its criterion.

    Attributes:
        attack: the attack's name (``"blind-rst"``...).
        seed: the run's seed.
        params: the run's parameters (what the command line set).
        criterion: the issue's "done means" for this attack, in words.
        checks: the criterion's parts, each judged.
        metrics: measured values, in table order.
        counters: the victim's stack counters that bear on the attack.
        wall_seconds: wall-clock time of the whole run (informative only).
    """

    attack: str
    seed: int
    params: dict[str, Any]
    criterion: str
    checks: list[Check] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every check held (and there was at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def metric(self, key: str) -> float | int | str | bool | None:
        """The value of the metric ``key``.

        Raises:
            KeyError: no such metric.
        """
        for m in self.metrics:
            if m.key == key:
                return m.value
        raise KeyError(key)

    def add(self, key: str, label: str, value: float | int | str | bool | None,
            unit: str = "") -> None:
        """Append one metric."""
        self.metrics.append(Metric(key, label, value, unit))

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        """Append one judged part of the criterion."""
        self.checks.append(Check(name, bool(passed), detail))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``tcpstack attack --json`` prints.

        Shape: ``{"attack", "seed", "params": {...}, "criterion", "passed",
        "checks": [{"name", "passed", "detail"}], "metrics": {key: value},
        "units": {key: unit}, "counters": {key: n}, "wall_seconds"}``.
        """
        return {
            "attack": self.attack,
            "seed": self.seed,
            "params": dict(self.params),
            "criterion": self.criterion,
            "passed": self.passed,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                       for c in self.checks],
            "metrics": {m.key: m.value for m in self.metrics},
            "units": {m.key: m.unit for m in self.metrics if m.unit},
            "counters": dict(self.counters),
            "wall_seconds": round(self.wall_seconds, 3),
        }


# --------------------------------------------------------------------------
# Counters read from the victim's stack
# --------------------------------------------------------------------------

CHALLENGE_SENT_KEYS = ("challenge_ack_sent", "challenge_acks_sent")
"""Counter keys that, where the stack has them, count challenge ACKs sent (RFC 5961)."""

CHALLENGE_SUPPRESSED_KEYS = ("challenge-ack-rate-limited", "challenge_ack_rate_limited",
                             "challenge_ack_suppressed")
"""Counter keys of challenge ACKs the per-connection limit suppressed (RFC 5961 §7)."""

CHALLENGED_KEYS = ("dropped:rst-challenged", "dropped:syn-challenged")
"""Drops that asked for a challenge ACK (sent or suppressed), as the core counts them today."""


def challenge_acks(stats: Mapping[str, int]) -> tuple[int, int]:
    """Challenge ACKs ``(sent, suppressed)`` according to a stack's counters.

    Sent comes from an explicit counter when the stack keeps one
    (:data:`CHALLENGE_SENT_KEYS`), else from the drops that asked for one
    less those the rate limit suppressed. The one place that knows the key
    names: change it here when they change.
    """
    suppressed = sum(stats.get(k, 0) for k in CHALLENGE_SUPPRESSED_KEYS)
    if any(k in stats for k in CHALLENGE_SENT_KEYS):
        return sum(stats.get(k, 0) for k in CHALLENGE_SENT_KEYS), suppressed
    asked = sum(stats.get(k, 0) for k in CHALLENGED_KEYS)
    return max(asked - suppressed, 0), suppressed


def stack_counters(stats: Mapping[str, int], *, prefixes: Iterable[str]) -> dict[str, int]:
    """The counters whose key contains one of ``prefixes`` (non-zero ones, sorted)."""
    words = tuple(prefixes)
    return {k: int(v) for k, v in sorted(stats.items())
            if v and any(w in k for w in words)}


# --------------------------------------------------------------------------
# Spoofed packets and the replies they draw
# --------------------------------------------------------------------------


_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")


def ipv4_segment(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int,
                 flags: int, window: int, options: bytes = b"", payload: bytes = b"") -> bytes:
    """A raw IPv4 packet carrying one TCP segment, both checksums right (RFC 791
    §3.1, RFC 9293 §3.1); ``options`` already encoded and padded to 4 bytes.

    What :class:`~tcpstack.wire.PacketEncoder` builds, from the header fields
    directly: the attacker's fast path for millions of packets from changing
    addresses (no ``Segment``, no encoder per address), checked against the
    encoder by the tests.
    """
    header_len = 20 + len(options)
    tcp = bytearray(_TCP.pack(sport, dport, seq, ack, (header_len // 4) << 4, flags, window,
                              0, 0))
    tcp += options
    tcp += payload
    tcp_len = len(tcp)
    pseudo = ones_sum(src + dst) + PROTO_TCP + tcp_len
    tcp[16:18] = internet_checksum(tcp, pseudo).to_bytes(2, "big")
    ip = bytearray(_IP.pack(0x45, 0, 20 + tcp_len, 0, 0x4000, 64, PROTO_TCP, 0, src, dst))
    ip[10:12] = internet_checksum(ip).to_bytes(2, "big")
    return bytes(ip + tcp)


def ts_option(tsval: int, tsecr: int) -> bytes:
    """NOP, NOP, timestamps (RFC 7323 §3, Appendix A layout): 12 option bytes."""
    return b"\x01\x01\x08\x0a" + _TS.pack(tsval, tsecr)


_TS = struct.Struct("!II")


def syn_options(tsval: int) -> bytes:
    """A Linux client's SYN options, 20 bytes: MSS 1460, SACK-permitted,
    timestamps (``tsval``, TSecr 0), NOP, window scale 7."""
    return _SYN_HEAD + _TS.pack(tsval, 0) + _SYN_TAIL


_SYN_HEAD = bytes.fromhex("020405b4" "0402" "080a")
_SYN_TAIL = bytes.fromhex("01030307")


@dataclass
class Replies:
    """What a victim sent straight back to injected packets, bucketed per second of virtual time.

    Attributes:
        pure_acks: replies with no data, SYN, FIN or RST (challenge ACKs,
            duplicate ACKs, answers to invalid segments).
        data: replies carrying data (retransmissions or new data the
            injected packets released).
        other: replies with SYN, FIN or RST.
        challenge: challenge ACKs the victim's counters say it sent (see
            :func:`challenge_acks`).
        challenge_suppressed: challenge ACKs the rate limit held back.
        per_second: pure-ACK replies per whole second (``int(now)``).
        challenge_per_second: challenge ACKs per whole second.
    """

    pure_acks: int = 0
    data: int = 0
    other: int = 0
    challenge: int = 0
    challenge_suppressed: int = 0
    per_second: Counter[int] = field(default_factory=Counter)
    challenge_per_second: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Every reply."""
        return self.pure_acks + self.data + self.other

    @property
    def max_per_second(self) -> int:
        """Most pure-ACK replies in one second."""
        return max(self.per_second.values(), default=0)

    @property
    def max_challenge_per_second(self) -> int:
        """Most challenge ACKs in one second."""
        return max(self.challenge_per_second.values(), default=0)

    def note(self, packets: list[bytes], now: float) -> None:
        """Classify the replies ``packets`` sent at ``now``."""
        second = int(now)
        for packet in packets:
            has_data, flags = _payload_and_flags(packet)
            if has_data:
                self.data += 1
            elif flags & (Flags.SYN | Flags.FIN | Flags.RST):
                self.other += 1
            else:
                self.pure_acks += 1
                self.per_second[second] += 1


def _payload_and_flags(packet: bytes) -> tuple[bool, int]:
    """Whether a stack's own packet carries data, and its TCP flags: read from the
    IPv4 header lengths (RFC 791 §3.1, RFC 9293 §3.1) without decoding; other
    packets are decoded."""
    if packet[0] == 0x45 and len(packet) >= 40:
        tcp_length = len(packet) - 20
        offset = (packet[32] >> 4) * 4
        return tcp_length > offset, packet[33]
    try:
        _, _, seg = decode_tcp_packet(packet, verify_checksum=False)
    except MalformedPacket:  # pragma: no cover - a stack's own packets parse
        return False, int(Flags.RST)
    return bool(seg.payload), int(seg.flags)


class Injector:
    """Feeds ``count`` spoofed packets into a host's stack, evenly from ``start`` to ``stop``.

    Packets go in batches, one batch every ``tick`` seconds of virtual time
    (all packets of a batch arrive at the same instant). Before a batch the
    victim has nothing left to send (the simulator services every host after
    each event), so whatever it has to send right after the batch was drawn
    by it: those replies are counted (:class:`Replies`) and put on the network
    from the victim (:meth:`Network.inject`), as if sent normally.

    Args:
        net: the network.
        victim: the host attacked.
        build: ``build(n)`` returns the next ``n`` packets (it may read the
            victim's TCB to aim them: called at the batch's time).
        count: packets in all.
        start, stop: the first and last batch times (seconds).
        tick: seconds between batches.
        progress: called after each batch with (packets fed, count).
        until: a predicate; once it holds no more batches are fed (the
            transfer under attack ended).
    """

    def __init__(
        self,
        net: Network,
        victim: Host,
        build: Callable[[int], list[bytes]],
        *,
        count: int,
        start: float,
        stop: float,
        tick: float = 0.001,
        progress: Progress = no_progress,
        until: Callable[[], bool] | None = None,
    ) -> None:
        self.net = net
        self.victim = victim
        self.build = build
        self.count = count
        self.fed = 0
        self.replies = Replies()
        self._progress = progress
        self._until = until
        self._start = start
        self._ticks = max(1, math.ceil(max(stop - start, 0.0) / tick))
        self._tick = tick
        self._i = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        if count > 0:
            net.at(start, self._batch)

    def _batch(self) -> None:
        if self._until is not None and self._until():
            return
        i, ticks = self._i, self._ticks
        n = self.count * (i + 1) // ticks - self.count * i // ticks
        self._i += 1
        if n:
            net, stack = self.net, self.victim.stack
            now = net.now
            packets = self.build(n)
            before = challenge_acks(stack.stats)
            receive, pending = stack.receive, stack.packets_to_send
            r, inject, victim = self.replies, net.inject, self.victim
            hosts = {h.address.packed for h in net.hosts.values()}
            for packet in packets:
                # One at a time, as packets arrive: a victim answers each one
                # (its ACKs would coalesce if a batch went in at once).
                receive(packet, now)
                out = pending(now)
                if out:
                    r.note(out, now)
                    for reply in out:
                        # A reply to a spoofed address no host has would be
                        # lost ("no-route"): not put on the network at all.
                        if _destination(reply) in hosts:
                            inject(now, victim, reply)
            after = challenge_acks(stack.stats)
            sent = after[0] - before[0]
            r.challenge += sent
            r.challenge_suppressed += after[1] - before[1]
            if sent:
                r.challenge_per_second[int(now)] += sent
            self.fed += len(packets)
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            self._progress(self.fed, self.count)
        if self._i < ticks and self.fed < self.count:
            self.net.at(self._start + self._i * self._tick, self._batch)


def _destination(packet: bytes) -> bytes:
    """The destination address bytes of an IPv4 (RFC 791) or IPv6 (RFC 8200) packet."""
    return packet[16:20] if packet[0] >> 4 == 4 else packet[24:40]


def random_seq(rng: random.Random, around: int | None, spread: int) -> int:
    """A sequence number a blind attacker might try: uniform over all 2**32 values
    when ``around`` is None or ``spread`` covers the space, else uniform in
    ``around +- spread / 2`` (modulo 2**32)."""
    if around is None or spread >= 1 << 32:
        return rng.getrandbits(32)
    return (around + rng.randrange(spread) - spread // 2) & 0xFFFFFFFF


# --------------------------------------------------------------------------
# A bulk transfer to attack
# --------------------------------------------------------------------------

CLIENT_ADDRESS = "192.0.2.1"
SERVER_ADDRESS = "198.51.100.1"
SERVER_PORT = 5001
"""Where every experiment's client, server and service are (the documentation ranges)."""


END_EVENTS = (ConnectionClosed, ConnectionReset, ConnectionTimedOut, ConnectionAborted)
"""The events that end a connection."""


class Source:
    """Sends ``data`` with back-pressure, then closes; notes how the connection ended."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.sent = 0
        self.closed = False
        self.ends: list[Event] = []
        self.conn: Connection | None = None

    def on_event(self, conn: Connection, event: Event) -> None:
        """Send what the buffer takes; close once all is queued."""
        self.conn = conn
        if isinstance(event, END_EVENTS):
            self.ends.append(event)
            return
        if self.closed or not conn.state.synchronized:
            return
        while self.sent < len(self.data):
            n = conn.send(bytes(self.data[self.sent : self.sent + (1 << 18)]))
            if n == 0:
                return
            self.sent += n
        self.closed = True
        conn.close()


class Sink:
    """Reads and hashes everything; notes when the last byte arrived and how it ended.

    Args:
        expected: bytes the transfer carries (``done_at`` is set when they are all read).
        clock: the network's clock, for ``done_at`` and ``connected_at``.
        read: False makes it never read (a peer whose window closes).
    """

    def __init__(self, expected: int, clock: Callable[[], float], *, read: bool = True) -> None:
        self.expected = expected
        self.digest = hashlib.sha256()
        self.received = 0
        self.done_at: float | None = None
        self.connected_at: float | None = None
        self.ends: list[Event] = []
        self.read = read
        self.conn: Connection | None = None
        self._clock = clock

    def on_event(self, conn: Connection, event: Event) -> None:
        """Read what arrived; close when the peer did."""
        self.conn = conn
        if self.connected_at is None:
            self.connected_at = self._clock()
        if isinstance(event, END_EVENTS):
            self.ends.append(event)
            return
        if not self.read:
            return
        while chunk := conn.read(1 << 20):
            self.digest.update(chunk)
            self.received += len(chunk)
        if self.done_at is None and self.received >= self.expected:
            self.done_at = self._clock()
        if conn.at_eof and conn.state.synchronized:
            conn.close()


@dataclass
class Transfer:
    """A client sending ``size`` bytes to a server over a simulated link, ready to run.

    Attributes:
        net, client, server: the network and its two hosts.
        source, sink: the applications (client sends, server receives).
        data: the bytes sent.
    """

    net: Network
    client: Host
    server: Host
    source: Source
    sink: Sink
    data: bytes

    @property
    def exact(self) -> bool:
        """Every byte arrived, in order (SHA-256 of what the server read)."""
        return (self.sink.received == len(self.data)
                and self.sink.digest.digest() == hashlib.sha256(self.data).digest())

    @property
    def resets(self) -> int:
        """Resets either end saw (``ConnectionReset`` events)."""
        return sum(isinstance(e, ConnectionReset) for e in self.source.ends + self.sink.ends)

    @property
    def done(self) -> bool:
        """The server has read every byte."""
        return self.sink.done_at is not None


def bulk_transfer(seed: int, size: int, *, config: TcpConfig | None = None,
                  delay: float = 0.010) -> Transfer:
    """A client at 192.0.2.1 that connects at t=0 to 198.51.100.1:5001 and sends
    ``size`` reproducible bytes (then closes); the server reads them all.

    The link has ``delay`` seconds one way and no other impairment; the
    hosts use ``config`` (default :class:`TcpConfig`). Run it with
    ``net.run(...)``.
    """
    data = random.Random(f"attack/{seed}/data").randbytes(size)
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    source = Source(data)
    sink = Sink(size, lambda: net.now)
    client = net.add_host("client", CLIENT_ADDRESS, config=config, app=source)
    server = net.add_host("server", SERVER_ADDRESS, config=config, app=sink)
    net.link(client, server, delay=delay)
    server.stack.listen(SERVER_PORT)
    net.at(0.0, lambda: client.stack.connect(SERVER_ADDRESS, SERVER_PORT, now=net.now))
    return Transfer(net, client, server, source, sink, data)


# --------------------------------------------------------------------------
# Memory an object graph holds
# --------------------------------------------------------------------------

_NOT_COUNTED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                types.MethodType, types.CodeType)


def deep_size(root: object, *, exclude: Iterable[object] = ()) -> int:
    """Bytes held by ``root`` and every object reachable from it, each counted once
    (``sys.getsizeof``, following ``gc.get_referents``).

    The walk does not enter ``exclude`` (objects shared with the rest of the
    program: the network, the trace, other stacks), nor classes, modules,
    functions and bound methods (a callback would lead into its owner).
    Small ints and interned strings shared with the whole interpreter are
    counted as if owned: the figure is an upper bound of what freeing
    ``root`` would return.
    """
    seen = {id(o) for o in exclude}
    pending = [root]
    total = 0
    getsizeof, referents = sys.getsizeof, gc.get_referents
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, _NOT_COUNTED):
            continue
        total += getsizeof(obj)
        pending.extend(referents(obj))
    return total


def stack_memory(host: Host, net: Network) -> int:
    """Bytes a host's stack holds (:func:`deep_size` of it), without the network,
    the trace, the clock and wake-up callbacks, and the other hosts."""
    stack = host.stack
    exclude: list[object] = [net, net.trace, stack.trace, stack.wakeup, stack.clock_source]
    for h in net.hosts.values():
        exclude.append(h)
        if h is not host:
            exclude.append(h.stack)
        if h.app is not None:
            exclude.append(h.app)
    return deep_size(stack, exclude=exclude)
