"""Hostile input into a Stack in every state: nothing raises, the TCB stays sane.

DESIGN.md rule 4 ("a peer can never raise") and the property-test line of
"Tests": a Stack is driven honestly into each of the eleven states (plus
SYN-RECEIVED by simultaneous open), then fed a random mix of

* random bytes;
* valid packets of that connection, mutated: bit flips, truncation, or a
  field replaced (flags, seq, ack, window, options, payload) and re-encoded
  with a correct checksum so it reaches the TCB;
* segments drawn near the connection's own numbers (in, at and just outside
  the window edges);
* the passage of time (timers fire) and user calls.

After every step: no exception escaped (only ``LocalProtocolError`` from a
user call the state forbids), every packet the stack emits decodes, and the
TCB invariants hold: SND.UNA =< SND.NXT =< SND.MAX (mod 2**32), RCV.WND >= 0,
the state is a :class:`~tcpstack.state.State`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tcp_script import PEER_ADDR, US_ADDR, flags, new_stack, packet, peer_seg
from wire_strategies import option_lists, u16, u32

from tcpstack.connection import Connection
from tcpstack.errors import LocalProtocolError
from tcpstack.seq import seq_add, seq_diff, seq_le
from tcpstack.state import State
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    WindowScale,
    decode_packet,
    encode_packet,
)

EXAMPLES = int(os.environ.get("TCPSTACK_FUZZ_EXAMPLES", "120"))
"""Examples per state; raise it for a deeper local run (the default keeps the suite fast)."""

PEER_ISN = 0xFFFF_FF00  # near the wrap, to exercise modulo arithmetic
LOCAL_PORT = 40000

# ----------------------------------------------------------------------
# Driving a Stack into each state, packet by packet
# ----------------------------------------------------------------------


class Driver:
    """A Stack plus the one connection under test, reached through scripted packets."""

    def __init__(self, *, negotiate: bool = False) -> None:
        # negotiate: the peer offers SACK, timestamps and window scaling on its
        # SYN and sends timestamps on every segment, so loss recovery, PAWS and
        # scaled windows are exercised too.
        self.negotiate = negotiate
        self.stack = new_stack()
        self.stack.listen(80)
        self.conn: Connection | None = None
        self.peer_next = PEER_ISN  # the scripted peer's SND.NXT
        self.sport = 80  # the peer's port
        self.dport = LOCAL_PORT
        self.t = 0.0

    def step(self, dt: float = 0.05) -> float:
        self.t += dt
        return self.t

    def peer(self, letters: str, *, data: bytes = b"", ack_back: int = 0) -> None:
        """The peer sends in order, acknowledging all we sent but ``ack_back`` octets."""
        conn = self.conn
        ack = seq_add(conn.snd_max, -ack_back) if conn is not None else 0
        options: tuple[TcpOption, ...] = ()
        if self.negotiate:
            ts = Timestamps(1000 + int(self.t * 1000), 0)
            options = ((Mss(1460), SackPermitted(), ts, Nop(), WindowScale(7))
                       if "S" in letters else (Nop(), Nop(), ts))
        seg = peer_seg(
            letters,
            seq=self.peer_next,
            ack=ack,
            sport=self.sport,
            dport=self.dport,
            data=data,
            options=options,
        )
        self.stack.receive(packet(seg), self.step())
        self.peer_next = seq_add(seg.seq, seg.seg_len)
        self.flush()

    def flush(self) -> list[bytes]:
        return self.stack.packets_to_send(self.t)

    def connect(self) -> None:
        self.conn = self.stack.connect(PEER_ADDR, 80, now=self.t, local_port=LOCAL_PORT)
        self.flush()

    def accept_syn(self) -> None:
        self.sport, self.dport = 5555, 80
        self.peer("S")
        self.conn = self.stack.find(80, PEER_ADDR, 5555)

    def shutdown(self) -> None:
        assert self.conn is not None
        self.conn.shutdown(now=self.step())
        self.flush()


def _established(d: Driver) -> None:
    d.connect()
    d.peer("SA")


def _fin_wait_1(d: Driver) -> None:
    _established(d)
    d.shutdown()


def _close_wait(d: Driver) -> None:
    _established(d)
    d.peer("FA")


BUILDERS: dict[str, tuple[Callable[[Driver], None], State | None]] = {
    "closed": (lambda d: d.stack.unlisten(80), None),
    "listen": (lambda d: None, None),
    "syn_sent": (lambda d: d.connect(), State.SYN_SENT),
    "syn_received": (lambda d: d.accept_syn(), State.SYN_RECEIVED),
    "syn_received_active": (lambda d: (d.connect(), d.peer("S")), State.SYN_RECEIVED),
    "established": (_established, State.ESTABLISHED),
    "fin_wait_1": (_fin_wait_1, State.FIN_WAIT_1),
    "fin_wait_2": (lambda d: (_fin_wait_1(d), d.peer("A")), State.FIN_WAIT_2),
    "closing": (lambda d: (_fin_wait_1(d), d.peer("FA", ack_back=1)), State.CLOSING),
    "time_wait": (lambda d: (_fin_wait_1(d), d.peer("A"), d.peer("FA")), State.TIME_WAIT),
    "close_wait": (_close_wait, State.CLOSE_WAIT),
    "last_ack": (lambda d: (_close_wait(d), d.shutdown()), State.LAST_ACK),
}


def driver_in(name: str, *, negotiate: bool = False) -> Driver:
    d = Driver(negotiate=negotiate)
    build, state = BUILDERS[name]
    build(d)
    if state is not None:
        assert d.conn is not None and d.conn.state is state, (name, d.conn)
    return d


@pytest.mark.parametrize("name", list(BUILDERS))
def test_driver_reaches_the_state(name: str) -> None:
    d = driver_in(name)
    check_invariants(d)


# ----------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------


def check_conn(conn: Connection) -> None:
    assert isinstance(conn.state, State)
    assert seq_le(conn.snd_una, conn.snd_nxt), (conn, conn.snd_una, conn.snd_nxt)
    assert seq_le(conn.snd_nxt, conn.snd_max), (conn, conn.snd_nxt, conn.snd_max)
    assert conn.rcv_wnd >= 0
    assert conn.in_flight >= 0
    assert conn.readable >= 0
    assert conn.send_space >= 0
    assert 0 <= conn.snd_wnd <= 0xFFFF << 14  # RFC 7323 §2.3: shift at most 14
    if conn.state is State.CLOSED:
        assert conn.next_timer() is None


def check_invariants(d: Driver) -> None:
    conns = list(d.stack.connections)
    if d.conn is not None and d.conn not in conns:
        conns.append(d.conn)
    for conn in conns:
        check_conn(conn)


def check_output(d: Driver, raw: list[bytes]) -> None:
    for p in raw:
        ip, seg = decode_packet(p)  # everything we emit is well formed
        assert ip.src == US_ADDR
        assert ip.dst != US_ADDR
        assert not (seg.has(Flags.RST) and seg.has(Flags.SYN))


# ----------------------------------------------------------------------
# Actions
# ----------------------------------------------------------------------

FIELDS = ("flags", "seq", "ack", "window", "options", "payload")

raw_bytes = st.tuples(st.just("raw"), st.binary(max_size=120))
bit_flip = st.tuples(st.just("flip"), st.integers(0, 4), st.integers(0, 10_000), st.integers(0, 7))
truncate = st.tuples(st.just("truncate"), st.integers(0, 4), st.integers(0, 80))
replace = st.tuples(
    st.just("replace"),
    st.integers(0, 4),
    st.sampled_from(FIELDS),
    st.one_of(
        st.integers(0, 0xFF).map(Flags),
        u32,
        u16,
        option_lists(),
        st.binary(max_size=64),
    ),
)
near = st.tuples(
    st.just("near"),
    st.integers(0, 0xFF),
    st.sampled_from([-70_000, -65535, -2, -1, 0, 1, 2, 100, 65534, 65535, 65536, 2**31]),
    st.sampled_from([-70_000, -1, 0, 1, 2, 3, 5000, 2**31]),
    u16,
    st.binary(max_size=40),
)
wait = st.tuples(st.just("wait"), st.sampled_from([0.0, 0.2, 1.0, 3.0, 61.0, 250.0]))
user = st.tuples(
    st.just("user"),
    st.sampled_from(["send", "read", "shutdown", "close", "abort"]),
    st.integers(0, 3000),
)
actions = st.lists(
    st.one_of(raw_bytes, bit_flip, truncate, replace, near, near, wait, user),
    min_size=1,
    max_size=8,
)


def valid_segments(d: Driver) -> list[Segment]:
    """Five well-formed segments of the connection under test (or to the listener)."""
    conn = d.conn
    rcv_nxt = conn.rcv_nxt if conn is not None else d.peer_next
    ack = conn.snd_max if conn is not None else 0

    def mk(letters: str, data: bytes = b"") -> Segment:
        return peer_seg(letters, seq=rcv_nxt, ack=ack, sport=d.sport, dport=d.dport, data=data)

    return [mk("A"), mk("PA", b"payload!"), mk("FA"), mk("R"), mk("S")]


def apply(d: Driver, action: tuple) -> None:
    kind = action[0]
    now = d.t
    base = valid_segments(d)
    if kind == "raw":
        d.stack.receive(action[1], now)
    elif kind == "flip":
        _, i, pos, bit = action
        raw = bytearray(packet(base[i]))
        raw[pos % len(raw)] ^= 1 << bit
        d.stack.receive(bytes(raw), now)
    elif kind == "truncate":
        _, i, n = action
        raw = packet(base[i])
        d.stack.receive(raw[: n % (len(raw) + 1)], now)
    elif kind == "replace":
        _, i, name, value = action
        seg = base[i]
        try:
            seg = dataclasses.replace(seg, **{name: _coerce(name, value)})
            raw = encode_packet(PEER_ADDR, US_ADDR, seg)
        except (ValueError, TypeError):
            return  # the value does not fit that field: not a packet
        d.stack.receive(raw, now)
    elif kind == "near":
        _, flag_bits, seq_off, ack_off, window, data = action
        conn = d.conn
        rcv_nxt = conn.rcv_nxt if conn is not None else d.peer_next
        snd_una = conn.snd_una if conn is not None else 0
        seg = Segment(
            src_port=d.sport,
            dst_port=d.dport,
            seq=seq_add(rcv_nxt, seq_off),
            ack=seq_add(snd_una, ack_off),
            flags=Flags(flag_bits),
            window=window,
            payload=data,
        )
        d.stack.receive(packet(seg), now)
    elif kind == "wait":
        d.step(action[1])
        d.stack.handle_timer(d.t)
    elif kind == "user":
        _, call, n = action
        conn = d.conn
        if conn is None:
            return
        try:
            if call == "send":
                conn.send(bytes(n), now=now)
            elif call == "read":
                conn.read(n)
            else:
                getattr(conn, call)(now=now)
        except LocalProtocolError:
            pass  # API misuse for this state is the caller's error, and allowed to raise


def _coerce(name: str, value: object) -> object:
    """Fit a drawn value to a Segment field (hypothesis draws one union for all)."""
    if name == "flags":
        return value if isinstance(value, Flags) else Flags(int(value) & 0xFF)  # type: ignore[call-overload]
    if name in ("seq", "ack"):
        return value if isinstance(value, int) else 0
    if name == "window":
        return value & 0xFFFF if isinstance(value, int) else 0
    if name == "options":
        return value if isinstance(value, tuple) else ()
    if name == "payload":
        return value if isinstance(value, bytes) else b""
    raise AssertionError(name)


@pytest.mark.parametrize("negotiate", [False, True], ids=["plain", "sack-ts-wscale"])
@pytest.mark.parametrize("name", list(BUILDERS))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=actions)
def test_random_input_never_raises_and_keeps_invariants(
    name: str, negotiate: bool, steps: list
) -> None:
    d = driver_in(name, negotiate=negotiate)
    for action in steps:
        apply(d, action)
        check_invariants(d)
        out = d.stack.packets_to_send(d.t)
        check_output(d, out)
        check_invariants(d)
        d.step(0.01)
    # Whatever happened, time eventually settles every timer without raising.
    for _ in range(5):
        t = d.stack.next_timer()
        if t is None:
            break
        d.t = max(d.t, t)
        d.stack.handle_timer(d.t)
        check_output(d, d.stack.packets_to_send(d.t))
        check_invariants(d)


@settings(max_examples=3 * EXAMPLES, deadline=None)
@given(
    name=st.sampled_from(list(BUILDERS)),
    flag_bits=st.integers(0, 0xFF),
    seq_off=st.integers(-(2**31), 2**31 - 1),
    ack_off=st.integers(-(2**31), 2**31 - 1),
    window=u16,
    options=option_lists(),
    payload=st.binary(max_size=200),
)
def test_any_single_segment_in_any_state(
    name: str,
    flag_bits: int,
    seq_off: int,
    ack_off: int,
    window: int,
    options: tuple,
    payload: bytes,
) -> None:
    d = driver_in(name)
    conn = d.conn
    rcv_nxt = conn.rcv_nxt if conn is not None else d.peer_next
    snd_una = conn.snd_una if conn is not None else 0
    before = conn.state if conn is not None else None
    seg = Segment(
        src_port=d.sport,
        dst_port=d.dport,
        seq=seq_add(rcv_nxt, seq_off),
        ack=seq_add(snd_una, ack_off),
        flags=Flags(flag_bits),
        window=window,
        options=options,
        payload=payload,
    )
    d.stack.receive(packet(seg), d.step())
    out = d.stack.packets_to_send(d.t)
    check_output(d, out)
    check_invariants(d)
    if seg.has(Flags.RST):
        # An RST is never answered with an RST (§3.10.7), only maybe a challenge ACK.
        assert all(not decode_packet(p)[1].has(Flags.RST) for p in out)
    if conn is not None and before is not None and conn.state is State.CLOSED:
        # Only an RST, or an orphan's data, may close a connection at once.
        assert seg.has(Flags.RST) or before in (State.LAST_ACK,) or conn.orphaned, (
            before, seg.summary()
        )


def test_fuzz_helpers_flag_letters_round_trip() -> None:
    assert flags("SA") == Flags.SYN | Flags.ACK
    assert seq_diff(seq_add(PEER_ISN, 0x200), PEER_ISN) == 0x200
