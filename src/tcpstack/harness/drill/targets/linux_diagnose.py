"""Why a system call on the Linux target is still blocked, from the socket's ``TCP_INFO``.

When a call the script wrote without ``...`` has not returned by the end of the
script's own time plus a margin, the Linux target gives up on it (instead of
waiting a minute) and says what the kernel is most likely waiting for, read
from the socket's state (:func:`blocked_message`). :func:`script_duration`
gives the script's own time, the nominal time of its last event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..model import Script
from .linux_tcpinfo import TCP_STATE_NAMES

__all__ = ["blocked_message", "script_duration"]

_READS = {"read", "recv", "recvfrom", "recvmsg", "readv"}
_WRITES = {"write", "send", "sendto", "sendmsg", "writev"}


def script_duration(script: Script) -> float:
    """The nominal time (s) of the script's last event: absolute times as written,
    relative ones added up (the end of a range, the return time of a ``...`` call);
    a ``*`` time counts as 0 s."""
    now = 0.0
    latest = 0.0
    for event in script.events:
        timing = event.timing
        if timing.kind == "abs":
            now = timing.end if math.isfinite(timing.end) else timing.start
        elif timing.kind == "rel":
            now += timing.end if math.isfinite(timing.end) else timing.start
        latest = max(latest, now)
        if timing.blocking_end is not None:
            returns = timing.blocking_end if timing.kind == "abs" else now + timing.blocking_end
            latest = max(latest, returns)
    return latest


def _state(info: Mapping[str, int]) -> str:
    number = info.get("tcpi_state", 0)
    return TCP_STATE_NAMES.get(number, f"state {number}")


def blocked_message(call: str, info: Mapping[str, int] | None) -> str:
    """What ``call`` most likely waits for, given its socket's ``tcpi_*`` values (or None).

    For a listener ``tcpi_unacked`` is the accept queue's length and
    ``tcpi_sacked`` its limit (Linux's convention); for a connection the
    fields have their usual meaning.
    """
    if info is None:
        return f"{call}() blocked (no TCP_INFO for its socket)"
    state = _state(info)
    if call == "accept":
        if state != "LISTEN":
            return f"accept() blocked on a socket in {state}, not a listener"
        return (
            f"accept() blocked: no connection completed the three-way handshake "
            f"(accept queue {info.get('tcpi_unacked', 0)} of {info.get('tcpi_sacked', 0)}); "
            "was the handshake's final ACK sent, acknowledging the SYN-ACK (ack 1)?"
        )
    if call == "connect":
        if state == "SYN_SENT":
            return (
                "connect() blocked in SYN_SENT: the kernel waits for a SYN-ACK "
                f"(its SYN was retransmitted {info.get('tcpi_retransmits', 0)} times); "
                "was a SYN-ACK sent, acknowledging the SYN (ack 1)?"
            )
        return f"connect() blocked in {state}"
    if call in _READS:
        return (
            f"{call}() blocked in {state}: no data and no FIN to read; did the peer's "
            "data arrive in order (an out-of-order segment is queued, not readable) and "
            "inside the receive window?"
        )
    if call in _WRITES:
        return (
            f"{call}() blocked in {state}: the send buffer is full "
            f"({info.get('tcpi_unacked', 0)} segments unacknowledged, "
            f"{info.get('tcpi_notsent_bytes', 0)} bytes not sent yet); the kernel waits "
            "for ACKs or a larger window from the peer"
        )
    if call == "close":
        return (
            f"close() blocked in {state} (SO_LINGER): the kernel waits for its FIN "
            "and data to be acknowledged"
        )
    if call in ("poll", "epoll_wait"):
        return f"{call}() blocked: none of the requested events occurred (socket in {state})"
    return f"{call}() blocked (socket in {state})"
