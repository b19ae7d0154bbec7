"""A peer that closes its window and then vanishes (issue 12, item 3), in the simulator.

The server never reads, so its 8 KiB receive window closes under the client's
100 kB; the client probes the zero window (RFC 9293 §3.8.6.1). While the
server answers, the connection stays (MUST-26). Then the link goes down for
good: the probes go unanswered, and the connection ends R2 after the first
unanswered one (RFC 1122 §4.2.2.17), within R2 plus one probe interval
(``rto_max``) of the peer vanishing, not "still alive after 10 virtual days".
An orphan (the application closed) gives up after ``orphan_retries`` probes,
answered or not.
"""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.events import ConnectionTimedOut, Event
from tcpstack.state import State

DAY = 86_400.0
VANISH_AT = 1_000.0
"""When the server vanishes: ten times R2 after its window closed."""


def run(seed: int, *, vanish: bool, close_at: float | None = None,
        config: TcpConfig | None = None) -> tuple[Network, Connection, list[tuple[float, Event]]]:
    """Run ten virtual days; return the network, the client's connection and its events."""
    net = Network(seed=seed)
    events: list[tuple[float, Event]] = []
    client = net.add_host("client", "192.0.2.1", config=config,
                          app=lambda c, e: events.append((net.now, e)))
    server = net.add_host("server", "192.0.2.2", config=TcpConfig(recv_buffer=8192))
    net.link(client, server, delay=0.01)
    server.stack.listen(9)
    conns: list[Connection] = []
    net.at(0.0, lambda: conns.append(client.stack.connect("192.0.2.2", 9, now=net.now)))
    net.at(0.1, lambda: conns[0].send(bytes(100_000)))
    if close_at is not None:
        net.at(close_at, lambda: conns[0].close())
    if vanish:
        net.outage(client, server, VANISH_AT, 100 * DAY)
    net.run(until=10 * DAY)
    return net, conns[0], events


def probes(net: Network, after: float = 0.1) -> list[float]:
    """When the client sent a zero-window probe: a bare ACK without data (it has
    no data of the server's to acknowledge once the handshake is over)."""
    return [r.time for r in net.trace if r.host == "client" and r.event == "segment_sent"
            and r.data["flags"] == ["ACK"] and r.data["len"] == 0 and r.time > after]


@pytest.mark.parametrize("seed", [1, 2])
def test_peer_vanishing_behind_zero_window_ends_within_r2(seed: int) -> None:
    net, conn, events = run(seed, vanish=True)
    r2 = conn.config.r2
    assert r2 is not None
    # Answered probes kept it open for 1000 s (ten times R2) ...
    assert len(probes(net)) > 10
    assert [e for _, e in events if isinstance(e, ConnectionTimedOut)] == [
        ConnectionTimedOut("zero-window")
    ]
    [(ended, _)] = [(t, e) for t, e in events if isinstance(e, ConnectionTimedOut)]
    assert conn.state is State.CLOSED
    # ... the unanswered ones ended it R2 after the first of them.
    first_unanswered = probes(net, after=VANISH_AT)[0]
    assert ended == pytest.approx(first_unanswered + r2)
    assert VANISH_AT + r2 <= ended <= VANISH_AT + r2 + conn.config.rto_max
    stats = net.hosts["client"].stack.stats
    assert stats["persist_timeout"] == 1
    assert stats["orphan_retries_exceeded"] == 0


def test_answering_peer_keeps_the_connection_for_ten_days() -> None:
    net, conn, events = run(3, vanish=False)
    assert conn.state is State.ESTABLISHED
    assert not [e for _, e in events if isinstance(e, ConnectionTimedOut)]
    assert probes(net, after=9 * DAY)  # still probing, still answered


@pytest.mark.parametrize("retries", [2, 8])
def test_orphan_behind_an_answering_zero_window_gives_up(retries: int) -> None:
    net, conn, events = run(4, vanish=False, close_at=50.0,
                            config=TcpConfig(orphan_retries=retries))
    assert conn.state is State.CLOSED
    closed_at = next(t for t, e in events if isinstance(e, ConnectionTimedOut))
    # The window stayed closed from the first probe on, so the orphan's count
    # began there (Linux counts its probe backoff alike): it gives up at the
    # first persist timeout after close() that finds ``retries`` probes sent.
    sent = probes(net)
    assert sent[-1] < closed_at
    before_close = sum(t < 50.0 for t in sent)
    assert 0 < before_close < 8
    assert len(sent) == max(retries, before_close)
    assert net.hosts["client"].stack.stats["orphan_retries_exceeded"] == 1
    assert net.hosts["client"].stack.stats["persist_timeout"] == 0
