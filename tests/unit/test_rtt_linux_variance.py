"""RttEstimator(minimum_on_variance=True): Linux's RTO = SRTT + max(4 * RTTVAR, minimum)."""

from __future__ import annotations

import pytest

from tcpstack.rtt import RttEstimator


@pytest.mark.parametrize(("samples", "rfc", "linux"), [
    ([0.01], 0.2, 0.21),          # 10 ms RTT: RFC floor 200 ms, Linux 10 + 200 ms
    ([0.1], 0.3, 0.3),            # 100 ms: 4 * RTTVAR = 200 ms either way
    ([0.1, 0.1, 0.1], 0.2, 0.3),  # steady 100 ms: RTTVAR shrinks; Linux keeps the floor
])
def test_rto_with_the_minimum_on_the_variance(samples: list[float], rfc: float,
                                             linux: float) -> None:
    plain = RttEstimator(1.0, 0.2, 120.0)
    linuxlike = RttEstimator(1.0, 0.2, 120.0, minimum_on_variance=True)
    for rtt in samples:
        plain.sample(rtt)
        linuxlike.sample(rtt)
    assert plain.rto == pytest.approx(rfc, abs=0.02)
    assert linuxlike.rto == pytest.approx(linux, abs=0.001)
