"""``tcpstack bench``: the figures run at tiny sizes and print well-formed JSON.

Speed is never asserted here (DESIGN.md, "Tests"): only shapes, counts, and
bounds loose enough to catch a wrong unit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcpstack import State
from tcpstack.cli import main
from tcpstack.cli.bench import (
    TABLE_COLUMNS,
    bench_options,
    machine_line,
    markdown_table,
    print_table,
)
from tcpstack.cli.main import build_parser
from tcpstack.harness import references
from tcpstack.harness.bench import (
    ALL_FIGURES,
    DEFAULT_FIGURES,
    FIGURES,
    OPT_IN,
    run_bench,
    sim_step_ratio,
)
from tcpstack.harness.figures import Stopwatch, Target, figure, skipped
from tcpstack.harness.population import (
    PORTS_PER_LISTENER,
    Population,
    idle_endpoint,
    listener_ports,
    new_wire,
    wired_bulk,
)
from tcpstack.harness.references import Side, kernel_loopback, transfer, tun_vs_veth
from tcpstack.harness.scaling import (
    accept_scaling,
    conn_memory_bytes,
    idle_connection_ends,
    scaling_ratio,
)
from tcpstack.harness.speed import (
    MAX_CHURN,
    Collector,
    SimBulk,
    calls_per_packet,
    payload,
    profile_table,
    sim_bulk,
    sim_bulk_figures,
    sim_bulk_lossy,
    sim_churn,
    untraced,
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
        (["--scale-size", "0"], "--scale-size must be >= 1"),
        (["--churn", "0"], "--churn must be >= 1"),
        (["--churn", str(MAX_CHURN + 1)], "--churn must be <="),
        (["--profile-size", "x"], "--profile-size: not a whole number"),
        (["--profile", "0"], "--profile must be >= 1"),
        (["--only", "sim_bulk", "--all"], "--only and --all exclude each other"),
        (["--only", "sim_bulk", "--json-out", "/nonexistent/dir/b.json"], "--json-out"),
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


# --- the figures of issue 11 (speed) and the references -----------------------------


def test_payload_is_the_same_from_the_same_seed() -> None:
    assert payload(1000, 1) == payload(1000, 1) != payload(1000, 2)
    assert len(payload(12345, 3)) == 12345


def test_untraced_builds_no_records() -> None:
    assert untraced().active is False


def test_sim_bulk_delivers_exactly_what_was_sent() -> None:
    run = sim_bulk(40_000)
    assert run.exact and run.delivered == 40_000
    assert run.sample.count > 40_000 // 1460  # packets, both directions
    assert run.mbps > 0 and run.virtual_seconds > 0
    assert run.check() is run


def test_a_transfer_that_is_not_exact_raises() -> None:
    run = sim_bulk(10_000)
    broken = SimBulk(size=run.size, delivered=run.delivered - 1, exact=False,
                     virtual_seconds=run.virtual_seconds, sample=run.sample)
    with pytest.raises(RuntimeError, match="not exact"):
        broken.check()


def test_sim_bulk_figures() -> None:
    figs = sim_bulk_figures(50_000, runs=2)
    assert set(figs) == {"sim_bulk_mbps", "per_packet_us", "trace_cost"}
    assert_figure(figs["sim_bulk_mbps"], 2, ">= 50.00")
    assert_figure(figs["per_packet_us"], 2, "<= 25.00")
    assert_figure(figs["trace_cost"], 2, ">= 0.90")
    bulk = figs["sim_bulk_mbps"]
    assert bulk["bytes"] == 50_000 and bulk["packets"] > 50_000 // 1460
    assert bulk["trace"] == "off" and bulk["cpu"]["median"] > 0
    # One bulk and its per-packet cost come from the same runs: bytes/s x s/packet.
    per_packet = figs["per_packet_us"]
    for mbps, us in zip(bulk["values"], per_packet["values"], strict=True):
        assert mbps * us == pytest.approx(50_000 / bulk["packets"], rel=0.01)
    cost = figs["trace_cost"]
    assert cost["cost_percent"] == pytest.approx(100 * (1 - cost["median"]), abs=0.01)
    assert cost["traced_mbps"]["median"] > 0
    assert "trace_cost" not in sim_bulk_figures(20_000, runs=1, trace_cost=False)


def test_sim_bulk_lossy() -> None:
    fig = sim_bulk_lossy(60_000, loss=0.05, runs=2)
    assert_figure(fig, 2, ">= 50.00")
    assert fig["loss"] == 0.05 and fig["bytes"] == 60_000
    # Loss costs round trips of virtual time, never wall time.
    assert fig["virtual_seconds"]["max"] > sim_bulk(60_000).virtual_seconds


def test_sim_churn_reaps_time_wait() -> None:
    fig = sim_churn(30, runs=2, batch=7)
    assert_figure(fig, 2, ">= 10000")
    assert fig["connections"] == 30 and fig["batch"] == 7
    assert fig["median"] > 0 and fig["per_connection_us"]["median"] > 0
    assert fig["virtual_seconds"] >= 240  # the last TIME-WAIT lasted 2 MSL (2 x 120 s)


def test_calls_per_packet_and_where_the_time_goes() -> None:
    fig = calls_per_packet(30_000, top=7)
    assert fig["runs"] == 1 and fig["target"] is None and fig["met"] is None
    assert fig["median"] == pytest.approx(fig["calls"] / fig["packets"], abs=0.1)
    assert fig["median"] > 10  # a packet takes many Python calls: catches a unit error
    top = fig["top"]
    assert len(top) == 7
    assert [r["self_s"] for r in top] == sorted((r["self_s"] for r in top), reverse=True)
    assert any(r["function"].startswith("tcpstack/") for r in top)
    assert all(set(r) == {"function", "self_s", "self_percent", "cumulative_s", "calls"}
               for r in top)


def test_profile_table_shortens_paths() -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(sim_bulk, 5000)
    names = [r["function"] for r in profile_table(pstats.Stats(profiler), top=1000)]
    assert "tcpstack/harness/speed.py" in " ".join(names)
    assert not any(name.startswith("/") for name in names)


def test_profile_table_shortens_other_packages_paths(tmp_path: Path) -> None:
    # Another installed package's function (hypothesis leaves a gc callback
    # behind that shows up in later profiles) is named from its package down.
    import cProfile
    import importlib.util
    import pstats

    module_path = tmp_path / "site-packages" / "fakepkg" / "work.py"
    module_path.parent.mkdir(parents=True)
    module_path.write_text("def busy():\n    return sum(range(1000))\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fakepkg_work", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    profiler = cProfile.Profile()
    profiler.runcall(module.busy)
    names = [r["function"] for r in profile_table(pstats.Stats(profiler), top=1000)]
    assert "fakepkg/work.py:1(busy)" in names
    assert not any(name.startswith("/") for name in names)


class FakeConnection:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def read(self, max_bytes: int = -1) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    @property
    def at_eof(self) -> bool:
        return not self.chunks

    def send(self, data: bytes) -> int:
        return 0

    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        pass


def test_collector_times_from_accept_to_end_of_stream() -> None:
    ticks = iter([1.0, 3.5])
    sink = Collector(clock=lambda: next(ticks))
    conn = FakeConnection([b"ab", b"cd"])
    sink.on_accept(conn)
    assert sink.finished and conn.closed and sink.received == 4
    assert (sink.started, sink.ended) == (1.0, 3.5)
    import hashlib

    assert sink.sha256() == hashlib.sha256(b"abcd").hexdigest()


def test_a_figure_without_target_and_a_skipped_one() -> None:
    with Stopwatch() as cost:
        pass
    fig = figure([3.0, 1.0, 2.0], unit="u", target=None, cost=cost)
    assert (fig["median"], fig["min"], fig["max"]) == (2.0, 1.0, 3.0)
    assert fig["target"] is None and fig["met"] is None
    gone = skipped("needs root", unit="u", target=Target(">=", 0.25))
    assert gone == {"skipped": "needs root", "unit": "u", "target": ">= 0.25", "met": None}


def _measured(values: list[float]) -> dict[str, Any]:
    with Stopwatch() as cost:
        pass
    return figure(values, unit="u", target=None, cost=cost)


def test_tun_vs_veth_takes_the_slower_direction_run_by_run() -> None:
    tun = {"tun_bulk_mbps_send": _measured([30.0, 40.0, 50.0]),
           "tun_bulk_mbps_recv": _measured([60.0, 20.0, 50.0])}
    veth = _measured([100.0, 200.0, 100.0])
    fig = tun_vs_veth(tun, veth)
    assert fig["values"] == [0.3, 0.1, 0.5] and fig["median"] == 0.3
    assert fig["target"] == ">= 0.25" and fig["met"] is True
    assert fig["send"] == 0.4 and fig["recv"] == 0.5  # medians over the veth median
    assert tun["tun_bulk_mbps_send"]["target"].startswith(">= 25.0")
    assert tun["tun_bulk_mbps_send"]["met"] is True and tun["tun_bulk_mbps_recv"]["met"] is True
    assert tun_vs_veth(tun, skipped("needs root", unit="u", target=None))["skipped"] == (
        "needs root")


def test_references_are_skipped_with_a_reason_without_root(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert references.kernel_veth(1000, runs=1)["skipped"] == "needs root (network namespaces)"
    tun = references.tun_bulk(1000, runs=1)
    assert set(tun) == {"tun_bulk_mbps_send", "tun_bulk_mbps_recv"}
    assert all(f["skipped"].startswith("needs root") and f["met"] is None
               for f in tun.values())


def test_kernel_loopback_without_root_uses_this_namespace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    fig = kernel_loopback(200_000, runs=2)
    assert fig["runs"] == 2 and fig["netns"] is False and fig["bytes"] == 200_000
    assert fig["min"] > 0 and fig["target"] is None
    assert fig["children_cpu_seconds"] > 0


def test_a_failing_program_is_one_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"sink: .*--size"):
        transfer(Side(None, ("sink", "--size", "nope")),
                 Side(None, ("source", "--connect", "127.0.0.1")), size=10)


def test_default_figures_stay_short_and_all_adds_the_heavy_ones() -> None:
    assert set(OPT_IN) >= {"scaling", "accept", "idle_million"}
    assert not set(OPT_IN) & set(DEFAULT_FIGURES)
    assert set(ALL_FIGURES) == set(FIGURES) - {"idle_million"}
    names = list(FIGURES)
    assert names.index("kernel_veth") < names.index("tun_bulk")  # tun_vs_veth needs veth
    args = build_parser().parse_args(["bench", "--all"])
    assert bench_options(args)["figures"] == list(ALL_FIGURES)
    assert "tun_options" not in bench_options(args)  # the driver options of references.py


def test_no_offload_reaches_the_tun_options() -> None:
    args = build_parser().parse_args(["bench", "--only", "tun_bulk", "--no-offload"])
    assert bench_options(args)["tun_options"] == {"offload": False}
    assert references.TUN_DRIVER_OPTIONS["offload"] is True


def test_run_bench_json_holds_the_machine_and_the_new_figures() -> None:
    out = run_bench(figures=["sim_bulk", "trace_cost", "sim_churn", "calls_per_packet"],
                    size=30_000, runs=1, churn=20, profile_size=20_000)
    json.dumps(out)
    assert {"sim_bulk_mbps", "per_packet_us", "trace_cost", "sim_churn_cps",
            "calls_per_packet"} <= set(out)
    assert "kernel_veth_mbps" not in out and "conn_memory_bytes" not in out
    system = out["system"]
    assert {"cpu", "cpus", "python", "implementation", "platform", "date_utc", "tcpstack",
            "commit", "dirty", "load_average", "load_average_end"} <= set(system)
    assert system["date_utc"].endswith("Z") and system["implementation"]
    assert out["options"]["size"] == 30_000 and out["options"]["runs"] == 1


def test_run_bench_tun_alone_says_veth_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    out = run_bench(figures=["tun_bulk"], size=1000, runs=1)
    assert "skipped" in out["tun_bulk_mbps_send"] and "skipped" in out["tun_vs_veth"]


def test_cli_table_and_json_out(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "result.json"
    assert main(["bench", "--only", "sim_bulk", "--size", "30000", "--runs", "1", "--table",
                 "--json-out", str(path)]) == 0
    text = capsys.readouterr().out
    for word in ("figure", "median", "min", "max", "unit", "target", "met",
                 "sim_bulk_mbps", "per_packet_us"):
        assert word in text
    saved = json.loads(path.read_text())
    assert saved["sim_bulk_mbps"]["bytes"] == 30_000 and saved["sim_bulk_mbps"]["runs"] == 1


def test_table_shows_skipped_and_older_figures(capsys: pytest.CaptureFixture[str]) -> None:
    print_table({"system": {"cpu": "X"},
                 "kernel_veth_mbps": skipped("needs root", unit="u", target=None),
                 "handshakes": {"completed": 3}})
    text = capsys.readouterr().out
    assert "needs root" in text and "handshakes" in text and "see the JSON" in text


def test_cli_profile_prints_a_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--profile", "4", "--profile-size", "20000"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| function |") and len(lines) == 2 + 4
    assert all(line.startswith("| `") for line in lines[2:])


def test_markdown_table_has_a_row_per_figure() -> None:
    result = {"system": {"cpu": "X", "commit": "0123456789abcdef", "dirty": True},
              "options": {"size": 1},
              "sim_bulk_mbps": _measured([1.0, 2.0, 3.0]),
              "kernel_veth_mbps": skipped("needs root", unit="u", target=None),
              "handshakes": {"completed": 3}}
    lines = markdown_table(result).splitlines()
    assert lines[0] == "| " + " | ".join(TABLE_COLUMNS) + " |"
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| sim_bulk_mbps", "| kernel_veth_mbps", "| handshakes"]
    assert "| 2 | 1 | 3 |" in lines[2]
    assert "0123456789 + changes" in machine_line(result)


@pytest.mark.parametrize(("load", "warned"), [(5.0, True), (0.3, False)])
def test_a_busy_machine_is_named_on_stderr(
        load: float, warned: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("os.getloadavg", lambda: (load, load, load))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert main(["bench", "--only", "sim_bulk", "--size", "20000", "--runs", "1"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["system"]["load_average"] == [load] * 3
    assert ("the machine is busy (load 5.0 on 2 CPUs)" in captured.err) is warned


def test_the_json_says_which_modules_ran_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures of a compiled build (benchmarks/mypyc_build.py) cannot pass for the
    pure package's: the machine object lists the modules loaded from extensions."""
    import sys
    import types

    from tcpstack.harness.bench import compiled_modules, system_info

    assert system_info()["compiled_modules"] == compiled_modules() == []  # the tests run pure
    fake = types.ModuleType("tcpstack.fake_hot")
    fake.__file__ = "/x/tcpstack/fake_hot.cpython-311-x86_64-linux-gnu.so"
    monkeypatch.setitem(sys.modules, "tcpstack.fake_hot", fake)
    assert compiled_modules() == ["fake_hot"]


def test_cli_profile_run_sim_churn_profiles_the_churn(capsys: pytest.CaptureFixture[str]) -> None:
    """``--profile-run sim_churn``: the counts of a churn run of --churn connections,
    then the table, whose functions include the churn's (its server closes after the
    client's FIN, a path sim_bulk's profile does not take)."""
    assert main(["bench", "--profile", "200", "--profile-run", "sim_churn", "--churn", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("sim_churn under cProfile: 20 connections")
    assert "7.0 packets per lifecycle" in lines[0]
    assert lines[1] == "" and lines[2].startswith("| function |")
    assert any("harness/speed.py" in line and "(server)" in line for line in lines[4:])


def test_cli_profile_run_default_is_sim_bulk(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--profile", "200", "--profile-run", "sim_bulk",
                 "--profile-size", "20000"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| function |")
    assert not any("(server)" in line for line in lines)


def test_cli_profile_run_names_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--profile", "--profile-run", "sim_nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--profile-run must be one of sim_bulk, sim_churn" in err[0]
