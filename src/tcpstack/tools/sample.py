"""A hand-written trace of one full connection lifecycle, for docs and for tests of the tools.

It needs no simulator: :func:`lifecycle_trace` returns the records two hosts
(``client`` 192.0.2.1:40000, ``server`` 192.0.2.2:80) would emit over a
link with a one-way delay of ``delay`` seconds: three-way handshake, 100
bytes from the client (lost once in the network, retransmitted when the RTO
fires after 1 s), 50 bytes back, the four-way close, TIME-WAIT for 240 s
(2 MSL) and CLOSED.
"""

from __future__ import annotations

from typing import Any

from tcpstack.trace import TraceRecord

__all__ = ["CLIENT_CONN", "SERVER_CONN", "lifecycle_trace"]

CLIENT_CONN = "192.0.2.1:40000-192.0.2.2:80"
SERVER_CONN = "192.0.2.2:80-192.0.2.1:40000"
CLIENT_ISN = 1000
SERVER_ISN = 5000


def lifecycle_trace(
    delay: float = 0.010,
    *,
    client: str = "client",
    server: str = "server",
    lose_data: bool = True,
) -> list[TraceRecord]:
    """The records of one full connection lifecycle, in time order.

    Args:
        delay: one-way network delay in seconds.
        client, server: host names.
        lose_data: lose the client's first data segment in the network (it
            is retransmitted 1 s later, when the RTO fires).

    Returns:
        Trace records (times in seconds from 0).
    """
    d = delay
    recs: list[TraceRecord] = []
    conn = {client: CLIENT_CONN, server: SERVER_CONN}

    def rec(t: float, host: str, event: str, data: dict[str, Any], c: str | None = None) -> None:
        recs.append(TraceRecord(round(t, 9), host, conn[host] if c is None else c, event, data))

    def state(t: float, host: str, old: str, new: str, c: str | None = None) -> None:
        rec(t, host, "state_updated", {"old": old, "new": new}, c)

    def seg(
        t: float,
        src: str,
        dst: str,
        seq: int,
        ack: int,
        flags: list[str],
        length: int = 0,
        options: dict[str, Any] | None = None,
        lost: bool = False,
    ) -> float:
        data = {
            "seq": seq,
            "ack": ack,
            "flags": flags,
            "len": length,
            "window": 65535 if "SYN" in flags else 64240,
            "options": options or {},
        }
        rec(t, src, "segment_sent", dict(data))
        if lost:
            rec(t, src, "segment_dropped", {"reason": "lost-in-network", **data, "to": dst})
            return t
        rec(t + d, dst, "segment_received", dict(data))
        return t + d

    c, s = CLIENT_ISN, SERVER_ISN
    syn_opts = {"mss": 1460, "wscale": 7, "sack_permitted": True}
    listen_conn = "192.0.2.2:80-0.0.0.0:0"
    rec(0.0, server, "app", {"call": "listen", "backlog": 8}, listen_conn)
    state(0.0, server, "CLOSED", "LISTEN", listen_conn)
    # Three-way handshake.
    t = 0.0
    rec(t, client, "app", {"call": "connect", "remote": "192.0.2.2:80"})
    state(t, client, "CLOSED", "SYN-SENT")
    rec(t, client, "timer_set", {"timer": "rto", "at": t + 1.0})
    t = seg(t, client, server, c, 0, ["SYN"], options=syn_opts)
    state(t, server, "LISTEN", "SYN-RECEIVED")
    t = seg(t, server, client, s, c + 1, ["SYN", "ACK"], options=syn_opts)
    state(t, client, "SYN-SENT", "ESTABLISHED")
    rec(t, client, "metrics_updated", {"cwnd": 14600, "ssthresh": 65535, "srtt": 2 * d})
    t_ack = seg(t, client, server, c + 1, s + 1, ["ACK"])
    # Client data: lost once, retransmitted on RTO.
    t_data = t + 0.010
    rec(t_data, client, "app", {"call": "send", "bytes": 100})
    seg(t_data, client, server, c + 1, s + 1, ["PSH", "ACK"], 100, lost=lose_data)
    state(t_ack, server, "SYN-RECEIVED", "ESTABLISHED")
    if lose_data:
        t_data += 1.0
        rec(t_data, client, "timer_fired", {"timer": "rto"})
        t = seg(t_data, client, server, c + 1, s + 1, ["PSH", "ACK"], 100)
    else:
        t = t_data + d
    seg(t, server, client, s + 1, c + 101, ["ACK"])
    t = seg(t + 0.005, server, client, s + 1, c + 101, ["PSH", "ACK"], 50)
    seg(t, client, server, c + 101, s + 51, ["ACK"])
    # Four-way close, client first.
    t += 0.045
    rec(t, client, "app", {"call": "close"})
    state(t, client, "ESTABLISHED", "FIN-WAIT-1")
    t = seg(t, client, server, c + 101, s + 51, ["FIN", "ACK"])
    state(t, server, "ESTABLISHED", "CLOSE-WAIT")
    t = seg(t, server, client, s + 51, c + 102, ["ACK"])
    state(t, client, "FIN-WAIT-1", "FIN-WAIT-2")
    t += 0.010
    rec(t, server, "app", {"call": "close"})
    state(t, server, "CLOSE-WAIT", "LAST-ACK")
    t = seg(t, server, client, s + 51, c + 102, ["FIN", "ACK"])
    state(t, client, "FIN-WAIT-2", "TIME-WAIT")
    rec(t, client, "timer_set", {"timer": "time_wait", "at": t + 240.0})
    t_last = seg(t, client, server, c + 102, s + 52, ["ACK"])
    state(t_last, server, "LAST-ACK", "CLOSED")
    rec(t + 240.0, client, "timer_fired", {"timer": "time_wait"})
    state(t + 240.0, client, "TIME-WAIT", "CLOSED")
    recs.sort(key=lambda r: r.time)  # stable: same-time records keep their order
    return recs
