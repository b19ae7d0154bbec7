"""``tcpstack experiment``: outputs (table, JSON, plot) and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpstack.cli.main import main
from tcpstack.harness.experiments import point_seed

TINY = ["--bandwidth", "1e6", "--rtt", "0.02", "--duration", "0.5", "--jobs", "1", "--quiet"]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one object, one line
    obj = json.loads(out)
    assert isinstance(obj, dict)
    return obj


def test_goodput_json(capsys: pytest.CaptureFixture[str]) -> None:
    obj = _json(capsys, ["experiment", "goodput", "--loss", "0.01,0.05", "--seed", "4", "--json",
                         *TINY])
    assert obj["experiment"] == "goodput"
    assert obj["seed"] == 4
    assert obj["parameters"]["losses"] == [0.01, 0.05]  # type: ignore[index]
    points = obj["points"]
    assert isinstance(points, list)
    assert [p["seed"] for p in points] == [point_seed(4, 0), point_seed(4, 1)]
    assert [p["spec"]["loss"] for p in points] == [0.01, 0.05]
    assert all("flows" in p["result"] and "spec" not in p["result"] for p in points)
    rows = obj["summary"]["rows"]  # type: ignore[index]
    assert [r["loss"] for r in rows] == [0.01, 0.05]
    machine = obj["machine"]
    assert machine["executor"] == "process" and machine["jobs"] == 1  # type: ignore[index]


def test_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "fair.png"
    assert main(["experiment", "fairness", "--flows", "2", "--plot", str(png), *TINY]) == 0
    out = capsys.readouterr().out
    assert "Jain's index" in out and "fairness" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(("experiment", "suffix", "magic"), [
    ("goodput", ".svg", b"<?xml"), ("bufferbloat", ".pdf", b"%PDF"),
])
def test_plots_of_each_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            experiment: str, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"plot{suffix}"
    extra = ["--buffers", "1,2"] if experiment == "bufferbloat" else ["--loss", "0.01,0.1"]
    assert main(["experiment", experiment, *extra, "--plot", str(out), *TINY]) == 0
    assert out.read_bytes().startswith(magic)


def test_sweep_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('name = "tiny"\n[dumbbell]\nbandwidth = 1e6\nrtt = 0.02\nduration = 0.5\n'
                    '[[flows]]\ncount = 2\n[grid]\nbuffer_bdp = [1, 2]\n', encoding="utf-8")
    svg = tmp_path / "s.svg"
    obj = _json(capsys, ["experiment", "sweep", str(spec), "--json", "--jobs", "1", "--quiet",
                         "--plot", str(svg)])
    assert [p["parameters"] for p in obj["points"]] == [  # type: ignore[attr-defined]
        {"buffer_bdp": 1}, {"buffer_bdp": 2}]
    assert [len(p["result"]["flows"]) for p in obj["points"]] == [2, 2]  # type: ignore[attr-defined]
    assert svg.read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize(("argv", "message"), [
    (["goodput", "--algorithms", "newreno,nosuch"], "unknown congestion control 'nosuch'"),
    (["goodput", "--loss", "1.0"], "each loss probability must be in"),
    (["goodput", "--plot", "x.gif"], "cannot write x.gif: choose a .png"),
    (["goodput", "--plot", "/no/such/dir/x.png"], "No such file or directory"),
    (["goodput", "--executor", "dask"], "needs --scheduler"),
    (["goodput", "--scheduler", "tcp://127.0.0.1:8786"], "goes with --executor dask"),
    (["bufferbloat", "--algorithms", "x"], "unknown congestion control 'x'"),
    (["sweep", "/no/such/file.toml"], "cannot read /no/such/file.toml"),
    ([], "choose an experiment"),
])
def test_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                    message: str) -> None:
    extra = [] if not argv or argv[0] == "sweep" else TINY
    assert main(["experiment", *argv, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tcpstack: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["goodput", "--loss", "0.1,x"], ["goodput", "--bandwidth", "-1"], ["fairness", "--flows", "0"],
    ["goodput", "--jobs", "0"], ["goodput", "--executor", "threads"],
])
def test_bad_flag_values_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                          argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["experiment", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err


def test_bad_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\n", encoding="utf-8")
    assert main(["experiment", "sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not valid TOML" in err and err.count("\n") == 1
    unknown = tmp_path / "cc.toml"
    unknown.write_text("[grid]\n'flows.algorithm' = ['newreno', 'nosuch']\n", encoding="utf-8")
    assert main(["experiment", "sweep", str(unknown)]) == 2
    err = capsys.readouterr().err
    assert "unknown congestion control 'nosuch'" in err and err.count("\n") == 1


@pytest.mark.parametrize("experiment", ["goodput", "fairness", "bufferbloat", "sweep"])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], experiment: str) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", experiment, "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and f"tcpstack experiment {experiment}" in out
