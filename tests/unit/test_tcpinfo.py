"""tcpstack.tcpinfo: Linux's struct tcp_info from a TCB (names, units, state numbers)."""

from __future__ import annotations

from tcpstack.harness.drill.model import Script, Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.state import State
from tcpstack.tcpinfo import LINUX_STATE, tcp_info

SCRIPT = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.05 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 < P. 1:501(500) ack 1 win 257
+0 write(4, ..., 3000) = 3000
+0 read(4, ..., 500) = 500
"""


def test_every_state_has_its_linux_number() -> None:
    assert set(LINUX_STATE) == set(State)
    assert LINUX_STATE[State.ESTABLISHED] == 1
    assert LINUX_STATE[State.LISTEN] == 10
    assert len(set(LINUX_STATE.values())) == len(State)


def test_fields_of_an_established_connection() -> None:
    target = TcpstackTarget()
    target.prepare(Script("t.pkt", ()))
    result = run_script(parse(SCRIPT, "t.pkt"), target)
    assert result.passed, result.failure
    (conn,) = target.stack.connections
    info = tcp_info(conn)
    assert info["tcpi_state"] == 1
    assert info["tcpi_options"] == 2 | 4  # SACK, window scaling
    assert info["tcpi_snd_mss"] == 1000
    assert info["tcpi_advmss"] == 1460
    assert info["tcpi_rtt"] == 50_000  # microseconds
    assert info["tcpi_rttvar"] == 25_000
    assert info["tcpi_rto"] == 200_000  # max(rto_min, srtt + 4 * rttvar)
    assert info["tcpi_ato"] == 40_000
    assert info["tcpi_bytes_received"] == 500
    assert info["tcpi_bytes_acked"] == 0
    assert info["tcpi_unacked"] == 3  # 3000 bytes of 1000-byte segments in flight
    assert info["tcpi_notsent_bytes"] == 0
    assert info["tcpi_snd_cwnd"] == 10
    assert "tcpi_rcv_mss" not in info  # not kept by tcpstack: absent, not invented
    target.syscall(Syscall("close", ("4",), 0))
    assert tcp_info(conn)["tcpi_state"] == 4  # FIN-WAIT-1
