"""Stateful fuzzing of a pair of stacks (issue 12, item 6): hypothesis drives
two Stacks wired back to back through random user calls, time, a hostile
network and forged segments, and checks after every step that

* nothing escaped (a peer never makes the core raise, DESIGN.md rule 4; a
  user call raises only ``LocalProtocolError``);
* every TCB of both stacks keeps the invariants of
  :func:`tcpstack.harness.fuzz.check_stack` (sequence variables, windows,
  buffers within configuration, timers consistent, the stack's timer heap)
  and everything sent is well formed (:func:`~tcpstack.harness.fuzz.check_output`);
* data integrity: what one end has read is a prefix of what the other end's
  application sent, and all of it once the peer's FIN was read, unless a
  forged segment reached that connection (TCP cannot tell a forged in-window
  segment from the peer's). Loss, duplication, reordering, corruption and
  resets never break it.

The network is a list of packets in flight that the rules deliver in any
order, drop, duplicate or corrupt; time moves only when a rule says so.

Profiles (``HYPOTHESIS_PROFILE``): ``stateful-pair-ci`` (the default,
bounded for CI: 60 runs of up to 50 steps, derandomized, a few seconds of
CPU) and ``stateful-pair-long`` for a campaign (20,000 runs of up to 150
steps, random; ``TCPSTACK_STATEFUL_EXAMPLES`` changes the number of runs)::

    HYPOTHESIS_PROFILE=stateful-pair-long TCPSTACK_STATEFUL_EXAMPLES=1500 \
    TCPSTACK_STATEFUL_REPORT=1 python -m pytest -q -s tests/torture/test_stateful_pair.py

(``TCPSTACK_STATEFUL_REPORT=1`` prints what the runs did: steps checked,
connections, bytes read, ...)
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.errors import LocalProtocolError, MalformedPacket
from tcpstack.harness.fuzz import check_output, check_stack
from tcpstack.seq import seq_add
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.wire import Flags, Segment, decode_packet, encode_packet

settings.register_profile(
    "stateful-pair-ci",
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
settings.register_profile(
    "stateful-pair-long",
    max_examples=int(os.environ.get("TCPSTACK_STATEFUL_EXAMPLES", "20000")),
    stateful_step_count=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "stateful-pair-ci")
if not PROFILE.startswith("stateful-pair-"):
    PROFILE = "stateful-pair-ci"  # another suite's profile name: keep ours bounded

CLIENT, SERVER = "192.0.2.1", "198.51.100.1"
PORT = 80
MAX_FLIGHT = 200
MAX_CONNECTIONS = 4

# Short timers so that time rules reach retransmission, R2, TIME-WAIT and
# keep-alive expiry within a few steps.
CONFIG = TcpConfig(msl=5.0, r2=30.0, r2_syn=20.0, send_buffer=16384, recv_buffer=8192)


def pattern(stream: int, start: int, n: int) -> bytes:
    """Bytes ``start`` .. ``start + n`` of stream number ``stream``: a misplaced
    byte never matches (period 251, offset by the stream)."""
    return bytes((stream * 31 + start + k) % 251 for k in range(n))


@dataclass
class End:
    """One application end: what it sent and read, and whether forged segments
    reached its connection."""

    conn: Connection
    stream: int
    sent: bytearray = field(default_factory=bytearray)
    read: bytearray = field(default_factory=bytearray)
    forged: bool = False

    @property
    def key(self) -> tuple[str, int, str, int]:
        return (str(self.conn.local.address), self.conn.local.port,
                str(self.conn.remote.address), self.conn.remote.port)


class PairMachine(RuleBasedStateMachine):
    """Two stacks, their applications and the packets between them."""

    def __init__(self) -> None:
        super().__init__()
        self.stacks = {
            CLIENT: Stack(CLIENT, name="client", config=CONFIG, rng=random.Random(1)),
            SERVER: Stack(SERVER, name="server", config=CONFIG, rng=random.Random(2)),
        }
        self.stacks[SERVER].listen(PORT, backlog=8, now=0.0)
        self.now = 0.0
        self.flight: list[tuple[str, bytes]] = []  # (destination address, packet)
        self.ends: list[End] = []
        self.forged_keys: set[tuple[str, int, str, int]] = set()

    # -- plumbing -------------------------------------------------------------------

    def _flush(self) -> None:
        for addr, stack in self.stacks.items():
            out = stack.packets_to_send(self.now)
            segs = check_output(stack, out)
            other = SERVER if addr == CLIENT else CLIENT
            self.flight += [(other, raw) for raw in out]
            assert all(seg.dst_port for seg in segs)
            while stack.next_event() is not None:
                pass
        del self.flight[:-MAX_FLIGHT]

    def _end(self, i: int) -> End | None:
        return self.ends[i % len(self.ends)] if self.ends else None

    def _user(self, i: int, call: str, *args: object, **kwargs: object) -> object:
        end = self._end(i)
        if end is None:
            return None
        try:
            return getattr(end.conn, call)(*args, **kwargs)
        except LocalProtocolError:
            return None  # the call is not allowed in this state: the caller's error

    def _forge(self, dst: str, raw: bytes) -> None:
        """Deliver a forged packet; mark the connection it names, if any."""
        try:
            ip, seg = decode_packet(raw)
            self.forged_keys.add((str(ip.dst), seg.dst_port, str(ip.src), seg.src_port))
        except MalformedPacket:
            pass
        self.stacks[dst].receive(raw, self.now)

    # -- user calls -------------------------------------------------------------------

    @initialize(requests=st.integers(0, 2), greeting=st.sampled_from([0, 100, 5000]))
    def open_a_connection(self, requests: int, greeting: int) -> None:
        """Every run starts with one connection open and accepted, ``greeting``
        bytes sent each way and read (and ``requests`` more connects on their
        way), so that data moves and is checked from the first step."""
        self.connect(PORT)
        self.deliver_all(3)
        self.accept()
        if greeting:
            self.send(0, greeting)
            self.send(1, greeting)
            self.deliver_all(4, then_read=True)
        for _ in range(requests):
            self.connect(PORT)
            self._flush()

    @precondition(lambda self: len(self.ends) < 2 * MAX_CONNECTIONS)
    @rule(port=st.sampled_from([PORT, PORT, PORT, PORT + 1]))
    def connect(self, port: int) -> None:
        conn = self.stacks[CLIENT].connect(SERVER, port, now=self.now)
        self.ends.append(End(conn, len(self.ends)))

    @rule()
    def accept(self) -> None:
        conn = self.stacks[SERVER].accept(PORT)
        if conn is not None:
            self.ends.append(End(conn, len(self.ends)))

    def send(self, i: int, n: int, urgent: bool = False) -> None:
        end = self._end(i)
        if end is None:
            return
        data = pattern(end.stream, len(end.sent), n)
        accepted = self._user(i, "send", data, self.now, urgent=urgent)
        if isinstance(accepted, int):
            end.sent += data[:accepted]

    def read(self, i: int, n: int) -> None:
        end = self._end(i)
        if end is not None:
            got = self._user(i, "read", n)
            if isinstance(got, bytes):
                end.read += got

    @rule(i=st.integers(0, 15),
          call=st.sampled_from(["send", "send", "send", "send-urgent", "read", "read",
                                "shutdown", "close", "abort", "keepalive-on",
                                "keepalive-off"]),
          n=st.sampled_from([1, 100, 1460, 3000, 20000, -1]))
    def user(self, i: int, call: str, n: int) -> None:
        """A user call on one connection (weighted towards moving data)."""
        match call:
            case "send" | "send-urgent":
                self.send(i, abs(n), urgent=call == "send-urgent")
            case "read":
                self.read(i, n)
            case "keepalive-on" | "keepalive-off":
                self._user(i, "set_keepalive", call == "keepalive-on",
                           idle=0.5 if n < 100 else 5.0, interval=1.0, count=3)
            case _:
                self._user(i, call, self.now)

    @rule()
    def applications_read(self) -> None:
        """Every application reads all it can (as an event loop would)."""
        for i in range(len(self.ends)):
            self.read(i, -1)

    # -- time -------------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.001, 0.05, 0.2, 1.0, 3.0, 11.0, 40.0]))
    def wait(self, dt: float) -> None:
        self.now += dt
        for stack in self.stacks.values():
            stack.handle_timer(self.now)
        self._flush()
        for stack in self.stacks.values():
            check_stack(stack, now=self.now)  # nothing left due

    @rule(steps=st.integers(1, 6))
    def run_timers(self, steps: int) -> None:
        """Jump to the next deadlines, as a driver would."""
        for _ in range(steps):
            due = [t for s in self.stacks.values() if (t := s.next_timer()) is not None]
            if not due:
                return
            self.now = max(self.now, min(due))
            for stack in self.stacks.values():
                stack.handle_timer(self.now)
            self._flush()

    # -- the network ------------------------------------------------------------------

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(0, MAX_FLIGHT))
    def deliver_one(self, i: int) -> None:
        """Deliver one packet in flight, any of them: reordering."""
        dst, raw = self.flight.pop(i % len(self.flight))
        self.stacks[dst].receive(raw, self.now)

    @precondition(lambda self: self.flight)
    @rule(rounds=st.integers(1, 4), then_read=st.booleans())
    def deliver_all(self, rounds: int, then_read: bool = False) -> None:
        """Deliver everything in order, and what that draws, ``rounds`` times;
        ``then_read``: then every application reads all it can."""
        for _ in range(rounds):
            batch, self.flight = self.flight, []
            for dst, raw in batch:
                self.stacks[dst].receive(raw, self.now)
            self._flush()
        if then_read:
            self.applications_read()

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(0, MAX_FLIGHT), how=st.sampled_from(["lose", "duplicate", "corrupt"]),
          pos=st.integers(0, 2000), value=st.integers(1, 255))
    def mess(self, i: int, how: str, pos: int, value: int) -> None:
        """Lose, duplicate or corrupt one packet in flight (a corrupted byte must
        be caught by the checksums: it never counts as forged)."""
        j = i % len(self.flight)
        dst, raw = self.flight[j]
        if how == "lose":
            del self.flight[j]
        elif how == "duplicate":
            self.flight.append(self.flight[j])
        else:
            buf = bytearray(raw)
            buf[pos % len(buf)] ^= value
            self.flight[j] = (dst, bytes(buf))

    # -- forged segments --------------------------------------------------------------

    @rule(kind=st.sampled_from(["random", "mutated", "near"]), i=st.integers(0, MAX_FLIGHT),
          name=st.sampled_from(["flags", "seq", "ack", "window", "payload", "urgent"]),
          value=st.integers(0, 2**32 - 1),
          seq_off=st.sampled_from([-70000, -1, 0, 1, 1000, 8192, 2**31]),
          ack_off=st.sampled_from([-70000, -1, 0, 1, 2**31]),
          data=st.binary(max_size=80))
    def forge(self, kind: str, i: int, name: str, value: int, seq_off: int, ack_off: int,
              data: bytes) -> None:
        """A forged packet: random bytes; a packet in flight with one field
        changed and its checksum made valid again; or a segment on a
        connection's 4-tuple near its own sequence numbers."""
        if kind == "random":
            self._forge(SERVER if value & 1 else CLIENT, data)
        elif kind == "mutated" and self.flight:
            dst, raw = self.flight[i % len(self.flight)]
            try:
                ip, seg = decode_packet(raw)
            except MalformedPacket:
                return
            fields: dict[str, object] = {
                "flags": Flags(value & 0xFF), "seq": value, "ack": value,
                "window": value & 0xFFFF, "urgent": value & 0xFFFF, "payload": data[:40],
            }
            seg = dataclasses.replace(seg, **{name: fields[name]})
            self._forge(dst, encode_packet(ip.src, ip.dst, seg))
        elif kind == "near" and (end := self._end(i)) is not None:
            conn = end.conn
            seg = Segment(conn.remote.port, conn.local.port,
                          seq=seq_add(conn.rcv_nxt, seq_off),
                          ack=seq_add(conn.snd_una, ack_off), flags=Flags(value & 0xFF),
                          window=4096, payload=data[:40])
            self._forge(str(conn.local.address),
                        encode_packet(conn.remote.address, conn.local.address, seg))

    # -- after every step -------------------------------------------------------------

    @invariant()
    def tcbs_keep_their_invariants(self) -> None:
        RUN_STATS["steps checked"] += 1
        self._flush()
        for stack in self.stacks.values():
            check_stack(stack)

    def _peer(self, end: End) -> End | None:
        """The other end of the same incarnation: the mirrored 4-tuple, and its
        ISS is our IRS."""
        conn = end.conn
        mirrored = (str(conn.remote.address), conn.remote.port,
                    str(conn.local.address), conn.local.port)
        for other in self.ends:
            if other.key == mirrored and other.conn.iss == conn.irs:
                return other
        return None

    @invariant()
    def what_is_read_is_what_was_sent(self) -> None:
        for end in self.ends:
            peer = self._peer(end)
            if peer is None or end.key in self.forged_keys:
                continue
            got, conn = bytes(end.read), end.conn
            assert bytes(peer.sent[: len(got)]) == got, (conn, len(got), len(peer.sent))
            if conn.at_eof:
                # The peer's FIN was read: every byte before it arrived.
                assert got == bytes(peer.sent), (conn, len(got), len(peer.sent))

    @invariant()
    def closed_connections_hold_no_timers(self) -> None:
        for end in self.ends:
            if end.conn.state is State.CLOSED:
                assert end.conn.next_timer() is None, end.conn


    def teardown(self) -> None:
        RUN_STATS["runs"] += 1
        for end in self.ends:
            RUN_STATS["connections"] += 1
            RUN_STATS["bytes read"] += len(end.read)
            if end.key not in self.forged_keys and self._peer(end) is not None:
                RUN_STATS["connections checked for integrity"] += 1
        for stack in self.stacks.values():
            RUN_STATS["packets received"] += stack.stats["packets_in"]


RUN_STATS: Counter[str] = Counter()
"""What the runs of this process did; printed at the end with
``TCPSTACK_STATEFUL_REPORT=1`` (and ``-s``): the campaign's figures."""


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if os.environ.get("TCPSTACK_STATEFUL_REPORT") == "1":
        print("\nstateful pair:", ", ".join(f"{k} {v}" for k, v in sorted(RUN_STATS.items())))


PairMachine.TestCase.settings = settings.get_profile(PROFILE)
TestStatefulPair = PairMachine.TestCase
