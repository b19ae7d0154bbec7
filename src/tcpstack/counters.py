"""Counters: every drop, defence and limit the stack counts, named as Linux's ``nstat`` names them.

A :class:`~tcpstack.stack.Stack` counts in :attr:`Stack.stats
<tcpstack.stack.Stack.stats>`, a :class:`Stats` (a ``collections.Counter``
keyed by the strings of :data:`COUNTERS`). A connection counts through
``Tcb._count(key)``: the key is counted on the connection
(:attr:`Connection.stats <tcpstack.tcb.Tcb.stats>`, allocated only when the
connection first counts something) and on its stack, so the stack's figure
is the sum over its connections, the dead ones included. Lifecycle counts
(opens, failed attempts, resets of established connections, TIME-WAIT ends)
and per-packet counts are the stack's only.

:data:`COUNTERS` is the one table of keys: for each, the Linux counter(s)
it feeds (``nstat`` names, from ``/proc/net/snmp`` and ``/proc/net/netstat``
as ``net/ipv4/proc.c`` names them; ``()`` where Linux has none) and one line
saying what is counted. :meth:`Stats.nstat` adds the keys up by Linux name.
Where tcpstack counts a little differently from Linux the description says
so. A test checks that every key the code counts is in the table, and that
the table in ``docs/security.md`` is :func:`markdown_table`.

The core rule of DESIGN.md holds: nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .state import Cause, State

__all__ = [
    "CAUSE_COUNTERS",
    "CONNECTIONS_KEPT",
    "COUNTERS",
    "DROP_PREFIX",
    "CounterInfo",
    "Stats",
    "describe",
    "lifecycle_counter",
    "markdown_table",
    "ordered",
]

DROP_PREFIX = "dropped:"
"""Keys of segments dropped: ``dropped:<reason>``, the reason as in the
``segment_dropped`` trace record."""

CONNECTIONS_KEPT = 1024
"""Connections whose own counters :attr:`Stats.connections` keeps, the most
recent to start counting (older ones still count in the stack's totals)."""


class CounterInfo(NamedTuple):
    """One counter key.

    Attributes:
        key: the key in :attr:`Stack.stats` (and ``Connection.stats``).
        nstat: the Linux counters it adds to, as ``nstat`` prints them
            (``TcpExtSyncookiesSent``); empty where Linux has none.
        description: what one count means.
        source: the RFC, Linux sysctl or code that defines the event.
    """

    key: str
    nstat: tuple[str, ...]
    description: str
    source: str = ""


def _table(*rows: tuple[str, tuple[str, ...], str, str]) -> dict[str, CounterInfo]:
    table: dict[str, CounterInfo] = {}
    for key, nstat, description, source in rows:
        if key in table:  # pragma: no cover - a typo in the table below
            raise ValueError(f"counter {key!r} listed twice")
        table[key] = CounterInfo(key, nstat, description, source)
    return table


_D = DROP_PREFIX

COUNTERS: dict[str, CounterInfo] = _table(
    # --- Packets (stack) ---
    ("packets_in", ("TcpInSegs",), "IP packets given to Stack.receive, malformed ones included",
     "RFC 4022 tcpInSegs"),
    ("packets_out", ("TcpOutSegs",), "IP packets produced by Stack.packets_to_send "
     "(retransmissions included; Linux's OutSegs leaves them out)", "RFC 4022 tcpOutSegs"),
    ("retrans_segs", ("TcpRetransSegs",), "segments sent again: RTO, fast retransmit, SACK "
     "recovery, tail loss probe, SYN and SYN,ACK retries", "RFC 6298, RFC 5681"),
    ("resets_sent", ("TcpOutRsts",), "RST segments sent, by the stack (no TCB) or a connection",
     "RFC 9293 §3.10.7.1, §3.10.5"),
    # --- Connection lifecycle (stack) ---
    ("active_opens", ("TcpActiveOpens",), "connections that went CLOSED -> SYN-SENT",
     "RFC 4022 tcpActiveOpens"),
    ("passive_opens", ("TcpPassiveOpens",), "passive connections that completed the handshake "
     "(ESTABLISHED; Linux counts them when the child socket is made)", "RFC 4022"),
    ("attempt_fails", ("TcpAttemptFails",), "SYN-SENT or SYN-RECEIVED -> CLOSED, and "
     "SYN-RECEIVED -> LISTEN", "RFC 4022 tcpAttemptFails"),
    ("estab_resets", ("TcpEstabResets",), "ESTABLISHED or CLOSE-WAIT -> CLOSED (reset, "
     "abort, timeout)", "RFC 4022 tcpEstabResets"),
    ("time_wait_ended", ("TcpExtTW",), "TIME-WAIT connections closed by the 2 MSL timer",
     "RFC 9293 §3.10.8"),
    # --- Per connection: resets, timeouts, aborts ---
    ("resets_received", (), "connections reset by an acceptable RST from the peer",
     "RFC 9293 §3.10.7.3-4, RFC 5961 §3"),
    ("rto_timeouts", ("TcpExtTCPTimeouts",), "retransmission timer expiries that resent data "
     "or a SYN", "RFC 6298 §5.4-5.6"),
    ("syn_retrans", ("TcpExtTCPSynRetrans",), "SYN and SYN,ACK retransmissions",
     "RFC 6298 §5.7; Linux tcp_syn_retries, tcp_synack_retries"),
    ("loss_probes", ("TcpExtTCPLossProbes",), "tail loss probes sent", "RFC 8985 §7"),
    ("r2_timeout", ("TcpExtTCPAbortOnTimeout",), "connections closed when R2 (or the user "
     "timeout) ran out: for data, a SYN, zero-window probes or an orphan's retries "
     "(persist_timeout, orphan_retries_exceeded tell those apart)",
     "RFC 9293 §3.8.3 MUST-20, RFC 5482"),
    ("keepalive_timeout", ("TcpExtTCPAbortOnTimeout",), "connections closed after unanswered "
     "keep-alive probes", "RFC 9293 §3.8.4; Linux tcp_keepalive_probes"),
    ("fin_wait_2_timeout", (), "orphans closed after waiting fin_wait_2_timeout for the "
     "peer's FIN", "Linux tcp_fin_timeout"),
    ("abort_on_close", ("TcpExtTCPAbortOnClose",), "connections reset because the application "
     "closed with unread data", "RFC 9293 §3.6.1 SHLD-3"),
    ("abort_on_data", ("TcpExtTCPAbortOnData",), "connections reset because data arrived after "
     "the application closed", "RFC 9293 §3.6.1 SHLD-3"),
    # --- Per connection: challenge ACKs and rate limits (RFC 5961) ---
    ("challenge_acks_sent", ("TcpExtTCPChallengeACK",), "challenge ACKs sent for an in-window RST "
     "or a SYN in a synchronized state", "RFC 5961 §3.2, §4.2"),
    ("challenge-ack-rate-limited", ("TcpExtTCPACKSkippedChallenge",), "challenge ACKs not "
     "sent: over challenge_ack_limit per second on this connection", "RFC 5961 §7"),
    ("invalid-ack-rate-limited", ("TcpExtTCPACKSkippedSeq",), "ACKs to unacceptable segments "
     "(out of window, PAWS, bad ACK) not sent: within invalid_ack_ratelimit of the last; "
     "Linux splits these by cause", "RFC 9293 §3.10.7.4, RFC 5961 §5.2; Linux "
     "tcp_invalid_ratelimit"),
    # --- SYN flood defence (stack; counted by the SYN queue and cookies) ---
    ("syncookies_sent", ("TcpExtSyncookiesSent",), "SYN,ACKs sent with a SYN cookie "
     "(no state kept)", "RFC 4987 §3.6; Linux tcp_syncookies"),
    ("syncookies_validated", ("TcpExtSyncookiesRecv",), "final ACKs whose SYN cookie "
     "validated: a connection made from it", "RFC 4987 §3.6"),
    ("syncookies_failed", ("TcpExtSyncookiesFailed",), "ACKs to a listener whose cookie did not "
     "validate (answered with RST)", "RFC 4987 §3.6"),
    ("syn_queue_overflow", (), "SYNs that found the listener's SYN queue full (then a "
     "cookie, a recycled entry or a drop: see the keys of each)", "Linux tcp_max_syn_backlog"),
    ("backlog_overflow", ("TcpExtListenOverflows",), "SYNs or completing ACKs dropped: the "
     "listener's accept queue (backlog) was full", "Linux somaxconn, listen(2) backlog"),
    ("syn_recycled", (), "half-open entries recycled for a new SYN when the SYN queue was "
     "full (FreeBSD syncache drops its oldest entry alike)", "RFC 4987 §3.4"),
    ("synack_retries_exceeded", (), "half-open entries dropped after synack_retries "
     "unanswered SYN,ACKs", "Linux tcp_synack_retries"),
    # --- Host limits (stack) ---
    ("orphans_killed_limit", ("TcpExtTCPAbortOnMemory",), "orphans reset because there were "
     "more than max_orphans", "Linux tcp_max_orphans"),
    ("time_wait_overflow", ("TcpExtTCPTimeWaitOverflow",), "connections closed at once instead "
     "of entering TIME-WAIT: more than max_time_wait", "Linux tcp_max_tw_buckets"),
    # --- Out-of-order queue (per connection) ---
    ("ofo_queued", ("TcpExtTCPOFOQueue",), "out-of-order segments held for later",
     "RFC 9293 §3.10.7.4 SHLD-31"),
    ("ofo_dropped", ("TcpExtTCPOFODrop",), "out-of-order segments dropped at the range "
     "limit (ofo_max_ranges) with nothing above them to prune; text beyond the window is "
     "trimmed by the first check instead", "Linux tcp_data_queue_ofo"),
    ("ofo_pruned", ("TcpExtOfoPruned",), "out-of-order ranges pruned from the top to stay "
     "within the limit (reneging, RFC 2018 §8)", "Linux tcp_prune_ofo_queue"),
    ("ofo_merged", ("TcpExtTCPOFOMerge",), "out-of-order segments merged into a held range",
     "Linux tcp_data_queue_ofo"),
    ("sack_reneging", ("TcpExtTCPSACKReneging",), "the peer reneged on data it had SACKed",
     "RFC 2018 §8, RFC 6675 §5.1"),
    # --- ECN, RFC 3168 (per connection; the ecn part of issue 13) ---
    ("ecn_negotiated", (), "connections whose SYN and SYN,ACK agreed on ECN",
     "RFC 3168 §6.1.1; Linux tcp_ecn"),
    ("ecn_ce_received", ("IpExtInCEPkts",), "data segments that arrived marked CE on an ECN "
     "connection (Linux counts every IP packet that arrives CE)", "RFC 3168 §6.1.3"),
    ("ecn_ece_received", (), "acceptable ACKs with ECE (congestion echoed by the peer)",
     "RFC 3168 §6.1.2"),
    ("ecn_reductions", (), "cwnd reductions for ECE, at most one per window of data (none "
     "in loss recovery)", "RFC 3168 §6.1.2"),
    ("ecn_cwr_sent", (), "data segments sent with CWR after a window reduction",
     "RFC 3168 §6.1.2"),
    # --- Liveness (per connection) ---
    ("persist_timeout", (), "connections closed: zero-window probes went unanswered for R2 "
     "(or the user timeout), or the device refused the data that long (local congestion); "
     "also counted in r2_timeout",
     "RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17"),
    ("orphan_retries_exceeded", (), "orphans closed after orphan_retries retransmissions or "
     "probes; also counted in r2_timeout", "Linux tcp_orphan_retries"),
    ("rfc1337_rst_ignored", (), "RSTs ignored in TIME-WAIT (TIME-WAIT assassination "
     "protection)", "RFC 1337"),
    ("time_wait_reused", ("TcpExtTWRecycled",), "TIME-WAIT connections that gave way to a new "
     "SYN with a higher ISN or newer timestamp", "RFC 9293 §3.6.1 MAY-2, RFC 6191"),
    ("time_wait_reuse_refused", (), "SYNs refused by a TIME-WAIT connection: ISN and "
     "timestamp not newer", "RFC 6191"),
    # --- Drops: malformed packets (stack, from the wire parser) ---
    (_D + "bad-checksum", ("TcpInCsumErrors", "TcpInErrs"), "TCP checksum did not verify",
     "RFC 9293 §3.1 MUST-2"),
    (_D + "truncated-tcp", (), "shorter than a TCP header (Linux discards it uncounted)",
     "RFC 9293 §3.1"),
    (_D + "bad-data-offset", ("TcpInErrs",), "TCP data offset below 5 words or beyond the "
     "packet", "RFC 9293 §3.1"),
    (_D + "bad-option-length", (), "a TCP option whose length is impossible (Linux ignores "
     "the options instead)",
     "RFC 9293 §3.1 MUST-64"),
    (_D + "bad-ip-checksum", ("IpExtInCsumErrors", "IpInHdrErrors"), "IPv4 header checksum "
     "did not verify", "RFC 791"),
    (_D + "truncated-ip", ("IpInHdrErrors",), "shorter than its IP header",
     "RFC 791, RFC 8200"),
    (_D + "bad-ihl", ("IpInHdrErrors",), "IPv4 header length below 20 bytes or beyond the "
     "packet", "RFC 791"),
    (_D + "bad-ip-length", ("IpExtInTruncatedPkts",), "IP total/payload length beyond the "
     "packet (or an IPv4 total below its header)", "RFC 791, RFC 8200"),
    (_D + "bad-ip-version", ("IpInHdrErrors",), "IP version neither 4 nor 6", "RFC 791"),
    (_D + "ip-fragment", (), "IPv4 fragment (tcpstack does not reassemble IP)", "RFC 791"),
    (_D + "ipv6-extension", (), "IPv6 extension header (not supported)", "RFC 8200"),
    (_D + "not-tcp", ("IpInUnknownProtos",), "IP protocol other than TCP", "RFC 791"),
    # --- Drops: addressing (stack) ---
    (_D + "not-our-address", ("IpInAddrErrors",), "destination is not the stack's address",
     "RFC 1122 §3.2.1.3"),
    (_D + "invalid-address", (), "from or to a broadcast, multicast or unspecified address, or "
     "port 0", "RFC 9293 MUST-57, MUST-63"),
    (_D + "rst-to-closed-port", (), "RST for a port with no connection: discarded",
     "RFC 9293 §3.10.7.1"),
    # --- Drops: LISTEN (stack or TCB) ---
    (_D + "rst-in-listen", (), "RST to a listener: ignored", "RFC 9293 §3.10.7.2"),
    (_D + "ack-in-listen", (), "ACK to a listener: answered with RST", "RFC 9293 §3.10.7.2"),
    (_D + "no-syn-in-listen", (), "segment without SYN, ACK or RST to a listener",
     "RFC 9293 §3.10.7.2"),
    (_D + "backlog-full", ("TcpExtListenDrops",), "SYN or completing ACK dropped: the "
     "listener's backlog was full", "RFC 9293 §3.10.7.2; Linux tcp_listendrop"),
    (_D + "syn-queue-full", ("TcpExtTCPReqQFullDrop", "TcpExtListenDrops"), "SYN dropped: the "
     "SYN queue was full, no cookie and nothing to recycle", "RFC 4987 §3"),
    (_D + "max-connections", (), "SYN or cookie ACK dropped: the stack holds max_connections "
     "TCBs", "tcpstack host limit"),
    (_D + "bad-syncookie", (), "an ACK to a listener that had sent cookies carried no valid "
     "SYN cookie (answered by RST; also counted syncookies_failed)", "RFC 4987 §3.6"),
    # --- Drops: SYN-SENT, SYN-RECEIVED (connection) ---
    (_D + "connection-closed", (), "segment for a TCB already CLOSED", "RFC 9293 §3.10.7.1"),
    (_D + "bad-ack-in-syn-sent", (), "SYN-SENT: ACK outside ISS..SND.NXT (answered with RST "
     "unless RST)", "RFC 9293 §3.10.7.3"),
    (_D + "rst-without-ack-in-syn-sent", (), "SYN-SENT: RST without an acceptable ACK",
     "RFC 9293 §3.10.7.3, RFC 5961 §3.2"),
    (_D + "no-syn-in-syn-sent", (), "SYN-SENT: neither SYN nor RST", "RFC 9293 §3.10.7.3"),
    (_D + "retransmitted-syn", (), "SYN-RECEIVED: the peer's SYN again (SYN,ACK resent)",
     "RFC 9293 §3.10.7.4"),
    (_D + "syn-in-syn-received", (), "SYN-RECEIVED (passive): a new SYN sends the TCB back to "
     "LISTEN", "RFC 9293 §3.10.7.4 fourth step"),
    (_D + "bad-ack-in-syn-received", (), "SYN-RECEIVED: unacceptable ACK (answered with RST)",
     "RFC 9293 §3.10.7.4 fifth step"),
    # --- Drops: synchronized states (connection) ---
    (_D + "paws", ("TcpExtPAWSEstab",), "timestamp older than TS.Recent: an old duplicate "
     "(PAWS)", "RFC 7323 §5.3 R1"),
    (_D + "missing-timestamps", (), "no timestamp option after timestamps were negotiated",
     "RFC 7323 §3.2"),
    (_D + "out-of-window", (), "sequence number outside the receive window (answered with "
     "an ACK, rate-limited)", "RFC 9293 §3.10.7.4 first step"),
    (_D + "rst-out-of-window", (), "RST outside the receive window", "RFC 5961 §3.2"),
    (_D + "rst-challenged", (), "RST in the window but not at RCV.NXT: challenge ACK",
     "RFC 5961 §3.2"),
    (_D + "syn-challenged", ("TcpExtTCPSYNChallenge",), "SYN in a synchronized state: "
     "challenge ACK", "RFC 5961 §4.2"),
    (_D + "retransmitted-fin", (), "TIME-WAIT: the peer's FIN again (re-ACKed, 2 MSL restarted)",
     "RFC 9293 §3.10.7.4"),
    (_D + "no-ack", (), "no ACK bit in a synchronized state", "RFC 9293 §3.10.7.4 fifth step"),
    (_D + "ack-above-snd-nxt", (), "ACK for data not yet sent (answered with an ACK, "
     "rate-limited)", "RFC 9293 §3.10.7.4, RFC 5961 §5.2"),
    (_D + "ack-too-old", (), "ACK below SND.UNA - MAX.SND.WND (answered with an ACK, "
     "rate-limited)", "RFC 5961 §5.2"),
    (_D + "closing-no-fin-ack", (), "CLOSING: an ACK that does not acknowledge our FIN",
     "RFC 9293 §3.10.7.4 fifth step"),
)
"""Every counter key, in the order the documentation lists them."""

CAUSE_COUNTERS: dict[Cause, str] = {
    Cause.RCV_RST: "resets_received",
    Cause.R2_TIMEOUT: "r2_timeout",
    Cause.KEEPALIVE_TIMEOUT: "keepalive_timeout",
    Cause.FIN_WAIT_2_TIMEOUT: "fin_wait_2_timeout",
    Cause.CLOSE_UNREAD: "abort_on_close",
    Cause.DATA_AFTER_CLOSE: "abort_on_data",
}
"""State changes counted on the connection, by their cause."""

_SYN_STATES = (State.SYN_SENT, State.SYN_RECEIVED)
_ENDS = (State.CLOSED, State.LISTEN)


def lifecycle_counter(old: State, new: State, cause: Cause, *, passive: bool) -> str | None:
    """The stack-wide lifecycle key a state change counts (RFC 4022's tcpActiveOpens,
    tcpPassiveOpens, tcpAttemptFails, tcpEstabResets; Linux's TW), or None."""
    if new is State.SYN_SENT and old is State.CLOSED:
        return "active_opens"
    if new is State.ESTABLISHED and passive and old is not State.SYN_SENT:
        return "passive_opens"
    if new in _ENDS and old in _SYN_STATES:
        return "attempt_fails"
    if new is State.CLOSED:
        if old in (State.ESTABLISHED, State.CLOSE_WAIT):
            return "estab_resets"
        if old is State.TIME_WAIT and cause is Cause.TIME_WAIT_TIMEOUT:
            return "time_wait_ended"
    return None


def describe(key: str) -> CounterInfo | None:
    """The table entry of ``key``, or None for a key the table does not know."""
    return COUNTERS.get(key)


class Stats(Counter[str]):
    """A stack's counters: a ``Counter`` of :data:`COUNTERS` keys (a key never
    counted reads 0), plus the Linux view and the per-connection counters.

    Attributes:
        connections: ``(connection name, its counters)`` of the last
            :data:`CONNECTIONS_KEPT` connections that counted anything, oldest
            first; the counters are the connection's own (live) mapping, kept
            after the connection is gone.
    """

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        super().__init__(counts or {})
        self.connections: deque[tuple[str, Counter[str]]] = deque(maxlen=CONNECTIONS_KEPT)

    def track(self, name: str) -> Counter[str]:
        """A new, empty counter for the connection called ``name``, kept in
        :attr:`connections`."""
        counts: Counter[str] = Counter()
        self.connections.append((name, counts))
        return counts

    def nstat(self) -> dict[str, int]:
        """The counts by Linux ``nstat`` name (``{"TcpExtTCPChallengeACK": 3, ...}``):
        the sum of the keys that feed each name; names no key feeds are absent,
        names whose keys counted nothing are 0. Sorted by name."""
        out: dict[str, int] = {}
        for info in COUNTERS.values():
            for name in info.nstat:
                out[name] = out.get(name, 0) + self[info.key]
        return dict(sorted(out.items()))

    def unknown(self) -> list[str]:
        """Keys counted that :data:`COUNTERS` does not describe (a bug; tests keep it empty)."""
        return sorted(k for k in self if k not in COUNTERS)

    def per_connection(self) -> list[tuple[str, dict[str, int]]]:
        """``(connection name, {key: count})`` for each connection in
        :attr:`connections`, oldest first, keys in table order."""
        return [(name, ordered(counts)) for name, counts in self.connections]


def ordered(counts: Mapping[str, int], *, zeros: bool = False) -> dict[str, int]:
    """``counts`` in :data:`COUNTERS` order (unknown keys last, sorted); zeros left
    out unless ``zeros``, where every key of the table appears."""
    keys: Iterable[str] = list(COUNTERS) + sorted(k for k in counts if k not in COUNTERS)
    return {k: counts.get(k, 0) for k in keys if zeros or counts.get(k, 0)}


def markdown_table() -> str:
    """The table of :data:`COUNTERS` as Markdown (``docs/security.md`` carries it)."""
    lines = ["| key | Linux `nstat` | counts | source |", "| --- | --- | --- | --- |"]
    for info in COUNTERS.values():
        nstat = ", ".join(info.nstat) if info.nstat else "-"
        lines.append(f"| `{info.key}` | {nstat} | {info.description} | {info.source} |")
    return "\n".join(lines) + "\n"
