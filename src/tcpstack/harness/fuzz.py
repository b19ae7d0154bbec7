"""Coverage-guided fuzzing of the packet parser and of a Stack in every state (issue 12).

Two targets, each a function of one fuzz input (``bytes``) that raises only
when it finds a fault:

* :func:`parser_one_input`: the wire parser (:func:`~tcpstack.wire.decode_tcp_packet`
  and :func:`~tcpstack.wire.decode_packet`, IPv4 and IPv6, TCP options). The
  first byte picks how the rest is framed (:data:`PARSER_MODES`): a raw IP
  packet, a TCP segment put inside a valid IPv4 or IPv6 header with a
  correct checksum (so mutations reach the option parser instead of failing
  the checksum), or bare option bytes.
* :func:`stack_one_input`: a :class:`~tcpstack.stack.Stack` holding a
  connection in every state of RFC 9293 Figure 5 (:data:`WORLD_STATES`),
  built honestly by exchanging packets with a peer Stack (:class:`World`).
  The input is a list of operations (:data:`STACK_OPS`): segments for one
  chosen connection (its 4-tuple filled in and its sequence numbers taken
  relative to the connection's own, then mutated), raw packets, time
  passing (timers fire), user calls, and one round trip through the peer.

After every operation the invariants of :func:`check_stack` hold, or the
input is a finding. The invariants, per TCB (RFC 9293 §3.3.1 names):

1. the state is a :class:`~tcpstack.state.State`, and a TCB the stack still
   holds is not CLOSED (the stack deletes it there) and can be found by its
   4-tuple;
2. SND.UNA =< SND.NXT =< SND.MAX, modulo 2**32 (less than 2**31 apart);
3. RCV.WND >= 0, and unread bytes plus RCV.WND =< the receive buffer
   (``recv_buffer``): the window never promises room the buffer lacks
   (RFC 9293 §3.8.6); held out-of-order bytes =< ``recv_buffer``;
4. 0 =< SND.WND =< 65535 * 2**14 (RFC 7323 §2.3);
5. bytes in the send buffer =< ``send_buffer``, and the sequence space in
   flight =< those bytes + 2 (SYN and FIN);
6. timers: RTO and the persist timer are never armed together; the
   TIME-WAIT timer is armed exactly in TIME-WAIT, the FIN-WAIT-2 timer only in
   FIN-WAIT-2; every deadline is a finite number of seconds; after
   ``handle_timer(now)`` nothing is due at ``now`` any more; a connection
   that has sequence space in flight in a state that retransmits has a
   retransmission, tail-loss-probe or persist timer armed (else it waits for
   ever); the stack's :meth:`~tcpstack.stack.Stack.next_timer` is the
   earliest deadline of its connections (none is lost);

and per stack output: every packet decodes (with its checksum), comes from
the stack's address to another, has non-zero ports and never both SYN and
RST. Escapes: any exception out of ``receive``, ``handle_timer`` or
``packets_to_send`` (DESIGN.md rule 4); user calls may raise
:class:`~tcpstack.errors.LocalProtocolError` only.

Inputs mean the same with and without atheris (:class:`Reader` reads them
like atheris's ``FuzzedDataProvider`` would, but is plain Python), so a
crash file reproduces with ``python -m tcpstack.harness.fuzz stack FILE``
on a machine without atheris, and the tests run both targets over seeded
mutations (:func:`run_mutations`) without it. Seeds come from real traces:
:func:`seeds_from_packets` turns the packets of a capture (``tcpstack demo
SCENARIO --pcap FILE``) into inputs of both targets.

Command line (``python -m tcpstack.harness.fuzz --help``)::

    python -m tcpstack.harness.fuzz seeds CORPUS [--pcap FILE ...]
    python -m tcpstack.harness.fuzz parser CORPUS/parser -- -max_total_time=600
    python -m tcpstack.harness.fuzz stack CORPUS/stack -- -max_total_time=600
    python -m tcpstack.harness.fuzz stack crash-1234          # replay one input
    python -m tcpstack.harness.fuzz stack --replay corpus/stack   # every input once
    python -m tcpstack.harness.fuzz mutate stack --inputs 100000 --seed 1

``parser`` and ``stack`` need atheris (``pip install 'tcpstack[fuzz]'``)
to fuzz, except to replay files; ``mutate`` runs the seeded mutator
without it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import ipaddress
import math
import pickle
import random
import struct
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TcpConfig
from ..connection import Connection
from ..errors import LocalProtocolError, MalformedPacket
from ..seq import SEQ_MOD, seq_add, seq_diff, seq_le
from ..stack import Stack
from ..state import State
from ..timers import Timer
from ..wire import (
    PROTO_TCP,
    Flags,
    Segment,
    decode_packet,
    decode_tcp_packet,
    encode_packet,
    internet_checksum,
    parse_options,
    pseudo_header_sum,
)

__all__ = [
    "PARSER_MODES",
    "STACK_OPS",
    "WORLD_STATES",
    "InvariantViolation",
    "Reader",
    "World",
    "check_connection",
    "check_output",
    "check_stack",
    "main",
    "mutate",
    "parser_one_input",
    "run_mutations",
    "scenario_packets",
    "seeds_from_captures",
    "seeds_from_packets",
    "stack_one_input",
]


class InvariantViolation(AssertionError):
    """A TCB, a stack or its output broke one of the invariants of this module."""


def _require(ok: bool, what: str, subject: object) -> None:
    if not ok:
        raise InvariantViolation(f"{what}: {subject!r}")


# ----------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------

MAX_WINDOW = 0xFFFF << 14
"""Largest send window a peer can grant, bytes (RFC 7323 §2.3: shift at most 14)."""

RETRANSMITTING = frozenset({State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED,
                            State.FIN_WAIT_1, State.CLOSE_WAIT, State.CLOSING,
                            State.LAST_ACK})
"""States in which unacknowledged sequence space is retransmitted (RFC 9293 §3.8.1)."""

_SENDING_TIMERS = (Timer.RTO, Timer.TLP, Timer.PERSIST)


def held_bytes(conn: Connection) -> tuple[int, int]:
    """``(send buffer bytes, held out-of-order bytes)`` of ``conn``.

    The TCB shows neither through its public view, so this reads the two
    buffers; a test pins that it still finds them (a renamed internal
    fails it rather than turning the check off).
    """
    sndbuf = conn._sndbuf
    rcvbuf = conn._rcvbuf
    ooo = rcvbuf._ooo if rcvbuf is not None else None
    return len(sndbuf), len(ooo) if ooo is not None else 0


def check_connection(conn: Connection, *, now: float | None = None) -> None:
    """Check the invariants 1-6 of the module docstring on one TCB.

    ``now`` (seconds): the time of the last ``handle_timer`` call, after
    which nothing may be due any more; None skips that check.

    Raises:
        InvariantViolation: naming the first invariant that does not hold.
    """
    state = conn.state
    _require(isinstance(state, State), "state not in the table", state)
    una, nxt, top = conn.snd_una, conn.snd_nxt, conn.snd_max
    _require(seq_le(una, nxt) and seq_le(nxt, top), "SND.UNA =< SND.NXT =< SND.MAX",
             (conn, una, nxt, top))
    _require(conn.rcv_wnd >= 0, "RCV.WND >= 0", (conn, conn.rcv_wnd))
    cfg = conn.config
    _require(conn.readable + conn.rcv_wnd <= cfg.recv_buffer,
             "unread bytes + RCV.WND =< recv_buffer", (conn, conn.readable, conn.rcv_wnd))
    _require(0 <= conn.snd_wnd <= MAX_WINDOW, "0 =< SND.WND =< 65535 << 14",
             (conn, conn.snd_wnd))
    queued, ooo = held_bytes(conn)
    _require(ooo <= cfg.recv_buffer, "held out-of-order bytes =< recv_buffer", (conn, ooo))
    _require(queued <= cfg.send_buffer, "send buffer bytes =< send_buffer", (conn, queued))
    _require(conn.in_flight <= queued + 2, "in flight =< send buffer bytes + SYN + FIN",
             (conn, conn.in_flight, queued))
    check_timers(conn, now=now)


def check_timers(conn: Connection, *, now: float | None = None) -> None:
    """The timer part (invariant 6) of :func:`check_connection`."""
    state = conn.state
    armed = {t: at for t in Timer if (at := conn.timer(t)) is not None}
    for timer, at in armed.items():
        _require(math.isfinite(at), f"{timer.value} deadline finite", (conn, at))
        if now is not None:
            _require(at > now, f"{timer.value} not due after handle_timer({now})", (conn, at))
    _require(not (Timer.RTO in armed and Timer.PERSIST in armed),
             "RTO and persist never armed together", (conn, armed))
    _require((Timer.TIME_WAIT in armed) == (state is State.TIME_WAIT),
             "TIME-WAIT timer armed exactly in TIME-WAIT", (conn, armed))
    _require(Timer.FIN_WAIT_2 not in armed or state is State.FIN_WAIT_2,
             "FIN-WAIT-2 timer only in FIN-WAIT-2", (conn, armed))
    if state is State.CLOSED:
        _require(not armed, "no timer in CLOSED", (conn, armed))
    if state in RETRANSMITTING and conn.in_flight > 0:
        _require(any(t in armed for t in _SENDING_TIMERS),
                 "sequence space in flight has a retransmission or persist timer",
                 (conn, conn.in_flight, armed))


def check_stack(stack: Stack, *, now: float | None = None) -> None:
    """Check every TCB of ``stack`` (:func:`check_connection`) and the stack's timer heap.

    Raises:
        InvariantViolation: the first invariant that does not hold.
    """
    earliest: float | None = None
    for conn in stack.connections:
        check_connection(conn, now=now)
        _require(conn.state is not State.CLOSED, "the stack holds no CLOSED TCB", conn)
        found = stack.find(conn.local.port, conn.remote.address, conn.remote.port)
        _require(found is conn, "a TCB is found by its 4-tuple", (conn, found))
        at = conn.next_timer()
        if at is not None and (earliest is None or at < earliest):
            earliest = at
    _require(stack.next_timer() == earliest, "Stack.next_timer() is the earliest deadline",
             (stack.next_timer(), earliest))


def check_output(stack: Stack, packets: Iterable[bytes]) -> list[Segment]:
    """Check what ``stack`` sent: well formed, from it, never SYN with RST.

    Returns:
        The decoded segments, in order.

    Raises:
        InvariantViolation: a packet that breaks a rule (MalformedPacket
            from a packet we built is one too).
    """
    out = []
    for raw in packets:
        try:
            ip, seg = decode_packet(raw)
        except MalformedPacket as exc:
            raise InvariantViolation(f"the stack sent a malformed packet ({exc.reason}): "
                                     f"{raw.hex()}") from exc
        _require(ip.src == stack.address and ip.dst != stack.address,
                 "sent from our address to another", (ip.src, ip.dst))
        _require(seg.src_port != 0 and seg.dst_port != 0, "sent with non-zero ports", seg)
        _require(not (seg.has(Flags.SYN) and seg.has(Flags.RST)), "never SYN with RST", seg)
        out.append(seg)
    return out


# ----------------------------------------------------------------------
# Reading a fuzz input
# ----------------------------------------------------------------------


class Reader:
    """Consumes a fuzz input from the front; reads past its end give zeros.

    Plain Python, so an input means the same with and without atheris.

    Args:
        data: the input.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return max(0, len(self._data) - self._pos)

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the input)."""
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def uint(self, size: int) -> int:
        """A big-endian unsigned integer of ``size`` bytes (missing bytes read as 0)."""
        return int.from_bytes(self.take(size).ljust(size, b"\0"), "big")

    def u8(self) -> int:
        """One byte, 0..255."""
        return self.uint(1)

    def u16(self) -> int:
        """Two bytes, 0..65535."""
        return self.uint(2)

    def u32(self) -> int:
        """Four bytes, 0..2**32-1."""
        return self.uint(4)

    def s16(self) -> int:
        """Two bytes as a signed integer, -32768..32767."""
        v = self.u16()
        return v - 0x10000 if v & 0x8000 else v

    def blob(self, limit: int) -> bytes:
        """A length byte (taken modulo ``limit + 1``), then that many bytes."""
        return self.take(self.u8() % (limit + 1))


# ----------------------------------------------------------------------
# Building packets
# ----------------------------------------------------------------------

_TCP = struct.Struct("!HHIIBBHHH")
_V4 = struct.Struct("!BBHHHBBH4s4s")


def tcp_bytes(
    sport: int, dport: int, seq: int, ack: int, flags: int, window: int, urgent: int,
    options: bytes, payload: bytes,
) -> bytes:
    """A TCP header and payload without a checksum; ``options`` are padded
    with zeros (EOL) to whole words and cut at 40 bytes."""
    options = options[:40]
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    return _TCP.pack(sport, dport, seq % SEQ_MOD, ack % SEQ_MOD, offset << 4, flags & 0xFF,
                     window & 0xFFFF, 0, urgent & 0xFFFF) + options + payload


def ip_packet(src: ipaddress.IPv4Address | ipaddress.IPv6Address,
              dst: ipaddress.IPv4Address | ipaddress.IPv6Address,
              tcp: bytes, *, checksum: bool = True) -> bytes:
    """``tcp`` in an IPv4 or IPv6 header (by the addresses' family); with
    ``checksum`` the TCP checksum field is filled in (RFC 9293 §3.1), else left
    as it is. Raises ValueError for mixed families."""
    body = bytearray(tcp)
    if checksum and len(body) >= 18 and (src.version == 6 or len(body) <= 0xFFFF):
        body[16:18] = b"\0\0"
        csum = internet_checksum(body, pseudo_header_sum(src, dst, PROTO_TCP, len(body)))
        body[16:18] = csum.to_bytes(2, "big")
    if src.version == 4 and dst.version == 4:
        total = min(20 + len(body), 0xFFFF)
        v4 = bytearray(_V4.pack(0x45, 0, total, 0, 0x4000, 64, PROTO_TCP, 0,
                                src.packed, dst.packed))
        v4[10:12] = internet_checksum(v4).to_bytes(2, "big")
        return bytes(v4) + bytes(body[: total - 20])
    if src.version == 6 and dst.version == 6:
        plen = min(len(body), 0xFFFF)
        v6 = struct.pack("!IHBB", 6 << 28, plen, PROTO_TCP, 64) + src.packed + dst.packed
        return v6 + bytes(body[:plen])
    raise ValueError(f"mixed address families: {src} and {dst}")


# ----------------------------------------------------------------------
# The parser target
# ----------------------------------------------------------------------

PARSER_MODES = ("raw", "ipv4", "ipv6", "options")
"""What the first byte of a parser input (modulo 4) makes of the rest: a raw
IP packet; a TCP segment in a valid IPv4 / IPv6 header with its checksum
filled in; TCP option bytes alone."""

_V4_SRC, _V4_DST = ipaddress.IPv4Address("192.0.2.2"), ipaddress.IPv4Address("192.0.2.1")
_V6_SRC, _V6_DST = ipaddress.IPv6Address("2001:db8::2"), ipaddress.IPv6Address("2001:db8::1")


def parser_one_input(data: bytes) -> None:
    """Run the parser target on one input (see :data:`PARSER_MODES`).

    Checks: the parsers raise only :class:`~tcpstack.errors.MalformedPacket`;
    :func:`~tcpstack.wire.decode_packet` and the receive path's
    :func:`~tcpstack.wire.decode_tcp_packet` agree (same reason or same
    segment and addresses); a decoded segment re-encodes to bytes that decode
    to an equal segment; skipping the checksum changes nothing but the
    checksum verdict.

    Raises:
        InvariantViolation: the parsers disagree or a round trip changes a value.
        Anything else: an escape (a bug).
    """
    if not data:
        return
    mode, body = PARSER_MODES[data[0] % len(PARSER_MODES)], data[1:]
    if mode == "options":
        with contextlib.suppress(MalformedPacket):
            parse_options(body)
        return
    if mode == "raw":
        packet = body
    else:
        src, dst = (_V4_SRC, _V4_DST) if mode == "ipv4" else (_V6_SRC, _V6_DST)
        packet = ip_packet(src, dst, body)
    _check_decoders(packet)


def _check_decoders(packet: bytes) -> None:
    full: tuple[object, ...] | str
    try:
        ip, seg = decode_packet(packet)
        full = (ip.src.packed, ip.dst.packed, seg)
    except MalformedPacket as exc:
        full = exc.reason
    fast: tuple[object, ...] | str
    try:
        fast = decode_tcp_packet(packet)
    except MalformedPacket as exc:
        fast = exc.reason
    _require(full == fast, "decode_packet and decode_tcp_packet agree", (full, fast))
    try:
        unverified: tuple[object, ...] | str = decode_tcp_packet(packet, verify_checksum=False)
    except MalformedPacket as exc:
        unverified = exc.reason
    if fast != "bad-checksum":
        _require(unverified == fast, "verify_checksum changes only the checksum verdict",
                 (fast, unverified))
    if isinstance(full, tuple):
        src = ipaddress.ip_address(full[0])
        dst = ipaddress.ip_address(full[1])
        seg = full[2]
        assert isinstance(seg, Segment)
        try:
            again = encode_packet(src, dst, seg)
        except ValueError:
            return  # e.g. more than 40 bytes of options once re-laid out: not a round trip
        _require(decode_packet(again)[1] == seg, "a decoded segment re-encodes to itself", seg)


# ----------------------------------------------------------------------
# The stack target: a world with a connection in every state
# ----------------------------------------------------------------------

TARGET_ADDR = "192.0.2.1"
PEER_ADDR = "192.0.2.2"
LISTEN_PORT = 80
COOKIE_PORT = 81
"""A second listener, configured ``syncookies="always"``: every SYN to it is
answered by a SYN cookie and every ACK to it is checked as one (RFC 4987 §3.6)."""

WORLD_STATES: tuple[tuple[str, State], ...] = (
    ("syn-sent", State.SYN_SENT),
    ("syn-received", State.SYN_RECEIVED),
    ("syn-received-simultaneous", State.SYN_RECEIVED),
    ("established", State.ESTABLISHED),
    ("established-accepted", State.ESTABLISHED),
    ("established-plain", State.ESTABLISHED),
    ("established-unacked", State.ESTABLISHED),
    ("fin-wait-1", State.FIN_WAIT_1),
    ("fin-wait-2", State.FIN_WAIT_2),
    ("close-wait", State.CLOSE_WAIT),
    ("closing", State.CLOSING),
    ("last-ack", State.LAST_ACK),
    ("time-wait", State.TIME_WAIT),
)
"""The target's connections, by label, and the state each is built into.
``-plain``: the peer offered no options (no SACK, timestamps or window
scaling); ``-unacked``: 3000 bytes sent and not acknowledged (RTO armed);
``-accepted``: taken from the listener's accept queue. Plus the listener on
port 80 (LISTEN, slot 0) and the SYN-cookie listener on port 81 (the last
slot): segments for them come from a fresh peer port; for those, the ``irs``
and ``iss`` bases are the last SYN,ACK the listener sent that port, so an input
can complete a cookie handshake (sequence offset 1, acknowledgment offset 1)."""

_PLAIN = TcpConfig(sack=False, timestamps=False, window_scaling=False)


@dataclass
class Slot:
    """One connection of the world as fuzz inputs address it.

    Attributes:
        label: its name in :data:`WORLD_STATES`, or ``"listen"``.
        local_port, peer_port: the 4-tuple's ports (target side first).
        conn: the target's TCB; None for the listener.
    """

    label: str
    local_port: int
    peer_port: int
    conn: Connection | None


@dataclass
class World:
    """The target Stack with a connection in every state, its peer, and the time.

    Build one with :meth:`build` (a few milliseconds), then copy it for each
    input with :meth:`fresh` so every input starts from the same world (a
    pickled copy is kept: unpickling costs a fifth of a deep copy).

    Attributes:
        target: the stack under test (192.0.2.1); it listens on port 80.
        peer: the Stack at 192.0.2.2 that built the connections with it.
        slots: the connections inputs can address, listener first.
        now: virtual time, seconds.
        to_peer: the target's packets not yet given to the peer (bounded).
    """

    target: Stack
    peer: Stack
    slots: list[Slot]
    now: float = 1.0
    to_peer: list[bytes] = field(default_factory=list)
    _pickled: bytes | None = field(default=None, repr=False)

    @classmethod
    def build(cls, seed: int = 0) -> World:
        """A world reached by honest packet exchanges, deterministic for ``seed``.

        Raises:
            RuntimeError: a connection did not reach its state (a core bug).
        """
        rng = random.Random(f"fuzz-world/{seed}")
        target = Stack(TARGET_ADDR, name="target", rng=random.Random(rng.random()))
        peer = Stack(PEER_ADDR, name="peer", rng=random.Random(rng.random()))
        target.listen(LISTEN_PORT, now=0.0)
        w = cls(target, peer, [Slot("listen", LISTEN_PORT, 30000, None)], now=0.0)
        for i, (label, state) in enumerate(WORLD_STATES):
            lport, pport = 1000 + i, 2000 + i
            conn = w._make(label, lport, pport)
            if conn.state is not state:
                raise RuntimeError(f"fuzz world: {label} reached {conn.state}, not {state}")
            w.slots.append(Slot(label, conn.local.port, conn.remote.port, conn))
        target.listen(COOKIE_PORT, now=w._tick(), config=TcpConfig(syncookies="always"))
        w.slots.append(Slot("listen-cookies", COOKIE_PORT, 30001, None))
        w.now = 1.0
        target.handle_timer(w.now)
        peer.handle_timer(w.now)
        w.target.packets_to_send(w.now)
        w.peer.packets_to_send(w.now)
        check_stack(target)
        return w

    def fresh(self) -> World:
        """An independent copy (deep), for one input."""
        if self._pickled is None:
            self._pickled = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        world: World = pickle.loads(self._pickled)
        world._pickled = None
        return world

    # -- building ---------------------------------------------------------------

    def _tick(self) -> float:
        self.now = round(self.now + 0.001, 6)
        return self.now

    def _deliver(self, src: Stack, dst: Stack, port: int, *, drop: Callable[[Segment], bool]
                 = lambda s: False) -> None:
        """Give ``dst`` the packets ``src`` has for ``port`` (its local port), but
        those ``drop`` selects; the others are discarded."""
        for raw in src.packets_to_send(self._tick()):
            seg = decode_packet(raw)[1]
            if seg.src_port == port and not drop(seg):
                dst.receive(raw, self._tick())

    def _make(self, label: str, lport: int, pport: int) -> Connection:
        t, p, now = self.target, self.peer, self._tick
        if label == "syn-sent":
            conn = t.connect(PEER_ADDR, pport, now=now(), local_port=lport)
            t.packets_to_send(now())  # the SYN is lost
            return conn
        if label in ("syn-received", "established-accepted"):
            p.connect(TARGET_ADDR, LISTEN_PORT, now=now(), local_port=pport)
            self._deliver(p, t, pport)
            found = t.find(LISTEN_PORT, PEER_ADDR, pport)
            assert found is not None
            conn = found
            if label == "syn-received":
                t.packets_to_send(now())  # the SYN-ACK is lost
                return conn
            self._deliver(t, p, LISTEN_PORT)
            self._deliver(p, t, pport)
            accepted = t.accept(LISTEN_PORT)
            assert accepted is conn
            return conn
        if label == "syn-received-simultaneous":
            conn = t.connect(PEER_ADDR, pport, now=now(), local_port=lport)
            p.connect(TARGET_ADDR, lport, now=now(), local_port=pport)
            self._deliver(p, t, pport)  # the peer's SYN crosses ours
            t.packets_to_send(now())  # our SYN and SYN-ACK are lost
            return conn
        config = _PLAIN if label == "established-plain" else None
        p.listen(pport, now=now(), config=config)
        conn = t.connect(PEER_ADDR, pport, now=now(), local_port=lport)
        self._deliver(t, p, lport)
        self._deliver(p, t, pport)
        self._deliver(t, p, lport)
        other = p.accept(pport)
        assert other is not None
        p.unlisten(pport)
        if label.startswith("established"):
            if label == "established-unacked":
                conn.send(bytes(range(256)) * 12, now=now())
                t.packets_to_send(now())  # lost: RTO armed
            else:
                other.send(b"hello from the peer", now=now())
                self._deliver(p, t, pport)
                conn.read()
                self._deliver(t, p, lport)
            return conn
        if label in ("fin-wait-1", "fin-wait-2", "time-wait", "closing"):
            conn.shutdown(now=now())
            if label == "fin-wait-1":
                t.packets_to_send(now())  # the FIN is lost
                return conn
            if label == "closing":
                other.shutdown(now=now())
                fins = t.packets_to_send(now()), p.packets_to_send(now())
                for raw in fins[1]:
                    t.receive(raw, now())
                for raw in fins[0]:
                    p.receive(raw, now())
                t.packets_to_send(now())  # the ACKs of the FINs are lost
                p.packets_to_send(now())
                return conn
            self._deliver(t, p, lport)
            self._deliver(p, t, pport)
            if label == "time-wait":
                other.shutdown(now=now())
                self._deliver(p, t, pport)
                self._deliver(t, p, lport)
            return conn
        # close-wait, last-ack
        other.shutdown(now=now())
        self._deliver(p, t, pport)
        self._deliver(t, p, lport)
        if label == "last-ack":
            conn.shutdown(now=now())
            t.packets_to_send(now())  # our FIN is lost
        return conn

    # -- operations -------------------------------------------------------------

    def emit(self) -> None:
        """Collect and check the target's output; keep the newest for the peer."""
        out = self.target.packets_to_send(self.now)
        check_output(self.target, out)
        self.to_peer = (self.to_peer + out)[-_TO_PEER_MAX:]

    def settle(self, steps: int = 4) -> None:
        """Let time run to the next deadlines, ``steps`` times at most, checking
        after each: timers always fire and always leave consistent TCBs."""
        for _ in range(steps):
            at = self.target.next_timer()
            if at is None:
                return
            self.now = max(self.now, at)
            self.target.handle_timer(self.now)
            self.emit()  # a retransmission re-arms its timer as it leaves
            check_stack(self.target, now=self.now)


_TO_PEER_MAX = 64
_MAX_OPS = 32
_MAX_PAYLOAD = 2048

_SEQ_BASES = ("irs", "rcv_nxt", "rcv_edge", "random")
_ACK_BASES = ("iss", "snd_una", "snd_max", "random")
_WAITS = (0.0, 0.001, 0.04, 0.2, 0.5, 1.0, 3.0, 30.0, 61.0, 75.0, 130.0, 241.0, 7300.0)
_USER_CALLS = ("send", "read", "shutdown", "close", "abort", "keepalive", "nodelay",
               "urgent")

STACK_OPS = ("segment", "segment", "segment", "mutated", "raw", "wait", "user", "pump")
"""What the op byte of a stack input (modulo 8) does; the bytes after it are its arguments:

* ``segment`` (3 in 8): slot byte, flags, sequence base (:data:`_SEQ_BASES`:
  the peer's ISN, RCV.NXT, the right window edge, or absolute) and a
  32-bit offset (16-bit signed for the near bases), acknowledgment base and
  offset likewise (our ISS, SND.UNA, SND.MAX, absolute), window, urgent
  pointer, an options blob (bytes as they go on the wire, padded) and a
  payload blob (a length byte and a repeat count; the bytes are repeated):
  a segment on that slot's 4-tuple, checksum filled in;
* ``mutated``: as ``segment``, then a list of byte edits of the whole IP
  packet (set a byte, truncate), the checksum left as it falls;
* ``raw``: a two-byte length and that many bytes, delivered as a packet;
* ``wait``: time passes (:data:`_WAITS`), the target's timers fire;
* ``user``: slot byte, call byte (:data:`_USER_CALLS`), a 16-bit size;
* ``pump``: the target's newest output goes to the peer stack, and the
  peer's answers come back.
"""


def _segment(w: World, r: Reader) -> tuple[bytes, Slot]:
    slot = w.slots[r.u8() % len(w.slots)]
    conn = slot.conn
    flags = r.u8()
    seq_base, ack_base = _SEQ_BASES[r.u8() % 4], _ACK_BASES[r.u8() % 4]
    seq_off = r.u32() if seq_base in ("irs", "random") else r.s16()
    ack_off = r.u32() if ack_base in ("iss", "random") else r.s16()
    window, urgent = r.u16(), r.u16()
    options = r.blob(40)
    chunk = r.blob(64)
    payload = (chunk * (r.u8() % 128 + 1))[:_MAX_PAYLOAD] if chunk else b""
    if conn is None:
        synack = _last_syn_ack(w, slot)
        if synack is not None and seq_base == "irs":
            seq = seq_add(synack.ack, seq_off - 1)  # the IRS of the SYN it answered
        else:
            seq = seq_off if seq_base == "random" else seq_add(0x1000, seq_off)
        ack = seq_add(synack.seq, ack_off) if synack is not None and ack_base == "iss" \
            else ack_off
    else:
        base = {"irs": conn.irs, "rcv_nxt": conn.rcv_nxt,
                "rcv_edge": seq_add(conn.rcv_nxt, conn.rcv_wnd), "random": 0}[seq_base]
        seq = seq_add(base, seq_off)
        abase = {"iss": conn.iss, "snd_una": conn.snd_una, "snd_max": conn.snd_max,
                 "random": 0}[ack_base]
        ack = seq_add(abase, ack_off)
    tcp = tcp_bytes(slot.peer_port, slot.local_port, seq, ack, flags, window, urgent,
                    options, payload)
    return ip_packet(_V4_SRC, _V4_DST, tcp), slot


def _last_syn_ack(w: World, slot: Slot) -> Segment | None:
    """The newest SYN,ACK the target sent from ``slot``'s port to its peer port
    (a listener slot: a queued handshake's or a cookie's), among the packets
    kept for the peer; None if there is none."""
    for raw in reversed(w.to_peer):
        try:
            seg = decode_packet(raw)[1]
        except MalformedPacket:
            continue
        if (seg.flags & (Flags.SYN | Flags.ACK) == Flags.SYN | Flags.ACK
                and seg.src_port == slot.local_port and seg.dst_port == slot.peer_port):
            return seg
    return None


def _mutated(w: World, r: Reader) -> tuple[bytes, Slot]:
    raw, slot = _segment(w, r)
    buf = bytearray(raw)
    for _ in range(r.u8() % 5):
        pos, value = r.u16(), r.u8()
        if not buf:
            break
        if value == 0xFF and pos & 1:
            del buf[pos % len(buf) :]
        else:
            buf[pos % len(buf)] = value
    return bytes(buf), slot


def _user(w: World, r: Reader) -> Connection | None:
    slot = w.slots[r.u8() % len(w.slots)]
    call = _USER_CALLS[r.u8() % len(_USER_CALLS)]
    n = r.u16()
    conn = slot.conn
    if conn is None:
        if call == "read":
            w.target.accept(slot.local_port)  # takes one if the queue holds any
        return None
    now = w.now
    try:
        match call:
            case "send":
                conn.send(bytes([n & 0xFF]) * n, now=now)
            case "urgent":
                conn.send(b"!" * (n % 64 + 1), now=now, urgent=True)
            case "read":
                conn.read(n)
            case "shutdown":
                conn.shutdown(now=now)
            case "close":
                conn.close(now=now)
            case "abort":
                conn.abort(now=now)
            case "keepalive":
                conn.set_keepalive(bool(n & 1), idle=float(n % 300 + 1), interval=1.0,
                                   count=n % 9 + 1)
            case "nodelay":
                conn.set_nodelay(bool(n & 1))
    except LocalProtocolError:
        pass  # API misuse for the connection's state: the caller's error, allowed
    return conn


def _pump(w: World) -> None:
    for raw in w.to_peer:
        w.peer.receive(raw, w.now)
    w.to_peer = []
    for raw in w.peer.packets_to_send(w.now):
        w.target.receive(raw, w.now)


def _apply(w: World, r: Reader) -> tuple[float | None, Connection | None]:
    """Apply the next operation. Returns the time timers fired at, if they
    did, and the connection the operation was aimed at, if any."""
    op = STACK_OPS[r.u8() % len(STACK_OPS)]
    match op:
        case "segment":
            raw, slot = _segment(w, r)
            w.target.receive(raw, w.now)
            return None, slot.conn
        case "mutated":
            raw, slot = _mutated(w, r)
            w.target.receive(raw, w.now)
            return None, slot.conn
        case "raw":
            w.target.receive(r.take(r.u16() % 2048), w.now)
        case "wait":
            w.now += _WAITS[r.u8() % len(_WAITS)]
            w.target.handle_timer(w.now)
            return w.now, None
        case "user":
            return None, _user(w, r)
        case "pump":
            _pump(w)
    return None, None


_WORLD: World | None = None


def base_world() -> World:
    """The world every stack input starts from (built once per process)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World.build()
    return _WORLD


def stack_one_input(data: bytes) -> World:
    """Run the stack target on one input: its operations on a fresh world
    (see :data:`STACK_OPS`), then time let run to the next deadlines a few
    times (:meth:`World.settle`).

    Checked after each operation: the output, and the invariants of the
    connection it was aimed at (of every connection after timers fired);
    after the operations and after each step of time: the invariants of every
    connection and of the stack.

    Returns:
        The world after the input (for tests).

    Raises:
        InvariantViolation: an invariant broke.
        Anything else: an escape (a bug), except
            :class:`~tcpstack.errors.LocalProtocolError` from a user call,
            which is caught.
    """
    w = base_world().fresh()
    r = Reader(data)
    ops = 0
    while r.remaining and ops < _MAX_OPS:
        fired_at, conn = _apply(w, r)
        w.emit()
        if fired_at is not None:
            check_stack(w.target, now=fired_at)
        elif conn is not None:
            check_connection(conn)
        ops += 1
    check_stack(w.target)
    w.settle()
    return w


# ----------------------------------------------------------------------
# Seeds from real traces
# ----------------------------------------------------------------------

SEED_SCENARIOS = ("lifecycle", "half-close", "fast-retransmit", "zero-window",
                  "simultaneous-close", "simultaneous-open", "refused", "half-open",
                  "keepalive", "lost-final-ack", "retransmission")
"""Scenarios whose captures make the default seed corpus."""


def scenario_packets(names: Sequence[str] = SEED_SCENARIOS,
                     seed: int = 1) -> dict[str, list[bytes]]:
    """The packets of each named scenario, as ``tcpstack demo NAME --pcap`` captures them.

    Raises:
        KeyError: an unknown scenario name.
    """
    from ..scenarios import ScenarioOptions, get_scenario

    return {name: [raw for _, raw in get_scenario(name).run(ScenarioOptions(seed=seed))
                   .network.packets] for name in names}


def seeds_from_captures(captures: Iterable[Iterable[bytes]]) -> tuple[list[bytes], list[bytes]]:
    """:func:`seeds_from_packets` for several captures, concatenated."""
    parser: list[bytes] = []
    stack: list[bytes] = []
    for packets in captures:
        p, s = seeds_from_packets(packets)
        parser += p
        stack += s
    return parser, stack


def seeds_from_packets(packets: Iterable[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Seed inputs of both targets from the IP packets of one capture (a real trace).

    Parser seeds: each packet as a ``raw`` input and its TCP segment as an
    ``ipv4`` / ``ipv6`` input. Stack seeds: per connection of the trace, a
    ``segment`` operation for each of its packets, with sequence numbers
    relative to the sender's ISN and acknowledgments relative to the
    receiver's (as tcpdump shows them), so that replaying a conversation
    against a slot of the world gives plausible numbers; the conversation
    aimed at every slot, in one input per slot.

    Returns:
        ``(parser seeds, stack seeds)``.
    """
    parser: list[bytes] = []
    conversations: dict[tuple[object, ...], list[Segment]] = {}
    isn: dict[tuple[object, ...], int] = {}
    for raw in packets:
        try:
            ip, seg = decode_packet(raw)
        except MalformedPacket:
            continue
        mode = 1 if ip.src.version == 4 else 2
        parser.append(b"\0" + raw)
        parser.append(bytes([mode]) + seg.encode(ip.src, ip.dst))
        a, b = (ip.src, seg.src_port), (ip.dst, seg.dst_port)
        key = (min(a, b), max(a, b))
        conversations.setdefault(key, []).append(seg)
        if seg.has(Flags.SYN):
            isn.setdefault(a, seg.seq)
    stack: list[bytes] = []
    world_slots = len(WORLD_STATES) + 2  # and the two listeners
    for segs in conversations.values():
        ops = bytearray()
        for seg in segs[:_SEED_OPS]:
            ops += _segment_op(seg, isn)
        for slot in range(world_slots):
            stack.append(bytes(_retarget(ops, slot)))
    return parser, stack


_SEED_OPS = 24
"""Segments of a captured conversation replayed per stack seed."""


def _segment_op(seg: Segment, isn: dict[tuple[object, ...], int]) -> bytes:
    """One ``segment`` operation (slot 0, patched by :func:`_retarget`) for ``seg``."""
    from ..wire import encode_options

    sender_isn = next((v for (addr, port), v in isn.items() if port == seg.src_port), 0)
    receiver_isn = next((v for (addr, port), v in isn.items() if port == seg.dst_port), 0)
    rel_seq = seq_diff(seg.seq, sender_isn) % SEQ_MOD
    rel_ack = seq_diff(seg.ack, receiver_isn) % SEQ_MOD if seg.has(Flags.ACK) else 0
    options = encode_options(seg.options)[:40]
    chunk = seg.payload[:16]
    repeat = min(128, max(1, len(seg.payload) // 16)) if chunk else 1
    return (bytes([STACK_OPS.index("segment"), 0, int(seg.flags), 0, 0])
            + rel_seq.to_bytes(4, "big") + rel_ack.to_bytes(4, "big")
            + struct.pack("!HH", seg.window, seg.urgent)
            + bytes([len(options)]) + options + bytes([len(chunk)]) + chunk
            + (bytes([repeat - 1]) if chunk else b""))


def _retarget(ops: bytearray, slot: int) -> bytearray:
    """``ops`` (a run of :func:`_segment_op` operations) aimed at ``slot``."""
    out = bytearray(ops)
    pos = 0
    while pos < len(out):
        out[pos + 1] = slot
        opt_len = out[pos + 17]
        pos += 18 + opt_len
        chunk = out[pos]
        pos += 1 + chunk + (1 if chunk else 0)
    return out


# ----------------------------------------------------------------------
# Seeded mutation (no atheris needed)
# ----------------------------------------------------------------------


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A libFuzzer-like random edit of ``data``: flip, set, insert, erase,
    duplicate or splice bytes (one to four edits)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        n = len(buf)
        if n == 0 or kind == 2:
            pos = rng.randint(0, n)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif kind == 0:
            pos = rng.randrange(n)
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[rng.randrange(n)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif kind == 3:
            pos = rng.randrange(n)
            del buf[pos : pos + rng.randint(1, 8)]
        elif kind == 4:
            pos = rng.randrange(n)
            end = min(n, pos + rng.randint(1, 32))
            buf[pos:pos] = buf[pos:end]
        else:
            pos = rng.randrange(n)
            buf[pos : pos + 4] = rng.randrange(SEQ_MOD).to_bytes(4, "big")
    return bytes(buf)


@dataclass
class MutationRun:
    """What :func:`run_mutations` did.

    Attributes:
        inputs: inputs run (seeds included).
        escapes: inputs that raised something other than an invariant violation.
        violations: inputs that broke an invariant.
        findings: the first few failing inputs with their exception text.
    """

    inputs: int = 0
    escapes: int = 0
    violations: int = 0
    findings: list[tuple[bytes, str]] = field(default_factory=list)


def run_mutations(target: Callable[[bytes], object], seeds: Sequence[bytes], inputs: int,
                  *, seed: int = 0, keep: int = 5) -> MutationRun:
    """Run ``target`` on every seed, then on random mutations of earlier inputs
    until ``inputs`` have run; failures are counted and the first ``keep`` kept.

    Deterministic for a given ``seed``.
    """
    rng = random.Random(f"fuzz-mutations/{seed}")
    pool = list(seeds) or [b""]
    result = MutationRun()
    for i in range(inputs):
        data = pool[i] if i < len(pool) and i < len(seeds) else mutate(rng.choice(pool), rng)
        try:
            target(data)
        except InvariantViolation as exc:
            result.violations += 1
            _keep(result, data, exc, keep)
        except Exception as exc:  # an escape: exactly what this run looks for
            result.escapes += 1
            _keep(result, data, exc, keep)
        else:
            if len(pool) < 4096 and rng.random() < 0.1:
                pool.append(data)
        result.inputs += 1
    return result


def _keep(result: MutationRun, data: bytes, exc: BaseException, keep: int) -> None:
    if len(result.findings) < keep:
        result.findings.append((data, f"{type(exc).__name__}: {exc}"))


# ----------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------

TARGETS: dict[str, Callable[[bytes], object]] = {
    "parser": parser_one_input,
    "stack": stack_one_input,
}


def _load_atheris() -> types.ModuleType | None:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


def _instrument(atheris: types.ModuleType) -> int:
    """Add atheris's coverage instrumentation to every tcpstack function; return how many."""
    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith("tcpstack"):
            try:
                atheris.instrument_func(obj)
                count += 1
            except Exception:  # a function atheris cannot rewrite: left uninstrumented
                continue
    return count


def write_seeds(out: Path, pcaps: Sequence[Path]) -> tuple[int, int]:
    """Write the seed corpora ``out/parser`` and ``out/stack`` from ``pcaps``
    (or, when empty, from the captures of :data:`SEED_SCENARIOS`); return the counts."""
    if pcaps:
        from ..tools.pcap import read_pcap

        captures = [[raw for _, raw in read_pcap(path)] for path in pcaps]
    else:
        captures = list(scenario_packets().values())
    parser, stack = seeds_from_captures(captures)
    for name, seeds in (("parser", parser), ("stack", stack)):
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(seeds):
            (d / f"seed-{i:05d}").write_bytes(data)
    return len(parser), len(stack)


def _parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(
        prog="python -m tcpstack.harness.fuzz",
        description="Fuzz the packet parser or a Stack holding a connection in every state.",
        epilog="examples:\n"
        "  python -m tcpstack.harness.fuzz seeds corpus\n"
        "  python -m tcpstack.harness.fuzz parser corpus/parser -- -max_total_time=600\n"
        "  python -m tcpstack.harness.fuzz stack corpus/stack -- -max_total_time=600 -jobs=1\n"
        "  python -m tcpstack.harness.fuzz stack crash-0123abcd     (replay one input)\n"
        "  python -m tcpstack.harness.fuzz stack --replay corpus/stack (every input once)\n"
        "  python -m tcpstack.harness.fuzz mutate stack --inputs 100000 --seed 1\n"
        "Arguments after -- go to libFuzzer (atheris).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    for name in TARGETS:
        p = sub.add_parser(name, help=f"fuzz the {name} target with atheris (or replay files)")
        p.add_argument("paths", nargs="*", type=Path,
                       help="corpus directories and/or input files (files alone: replay)")
        p.add_argument("--replay", action="store_true",
                       help="run every input of the files and directories once, without "
                            "atheris (e.g. under coverage), and stop")
    s = sub.add_parser("seeds", help="write seed corpora DIR/parser and DIR/stack")
    s.add_argument("out", type=Path)
    s.add_argument("--pcap", type=Path, nargs="*", default=[],
                   help="captures to take packets from (tcpstack demo NAME --pcap FILE); "
                        "default: run the seed scenarios in-process")
    m = sub.add_parser("mutate", help="run a target on seeded random mutations (no atheris)")
    m.add_argument("target", choices=list(TARGETS))
    m.add_argument("--inputs", type=int, default=10_000)
    m.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv), extra


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module docstring); returns the exit status."""
    args, extra = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "seeds":
        try:
            n_parser, n_stack = write_seeds(args.out, args.pcap)
        except (OSError, ValueError) as exc:
            print(f"tcpstack fuzz: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {n_parser} parser and {n_stack} stack seeds under {args.out}")
        return 0
    if args.command == "mutate":
        if args.inputs < 1:
            print("tcpstack fuzz: --inputs must be >= 1", file=sys.stderr)
            return 2
        parser, stack = seeds_from_captures(scenario_packets().values())
        seeds = parser if args.target == "parser" else stack
        run = run_mutations(TARGETS[args.target], seeds, args.inputs, seed=args.seed)
        print(f"{args.target}: {run.inputs} inputs, {run.escapes} escapes, "
              f"{run.violations} invariant violations")
        for data, text in run.findings:
            print(f"  {text}\n    input: {data.hex()}")
        return 1 if run.findings else 0
    target = TARGETS[args.command]
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"tcpstack fuzz: no such file or directory: {missing[0]}", file=sys.stderr)
        return 2
    if args.replay or (args.paths and all(p.is_file() for p in args.paths)):
        files = [f for p in args.paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
        for path in files:  # replay, atheris or not: a failure raises with its traceback
            target(path.read_bytes())
        print(f"{args.command}: {len(files)} inputs replayed, no escape, no invariant violation")
        return 0
    atheris = _load_atheris()
    if atheris is None:
        print("tcpstack fuzz: atheris is not installed (pip install 'tcpstack[fuzz]'; "
              "CPython 3.11 on Linux x86-64 has wheels)", file=sys.stderr)
        return 2
    if args.command == "stack":
        base_world()  # built before instrumenting: every input starts from a copy
    count = _instrument(atheris)
    print(f"tcpstack fuzz: {count} tcpstack functions instrumented", file=sys.stderr)

    def one(data: bytes) -> None:
        target(data)

    atheris.Setup([sys.argv[0], *extra, *map(str, args.paths)], one)
    atheris.Fuzz()
    return 0  # pragma: no cover - atheris.Fuzz() exits the process


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
