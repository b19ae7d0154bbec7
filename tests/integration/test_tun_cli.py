"""``tcpstack tun`` command-line errors: one line on stderr, exit status 2, no traceback.

Every case here fails before a device would be created, so these tests need
neither root nor a namespace and never touch an interface.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tcpstack import cli_tun
from tcpstack.drivers import tun


@pytest.fixture(autouse=True)
def no_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Network rule guard: these tests run in the root namespace, so creating a
    device here is a test bug; fail instead."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a CLI error test tried to create a TUN device")

    monkeypatch.setattr(tun, "TunDevice", refuse)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_tun.main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--address", "192.0.2.300"], "is not an IPv4 address"),
        (["serve", "--address", "::1"], "is not an IPv4 address"),
        (["serve", "--peer", "192.0.2.1"], "needs a prefix length"),
        (["serve", "--peer", "192.0.2.1/32"], "/30 or shorter"),
        (["serve", "--address", "198.51.100.2"], "is not a host address of 192.0.2.0/24"),
        (["serve", "--address", "192.0.2.1"], "must differ"),
        (["serve", "--address", "192.0.2.255"], "is not a host address"),
        (["serve", "--ifname", "much-too-long-name0"], "invalid interface name"),
        (["serve", "--ifname", "a/b"], "invalid interface name"),
        (["serve", "--root", "/nonexistent/dir"], "is not a directory"),
        (["serve", "--app", "echo", "--root", "."], "--root only applies to --app http"),
        (["connect", "--to", "198.51.100.1:80"], "is not the kernel side"),
        (["connect", "--to", "192.0.2.2:80"], "is not the kernel side"),
    ],
)
def test_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "0"],
        ["serve", "--port", "http"],
        ["serve", "--count", "0"],
        ["serve", "--app", "ftp"],
        ["serve", "--loss", "1.5"],
        ["connect", "--to", "192.0.2.1"],
        ["connect", "--to", "192.0.2.1:99999"],
        ["connect"],
        [],
    ],
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_tun.main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_no_dev_net_tun(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tun, "TUN_PATH", str(tmp_path / "no-such-tun"))
    code, err = run_cli(capsys, "serve")
    assert code == 2
    assert "no-such-tun does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_not_root(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tun, "_has_cap_net_admin", lambda: False)
    monkeypatch.setattr(tun, "TUN_PATH", "/dev/null")  # exists everywhere
    code, err = run_cli(capsys, "connect", "--to", "192.0.2.1:80", "--file", "/dev/null")
    assert code == 2
    assert "needs root" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_input_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tun, "check_tun_available", lambda: None)
    code, err = run_cli(
        capsys, "connect", "--to", "192.0.2.1:80", "--file", str(tmp_path / "missing")
    )
    assert code == 2
    assert "cannot read" in err


def test_help_has_examples() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "tcpstack.cli.tun", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 0
    assert "ip netns exec demo tcpstack tun serve" in res.stdout
    assert "--count" in res.stdout


def test_module_entry_point_bad_address() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "tcpstack.cli.tun", "serve", "--address", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip() == "tcpstack tun serve: error: --address 'nope' is not an IPv4 address"
    )
