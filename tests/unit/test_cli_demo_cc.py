"""`tcpstack demo --cc NAME --ecn MODE`: a scenario's two hosts run the chosen congestion
control and ECN switch (issue 13), and the trace shows it."""

from __future__ import annotations

import json

import pytest

from tcpstack.cli import main


def trace(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    assert main(["demo", *argv, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("algorithm", ["newreno", "cubic", "bbr", "vegas"])
def test_the_chosen_algorithm_is_in_every_metrics_record(
        algorithm: str, capsys: pytest.CaptureFixture[str]) -> None:
    records = trace(capsys, "fast-retransmit", "--cc", algorithm)
    names = {r["data"]["congestion_control"] for r in records  # type: ignore[index]
             if r["event"] == "metrics_updated"}
    assert names == {algorithm}


def test_without_flags_the_default_algorithm_and_no_ecn(capsys: pytest.CaptureFixture[str]) -> None:
    records = trace(capsys, "fast-retransmit")
    names = {r["data"]["congestion_control"] for r in records  # type: ignore[index]
             if r["event"] == "metrics_updated"}
    assert names == {"newreno"}
    syns = [r["data"] for r in records if r["event"] == "segment_sent"
            and "SYN" in r["data"]["flags"]]  # type: ignore[index, operator]
    assert syns and all("ECE" not in s["flags"] for s in syns)  # type: ignore[index]


def test_ecn_on_negotiates_it_on_the_handshake(capsys: pytest.CaptureFixture[str]) -> None:
    records = trace(capsys, "lifecycle", "--ecn", "on")
    flags = [(r["host"], r["data"]["flags"]) for r in records  # type: ignore[index]
             if r["event"] == "segment_sent" and "SYN" in r["data"]["flags"]]  # type: ignore[index, operator]
    # RFC 3168 §6.1.1: an ECN-setup SYN (ECE, CWR), an ECN-setup SYN,ACK (ECE only).
    assert ("client", ["SYN", "ECE", "CWR"]) in [(h, sorted(f, key=["SYN", "ECE", "CWR"].index))
                                                 for h, f in flags if "ACK" not in f]
    assert any(h == "server" and "ECE" in f and "CWR" not in f for h, f in flags)
    data = [r["data"] for r in records if r["event"] == "segment_sent"
            and r["data"]["len"]]  # type: ignore[index]
    assert data and all(d.get("ecn") == "ECT(0)" for d in data)  # type: ignore[union-attr]


def test_an_unknown_algorithm_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--cc", "westwood"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown congestion control 'westwood'" in err
