"""ECN (RFC 3168) between tcpstack on a TUN device and the Linux TCP.

Inside a namespace made for the test (only ``lo`` and the TUN device, no
route out, removed afterwards) the kernel is told to use ECN
(``sysctl net.ipv4.tcp_ecn=1``, a per-namespace setting) and runs an echo
server on 192.0.2.1; tcpstack (192.0.2.2, ``TcpConfig(ecn="on")``) connects
and echoes a few hundred kB through it, recording every packet. Checked:
the handshake negotiated ECN (our SYN with ECE and CWR, the kernel's SYN,ACK
with ECE only), the echo is byte-exact, the kernel's data segments arrive
ECT(0) and ours leave ECT(0), and the kernel counted our ECT(0) packets
(``IpExtInECT0Pkts``). Then the same with the kernel as the client and our
stack passive (``ecn="passive"``, Linux's default ``tcp_ecn=2``).

Skipped like the other TUN tests without root, /dev/net/tun or ``ip``
(``TCPSTACK_REQUIRE_TUN=1`` fails them instead).
"""

from __future__ import annotations

import pytest
from tun_helpers import IFNAME, KERNEL, OURS, PEER, Netns

pytestmark = pytest.mark.tun

SIZE = 300_000

SCRIPT = r"""
import hashlib, json, os, socket, sys, threading, time
from tcpstack import Stack, TcpConfig
from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.tun import TunDriver
from tcpstack.wire import Flags, decode_tcp_packet

IFNAME, PEER, OURS, KERNEL, MODE, SIZE = sys.argv[1:7]
SIZE = int(SIZE)
PORT = 9007

def netstat_ipext():
    lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("IpExt:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))

data = os.urandom(SIZE)
config = TcpConfig(ecn="on" if MODE == "active" else "passive", tso=False)
stack = Stack(OURS, config=config)
driver = TunDriver(IFNAME, OURS, PEER, stack, record=True, offload=False, watch_netns=False)
driver.open()
before = netstat_ipext()
got = bytearray()
done = threading.Event()

def kernel_echo_server(listener):
    conn, _ = listener.accept()
    conn.settimeout(20)
    while chunk := conn.recv(65536):
        conn.sendall(chunk)
    conn.close()
    done.set()

def kernel_client():
    s = socket.create_connection((OURS, PORT), timeout=20)
    def writer():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    threading.Thread(target=writer, daemon=True).start()
    while chunk := s.recv(65536):
        got.extend(chunk)
    s.close()
    done.set()

if MODE == "active":
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((KERNEL, PORT))
    listener.listen(1)
    threading.Thread(target=kernel_echo_server, args=(listener,), daemon=True).start()
    app = SendClient(data, sink=got.extend)
    driver.connect(KERNEL, PORT, app)
    until = lambda: app.finished and done.is_set()
    driver.run(until=until, deadline=time.monotonic() + 60, handle_signals=False, linger=0.5)
else:
    driver.listen(PORT)
    threading.Thread(target=kernel_client, daemon=True).start()
    driver.run(EchoApp, until=done.is_set, deadline=time.monotonic() + 60,
               handle_signals=False, linger=0.5)
after = netstat_ipext()
driver.close()

ours = stack.address.packed
packets = []
for _, raw in driver.packets:
    _, _, seg = decode_tcp_packet(raw, verify_checksum=False)
    packets.append({"from_us": raw[12:16] == ours, "flags": seg.flags.names(),
                    "len": len(seg.payload), "ecn": seg.ecn})
print(json.dumps({
    "exact": bytes(got) == data, "got": len(got),
    "stats": dict(stack.stats),
    "packets": packets,
    "in_ect0": after.get("InECT0Pkts", 0) - before.get("InECT0Pkts", 0),
}))
"""


def run(ns: Netns, mode: str) -> dict[str, object]:
    res = ns.run(["sysctl", "-w", "net.ipv4.tcp_ecn=1"], timeout=10)
    assert res.returncode == 0, res.stderr
    return ns.python(SCRIPT, IFNAME, PEER, OURS, KERNEL, mode, str(SIZE), timeout=120)


def check(out: dict[str, object], *, our_syn: str) -> None:
    assert out["exact"], out["got"]
    stats = out["stats"]
    assert isinstance(stats, dict)
    assert stats.get("ecn_negotiated") == 1
    packets = out["packets"]
    assert isinstance(packets, list)
    syns = [(p["from_us"], p["flags"]) for p in packets if "SYN" in p["flags"]]
    kernel_syn = ["SYN", "ACK", "ECE"] if our_syn == "SYN" else ["SYN", "ECE", "CWR"]
    ours = ["SYN", "ECE", "CWR"] if our_syn == "SYN" else ["SYN", "ACK", "ECE"]
    assert (True, ours) in syns and (False, kernel_syn) in syns, syns
    assert all(p["ecn"] == 0 for p in packets if "SYN" in p["flags"])  # §6.1.1
    for from_us in (True, False):
        data = [p for p in packets if p["from_us"] is from_us and p["len"] > 0]
        assert data, f"no data from {'us' if from_us else 'the kernel'}"
        # ECT(0) on data (a retransmission would be Not-ECT: none on this clean link).
        assert stats.get("retrans_segs", 0) > 0 or all(p["ecn"] == 2 for p in data), data[:5]
        # Pure ACKs are Not-ECT (§6.1.4).
        acks = [p for p in packets if p["from_us"] is from_us and p["len"] == 0
                and p["flags"] == ["ACK"]]
        assert all(p["ecn"] == 0 for p in acks)
    in_ect0 = out["in_ect0"]
    assert isinstance(in_ect0, int)
    assert in_ect0 >= len([p for p in packets if p["from_us"] and p["ecn"] == 2])


def test_we_connect_with_ecn_on(ns: Netns) -> None:
    check(run(ns, "active"), our_syn="SYN")


def test_the_kernel_connects_and_we_accept_ecn(ns: Netns) -> None:
    check(run(ns, "passive"), our_syn="SYN,ACK")
