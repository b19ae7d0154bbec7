"""Issue 13, "Done means": NewReno's goodput under random loss follows the Mathis
model (MSS/RTT * 1.22/sqrt(p)) within a factor of 2 for p in 0.1 %..5 %.

What ``tcpstack experiment goodput`` runs by default: one NewReno flow per
loss rate over a 100 Mbit/s, 50 ms, one-BDP drop-tail bottleneck (so the
flow is limited by the random loss, not by the link: the model's rate is at
most 9 Mbit/s here), 60 virtual seconds each. Measured at seed 1:
ratios 0.85, 0.95 and 0.69 (seeds 2-4 give 0.97-1.13, 0.98-1.01, 0.67-0.73).
"""

from __future__ import annotations

from tcpstack.harness.experiments import (
    goodput_experiment,
    open_executor,
    run_points,
    submit_points,
    summarize,
)


def test_newreno_follows_the_mathis_model_within_a_factor_of_two() -> None:
    exp = goodput_experiment(algorithms=["newreno"], losses=[0.001, 0.01, 0.05],
                             bandwidth=100e6, rtt=0.05, duration=40.0, buffer_bdp=1.0, seed=1)
    with open_executor("process", jobs=1) as executor:
        results = run_points(exp.points, submit_points(executor, exp.points))
    rows = summarize(exp, results).rows
    assert [r["loss"] for r in rows] == [0.001, 0.01, 0.05]
    for row in rows:
        assert row["limit"] == "loss", row  # the model applies
        assert 0.5 <= row["ratio"] <= 2.0, row
    # More loss, less goodput, as the model says.
    goodputs = [r["goodput_bps"] for r in rows]
    assert goodputs == sorted(goodputs, reverse=True)
