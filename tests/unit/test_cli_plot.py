"""``tcpstack plot`` and ``demo --plot-tsg/--plot-cwnd`` as a user meets them."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plot") / "fr.jsonl"
    assert main(["demo", "fast-retransmit", "--trace", str(path), "--quiet"]) == 0
    return path


def _is_picture(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix.lower() == ".png":
        return data.startswith(PNG)
    return ET.fromstring(data).tag.endswith("svg")


@pytest.mark.parametrize(("kind", "name"), [("tsg", "a.png"), ("tsg", "a.svg"),
                                            ("cwnd", "c.png"), ("cwnd", "c.SVG")])
def test_plot_writes_the_picture(trace: Path, tmp_path: Path, kind: str, name: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / name
    assert main(["plot", str(trace), "--kind", kind, "-o", str(out)]) == 0
    assert _is_picture(out)
    assert capsys.readouterr().err == ""


def test_plot_from_a_pipe_of_demo_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "retransmission", "--json"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(capsys.readouterr().out))
    out = tmp_path / "rto.svg"
    assert main(["plot", "-", "--kind", "tsg", "-o", str(out)]) == 0
    assert _is_picture(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dir}/missing.jsonl", "-o", "{dir}/x.png"], "cannot read trace"),
        (["{dir}/binary", "-o", "{dir}/x.png"], "not a trace: not UTF-8"),
        (["{dir}/notjson", "-o", "{dir}/x.png"], "not a JSON Lines trace: line 1"),
        (["{dir}/notrecord", "-o", "{dir}/x.png"], "not a JSON Lines trace"),
        (["{dir}/empty", "-o", "{dir}/x.png"], "empty trace"),
        (["{trace}", "-o", "{dir}/x.gif"], "choose a .png or .svg"),
        (["{trace}", "-o", "{dir}/no/such/dir/x.png"], "No such file or directory"),
        (["{trace}", "-o", "{dir}"], "choose a .png or .svg"),
        (["{trace}", "--host", "nobody", "-o", "{dir}/x.png"], "host 'nobody' sends nothing"),
        (["{trace}", "--host", "server", "-o", "{dir}/x.png"], "no data in the trace"),
        (["{trace}", "--conn", "1.1.1.1:1-2.2.2.2:2", "-o", "{dir}/x.png"], "not in the trace"),
        (["{nodata}", "--kind", "cwnd", "-o", "{dir}/x.png"], "no data in the trace"),
        (["{trace}", "--kind", "bogus", "-o", "{dir}/x.png"], "invalid choice: 'bogus'"),
        (["{trace}"], "required: -o/--output"),
    ],
)
def test_bad_input_is_one_line(trace: Path, tmp_path: Path, args: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "binary").write_bytes(PNG + b"\xff\xfe")
    (tmp_path / "notjson").write_text("hello\n")
    (tmp_path / "notrecord").write_text('{"time": 1}\n')
    (tmp_path / "empty").write_text("\n")
    nodata = tmp_path / "nodata.jsonl"
    assert main(["demo", "refused", "--trace", str(nodata), "--quiet"]) == 0
    capsys.readouterr()
    argv = ["plot", *(a.format(dir=tmp_path, trace=trace, nodata=nodata) for a in args)]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    last = err.strip().splitlines()
    assert last[-1].startswith("tcpstack")
    if not message.startswith(("invalid choice", "required")):
        assert len(last) == 1, err
    assert not (tmp_path / "x.png").exists()


def test_demo_plots_alongside_the_ladder(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    tsg, cwnd = tmp_path / "t.svg", tmp_path / "c.png"
    assert main(["demo", "fast-retransmit", "--plot-tsg", str(tsg), "--plot-cwnd", str(cwnd),
                 "--quiet"]) == 0
    assert _is_picture(tsg) and _is_picture(cwnd)
    assert "client" in capsys.readouterr().out


def test_demo_without_data_warns_and_still_draws(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tsg = tmp_path / "t.png"
    assert main(["demo", "refused", "--plot-tsg", str(tsg), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "SYN" in out and not tsg.exists()
    assert err.strip().splitlines() == [
        "tcpstack: warning: --plot-tsg not written: no data in the trace: no segment carried "
        "payload"
    ]


@pytest.mark.parametrize(("flag", "path", "message"), [
    ("--plot-tsg", "x.jpg", "choose a .png or .svg"),
    ("--plot-cwnd", "missing/x.png", "No such file or directory"),
])
def test_demo_checks_plot_paths_before_the_run(tmp_path: Path, flag: str, path: str,
                                               message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", flag, str(tmp_path / path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and len(err.strip().splitlines()) == 1
