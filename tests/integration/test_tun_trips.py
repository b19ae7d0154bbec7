"""Where a new user of ``tcpstack tun`` tripped (issue 8, item 7), one test per trip.

Each test creates its own network namespace (no route out, removed
afterwards) and bounds every wait:

- readiness: ``--ready-file`` appears once the stack listens, so ``curl``
  right after it works (before: ``curl`` raced the device coming up);
- ownership: a second server with the same ``--ifname``, or a name held by
  another link, is refused with one line and the other device is untouched
  (before: the second server deleted the first one's device, killing it);
  and ``close()`` never deletes a link that merely has the device's name;
- output paths: a bad ``--pcap`` (or ``--trace``, ``--ready-file``,
  ``--output``) is one line and exit status 2 at start (before: found at
  exit, the capture lost);
- a ``connect`` on a network the namespace already routes elsewhere is
  refused at once (before: it hung until its timeout);
- the server stops by itself when its namespace is deleted (before: it ran
  on, unreachable) or its device is removed (before: a bare OSError).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tun_helpers import IFNAME, KERNEL, OURS, PEER, Netns, wait_for

from tcpstack.tools.pcap import read_pcap

pytestmark = pytest.mark.tun

TUN_CLI = [sys.executable, "-m", "tcpstack.cli.tun"]


def serve_args(*extra: str) -> list[str]:
    return ["serve", "--ifname", IFNAME, "--address", OURS, "--peer", PEER, *extra]


def link_index(ns: Netns, name: str) -> int | None:
    """The index of link ``name`` in the namespace, or None."""
    out = ns.ip("-o", "link", "show", "dev", name, check=False)
    return int(out.split(":", 1)[0]) if out.strip() else None


def one_error_line(stderr: str, text: str) -> None:
    """``stderr`` ends with exactly one error line, containing ``text``, and no traceback."""
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and text in errors[0], stderr
    assert "Traceback" not in stderr


# --- readiness ---------------------------------------------------------------------


def test_ready_file_appears_when_the_stack_listens(ns: Netns) -> None:
    ready = ns.tmp / "serve.ready"
    ready.write_text("stale, from an earlier run\n")  # removed at start
    stack = ns.start(
        [*TUN_CLI, *serve_args("--app", "http", "--port", "80", "--ready-file", str(ready))],
        "stack",
    )

    def is_ready() -> bool:
        assert stack.poll() is None, ns.output("stack")[1]
        return ready.exists() and ready.read_text().startswith("ready:")

    wait_for("the ready file", is_ready)
    # No sleep, no retry: the moment the file is there, the kernel can connect.
    res = ns.run(["curl", "-sS", "--max-time", "10", f"http://{OURS}/"], timeout=30)
    assert res.returncode == 0, res.stderr
    assert "Hello from tcpstack" in res.stdout
    line = f"ready: {IFNAME} {OURS}:80 (kernel side {PEER}), serving http"
    assert ready.read_text() == line + "\n"
    assert f"tcpstack tun serve: {line}; Ctrl-C to stop" in ns.output("stack")[1]
    stack.terminate()
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    assert not ready.exists()  # removed at exit
    assert [p.name for p in ns.tmp.iterdir() if ".ready" in p.name] == []


# --- ownership ---------------------------------------------------------------------


def test_second_server_with_the_same_ifname_is_refused(ns: Netns) -> None:
    first = ns.start_stack(*serve_args("--app", "http", "--port", "80"))
    index = link_index(ns, IFNAME)
    second = ns.run([*TUN_CLI, *serve_args("--port", "81", "--timeout", "5")], timeout=30)
    assert second.returncode == 2
    one_error_line(second.stderr, f"interface {IFNAME} already exists")
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    # The first server and its device are untouched, and still serve.
    assert first.poll() is None, ns.output("stack")[1]
    assert link_index(ns, IFNAME) == index
    res = ns.run(["curl", "-sS", "--max-time", "10", f"http://{OURS}/"], timeout=30)
    assert res.returncode == 0 and "Hello from tcpstack" in res.stdout, res.stderr
    first.terminate()
    assert ns.wait_exit(first) == 0, ns.output("stack")[1]


@pytest.mark.parametrize(
    "make",
    [
        ["link", "add", IFNAME, "type", "veth", "peer", "name", "tcpsvp"],
        ["tuntap", "add", "dev", IFNAME, "mode", "tun"],  # persistent: TUNSETIFF would attach
    ],
    ids=["veth", "persistent-tun"],
)
def test_name_of_another_link_is_refused_and_left_alone(ns: Netns, make: list[str]) -> None:
    ns.ip(*make)
    index = link_index(ns, IFNAME)
    assert index is not None
    res = ns.run([*TUN_CLI, *serve_args("--timeout", "5")], timeout=30)
    assert res.returncode == 2
    one_error_line(res.stderr, f"interface {IFNAME} already exists")
    assert link_index(ns, IFNAME) == index


def test_close_leaves_a_link_that_took_the_name_alone(ns: Netns) -> None:
    """Our device is deleted from under us and another link takes its name: close()
    must not delete that link (it deletes by interface index, not by name)."""
    script = r"""
import ipaddress, json, socket, subprocess, sys
from tcpstack.drivers.tun import TunDevice
name, peer = sys.argv[1], sys.argv[2]
dev = TunDevice(name, ipaddress.IPv4Interface(peer))
made = socket.if_nametoindex(name)
subprocess.run(["ip", "link", "del", name], check=True, timeout=10)
subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", "tcpsvp"],
               check=True, timeout=10)
other = socket.if_nametoindex(name)
dev.close()
out = subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True,
                     text=True, timeout=10).stdout
after = int(out.split(":", 1)[0]) if out.strip() else None
print(json.dumps({"made": made, "other": other, "after": after}))
"""
    out = ns.python(script, IFNAME, PEER)
    assert out["other"] != out["made"]
    assert out["after"] == out["other"]  # the veth is still there


# --- output paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "option"),
    [("serve", "--pcap"), ("serve", "--trace"), ("serve", "--ready-file"), ("connect", "--output")],
)
def test_bad_output_path_is_refused_at_start(
    ns: Netns, tmp_path: Path, cmd: str, option: str
) -> None:
    bad = str(tmp_path / "no-such-dir" / "out")
    if cmd == "serve":
        argv = serve_args("--timeout", "5", option, bad)
    else:
        argv = ["connect", "--ifname", IFNAME, "--to", f"{KERNEL}:7", "--file", "/dev/null",
                "--timeout", "5", option, bad]
    res = ns.run([*TUN_CLI, *argv], timeout=30)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        f"tcpstack tun {cmd}: error: cannot write {option} {bad}: No such file or directory"
    )
    assert link_index(ns, IFNAME) is None


def test_pcap_is_written_at_exit_even_when_empty(ns: Netns, tmp_path: Path) -> None:
    full, empty = tmp_path / "full.pcap", tmp_path / "empty.pcap"
    stack = ns.start_stack(*serve_args("--port", "80", "--count", "1", "--pcap", str(full)))
    assert full.exists()  # opened at start
    res = ns.run(["curl", "-sS", "--max-time", "10", f"http://{OURS}/"], timeout=30)
    assert res.returncode == 0, res.stderr
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    assert len(read_pcap(full)) >= 6  # handshake, request, response, close
    assert full.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng: names the device
    assert IFNAME.encode() in full.read_bytes()
    res = ns.run([*TUN_CLI, *serve_args("--timeout", "0.5", "--pcap", str(empty))], timeout=30)
    assert res.returncode == 0, res.stderr
    assert read_pcap(empty) == []


# --- the connect example -------------------------------------------------------------


def test_connect_on_a_network_routed_elsewhere_is_refused(ns: Netns) -> None:
    """The README's old example: a server holds 192.0.2.0/24 on one device, and a
    client's device gets 192.0.2.4/24 too; the kernel's answers would leave by the
    server's device, so the client hung until its timeout. Now: one line, at once."""
    server = ns.start_stack(*serve_args("--port", "80"))
    res = ns.run(
        [*TUN_CLI, "connect", "--ifname", "tcps1", "--address", "192.0.2.3", "--peer",
         "192.0.2.4/24", "--to", "192.0.2.4:7", "--file", "/dev/null", "--timeout", "20"],
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    one_error_line(res.stderr, f"192.0.2.0/24 is already routed to {IFNAME}")
    assert link_index(ns, "tcps1") is None
    assert server.poll() is None


# --- the server stops by itself --------------------------------------------------------


HOLD = r"""
import json, socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=20)
s.sendall(b"ping")
print(json.dumps({"echo": s.recv(100).decode()}), flush=True)
s.settimeout(25)
print(json.dumps({"after": s.recv(100).decode()}), flush=True)
"""


def test_server_stops_when_its_namespace_is_deleted(ns: Netns) -> None:
    stack = ns.start_stack(*serve_args("--app", "echo", "--port", "7"))
    hold = ns.tmp / "hold.py"
    hold.write_text(HOLD)
    client = ns.start([sys.executable, str(hold), OURS], "client")
    wait_for("echo of ping", lambda: "ping" in ns.output("client")[0])
    # As the README's last line does (the fixture then finds nothing left to delete).
    subprocess.run(["ip", "netns", "del", ns.name], check=True, timeout=10)
    assert ns.wait_exit(stack, timeout=15) == 0, ns.output("stack")[1]
    err = ns.output("stack")[1]
    assert f"network namespace {ns.name} was deleted" in err
    assert "stopped (netns-deleted)" in err
    # The connection still open was closed gracefully: the client read EOF.
    assert ns.wait_exit(client) == 0
    assert '"after": ""' in ns.output("client")[0]


def test_server_stops_when_its_device_is_removed(ns: Netns) -> None:
    stack = ns.start_stack(*serve_args("--port", "80"))
    ns.ip("link", "del", IFNAME)
    assert ns.wait_exit(stack, timeout=15) == 1
    one_error_line(ns.output("stack")[1], f"{IFNAME} was removed from under us")
