"""asyncio programs over tcpstack on TUN (``tcpstack.aio.TunNetwork``), against Linux.

The asyncio programs are the ones in examples/, run with ``--tun`` as a user
would, each as a child process inside the test's namespace (the TUN device
is created by the program's event loop, so it must start in there):

* curl fetches pages and a 10 MiB file from the aiohttp file server
  (``examples/http_server.py``), over one kept-alive connection; byte-exact;
* the aiohttp client (``examples/http_client.py``) downloads 10 MiB from the
  kernel's ``python -m http.server --bind 192.0.2.1``; byte-exact;
* 100 concurrent kernel clients, all connected at once, each echo a distinct
  message through the asyncio echo server (``examples/echo.py``);
* a device deleted from under a running program (``ip link del``) is
  reported once, and the program idles until Ctrl-C (it used to spin,
  printing the same traceback on every pass of the loop).

The servers stop on SIGINT (Ctrl-C) and must exit with status 130 and a
silent stderr. Every test runs in a namespace of its own (only ``lo`` and
the TUN device, no route out, removed afterwards); every wait is bounded.
Elapsed times are printed (``pytest -s``), never asserted on. Skipped like
the other TUN tests without root, /dev/net/tun or ``ip``, and without curl
or aiohttp (``TCPSTACK_REQUIRE_TUN=1`` fails them instead).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tun_helpers import IFNAME, KERNEL, OURS, Netns, require_or_skip, wait_for

pytestmark = pytest.mark.tun

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MIB = 1 << 20
BIG = 10 * MIB
LIMIT = 30.0
"""Seconds: upper bound of any one step (a start, a transfer, a stop)."""


def need(what: str, present: bool) -> None:
    if not present:
        require_or_skip(f"this test needs {what}")


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; return their SHA-256 (hex)."""
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def start_example(ns: Netns, script: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``examples/SCRIPT --tun`` in the namespace; wait for its server to be ready."""
    label = Path(script).stem
    proc = ns.start([sys.executable, str(EXAMPLES / script), "--tun", "--ifname", IFNAME,
                     *args], label)

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"{script} exited early ({proc.returncode}): {ns.output(label)[1]}")
        return "(Ctrl-C stops it)" in ns.output(label)[0]

    wait_for(f"{script} to serve", ready, timeout=LIMIT)
    return proc


def stop_example(ns: Netns, proc: subprocess.Popen[bytes], script: str) -> None:
    """Ctrl-C the example: it closes its connections and exits 130, saying nothing on stderr."""
    proc.send_signal(signal.SIGINT)
    status = ns.wait_exit(proc, LIMIT)
    stderr = ns.output(Path(script).stem)[1]
    assert (status, stderr) == (130, ""), stderr[-3000:]


def test_curl_fetches_pages_and_10mib_from_aiohttp(ns: Netns, tmp_path: Path) -> None:
    need("curl", shutil.which("curl") is not None)
    need("aiohttp", importlib.util.find_spec("aiohttp") is not None)
    site = tmp_path / "site"
    site.mkdir()
    pages = {f"page{i}.html": f"<h1>page {i}</h1>\n".encode() * (100 * i) for i in (1, 2, 3)}
    for name, body in pages.items():
        (site / name).write_bytes(body)
    big_sha = random_file(site / "big.bin", BIG)
    server = start_example(ns, "http_server.py", "--dir", str(site))

    names = ["index.html", *pages, "big.bin"]
    urls = [f"http://{OURS}:8080/{'' if n == 'index.html' else n}" for n in names]
    out = tmp_path / "got"
    out.mkdir()
    curl = ["curl", "-sS", "--fail", "--max-time", str(LIMIT)]
    for name, url in zip(names, urls, strict=True):
        curl += ["-o", str(out / name), url]
    t0 = time.monotonic()
    res = ns.run(curl, timeout=LIMIT + 5)  # one curl, so one kept-alive connection for all
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    print(f"curl: {len(names)} GETs, {BIG >> 20} MiB + pages, {elapsed:.2f} s")

    index = (out / "index.html").read_text()
    assert all(f'href="/{name}"' in index for name in [*pages, "big.bin"]), index
    for name, body in pages.items():
        assert (out / name).read_bytes() == body
    assert hashlib.sha256((out / "big.bin").read_bytes()).hexdigest() == big_sha
    stop_example(ns, server, "http_server.py")


def test_aiohttp_client_downloads_10mib_from_kernel(ns: Netns, tmp_path: Path) -> None:
    need("aiohttp", importlib.util.find_spec("aiohttp") is not None)
    served = tmp_path / "served"
    served.mkdir()
    big_sha = random_file(served / "big.bin", BIG)
    # The kernel's address (192.0.2.1) appears only with the TUN device, which the
    # client creates: let the kernel's server bind it beforehand.
    res = ns.run(["sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1"], timeout=10)
    assert res.returncode == 0, res.stderr
    http = ns.start([sys.executable, "-m", "http.server", "--bind", KERNEL,
                     "--directory", str(served), "8000"], "http.server")

    def listening() -> bool:
        if http.poll() is not None:
            pytest.fail(f"http.server exited early: {ns.output('http.server')[1]}")
        return any(state == "LISTEN" and local == f"{KERNEL}:8000"
                   for state, local, _ in ns.tcp_sockets())

    wait_for("http.server to listen", listening, timeout=LIMIT)

    got = tmp_path / "got.bin"
    url = f"http://{KERNEL}:8000/big.bin"
    t0 = time.monotonic()
    res = ns.run([sys.executable, str(EXAMPLES / "http_client.py"), "--tun", "--ifname", IFNAME,
                  url, "--out", str(got)], timeout=LIMIT)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0 and res.stderr == "", res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert lines[:2] == [f"GET {url} -> 200", f"downloaded {BIG} bytes, sha256 {big_sha}"], lines
    assert hashlib.sha256(got.read_bytes()).hexdigest() == big_sha
    print(f"aiohttp client: {BIG >> 20} MiB from the kernel; {lines[2]}; "
          f"{elapsed:.2f} s with start-up")


ECHO_CLIENTS = r"""
import json, random, socket, sys, threading, time
host, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
everyone_connected = threading.Barrier(n, timeout=limit)
results = {}

def client(i):
    msg = b"client %03d: " % i + random.Random(i).randbytes(1000 + 97 * i)  # distinct
    try:
        with socket.create_connection((host, port), timeout=limit) as s:
            everyone_connected.wait()  # all n connections open at once
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        results[i] = "ok" if got == msg else "echo differs (%d of %d bytes)" % (len(got), len(msg))
    except Exception as exc:
        results[i] = repr(exc)

t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join(max(0.0, t0 + 2 * limit - time.monotonic()))
errors = {i: results.get(i, "did not finish") for i in range(n) if results.get(i) != "ok"}
print(json.dumps({"ok": n - len(errors), "errors": errors, "elapsed": time.monotonic() - t0}))
"""


def test_100_concurrent_kernel_clients_echo(ns: Netns) -> None:
    clients = 100
    server = start_example(ns, "echo.py")
    result = ns.python(ECHO_CLIENTS, OURS, "7", str(clients), str(LIMIT / 2),
                       timeout=LIMIT + 5)
    assert result["errors"] == {} and result["ok"] == clients, json.dumps(result)[:3000]
    print(f"echo: {clients} concurrent kernel clients in {result['elapsed']:.2f} s")
    stop_example(ns, server, "echo.py")
    assert [s for s in ns.tcp_sockets() if s[0] == "ESTAB"] == []


def test_device_deleted_under_the_loop_is_reported_once(ns: Netns) -> None:
    server = start_example(ns, "echo.py")
    ns.ip("link", "del", IFNAME)
    wait_for("the loss to be reported",
             lambda: "TUN device" in ns.output("echo")[1], timeout=LIMIT)
    time.sleep(0.5)  # (what a spinning loop would fill with tracebacks)
    stderr = ns.output("echo")[1]
    assert stderr.count(f"TUN device {IFNAME} lost") == 1 and len(stderr) < 2000, stderr[:3000]
    server.send_signal(signal.SIGINT)
    assert ns.wait_exit(server, LIMIT) == 130


KERNEL_SENDER = """\
import hashlib, json, os, socket, sys
size = int(sys.argv[1])
data = os.urandom(size)
server = socket.socket()
server.bind(("0.0.0.0", 7000))  # the test's namespace: lo and, once made, the device
server.listen(1)
print(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}), flush=True)
conn, _ = server.accept()
conn.sendall(data)
conn.close()
"""

OUR_READER = """\
import asyncio, hashlib, json, sys
import tcpstack.aio
from tcpstack.trace import Trace
size, offload = int(sys.argv[1]), sys.argv[2] == "1"
trace = Trace()
net = tcpstack.aio.TunNetwork(ifname=sys.argv[3], address=sys.argv[4], peer=sys.argv[5],
                              trace=trace, offload=offload)
async def main():
    offloading = net.device.offload
    reader, writer = await asyncio.open_connection(sys.argv[5].split("/")[0], 7000)
    data = await reader.readexactly(size)
    writer.close()
    return hashlib.sha256(data).hexdigest(), offloading
digest, offloading = tcpstack.aio.run(main(), network=net)
lengths = [r.data["len"] for r in trace.records if r.event == "segment_received"]
print(json.dumps({"sha256": digest, "largest": max(lengths), "offload": offloading}))
"""


@pytest.mark.parametrize("offload", [True, False], ids=["offload", "no-offload"])
def test_asyncio_reader_gets_coalesced_segments_with_offload(ns: Netns, offload: bool) -> None:
    """TunNetwork(offload=True), the default: the kernel hands an asyncio program's
    stack segments larger than the MTU (coalesced, checksums vouched for), byte-exact;
    offload=False: none larger than one MSS."""
    size = 8 * MIB
    sender = ns.start([sys.executable, "-c", KERNEL_SENDER, str(size)], "sender")
    wait_for("the kernel sender", lambda: "sha256" in ns.output("sender")[0], timeout=LIMIT)
    expected = json.loads(ns.output("sender")[0])["sha256"]
    out = ns.python(OUR_READER, str(size), "1" if offload else "0", IFNAME, OURS,
                    f"{KERNEL}/24", timeout=LIMIT * 2)
    assert ns.wait_exit(sender, LIMIT) == 0
    assert out["sha256"] == expected
    assert out["offload"] is offload
    if offload:
        assert out["largest"] > 1500
    else:
        assert out["largest"] <= 1460
