"""tcpstack on a TUN device against the real Linux TCP, inside a throwaway namespace.

Each test creates its own network namespace (only ``lo`` and the TUN device,
no route out), starts ``python -m tcpstack.cli.tun`` inside it, runs a kernel
client or server there, and removes everything afterwards. The kernel side
is 192.0.2.1/24, our stack 192.0.2.2.

Skipped (with the reason) without root, /dev/net/tun or ``ip``; with
``TCPSTACK_REQUIRE_TUN=1`` those conditions fail the tests instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from tun_helpers import (
    IFNAME,
    KERNEL,
    OURS,
    PEER,
    Netns,
    wait_for,
)

pytestmark = pytest.mark.tun

MIB = 1 << 20


def serve_args(*extra: str) -> list[str]:
    return [
        "serve",
        "--ifname",
        IFNAME,
        "--address",
        OURS,
        "--peer",
        PEER,
        "--timeout",
        "60",
        *extra,
    ]


# --- kernel-side scripts (run with ip netns exec) -------------------------------

ECHO_CLIENT = r"""
import hashlib, json, os, socket, sys, threading, time
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
result = {"error": None}
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=50)
result["local"] = "%s:%d" % s.getsockname()
def writer():
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError as exc:
        result["error"] = repr(exc)
th = threading.Thread(target=writer)
th.start()
h = hashlib.sha256()
n = 0
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            result["eof"] = True
            break
        h.update(chunk)
        n += len(chunk)
except OSError as exc:
    result["error"] = result["error"] or repr(exc)
th.join(50)
result["elapsed"] = time.monotonic() - t0
s.close()
result.update(sent_sha=hashlib.sha256(data).hexdigest(), got_sha=h.hexdigest(), got=n)
print(json.dumps(result))
"""

ECHO_SERVER = r"""
import hashlib, json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND: the address appears with the TUN
srv.bind((host, port))
srv.listen(1)
srv.settimeout(50)
result = {"error": None}
h = hashlib.sha256()
n = 0
try:
    conn, peer = srv.accept()
    conn.settimeout(50)
    result["peer"] = "%s:%d" % peer
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            result["eof"] = True
            break
        h.update(chunk)
        n += len(chunk)
        conn.sendall(chunk)
    conn.close()
except OSError as exc:
    result["error"] = repr(exc)
result.update(got=n, got_sha=h.hexdigest())
print(json.dumps(result))
"""

CONNECT = r"""
import json, socket, sys
s = socket.socket()
s.settimeout(20)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print(json.dumps({"result": "connected"}))
except OSError as exc:
    print(json.dumps({"result": type(exc).__name__, "errno": exc.errno}))
"""


# --- tests -------------------------------------------------------------------------


def test_device_setup_and_kernel_syn(ns: Netns) -> None:
    """The TUN device alone (no stack): a kernel SYN to 192.0.2.2 arrives on the fd;
    closing removes the device."""
    script = r"""
import ipaddress, json, os, select, socket, sys, threading, time
from tcpstack.drivers.tun import TunDevice
IFNAME, PEER, OURS = sys.argv[1:4]
dev = TunDevice(IFNAME, ipaddress.IPv4Interface(PEER))
def connect():
    s = socket.socket(); s.settimeout(2)
    try: s.connect((OURS, 8080))
    except OSError: pass
threading.Thread(target=connect, daemon=True).start()
syn = None
end = time.monotonic() + 10
while syn is None and time.monotonic() < end:
    select.select([dev.fileno()], [], [], 0.5)
    for pkt in dev.read_packets():
        if pkt[0] >> 4 == 4 and pkt[9] == 6:
            ihl = (pkt[0] & 15) * 4
            syn = {"src": socket.inet_ntoa(pkt[12:16]), "dst": socket.inet_ntoa(pkt[16:20]),
                   "dport": int.from_bytes(pkt[ihl + 2:ihl + 4], "big"),
                   "flags": pkt[ihl + 13]}
dev.close()
print(json.dumps({"syn": syn}))
"""
    out = ns.python(script, IFNAME, PEER, OURS)
    assert out["syn"] == {"src": KERNEL, "dst": OURS, "dport": 8080, "flags": 0x02}
    assert IFNAME not in ns.ip("-o", "link")


def test_curl_fetches_index(ns: Netns, tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    big = os.urandom(MIB)
    (root / "big.bin").write_bytes(big)
    stack = ns.start_stack(
        *serve_args("--app", "http", "--port", "80", "--root", str(root), "--count", "3")
    )
    curl = ["curl", "-sS", "--max-time", "30"]
    res = ns.run([*curl, f"http://{OURS}/"])
    assert res.returncode == 0, res.stderr
    assert "Served by tcpstack" in res.stdout
    res = ns.run(
        [*curl, "-o", str(tmp_path / "big.out"), "-w", "%{http_code}", f"http://{OURS}/big.bin"]
    )
    assert (res.returncode, res.stdout) == (0, "200"), res.stderr
    assert hashlib.sha256((tmp_path / "big.out").read_bytes()).digest() == (
        hashlib.sha256(big).digest()
    )
    res = ns.run(
        [
            *curl,
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"http://{OURS}/../../etc/passwd",
        ]
    )
    assert (res.returncode, res.stdout) == (0, "403"), res.stderr
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    assert "3 ended" in ns.output("stack")[1]
    # We closed first (Connection: close): the kernel's sockets went LAST-ACK -> CLOSED.
    assert [s for s in ns.tcp_sockets() if s[2].startswith(OURS)] == []
    counters = ns.tcp_counters()
    assert counters["EstabResets"] == 0
    assert counters["OutRsts"] == 0
    assert counters["InCsumErrors"] == 0


def test_kernel_client_echo_1mib(ns: Netns) -> None:
    stack = ns.start_stack(*serve_args("--app", "echo", "--port", "7", "--count", "1"))
    out = ns.python(ECHO_CLIENT, OURS, "7", str(MIB))
    print(f"1 MiB echo (kernel client -> tcpstack echo): {out['elapsed']:.2f} s")
    assert out["error"] is None
    assert out.get("eof") is True  # recv() returned b"" at the end: a clean close
    assert out["got"] == MIB
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    # The kernel half-closed first, so its end waits in TIME-WAIT.
    assert ("TIME-WAIT", out["local"], f"{OURS}:7") in ns.tcp_sockets()
    counters = ns.tcp_counters()
    assert counters["EstabResets"] == 0
    assert counters["OutRsts"] == 0
    assert counters["InCsumErrors"] == 0


def test_stack_client_to_kernel_echo_server(ns: Netns, tmp_path: Path) -> None:
    data = os.urandom(MIB)
    (tmp_path / "in.bin").write_bytes(data)
    server = ns.start([sys.executable, "-c", ECHO_SERVER, KERNEL, "9000"], "server")
    wait_for(
        "kernel server listening",
        lambda: any(s[0] == "LISTEN" and s[1] == f"{KERNEL}:9000" for s in ns.tcp_sockets()),
    )
    res = ns.run(
        [
            sys.executable,
            "-m",
            "tcpstack.cli.tun",
            "connect",
            "--ifname",
            IFNAME,
            "--address",
            OURS,
            "--peer",
            PEER,
            "--to",
            f"{KERNEL}:9000",
            "--file",
            str(tmp_path / "in.bin"),
            "--output",
            str(tmp_path / "out.bin"),
            "--timeout",
            "60",
        ],
        timeout=90,
    )
    assert res.returncode == 0, res.stderr
    assert hashlib.sha256((tmp_path / "out.bin").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    assert ns.wait_exit(server) == 0
    result = json.loads(ns.output("server")[0])
    assert result["error"] is None and result.get("eof") is True
    assert result["got"] == MIB
    # Our stack closed first: the kernel went CLOSE-WAIT -> LAST-ACK -> CLOSED.
    assert [s for s in ns.tcp_sockets() if s[2].startswith(OURS)] == []
    counters = ns.tcp_counters()
    assert counters["EstabResets"] == 0
    assert counters["OutRsts"] == 0
    assert counters["InCsumErrors"] == 0


def test_no_listener_refuses(ns: Netns) -> None:
    stack = ns.start_stack(*serve_args("--app", "echo", "--port", "7"))
    assert ns.python(CONNECT, OURS, "81")["result"] == "ConnectionRefusedError"
    # Ctrl-C / SIGTERM: graceful stop, exit 0, device removed.
    stack.terminate()
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    assert "stopped (signal)" in ns.output("stack")[1]
    assert IFNAME not in ns.ip("-o", "link")


def test_stack_connect_refused_by_kernel(ns: Netns) -> None:
    res = ns.run(
        [
            sys.executable,
            "-m",
            "tcpstack.cli.tun",
            "connect",
            "--ifname",
            IFNAME,
            "--to",
            f"{KERNEL}:9",
            "--file",
            "/dev/null",
            "--timeout",
            "20",
        ],
        timeout=40,
    )
    assert res.returncode == 1
    assert "connection refused" in res.stderr
    assert "Traceback" not in res.stderr


def test_sigterm_closes_open_connection_gracefully(ns: Netns) -> None:
    """A connection still open at SIGTERM gets our FIN (not a reset) before the device goes."""
    script = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=20)
s.sendall(b"ping")
got = s.recv(100)
print(json.dumps({"ready": got.decode()}), flush=True)
sys.stdout.flush()
# Wait for the server's FIN (it arrives when the stack is told to stop).
s.settimeout(25)
rest = s.recv(100)
print(json.dumps({"ready": got.decode(), "after": rest.decode()}))
s.close()
"""
    stack = ns.start_stack(*serve_args("--app", "echo", "--port", "7"))
    path = ns.tmp / "hold.py"
    path.write_text(script)
    client = ns.start([sys.executable, str(path), OURS], "client")
    wait_for("echo of ping", lambda: "ping" in ns.output("client")[0])
    stack.send_signal(2)  # SIGINT, as Ctrl-C
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    assert ns.wait_exit(client) == 0
    assert '"after": ""' in ns.output("client")[0]  # EOF, no ECONNRESET
    assert ns.tcp_counters()["EstabResets"] == 0


def test_echo_survives_loss(ns: Netns) -> None:
    """2 % of packets dropped each way (driver fault injection): the kernel and our
    stack retransmit, and every byte still comes back intact. Without offload, so
    that the loss falls on MTU-sized packets: with it the kernel hands 256 KiB over
    in a dozen super-segments, and 2 % of those often drops none of its own."""
    stack = ns.start_stack(
        *serve_args("--app", "echo", "--port", "7", "--count", "1", "--loss", "0.02", "--seed", "7",
                    "--no-offload")
    )
    out = ns.python(ECHO_CLIENT, OURS, "7", str(256 * 1024), timeout=90)
    print(f"256 KiB echo with 2% loss each way: {out['elapsed']:.2f} s")
    assert out["error"] is None and out.get("eof") is True
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=60) == 0, ns.output("stack")[1]
    assert "lost on purpose" in ns.output("stack")[1]
    assert ns.tcp_counters()["RetransSegs"] > 0
