"""The ss-style count of sockets per state, from the trace alone."""

from __future__ import annotations

import pytest

from tcpstack.scenarios.ss import StateCount, state_counts, state_table
from tcpstack.tools.wrap import cell_width
from tcpstack.trace import TraceRecord


def change(t: float, host: str, conn: str, old: str, new: str) -> TraceRecord:
    return TraceRecord(t, host, conn, "state_updated", {"old": old, "new": new, "cause": "x"})


def app(t: float, host: str, conn: str, call: str) -> TraceRecord:
    return TraceRecord(t, host, conn, "app", {"call": call})


TRACE = [
    app(0.0, "s", "10.0.0.2:80-*", "listen"),
    change(0.0, "c", "a", "CLOSED", "SYN-SENT"),
    change(1.0, "s", "b", "LISTEN", "SYN-RECEIVED"),
    change(1.0, "c", "a", "SYN-SENT", "ESTABLISHED"),
    change(2.0, "s", "b", "SYN-RECEIVED", "ESTABLISHED"),
    change(3.0, "c", "a", "ESTABLISHED", "FIN-WAIT-1"),
    change(3.0, "s", "b", "ESTABLISHED", "CLOSE-WAIT"),
    change(4.0, "c", "a", "FIN-WAIT-1", "FIN-WAIT-2"),
    TraceRecord(4.5, "c", "a", "segment_sent", {"flags": ["ACK"]}),  # not a state change
    change(5.0, "c", "a", "FIN-WAIT-2", "CLOSED"),
    app(6.0, "s", "", "restart"),
]


def test_counts_over_time() -> None:
    got = state_counts(TRACE, [0.0, 1.0, 3.5, 5.0, 6.0], ["c", "s"])
    assert [(c.time, c.host, c.counts) for c in got] == [
        (0.0, "c", {"SYN-SENT": 1}), (0.0, "s", {"LISTEN": 1}),
        (1.0, "c", {"ESTABLISHED": 1}), (1.0, "s", {"LISTEN": 1, "SYN-RECEIVED": 1}),
        (3.5, "c", {"FIN-WAIT-1": 1}), (3.5, "s", {"LISTEN": 1, "CLOSE-WAIT": 1}),
        (5.0, "c", {}), (5.0, "s", {"LISTEN": 1, "CLOSE-WAIT": 1}),  # CLOSED is gone
        (6.0, "c", {}), (6.0, "s", {}),  # a crash forgets every socket
    ]
    assert got[3].total() == 2


def test_odd_traces() -> None:
    assert state_counts([], [1.0], ["nobody"]) == [StateCount(1.0, "nobody", {})]
    odd = [TraceRecord(0.0, "h", "", "state_updated", {"new": "ESTABLISHED"}),  # no conn
           TraceRecord(0.0, "h", "x", "state_updated", {}),  # no states
           TraceRecord(0.0, "h", "y", "app", {"delivered": 3})]
    assert state_counts(odd, [0.0], ["h"])[0].counts == {}
    with pytest.raises(ValueError, match="increasing"):
        state_counts(TRACE, [2.0, 1.0], ["c"])


def test_table_in_both_languages() -> None:
    table = state_table(state_counts(TRACE, [0.0, 3.5], ["c", "s"]))
    en, zh = table.en.splitlines(), table.zh.splitlines()
    # A column for each host and state seen at one of the moments.
    assert en[0].split() == ["time", "(s)", "c", "SYN-SENT", "c", "FIN-WAIT-1", "s", "LISTEN",
                             "s", "CLOSE-WAIT"]
    assert en[1].split() == ["0.0", "1", "0", "1", "0"]
    assert en[2].split() == ["3.5", "0", "1", "1", "1"]
    assert zh[0].startswith("时间")
    # Columns line up on a terminal: every row has the width of its header.
    for lines in (en, zh):
        assert len({cell_width(line) for line in lines}) == 1
    assert state_table([]).en == "(no sockets)"
