"""AckSample.round_start from the loss recovery object: a round trip ends when
the cumulative ACK covers data sent after the round began (Linux HyStart's
``after(snd_una, end_seq)``; draft-cardwell-iccrg-bbr-congestion-control-00
§4.1.1.3: a packet sent after the round's start is delivered).

Offsets of the send direction, MSS 1000 bytes, virtual seconds.
"""

from __future__ import annotations

import pytest

from tcpstack import congestion
from tcpstack.congestion import AckSample, NewReno
from tcpstack.recovery import LossRecovery

MSS = 1000


class Rounds(NewReno):
    """NewReno that notes each ACK's ``round_start``."""

    name = "rounds-test"

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.starts: list[bool] = []

    def on_ack(self, sample: AckSample) -> None:
        self.starts.append(sample.round_start)
        super().on_ack(sample)


@pytest.fixture(autouse=True)
def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(congestion.ALGORITHMS, Rounds.name, Rounds)


def test_round_ends_past_the_data_sent_before_it() -> None:
    rec = LossRecovery(Rounds.name, MSS)
    cc = rec.cc
    assert isinstance(cc, Rounds)
    # Round 1 begins at the first ACK (una 1000 > 0); HighData then is 4000:
    # [0, 4000) was sent before the round began.
    rec.on_new_ack(acked=1000, una_off=1000, in_flight=3000, now=0.1, high_data_off=4000)
    # ACKs up to and including 4000 cover only data sent before round 1 began:
    # no round end at una == 4000 (the old ">=" ended it here, one ACK early).
    for una in (2000, 3000, 4000):
        rec.on_new_ack(acked=1000, una_off=una, in_flight=6000, now=0.11, high_data_off=10_000)
    # 5000 covers [4000, 5000), sent after round 1 began: round 2 begins,
    # and its data sent before is [0, 10,000).
    rec.on_new_ack(acked=1000, una_off=5000, in_flight=5000, now=0.2, high_data_off=10_000)
    rec.on_new_ack(acked=5000, una_off=10_000, in_flight=0, now=0.25, high_data_off=10_000)
    rec.on_new_ack(acked=1000, una_off=11_000, in_flight=0, now=0.3, high_data_off=11_000)
    assert cc.starts == [True, False, False, False, True, False, True]
