"""Counters (tcpstack.counters): the table of keys, Stack.stats, Connection.stats.

Every key the core counts must be in :data:`COUNTERS` (found by reading the
source), the documentation carries the table, and each count happens where
its event happens: scripted segments against one connection, or a stack.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from tcp_script import (
    PEER_ADDR,
    Out,
    Script,
    make_established,
    make_syn_sent,
    new_stack,
    packet,
    peer_seg,
    stack_segments,
)

from tcpstack.config import TcpConfig
from tcpstack.connection import ListenVerdict
from tcpstack.counters import (
    CAUSE_COUNTERS,
    CONNECTIONS_KEPT,
    COUNTERS,
    DROP_PREFIX,
    Stats,
    markdown_table,
    ordered,
)
from tcpstack.scenarios import SCENARIOS, ScenarioOptions, get_scenario
from tcpstack.state import State
from tcpstack.synqueue import Admission

SRC = Path(__file__).resolve().parents[2] / "src" / "tcpstack"
CORE = [*SRC.glob("*.py"), *SRC.glob("wire/*.py"), *SRC.glob("congestion/*.py")]
"""The sans-I/O core: where Stack and Connection count."""

COUNTING_CALLS = {"_count": ("", 0), "count": ("", 0), "_drop": (DROP_PREFIX, 1)}
"""Calls that count: the key's prefix and the argument that holds the key
(``_drop(segment or name, reason, ...)``)."""
NSTAT_NAME = re.compile(r"^(Tcp|TcpExt|Ip|IpExt)[A-Z][A-Za-z0-9]+$")
LEGACY_KEYS = {"challenge-ack-rate-limited", "invalid-ack-rate-limited"}
"""Keys older than the snake_case rule, kept so that readers of them keep working."""


def _strings(node: ast.expr) -> list[str]:
    """The string constants an argument may evaluate to (a conditional gives two)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def counted_keys() -> set[str]:
    """Every key the core counts with a literal: ``_count("k")``, ``count("k")``,
    ``_drop(..., "reason")``, ``stats["k"]``, ``MalformedPacket("reason", ...)``."""
    keys: set[str] = set()
    for path in CORE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in COUNTING_CALLS and len(node.args) > COUNTING_CALLS[name][1]:
                    prefix, index = COUNTING_CALLS[name]
                    keys.update(prefix + s for s in _strings(node.args[index]))
                elif name == "MalformedPacket" and node.args:
                    keys.update(DROP_PREFIX + s for s in _strings(node.args[0]))
            elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                  and node.value.attr == "stats"):
                keys.update(_strings(node.slice))
    return keys


def test_the_source_scan_finds_the_counts() -> None:
    # The scan itself works: keys counted in each way are found.
    keys = counted_keys()
    assert {"packets_in", "resets_sent", "challenge_acks_sent", "rto_timeouts",
            "dropped:paws", "dropped:out-of-window", "dropped:rst-out-of-window",
            "dropped:bad-checksum", "dropped:bad-option-length"} <= keys


def test_every_key_the_code_counts_is_in_the_table() -> None:
    keys = counted_keys()
    keys |= {DROP_PREFIX + v.value for v in ListenVerdict if v is not ListenVerdict.OPEN}
    keys |= {DROP_PREFIX + v.value for v in Admission if v.value not in ("queue", "cookie",
                                                                           "recycle")}
    keys |= set(CAUSE_COUNTERS.values())
    keys |= {"active_opens", "passive_opens", "attempt_fails", "estab_resets",
             "time_wait_ended"}
    assert sorted(keys - set(COUNTERS)) == []


def test_table_entries_are_well_formed() -> None:
    for key, info in COUNTERS.items():
        assert info.key == key
        assert info.description and info.source, key
        assert all(NSTAT_NAME.match(n) for n in info.nstat), info.nstat
        assert (key in LEGACY_KEYS or re.fullmatch(r"[a-z0-9_]+", key)
                or re.fullmatch(r"dropped:[a-z0-9-]+", key)), key


def test_the_documentation_carries_the_table() -> None:
    doc = (SRC.parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    section = doc.split("## Counters", 1)[1].split("\n## ", 1)[0]
    assert markdown_table() in section


def test_nstat_adds_up_the_keys_of_one_linux_name() -> None:
    stats = Stats({"r2_timeout": 1, "keepalive_timeout": 2, "dropped:bad-checksum": 4,
                   "dropped:bad-data-offset": 1})
    linux = stats.nstat()
    assert linux["TcpExtTCPAbortOnTimeout"] == 3
    assert linux["TcpInCsumErrors"] == 4
    assert linux["TcpInErrs"] == 5  # both feed InErrs, as in Linux's tcp_v4_rcv
    assert linux["TcpExtSyncookiesSent"] == 0
    assert list(linux) == sorted(linux)


def test_unknown_keys_are_reported_not_lost() -> None:
    stats = Stats({"packets_in": 2, "made-up": 1})
    assert stats.unknown() == ["made-up"]
    assert list(ordered(stats)) == ["packets_in", "made-up"]
    assert len(ordered(stats, zeros=True)) == len(COUNTERS) + 1


def test_connections_kept_is_a_bound() -> None:
    stats = Stats()
    counters = [stats.track(f"c{i}") for i in range(CONNECTIONS_KEPT + 5)]
    counters[-1]["retrans_segs"] += 2
    assert len(stats.connections) == CONNECTIONS_KEPT
    assert stats.per_connection()[0][0] == "c5"
    assert stats.per_connection()[-1] == (f"c{CONNECTIONS_KEPT + 4}", {"retrans_segs": 2})


# ----------------------------------------------------------------------
# Per connection: counted where it happens
# ----------------------------------------------------------------------


def test_a_connection_that_counts_nothing_has_empty_stats(established: Script) -> None:
    s = established
    assert dict(s.conn.stats) == {}
    assert s.conn.stats["dropped:paws"] == 0  # a Counter: missing keys read 0
    with pytest.raises(TypeError):
        s.conn.stats["dropped:paws"] = 1  # type: ignore[index]


def test_challenge_acks_sent_and_suppressed() -> None:
    s = make_established(config=TcpConfig(challenge_ack_limit=3))
    for i in range(5):
        s.rx("R", seq=100 + i, at=1.0)
    s.rx("S", seq=50, at=1.0)
    s.expect([Out("A", seq=1, ack=1)] * 3, at=1.0)
    assert s.conn.stats["challenge_acks_sent"] == 3
    assert s.conn.stats["challenge-ack-rate-limited"] == 3
    assert s.conn.stats["dropped:rst-challenged"] == 5
    assert s.conn.stats["dropped:syn-challenged"] == 1


def test_retransmission_timeout_counts_timeout_and_segment(established: Script) -> None:
    s = established
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    rto = s.conn.timer("rto")
    assert rto is not None
    s.fire(rto)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=rto)
    assert dict(s.conn.stats) == {"rto_timeouts": 1, "retrans_segs": 1}


def test_syn_retransmission() -> None:
    s = make_syn_sent()
    rto = s.conn.timer("rto")
    assert rto is not None
    s.fire(rto)
    s.conn.packets_to_send(rto)
    assert dict(s.conn.stats) == {"rto_timeouts": 1, "syn_retrans": 1, "retrans_segs": 1}


def test_reset_received_and_sent(established: Script) -> None:
    s = established
    s.rx("R", seq=1, at=1.0)
    assert s.state is State.CLOSED
    assert s.conn.stats["resets_received"] == 1
    other = make_established()
    other.conn.abort(now=1.0)
    other.expect([Out("R", seq=1, ack=None)], at=1.0)
    assert other.conn.stats["resets_sent"] == 1


def test_close_with_unread_data_counts_abort_on_close(established: Script) -> None:
    s = established
    s.rx("PA", seq=1, ack=1, data=b"unread", at=1.0)
    s.conn.close(now=1.1)
    assert s.state is State.CLOSED
    assert s.conn.stats["abort_on_close"] == 1
    assert s.conn.stats["resets_sent"] == 1


def test_out_of_window_ack_rate_limit_counted(established: Script) -> None:
    s = established
    s.rx("A", seq=1, ack=5000, at=1.0)  # acknowledges data never sent
    s.rx("A", seq=1, ack=5000, at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.conn.stats["dropped:ack-above-snd-nxt"] == 2
    assert s.conn.stats["invalid-ack-rate-limited"] == 1


# ----------------------------------------------------------------------
# The stack: its own counts, the connections' summed, per connection listed
# ----------------------------------------------------------------------


def test_stack_sums_connection_counts_and_keeps_them_after_close() -> None:
    stack = new_stack()
    stack.listen(80)
    stack.receive(packet(peer_seg("S", seq=1000)), 1.0)
    [synack] = stack_segments(stack, at=1.0)
    stack.receive(packet(peer_seg("A", seq=1001, ack=synack.seq + 1)), 1.1)
    conn = stack.find(80, PEER_ADDR, synack.dst_port)
    assert conn is not None and conn.state is State.ESTABLISHED
    assert dict(conn.stats) == {}
    assert stack.stats.per_connection() == []  # nothing counted: nothing allocated
    stack.receive(packet(peer_seg("R", seq=1500, sport=synack.dst_port)), 1.2)
    stack.receive(packet(peer_seg("R", seq=1001, sport=synack.dst_port)), 1.3)
    assert conn.state is State.CLOSED
    assert stack.stats["passive_opens"] == 1
    assert stack.stats["estab_resets"] == 1
    assert stack.stats["challenge_acks_sent"] == 1 and stack.stats["resets_received"] == 1
    assert stack.stats.per_connection() == [
        (conn.name, {"resets_received": 1, "challenge_acks_sent": 1, "dropped:rst-challenged": 1})]
    assert stack.stats.nstat()["TcpExtTCPChallengeACK"] == 1


def test_stack_counts_checksum_errors_by_linux_name() -> None:
    stack = new_stack()
    raw = bytearray(packet(peer_seg("S", seq=1)))
    raw[-1] ^= 0xFF
    stack.receive(bytes(raw), 1.0)
    linux = stack.stats.nstat()
    assert (linux["TcpInSegs"], linux["TcpInCsumErrors"], linux["TcpInErrs"]) == (1, 1, 1)
    assert stack.stats.unknown() == []


def test_lifecycle_counts_in_the_simulator() -> None:
    result = get_scenario("lifecycle").run(ScenarioOptions())
    client = result.network.hosts["client"].stack.stats
    server = result.network.hosts["server"].stack.stats
    assert (client["active_opens"], client["time_wait_ended"], client["passive_opens"]) == (1, 1, 0)
    assert (server["passive_opens"], server["active_opens"], server["estab_resets"]) == (1, 0, 0)
    assert client["packets_out"] == server["packets_in"]
    # A clean run drops nothing and allocates no connection counters.
    assert client.per_connection() == server.per_connection() == []
    assert not [k for k in {**client, **server} if k.startswith(DROP_PREFIX)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_counts_only_known_keys(name: str) -> None:
    # The run-time side of the source scan: keys built at run time (an enum's
    # value as a drop reason) must be in the table too. Loss and reordering
    # make the runs drop, retransmit and challenge.
    result = get_scenario(name).run(ScenarioOptions(loss=0.1, reorder=0.1, seed=5))
    for host in result.network.hosts.values():
        stats = host.stack.stats
        assert stats.unknown() == []
        for _, counts in stats.per_connection():
            assert all(key in COUNTERS for key in counts)
            assert all(stats[key] >= n for key, n in counts.items())
