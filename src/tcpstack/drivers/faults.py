"""Seeded fault injection between the stack and a real network (the TUN driver).

One :class:`FaultInjector` sits on one direction of the TUN device (packets
*to* the kernel, or packets *from* the kernel) and can drop, duplicate,
reorder, delay and corrupt them. What it does is set by a
:class:`FaultConfig`; every random choice comes from the injector's own
``random.Random``, so a run is reproducible from the seed and the sequence
of packets offered (:func:`direction_rng` derives one generator per
direction from one seed).

What happens to each packet offered with :meth:`FaultInjector.push`, in
this order (five random numbers are drawn for every packet while the
configuration is active, whatever it decides, so one knob does not shift
the decisions of the others):

1. ``loss``: the packet is dropped;
2. ``corrupt``: 1 to ``corrupt_bits`` distinct bits of the TCP part (header
   or payload, never the IP header and never the data-offset field) are
   flipped; the injector checks that the TCP checksum now fails (when the
   flips happen to cancel out it flips a single bit instead, which the
   checksum always catches), so the receiver drops the packet for its
   checksum;
3. ``duplicate``: a copy of the (possibly corrupted) packet follows it;
4. ``delay`` + ``jitter``: the packet is held for ``delay`` plus a uniform
   draw from ``[0, jitter]`` seconds. Delay and jitter never reorder: a
   packet is not released before the packets offered before it (it waits
   for them);
5. ``reorder``: the packet is held ``reorder_delay`` seconds longer, and
   packets offered after it may overtake it (the only way this injector
   reorders).

Held packets are released by :meth:`FaultInjector.pop_due`, which the
driver calls from its loop; :meth:`FaultInjector.next_due` tells the loop
when to wake up for them. Sizes are bytes, times seconds, probabilities in
``[0, 1]``.

Example::

    inj = FaultInjector(FaultConfig(loss=0.05, reorder=0.02), direction_rng(7, "to-kernel"))
    for pkt in inj.push(packet, now):     # deliver what is due now
        write(pkt)
    ...
    for pkt in inj.pop_due(now):          # later, from the loop
        write(pkt)
"""

from __future__ import annotations

import heapq
import random
from dataclasses import asdict, dataclass, fields, replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from ..wire import PROTO_TCP, internet_checksum, pseudo_header_sum

__all__ = [
    "DIRECTIONS",
    "FAULT_KEYS",
    "NO_FAULTS",
    "FaultConfig",
    "FaultInjector",
    "FaultStats",
    "direction_rng",
]

DIRECTIONS = ("to-kernel", "from-kernel")
"""Names of the two directions of the TUN device (as used by the CLI and the stats)."""

_PROBABILITIES = ("loss", "duplicate", "reorder", "corrupt")
_DURATIONS = ("delay", "jitter", "reorder_delay")
_DATA_OFFSET_BITS = range(96, 100)  # high nibble of TCP header byte 12 (MSB-first numbering)
_MAX_CORRUPT_BITS = 64


@dataclass(frozen=True)
class FaultConfig:
    """What a :class:`FaultInjector` does to one direction. Immutable.

    Attributes:
        loss: probability that a packet is dropped.
        duplicate: probability that a packet is delivered twice.
        reorder: probability that a packet is held ``reorder_delay`` seconds
            longer than the others, so later packets overtake it.
        reorder_delay: extra hold of a reordered packet (seconds).
        delay: fixed delay added to every packet (seconds).
        jitter: extra delay drawn uniformly from ``[0, jitter]`` per packet
            (seconds); it never reorders packets.
        corrupt: probability that bits of a packet's TCP part are flipped.
        corrupt_bits: a corrupted packet has 1 to this many bits flipped
            (uniformly).

    Raises:
        ValueError: a probability outside ``[0, 1]``, a negative or
            non-finite time, or ``corrupt_bits`` outside 1..64.
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.010
    delay: float = 0.0
    jitter: float = 0.0
    corrupt: float = 0.0
    corrupt_bits: int = 3

    def __post_init__(self) -> None:
        for name in _PROBABILITIES:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{_key(name)} must be between 0 and 1, got {v}")
        for name in _DURATIONS:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v < float("inf"):
                raise ValueError(f"{_key(name)} must be a finite number of seconds >= 0, got {v}")
        if not isinstance(self.corrupt_bits, int) or not (
            1 <= self.corrupt_bits <= _MAX_CORRUPT_BITS
        ):
            raise ValueError(
                f"corrupt-bits must be an integer from 1 to {_MAX_CORRUPT_BITS}, "
                f"got {self.corrupt_bits}"
            )

    @property
    def active(self) -> bool:
        """True if this configuration can change, hold or drop any packet."""
        return bool(
            self.loss or self.duplicate or self.reorder or self.delay or self.jitter or self.corrupt
        )

    @property
    def max_hold(self) -> float:
        """The longest a packet can be held (seconds)."""
        return self.delay + self.jitter + (self.reorder_delay if self.reorder else 0.0)

    def describe(self) -> str:
        """The settings that differ from the defaults, as a SPEC (``"none"`` if inactive)."""
        if not self.active:
            return "none"
        default = FaultConfig()
        parts = [
            f"{_key(f.name)}={getattr(self, f.name):g}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(parts)

    def with_spec(self, spec: str) -> FaultConfig:
        """This configuration with the settings of ``spec`` changed.

        ``spec`` is a comma-separated list of ``KEY=VALUE``: keys ``loss``,
        ``duplicate``, ``reorder``, ``corrupt`` (probabilities), ``delay``,
        ``jitter``, ``reorder-delay`` (seconds), ``corrupt-bits`` (an
        integer); ``_`` may stand for ``-``. The word ``none`` (alone or as
        an item) resets every setting to its default first.
        Example: ``"loss=0.05,reorder=0.02,reorder-delay=0.005"``.

        Raises:
            ValueError: an unknown key, a malformed item or a bad value
                (one-line message).
        """
        changes: dict[str, Any] = {}
        base = self
        items = [item.strip() for item in spec.split(",")]
        if not any(items):
            raise ValueError("empty fault spec (expected KEY=VALUE[,KEY=VALUE...] or 'none')")
        for item in items:
            if item.lower() == "none":
                base, changes = FaultConfig(), {}
                continue
            key, sep, text = item.partition("=")
            name = key.strip().lower().replace("-", "_")
            if not sep or not name:
                raise ValueError(f"expected KEY=VALUE in fault spec, got {item!r}")
            if name not in _FIELD_NAMES:
                raise ValueError(f"unknown fault {key.strip()!r} (choose from {', '.join(_KEYS)})")
            changes[name] = _parse_value(name, text.strip())
        return replace(base, **changes)

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """A configuration from a SPEC (see :meth:`with_spec`)."""
        return cls().with_spec(spec)


_FIELD_NAMES = tuple(f.name for f in fields(FaultConfig))
_KEYS = tuple(n.replace("_", "-") for n in _FIELD_NAMES)
FAULT_KEYS = _KEYS
"""The keys of a fault SPEC (see :meth:`FaultConfig.with_spec`)."""

NO_FAULTS = FaultConfig()
"""The configuration that does nothing."""


def _key(name: str) -> str:
    return name.replace("_", "-")


def _parse_value(name: str, text: str) -> float | int:
    if name == "corrupt_bits":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"corrupt-bits: not an integer: {text!r}") from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_key(name)}: not a number: {text!r}") from None
    return value


def direction_rng(seed: int, direction: str) -> random.Random:
    """The generator of one direction (``"to-kernel"`` or ``"from-kernel"``) for ``seed``.

    The two directions get independent streams, and the same seed always
    gives the same streams (string seeds are hashed with SHA-512 by
    :class:`random.Random`, independently of ``PYTHONHASHSEED``).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return random.Random(f"tcpstack-faults:{seed}:{direction}")


@dataclass
class FaultStats:
    """Counters of one :class:`FaultInjector` (packets).

    Attributes:
        offered: packets given to :meth:`FaultInjector.push`.
        delivered: packets handed on (each copy of a duplicate counts;
            corrupted packets count too).
        dropped: packets dropped (``loss``).
        corrupted: packets with bits flipped.
        duplicated: extra copies made.
        reordered: packets held back by ``reorder``.
        delayed: packets held by ``delay`` / ``jitter`` (not sent at once).
        discarded: held packets thrown away by :meth:`FaultInjector.clear`.
    """

    offered: int = 0
    delivered: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0
    discarded: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    def describe(self) -> str:
        """One line: ``offered 100, delivered 97, dropped 5, ...``."""
        return ", ".join(f"{k} {v}" for k, v in self.as_dict().items())


class FaultInjector:
    """Drop, duplicate, reorder, delay and corrupt the packets of one direction.

    Args:
        config: what to do (see :class:`FaultConfig` and the module docstring).
        rng: the direction's random generator (see :func:`direction_rng`).
        name: label used in messages, e.g. ``"to-kernel"``.

    Packets are raw IPv4 or IPv6 packets (``bytes``); only a corrupted
    packet is parsed (its IP header, to find the TCP part and the
    pseudo-header). ``now`` is the caller's monotonic clock in seconds.
    """

    def __init__(self, config: FaultConfig, rng: random.Random, *, name: str = "") -> None:
        self.config = config
        self.rng = rng
        self.name = name
        self.stats = FaultStats()
        # Held packets: (due, order, packet), a heap.
        self._held: list[tuple[float, int, bytes]] = []
        self._order = 0
        # Due time of the last packet that may not be overtaken (delay/jitter keep order).
        self._last_due = float("-inf")

    @property
    def pending(self) -> int:
        """Packets held, waiting for their due time."""
        return len(self._held)

    def next_due(self) -> float | None:
        """When the earliest held packet is due (seconds), or None if none is held."""
        return self._held[0][0] if self._held else None

    def push(self, packet: bytes, now: float) -> list[bytes]:
        """Offer ``packet`` at time ``now``; return the packets to deliver now, in order.

        The result may be empty (dropped or held), hold two copies
        (duplicated), and starts with any held packets that are due by now.
        """
        cfg = self.config
        stats = self.stats
        stats.offered += 1
        copies = 1
        if not cfg.active:
            due = now
            reordered = False
        else:
            rng = self.rng.random
            r_loss, r_corrupt, r_dup, r_reorder, r_jitter = rng(), rng(), rng(), rng(), rng()
            if r_loss < cfg.loss:
                stats.dropped += 1
                return self.pop_due(now) if self._held else []
            if r_corrupt < cfg.corrupt:
                packet = self.corrupt(packet)
            if r_dup < cfg.duplicate:
                stats.duplicated += 1
                copies = 2
            due = now + cfg.delay + r_jitter * cfg.jitter
            reordered = r_reorder < cfg.reorder
        if reordered:
            stats.reordered += 1
            due += cfg.reorder_delay
        else:
            due = max(due, self._last_due)  # never overtake an earlier packet
            self._last_due = due
            if due > now:
                stats.delayed += 1
        if due <= now and not self._held:
            stats.delivered += copies
            return [packet] * copies
        for _ in range(copies):
            heapq.heappush(self._held, (due, self._order, packet))
            self._order += 1
        return self.pop_due(now)

    def pop_due(self, now: float) -> list[bytes]:
        """Release the held packets due by ``now``, earliest first."""
        held = self._held
        out: list[bytes] = []
        while held and held[0][0] <= now:
            out.append(heapq.heappop(held)[2])
        self.stats.delivered += len(out)
        return out

    def clear(self) -> int:
        """Throw away every held packet; return how many (counted as ``discarded``)."""
        n = len(self._held)
        self._held.clear()
        self.stats.discarded += n
        return n

    def corrupt(self, packet: bytes) -> bytes:
        """Flip 1..``corrupt_bits`` random bits of the TCP part so its checksum fails.

        The IP header and the TCP data-offset field are never touched. A
        packet too short to hold a TCP header is returned unchanged (and
        not counted).
        """
        start = _tcp_start(packet)
        if start is None:
            return packet
        nbits = (len(packet) - start) * 8 - len(_DATA_OFFSET_BITS)
        rng = self.rng
        k = rng.randint(1, min(self.config.corrupt_bits, nbits))
        out = _flip(packet, start, rng.sample(range(nbits), k))
        if k > 1 and _checksum_ok(out, start):  # the flips cancelled out: one bit never does
            out = _flip(packet, start, [rng.randrange(nbits)])
        self.stats.corrupted += 1
        return out


def _tcp_start(packet: bytes) -> int | None:
    """Offset of the TCP header in ``packet``, or None if there is no room for one."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        start = (packet[0] & 0x0F) * 4
    elif version == 6:
        start = 40
    else:
        return None
    if start < 20 or len(packet) < start + 20:
        return None
    return start


def _flip(packet: bytes, start: int, bits: list[int]) -> bytes:
    buf = bytearray(packet)
    for bit in bits:
        if bit >= _DATA_OFFSET_BITS.start:  # skip over the data-offset nibble
            bit += len(_DATA_OFFSET_BITS)
        buf[start + (bit >> 3)] ^= 0x80 >> (bit & 7)
    return bytes(buf)


def _checksum_ok(packet: bytes, start: int) -> bool:
    """True if the TCP checksum of ``packet`` verifies against its pseudo-header."""
    tcp = memoryview(packet)[start:]
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    if packet[0] >> 4 == 4:
        src, dst = IPv4Address(packet[12:16]), IPv4Address(packet[16:20])
    else:
        src, dst = IPv6Address(packet[8:24]), IPv6Address(packet[24:40])
    return internet_checksum(tcp, pseudo_header_sum(src, dst, PROTO_TCP, len(tcp))) == 0
