"""Segmentation offload (TcpConfig.tso): super-segments as Linux TSO sends them on
packetdrill's TUN device, and the default-off path unchanged."""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import DrillResult, run_script
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.sender import TSO_MAX_BYTES
from tcpstack.wire import decode_packet

EST = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win {win}
+0 accept(3, ..., ...) = 4
"""


def run(text: str, *, tso: bool, win: int = 500, options: str = "",
        **config: object) -> DrillResult:
    target = TcpstackTarget(TcpConfig.linux(initial_window=10, **config), tso=tso)
    return run_script(parse(options + EST.format(win=win) + text, "t.pkt"), target)


def test_one_write_leaves_as_one_super_segment() -> None:
    result = run("+0 write(4, ..., 5000) = 5000\n+0 > P. 1:5001(5000) ack 1\n", tso=True)
    assert result.passed, result.failure


def test_without_offload_segments_are_one_mss() -> None:
    script = ("+0 write(4, ..., 3000) = 3000\n+0 > . 1:1001(1000) ack 1\n"
              "+0 > . 1001:2001(1000) ack 1\n+0 > P. 2001:3001(1000) ack 1\n")
    result = run(script, tso=False)
    assert result.passed, result.failure
    # Without packetdrill's joining of consecutive segments, 3000 bytes are three segments.
    assert not run("+0 write(4, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1\n",
                   tso=False, options="--strict_segments\n").passed


def test_super_segment_is_bounded_by_cwnd() -> None:
    # IW10 with 1000-byte segments: 10000 bytes, then the rest after the ACK. The
    # burst cwnd cuts short carries PSH, as on Linux (checked with the Linux target).
    script = ("+0 write(4, ..., 15000) = 15000\n+0 > P. 1:10001(10000) ack 1\n"
              "+.1 < . 1:1(0) ack 10001 win 500\n+0 > P. 10001:15001(5000) ack 1\n")
    result = run(script, tso=True)
    assert result.passed, result.failure


def test_window_limited_super_segment_ends_on_a_segment_boundary() -> None:
    # The peer offers 2500 bytes (win 20 << 7): two full segments go, the half
    # segment waits (sender SWS avoidance), as Linux's tcp_mss_split_point; with
    # PSH, as on Linux, since pushed data waits behind it.
    script = "+0 write(4, ..., 5000) = 5000\n+0 > P. 1:2001(2000) ack 1\n"
    result = run(script, tso=True, win=20)
    assert result.passed, result.failure


def test_super_segments_are_whole_segments_under_64k() -> None:
    target = TcpstackTarget(TcpConfig.linux(initial_window=64), tso=True)
    script = EST.format(win=2000) + "+0 write(4, ..., 200000) = 200000\n"
    result = run_script(parse(script, "t.pkt"), target)
    assert result.passed, result.failure
    sizes = []
    while (item := target.next_outbound(target.now())) is not None:
        sizes.append(len(decode_packet(item[1])[1].payload))
    assert sizes, "nothing sent"
    assert max(sizes) <= TSO_MAX_BYTES < 65536
    assert sizes[0] == 64000  # cwnd: 64 segments
    assert all(size % 1000 == 0 for size in sizes[:-1])


@pytest.mark.parametrize("field", ["tso"])
def test_offload_is_off_by_default(field: str) -> None:
    assert getattr(TcpConfig(), field) is False


def test_a_corked_super_segment_leaves_its_partial_tail_behind() -> None:
    # MSG_MORE corks: the full segments go as one super-segment, the last 100 bytes
    # wait for more data (Linux tcp_mss_split_point with TCP_NAGLE_CORK); no PSH,
    # since nothing was pushed.
    script = "+0 send(4, ..., 3100, MSG_MORE) = 3100\n+0 > . 1:3001(3000) ack 1\n"
    result = run(script, tso=True)
    assert result.passed, result.failure
