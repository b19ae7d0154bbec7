"""The PUSH flag of SEND (RFC 9293 §3.9.1.2): which segments carry PSH."""

from __future__ import annotations

from tcpstack.buffers import SendBuffer
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

EST = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1000,nop,nop,sackOK>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 65535
+0 accept(3, ..., ...) = 4
+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0
"""


def test_the_newest_push_point_marks_its_segment_until_acknowledged() -> None:
    buf = SendBuffer(head_seq=1)
    buf.append(b"a" * 100, 10_000)
    buf.mark_push()
    buf.append(b"b" * 100, 10_000)  # not pushed (MSG_MORE)
    assert buf.pushes(0, 100) and buf.pushes(50, 150)
    assert not buf.pushes(0, 99) and not buf.pushes(100, 200)
    assert buf.pushed_beyond(99) and not buf.pushed_beyond(100)
    buf.mark_push()  # successive pushes collapse into the newest (RFC 1122 §4.2.2.2)
    assert buf.pushes(150, 200) and not buf.pushes(0, 100)
    buf.acknowledge(1 + 200)
    assert not buf.pushed_beyond(0)


def test_each_pushed_write_ends_with_psh_and_msg_more_data_has_none() -> None:
    # Data sent with MSG_MORE and pushed out by uncorking has no PSH; a pushed
    # write's segment has it (as Linux's tcp_push).
    script = EST + (
        "+0 send(4, ..., 300, MSG_MORE) = 300\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_CORK, [0], 4) = 0\n"
        "+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n"
        "+0 > . 1:301(300) ack 1\n"
        "+.1 < . 1:1(0) ack 301 win 65535\n"
        "+0 write(4, ..., 500) = 500\n"
        "+0 > P. 301:801(500) ack 1\n"
    )
    result = run_script(parse(script, "t.pkt"), TcpstackTarget())
    assert result.passed, result.failure
