"""Connection configuration: one frozen dataclass, every field with its unit and source."""

from __future__ import annotations

from dataclasses import dataclass, fields

SYN_OPTION_LAYOUTS = ("linux", "freebsd")
"""The values of :attr:`TcpConfig.syn_option_layout`."""

SYNCOOKIE_MODES = ("off", "on-overflow", "always")
"""The values of :attr:`TcpConfig.syncookies`."""


@dataclass(frozen=True)
class TcpConfig:
    """Tunable parameters of a TCP connection.

    All times are seconds, all sizes bytes. Defaults follow the RFCs; the
    comment of each field names the rule. Invalid values raise ``ValueError``
    at construction.
    """

    mss: int = 1460
    """MSS we advertise on our SYN: MTU 1500 - 40 (MUST-14, MUST-67, §3.7.1)."""

    default_peer_mss: int = 536
    """Send MSS assumed when the peer's SYN has no MSS option (MUST-15, IPv4)."""

    min_peer_mss: int = 64
    """Smallest peer MSS we accept; smaller advertisements are clamped up to it
    so a hostile MSS of 0 or 1 cannot make us loop (Linux: TCP_MIN_SND_MSS 48)."""

    recv_buffer: int = 65535
    """Receive buffer: the largest window we offer (RCV.WND, §3.8.6). Above
    65535 bytes only with window scaling (RFC 7323 §2), at most 2**30."""

    recv_buffer_max: int | None = None
    """Largest receive buffer the connection may grow to (Linux ``tcp_rmem[2]``),
    bytes: the window scale offered on the SYN is the smallest that lets it be
    advertised in 16 bits (RFC 7323 §2.3; Linux tcp_select_initial_window).
    None: ``recv_buffer``. At most 2**30."""

    window_scaling: bool = True
    """Offer/accept the window scale option (RFC 7323 §2)."""

    timestamps: bool = True
    """Offer/accept the timestamps option: RTT measurement and PAWS (RFC 7323 §3-5)."""

    sack: bool = True
    """Offer/accept SACK-permitted; send SACK blocks and use them for recovery
    (RFC 2018, RFC 6675)."""

    syn_option_layout: str = "linux"
    """Order of the options on our SYN and SYN,ACK: ``"linux"`` (MSS, SACK-permitted,
    timestamps, NOP, window scale; NOPs keep each aligned) or ``"freebsd"`` (MSS,
    NOP, window scale, SACK-permitted, timestamps, EOL padding at the end), as
    FreeBSD's tcp_addoptions writes them. Any order is valid (RFC 9293 §3.2); the
    choice matters to packet scripts that compare options byte for byte."""

    send_buffer: int = 262144
    """Send buffer: bytes ``send()`` accepts beyond what is acknowledged."""

    msl: float = 120.0
    """Maximum segment lifetime; TIME-WAIT lasts 2 * msl (MUST-13, §3.4.2)."""

    rto_initial: float = 1.0
    """RTO before any RTT sample (RFC 6298 §2.1)."""

    rto_min: float = 1.0
    """Lower bound of the RTO (RFC 6298 §2.4)."""

    rto_min_on_variance: bool = False
    """If True, ``rto_min`` bounds the variance term instead of the RTO: RTO =
    SRTT + max(4 * RTTVAR, rto_min), as Linux's tcp_set_rto (an RTT of 100 ms
    gives 300 ms). False: RFC 6298 §2.4, RTO = max(rto_min, SRTT + 4 * RTTVAR)."""

    rto_max: float = 60.0
    """Upper bound of the RTO, also of its backoff (RFC 6298 §2.5)."""

    rto_syn_after_retry: float = 3.0
    """RTO once the handshake completes if a SYN had to be retransmitted (RFC 6298 §5.7)."""

    r1: int = 3
    """Retransmissions of one segment before a :class:`~tcpstack.events.SoftError` (SHLD-10)."""

    r2: float | None = 100.0
    """Seconds of retransmitting data/FIN before giving up (SHLD-11, MUST-20);
    ``None`` means never give up (MUST-21)."""

    r2_syn: float | None = 180.0
    """Seconds of retransmitting a SYN or SYN-ACK before giving up (MUST-23: >= 3 min)."""

    user_timeout: float | None = None
    """The user timeout of RFC 5482 (``TCP_USER_TIMEOUT``), seconds: when set it
    replaces ``r2`` and ``r2_syn`` and is a deadline, not a threshold checked at
    the next retransmission: the connection is given up as soon as sent data (or
    SYN, FIN) has gone unacknowledged this long, the RTO being cut short to it
    (RFC 5482 §3; Linux tcp_clamp_rto_to_user_timeout). None: R1/R2 apply."""

    delayed_ack: float = 0.2
    """Delay of a delayed ACK; 0 disables delaying (MUST-40: < 0.5 s, SHLD-18)."""

    cork: bool = False
    """Hold a partial segment at the tail of the queue until more data fills it,
    the application uncorks, or the persist timer's override fires (Linux
    TCP_CORK and MSG_MORE). False: Nagle's rule alone decides (SHLD-7)."""

    quick_acks: int = 0
    """Data segments acknowledged at once (not delayed) at the start of a
    connection and after an idle period longer than the RTO, unless the
    exchange is interactive: Linux's quick-ACK mode (up to 16). 0: every ACK
    may be delayed (RFC 9293 §3.8.6.3, SHLD-18)."""

    nagle: bool = True
    """Nagle's algorithm (SHLD-7); switch off per connection for no-delay (MUST-17)."""

    nagle_minshall: bool = False
    """Minshall's variant of Nagle's algorithm (draft-minshall-nagle; Linux): a
    partial segment waits only while an earlier partial segment is
    unacknowledged, not while any data is (RFC 1122 §4.2.3.4 otherwise)."""

    rfc1337: bool = True
    """If True (the default), TIME-WAIT ignores a RST (RFC 1337 §3, fix F1
    against TIME-WAIT assassination: hazards H1-H3), counted as
    ``rfc1337_rst_ignored``; if False, a RST at RCV.NXT closes TIME-WAIT as
    RFC 9293 §3.10.7.4 says (Linux ``tcp_rfc1337``, whose default is 0). A RST
    in the window but not at RCV.NXT draws a challenge ACK either way (RFC 5961 §3.2)."""

    challenge_ack_limit: int = 10
    """Challenge ACKs sent per second per connection at most (RFC 5961 §7)."""

    invalid_ack_ratelimit: float = 0.5
    """Seconds between two ACKs answering invalid segments that carry no data or
    FIN (out of window, PAWS, an ACK of unsent or ancient data), per connection;
    0 answers every one. Bounds ACK loops between TCBs that disagree and the
    replies spoofed segments can draw (RFC 5961 §10; Linux tcp_invalid_ratelimit)."""

    fin_wait_2_timeout: float | None = 60.0
    """Seconds an orphaned connection (application closed) waits in FIN-WAIT-2
    for the peer's FIN; ``None`` waits forever (Linux tcp_fin_timeout)."""

    ttl: int = 64
    """IP TTL / hop limit of sent segments (MUST-49)."""

    tos: int = 0
    """The IPv4 TOS byte / IPv6 traffic class of sent segments, 0..255: the
    Diffserv field the application chose (MUST-48, SHLD-21/22, RFC 9293 §3.9.1.9),
    handed to IP unchanged; may change during the connection (``IP_TOS``)."""

    congestion_control: str = "newreno"
    """Congestion control algorithm by name (see :mod:`tcpstack.congestion`)."""

    dupthresh: int = 3
    """Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2, RFC 6675 DupThresh)."""

    initial_window: int | None = None
    """Initial congestion window in full segments (RFC 6928 allows 10, Linux's
    default); None: RFC 5681 §3.1's min(4*SMSS, max(2*SMSS, 4380 bytes))."""

    limited_transmit: bool = True
    """Send new data on the first two duplicate ACKs (RFC 3042)."""

    tail_loss_probe: bool = True
    """With SACK, probe with one segment 2 x SRTT after the last transmission
    instead of waiting for the RTO (RFC 8985 §7, as Linux does); False gives
    plain RFC 6298 timing."""

    slow_start_after_idle: bool = True
    """Restart from the initial window after an idle RTO (RFC 5681 §4.1); False
    keeps cwnd (Linux ``tcp_slow_start_after_idle=0``)."""

    tso: bool = False
    """Segmentation offload: one outgoing segment may carry up to
    :data:`~tcpstack.sender.TSO_MAX_BYTES` of data, a multiple of the segment
    size, bounded by cwnd and the peer's window, for a device that cuts it into
    MSS-sized packets (Linux TSO/GSO). Off: every segment is at most one MSS
    (RFC 9293 §3.7.1, MUST-16)."""

    keepalive: bool = False
    """Send keep-alive probes on an idle connection (MUST-24/25: off by default)."""

    keepalive_idle: float = 7200.0
    """Idle time before the first keep-alive probe (MUST-27/28: >= 2 h by default)."""

    keepalive_interval: float = 75.0
    """Time between unanswered keep-alive probes (Linux tcp_keepalive_intvl)."""

    keepalive_count: int = 9
    """Unanswered probes before the connection is declared dead (Linux
    tcp_keepalive_probes; one lost probe is never fatal, MUST-29)."""

    # --- SYN flood defence (RFC 4987): fields below, read from the listener's config
    # (the one given to Stack.listen, else the stack's) ---

    max_syn_backlog: int = 128
    """Half-open connections (SYN-RECEIVED) a listener holds at most, its SYN
    queue (Linux ``tcp_max_syn_backlog``, whose smallest default is 128; RFC 4987
    §3.1-3.2). A SYN that finds the queue full is answered with a SYN cookie
    (``syncookies``), or takes the place of the oldest entry whose SYN,ACK was
    already retransmitted, or is dropped; see docs/security.md. A listener's
    ``backlog`` bounds its accept queue separately."""

    synack_retries: int = 5
    """Retransmissions of a SYN,ACK before the half-open connection is dropped
    silently (Linux ``tcp_synack_retries``, default 5: with an initial RTO of
    1 s doubling, the last leaves after 31 s and the entry goes at 63 s). Read
    from the listener's configuration (the stack's when it has none)."""

    syncookies: str = "on-overflow"
    """SYN cookies (RFC 4987 §3.6; Linux ``tcp_syncookies``): ``"off"`` never,
    ``"on-overflow"`` when the listener's SYN queue is full (Linux 1), ``"always"``
    for every SYN, keeping no state until the final ACK (Linux 2)."""

    # --- Out-of-order queue and SACK scoreboard bounds ---

    ofo_max_ranges: int = 65536
    """Disjoint ranges the out-of-order queue holds at most, per connection
    (default 65536: every other byte of a 128 KiB window). A segment that
    would make one more prunes ranges from the top end first, an eighth of
    this at a time, or is dropped if it lies above them all (Linux
    ``tcp_prune_ofo_queue``, which Linux drives by memory, sysctl
    ``tcp_rmem``; FreeBSD counts segments, ``net.inet.tcp.reass.maxqueuelen``).
    The queue is also bounded by the receive window (RFC 9293 §3.10.7.4)."""

    sack_max_ranges: int = 65536
    """Disjoint SACKed ranges the sender's scoreboard keeps at most (RFC 6675),
    per connection (default 65536). At the limit, a SACK block that would add
    a range is ignored: its bytes count as not SACKed (a needless
    retransmission at worst). Bounds the memory a peer that SACKs thousands
    of tiny ranges can make us spend (cf. Linux's limit on splitting its
    retransmission queue for SACKs, CVE-2019-11478)."""

    # --- Liveness: zero-window probes, orphans, TIME-WAIT ---

    orphan_retries: int = 8
    """Retransmission timeouts of the same data, or zero-window probes, after
    which an orphaned connection (the application closed it:
    :attr:`~tcpstack.connection.Connection.orphaned`) is given up, counted as
    ``orphan_retries_exceeded``; R2 and the user timeout still apply if they run
    out first. An orphan's probes count whether the peer answers them or not: a
    peer that keeps advertising a zero window would otherwise hold the send
    buffer for ever. 0 gives up at the first timeout. Linux
    ``tcp_orphan_retries``, whose default 0 Linux reads as 8 while the RTO is
    below its maximum; no RST is sent, as Linux's tcp_write_err sends none."""

    # --- Host limits: connections, orphans, TIME-WAIT buckets (the stack's config) ---

    max_connections: int = 1 << 20
    """TCBs a stack holds at most, every state counted (TIME-WAIT too). At the
    limit a SYN is dropped (``dropped:max-connections``), the final ACK of a
    SYN cookie too, and ``Stack.connect`` raises ``LocalProtocolError``. Linux
    has no such knob (file descriptors and memory bound it); 1,048,576."""

    max_orphans: int = 65536
    """Orphaned connections (closed by the application, not yet in TIME-WAIT or
    CLOSED) a stack keeps at most; beyond it the oldest orphan is reset (RST,
    counted ``orphans_killed_limit``), as Linux ``tcp_max_orphans`` (default
    65536 on a machine with 4 GiB or more of memory)."""

    max_time_wait: int = 262144
    """TIME-WAIT TCBs a stack keeps at most; a connection that would be one more
    is closed at once instead of waiting 2 MSL (counted ``time_wait_overflow``),
    as Linux ``tcp_max_tw_buckets`` (default 262144)."""

    # --- Congestion control: pacing and cwnd validation (see docs/congestion.md) ---

    cwnd_validation: bool = False
    """RFC 7661 congestion window validation: a cwnd the application leaves
    unused is kept for the non-validated period (five minutes) instead of the
    RFC 5681 §4.1 restart after idle, does not grow meanwhile, and is halved
    when that period runs out; a loss in it reduces to what was in use. Off by
    default (Linux has no sysctl for it; its closest, net.ipv4.
    tcp_slow_start_after_idle, is ``slow_start_after_idle``)."""

    # --- ECN (RFC 3168) ---

    ecn: str | bool = "off"
    """Explicit Congestion Notification (RFC 3168), as Linux ``net.ipv4.tcp_ecn``:
    ``"off"`` (0) neither asks nor accepts; ``"on"`` (1) asks on our SYN (ECE
    and CWR set, §6.1.1) and accepts a peer's ECN-setup SYN; ``"passive"`` (2,
    Linux's default and :meth:`linux`'s) accepts but does not ask. ``True`` and
    ``False`` are taken as ``"on"`` and ``"off"`` (the field then reads as the
    string). Once both SYNs agreed, data segments carry ECT(0) and the
    connection answers CE marks (see ``docs/congestion.md``, "ECN"). Default
    ``"off"``: the RFC 9293 behaviour, segments byte-identical to a stack
    without ECN."""

    ecn_fallback: bool = True
    """If True (the default), a retransmitted SYN is sent without ECE and CWR,
    in case a middlebox drops ECN-setup SYNs (RFC 3168 §6.1.1.1; Linux
    ``net.ipv4.tcp_ecn_fallback``, default 1); ECN is then not used on that
    connection, as a host that sent a non-ECN-setup SYN must not set ECT
    (§6.1.1). If False, every SYN retry asks for ECN again."""


    @classmethod
    def linux(cls, **overrides: object) -> TcpConfig:
        """Timer values closer to Linux: RTO bounds 200 ms / 120 s, 40 ms delayed ACK,
        Minshall's Nagle, a RST that ends TIME-WAIT (Linux's default
        ``tcp_rfc1337=0``: ``rfc1337=False``), and ECN accepted when the peer
        asks (``tcp_ecn=2``: ``ecn="passive"``).

        Any field can still be overridden by keyword.
        """
        values: dict[str, object] = {"rto_min": 0.2, "rto_max": 120.0, "delayed_ack": 0.04,
                                     "nagle_minshall": True, "rfc1337": False,
                                     "ecn": "passive"}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def profile(cls, name: str, **overrides: object) -> TcpConfig:
        """A named set of defaults: ``"rfc"`` (the RFC values) or ``"linux"``.

        Raises:
            ValueError: unknown profile name.
        """
        if name == "rfc":
            return cls(**overrides)  # type: ignore[arg-type]
        if name == "linux":
            return cls.linux(**overrides)
        raise ValueError(f"unknown profile {name!r}; known: rfc, linux")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float) and value < 0:
                raise ValueError(f"TcpConfig.{f.name} must be >= 0, got {value!r}")
        if not 1 <= self.mss <= 65495:
            raise ValueError(f"TcpConfig.mss must be in 1..65495, got {self.mss}")
        limit = 1 << 30 if self.window_scaling else 65535
        if not 0 < self.recv_buffer <= limit:
            raise ValueError(
                f"TcpConfig.recv_buffer must be in 1..{limit}"
                f"{'' if self.window_scaling else ' without window scaling'}, "
                f"got {self.recv_buffer}"
            )
        if self.recv_buffer_max is not None and not 0 < self.recv_buffer_max <= 1 << 30:
            raise ValueError(
                f"TcpConfig.recv_buffer_max must be in 1..{1 << 30}, got {self.recv_buffer_max}"
            )
        if self.send_buffer < 1:
            raise ValueError("TcpConfig.send_buffer must be >= 1")
        if self.syn_option_layout not in SYN_OPTION_LAYOUTS:
            raise ValueError(f"TcpConfig.syn_option_layout must be one of "
                             f"{', '.join(SYN_OPTION_LAYOUTS)}, got {self.syn_option_layout!r}")
        if not 0 <= self.delayed_ack < 0.5:
            raise ValueError("TcpConfig.delayed_ack must be in [0, 0.5) s (MUST-40)")
        if self.rto_min > self.rto_max:
            raise ValueError("TcpConfig.rto_min must not exceed rto_max")
        if not 1 <= self.ttl <= 255:
            raise ValueError("TcpConfig.ttl must be in 1..255")
        if not 0 <= self.tos <= 255:
            raise ValueError("TcpConfig.tos must be in 0..255")
        if self.initial_window is not None and not 1 <= self.initial_window <= 64:
            raise ValueError("TcpConfig.initial_window must be in 1..64 segments")
        if self.dupthresh < 1 or self.keepalive_count < 1:
            raise ValueError("TcpConfig.dupthresh and keepalive_count must be >= 1")
        if self.keepalive_idle <= 0 or self.keepalive_interval <= 0:
            raise ValueError("TcpConfig keep-alive times must be > 0")
        # --- checks: SYN flood defence ---
        if self.max_syn_backlog < 1:
            raise ValueError("TcpConfig.max_syn_backlog must be >= 1")
        if self.syncookies not in SYNCOOKIE_MODES:
            raise ValueError(f"TcpConfig.syncookies must be one of "
                             f"{', '.join(SYNCOOKIE_MODES)}, got {self.syncookies!r}")

        # --- checks: out-of-order queue ---
        if self.ofo_max_ranges < 1 or self.sack_max_ranges < 1:
            raise ValueError("TcpConfig.ofo_max_ranges and sack_max_ranges must be >= 1, got "
                             f"{self.ofo_max_ranges} and {self.sack_max_ranges}")

        # --- checks: liveness ---
        if isinstance(self.orphan_retries, bool) or not isinstance(self.orphan_retries, int):
            raise ValueError(f"TcpConfig.orphan_retries must be a whole number >= 0, "
                             f"got {self.orphan_retries!r}")

        # --- checks: host limits ---
        if self.max_connections < 1:
            raise ValueError("TcpConfig.max_connections must be >= 1")

        # --- checks: congestion control: pacing and cwnd validation ---

        # --- checks: ECN ---
        from .ecn import ECN_MODES  # late: tcpstack.ecn stays free of the config
        if isinstance(self.ecn, bool):  # the switch as a bool: on / off
            object.__setattr__(self, "ecn", "on" if self.ecn else "off")
        if self.ecn not in ECN_MODES:
            raise ValueError(f"TcpConfig.ecn must be one of {', '.join(ECN_MODES)}, "
                             f"got {self.ecn!r}")

        from .congestion import ALGORITHMS  # a cycle-free late import

        if self.congestion_control not in ALGORITHMS:
            raise ValueError(
                f"unknown congestion control {self.congestion_control!r}; "
                f"known: {', '.join(ALGORITHMS)}"
            )
