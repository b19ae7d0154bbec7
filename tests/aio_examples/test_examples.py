"""The programs in examples/ run in the simulator (``--sim``) and do what they say.

Each example runs as a subprocess, as a user would run it, with small sizes
and a fixed seed; the tests read its output: echoes equal what was sent,
downloads match the served bytes by SHA-256, every chat line reaches every
other client, a seed repeats a run, and bad input ends a program with one
line. No root needed: the TUN mode is exercised by
tests/integration/test_aio_tun.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tcpstack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SRC = Path(tcpstack.__file__).resolve().parents[1]
TIMEOUT = 60.0  # seconds, upper bound of one example's run (they take well under 1 s)


def run_example(name: str, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``examples/NAME ARGS`` (or ``python -c CODE`` from examples/) with this tcpstack."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(EXAMPLES)]))
    argv = [sys.executable, "-c", code] if code else [sys.executable, str(EXAMPLES / name)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=TIMEOUT,
                          env=env, cwd=EXAMPLES, check=False)


def succeeded(res: subprocess.CompletedProcess[str]) -> list[str]:
    """The output lines of a run that must have succeeded."""
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr == ""
    return res.stdout.splitlines()


def sim_summary(lines: list[str]) -> tuple[int, int]:
    """(packets sent, packets lost) from the ``[sim]`` line an example prints last."""
    match = re.fullmatch(r"\[sim\] [\d.]+ s of virtual time in [\d.]+ s of real time; "
                         r"(\d+) packets sent, (\d+) lost", lines[-1])
    assert match is not None, lines[-1]
    return int(match[1]), int(match[2])


@pytest.mark.parametrize("args", [(), ("--loss", "0.3", "--delay", "0.05", "--seed", "5")])
def test_echo_round_trips_every_line(args: tuple[str, ...]) -> None:
    lines = succeeded(run_example("echo.py", *args))
    pairs = [re.fullmatch(r"sent '(.*)', echoed '(.*)'", line) for line in lines[:-1]]
    assert [m.groups() for m in pairs if m] == [(s, s) for s in ("hello", "from tcpstack",
                                                                 "goodbye")]
    sent, lost = sim_summary(lines)
    assert sent > 0
    assert (lost > 0) == bool(args)  # the lossy link did lose packets, and TCP recovered


def test_http_server_serves_a_directory_byte_exact(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    files = {"random.bin": random.Random(7).randbytes(200_000), "hello.txt": b"hello\n" * 1000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    lines = succeeded(run_example("http_server.py", "--dir", str(tmp_path), "--loss", "0.05",
                                  "--delay", "0.02", "--seed", "2"))
    assert re.fullmatch(r"GET / -> 200, \d+ bytes \(the index\)", lines[0])
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()[:16]
        assert (f"GET /{name} -> 200, {len(data)} bytes, sha256 {digest}... matches the file"
                in lines)
    assert sim_summary(lines)[1] > 0


def test_http_server_default_generates_a_file() -> None:
    pytest.importorskip("aiohttp")
    lines = succeeded(run_example("http_server.py", "--size", "64K"))
    digest = hashlib.sha256(random.Random(1).randbytes(64 * 1024)).hexdigest()[:16]
    assert f"GET /random.bin -> 200, 65536 bytes, sha256 {digest}... matches the file" in lines


def test_http_client_downloads_byte_exact(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    out = tmp_path / "download.bin"
    lines = succeeded(run_example("http_client.py", "--size", "300K", "--loss", "0.05",
                                  "--seed", "3", "--out", str(out)))
    data = random.Random(3).randbytes(300 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    assert lines[0] == f"the server holds {len(data)} bytes, sha256 {digest}"
    assert lines[1] == "GET http://192.0.2.2:8080/random.bin -> 200"
    assert lines[2] == f"downloaded {len(data)} bytes, sha256 {digest}"
    assert re.fullmatch(r"in [\d.]+ s of virtual time \([\d.]+ Mbit/s\)", lines[3])
    assert out.read_bytes() == data
    assert sim_summary(lines)[1] > 0


def test_chat_delivers_every_line_to_every_other_client() -> None:
    names, messages = ["alice", "bob", "carol", "dave"], 3
    lines = succeeded(run_example("chat.py", "--clients", "4", "--messages", str(messages),
                                  "--loss", "0.1", "--seed", "4"))
    heard = sorted(tuple(line.split()) for line in lines if " hears " in line)
    assert heard == sorted(
        (listener, "hears", f"{speaker}:", "message", str(i), "of", str(messages))
        for listener in names for speaker in names if speaker != listener
        for i in range(1, messages + 1)
    )
    assert lines[-2] == "all 4 clients heard all 3 lines of every other client"
    assert sim_summary(lines)[1] > 0


def test_a_seed_repeats_a_run() -> None:
    def transcript() -> list[str]:
        lines = succeeded(run_example("chat.py", "--clients", "5", "--loss", "0.2",
                                      "--seed", "9"))
        return [*lines[:-1], lines[-1].split(" in ")[0]]  # (real time differs)

    assert transcript() == transcript()


@pytest.mark.parametrize(("name", "args", "message"), [
    ("echo.py", ["--loss", "1.5"], "argument --loss: must be between 0 and 1, got 1.5"),
    ("echo.py", ["--delay", "soon"], "argument --delay: not a number of seconds: 'soon'"),
    ("http_server.py", ["--port", "70000"], "argument --port: port out of range 1-65535"),
    ("echo.py", ["--sim", "--tun"], "argument --tun: not allowed with argument --sim"),
    ("echo.py", ["--ifname", "no such name"], "invalid interface name 'no such name'"),
    ("echo.py", ["--tun", "--pcap", "x.pcap"], "--pcap is for --sim"),
    ("chat.py", ["--clients", "0"], "argument --clients: expected a positive integer"),
    ("http_server.py", ["--dir", "/nonexistent"], "argument --dir: '/nonexistent' is not a"),
    ("http_client.py", ["--size", "lots"], "argument --size: expected a size like"),
])
def test_bad_command_line_is_one_line(name: str, args: list[str], message: str) -> None:
    res = run_example(name, *args)
    assert res.returncode == 2
    assert res.stdout == ""
    assert len(res.stderr.splitlines()) == 1 and message in res.stderr, res.stderr


def test_nobody_listening_is_one_line() -> None:
    pytest.importorskip("aiohttp")
    res = run_example("http_client.py", "http://192.0.2.2:9/")
    assert res.returncode == 1
    [line] = res.stderr.splitlines()
    assert line.startswith("error: ") and "192.0.2.2" in line, line


@pytest.mark.parametrize("name", ["http_server.py", "http_client.py"])
def test_missing_aiohttp_is_one_line(name: str) -> None:
    code = ("import runpy, sys; sys.modules['aiohttp'] = None; "  # (None: ImportError)
            f"runpy.run_path({name!r}, run_name='__main__')")
    res = run_example(name, code=code)
    assert res.returncode == 1
    assert res.stderr == f"{name} needs aiohttp: pip install aiohttp\n"
