"""``tcpstack cc list`` / ``show``: the registered algorithms, as a table or JSON."""

from __future__ import annotations

import json

import pytest

from tcpstack import congestion
from tcpstack.cli.main import main
from tcpstack.congestion import AckSample, NewReno


class Probe(NewReno):
    """A sampling, pacing test algorithm.

    Its second paragraph is shown by ``cc show`` only.
    """

    name = "probe-test"
    needs_samples = True

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.pacing_rate = 1e6

    def on_ack(self, sample: AckSample) -> None:
        super().on_ack(sample)


def test_list_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(congestion.ALGORITHMS, Probe.name, Probe)
    assert main(["cc", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["algorithms"]}
    assert rows["newreno"] == {
        "name": "newreno", "aliases": ["reno"], "default": True, "needs_samples": False,
        "pacing": False,
        "description": "Slow start, congestion avoidance, fast retransmit and NewReno fast "
                       "recovery."}
    assert rows[Probe.name]["needs_samples"] and rows[Probe.name]["pacing"]
    assert rows[Probe.name]["description"] == "A sampling, pacing test algorithm."
    assert "reno" not in rows  # an alias, not a row


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cc", "list"]) == 0
    out = capsys.readouterr().out
    assert "newreno (default)" in out and "reno" in out


def test_show(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(congestion.ALGORITHMS, Probe.name, Probe)
    assert main(["cc", "show", Probe.name]) == 0
    out = capsys.readouterr().out
    assert "second paragraph" in out and "pacing: yes" in out
    assert main(["cc", "show", "reno", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "newreno"


@pytest.mark.parametrize("argv", [["cc", "show", "nope"], ["cc"]])
def test_user_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tcpstack: error: ")
    assert "Traceback" not in err
