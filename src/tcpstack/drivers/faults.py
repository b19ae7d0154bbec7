"""The fault model: what happens to each packet of an impaired stream, for every driver.

One model serves the simulator's links (:mod:`tcpstack.drivers.sim`, one
stream per link direction) and the TUN driver (:mod:`tcpstack.drivers.tun`,
one :class:`FaultInjector` per direction of the device). A frozen
:class:`FaultConfig` says what may happen; a :class:`FaultModel` holds one
stream's random generator and state (the Gilbert-Elliott chain, the FIFO
floor) and decides the fate of each packet: lost, or delivered (maybe
corrupted, maybe twice) at a due time. The same configuration, seed and
sequence of packets give the same decisions in both drivers. What the
drivers add is theirs: the simulator applies the model when a packet
leaves the link's bottleneck and delivers it at its due time (the model's
``delay`` is the link's propagation delay); a :class:`FaultInjector` holds
packets until they are due. Sizes are bytes, times seconds, probabilities
in ``[0, 1]``.

The draws. When the configuration is *random* (any of ``burst_loss``,
``loss``, ``corrupt``, ``duplicate``, ``jitter``, ``reorder`` is set; see
:attr:`FaultConfig.randomized`) the model draws exactly :data:`DRAWS`
numbers in ``[0, 1)`` per packet, before deciding anything and whatever it
then decides, in the order of the pipeline below: ``u_move`` and
``u_burst`` (step 1), ``u_loss`` (2), ``u_corrupt`` (3), ``u_duplicate``
(4), ``u_jitter`` (5), ``u_reorder`` (6), and last ``u_pattern``, which
seeds the generator that picks a corruption's bits. So turning one knob
never shifts the decisions of another, nor those of later packets. A
configuration that is not random (at most ``delay``) draws nothing. Each
stream has a generator of its own (:func:`stream_rng`), so one stream's
traffic or settings never shift another's decisions either.

The pipeline, in this order, for a packet offered at ``now``:

1. ``burst_loss`` (:class:`GilbertElliott`): the chain moves (``u_move``),
   then the packet is lost with the new state's loss probability
   (``u_burst``), reason ``"burst-loss"``;
2. ``loss``: lost if ``u_loss < loss``, reason ``"lost-in-network"``;
3. ``corrupt``: if ``u_corrupt < corrupt``, 1 to ``corrupt_bits`` distinct
   bits of the TCP part (header or payload, never the IP header and never
   the data-offset field) are flipped, the count and positions drawn from
   a generator seeded by ``u_pattern``. One flipped bit always fails the
   TCP checksum; several may cancel out in it (the Internet checksum is
   weak), and the packet then passes as good (*undetected*), unless
   ``corrupt_escapes`` is False: then a single bit is flipped instead. A
   packet too short for a TCP header is left alone;
4. ``duplicate``: if ``u_duplicate < duplicate``, an identical copy of the
   (possibly corrupted) packet follows it, due at the same time;
5. ``delay`` + ``jitter``: the packet is due at
   ``now + delay + u_jitter * jitter``;
6. ``reorder``: if ``u_reorder < reorder``, it is due ``reorder_delay``
   later still, and packets offered after it may overtake it (explicit
   reordering). Any other packet, when ``jitter_reorders`` is False (the
   default), is not due before a packet offered before it that was not
   reordered (FIFO: jitter and a lowered delay never reorder).

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
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property, partial
from ipaddress import IPv4Address, IPv6Address
from typing import Any, NamedTuple

from ..wire import PROTO_TCP, internet_checksum, pseudo_header_sum

__all__ = [
    "BURST_LOSS",
    "DIRECTIONS",
    "DRAWS",
    "FAULT_KEYS",
    "LOSS",
    "NO_FAULTS",
    "Decision",
    "FaultConfig",
    "FaultInjector",
    "FaultModel",
    "FaultStats",
    "GilbertElliott",
    "corrupt_packet",
    "direction_rng",
    "stream_rng",
]

DIRECTIONS = ("to-kernel", "from-kernel")
"""Names of the two directions of the TUN device (as used by the CLI and the stats)."""

LOSS = "lost-in-network"
"""Reason of a packet lost by ``loss``."""

BURST_LOSS = "burst-loss"
"""Reason of a packet lost by ``burst_loss``."""

DRAWS = 8
"""Numbers the model draws per packet while its configuration is random."""

_PROBABILITIES = ("loss", "duplicate", "reorder", "corrupt")
_DURATIONS = ("delay", "jitter", "reorder_delay")
_FLAGS = ("jitter_reorders", "corrupt_escapes")
_DATA_OFFSET_BITS = range(96, 100)  # high nibble of TCP header byte 12 (MSB-first numbering)
_MAX_CORRUPT_BITS = 64
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


def _key(name: str) -> str:
    return name.replace("_", "-")


def _check_probability(name: str, value: object) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{_key(name)} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class GilbertElliott:
    """Gilbert-Elliott burst loss: a two-state Markov chain advanced once per packet.

    For each packet, the chain first moves (good -> bad with probability
    ``p_good_to_bad``, bad -> good with ``p_bad_to_good``), then the packet
    is lost with the loss probability of the new state. With the defaults
    (no loss in the good state, every packet lost in the bad one) losses
    come in bursts of mean length ``1 / p_bad_to_good`` packets, separated
    by runs of mean length ``1 / p_good_to_bad``; the long-run loss rate is
    ``p_good_to_bad / (p_good_to_bad + p_bad_to_good)``.

    Attributes:
        p_good_to_bad: per-packet probability of entering the bad state.
        p_bad_to_good: per-packet probability of leaving it.
        loss_good: loss probability in the good state.
        loss_bad: loss probability in the bad state.

    Raises:
        ValueError: a probability outside ``[0, 1]``.
    """

    p_good_to_bad: float
    p_bad_to_good: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_probability(f"burst-loss {f.name}", getattr(self, f.name))

    @property
    def loss_rate(self) -> float:
        """The long-run fraction of packets lost (the chain's stationary loss)."""
        total = self.p_good_to_bad + self.p_bad_to_good
        if total == 0:
            return self.loss_good
        bad = self.p_good_to_bad / total
        return bad * self.loss_bad + (1 - bad) * self.loss_good

    def move(self, bad: bool, u: float) -> bool:
        """The state after one step from ``bad`` (True: bad), given a draw ``u`` in [0, 1)."""
        return u >= self.p_bad_to_good if bad else u < self.p_good_to_bad

    def loss(self, bad: bool) -> float:
        """The loss probability in the state ``bad`` (True: the bad state)."""
        return self.loss_bad if bad else self.loss_good

    def spec(self) -> str:
        """This chain as a SPEC value: ``P_GOOD_TO_BAD:P_BAD_TO_GOOD[:LOSS_GOOD:LOSS_BAD]``."""
        probs = [self.p_good_to_bad, self.p_bad_to_good]
        if (self.loss_good, self.loss_bad) != (0.0, 1.0):
            probs += [self.loss_good, self.loss_bad]
        return ":".join(f"{p:g}" for p in probs)

    @classmethod
    def parse(cls, text: str) -> GilbertElliott:
        """A chain from ``P_GOOD_TO_BAD:P_BAD_TO_GOOD[:LOSS_GOOD:LOSS_BAD]``, e.g. ``0.02:0.25``.

        Raises:
            ValueError: not two or four numbers, or a probability outside [0, 1].
        """
        parts = text.split(":")
        if len(parts) not in (2, 4):
            raise ValueError(
                f"burst-loss: expected P_GOOD_TO_BAD:P_BAD_TO_GOOD[:LOSS_GOOD:LOSS_BAD], "
                f"got {text!r}"
            )
        return cls(*(_number("burst-loss", part.strip()) for part in parts))


@dataclass(frozen=True)
class FaultConfig:
    """The impairments of one stream of packets (the module docstring tells the pipeline).

    Immutable. The simulator's :class:`~tcpstack.drivers.sim.LinkConfig`
    has the same fields, with the same meaning and defaults (but a 10 ms
    ``delay``: its propagation delay).

    Attributes:
        loss: probability that a packet is dropped.
        duplicate: probability that a packet is delivered twice.
        reorder: probability that a packet is held ``reorder_delay`` seconds
            longer than the others, so later packets overtake it.
        reorder_delay: extra hold of a reordered packet (seconds).
        delay: fixed delay added to every packet (seconds).
        jitter: extra delay drawn uniformly from ``[0, jitter]`` per packet
            (seconds).
        corrupt: probability that bits of a packet's TCP part are flipped.
        corrupt_bits: a corrupted packet has 1 to this many distinct bits
            flipped (uniformly).
        jitter_reorders: False (the default): a packet is never due before
            one offered before it (FIFO), except for ``reorder``; True:
            jittered packets may overtake each other.
        corrupt_escapes: True (the default): several flipped bits may, by
            chance, cancel out in the TCP checksum; False: a corrupted
            packet always fails it.
        burst_loss: Gilbert-Elliott burst loss, or None.

    Raises:
        ValueError: a probability outside ``[0, 1]``, a negative or
            non-finite time, ``corrupt_bits`` outside 1..64, a flag that is
            not a bool, or a ``burst_loss`` that is not a
            :class:`GilbertElliott`.
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.010
    delay: float = 0.0
    jitter: float = 0.0
    corrupt: float = 0.0
    corrupt_bits: int = 1
    jitter_reorders: bool = False
    corrupt_escapes: bool = True
    burst_loss: GilbertElliott | None = None

    def __post_init__(self) -> None:
        for name in _PROBABILITIES:
            _check_probability(name, getattr(self, name))
        for name in _DURATIONS:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v < float("inf"):
                raise ValueError(f"{_key(name)} must be a finite number of seconds >= 0, got {v}")
        if (
            not isinstance(self.corrupt_bits, int)
            or isinstance(self.corrupt_bits, bool)
            or not 1 <= self.corrupt_bits <= _MAX_CORRUPT_BITS
        ):
            raise ValueError(
                f"corrupt-bits must be an integer from 1 to {_MAX_CORRUPT_BITS}, "
                f"got {self.corrupt_bits}"
            )
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{_key(name)} must be True or False, got {getattr(self, name)}")
        if self.burst_loss is not None and not isinstance(self.burst_loss, GilbertElliott):
            raise ValueError(f"burst-loss must be a GilbertElliott or None, got {self.burst_loss}")

    @property
    def active(self) -> bool:
        """True if this configuration can change, hold or drop any packet."""
        return self.randomized or bool(self.delay)

    @cached_property  # asked for every packet: computed once per (immutable) configuration
    def randomized(self) -> bool:
        """True if some knob is random: the model then draws :data:`DRAWS` numbers per packet."""
        return bool(
            self.loss
            or self.duplicate
            or self.reorder
            or self.jitter
            or self.corrupt
            or self.burst_loss is not None
        )

    @property
    def max_hold(self) -> float:
        """The longest a packet can be held (seconds)."""
        return self.delay + self.jitter + (self.reorder_delay if self.reorder else 0.0)

    def describe(self) -> str:
        """The settings that differ from the defaults, as a SPEC (``"none"`` if inactive)."""
        if not self.active:
            return "none"
        return ",".join(
            f"{_key(f.name)}={_format(getattr(self, f.name))}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(NO_FAULTS, f.name)
        )

    def with_spec(self, spec: str) -> FaultConfig:
        """This configuration with the settings of ``spec`` changed.

        ``spec`` is a comma-separated list of ``KEY=VALUE``: keys ``loss``,
        ``duplicate``, ``reorder``, ``corrupt`` (probabilities), ``delay``,
        ``jitter``, ``reorder-delay`` (seconds), ``corrupt-bits`` (an
        integer), ``jitter-reorders``, ``corrupt-escapes`` (``1``/``0``,
        ``yes``/``no``, ``true``/``false``, ``on``/``off``) and
        ``burst-loss`` (``P_GOOD_TO_BAD:P_BAD_TO_GOOD[:LOSS_GOOD:LOSS_BAD]``
        or ``none``, see :class:`GilbertElliott`); ``_`` may stand for ``-``.
        The word ``none`` (alone or as an item) resets every setting to its
        default first. Example: ``"loss=0.05,reorder=0.02,burst-loss=0.01:0.3"``.

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
                base, changes = NO_FAULTS, {}
                continue
            key, sep, text = item.partition("=")
            name = key.strip().lower().replace("-", "_")
            if not sep or not name:
                raise ValueError(f"expected KEY=VALUE in fault spec, got {item!r}")
            if name not in _PARSERS:
                raise ValueError(f"unknown fault {key.strip()!r} (choose from {', '.join(_KEYS)})")
            changes[name] = _PARSERS[name](text.strip())
        return replace(base, **changes)

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """A configuration from a SPEC (see :meth:`with_spec`).

        Raises:
            ValueError: as :meth:`with_spec`.
        """
        return cls().with_spec(spec)


NO_FAULTS = FaultConfig()
"""The configuration that does nothing."""

_KEYS = tuple(_key(f.name) for f in fields(FaultConfig))
FAULT_KEYS = _KEYS
"""The keys of a fault SPEC (see :meth:`FaultConfig.with_spec`)."""


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, GilbertElliott):
        return value.spec()
    if value is None:
        return "none"
    return f"{value:g}"


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{_key(name)}: not a number: {text!r}") from None


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{_key(name)}: not an integer: {text!r}") from None


def _flag(name: str, text: str) -> bool:
    word = text.lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(f"{_key(name)}: expected 1/0, yes/no, true/false or on/off, got {text!r}")


def _burst(text: str) -> GilbertElliott | None:
    return None if text.lower() in ("none", "off") else GilbertElliott.parse(text)


_PARSERS: dict[str, Callable[[str], object]] = {
    **{name: partial(_number, name) for name in _PROBABILITIES + _DURATIONS},
    "corrupt_bits": partial(_integer, "corrupt_bits"),
    **{name: partial(_flag, name) for name in _FLAGS},
    "burst_loss": _burst,
}


def stream_rng(seed: int, stream: str) -> random.Random:
    """The generator of the stream named ``stream`` (e.g. ``"client->server"``) for ``seed``.

    Streams of different names are independent, and the same seed always
    gives the same streams (string seeds are hashed with SHA-512 by
    :class:`random.Random`, independently of ``PYTHONHASHSEED``).
    """
    return random.Random(f"tcpstack-faults:{seed}:{stream}")


def direction_rng(seed: int, direction: str) -> random.Random:
    """The generator of one TUN direction (``"to-kernel"`` or ``"from-kernel"``) for ``seed``.

    The :func:`stream_rng` of that name.

    Raises:
        ValueError: an unknown direction.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return stream_rng(seed, direction)


class Decision(NamedTuple):
    """What the fault model decided for one packet (immutable).

    A named tuple rather than a frozen dataclass: one is made for every
    packet, and this costs a fifth as much to build.

    Attributes:
        packet: the packet to deliver (corrupted if ``corrupted``).
        due: when to deliver it (seconds, on the caller's clock).
        lost: None, or why the packet is lost (:data:`BURST_LOSS`,
            :data:`LOSS`); nothing else applies then.
        copies: how many times to deliver it (2 if duplicated), all at ``due``.
        corrupted: bits were flipped.
        undetected: of a corrupted packet, the TCP checksum still verifies.
        reordered: held back by ``reorder`` (later packets may overtake it).
    """

    packet: bytes
    due: float
    lost: str | None = None
    copies: int = 1
    corrupted: bool = False
    undetected: bool = False
    reordered: bool = False


class FaultModel:
    """The fault model on one stream of packets: its generator, its state, its decisions.

    One per simulated link direction and per :class:`FaultInjector`. The
    configuration is given with each packet (a link's may change mid-run);
    see the module docstring for the draws and the pipeline.

    Args:
        rng: the stream's generator (see :func:`stream_rng`).

    Attributes:
        rng: the stream's generator.
        bad: the Gilbert-Elliott chain is in its bad state.
        last_due: the latest due time of a packet that was not reordered
            (seconds): the FIFO floor.
    """

    __slots__ = ("bad", "last_due", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bad = False
        self.last_due = -math.inf

    def decide(self, config: FaultConfig, packet: bytes, now: float) -> Decision:
        """The fate of ``packet`` offered at ``now`` (seconds) under ``config``."""
        if not config.randomized:
            return Decision(packet, self.fifo_due(config, now))
        r = self.rng.random
        u_move, u_burst, u_loss, u_corrupt, u_duplicate, u_jitter, u_reorder, u_pattern = (
            r(), r(), r(), r(), r(), r(), r(), r(),
        )  # fmt: skip
        ge = config.burst_loss
        if ge is not None:
            self.bad = ge.move(self.bad, u_move)
            if u_burst < ge.loss(self.bad):
                return Decision(packet, now, lost=BURST_LOSS)
        if u_loss < config.loss:
            return Decision(packet, now, lost=LOSS)
        corrupted = undetected = False
        if u_corrupt < config.corrupt:
            pattern = random.Random(int(u_pattern * 2**53))  # the flips' own generator
            escapes = config.corrupt_escapes
            hit = corrupt_packet(packet, config.corrupt_bits, pattern, escapes=escapes)
            if hit is not None:
                packet, undetected = hit
                corrupted = True
        copies = 2 if u_duplicate < config.duplicate else 1
        jitter = u_jitter * config.jitter
        reordered = u_reorder < config.reorder
        if reordered:
            due = now + config.delay + jitter + config.reorder_delay
        else:
            due = self.fifo_due(config, now, jitter)
        return Decision(packet, due, None, copies, corrupted, undetected, reordered)

    def fifo_due(self, config: FaultConfig, now: float, jitter: float = 0.0) -> float:
        """When a packet offered at ``now`` (seconds) and not reordered is due:
        ``now + config.delay + jitter``, kept FIFO (never before the packet
        offered before it) unless ``config.jitter_reorders``.

        The whole decision when ``config`` is not :attr:`~FaultConfig.randomized`
        (``jitter`` 0, one copy, nothing lost or corrupted): the simulator then
        calls this alone, one call per packet where :meth:`decide`, its
        :class:`Decision` and this made three.
        """
        due = now + config.delay + jitter
        # Comparisons rather than two max() calls: this runs for every packet.
        last = self.last_due
        if due >= last:
            self.last_due = due
            return due
        return due if config.jitter_reorders else last


def corrupt_packet(
    packet: bytes, max_bits: int, rng: random.Random, *, escapes: bool = True
) -> tuple[bytes, bool] | None:
    """Flip 1..``max_bits`` distinct random bits of the TCP part of an IP ``packet``.

    The IP header and the TCP data-offset field are never touched. Returns
    the corrupted packet and whether its TCP checksum still verifies (the
    flips cancelled out; never when ``escapes`` is False: one bit is
    flipped instead, which the checksum always catches), or None if the
    packet is too short to hold a TCP header.
    """
    start = _tcp_start(packet)
    if start is None:
        return None
    nbits = (len(packet) - start) * 8 - len(_DATA_OFFSET_BITS)
    k = rng.randint(1, min(max_bits, nbits))
    out = _flip(packet, start, rng.sample(range(nbits), k))
    passes = k > 1 and _checksum_ok(out, start)  # one flipped bit never does
    if passes and not escapes:
        return _flip(packet, start, [rng.randrange(nbits)]), False
    return out, passes


@dataclass
class FaultStats:
    """Counters of one :class:`FaultInjector` (packets).

    Attributes:
        offered: packets given to :meth:`FaultInjector.push`.
        delivered: packets handed on (each copy of a duplicate counts;
            corrupted packets count too).
        dropped: packets dropped (``loss`` and ``burst_loss``).
        corrupted: packets with bits flipped.
        duplicated: extra copies made.
        reordered: packets held back by ``reorder``.
        delayed: packets held by ``delay`` / ``jitter`` (not sent at once).
        discarded: held packets thrown away by :meth:`FaultInjector.clear`.
        burst_dropped: of ``dropped``, those lost to ``burst_loss``.
        corrupted_undetected: of ``corrupted``, those whose TCP checksum
            still verifies.
    """

    offered: int = 0
    delivered: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0
    discarded: int = 0
    burst_dropped: int = 0
    corrupted_undetected: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    def describe(self) -> str:
        """One line: ``offered 100, delivered 97, dropped 5, ...``."""
        return ", ".join(f"{k} {v}" for k, v in self.as_dict().items())


class FaultInjector:
    """The fault model on one direction of a real device: holds packets until due.

    Args:
        config: what to do (see :class:`FaultConfig` and the module docstring);
            may be replaced between packets.
        rng: the direction's random generator (see :func:`direction_rng`).
        name: label used in messages, e.g. ``"to-kernel"``.

    Packets are raw IPv4 or IPv6 packets (``bytes``); only a corrupted
    packet is parsed (its IP header, to find the TCP part and the
    pseudo-header). ``now`` is the caller's monotonic clock in seconds.
    Held packets are released by :meth:`pop_due`, which the driver calls
    from its loop; :meth:`next_due` tells the loop when to wake up for them.
    """

    def __init__(self, config: FaultConfig, rng: random.Random, *, name: str = "") -> None:
        self.config = config
        self.name = name
        self.stats = FaultStats()
        self.model = FaultModel(rng)
        # Held packets: (due, order, packet), a heap.
        self._held: list[tuple[float, int, bytes]] = []
        self._order = 0

    @property
    def rng(self) -> random.Random:
        """The direction's random generator (its fault model's)."""
        return self.model.rng

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
        stats = self.stats
        stats.offered += 1
        fate = self.model.decide(self.config, packet, now)
        if fate.lost is not None:
            stats.dropped += 1
            stats.burst_dropped += fate.lost == BURST_LOSS
            return self.pop_due(now) if self._held else []
        if fate.corrupted:
            self._count_corrupted(fate.undetected)
        if fate.copies > 1:
            stats.duplicated += 1
        if fate.reordered:
            stats.reordered += 1
        elif fate.due > now:
            stats.delayed += 1
        if fate.due <= now and not self._held:
            stats.delivered += fate.copies
            return [fate.packet] * fate.copies
        for _ in range(fate.copies):
            heapq.heappush(self._held, (fate.due, self._order, fate.packet))
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
        """``packet`` corrupted now as ``corrupt`` would (see :func:`corrupt_packet`).

        Draws from the injector's generator. A packet too short to hold a
        TCP header is returned unchanged (and not counted).
        """
        cfg = self.config
        hit = corrupt_packet(packet, cfg.corrupt_bits, self.rng, escapes=cfg.corrupt_escapes)
        if hit is None:
            return packet
        self._count_corrupted(hit[1])
        return hit[0]

    def _count_corrupted(self, undetected: bool) -> None:
        self.stats.corrupted += 1
        self.stats.corrupted_undetected += undetected


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
