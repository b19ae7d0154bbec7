"""Experiments: points seeded by index, the same results from every executor,
summaries against hand-computed values."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from tcpstack.drivers.topology import DumbbellResult, DumbbellSpec, FlowResult, FlowSpec
from tcpstack.harness.experiments import (
    ExperimentError,
    InlineExecutor,
    SimulationError,
    bufferbloat_experiment,
    fairness_experiment,
    goodput_experiment,
    make_points,
    open_executor,
    point_seed,
    run_points,
    submit_points,
    summarize,
)

TINY = {"bandwidth": 1e6, "rtt": 0.02, "duration": 0.5}
"""A link and run short enough for a unit test (well under a wall second each)."""


def test_point_seed_is_a_fixed_function_of_seed_and_index() -> None:
    seeds = [point_seed(1, i) for i in range(100)]
    assert len(set(seeds)) == 100
    assert all(0 <= s < 2**32 for s in seeds)
    assert seeds == [point_seed(1, i) for i in range(100)]
    assert point_seed(2, 0) not in seeds
    # Pinned: a change here changes every published experiment's numbers.
    assert point_seed(1, 0) == int.from_bytes(
        __import__("hashlib").sha256(b"tcpstack-experiment:1:0").digest()[:4], "big")


def test_make_points_numbers_and_seeds_each_spec() -> None:
    spec = DumbbellSpec(flows=(FlowSpec(),), seed=99)
    points = make_points(7, [({"x": 1}, spec), ({"x": 2}, spec)])
    assert [p.index for p in points] == [0, 1]
    assert [p.spec.seed for p in points] == [point_seed(7, 0), point_seed(7, 1)]
    assert [p.parameters for p in points] == [{"x": 1}, {"x": 2}]


def test_goodput_points_cover_algorithms_times_losses() -> None:
    exp = goodput_experiment(algorithms=["newreno", "reno"], losses=[0.0, 0.01], buffer_bdp=2,
                             seed=3, **TINY)
    assert [dict(p.parameters) for p in exp.points] == [
        {"algorithm": "newreno", "loss": 0.0}, {"algorithm": "newreno", "loss": 0.01},
        {"algorithm": "reno", "loss": 0.0}, {"algorithm": "reno", "loss": 0.01}]
    spec = exp.points[3].spec
    assert (spec.loss, spec.buffer_bdp, spec.bandwidth, spec.seed) == (0.01, 2, 1e6,
                                                                       point_seed(3, 3))
    assert [f.algorithm for f in spec.flows] == ["reno"]


def test_fairness_cycles_algorithms_and_staggers_starts() -> None:
    exp = fairness_experiment(flows=[3], algorithms=["newreno", "reno"], buffer_bdp=1,
                              stagger=2.0, bandwidth=1e6, rtt=0.02, duration=5)
    (point,) = exp.points
    assert [(f.algorithm, f.start) for f in point.spec.flows] == [
        ("newreno", 0.0), ("reno", 2.0), ("newreno", 4.0)]
    assert point.parameters["algorithms"] == "newreno,reno,newreno"


def test_a_spec_the_simulator_refuses_is_refused_before_running() -> None:
    with pytest.raises(ExperimentError, match=r"point 0 \(flows=2, .*start must be in"):
        fairness_experiment(flows=[2], algorithms=["newreno"], buffer_bdp=1, stagger=1.0,
                            **TINY)
    with pytest.raises(ExperimentError, match="ecn_marking needs a queue"):
        bufferbloat_experiment(buffers=[1], algorithms=["newreno"], ecn=True, **TINY)


@pytest.mark.parametrize("kwargs", [
    {"algorithms": ["no-such-cc"]},
    {"losses": [1.0]},
    {"queue": "fifo"},
    {"bandwidth": 0.0},
])
def test_goodput_refuses_bad_settings(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"algorithms": ["newreno"], "losses": [0.01],
                                   "buffer_bdp": 1.0, **TINY}
    settings.update(kwargs)
    with pytest.raises(ExperimentError):
        goodput_experiment(**settings)  # type: ignore[arg-type]


def _run(executor: object, exp: object) -> list[DumbbellResult]:
    points = exp.points  # type: ignore[attr-defined]
    return run_points(points, submit_points(executor, points))  # type: ignore[arg-type]


def test_results_are_the_same_inline_in_processes_and_in_any_order() -> None:
    exp = goodput_experiment(algorithms=["newreno"], losses=[0.0, 0.02, 0.05], buffer_bdp=1,
                             seed=5, **TINY)
    inline = _run(InlineExecutor(), exp)
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = _run(pool, exp)
    assert pooled == inline
    # A point alone gives what it gave among the others: it depends on its spec only.
    alone = _run(InlineExecutor(), type(exp)(exp.name, exp.seed, exp.parameters,
                                             exp.points[2:]))
    assert alone == inline[2:]
    # Another experiment seed: other random losses.
    other = goodput_experiment(algorithms=["newreno"], losses=[0.05], buffer_bdp=1, seed=6,
                               **TINY)
    assert other.points[0].spec.seed != exp.points[2].spec.seed


def _boom(spec: DumbbellSpec) -> DumbbellResult:
    raise RuntimeError(f"no dumbbell at {spec.bandwidth:g}")


def test_a_failing_simulation_names_its_point() -> None:
    exp = goodput_experiment(algorithms=["newreno"], losses=[0.01], buffer_bdp=1, **TINY)
    futures = submit_points(InlineExecutor(), exp.points, simulate=_boom)
    with pytest.raises(SimulationError, match=r"simulation 0 \(algorithm=newreno, loss=0.01\) "
                                              r"failed: RuntimeError: no dumbbell at 1e\+06"):
        run_points(exp.points, futures)


def test_open_executor_kinds_and_refusals() -> None:
    with open_executor("process", jobs=1) as executor:
        assert isinstance(executor, InlineExecutor)
    with open_executor("process", jobs=2) as executor:
        assert isinstance(executor, ProcessPoolExecutor)
    for kind, jobs, scheduler, message in [
        ("threads", 1, None, "unknown executor"),
        ("process", 0, None, "--jobs must be >= 1"),
        ("dask", 1, None, "needs --scheduler"),
        ("process", 1, "tcp://h:8786", "goes with --executor dask"),
    ]:
        with pytest.raises(ExperimentError, match=message), \
                open_executor(kind, jobs=jobs, scheduler=scheduler):
            pass


def _flow(algorithm: str, goodput: float, delivered: int = 0) -> FlowResult:
    return FlowResult(algorithm=algorithm, delivered_bytes=delivered,
                      goodput_bps=goodput, series=((1.0, goodput),), retransmissions=3,
                      mean_rtt=0.06)


def _result(spec: DumbbellSpec, *flows: FlowResult) -> DumbbellResult:
    return DumbbellResult(spec=spec, flows=flows, utilisation=0.9, queue_delay_mean=0.01,
                          queue_delay_p95=0.02, queue_delay_max=0.03, drops=4, ce_marks=0,
                          trace_records=())


def test_goodput_summary_against_the_model_by_hand() -> None:
    exp = goodput_experiment(algorithms=["newreno"], losses=[0.0, 0.01, 0.25], buffer_bdp=1,
                             bandwidth=2e6, rtt=0.05, duration=1, mss=1460)
    results = [_result(p.spec, _flow("newreno", g))
               for p, g in zip(exp.points, (1.9e6, 1.430502e6, 5e5), strict=True)]
    rows = summarize(exp, results).rows
    # p = 0: no model. p = 0.01: 2,861,004 bit/s (> 2 Mbit/s link: link-limited).
    # p = 0.25: 29,200 B/s * 1.2247449 / 0.5 * 8 = 572,200.8 bit/s, under the link.
    assert rows[0]["mathis_bps"] is None and rows[0]["ratio"] is None
    assert rows[1]["mathis_bps"] == pytest.approx(2_861_004.1)
    assert rows[1]["ratio"] == pytest.approx(0.5, rel=1e-6)
    assert rows[1]["limit"] == "link"
    assert rows[2]["mathis_bps"] == pytest.approx(572_200.8, rel=1e-6)
    assert rows[2]["ratio"] == pytest.approx(5e5 / 572_200.8, rel=1e-6)
    assert rows[2]["limit"] == "loss"


def test_fairness_and_bufferbloat_summaries_by_hand() -> None:
    exp = fairness_experiment(flows=[2], algorithms=["newreno"], buffer_bdp=1, **TINY)
    # The second flow started late: 7e5 bit/s over its own 0.25 s is 21,875 bytes.
    (row,) = summarize(exp, [_result(exp.points[0].spec, _flow("newreno", 3e5, 18_750),
                                     _flow("newreno", 7e5, 21_875))]).rows
    assert row["jain"] == pytest.approx(1e12 / (2 * 58e10))
    # Together: (18,750 + 21,875) bytes * 8 over the 0.5 s run = 650,000 bit/s,
    # not the 1e6 of adding rates measured over different periods.
    assert row["goodput_bps"] == pytest.approx(650_000)
    assert row["per_flow_bps"] == [3e5, 7e5]
    exp = bufferbloat_experiment(buffers=[0.5, 4], algorithms=["newreno"], **TINY)
    rows = summarize(exp, [_result(p.spec, _flow("newreno", 8e5, 50_000))
                           for p in exp.points]).rows
    # One BDP at 1 Mbit/s and 20 ms is 2,500 bytes.
    assert [r["buffer_bytes"] for r in rows] == [1250, 10000]
    assert [r["goodput_bps"] for r in rows] == [pytest.approx(800_000)] * 2  # 50 kB in 0.5 s
    assert [r["queue_delay_p95"] for r in rows] == [0.02, 0.02]
