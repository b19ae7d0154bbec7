"""TCP Fast Open scripts on the Linux drill target: a client that asks for a cookie
and then sends data in its SYN, a server that gives the cookie drill computes for
``TFO_COOKIE`` and accepts data in a SYN carrying it, and a cookie written for
packetdrill's own addresses, translated to drill's.

The scripts are this project's own. Each run has its own network namespace (the
target's); none is left behind. Skipped without root, /dev/net/tun or ``ip``;
with ``TCPSTACK_REQUIRE_TUN=1`` those conditions fail the tests instead.
"""

from __future__ import annotations

import os
import subprocess
from ipaddress import ip_address
from pathlib import Path

from tun_helpers import require_linux_target

from tcpstack.harness.drill.fastopen import kernel_cookie, parse_keys
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import DrillResult, run_script
from tcpstack.harness.drill.targets.linux import (
    NETNS_PREFIX,
    LinuxTarget,
    run_with_timing_retry,
)

KEY = "00112233-44556677-8899aabb-ccddeeff"

SETUP = f"""\
`ip tcp_metrics flush all
sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_fastopen=0x3 \\
  net.ipv4.tcp_fastopen_key={KEY} net.ipv4.tcp_rmem="4096 540000 15728640"`
"""

CLIENT = SETUP + """\
// A cookie request in a SYN without data; the server's SYN-ACK gives one.
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
+.01 < S. 0:0(0) ack 1 win 5840 <mss 1460,nop,nop,sackOK,nop,wscale 6,FO 0102030405060708,nop,nop>
+0 > . 1:1(0) ack 1
+.01 close(3) = 0
+0 > F. 1:1(0) ack 1
+.01 < F. 1:1(0) ack 2 win 92
+0 > . 2:2(0) ack 2

// The next connection sends its data in the SYN, with the cookie.
+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(4, ..., 100, MSG_FASTOPEN, ..., ...) = 100
+0 > S 0:100(100) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO 0102030405060708,nop,nop>
+.01 < S. 0:0(0) ack 101 win 5840 <mss 1460,nop,nop,sackOK,nop,wscale 6>
+0 > . 101:101(0) ack 1
+0 %{ assert tcpi_options & TCPI_OPT_SYN_DATA, tcpi_options }%
"""

SERVER = SETUP + """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0

// A cookie request: the SYN-ACK carries the cookie of the peer's address.
+0 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,FO,nop,nop>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,FO COOKIE,nop,nop>
+.01 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 close(4) = 0
+0 > F. 1:1(0) ack 1
+.01 < F. 1:1(0) ack 2 win 257
+0 > . 2:2(0) ack 2

// Data in a SYN with that cookie is accepted before the handshake completes.
+.01 < S 1000:1010(10) win 32792 <mss 1460,sackOK,nop,nop,FO COOKIE,nop,nop>
+0 > S. 0:0(0) ack 1011 <mss 1460,nop,nop,sackOK>
+0 accept(3, ..., ...) = 5
+0 %{ assert tcpi_options & TCPI_OPT_SYN_DATA, tcpi_options }%
+0 read(5, ..., 100) = 10
"""


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10,
                         check=False).stdout
    return {line.split()[0] for line in out.splitlines()
            if line.strip() and line.startswith(f"{NETNS_PREFIX}-{os.getpid()}-")}


def _run(tmp_path: Path, text: str) -> DrillResult:
    require_linux_target()
    path = tmp_path / "fastopen.pkt"
    path.write_text(text)
    script = parse(text, str(path))
    result, _ = run_with_timing_retry(
        lambda: run_script(script, LinuxTarget(), unexpected="defer"))
    assert not _namespaces(), "a namespace was left behind"
    return result


def test_client_requests_a_cookie_then_sends_data_in_its_syn(tmp_path: Path) -> None:
    result = _run(tmp_path, CLIENT)
    assert result.passed, result.failure


def test_client_without_a_cookie_sends_no_data_in_its_syn(tmp_path: Path) -> None:
    # The cache was flushed: the data waits (EINPROGRESS) and the SYN asks for a cookie.
    text = CLIENT.replace("sendto(3, ..., 0,", "sendto(3, ..., 100,").replace(
        "= -1 EINPROGRESS (Operation now in progress)", "= 100", 1)
    result = _run(tmp_path, text.replace("> S 0:0(0) <mss", "> S 0:100(100) <mss", 1))
    assert not result.passed and result.failure is not None
    assert "sendto() returned -1 EINPROGRESS, expected 100" in result.failure.message


def test_server_gives_tfo_cookie_and_accepts_data_with_it(tmp_path: Path) -> None:
    result = _run(tmp_path, SERVER.replace("COOKIE", "TFO_COOKIE"))
    assert result.passed, result.failure


def test_a_cookie_written_for_packetdrills_addresses_is_translated(tmp_path: Path) -> None:
    # The cookie as packetdrill's run_all.py addresses (192.0.2.1 -> 192.168.0.1) get it.
    (key,) = parse_keys(KEY)
    cookie = kernel_cookie(key, ip_address("192.0.2.1"), ip_address("192.168.0.1")).hex()
    result = _run(tmp_path, SERVER.replace("COOKIE", cookie))
    assert result.passed, result.failure


def test_a_wrong_cookie_is_refused(tmp_path: Path) -> None:
    # The kernel refuses the data of a SYN with another cookie: it acks the SYN only.
    result = _run(tmp_path, SERVER.replace("FO COOKIE,nop,nop>\n+0 > S. 0:0(0) ack 1011",
                                           "FO 0011223344556677,nop,nop>\n"
                                           "+0 > S. 0:0(0) ack 1011")
                  .replace("COOKIE", "TFO_COOKIE"))
    assert not result.passed and result.failure is not None
    assert "ack 1001, expected 1011" in result.failure.message
