"""Local congestion: our own device refuses packets (``Stack.local_congestion``).

Linux's behaviour when its queueing discipline drops what TCP hands it
(tcp_write_xmit, tcp_send_probe0, tcp_retransmit_timer with a local error),
which tcpstack follows:

* data and the FIN stay queued, not sent (SND.NXT does not move);
* with nothing in flight the persist timer probes the device one RTO after
  the refusal, then every RESOURCE_PROBE_INTERVAL (0.5 s) without backoff;
  each failed probe is an unanswered probe (``probes_out``, ``tcpi_probes``),
  so R2 / the user timeout give the connection up as for unanswered
  zero-window probes (RFC 9293 §3.8.6.1, RFC 5482 §3), with
  ConnectionTimedOut("local-congestion"), no RST;
* a retransmission timeout whose retransmission is refused does not double
  the RTO, and the retransmission is tried again 0.5 s later;
* control segments (ACKs) are built, counted as sent and dropped at the
  device: ``segment_dropped`` reason ``local-congestion``.

Timeline of :meth:`Server.open`: the peer's SYN at 1.0, its ACK at 1.1;
RTO 1 s (one 0.1 s sample, RFC 6298 floor 1 s).
"""

from __future__ import annotations

import pytest
from liveness_script import Server
from tcp_script import Out

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.harness.drill.sysctl import ShellReader, Sysctls
from tcpstack.sender import RESOURCE_PROBE_INTERVAL
from tcpstack.state import State
from tcpstack.tcpinfo import tcp_info
from tcpstack.trace import Trace

DATA = Out("PA", seq=1, ack=1, len=100)
"""Our 100 bytes of data, first or retransmitted."""


def refused_while_idle(config: TcpConfig | None = None) -> Server:
    """An established connection whose device refuses packets from 1.5 on; the
    application writes 100 bytes at 2.0."""
    s = Server(config)
    conn = s.open()
    assert conn.rto == 1.0
    s.stack.local_congestion = True
    assert conn.send(bytes(100), now=2.0) == 100
    s.expect([], at=2.0)
    return s


def test_refused_data_stays_queued_and_the_device_is_probed_without_backoff() -> None:
    assert RESOURCE_PROBE_INTERVAL == 0.5  # Linux TCP_RESOURCE_PROBE_INTERVAL, HZ/2
    s = refused_while_idle()
    conn = s.conn
    assert conn is not None
    assert conn.unsent == 100 and conn.in_flight == 0  # SND.NXT did not move
    # First probe one RTO after the refusal (tcp_check_probe_timer), then every 0.5 s.
    for n, t in enumerate([3.0, 3.5, 4.0, 4.5], start=1):
        assert s.stack.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([], at=t)
        assert conn.probes_out == n
        assert tcp_info(conn)["tcpi_probes"] == n
    assert conn.rto == 1.0 and tcp_info(conn)["tcpi_backoff"] == 0
    assert s.stack.stats["dropped:local-congestion"] == 0  # no data segment was built
    # The device takes packets again: the next probe (at 5.0) sends the data.
    s.stack.local_congestion = False
    assert s.stack.next_timer() == pytest.approx(5.0)
    s.fire(5.0)
    s.expect([DATA], at=5.0)
    # Its ACK answers the probes (RFC 9293 §3.8.6.1).
    s.rx("A", seq=1, ack=101, at=5.1)
    s.expect([], at=5.1)
    assert conn.probes_out == 0 and conn.unsent == 0 and conn.in_flight == 0


def test_the_user_timeout_ends_a_connection_its_device_keeps_refusing() -> None:
    s = refused_while_idle(TcpConfig(user_timeout=2.0))
    conn = s.conn
    assert conn is not None
    for t in [3.0, 3.5, 4.0, 4.5]:
        s.fire(t)
        s.expect([], at=t)
    # The first failed probe at 3.0 starts the count: 3.0 + 2.0 (RFC 5482 §3).
    assert s.stack.next_timer() == pytest.approx(5.0)
    s.fire(5.0)
    s.expect([], at=5.0)  # no RST (Linux tcp_write_err)
    assert conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("local-congestion")]
    assert s.stack.stats["persist_timeout"] == 1
    assert conn.probes_out == 4


def test_a_refused_retransmission_is_retried_every_half_second_without_backoff() -> None:
    s = Server()
    conn = s.open()
    conn.send(bytes(100), now=2.0)
    s.expect([DATA], at=2.0)
    s.stack.local_congestion = True
    assert s.stack.next_timer() == pytest.approx(3.0)  # the RTO
    for n, t in enumerate([3.0, 3.5, 4.0], start=1):
        s.fire(t)
        s.expect([], at=t)
        assert conn.retransmissions == n
        assert conn.rto == 1.0  # not doubled: nothing was lost in the network
        assert s.stack.next_timer() == pytest.approx(t + 0.5)
    s.stack.local_congestion = False
    s.fire(4.5)
    s.expect([DATA], at=4.5)
    assert conn.rto == 2.0  # this timeout's retransmission left: RFC 6298 §5.5


def test_control_segments_are_dropped_at_the_device_and_traced() -> None:
    s = Server()
    s.stack.trace = Trace()
    conn = s.open()
    s.stack.local_congestion = True
    # Two full segments call for an immediate ACK (§3.8.6.3): built, then refused.
    s.rx("A", seq=1, ack=1, data=bytes(1460), at=2.0)
    s.rx("PA", seq=1461, ack=1, data=bytes(1460), at=2.0)
    s.expect([], at=2.0)
    assert conn.readable == 2920
    assert s.stack.stats["dropped:local-congestion"] == 1
    records = [r for r in s.stack.trace.records if r.time == 2.0 and r.event.startswith("segment_")]
    assert [(r.event, r.data.get("reason")) for r in records] == [
        ("segment_received", None), ("segment_received", None),
        ("segment_sent", None), ("segment_dropped", "local-congestion"),
    ]
    assert records[3].data["ack"] == records[2].data["ack"]


def sysctls_after(*commands: str) -> Sysctls:
    sysctls = Sysctls()
    reader = ShellReader(sysctls, TcpConfig())
    for command in commands:
        assert reader.run(command, ".").status == 0
    return sysctls


@pytest.mark.parametrize(
    ("commands", "refuses"),
    [
        (["tc qdisc add dev tun0 root pfifo limit 0"], True),
        (["tc qdisc replace dev tun0 root bfifo limit 0"], True),
        (["tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0"],
         True),
        (["tc qdisc add dev tun0 root pfifo limit 0", "tc qdisc del dev tun0 root"], False),
        (["tc qdisc add dev tun0 root pfifo limit 100"], False),
        (["tc qdisc add dev tun0 root fq"], False),
        (["tc qdisc show dev tun0"], False),
    ],
)
def test_the_drill_target_reads_a_root_qdisc_that_holds_nothing(
    commands: list[str], refuses: bool
) -> None:
    assert sysctls_after(*commands).refuses is refuses
