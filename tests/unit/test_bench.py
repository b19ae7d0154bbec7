"""``tcpstack bench``: the figures run at tiny sizes and print well-formed JSON.

Speed is never asserted here (DESIGN.md, "Tests"): only shapes, counts, and
bounds loose enough to catch a wrong unit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tcpstack import State
from tcpstack.cli import main
from tcpstack.harness.bench import DEFAULT_FIGURES, FIGURES, run_bench, sim_step_ratio
from tcpstack.harness.figures import Target
from tcpstack.harness.population import (
    PORTS_PER_LISTENER,
    Population,
    idle_endpoint,
    listener_ports,
    new_wire,
    wired_bulk,
)
from tcpstack.harness.scaling import (
    accept_scaling,
    conn_memory_bytes,
    idle_connection_ends,
    scaling_ratio,
)

FIGURE_FIELDS = {"median", "min", "max", "runs", "values", "unit", "target", "met",
                 "wall_seconds", "cpu_seconds"}


def assert_figure(fig: dict[str, Any], runs: int, target: str) -> None:
    assert set(fig) >= FIGURE_FIELDS
    assert fig["runs"] == runs == len(fig["values"])
    assert fig["min"] <= fig["median"] <= fig["max"]
    assert fig["target"] == target
    assert isinstance(fig["met"], bool)
    assert fig["wall_seconds"] >= 0 and fig["cpu_seconds"] >= 0
    json.dumps(fig)


def test_population_is_established_and_idle() -> None:
    wire = new_wire(seed=3)
    population = Population(wire, 120, batch=50)
    population.open()
    assert all(c is not None and c.state is State.ESTABLISHED
               for c in population.clients + population.servers)
    assert wire.quiet()
    assert wire.a.next_event() is None and wire.b.next_event() is None
    assert len({(c.local.port, c.remote.port) for c in population.clients if c}) == 120


def test_idle_endpoints_are_distinct_past_one_listener() -> None:
    count = 2 * PORTS_PER_LISTENER + 7
    pairs = {idle_endpoint(i) for i in range(count)}
    assert len(pairs) == count
    assert all(1 <= local <= 65535 for local, _ in pairs)
    assert {port for _, port in pairs} == set(listener_ports(count))


def test_wired_bulk_delivers_and_leaves_the_wire_quiet() -> None:
    wire = new_wire()
    Population(wire, 10).open()
    sample = wired_bulk(wire, 100_000)
    assert sample.count > 100_000 // 1460  # packets, both directions
    assert sample.cost.wall >= 0 and sample.wall_us >= 0
    assert wire.quiet()
    wired_bulk(wire, 30_000)  # the wire is reusable


def test_conn_memory_bytes() -> None:
    fig = conn_memory_bytes(connections=50, runs=2)
    assert_figure(fig, 2, "<= 2048")
    assert fig["ends"] == 100
    # A TCB is hundreds of bytes at least and far below a megabyte: catches a unit error.
    assert 100 < fig["median"] < 1_000_000
    assert fig["peak_bytes_per_end"]["median"] >= fig["median"]


def test_scaling_ratio() -> None:
    fig = scaling_ratio(connections=50, size=40_000, runs=1)
    assert_figure(fig, 1, "<= 1.10")
    assert fig["median"] > 0 and fig["cpu"]["median"] > 0
    assert fig["connections"] == 50 and fig["packets"] > 0
    assert set(fig["per_packet_us"]) == {"none", "idle"}


def test_accept_scaling() -> None:
    fig = accept_scaling(connections=60, runs=2)
    assert_figure(fig, 2, "<= 1.20")
    assert fig["connections"] == {"small": 6, "large": 60}
    assert fig["per_connection_us"]["large"]["median"] > 0


def test_sim_step_ratio() -> None:
    fig = sim_step_ratio(idle_hosts=4, idle_connections=10, size=30_000, runs=1)
    assert_figure(fig, 1, "<= 1.10")
    assert fig["idle_hosts"] == 4 and fig["idle_connections"] == 10
    assert fig["median"] > 0


def test_idle_connection_ends() -> None:
    fig = idle_connection_ends(connections=40)
    assert_figure(fig, 1, ">= 1000000")
    assert fig["median"] == 80 and fig["met"] is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conn_memory_bytes(connections=0), "connections"),
        (lambda: scaling_ratio(connections=5, runs=0), "runs"),
        (lambda: accept_scaling(connections=9), "connections"),
        (lambda: sim_step_ratio(idle_hosts=0), "idle_hosts"),
        (lambda: run_bench(figures=["nope"]), "nope"),
    ],
)
def test_bad_sizes_raise_value_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_targets() -> None:
    assert str(Target("<=", 1.10)) == "<= 1.10" and Target("<=", 1.10).met(1.1)
    assert str(Target(">=", 1_000_000)) == ">= 1000000" and not Target(">=", 10).met(9)


def test_default_figures_leave_out_the_million() -> None:
    assert "idle_million" in FIGURES and "idle_million" not in DEFAULT_FIGURES


def test_cli_only_prints_the_chosen_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "conn_memory, accept", "--memory-connections", "20",
                 "--scale", "30", "--runs", "1", "--heavy-runs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"conn_memory_bytes", "accept_scaling", "system", "python"} <= set(out)
    assert "bulk_clean" not in out and "scaling_ratio" not in out
    assert out["conn_memory_bytes"]["connections"] == 20
    assert out["accept_scaling"]["connections"] == {"small": 3, "large": 30}


def test_cli_idle_million_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "handshakes", "--connections", "3",
                 "--idle-million", "25"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["handshakes"]["completed"] == 3
    assert out["idle_connection_ends"]["connections"] == 25


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    for flag in ("--only", "--runs", "--heavy-runs", "--scale", "--memory-connections",
                 "--idle-hosts", "--sim-connections", "--idle-million"):
        assert flag in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "conn_memory,nope"], "--only: unknown figure 'nope'"),
        (["--only", ","], "--only"),
        (["--runs", "0"], "--runs must be >= 1"),
        (["--heavy-runs", "x"], "--heavy-runs: not a whole number"),
        (["--scale", "9"], "--scale must be >= 10"),
        (["--memory-connections", "-3"], "--memory-connections"),
        (["--idle-hosts", "999999"], "--idle-hosts must be <="),
        (["--sim-connections", "1.5"], "--sim-connections"),
        (["--idle-million", "0"], "--idle-million"),
        (["--loss", "2"], "--loss"),
        (["--size", "0"], "--size"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpstack: error: ")
    assert message in lines[0]


def test_aio_virtual_time_reports_both_waits() -> None:
    from tcpstack.harness.aio_time import aio_virtual_time

    fig = aio_virtual_time(runs=1)
    assert fig["runs"] == 1 and fig["target"] == "<= 1.00"
    assert fig["sleep"]["virtual_seconds"] == 7200.0
    assert fig["keepalive"]["virtual_seconds"] == pytest.approx(7200 + 9 * 75, abs=2)
    with pytest.raises(ValueError, match="runs"):
        aio_virtual_time(runs=0)
