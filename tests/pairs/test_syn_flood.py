"""A SYN flood (RFC 4987 §2) against a default listener, in the simulator, seeded:
spoofed SYNs from addresses that never answer at 100,000 per second of virtual
time while legitimate clients connect (the ``tcpstack attack syn-flood``
experiment, :func:`tcpstack.harness.attack.run_syn_flood`).
"""

from __future__ import annotations

from tcpstack.config import TcpConfig
from tcpstack.harness.attack import run_syn_flood

RATE = 100_000
SECONDS = 0.5
CLIENTS = 200


def test_clients_connect_through_a_flood_with_syn_cookies() -> None:
    result = run_syn_flood(rate=RATE, seconds=SECONDS, clients=CLIENTS, seed=3, settle=70.0)
    assert result.metric("syns") == RATE * SECONDS
    fraction = result.metric("connected_fraction")
    assert isinstance(fraction, float) and fraction >= 0.99, result.to_dict()
    connected = result.metric("connected")
    half_open = result.metric("half_open_peak")
    assert isinstance(connected, int) and isinstance(half_open, int)
    stats = result.counters
    # The SYN queue stayed at its bound; the rest of the flood got cookies.
    assert half_open == TcpConfig().max_syn_backlog
    assert stats["syncookies_sent"] + half_open >= RATE * SECONDS
    assert stats["syncookies_validated"] >= connected - half_open
    assert stats.get("syncookies_failed", 0) == 0
    # Most clients connect in one round trip (20 ms), not after a SYN timeout.
    p50 = result.metric("connect_p50")
    assert isinstance(p50, float) and p50 < 0.1
    # The half-open entries of spoofed SYNs gave up after synack_retries (63 s).
    assert stats["synack_retries_exceeded"] >= half_open - CLIENTS


def test_without_cookies_clients_wait_for_recycling() -> None:
    """The same flood with syncookies off: the queue is full of fresh spoofed
    entries, so a client's SYN is dropped until its retransmission (1 s) finds
    one that was retransmitted and can be recycled: the contrast that shows the
    cookies doing the work."""
    result = run_syn_flood(rate=RATE, seconds=SECONDS, clients=CLIENTS, seed=3,
                           config=TcpConfig(syncookies="off"), settle=5.0)
    stats = result.counters
    assert stats.get("syncookies_sent", 0) == 0
    assert stats["dropped:syn-queue-full"] > 0
    assert stats["syn_recycled"] > 0
    p50 = result.metric("connect_p50")
    assert isinstance(p50, float) and p50 >= 1.0
