"""The tcpstack command as a user meets it: output, files, and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcpstack.cli import main
from tcpstack.scenarios import SCENARIOS
from tcpstack.tools.pcap import read_pcap
from tcpstack.trace import EVENT_NAMES, read_jsonl
from tcpstack.wire import decode_packet


def test_demo_draws_the_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for state in ("SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
                  "CLOSE-WAIT", "LAST-ACK", "TIME-WAIT", "CLOSED"):
        assert state in out
    assert "SYN seq=0" in out and "SYN,ACK seq=0 ack=1" in out
    assert "239.990 s later" in out


def test_demo_absolute_shows_wire_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    records = read_jsonl(capsys.readouterr().out.splitlines())
    syn = next(r for r in records if r.event == "segment_sent" and r.data["flags"] == ["SYN"])
    assert main(["demo", "--absolute", "--quiet"]) == 0
    assert f"seq={syn.data['seq']}" in capsys.readouterr().out


def test_demo_json_is_the_trace_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(line) for line in lines]
    assert all(set(o) == {"time", "host", "conn", "event", "data"} for o in objs)
    assert {o["event"] for o in objs} == set(EVENT_NAMES) - {"segment_dropped"}
    sent = [o for o in objs if o["event"] == "segment_sent"]
    assert set(sent[0]["data"]) == {"seq", "ack", "flags", "len", "window", "options"}
    assert sent[0]["data"]["options"]["mss"] == 1460
    assert set(sent[0]["data"]["options"]) == {"mss", "sack_permitted", "ts", "wscale"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_draws(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", name]) == 0
    assert "client" in capsys.readouterr().out


def test_pcap_html_svg_trace_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap, html, svg, trace = (tmp_path / n for n in ("a.pcap", "a.html", "a.svg", "a.jsonl"))
    assert main(["demo", "lost-final-ack", "--pcap", str(pcap), "--html", str(html),
                 "--svg", str(svg), "--trace", str(trace)]) == 0
    packets = read_pcap(pcap)
    assert len(packets) == 10
    for _, raw in packets:
        decode_packet(raw)  # checksums verified
    assert "<svg" in html.read_text() and svg.read_text().lstrip().startswith("<")
    assert len(read_jsonl(trace.read_text().splitlines())) > 20


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_pcap_with_good_checksums(tmp_path: Path) -> None:
    pcap = tmp_path / "run.pcap"
    assert main(["demo", "--pcap", str(pcap), "--quiet"]) == 0
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "tcp.check_checksum:TRUE",
         "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "tcp.flags.str",
         "-e", "tcp.checksum.status", "-e", "ip.checksum.status"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()
    assert len(out) == 8
    assert all(line.split("\t")[1:] == ["1", "1"] for line in out), out  # 1 = Good


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "no-such-scenario"], "unknown scenario"),
        (["demo", "--loss", "1.5"], "between 0 and 1"),
        (["demo", "--delay", "soon"], "not a number"),
        (["demo", "--msl", "0"], "must be > 0"),
        (["demo", "--pcap", "/nonexistent/dir/x.pcap"], "No such file or directory"),
        (["demo", "--json", "--html", "/nonexistent/x.html"], "cannot write --html"),
        (["bench", "--size", "-1"], "--size"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code != 0
    assert message in err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(("tcpstack", "usage"))


def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "tcpstack", "scenarios"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.splitlines()[0].startswith("lifecycle")
    assert len(proc.stdout.splitlines()) == len(SCENARIOS)
