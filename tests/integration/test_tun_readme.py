"""The README's TUN commands, run as a reader would paste them: in order, as written.

The block is taken from README.md ("Talking to the Linux kernel over TUN"),
with its namespace name replaced by a unique one; ``tcpstack`` on the PATH
runs this checkout. Every process the block starts carries a marker in its
environment: once the block is done, none may be left, and neither may the
namespace (the block creates and deletes it itself; a failed run is cleaned
up here). Needs root, /dev/net/tun, ``ip``, ``curl`` and ``socat``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tun_helpers import WAIT, child_env, require_or_skip

from tcpstack.drivers.netns import delete_netns, netns_exists

pytestmark = pytest.mark.tun

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Talking to the Linux kernel over TUN"
NAMESPACE = "tcpdemo"  # the README's name, replaced by a unique one
MARKER = "TCPSTACK_README_TEST"


def readme_block() -> str:
    """The first ``sh`` block of the README's TUN section."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, f"no sh block under {SECTION!r}"
    return match.group(1)


def marked_pids(token: str) -> list[int]:
    """Processes whose environment holds ``MARKER=token``: those the block started."""
    needle = f"{MARKER}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fp:
                if needle in fp.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:  # gone meanwhile, or not readable
            continue
    return pids


def test_readme_tun_block_works_pasted_in_order(tun_env: None, tmp_path: Path) -> None:
    for tool in ("curl", "socat"):
        if shutil.which(tool) is None:
            require_or_skip(f"the README's TUN commands need {tool!r}")
    block = readme_block()
    assert f"ip netns add {NAMESPACE}\n" in block and block.rstrip().endswith(
        f"ip netns del {NAMESPACE}"
    ), "the block should create its namespace first and delete it last"
    token = secrets.token_hex(4)
    name = f"tcpst-readme-{os.getpid()}-{token}"
    script = tmp_path / "readme.sh"
    script.write_text(block.replace(NAMESPACE, name))
    # `tcpstack` on the PATH: this checkout, whatever is installed.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tcpstack"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tcpstack "$@"\n')
    shim.chmod(0o755)
    env = child_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env[MARKER] = token
    try:
        res = subprocess.run(
            ["bash", "-e", str(script)],  # -e: every command must succeed
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, f"stdout: {res.stdout}\nstderr: {res.stderr}"
        assert "Hello from tcpstack" in res.stdout  # curl, from our server
        assert "hello, kernel" in res.stdout  # tcpstack tun connect, echoed by the kernel
        assert "Traceback" not in res.stderr
        assert "tcpstack tun serve: ready: tun0 192.0.2.2:80" in res.stderr
        # Nothing left behind: no process (bounded wait for the last ones to end),
        # no namespace, no ready file.
        end = time.monotonic() + WAIT
        while marked_pids(token) and time.monotonic() < end:
            time.sleep(0.1)
        assert marked_pids(token) == []
        assert not netns_exists(name)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "readme.sh"]
    finally:
        for pid in marked_pids(token):
            os.kill(pid, signal.SIGKILL)
        if netns_exists(name):
            delete_netns(name)
