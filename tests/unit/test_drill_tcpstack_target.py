"""The tcpstack drill target: virtual time, and the system calls emulated over the stack."""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.harness.drill.model import DrillError, Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import DrillResult, run_script
from tcpstack.harness.drill.targets import TARGET_NAMES, create_target
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.wire import Flags, Segment, decode_packet, encode_packet

LISTEN = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
"""
HANDSHAKE = LISTEN + """\
+0 < S 0:0(0) win 32792 <mss 1000,nop,nop,sackOK>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 32792
"""
EST = HANDSHAKE + "+0 accept(3, ..., ...) = 4\n"


def run(text: str, config: TcpConfig | None = None) -> DrillResult:
    return run_script(parse(text, "t.pkt"), TcpstackTarget(config))


def check(text: str, config: TcpConfig | None = None) -> None:
    result = run(text, config)
    assert result.passed, result.failure


CASES = {
    "bad fd": "0 close(7) = -1 EBADF\n+0 read(9, ..., 1) = -1 EBADF\n"
              "+0 fcntl(9, F_GETFL) = -1 EBADF\n+0 setsockopt(9, SOL_SOCKET, SO_KEEPALIVE, [1], 4)"
              " = -1 EBADF\n+0 getsockopt(9, SOL_SOCKET, SO_ERROR, [0], [4]) = -1 EBADF\n"
              "+0 shutdown(9, SHUT_WR) = -1 EBADF\n+0 accept(9, ..., ...) = -1 EBADF\n"
              "+0 connect(9, ..., ...) = -1 EBADF\n+0 bind(9, ..., ...) = -1 EBADF\n"
              "+0 listen(9, 1) = -1 EBADF\n+0 write(9, ..., 1) = -1 EBADF\n",
    "unconnected socket": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                          "+0 read(3, ..., 1) = -1 ENOTCONN\n"
                          "+0 write(3, ..., 1) = -1 EPIPE\n"
                          "+0 shutdown(3, SHUT_WR) = -1 ENOTCONN\n"
                          "+0 accept(3, ..., ...) = -1 EINVAL\n"
                          "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
                          "+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT|POLLHUP}], 1, 0)"
                          " = 1\n"
                          "+0 poll([{fd=9, events=POLLIN, revents=POLLNVAL}], 1, 0) = 1\n"
                          "+0 close(3) = 0\n",
    "lowest free fd": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                      "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n+0 close(3) = 0\n"
                      "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    "bind twice": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 bind(3, ..., ...) = -1 EINVAL\n",
    "address in use": LISTEN + "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n"
                      "+0 bind(4, ..., ...) = -1 EADDRINUSE\n"
                      "+0 setsockopt(4, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
                      "+0 bind(4, ..., ...) = 0\n+0 listen(4, 1) = -1 EADDRINUSE\n",
    "listen again, non-blocking accept": LISTEN + "+0 listen(3, 5) = 0\n"
        "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
        "+0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n"
        "+0 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n"
        "+0 poll([{fd=3, events=POLLIN}], 1, 0) = 0\n",
    "poll on a listener": HANDSHAKE +
        "+0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 0) = 1\n"
        "+0 accept(3, ..., ...) = 4\n+0 poll([{fd=3, events=POLLIN}], 1, 0) = 0\n"
        "+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}, "
        "{fd=3, events=POLLIN}], 2, 0) = 1\n",
    "accept on a connected socket": EST + "+0 accept(4, ..., ...) = -1 EINVAL\n"
                                          "+0 listen(4, 1) = -1 EINVAL\n"
                                          "+0 connect(4, ..., ...) = -1 EISCONN\n"
                                          "+0 connect(3, ..., ...) = -1 EISCONN\n",
    "read and write": EST + "+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
                            "+.1 < P. 1:21(20) ack 11 win 32792\n"
                            "+0~+.05 > . 11:11(0) ack 21\n"
                            "+0 read(4, ..., 5) = 5\n+0 read(4, ..., 100) = 15\n"
                            "+0 read(4, ..., 0) = 0\n",
    # As Linux: data that arrives after SHUT_RD is still queued and readable.
    "shutdown read": EST + "+0 shutdown(4, SHUT_RD) = 0\n+0 read(4, ..., 10) = 0\n"
                           "+0 < P. 1:11(10) ack 1 win 32792\n+0~+.05 > . 1:1(0) ack 11\n"
                           "+0 read(4, ..., 10) = 10\n+0 read(4, ..., 10) = 0\n",
    "shutdown both": EST + "+0 shutdown(4, SHUT_RDWR) = 0\n+0 > F. 1:1(0) ack 1\n"
                           "+0 read(4, ..., 10) = 0\n+0 write(4, ..., 1) = -1 EPIPE\n"
                           "+0 poll([{fd=4, events=POLLIN|POLLOUT|POLLRDHUP, "
                           "revents=POLLIN|POLLOUT|POLLRDHUP|POLLHUP}], 1, 0) = 1\n",
    "shutdown a listener": LISTEN + "+0 shutdown(3, SHUT_WR) = 0\n+0 shutdown(3, SHUT_RD) = 0\n"
                                    "+0 < S 0:0(0) win 100\n+0 > R. 0:0(0) ack 1 win 0\n",
    "peer closes": EST + "+0 < F. 1:1(0) ack 1 win 32792\n+0 > . 1:1(0) ack 2\n"
                         "+0 read(4, ..., 10) = 0\n"
                         "+0 poll([{fd=4, events=POLLIN|POLLRDHUP, revents=POLLIN|POLLRDHUP}], 1,"
                         " 0) = 1\n+0 write(4, ..., 3) = 3\n+0 > P. 1:4(3) ack 2\n",
    "reset in close-wait gives EPIPE": EST + "+0 < F. 1:1(0) ack 1 win 32792\n"
                                             "+0 > . 1:1(0) ack 2\n"
                                             "+0 < R. 2:2(0) ack 1 win 0\n"
                                             "+0 write(4, ..., 3) = -1 EPIPE\n"
                                             "+0 write(4, ..., 3) = -1 EPIPE\n"
                                             "+0 shutdown(4, SHUT_WR) = -1 ENOTCONN\n",
    "reset: error once": EST + "+0 < R. 1:1(0) ack 1 win 0\n"
                               "+0 poll([{fd=4, events=POLLIN, revents=POLLIN|POLLERR|POLLHUP}], 1,"
                               " 0) = 1\n"
                               "+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0\n"
                               "+0 read(4, ..., 10) = 0\n+0 write(4, ..., 1) = -1 EPIPE\n",
    "setsockopt and getsockopt": EST +
        "+0 getsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [0], [4]) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [0], [4]) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [7200], [4]) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_KEEPINTVL, [75], [4]) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_KEEPCNT, [9], [4]) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_USER_TIMEOUT, [0], [4]) = 0\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_REUSEADDR, [0], [4]) = 0\n"
        "+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [5000], 4) = 0\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_SNDBUF, [10000], [4]) = 0\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [5], 4) = 0\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], [4]) = 0\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [0], 4) = -1 EINVAL\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPCNT, [200], 4) = -1 EINVAL\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_USER_TIMEOUT, [-1], 4) = -1 EINVAL\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=0, linger=0}, [8]) = 0\n"
        "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0\n"
        "+0 getsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, [8]) = 0\n",
    "options are inherited from the listener": LISTEN.replace(
        "+0 bind", "+0 setsockopt(3, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n+0 bind") +
        HANDSHAKE.split(LISTEN)[1] + "+0 accept(3, ..., ...) = 4\n"
        "+0 getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], [4]) = 0\n"
        "+0 write(4, ..., 1500) = 1500\n+0 > . 1:1001(1000) ack 1\n+0 > P. 1001:1501(500) ack 1\n",
    # Minshall's Nagle, as Linux (checked with the Linux target): the partial tail
    # of a write goes at once, a later small segment waits for its ACK.
    "nagle holds the small segment": EST + "+0 write(4, ..., 1500) = 1500\n"
                                           "+0 > . 1:1001(1000) ack 1\n"
                                           "+0 > P. 1001:1501(500) ack 1\n"
                                           "+0 write(4, ..., 100) = 100\n"
                                           "+.1 < . 1:1(0) ack 1501 win 32792\n"
                                           "+0 > P. 1501:1601(100) ack 1\n",
    "nodelay on a connection": EST + "+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n"
                                     "+0 write(4, ..., 1500) = 1500\n+0 > . 1:1001(1000) ack 1\n"
                                     "+0 > P. 1001:1501(500) ack 1\n",
    "keep-alive gives up": EST + "+0 setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0\n"
                                 "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [10], 4) = 0\n"
                                 "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPINTVL, [2], 4) = 0\n"
                                 "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPCNT, [2], 4) = 0\n"
                                 "+10 > . 0:0(0) ack 1\n+2 > . 0:0(0) ack 1\n+2 > R 1:1(0)\n"
                                 "+0 read(4, ..., 10) = -1 ETIMEDOUT (Connection timed out)\n",
    "keep-alive answered": EST + "+0 setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0\n"
                                 "+0 setsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [10], 4) = 0\n"
                                 "+10 > . 0:0(0) ack 1\n+0 < . 1:1(0) ack 1 win 32792\n"
                                 "+10 > . 0:0(0) ack 1\n",
    "user timeout": EST + "+0 setsockopt(4, IPPROTO_TCP, TCP_USER_TIMEOUT, [1500], 4) = 0\n"
                          "+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
                          "* > P. 1:11(10) ack 1\n* > P. 1:11(10) ack 1\n"
                          "+0...0.6 read(4, ..., 10) = -1 ETIMEDOUT\n",
    "SO_RCVBUF sizes the window of new connections": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [4000], 4) = 0\n"
        "+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [8000], [4]) = 0\n"
        "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
        "+0 < S 0:0(0) win 32792 <mss 1000>\n+0 > S. 0:0(0) ack 1 win 4000 <mss 1460>\n",
    "closing a listener resets what was not accepted": HANDSHAKE + "+0 close(3) = 0\n"
                                                                   "+0 > R 1:1(0)\n",
    "close with unread data resets": EST + "+0 < P. 1:11(10) ack 1 win 32792\n"
                                           "+0~+.05 > . 1:1(0) ack 11\n+.1 close(4) = 0\n"
                                           "+0 > R 1:1(0)\n",
    "linger waits for the FIN's ACK": EST +
        "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=2}, 8) = 0\n"
        "+0...0.3 close(4) = 0\n+0 > F. 1:1(0) ack 1\n+.3 < . 1:1(0) ack 2 win 32792\n",
    "linger gives up": EST +
        "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=2}, 8) = 0\n"
        "+0...2 close(4) = 0\n+0 > F. 1:1(0) ack 1\n* > F. 1:1(0) ack 1\n"
        "* > F. 1:1(0) ack 1\n* > F. 1:1(0) ack 1\n",
    "linger zero aborts": EST +
        "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n"
        "+0 close(4) = 0\n+0 > R 1:1(0)\n",
    "blocking write waits for room": EST +
        "+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n"
        "+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [1000], 4) = 0\n"
        "+0 write(4, ..., 1000) = 1000\n+0 > P. 1:1001(1000) ack 1\n",
    "non-blocking connect, then success": "0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP)"
        " = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS\n+0 > S 0:0(0) <...>\n"
        "+0 connect(3, ..., ...) = -1 EALREADY\n"
        "+0 write(3, ..., 10) = -1 EAGAIN\n+0 read(3, ..., 10) = -1 EAGAIN\n"
        "+0 poll([{fd=3, events=POLLOUT}], 1, 0) = 0\n"
        "+.1 < S. 0:0(0) ack 1 win 5000 <mss 1000>\n+0 > . 1:1(0) ack 1\n"
        "+0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"
        "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
        # As Linux: the first connect() after completion returns 0, then EISCONN.
        "+0 connect(3, ..., ...) = 0\n+0 connect(3, ..., ...) = -1 EISCONN\n",
    # RFC 6675 §5: an ACK that advances SND.UNA but SACKs new data is a duplicate
    # ACK "regardless of its status as a cumulative acknowledgment"; with three
    # segments SACKed above, IsLost(HighACK + 1) begins recovery at once (step 2).
    "SACK on a cumulative ACK begins recovery": HANDSHAKE.replace("win 32792", "win 60000")
        + "+0 accept(3, ..., ...) = 4\n+0 write(4, ..., 5000) = 5000\n"
        "+0 > . 1:1001(1000) ack 1\n+0 > . 1001:2001(1000) ack 1\n"
        "+0 > . 2001:3001(1000) ack 1\n+0 > . 3001:4001(1000) ack 1\n"
        "+0 > P. 4001:5001(1000) ack 1\n"
        "+.1 < . 1:1(0) ack 1001 win 60000 <nop,nop,sack 2001:5001>\n"
        "+0 > . 1001:2001(1000) ack 1\n+.1 < . 1:1(0) ack 5001 win 60000\n",
    "blocking connect times out": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 setsockopt(3, IPPROTO_TCP, TCP_USER_TIMEOUT, [2500], 4) = 0\n"
        # The user timeout is a deadline (RFC 5482 §3): 2.5 s, as on Linux, not
        # the next backed-off SYN timeout (3 s).
        "+0...2.5 connect(3, ..., ...) = -1 ETIMEDOUT\n+0 > S 0:0(0) <...>\n"
        "+1 > S 0:0(0) <...>\n",
    "connect again after refusal": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0...0.1 connect(3, ..., ...) = -1 ECONNREFUSED\n+0 > S 0:0(0) <...>\n"
        "+.1 < R. 0:0(0) ack 1 win 0\n"
        "+0...0.1 connect(3, ..., ...) = 0\n* > S 0:0(0) <...>\n"
        "+.1 < S. 0:0(0) ack 1 win 5000 <mss 1000>\n+0 > . 1:1(0) ack 1\n",
    "blocking poll wakes on data": EST +
        "+0...0.3 poll([{fd=4, events=POLLIN, revents=POLLIN}], 1, 1000) = 1\n"
        "+.3 < P. 1:11(10) ack 1 win 32792\n",
    "blocking poll times out": EST + "+0...0.5 poll([{fd=4, events=POLLIN}], 1, 500) = 0\n",
    "blocking read": EST + "+0...0.3 read(4, ..., 1000) = 10\n+.3 < P. 1:11(10) ack 1 win 32792\n"
                           "* > . 1:1(0) ack 11\n",
    "blocking accept": HANDSHAKE.replace("+.1 < .", "+0...0.1 accept(3, ..., ...) = 4\n+.1 < ."),
}


@pytest.mark.parametrize("name", list(CASES))
def test_calls(name: str) -> None:
    # "user timeout": TCP_USER_TIMEOUT replaces R2. Data sent at 0.1 s is resent at
    # 0.4 and 1.0 s (RTO 300 ms after a 100 ms RTT sample, doubling); the next RTO
    # is cut to R2's deadline, and the connection gives up when 1.5 s have passed
    # since the data was first sent (RFC 5482 §3), at 1.6 s, not at the next
    # backed-off timeout (2.2 s). (Linux counts from the first retransmission.)
    check(CASES[name])


def test_call_that_blocks_forever_is_reported() -> None:
    result = run(EST + "+0 read(4, ..., 10) = 10\n")
    assert result.failure is not None
    assert result.failure.line == 8
    assert "read() blocks forever" in result.failure.message


def test_call_written_without_dots_that_blocks_on_timers() -> None:
    # accept() blocks; the SYN-ACK retransmission timers let virtual time pass.
    result = run(LISTEN + "+0 < S 0:0(0) win 100\n+0 > S. 0:0(0) ack 1 <...>\n"
                 "+0 accept(3, ..., ...) = 4\n")
    assert result.failure is not None
    assert "blocks forever" in result.failure.message or "at once" in result.failure.message


def test_default_config_is_linux_like() -> None:
    target = TcpstackTarget()
    assert target.config == TcpConfig.linux()
    assert target.name == "tcpstack"
    custom = TcpConfig(delayed_ack=0.1)
    assert TcpstackTarget(custom).config is custom


def test_virtual_time_and_packets() -> None:
    target = TcpstackTarget()
    target.start()
    assert target.now() == 0.0
    target.wait_until(2.5)
    assert target.now() == 2.5
    assert target.next_outbound(3.0) is None
    assert target.now() == 3.0
    result = target.syscall(Syscall("socket", ("...", "SOCK_STREAM", "IPPROTO_TCP"), 3))
    assert (result.value, result.errno, result.returned_at) == (3, None, 3.0)
    pending = target.start_syscall(Syscall("connect", ("3", "...", "..."), 0))
    assert pending.result() is None
    sent = target.next_outbound(3.0)
    assert sent is not None and sent[0] == 3.0
    _, syn = decode_packet(sent[1])
    assert syn.flags == Flags.SYN
    # The retransmitted SYN comes 1 s later; nothing before that.
    assert target.next_outbound(3.5) is None
    again = target.next_outbound(10.0)
    assert again is not None and again[0] == pytest.approx(4.0)
    # The SYN-ACK completes the pending connect().
    from ipaddress import IPv4Address

    syn_ack = Segment(syn.dst_port, syn.src_port, 1000, syn.seq + 1, Flags.SYN | Flags.ACK, 5000)
    target.wait_until(4.5)
    target.inject(encode_packet(IPv4Address("198.51.100.2"), IPv4Address("192.0.2.1"), syn_ack))
    done = pending.result()
    assert done is not None
    assert (done.value, done.returned_at) == (0, 4.5)
    target.close()


def test_unsupported_call_and_bad_arguments() -> None:
    target = TcpstackTarget()
    with pytest.raises(DrillError, match="not supported"):
        target.syscall(Syscall("vmsplice", (), 0))  # (sendto, splice are supported now)
    with pytest.raises(DrillError, match="bad arguments"):
        target.syscall(Syscall("close", ("x",), 0))


def test_target_registry() -> None:
    assert TARGET_NAMES == ("tcpstack", "linux")
    assert isinstance(create_target("tcpstack"), TcpstackTarget)
    with pytest.raises(ValueError, match="unknown target"):
        create_target("bsd")


def test_tcp_info_has_rcv_mss_and_last_data_recv_from_the_segments_delivered() -> None:
    # Linux's estimate of the peer's segment size (536 before any data, then the
    # largest segment up to our MSS) and the milliseconds since data last came
    # (since the connection was established before any).
    script = EST + (
        "+1 %{ assert tcpi_rcv_mss == 536 and 990 <= tcpi_last_data_recv <= 1010 }%\n"
        "+0 < . 1:701(700) ack 1 win 32792\n"
        "* > . 1:1(0) ack 701\n"
        "+.01 %{ assert tcpi_rcv_mss == 700 and tcpi_last_data_recv <= 50 }%\n"
    )
    result = run(script)
    assert result.passed, result.failure
