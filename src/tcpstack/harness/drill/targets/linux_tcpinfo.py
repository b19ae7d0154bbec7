"""Linux's ``struct tcp_info`` (``getsockopt(fd, IPPROTO_TCP, TCP_INFO)``) decoded by name.

The layout is the one of ``include/uapi/linux/tcp.h`` (Linux 6.18: the same
field order packetdrill's ``tcp.h`` and ``code.c`` use for ``%{ }%`` blocks).
The kernel copies ``min(len, sizeof(struct tcp_info))`` bytes, so an older
kernel returns a shorter struct: :func:`decode_tcp_info` only reports the
fields wholly inside the bytes it is given.

Units are the kernel's: times in microseconds (``tcpi_rto``, ``tcpi_ato``,
``tcpi_rtt``, ``tcpi_rttvar``, ``tcpi_min_rtt``...) except the ``tcpi_last_*``
fields and ``tcpi_total_rto_time`` (milliseconds); sizes in bytes; windows
in segments for ``tcpi_snd_cwnd`` and ``tcpi_snd_ssthresh``. ``tcpi_state``
uses Linux's TCP_* numbers (ESTABLISHED=1 ... LISTEN=10, CLOSING=11).
"""

from __future__ import annotations

import struct

__all__ = ["TCP_INFO", "TCP_INFO_BUFFER", "TCP_STATE_NAMES", "decode_tcp_info"]

TCP_INFO = 11
"""The ``IPPROTO_TCP`` socket option number of ``TCP_INFO`` on Linux."""

TCP_INFO_BUFFER = 512
"""Bytes asked for: more than any kernel's ``struct tcp_info`` so far."""

TCP_STATE_NAMES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
"""Linux's ``tcpi_state`` numbers (``include/net/tcp_states.h``)."""

# After the first 8 bytes (u8 fields and two bit-field bytes, decoded by hand),
# the fields in order with their struct format ("I" u32, "Q" u64, "H" u16).
_FIELDS: tuple[tuple[str, str], ...] = (
    ("tcpi_rto", "I"),
    ("tcpi_ato", "I"),
    ("tcpi_snd_mss", "I"),
    ("tcpi_rcv_mss", "I"),
    ("tcpi_unacked", "I"),
    ("tcpi_sacked", "I"),
    ("tcpi_lost", "I"),
    ("tcpi_retrans", "I"),
    ("tcpi_fackets", "I"),
    ("tcpi_last_data_sent", "I"),
    ("tcpi_last_ack_sent", "I"),
    ("tcpi_last_data_recv", "I"),
    ("tcpi_last_ack_recv", "I"),
    ("tcpi_pmtu", "I"),
    ("tcpi_rcv_ssthresh", "I"),
    ("tcpi_rtt", "I"),
    ("tcpi_rttvar", "I"),
    ("tcpi_snd_ssthresh", "I"),
    ("tcpi_snd_cwnd", "I"),
    ("tcpi_advmss", "I"),
    ("tcpi_reordering", "I"),
    ("tcpi_rcv_rtt", "I"),
    ("tcpi_rcv_space", "I"),
    ("tcpi_total_retrans", "I"),
    ("tcpi_pacing_rate", "Q"),
    ("tcpi_max_pacing_rate", "Q"),
    ("tcpi_bytes_acked", "Q"),
    ("tcpi_bytes_received", "Q"),
    ("tcpi_segs_out", "I"),
    ("tcpi_segs_in", "I"),
    ("tcpi_notsent_bytes", "I"),
    ("tcpi_min_rtt", "I"),
    ("tcpi_data_segs_in", "I"),
    ("tcpi_data_segs_out", "I"),
    ("tcpi_delivery_rate", "Q"),
    ("tcpi_busy_time", "Q"),
    ("tcpi_rwnd_limited", "Q"),
    ("tcpi_sndbuf_limited", "Q"),
    ("tcpi_delivered", "I"),
    ("tcpi_delivered_ce", "I"),
    ("tcpi_bytes_sent", "Q"),
    ("tcpi_bytes_retrans", "Q"),
    ("tcpi_dsack_dups", "I"),
    ("tcpi_reord_seen", "I"),
    ("tcpi_rcv_ooopack", "I"),
    ("tcpi_snd_wnd", "I"),
    ("tcpi_rcv_wnd", "I"),
    ("tcpi_rehash", "I"),
    ("tcpi_total_rto", "H"),
    ("tcpi_total_rto_recoveries", "H"),
    ("tcpi_total_rto_time", "I"),
    ("tcpi_received_ce", "I"),
    ("tcpi_delivered_e1_bytes", "I"),
    ("tcpi_delivered_e0_bytes", "I"),
    ("tcpi_delivered_ce_bytes", "I"),
    ("tcpi_received_e1_bytes", "I"),
    ("tcpi_received_e0_bytes", "I"),
    ("tcpi_received_ce_bytes", "I"),
    ("_ecn_bits", "I"),
)


def decode_tcp_info(raw: bytes) -> dict[str, int]:
    """Decode the bytes ``getsockopt(TCP_INFO)`` returned into ``{"tcpi_state": 1, ...}``.

    Natural alignment applies as in C (a u64 starts at a multiple of 8), the
    byte order is the host's. Bit-fields: ``tcpi_snd_wscale`` is the low and
    ``tcpi_rcv_wscale`` the high nibble of byte 6; byte 7 holds
    ``tcpi_delivery_rate_app_limited`` (bit 0) and ``tcpi_fastopen_client_fail``
    (bits 1-2); the last u32 ``tcpi_ecn_mode`` (bits 0-1),
    ``tcpi_accecn_opt_seen`` (2-3), ``tcpi_accecn_fail_mode`` (4-7) and
    ``tcpi_options2`` (8-31).

    Raises:
        ValueError: fewer than the 8 bytes every kernel returns.
    """
    if len(raw) < 8:
        raise ValueError(f"tcp_info too short: {len(raw)} bytes")
    info = {
        "tcpi_state": raw[0],
        "tcpi_ca_state": raw[1],
        "tcpi_retransmits": raw[2],
        "tcpi_probes": raw[3],
        "tcpi_backoff": raw[4],
        "tcpi_options": raw[5],
        "tcpi_snd_wscale": raw[6] & 0x0F,
        "tcpi_rcv_wscale": raw[6] >> 4,
        "tcpi_delivery_rate_app_limited": raw[7] & 1,
        "tcpi_fastopen_client_fail": (raw[7] >> 1) & 3,
    }
    offset = 8
    for name, fmt in _FIELDS:
        size = struct.calcsize(fmt)
        offset = (offset + size - 1) // size * size  # C alignment
        if offset + size > len(raw):
            break
        (value,) = struct.unpack_from("=" + fmt, raw, offset)
        offset += size
        if name == "_ecn_bits":
            info["tcpi_ecn_mode"] = value & 3
            info["tcpi_accecn_opt_seen"] = (value >> 2) & 3
            info["tcpi_accecn_fail_mode"] = (value >> 4) & 0xF
            info["tcpi_options2"] = value >> 8
        else:
            info[name] = value
    return info
