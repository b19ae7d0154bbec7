"""The pure ACK's short cuts and the output it triggers change speed, never output.

Compared here with the general code each one short-cuts:

* an untraced connection as shipped (header prediction, with
  :meth:`LossRecovery.on_predicted_ack`; :meth:`Sender._full_segments`, which
  arms the tail loss probe once per output when no trace is kept) against
  an untraced one that takes the eight steps and the general send loop only,
  on the random scripts of the header prediction's test: the same segments,
  events and TCB (timer deadlines included) after every step; and seeded
  lossy transfers between two untraced stacks, packet for packet;
* :meth:`LossRecovery.retransmission_due` against the four ``take_*`` calls
  it stands for, after random loss-recovery histories;
* :meth:`LossRecovery.on_predicted_ack` against :meth:`LossRecovery.on_new_ack`
  for every algorithm, after random histories;
* :meth:`Timers.arm` at an unchanged deadline against arming anew.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tcp_script import RecordingTimerOwner
from test_fastpath_equivalence import SlowPath, compare_runs, establish, scripted

import tcpstack.connection as connection_module
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.apps import SendClient
from tcpstack.drivers.sim import Network
from tcpstack.harness.speed import Collector, payload, untraced
from tcpstack.recovery import LossRecovery, Phase
from tcpstack.sender import Sender
from tcpstack.timers import Timer, Timers

if not str(connection_module.__file__).endswith(".py"):
    pytest.skip("tcpstack.connection is compiled with mypyc", allow_module_level=True)


@contextmanager
def general_code() -> Iterator[None]:
    """Within: every connection takes the eight steps and the general send loop."""
    Sender.full_segments = False
    Connection.header_prediction = False
    try:
        yield
    finally:
        Sender.full_segments = True
        Connection.header_prediction = True


configs = st.builds(
    TcpConfig,
    timestamps=st.booleans(),
    sack=st.booleans(),
    congestion_control=st.sampled_from(["newreno", "cubic", "bbr", "vegas"]),
    tail_loss_probe=st.booleans(),
    cwnd_validation=st.booleans(),
    ecn=st.sampled_from(["off", "on"]),
    recv_buffer=st.sampled_from([65535, 8000]),
    quick_acks=st.sampled_from([0, 16]),
)


@scripted(configs)
def test_untraced_short_cuts_equal_the_general_code(
    config: TcpConfig, script: list[tuple[Any, ...]], ecn_ack: bool, gaps: list[float],
) -> None:
    fast = establish(Connection, config, ecn=ecn_ack, keep=False)
    with general_code():
        slow = establish(SlowPath, config, ecn=ecn_ack, keep=False)
    compare_runs(fast, slow, script, gaps, slow_context=general_code)


def _transfer(config: TcpConfig, *, loss: float, seed: int) -> tuple[list[Any], int, float]:
    """Packets of a seeded, untraced 200 kB transfer (the benchmark's applications:
    the client sends and closes, the server reads to the end and closes)."""
    net = Network(seed=seed, trace=untraced())
    sink = Collector()
    client = net.add_host("client", "192.0.2.1", config=config,
                          app=SendClient(payload(200_000, seed)))
    server = net.add_host("server", "192.0.2.2", config=config, app=sink)
    net.link(client, server, delay=0.01, loss=loss)
    server.stack.listen(80)
    net.at(0.0, lambda: client.stack.connect(server.address, 80, now=net.now))
    net.run(until=120.0)
    return net.packets, sink.received, net.now


@pytest.mark.parametrize("config", [
    TcpConfig(), TcpConfig(congestion_control="cubic"), TcpConfig(congestion_control="bbr"),
    TcpConfig(sack=False), TcpConfig(timestamps=False), TcpConfig(cwnd_validation=True),
], ids=["default", "cubic", "bbr", "nosack", "nots", "cwv"])
@pytest.mark.parametrize("loss", [0.0, 0.03])
def test_seeded_untraced_transfers_are_byte_identical(config: TcpConfig, loss: float) -> None:
    fast = _transfer(config, loss=loss, seed=5)
    with general_code():
        slow = _transfer(config, loss=loss, seed=5)
    assert fast[1] == 200_000
    assert fast == slow


# --- LossRecovery ---------------------------------------------------------------

MSS = 1000


def snapshot(obj: Any, seen: frozenset[int] = frozenset()) -> Any:
    """Every value ``obj`` holds, recursively (slots, dicts, lists), for comparison;
    a reference back to an object being walked (the scoreboard's phase) is marked."""
    if obj is None or isinstance(obj, int | float | str | bool | Phase):
        return obj
    if id(obj) in seen:
        return "<back>"
    seen = seen | {id(obj)}
    if isinstance(obj, list | tuple):
        return [snapshot(x, seen) for x in obj]
    if isinstance(obj, dict):
        return {k: snapshot(v, seen) for k, v in obj.items()}
    fields = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            fields[name] = getattr(obj, name, None)
    return type(obj).__name__, {k: snapshot(v, seen) for k, v in fields.items()}


# One step of a loss-recovery history: offsets grow with the step number.
history_step = st.tuples(
    st.sampled_from(["new", "new", "new", "dup", "dup", "sack", "sack", "send", "rto", "tlp",
                     "retrans", "retrans", "ecn", "take", "take"]),
    st.integers(min_value=0, max_value=8),
)


def play(rec: LossRecovery, history: list[tuple[str, int]]) -> tuple[int, int, float]:
    """Drive ``rec`` through ``history``; return SND.UNA's and HighData's offsets
    and the time after it."""
    una, high, now = 0, 10 * MSS, 1.0
    for kind, k in history:
        now += 0.01
        if kind == "new":
            acked = (k % 3 + 1) * MSS
            if una + acked > high:
                high += 4 * MSS
            una += acked
            rec.on_cumulative_ack(una)
            rec.on_new_ack(acked=acked, una_off=una, in_flight=high - una, now=now,
                           high_data_off=high, rtt=0.05 if k % 2 else None, srtt=0.05)
            high += acked
        elif kind == "dup":
            rec.on_duplicate_ack(una_off=una, high_data_off=high, in_flight=high - una,
                                 unsent=k * MSS, mss=MSS, dupthresh=3)
        elif kind == "sack" and rec.uses_sack:
            # a block k segments above SND.UNA (even k) or below HighData (odd k)
            left = (min(una + (k + 1) * MSS, high - MSS) if k % 2 == 0
                    else max(una + MSS, high - k * MSS))
            rec.on_sack(una, [(left, left + MSS)], now)
        elif kind == "send":
            high += k * MSS
        elif kind == "rto":
            rec.on_rto(una_off=una, high_data_off=high, in_flight=high - una)
        elif kind == "tlp":
            rec.on_tlp_timeout(in_flight=high - una, unsent=k * 300, window_left=k * 500,
                               seg_size=MSS, una_off=una, high_data_off=high)
        elif kind == "retrans":
            rec.note_retransmission(una + k * MSS, high, MSS)
        elif kind == "ecn":
            rec.on_ecn_echo(una_off=una, flight_size=high - una)
        elif kind == "take":  # the sender took one kind of retransmission
            if k % 4 == 0:
                rec.take_head_retransmission()
            elif k % 4 == 1:
                rec.take_tlp_retransmission()
            elif k % 4 == 2:
                rec.take_tlp_new_data()
            else:
                rec.take_lost_retransmissions(una)
    return una, high, now


def recovery(algorithm: str, sack: bool, cwv: bool) -> LossRecovery:
    rec = LossRecovery(algorithm, MSS, cwnd_validation=cwv)
    if sack:
        rec.use_sack(MSS, 3)
    return rec


algorithms = st.sampled_from(["newreno", "cubic", "bbr", "vegas"])
histories = st.lists(history_step, max_size=60)


@settings(max_examples=300, deadline=None)
@given(algorithm=algorithms, sack=st.booleans(), cwv=st.booleans(), history=histories)
# Only a retransmission found lost again is due (rare in random histories)
@example(algorithm="newreno", sack=True, cwv=False, history=[
    ("sack", 6), ("sack", 2), ("send", 7), ("sack", 4), ("dup", 1), ("take", 0),
    ("retrans", 4), ("send", 8), ("new", 2), ("sack", 7)])
def test_retransmission_due_says_whether_a_take_finds_something(
    algorithm: str, sack: bool, cwv: bool, history: list[tuple[str, int]],
) -> None:
    rec = recovery(algorithm, sack, cwv)
    una, _, _ = play(rec, history)
    taker = copy.deepcopy(rec)
    before = snapshot(taker)
    found = (taker.take_head_retransmission(), taker.take_tlp_retransmission(),
             taker.take_lost_retransmissions(una), taker.take_tlp_new_data())
    something = found != (False, None, [], False) or snapshot(taker) != before
    assert rec.retransmission_due() == something
    if not rec.retransmission_due():
        assert snapshot(taker) == before  # the takes would have changed nothing


@settings(max_examples=300, deadline=None)
@given(algorithm=algorithms, sack=st.booleans(), cwv=st.booleans(), history=histories,
       acked=st.integers(min_value=1, max_value=4 * MSS), rtt=st.sampled_from([None, 0.04]),
       srtt=st.sampled_from([None, 0.05]))
def test_on_predicted_ack_equals_on_new_ack(
    algorithm: str, sack: bool, cwv: bool, history: list[tuple[str, int]], acked: int,
    rtt: float | None, srtt: float | None,
) -> None:
    """In the phase header prediction allows (OPEN), for every algorithm, with and
    without a scoreboard or RFC 7661: the same state after either call."""
    general = recovery(algorithm, sack, cwv)
    una, high, now = play(general, history)
    if general.phase is not Phase.OPEN:
        general.on_new_ack(acked=high - una, una_off=high, in_flight=0, now=now,
                           high_data_off=high)  # everything acknowledged: OPEN again
        una = high
    high += 2 * acked
    predicted = copy.deepcopy(general)
    una += acked
    general.on_new_ack(acked=acked, una_off=una, in_flight=high - una, now=now + 0.01,
                       high_data_off=high, sacked=0, rtt=rtt, srtt=srtt, ece=False)
    predicted.on_predicted_ack(acked, una, high - una, now + 0.01, high, rtt, srtt)
    assert snapshot(predicted) == snapshot(general)


# --- Timers ----------------------------------------------------------------------


@pytest.mark.parametrize("tracing", [True, False])
@pytest.mark.parametrize("others", [(), ((Timer.RTO, 2.0),), ((Timer.RTO, 0.5),)])
def test_rearming_at_the_same_deadline_keeps_its_record_and_moves_nothing(
    tracing: bool, others: tuple[tuple[Timer, float], ...],
) -> None:
    owner = RecordingTimerOwner(tracing)
    timers = Timers(owner)
    for timer, at in others:
        timers.arm(timer, at)
    timers.arm(Timer.TLP, 1.0)
    told, kept = owner.moved, len(owner.records)
    timers.arm(Timer.TLP, 1.0)
    assert owner.moved == told  # nothing moved earlier
    assert timers.at(Timer.TLP) == 1.0
    assert timers.next_at == min([1.0, *(at for _, at in others)])
    assert owner.records[kept:] == ([("timer_set", {"timer": "tlp", "at": 1.0})]
                                    if tracing else [])
    timers.arm(Timer.TLP, 0.25)  # earlier than all: the owner hears of it
    assert owner.moved == told + 1
