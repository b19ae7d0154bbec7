"""``tcpstack experiment sweep``'s file: grid expansion, paths, checks (no simulation)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tcpstack.config import TcpConfig
from tcpstack.drivers.topology import DumbbellSpec, FlowSpec
from tcpstack.harness.experiments import ExperimentError, expand_grid, load_sweep

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"


def test_expand_grid_is_nested_loops_first_key_slowest() -> None:
    grid = {"a": (1, 2), "b": ("x", "y", "z")}
    assert expand_grid(grid) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"},
        {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"},
    ]


def test_expand_grid_edges() -> None:
    assert expand_grid({}) == [{}]                 # no grid: one point
    assert expand_grid({"a": (), "b": (1,)}) == []  # an empty list: none


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_grid_paths_reach_dumbbell_flows_and_config(tmp_path: Path) -> None:
    sweep = load_sweep(_write(tmp_path, """
        [dumbbell]
        bandwidth = 2e6
        duration = 3.0
        [[flows]]
        algorithm = "newreno"
        count = 2
        [[flows]]
        algorithm = "reno"
        config = { sack = false }
        [grid]
        buffer_bdp = [0.5, 4]
        "flows.1.start" = [1.5]
        "flows.config.timestamps" = [false]
    """))
    assert sweep.name == "s"
    points = sweep.points()
    assert [params for params, _ in points] == [
        {"buffer_bdp": 0.5, "flows.1.start": 1.5, "flows.config.timestamps": False},
        {"buffer_bdp": 4, "flows.1.start": 1.5, "flows.config.timestamps": False},
    ]
    spec = points[1][1]
    assert isinstance(spec, DumbbellSpec)
    assert (spec.bandwidth, spec.duration, spec.buffer_bdp) == (2e6, 3.0, 4)
    # A config changes the simulator's defaults for the flow: buffers of twice
    # (BDP + bottleneck buffer) = 2 * (12,500 + 50,000) = 125,000 bytes at 2 Mbit/s, 50 ms.
    sized = TcpConfig(congestion_control="newreno", recv_buffer=125_000, send_buffer=262_144)
    first = FlowSpec(algorithm="newreno", config=replace(sized, timestamps=False))
    second = FlowSpec(algorithm="reno", start=1.5,
                      config=replace(sized, congestion_control="reno", sack=False,
                                     timestamps=False))
    assert spec.flows == (first, first, second)
    # The file's tables are not changed by a point (each starts from the file).
    assert sweep.flows[1] == {"algorithm": "reno", "config": {"sack": False}}


def test_file_without_grid_or_flows_is_one_default_point(tmp_path: Path) -> None:
    points = load_sweep(_write(tmp_path, 'name = "one"\n')).points()
    assert len(points) == 1
    assert points[0][0] == {}
    assert points[0][1].flows == (FlowSpec(),)


def test_example_file_loads() -> None:
    sweep = load_sweep(EXAMPLE)
    points = sweep.points()
    assert len(points) == 4
    assert [(s.buffer_bdp, s.flows[1].start) for _, s in points] == [
        (0.5, 0.0), (0.5, 5.0), (2.0, 0.0), (2.0, 5.0)]


@pytest.mark.parametrize(("text", "message"), [
    ("[dumbbell\n", "not valid TOML"),
    ("colour = 1\n", "unknown key"),
    ("[dumbbell]\nbandwith = 1e6\n", "unknown field.*bandwith"),
    ("[dumbbell]\nseed = 3\n", "use --seed"),
    ("[grid]\nseed = [1, 2]\n", "use --seed"),
    ("[[flows]]\nalgo = 'x'\n", "unknown field.*algo"),
    ("[[flows]]\nconfig = { sak = true }\n", "unknown field.*sak"),
    ("[grid]\nrtt = 0.1\n", "must be a list"),
    ("[grid]\n'flows.3.start' = [1]\n", "only 1 \\[\\[flows\\]\\]"),
    ("[grid]\n'flows.config' = [1]\n", "not a parameter"),
    ("[grid]\n'links.rtt' = [1]\n", "not a parameter"),
    ("[grid]\nrtt = []\n", "no points"),
    ("[grid]\nrtt = [0.1, 0.2]\nloss = [0.0, 0.1]\nduration = [1, 2]\n"
     "mss = [500, 600, 700, 800, 900]\nbandwidth = [1e6, 2e6, 3e6, 4e6, 5e6]\n"
     "buffer_bdp = [1, 2, 3, 4, 5]\nwarmup = [0, 1, 2, 3, 4]\nqueue = ['red', 'codel', 'droptail', "
     "'red', 'codel', 'droptail', 'red', 'codel', 'droptail', 'red']\n"
     "sample_interval = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", "at most"),
])
def test_bad_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=message) as info:
        load_sweep(_write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="cannot read"):
        load_sweep(tmp_path / "missing.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ExperimentError, match="not UTF-8"):
        load_sweep(bad)


def test_a_value_the_spec_refuses_names_the_point(tmp_path: Path) -> None:
    sweep = load_sweep(_write(tmp_path, "[[flows]]\ncount = -1\n[grid]\nrtt = [0.05]\n"))
    with pytest.raises(ExperimentError, match=r"point 0 \(rtt=0.05\).*count"):
        sweep.points()
    sweep = load_sweep(_write(tmp_path, "[grid]\n'flows.config.recv_buffer' = [100000, 0]\n"))
    with pytest.raises(ExperimentError, match=r"point 1 \(flows.config.recv_buffer=0\): "
                                              r"TcpConfig.recv_buffer must be in"):
        sweep.points()
