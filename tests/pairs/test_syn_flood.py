"""A SYN flood (RFC 4987 §2) against a default listener, in the simulator, seeded:
spoofed SYNs from addresses that never answer at 100,000 per second of virtual
time while legitimate clients connect (:func:`tcpstack.harness.synflood.syn_flood`).
"""

from __future__ import annotations

from tcpstack.config import TcpConfig
from tcpstack.harness.synflood import syn_flood

RATE = 100_000
SECONDS = 0.5
CLIENTS = 200


def test_clients_connect_through_a_flood_with_syn_cookies() -> None:
    result = syn_flood(rate=RATE, seconds=SECONDS, clients=CLIENTS, seed=3, settle=70.0)
    assert result.spoofed == RATE * SECONDS
    assert result.connected_fraction >= 0.99, result.to_dict()
    stats = result.server_stats
    # The SYN queue stayed at its bound; the rest of the flood got cookies.
    assert result.max_half_open == TcpConfig().max_syn_backlog
    assert stats["syncookies_sent"] + result.max_half_open >= result.spoofed
    assert stats["syncookies_validated"] >= result.connected - result.max_half_open
    assert stats.get("syncookies_failed", 0) == 0
    # Most clients connect in one round trip (10 ms), not after a SYN timeout.
    assert sorted(result.connect_times)[len(result.connect_times) // 2] < 0.1
    # The half-open entries of spoofed SYNs gave up after synack_retries (63 s).
    assert stats["synack_retries_exceeded"] >= result.max_half_open - CLIENTS


def test_without_cookies_clients_wait_for_recycling() -> None:
    """The same flood with syncookies off: the queue is full of fresh spoofed
    entries, so a client's SYN is dropped until its retransmission (1 s) finds
    one that was retransmitted and can be recycled: the contrast that shows the
    cookies doing the work."""
    result = syn_flood(rate=RATE, seconds=SECONDS, clients=CLIENTS, seed=3,
                       server_config=TcpConfig(syncookies="off"), settle=5.0)
    assert result.server_stats.get("syncookies_sent", 0) == 0
    assert result.server_stats["dropped:syn-queue-full"] > 0
    assert result.server_stats["syn_recycled"] > 0
    assert sorted(result.connect_times)[len(result.connect_times) // 2] >= 1.0
