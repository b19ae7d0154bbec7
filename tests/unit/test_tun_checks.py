"""What guards ``tcpstack tun`` against a new user's trips, tested without root.

No device is created here (a fake stands in for :class:`TunDevice` where the
driver or the command line needs one) and nothing waits on a clock: output
paths are checked at start, the ready file appears atomically and goes at
exit, a device is only deleted by its creator, and the loop stops when its
device or its namespace goes away. The same trips against the real kernel
are in tests/integration/test_tun_trips.py.
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tcpstack import Stack
from tcpstack.cli import tun as cli_tun
from tcpstack.cli.argtypes import UsageError
from tcpstack.cli.outputs import ReadyFile, open_output
from tcpstack.drivers import tun
from tcpstack.drivers.netns import NetnsWatch, names_of_own_netns

PEER = ipaddress.IPv4Interface("192.0.2.1/24")


# --- output files --------------------------------------------------------------------


def test_open_output_opens_at_once(tmp_path: Path) -> None:
    path = tmp_path / "run.pcap"
    with open_output(path, "--pcap") as fp:
        assert path.exists()
        fp.write(b"x")
    assert path.read_bytes() == b"x"


@pytest.mark.parametrize(
    ("name", "reason"), [("missing/run.pcap", "No such file or directory"), (".", "Is a directory")]
)
def test_open_output_bad_path_is_one_line(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    with pytest.raises(UsageError) as exc:
        open_output(path, "--pcap")
    assert str(exc.value) == f"cannot write --pcap {path}: {reason}"


def test_ready_file_appears_complete_and_goes_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "s.ready"
    path.write_text("stale\n")
    ready = ReadyFile(path)
    assert not path.exists()  # the stale file is gone: waiting for it waits for this run
    ready.write("ready: tun0 192.0.2.2:80")
    assert path.read_text() == "ready: tun0 192.0.2.2:80\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.ready"]  # no temporary file left
    with pytest.raises(ValueError, match="written or removed already"):
        ready.write("again")
    ready.remove()
    ready.remove()
    assert list(tmp_path.iterdir()) == []


def test_ready_file_removed_before_ready_leaves_nothing(tmp_path: Path) -> None:
    ReadyFile(tmp_path / "s.ready").remove()
    assert list(tmp_path.iterdir()) == []


def test_ready_file_of_someone_else_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.ready"
    ready = ReadyFile(path)
    ready.write("ready: ours")
    path.unlink()
    path.write_text("ready: another server's\n")
    ready.remove()
    assert path.read_text() == "ready: another server's\n"


@pytest.mark.parametrize(
    ("name", "reason"), [("missing/s.ready", "No such file or directory"), (".", "Is a directory")]
)
def test_ready_file_bad_path_is_one_line(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    with pytest.raises(UsageError) as exc:
        ReadyFile(path)
    assert str(exc.value) == f"cannot write --ready-file {path}: {reason}"


# --- the namespace watch ---------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fake /run/netns holding ``demo`` (a hard link to our fake namespace) and ``other``."""
    own = tmp_path / "self-net"
    own.write_text("")
    names = tmp_path / "netns"
    names.mkdir()
    os.link(own, names / "demo")
    (names / "other").write_text("")
    yield names, own


def test_names_of_own_netns(run_dir: tuple[Path, Path], tmp_path: Path) -> None:
    names, own = run_dir
    assert names_of_own_netns(str(names), str(own)) == ["demo"]
    assert names_of_own_netns(str(tmp_path / "absent"), str(own)) == []


def test_netns_watch_sees_its_name_deleted(run_dir: tuple[Path, Path]) -> None:
    names, own = run_dir
    watch = NetnsWatch(str(names), str(own))
    assert watch.names == ("demo",)
    assert not watch.deleted()
    (names / "demo").unlink()  # ip netns del demo
    assert watch.deleted()
    (names / "demo").write_text("")  # a new namespace of the same name is not ours
    assert watch.deleted()


def test_netns_watch_without_a_name_never_fires(run_dir: tuple[Path, Path]) -> None:
    names, own = run_dir
    (names / "demo").unlink()
    watch = NetnsWatch(str(names), str(own))
    assert watch.names == ()
    assert not watch.deleted()


# --- the device: ownership -------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "conflict"),
    [
        ("192.0.2.1/24", True),  # the same network (the README's old connect example)
        ("192.0.2.129/25", True),  # a part of it: that part goes elsewhere
        ("192.0.0.1/16", False),  # a larger network: our more specific route wins
        ("198.51.100.1/24", False),
        ("127.0.0.1/8", False),
    ],
)
def test_conflicting_address(existing: str, conflict: bool) -> None:
    found = tun.conflicting_address(PEER, [("tun0", ipaddress.IPv4Interface(existing))])
    assert (found is not None) == conflict
    if conflict:
        assert found is not None and "already routed to tun0" in found


@pytest.fixture
def no_tun(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The checks pass, but opening /dev/net/tun would fail: nothing is created."""
    monkeypatch.setattr(tun, "check_tun_available", lambda: None)
    monkeypatch.setattr(tun, "TUN_PATH", str(tmp_path / "no-tun"))
    monkeypatch.setattr(tun, "_ipv4_addresses", list)


def test_name_in_use_is_refused_before_anything_is_opened(
    no_tun: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tun, "_link_index", lambda name: 7)
    with pytest.raises(tun.TunError, match="interface tun0 already exists in this network"):
        tun.TunDevice("tun0", PEER)


def test_network_in_use_is_refused(no_tun: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tun, "_link_index", lambda name: None)
    monkeypatch.setattr(
        tun, "_ipv4_addresses", lambda: [("tcps0", ipaddress.IPv4Interface("192.0.2.1/24"))]
    )
    with pytest.raises(tun.TunError, match=r"192\.0\.2\.0/24 is already routed to tcps0"):
        tun.TunDevice("tun1", PEER)


class FakeIPRoute:
    """Stands in for pyroute2's IPRoute: records link deletions."""

    deleted: ClassVar[list[int]] = []

    def __enter__(self) -> FakeIPRoute:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def link(self, command: str, index: int) -> None:
        assert command == "del"
        FakeIPRoute.deleted.append(index)


@pytest.mark.parametrize(
    ("made", "now", "deleted"),
    [
        (5, 5, [5]),  # still ours (the fd was shared): deleted
        (5, 9, []),  # another link took the name: left alone
        (5, None, []),  # gone with the fd: nothing to do
        (None, 9, []),  # never created (TUNSETIFF failed): never delete anything
    ],
)
def test_close_deletes_only_the_device_it_made(
    monkeypatch: pytest.MonkeyPatch, made: int | None, now: int | None, deleted: list[int]
) -> None:
    FakeIPRoute.deleted = []
    monkeypatch.setitem(sys.modules, "pyroute2", types.SimpleNamespace(IPRoute=FakeIPRoute))
    monkeypatch.setattr(tun, "_link_index", lambda name: now)
    dev = object.__new__(tun.TunDevice)
    dev.ifname, dev.fd, dev.ifindex = "tun0", -1, made
    dev.close()
    dev.close()
    assert FakeIPRoute.deleted == deleted


def test_read_after_the_device_was_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    def read(fd: int, n: int) -> bytes:
        raise OSError(errno.EBADFD, "File descriptor in bad state")

    dev = object.__new__(tun.TunDevice)
    dev.ifname, dev.fd = "tun0", 99
    monkeypatch.setattr(tun.os, "read", read)
    with pytest.raises(tun.TunDeviceRemoved, match="tun0 was removed from under us") as exc:
        dev.read_packets()
    assert isinstance(exc.value, OSError)  # what callers caught before


# --- the driver's loop stops when its surroundings go ------------------------------------


class FakeDevice:
    """A device whose fd is always readable (``select`` never waits)."""

    removed_on_read = False
    present_now = True
    seen: ClassVar[list[bool]] = []
    ready_path: Path | None = None

    def __init__(self, ifname: str, peer: ipaddress.IPv4Interface, *, mtu: int = 1500,
                 offload: bool = False) -> None:
        self.offload = False
        self.offload_error = "a fake device"
        self._r, self._w = os.pipe()
        os.write(self._w, b"x")

    def read_packets(self) -> list[bytes]:
        if FakeDevice.ready_path is not None:
            FakeDevice.seen.append(FakeDevice.ready_path.exists())
        if FakeDevice.removed_on_read:
            raise tun.TunDeviceRemoved("tun0 was removed from under us (ip link del?)")
        return []

    def present(self) -> bool:
        return FakeDevice.present_now

    def fileno(self) -> int:
        return self._r

    def write(self, packet: bytes) -> bool:
        return True

    def close(self) -> None:
        if self._r >= 0:
            os.close(self._r)
            os.close(self._w)
            self._r = -1


class FakeWatch:
    names = ("demo",)
    gone = False

    def deleted(self) -> bool:
        return FakeWatch.gone


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDevice.removed_on_read, FakeDevice.present_now = False, True
    FakeDevice.seen, FakeDevice.ready_path = [], None
    FakeWatch.gone = False
    monkeypatch.setattr(tun, "TunDevice", FakeDevice)
    monkeypatch.setattr(tun, "NetnsWatch", FakeWatch)
    monkeypatch.setattr(tun, "check_tun_available", lambda: None)


def run_driver() -> tuple[tun.RunStats, list[str]]:
    """Run a driver on the fake device with a clock that moves 0.3 s a call."""
    log: list[str] = []
    ticks = itertools.count()
    driver = tun.TunDriver(
        "tun0",
        "192.0.2.2",
        "192.0.2.1/24",
        Stack("192.0.2.2"),
        log=log.append,
        clock=lambda: next(ticks) * 0.3,
    )
    with driver:
        driver.listen(80)
        stats = driver.run(handle_signals=False, deadline=1000.0)
    return stats, log


def test_loop_stops_when_a_read_finds_the_device_removed(fakes: None) -> None:
    FakeDevice.removed_on_read = True
    stats, log = run_driver()
    assert stats.reason == "device-removed"
    assert "tun0 was removed from under us (ip link del?): stopping" in log
    assert "tun0: removed" not in log  # we did not remove it


def test_loop_stops_when_the_watch_misses_the_device(fakes: None) -> None:
    FakeDevice.present_now = False
    stats, _ = run_driver()
    assert stats.reason == "device-removed"


def test_loop_stops_when_its_namespace_is_deleted(fakes: None) -> None:
    FakeWatch.gone = True
    stats, log = run_driver()
    assert stats.reason == "netns-deleted"
    assert "network namespace demo was deleted (ip netns del)" in log


# --- the command line ---------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_tun.main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture
def refuse_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Path checks come before the device: creating one here is a test failure."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a path check let the command create a TUN device")

    monkeypatch.setattr(tun, "check_tun_available", lambda: None)
    monkeypatch.setattr(tun, "TunDevice", refuse)


@pytest.mark.parametrize(
    ("cmd", "option", "name", "reason"),
    [
        ("serve", "--pcap", "missing/x.pcap", "No such file or directory"),
        ("serve", "--pcap", ".", "Is a directory"),
        ("serve", "--trace", "missing/x.jsonl", "No such file or directory"),
        ("serve", "--ready-file", "missing/x.ready", "No such file or directory"),
        ("serve", "--ready-file", ".", "Is a directory"),
        ("connect", "--pcap", "missing/x.pcap", "No such file or directory"),
        ("connect", "--output", "missing/out", "No such file or directory"),
    ],
)
def test_bad_output_path_is_one_line_at_start(
    refuse_device: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    cmd: str,
    option: str,
    name: str,
    reason: str,
) -> None:
    path = tmp_path / name
    extra = ["--to", "192.0.2.1:7", "--file", "/dev/null"] if cmd == "connect" else []
    code, err = run_cli(capsys, cmd, *extra, option, str(path))
    assert code == 2
    assert err == f"tcpstack tun {cmd}: error: cannot write {option} {path}: {reason}\n"


def test_device_refused_leaves_no_ready_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def in_use(*args: object, **kwargs: object) -> None:
        raise tun.TunError("interface tcps0 already exists in this network namespace")

    monkeypatch.setattr(tun, "check_tun_available", lambda: None)
    monkeypatch.setattr(tun, "TunDevice", in_use)
    code, err = run_cli(capsys, "serve", "-q", "--ready-file", str(tmp_path / "s.ready"))
    assert code == 2
    assert err == (
        "tcpstack tun serve: error: interface tcps0 already exists in this network namespace\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_ready_file_exists_while_running_and_device_removal_is_one_error(
    fakes: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ready = tmp_path / "s.ready"
    FakeDevice.ready_path = ready
    FakeDevice.removed_on_read = True
    code, err = run_cli(capsys, "serve", "--ready-file", str(ready))
    assert code == 1
    assert FakeDevice.seen == [True]  # the loop ran with the ready file in place
    assert not ready.exists()
    assert "tcpstack tun serve: ready: tcps0 192.0.2.2:80 (kernel side 192.0.2.1/24)" in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert errors == [
        "tcpstack tun serve: error: tcps0 was removed from under us (ip link del?); stopped"
    ]
