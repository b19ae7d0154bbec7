"""SO_SNDBUF / SO_RCVBUF on a connected socket take effect on the tcpstack target."""

from __future__ import annotations

from tcpstack.harness.drill.model import Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

EST = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 50000 <mss 1000,nop,wscale 0>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 50000
+0 accept(3, ..., ...) = 4
"""


def check(text: str) -> TcpstackTarget:
    target = TcpstackTarget(tso=True)
    result = run_script(parse(EST + text, "t.pkt"), target)
    assert result.passed, result.failure
    return target


def test_sndbuf_on_a_connected_socket_limits_a_blocking_write() -> None:
    # Linux reports twice the value; 28000 bytes of payload fit (4/3 of 21000);
    # each ACK frees room that write() fills, until all 61000 bytes are in. Each
    # burst the windows cut short carries PSH (pushed data waits behind it), as Linux.
    check(
        "+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [21000], 4) = 0\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_SNDBUF, [42000], [4]) = 0\n"
        "+0...0.300 write(4, ..., 61000) = 61000\n"
        "+0 > P. 1:10001(10000) ack 1\n"  # 28000 in the buffer
        "+.1 < . 1:1(0) ack 10001 win 50000\n"
        "+0 > P. 10001:21001(11000) ack 1\n"  # 38000 written
        "+.1 < . 1:1(0) ack 21001 win 50000\n"
        "+0 > P. 21001:33001(12000) ack 1\n"  # 49000 written
        "+.1 < . 1:1(0) ack 33001 win 50000\n"  # the last 12000 fit: write() returns
    )


def test_sndbuf_caps_a_nonblocking_write_and_is_capped_by_wmem_max() -> None:
    target = check("+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [3000], 4) = 0\n"
                   "+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                   "+0 write(4, ..., 10000) = 4000\n"
                   "+0 write(4, ..., 10000) = -1 EAGAIN (Resource temporarily unavailable)\n"
                   "+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [1000000], 4) = 0\n"
                   "+0 getsockopt(4, SOL_SOCKET, SO_SNDBUF, [425984], [4]) = 0\n"
                   "+0 write(4, ..., 10000) = 10000\n")
    assert target.syscall(Syscall("close", ("4",), 0)).value == 0


def test_rcvbuf_on_a_connected_socket_changes_the_window() -> None:
    # 64 KiB, unscaled (the SYN offered wscale 0): the window after 1000 bytes
    # is 64535; after SO_RCVBUF 4000 the right edge does not move left (RFC
    # 7323 §2.4), and it only moves on once the buffer has room beyond it.
    check(
        "+0 < P. 1:1001(1000) ack 1 win 50000\n"
        "+0~+.05 > . 1:1(0) ack 1001 win 64535\n"
        "+0 setsockopt(4, SOL_SOCKET, SO_RCVBUF, [4000], 4) = 0\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_RCVBUF, [8000], [4]) = 0\n"
        "+0 < P. 1001:3001(2000) ack 1 win 50000\n"
        "+0~+.05 > . 1:1(0) ack 3001 win 62535\n"
        "+0 read(4, ..., 3000) = 3000\n"
        "+0 < P. 3001:4001(1000) ack 1 win 50000\n"
        "+0~+.05 > . 1:1(0) ack 4001 win 61535\n"
    )


def test_rcvbuf_before_listen_clamps_the_window_scale_rmem_would_give() -> None:
    target = TcpstackTarget()
    target.prepare(parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", "t.pkt"))
    assert target.shell('sysctl -q net.ipv4.tcp_rmem="4096 540000 15728640"', ".").status == 0
    script = (
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [100000], 4) = 0\n"
        "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
        "+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n"
        "+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 1>\n"
    )
    result = run_script(parse(script, "t.pkt"), target)
    assert result.passed, result.failure
