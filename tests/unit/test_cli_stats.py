"""``tcpstack stats`` as a user meets it: the table, --json, --all, --per-connection, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcpstack.cli import main
from tcpstack.counters import COUNTERS


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["stats", "--json", *argv]) == 0
    out = capsys.readouterr().out
    obj: dict[str, Any] = json.loads(out)  # one object, nothing else on stdout
    return obj


def test_json_counts_the_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    obj = run_json(capsys)
    assert obj["scenario"] == "lifecycle" and obj["seed"] == 1
    client, server = obj["hosts"]["client"], obj["hosts"]["server"]
    assert client["counters"]["active_opens"] == 1
    assert server["counters"]["passive_opens"] == 1
    assert client["counters"]["time_wait_ended"] == 1
    assert client["counters"]["packets_out"] == server["counters"]["packets_in"]
    assert client["counters"]["packets_out"] + server["counters"]["packets_out"] == obj["packets"]
    assert client["nstat"]["TcpActiveOpens"] == 1 and client["nstat"]["TcpExtTW"] == 1
    # Zeros are left out, keys come in the table's order.
    for host in (client, server):
        assert 0 not in host["counters"].values() and 0 not in host["nstat"].values()
        assert list(host["counters"]) == [k for k in COUNTERS if k in host["counters"]]
        assert "connections" not in host


def test_all_shows_every_counter(capsys: pytest.CaptureFixture[str]) -> None:
    obj = run_json(capsys, "--all")
    for host in obj["hosts"].values():
        assert list(host["counters"]) == list(COUNTERS)
        assert host["counters"]["syncookies_sent"] == 0
        assert host["nstat"]["TcpExtSyncookiesSent"] == 0


def test_network_knobs_reach_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    clean = run_json(capsys)["hosts"]["client"]["counters"]
    assert "syn_retrans" not in clean
    lost_syn = run_json(capsys, "--drop", "1")["hosts"]["client"]["counters"]
    assert lost_syn["syn_retrans"] == 1 and lost_syn["rto_timeouts"] == 1


def test_per_connection_lists_what_each_connection_counted(
        capsys: pytest.CaptureFixture[str]) -> None:
    obj = run_json(capsys, "--loss", "0.2", "--seed", "3", "--per-connection")
    counted = 0
    for host in obj["hosts"].values():
        totals: dict[str, int] = {}
        for conn in host["connections"]:
            assert conn["name"].count(":") == 2 and conn["counters"]
            for key, n in conn["counters"].items():
                totals[key] = totals.get(key, 0) + n
        # The host's figure includes every connection's (and the stack's own).
        assert all(host["counters"][k] >= n for k, n in totals.items())
        counted += sum(totals.values())
    assert counted > 0  # the loss made someone retransmit


def test_table_shows_names_and_meanings(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["stats", "fast-retransmit"]) == 0
    out = capsys.readouterr().out
    assert "fast-retransmit, seed 1" in out
    for text in ("retrans_segs", "TcpRetransSegs", "client", "server",
                 COUNTERS["retrans_segs"].description):
        assert text in out
    assert "syncookies_sent" not in out  # zero: hidden
    assert main(["stats", "fast-retransmit", "--all", "--per-connection"]) == 0
    out = capsys.readouterr().out
    assert "syncookies_sent" in out and "per connection" in out


def test_nstat_view_adds_keys_up_by_linux_name(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    obj = run_json(capsys, "--drop", "1")
    assert main(["stats", "--nstat", "--drop", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[1]: line.split()[3:6:2] for line in out.splitlines()
            if line.startswith("│ ")}
    client, server = (obj["hosts"][h]["nstat"] for h in ("client", "server"))
    assert rows["TcpExtTCPSynRetrans"] == [str(client["TcpExtTCPSynRetrans"]), "0"]
    assert set(rows) == set(client) | set(server)  # zeros hidden: only names counted
    assert "retrans_segs" not in out  # names, not keys


@pytest.mark.parametrize(("argv", "message"), [
    (["stats", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["stats", "--drop", "0"], "--drop: packet numbers start at 1"),
    (["stats", "--drop", "x"], "--drop: not a packet number"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                               message: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"tcpstack: error: {message}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["stats", "--loss", "2"])
    assert exc.value.code == 2
    assert "--loss: must be between 0 and 1" in capsys.readouterr().err


def test_tun_stats_json_bad_path_fails_before_any_device(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    from tcpstack.drivers import tun

    try:
        tun.check_tun_available()
    except tun.TunError as exc:
        pytest.skip(f"the output check comes after the TUN check: {exc}")

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("the bad --stats-json path was found only after making a device")

    monkeypatch.setattr(tun, "TunDevice", refuse)
    bad = tmp_path / "no-such-dir" / "stats.json"
    assert main(["tun", "serve", "--quiet", "--stats-json", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"tcpstack tun serve: error: cannot write --stats-json {bad}: "
                   "No such file or directory\n")
