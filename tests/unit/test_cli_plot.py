"""``tcpstack plot`` (every kind, PNG/SVG/PDF, --title, --width/--height) and
``demo --plot-tsg/--plot-cwnd`` as a user meets them."""

from __future__ import annotations

import io
import json
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


@pytest.fixture(scope="module")
def server_only(trace: Path) -> Path:
    """The same run as a TUN trace whose data sender is the kernel: the server's records."""
    path = trace.with_name("server.jsonl")
    lines = [line for line in trace.read_text().splitlines()
             if json.loads(line)["host"] == "server"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _is_picture(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix.lower() == ".png":
        return data.startswith(PNG)
    if path.suffix.lower() == ".pdf":
        return data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
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


@pytest.mark.parametrize(("kind", "suffix"), [
    # PDF for every kind; the new kinds in every format (test_cli_plot.py has tsg
    # and cwnd as PNG and SVG).
    *((kind, ".pdf") for kind in ("tsg", "cwnd", "rtt", "throughput")),
    *((kind, suffix) for kind in ("rtt", "throughput") for suffix in (".png", ".SVG")),
])
def test_every_kind_in_every_format(trace: Path, tmp_path: Path, kind: str, suffix: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{kind}{suffix}"
    assert main(["plot", str(trace), "--kind", kind, "-o", str(out)]) == 0
    assert _is_picture(out)
    assert capsys.readouterr().err == ""


def test_pdf_is_reproducible(trace: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "1.pdf", tmp_path / "2.pdf"
    for out in (one, two):
        assert main(["plot", str(trace), "--kind", "rtt", "-o", str(out)]) == 0
    assert one.read_bytes() == two.read_bytes()


def _svg(path: Path) -> tuple[ET.Element, str]:
    root = ET.fromstring(path.read_bytes())
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    return root, text


def test_title_and_size(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.svg"
    assert main(["plot", str(trace), "--kind", "throughput", "--title", "One loss",
                 "--width", "16", "--height", "4.5", "-o", str(out)]) == 0
    root, text = _svg(out)
    assert (root.get("width"), root.get("height")) == ("1152pt", "324pt")  # 72 pt an inch
    assert "One loss" in text and "Goodput per flow" not in text
    default = tmp_path / "d.svg"
    assert main(["plot", str(trace), "--kind", "throughput", "--width", "5", "-o",
                 str(default)]) == 0
    root, text = _svg(default)
    assert (root.get("width"), root.get("height")) == ("360pt", "432pt")
    assert "Goodput per flow (0.02 s windows, delivered in order at the receiver)" in text


def test_the_rtt_and_throughput_of_the_run(trace: Path, tmp_path: Path) -> None:
    rtt, tput = tmp_path / "r.svg", tmp_path / "g.svg"
    assert main(["plot", str(trace), "--kind", "rtt", "-o", str(rtt)]) == 0
    assert main(["plot", str(trace), "--kind", "throughput", "--interval", "0.05",
                 "-o", str(tput)]) == 0
    text = _svg(rtt)[1]
    assert "RTT sample" in text and "srtt" in text and "Karn" in text
    text = _svg(tput)[1]
    assert "0.05 s windows" in text and "client (192.0.2.1:" in text


def test_throughput_and_rtt_from_the_receiver_alone(server_only: Path, tmp_path: Path) -> None:
    out, rtt = tmp_path / "g.png", tmp_path / "r.svg"
    assert main(["plot", str(server_only), "--kind", "throughput", "-o", str(out)]) == 0
    assert _is_picture(out)
    assert main(["plot", str(server_only), "--kind", "rtt", "-o", str(rtt)]) == 0
    text = _svg(rtt)[1]
    assert "receiver: timestamp echo" in text and "srtt" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{server}", "--kind", "cwnd"], "is not traced: no cwnd"),
        (["{trace}", "--kind", "tsg", "--interval", "1"], "--interval is for --kind throughput"),
        (["{trace}", "--kind", "throughput", "--conn", "1.1.1.1:1-2.2.2.2:2"],
         "not in the trace"),
        (["{trace}", "--kind", "throughput", "--host", "server"], "no data in the trace"),
        (["{trace}", "--kind", "rtt", "-o", "{dir}/x.jpg"], "choose a .png or .svg picture, "
         "or a .pdf"),
        (["{trace}", "--kind", "throughput", "--interval", "0"], "must be > 0"),
        (["{trace}", "--width", "0.5"], "must be between 1 and 50 inches"),
        (["{trace}", "--height", "tall"], "not a number of inches"),
    ],
)
def test_errors_are_one_line(trace: Path, server_only: Path, tmp_path: Path,
                             args: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plot", *(a.format(trace=trace, server=server_only, dir=tmp_path) for a in args)]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "x.png")]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    if not any(m in message for m in ("must be", "not a number")):
        assert len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_help_has_an_example_of_each_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plot", "--help"])
    out = capsys.readouterr().out
    for kind in ("tsg", "cwnd", "rtt", "throughput"):
        assert f"--kind {kind} " in out, kind
    assert ".pdf" in out and "--interval" in out and "--width" in out
