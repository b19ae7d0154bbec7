"""Spoofed segments at an established bulk transfer: ``blind-rst``, ``blind-syn``,
``blind-data`` and ``ack-storm``.

A client sends a bulk transfer to a server (:func:`~.common.bulk_transfer`).
The same seed is run twice: once alone (the baseline, which gives the
transfer time and the interval to attack), once with ``count`` spoofed
segments fed to the victim evenly from the end of the handshake to the
baseline's last byte.

Blind attacks (RFC 5961; RFC 4953 describes them): the attacker knows the
4-tuple, not the sequence numbers. Each segment claims to come from the
client and goes to the server (the data receiver); its sequence number (and
acknowledgment number, where it has one) is drawn uniformly from the whole
2**32 space by default, or from ``spread`` values around the victim's true
numbers (an attacker who narrowed them down, e.g. with the CVE-2016-5696 side
channel). SYN and data segments carry a timestamps option with a guessed
TSval: the connection negotiated timestamps, and a segment without one is
dropped at once (RFC 7323 §3.2); a careful attacker adds it.

* ``blind-rst``: RST, half of them with ACK and a guessed acknowledgment.
  Out of window: dropped; in window but not exact: a challenge ACK (RFC 5961
  §3.2); exactly RCV.NXT: a reset (the attack's win, at odds of 1 in 2**32
  per segment when blind).
* ``blind-syn``: SYN with a client's options: a challenge ACK in any
  synchronized state (RFC 5961 §4.2), or an ACK in reply if PAWS rejects it.
* ``blind-data``: ACK and 1..512 bytes of data: dropped with an ACK in reply
  when out of window or when the ACK field is unacceptable (RFC 5961 §5.2);
  accepted only when both guesses land, which corrupts the stream.

``ack-storm`` is an attacker (or a broken peer) that knows the numbers: it
sends the data sender (the client) pure ACKs claiming to come from the
server, in turn a duplicate ACK of SND.UNA, an ACK out of the receive
window, an ACK of data never sent (beyond SND.NXT) and an ancient ACK (below
SND.UNA - MAX.SND.WND, RFC 5961 §5.2), each with a TSval that passes PAWS.
Every invalid one asks for an ACK in reply, which ``invalid_ack_ratelimit``
bounds (RFC 5961 §10, Linux tcp_invalid_ratelimit).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from ...config import TcpConfig
from ...connection import Connection
from ...seq import seq_add
from ...wire import Flags
from .common import (
    SERVER_PORT,
    AttackResult,
    Injector,
    Progress,
    Replies,
    Transfer,
    bulk_transfer,
    ipv4_segment,
    no_progress,
    random_seq,
    stack_counters,
    syn_options,
    ts_option,
)

BLIND_KINDS = ("blind-rst", "blind-syn", "blind-data")
"""The blind attacks."""

DEFAULT_SIZE = 4 * 1024 * 1024
"""Bytes of the transfer under attack."""

TIME_RATIO_LIMIT = 1.10
"""Done means: the attacked transfer takes at most 10 % longer than without the attack."""

MAX_VIRTUAL = 3600.0
"""Virtual seconds a transfer may take before the run gives up on it."""

SEQ_SPACE = 1 << 32

ATTACK_SHARE = 0.8
"""The spoofed segments arrive over this share of the baseline transfer (after its
handshake). Less than all of it: an attacked transfer may end sooner than the
baseline (blind data draws immediate ACKs, which clock the sender faster than
delayed ACKs do: about 10 % sooner in a 256 KiB transfer), and every segment
should reach a live transfer."""


def _run(transfer: Transfer, *, max_steps: int = 50_000_000) -> None:
    """Run ``transfer`` until the server has read everything and the network is quiet,
    or :data:`MAX_VIRTUAL` passes."""
    transfer.net.run(until=MAX_VIRTUAL, max_steps=max_steps)


def _baseline(seed: int, size: int, config: TcpConfig | None) -> tuple[float, float, int]:
    """The transfer alone: ``(handshake done, last byte read)`` in virtual seconds,
    and the packets the client sent.

    Raises:
        RuntimeError: the transfer did not complete (a defect, not an attack result).
    """
    transfer = bulk_transfer(seed, size, config=config)
    _run(transfer)
    if transfer.sink.done_at is None or transfer.sink.connected_at is None or not transfer.exact:
        raise RuntimeError(f"the transfer did not complete without an attack (seed {seed})")
    return (transfer.sink.connected_at, transfer.sink.done_at,
            transfer.client.stack.stats["packets_out"])


def _blind_builder(kind: str, transfer: Transfer, rng: random.Random,
                   spread: int) -> Callable[[int], list[bytes]]:
    """``build(n)``: ``n`` spoofed segments of ``kind`` from the client to the server."""
    client_conn = transfer.source.conn
    assert client_conn is not None  # the attack starts after the handshake
    sport = client_conn.local.port
    src, dst = client_conn.local.address.packed, client_conn.remote.address.packed
    server = transfer.server.stack
    client_address = client_conn.local.address
    getrandbits, randrange = rng.getrandbits, rng.randrange

    def aim() -> tuple[int | None, int | None]:
        victim = server.find(SERVER_PORT, client_address, sport)
        if victim is None or spread >= SEQ_SPACE:
            return None, None
        return victim.rcv_nxt, victim.snd_nxt

    def build(n: int) -> list[bytes]:
        rcv_nxt, snd_nxt = aim()
        out = []
        for _ in range(n):
            seq = random_seq(rng, rcv_nxt, spread)
            if kind == "blind-rst":
                if getrandbits(1):  # RST,ACK with a guessed acknowledgment
                    packet = ipv4_segment(src, dst, sport, SERVER_PORT, seq,
                                          random_seq(rng, snd_nxt, spread),
                                          Flags.RST | Flags.ACK, 0)
                else:
                    packet = ipv4_segment(src, dst, sport, SERVER_PORT, seq, 0, Flags.RST, 0)
            elif kind == "blind-syn":
                packet = ipv4_segment(src, dst, sport, SERVER_PORT, seq, 0, Flags.SYN, 64240,
                                      syn_options(getrandbits(32)))
            else:
                packet = ipv4_segment(src, dst, sport, SERVER_PORT, seq,
                                      random_seq(rng, snd_nxt, spread), Flags.ACK | Flags.PSH,
                                      randrange(1, 1 << 16),
                                      ts_option(getrandbits(32), getrandbits(32)),
                                      rng.randbytes(randrange(1, 513)))
            out.append(packet)
        return out

    return build


def _storm_builder(transfer: Transfer) -> Callable[[int], list[bytes]]:
    """``build(n)``: ``n`` pure ACKs from the "server" to the data sender, in turn
    duplicate, out of window, of unsent data, ancient (module docstring)."""
    client_conn = transfer.source.conn
    assert client_conn is not None
    src, dst = client_conn.remote.address.packed, client_conn.local.address.packed
    sport, dport = client_conn.remote.port, client_conn.local.port
    state = {"i": 0}

    def build(n: int) -> list[bytes]:
        c: Connection = client_conn
        window = min(c.snd_wnd >> c.negotiated.snd_wscale, 0xFFFF)
        ts = ts_option(c.ts_recent, 0) if c.negotiated.timestamps else b""
        una, rcv = c.snd_una, c.rcv_nxt
        kinds = (
            (rcv, una),  # duplicate ACK
            (seq_add(rcv, 1 << 30), una),  # out of the receive window
            (rcv, seq_add(c.snd_max, 1 << 20)),  # ACK of data never sent
            (rcv, seq_add(una, -(c.max_snd_wnd + (1 << 20)))),  # ancient ACK
        )
        out = []
        for _ in range(n):
            seq, ack = kinds[state["i"] % 4]
            state["i"] += 1
            out.append(ipv4_segment(src, dst, sport, dport, seq, ack, Flags.ACK, window, ts))
        return out

    return build


def _attacked(seed: int, size: int, config: TcpConfig | None, count: int, start: float,
              stop: float, make: Callable[[Transfer], Callable[[int], list[bytes]]],
              victim: str, progress: Progress) -> tuple[Transfer, Injector]:
    """The transfer again, with ``count`` packets of ``make(transfer)`` fed to ``victim``
    from ``start`` over :data:`ATTACK_SHARE` of the time to ``stop`` (the baseline's
    end: the attacked transfer may end a little sooner)."""
    transfer = bulk_transfer(seed, size, config=config)
    host = transfer.server if victim == "server" else transfer.client
    holder: list[Injector] = []

    def begin() -> None:
        holder.append(Injector(transfer.net, host, make(transfer), count=count,
                               start=start, stop=start + ATTACK_SHARE * (stop - start),
                               progress=progress,
                               until=lambda: transfer.done))

    transfer.net.at(start, begin)
    _run(transfer)
    return transfer, holder[0]


def run_blind(kind: str, *, seed: int = 1, count: int = 1_000_000, size: int = DEFAULT_SIZE,
              spread: int = SEQ_SPACE, config: TcpConfig | None = None,
              progress: Progress = no_progress) -> AttackResult:
    """``blind-rst``, ``blind-syn`` or ``blind-data`` (module docstring).

    Args:
        kind: one of :data:`BLIND_KINDS`.
        seed: seeds the transfer, the network and the attacker.
        count: spoofed segments.
        size: bytes of the transfer.
        spread: how many sequence values the guesses range over (2**32: blind).
        config: both hosts' configuration (default :class:`TcpConfig`).
        progress: told (segments fed, count).

    Raises:
        ValueError: unknown ``kind``, ``count`` < 0, ``size`` < 1, ``spread`` < 1.
        RuntimeError: the transfer fails even without the attack.
    """
    if kind not in BLIND_KINDS:
        raise ValueError(f"unknown blind attack {kind!r}; known: {', '.join(BLIND_KINDS)}")
    _check(count=count, size=size)
    if spread < 1:
        raise ValueError(f"spread must be >= 1, got {spread}")
    cfg = config or TcpConfig()
    started = time.perf_counter()
    connected, base, sent = _baseline(seed, size, config)
    rng = random.Random(f"attack/{seed}/{kind}")
    transfer, inj = _attacked(seed, size, config, count, connected, base,
                              lambda t: _blind_builder(kind, t, rng, spread), "server", progress)
    result = AttackResult(kind, seed, {"count": count, "size": size, "spread": spread},
                          "transfer byte-exact, 0 resets, challenge ACKs within "
                          "challenge_ack_limit per second, transfer time <= 1.10 x without "
                          "the attack")
    _transfer_metrics(result, transfer, inj, base, sent)
    r = inj.replies
    limit = cfg.challenge_ack_limit
    result.check("transfer byte-exact", transfer.exact,
                 f"{transfer.sink.received:,} of {size:,} bytes")
    result.check("0 resets", transfer.resets == 0, f"{transfer.resets} resets")
    result.check("challenge ACKs within the limit", r.max_challenge_per_second <= limit,
                  f"at most {r.max_challenge_per_second}/s <= {limit}/s")
    ratio = result.metric("time_ratio")
    result.check("transfer time <= 1.10 x", isinstance(ratio, float)
                 and ratio <= TIME_RATIO_LIMIT,
                 f"{ratio:.3f} <= {TIME_RATIO_LIMIT}" if isinstance(ratio, float)
                 else "did not complete")
    result.counters = stack_counters(transfer.server.stack.stats,
                                     prefixes=("dropped:", "challenge", "invalid", "reset"))
    result.wall_seconds = time.perf_counter() - started
    return result


def run_ack_storm(*, seed: int = 1, count: int = 100_000, size: int = DEFAULT_SIZE,
                  config: TcpConfig | None = None,
                  progress: Progress = no_progress) -> AttackResult:
    """``ack-storm`` (module docstring): ``count`` pure ACKs at the data sender.

    Raises:
        ValueError: ``count`` < 0 or ``size`` < 1.
        RuntimeError: the transfer fails even without the attack.
    """
    _check(count=count, size=size)
    cfg = config or TcpConfig()
    started = time.perf_counter()
    connected, base, sent = _baseline(seed, size, config)
    transfer, inj = _attacked(seed, size, config, count, connected, base, _storm_builder,
                              "client", progress)
    result = AttackResult("ack-storm", seed, {"count": count, "size": size},
                          "transfer byte-exact, 0 resets, pure-ACK replies per second within "
                          "challenge_ack_limit + 1 / invalid_ack_ratelimit")
    _transfer_metrics(result, transfer, inj, base, sent)
    r = inj.replies
    interval = cfg.invalid_ack_ratelimit
    allowed = cfg.challenge_ack_limit + (math.ceil(1 / interval) if interval > 0 else 0)
    result.add("reply_limit", "replies allowed per second", allowed if interval > 0 else None,
               "/s")
    result.check("transfer byte-exact", transfer.exact,
                 f"{transfer.sink.received:,} of {size:,} bytes")
    result.check("0 resets", transfer.resets == 0, f"{transfer.resets} resets")
    result.check("replies within the rate limits", interval > 0 and r.max_per_second <= allowed,
                 f"at most {r.max_per_second}/s <= {allowed}/s" if interval > 0
                 else "invalid_ack_ratelimit is 0: unlimited")
    result.counters = stack_counters(transfer.client.stack.stats,
                                     prefixes=("dropped:", "challenge", "invalid", "reset"))
    result.wall_seconds = time.perf_counter() - started
    return result


def _transfer_metrics(result: AttackResult, transfer: Transfer, inj: Injector,
                      base: float, base_sent: int) -> None:
    """The metrics every attack on a transfer shows (``base``: the transfer time
    without the attack, ``base_sent``: the client's packets then)."""
    r: Replies = inj.replies
    attacked = transfer.sink.done_at
    window = (inj.last_at or 0.0) - (inj.first_at or 0.0)
    result.add("segments", "spoofed segments fed", inj.fed)
    result.add("attack_rate", "spoofed segments per second",
               round(inj.fed / window) if window > 0 else None, "/s")
    result.add("bytes_exact", "transfer byte-exact", transfer.exact)
    result.add("bytes_received", "bytes received", transfer.sink.received, "bytes")
    result.add("resets", "resets", transfer.resets)
    result.add("challenge_acks", "challenge ACKs sent", r.challenge)
    result.add("challenge_acks_suppressed", "challenge ACKs suppressed", r.challenge_suppressed)
    result.add("challenge_acks_max_per_second", "challenge ACKs, most in one second",
               r.max_challenge_per_second, "/s")
    result.add("challenge_ack_limit", "challenge_ack_limit (per connection)",
               transfer.server.stack.config.challenge_ack_limit, "/s")
    result.add("replies_pure_ack", "pure-ACK replies drawn", r.pure_acks)
    result.add("replies_max_per_second", "pure-ACK replies, most in one second",
               r.max_per_second, "/s")
    result.add("replies_data", "data segments drawn", r.data)
    result.add("replies_other", "SYN/FIN/RST replies drawn", r.other)
    result.add("time_without", "transfer time without the attack", round(base, 6), "s")
    result.add("time_with", "transfer time with the attack",
               round(attacked, 6) if attacked is not None else None, "s")
    result.add("time_ratio", "ratio (done means <= 1.10)",
               round(attacked / base, 4) if attacked is not None and base > 0 else None)
    sent = transfer.client.stack.stats["packets_out"]
    result.add("sender_packets", "packets the data sender sent, with the attack", sent)
    result.add("sender_packets_without", "packets the data sender sent, without", base_sent)


def _check(*, count: int, size: int) -> None:
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if size < 1:
        raise ValueError(f"size must be >= 1 byte, got {size}")


__all__ = ["BLIND_KINDS", "DEFAULT_SIZE", "run_ack_storm", "run_blind"]
