"""Rules shared by every synchronized state (RFC 9293 §3.10.7.4, RFC 5961).

ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK and
TIME-WAIT all: answer an unacceptable segment with an ACK (first step), drop
an RST outside the window, challenge an in-window RST that is not exactly
RCV.NXT and any SYN (RFC 5961 §3.2, §4.2) with a rate limit (§7), and never
answer an RST.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script

from tcpstack.seq import seq_diff
from tcpstack.state import SYNCHRONIZED, State

STATES = [
    "established",
    "fin_wait_1",
    "fin_wait_2",
    "close_wait",
    "closing",
    "last_ack",
    "time_wait",
]


@pytest.fixture(params=STATES)
def sync(request: pytest.FixtureRequest) -> Script:
    s: Script = request.getfixturevalue(request.param)
    assert s.state in SYNCHRONIZED
    s.events()
    return s


def here(s: Script) -> Out:
    """The ACK this connection sends now: <SEQ=SND.NXT><ACK=RCV.NXT>."""
    return Out(
        "A",
        seq=seq_diff(s.conn.snd_max, s.iss),
        ack=seq_diff(s.conn.rcv_nxt, s.irs),
    )


def test_every_state_is_covered() -> None:
    assert {State[name.upper()] for name in STATES} == SYNCHRONIZED


def test_syn_draws_challenge_ack(sync: Script) -> None:
    state = sync.state
    expected = here(sync)
    sync.rx("S", seq=expected.ack, at=2.0)
    sync.expect([expected], at=2.0)
    assert sync.state is state
    assert sync.app_events() == []


def test_syn_ack_draws_challenge_ack(sync: Script) -> None:
    state = sync.state
    expected = here(sync)
    sync.rx("SA", seq=expected.ack + 10, ack=expected.seq, at=2.0)
    sync.expect([expected], at=2.0)
    assert sync.state is state


def test_rst_in_window_not_exact_draws_challenge_ack(sync: Script) -> None:
    state = sync.state
    expected = here(sync)
    sync.rx("R", seq=expected.ack + 1000, at=2.0)
    sync.expect([expected], at=2.0)
    assert sync.state is state


def test_challenge_acks_are_rate_limited(sync: Script) -> None:
    expected = here(sync)
    limit = sync.conn.config.challenge_ack_limit
    for i in range(limit + 5):
        sync.rx("R" if i % 2 else "S", seq=expected.ack + 100 + i, at=2.0)
    sync.expect([expected] * limit, at=2.0)
    sync.rx("S", seq=expected.ack, at=3.0)
    sync.expect([expected], at=3.0)


@pytest.mark.parametrize("offset", [-70_000, 70_000, 2**31])
def test_rst_outside_window_is_dropped_silently(sync: Script, offset: int) -> None:
    state = sync.state
    expected = here(sync)
    sync.rx("R", seq=expected.ack + offset, at=2.0)
    sync.rx("RA", seq=expected.ack + offset, ack=expected.seq, at=2.0)
    sync.expect_nothing(at=2.0)
    assert sync.state is state


@pytest.mark.parametrize("offset", [-70_000, 70_000])
def test_unacceptable_segment_draws_ack(sync: Script, offset: int) -> None:
    state = sync.state
    expected = here(sync)
    sync.rx("PA", seq=expected.ack + offset, ack=expected.seq, data=b"x", at=2.0)
    sync.expect([expected], at=2.0)
    assert sync.state is state
    assert sync.conn.readable == 0


def test_ack_of_unsent_data_draws_ack(sync: Script) -> None:
    # §3.10.7.4 fifth: "If the ACK acks something not yet sent (SEG.ACK >
    # SND.NXT), then send an ACK, drop the segment, and return."
    state = sync.state
    expected = here(sync)
    sync.rx("A", seq=expected.ack, ack=expected.seq + 5000, at=2.0)
    sync.expect([expected], at=2.0)
    assert sync.state is state


def test_exact_rst_closes(sync: Script) -> None:
    sync.conn.reconfigure(rfc1337=False)  # RFC 9293 alone (RFC 1337 keeps TIME-WAIT)
    expected = here(sync)
    sync.rx("R", seq=expected.ack, at=2.0)
    assert sync.state is State.CLOSED
    sync.expect_nothing(at=2.0)
    assert sync.conn.next_timer() is None
