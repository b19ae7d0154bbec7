"""Helpers of the TUN integration tests: namespaces, the stack subprocess, kernel clients.

Everything runs inside a network namespace the test creates (no route out,
removed afterwards). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tcpstack
from tcpstack.drivers.netns import (
    NetnsError,
    has_default_route,
    popen_in_netns,
    run_in_netns,
    temporary_netns,
)

IFNAME = "tcps0"
OURS = "192.0.2.2"
KERNEL = "192.0.2.1"
PEER = f"{KERNEL}/24"
WAIT = 30.0  # seconds, upper bound of any single wait
SRC_DIR = str(Path(tcpstack.__file__).resolve().parents[1])


def tun_unavailable_reason() -> str | None:
    """Why TUN tests cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "TUN tests need Linux"
    if os.geteuid() != 0:
        return "TUN tests need root (network namespaces and /dev/net/tun)"
    if not os.path.exists("/dev/net/tun"):
        return "TUN tests need /dev/net/tun"
    if shutil.which("ip") is None:
        return "TUN tests need the 'ip' command (iproute2)"
    return None


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``; fail instead when TCPSTACK_REQUIRE_TUN=1."""
    if os.environ.get("TCPSTACK_REQUIRE_TUN") == "1":
        pytest.fail(f"TCPSTACK_REQUIRE_TUN=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_linux_target() -> None:
    """Skip (or fail, with TCPSTACK_REQUIRE_TUN=1) where drill's Linux target cannot run."""
    from tcpstack.harness.drill.targets.linux import linux_unavailable_reason

    reason = linux_unavailable_reason()
    if reason is not None:
        require_or_skip(reason)


def netns_names() -> set[str]:
    """The network namespaces that exist now (``ip netns list``)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10,
                         check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def wait_for(
    what: str, check: Callable[[], bool], timeout: float = WAIT, interval: float = 0.05
) -> None:
    """Poll ``check()`` until true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def child_env() -> dict[str, str]:
    """Environment for child Pythons: tcpstack importable, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Netns:
    """A namespace made for one test, and the processes started in it."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.tmp = tmp
        self._procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    # -- processes -------------------------------------------------------

    def start(self, argv: Sequence[str], label: str) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the namespace; stdout/stderr go to files in tmp."""
        out = self.tmp / f"{label}.out"
        err = self.tmp / f"{label}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = popen_in_netns(self.name, argv, stdout=fo, stderr=fe, env=child_env())
        self._procs.append((proc, err))
        return proc

    def output(self, label: str) -> tuple[str, str]:
        """(stdout, stderr) written so far by process ``label``."""
        return (
            (self.tmp / f"{label}.out").read_text(errors="replace"),
            (self.tmp / f"{label}.err").read_text(errors="replace"),
        )

    def start_stack(self, *args: str, label: str = "stack") -> subprocess.Popen[bytes]:
        """Start ``python -m tcpstack.cli.tun ARGS``; for ``serve``, wait until it is ready.

        A server gets ``--ready-file`` and is waited for by that file (bounded),
        as a script would: the device is up and the stack listens.
        """
        argv = [sys.executable, "-m", "tcpstack.cli.tun", *args]
        ready = self.tmp / f"{label}.ready"
        if args and args[0] == "serve":
            argv += ["--ready-file", str(ready)]
        proc = self.start(argv, label)
        if args and args[0] == "serve":
            self.wait_ready(proc, label, ready)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], label: str, ready: Path) -> None:
        """Wait until ``ready`` (a ``--ready-file``) exists; fail if ``proc`` exits first."""

        def exists() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"{label} exited early ({proc.returncode}): {self.output(label)[1]}")
            return ready.exists()

        wait_for(f"{label} ready ({ready.name})", exists)

    def wait_exit(self, proc: subprocess.Popen[bytes], timeout: float = WAIT) -> int:
        """Wait for ``proc`` to exit by itself (bounded); return its exit status."""
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {proc.args!r} did not exit within {timeout} s")

    def python(self, script: str, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        """Run a kernel-side Python script in the namespace; return its JSON output."""
        path = self.tmp / f"script{len(list(self.tmp.glob('script*')))}.py"
        path.write_text(script)
        res = run_in_netns(
            self.name,
            [sys.executable, str(path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
        )
        if res.returncode != 0:
            pytest.fail(f"kernel-side script failed ({res.returncode}): {res.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
        return result

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace and wait (bounded)."""
        return run_in_netns(
            self.name, argv, capture_output=True, text=True, timeout=timeout, env=child_env()
        )

    def ip(self, *args: str, check: bool = True) -> str:
        """Output of ``ip -n NS ARGS``."""
        res = subprocess.run(
            ["ip", "-n", self.name, *args], capture_output=True, text=True, timeout=10, check=False
        )
        if check and res.returncode != 0:
            pytest.fail(f"ip -n {self.name} {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    # -- kernel state ----------------------------------------------------

    def tcp_sockets(self) -> list[tuple[str, str, str]]:
        """(state, local, peer) of every kernel TCP socket in the namespace (``ss -tan``)."""
        res = self.run(["ss", "-Htan"], timeout=10)
        out = []
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 5:
                out.append((parts[0], parts[3], parts[4]))
        return out

    def tcp_counters(self) -> dict[str, int]:
        """The kernel's ``Tcp:`` MIB counters of this namespace (/proc/net/snmp)."""
        text = self.run(["cat", "/proc/net/snmp"], timeout=10).stdout
        rows = [ln.split()[1:] for ln in text.splitlines() if ln.startswith("Tcp:")]
        return {k: int(v) for k, v in zip(rows[0], rows[1], strict=True)}

    def tcp_ext_counters(self) -> dict[str, int]:
        """The kernel's ``TcpExt:`` counters of this namespace (/proc/net/netstat)."""
        text = self.run(["cat", "/proc/net/netstat"], timeout=10).stdout
        rows = [ln.split()[1:] for ln in text.splitlines() if ln.startswith("TcpExt:")]
        return {k: int(v) for k, v in zip(rows[0], rows[1], strict=True)}

    def stack_stats(self, label: str = "stack") -> dict[str, Any]:
        """The run counters a ``-v`` stack printed at exit (its ``stats {...}`` line)."""
        for line in reversed(self.output(label)[1].splitlines()):
            _, sep, rest = line.partition(": stats {")
            if sep:
                stats: dict[str, Any] = json.loads("{" + rest)
                return stats
        pytest.fail(f"no stats line from {label}: {self.output(label)[1][-2000:]}")

    def close(self) -> None:
        """Stop every process started here: SIGTERM, then SIGKILL (bounded)."""
        for proc, _ in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def netns_for_test(tmp: Path) -> Iterator[Netns]:
    """A fresh namespace (only ``lo``, no route out), removed afterwards."""
    try:
        cm = temporary_netns("tcpst")
        name = cm.__enter__()
    except NetnsError as exc:
        require_or_skip(f"cannot create a network namespace: {exc}")
        raise  # not reached
    ns = Netns(name, tmp)
    try:
        assert not has_default_route(name), "a fresh namespace must have no route out"
        yield ns
    finally:
        try:
            ns.close()
        finally:
            cm.__exit__(None, None, None)
