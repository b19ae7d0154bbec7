"""Linux ``struct tcp_info`` (``getsockopt(TCP_INFO)``) computed from a TCB.

Only what the TCB can say truthfully, with Linux's names, units and meanings
(``include/uapi/linux/tcp.h``): times in microseconds, windows and counts of
segments in segments of the send MSS, states numbered as Linux's ``TCP_*``.
A field tcpstack does not keep (``tcpi_rcv_mss``, Linux's estimate of the
peer's segment size; ``tcpi_pmtu``; ``tcpi_min_rtt``; ...) is absent rather
than invented. Per-connection traffic counters (``tcpi_segs_out``,
``tcpi_total_retrans``, ...) are not TCB state either: a driver that sees
the packets adds them (the drill target does, with ``tcpi_rcv_mss`` and
``tcpi_last_data_recv`` from the segments it delivers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .congestion.base import INFINITE_SSTHRESH
from .negotiation import TS_OPTION_SPACE
from .recovery import Phase
from .seq import seq_diff
from .state import State

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["LINUX_STATE", "tcp_info"]

LINUX_STATE: dict[State, int] = {
    State.ESTABLISHED: 1,
    State.SYN_SENT: 2,
    State.SYN_RECEIVED: 3,
    State.FIN_WAIT_1: 4,
    State.FIN_WAIT_2: 5,
    State.TIME_WAIT: 6,
    State.CLOSED: 7,
    State.CLOSE_WAIT: 8,
    State.LAST_ACK: 9,
    State.LISTEN: 10,
    State.CLOSING: 11,
}
"""Linux's ``TCP_*`` state numbers (``include/net/tcp_states.h``)."""

TCPI_OPT_TIMESTAMPS = 1
TCPI_OPT_SACK = 2
TCPI_OPT_WSCALE = 4
TCPI_OPT_ECN = 8

TCP_CA_OPEN, TCP_CA_DISORDER, TCP_CA_RECOVERY, TCP_CA_LOSS = 0, 1, 3, 4
"""Linux's congestion-avoidance states (``tcpi_ca_state``)."""

LINUX_INFINITE_SSTHRESH = 0x7FFFFFFF
"""What Linux reports as ssthresh before the first loss (TCP_INFINITE_SSTHRESH)."""


def _usec(seconds: float) -> int:
    return round(seconds * 1_000_000)


def tcp_info(conn: Connection) -> dict[str, int]:
    """The ``tcpi_*`` fields of ``conn`` that its TCB determines.

    Returns:
        ``{"tcpi_state": 1, "tcpi_rto": 200000, "tcpi_snd_cwnd": 10, ...}``:
        times in microseconds, ``snd_cwnd``/``snd_ssthresh``/``unacked``/
        ``sacked`` in segments of the send MSS (as Linux), sizes in bytes.
    """
    neg = conn.negotiated
    mss = conn.snd_mss
    seg = mss - (TS_OPTION_SPACE if neg.timestamps else 0)  # Linux mss_cache
    rtt = conn.rtt
    rec = conn.recovery
    options = (
        (TCPI_OPT_TIMESTAMPS if neg.timestamps else 0)
        | (TCPI_OPT_SACK if neg.sack else 0)
        | (TCPI_OPT_WSCALE if neg.snd_wscale or neg.rcv_wscale else 0)
        | (TCPI_OPT_ECN if neg.ecn else 0)  # RFC 3168 §6.1.1, negotiated
    )
    sacked = 0
    if rec.uses_sack and rec.scoreboard is not None:
        sacked = -(-rec.scoreboard.sacked_bytes() // max(seg, 1))
    if rec.phase is Phase.RECOVERY:
        ca_state = TCP_CA_RECOVERY
    elif rec.phase is Phase.LOSS:
        ca_state = TCP_CA_LOSS
    elif rec.dupacks or sacked:
        ca_state = TCP_CA_DISORDER
    else:
        ca_state = TCP_CA_OPEN
    synchronized = conn.state not in (State.LISTEN, State.SYN_SENT, State.CLOSED) or (
        conn.was_established
    )
    info: dict[str, int] = {
        "tcpi_state": LINUX_STATE[conn.state],
        "tcpi_ca_state": ca_state,
        "tcpi_retransmits": rtt.backoffs,
        "tcpi_backoff": rtt.backoffs,
        "tcpi_probes": conn.probes_out,
        "tcpi_options": options,
        "tcpi_snd_wscale": neg.snd_wscale,
        "tcpi_rcv_wscale": neg.rcv_wscale,
        "tcpi_rto": _usec(conn.rto),
        "tcpi_ato": _usec(conn.config.delayed_ack),
        "tcpi_snd_mss": seg,
        "tcpi_advmss": conn.rcv_mss - (TS_OPTION_SPACE if neg.timestamps else 0),
        "tcpi_unacked": -(-conn.in_flight // max(seg, 1)),
        "tcpi_sacked": sacked,
        "tcpi_snd_cwnd": conn.cwnd // max(mss, 1),
        "tcpi_snd_ssthresh": (
            LINUX_INFINITE_SSTHRESH
            if conn.ssthresh >= INFINITE_SSTHRESH
            else conn.ssthresh // max(mss, 1)
        ),
        "tcpi_reordering": conn.config.dupthresh,
        "tcpi_notsent_bytes": conn.unsent,
    }
    if rtt.srtt is not None and rtt.rttvar is not None:
        info["tcpi_rtt"] = _usec(rtt.srtt)
        info["tcpi_rttvar"] = _usec(rtt.rttvar)
    if synchronized:
        # Data bytes only: the SYN (and our FIN) take sequence space but carry none.
        acked = max(seq_diff(conn.snd_una, conn.iss) - 1, 0)
        info["tcpi_bytes_acked"] = acked
        received = max(seq_diff(conn.rcv_nxt, conn.irs) - 1 - int(conn.fin_received), 0)
        info["tcpi_bytes_received"] = received
    return info
