"""``tcpstack plot --kind rtt|throughput``, PDF, --title, --width/--height: a simulator
run plotted with every kind in every format, and the one-line errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plot-kinds") / "fr.jsonl"
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


def _valid(path: Path) -> bool:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".png":
        return data.startswith(PNG)
    if suffix == ".pdf":
        return data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    return ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"


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
    assert _valid(out)
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


def test_throughput_from_the_receiver_alone(server_only: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    assert main(["plot", str(server_only), "--kind", "throughput", "-o", str(out)]) == 0
    assert _valid(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{server}", "--kind", "rtt"], "is not traced: no RTT samples"),
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
