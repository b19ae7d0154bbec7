"""The tcpstack drill target: the sans-I/O :class:`~tcpstack.stack.Stack` in virtual time.

The stack lives at :data:`~tcpstack.harness.drill.target.LOCAL_ADDRESS`. Injected
packets go to :meth:`Stack.receive`; what it sends is collected after every
step with its virtual send time. :meth:`TcpstackTarget.wait_until` jumps the
clock, firing the stack's timers in order on the way.

System calls are emulated with a small file-descriptor table on top of the
stack and connection API, with Linux's blocking rules and errnos:

=============  ==============================================================
socket         a new fd (the lowest free, from 3); ``SOCK_NONBLOCK`` honoured
bind           the socket will use port 8080 (:data:`LOCAL_PORT`)
listen         :meth:`Stack.listen`, backlog + 1 connections (as Linux)
accept         the next queued connection; blocks, or ``EAGAIN`` if non-blocking
connect        :meth:`Stack.connect` to the peer at 198.51.100.2:8080; blocks until
               ESTABLISHED (or ``ECONNREFUSED``/``ETIMEDOUT``), or returns
               ``EINPROGRESS`` on a non-blocking socket (then ``SO_ERROR``)
read, write    :meth:`Connection.read`/:meth:`Connection.send` (``write`` sends
               zero bytes); ``ECONNRESET`` once after a reset then 0 / ``EPIPE``;
               ``EPIPE`` after ``shutdown(SHUT_WR)``; ``ENOTCONN``; ``EAGAIN``
close          :meth:`Connection.close`; with ``SO_LINGER {onoff=1, linger=0}``
               :meth:`Connection.abort` (RST)
shutdown       ``SHUT_WR`` is :meth:`Connection.shutdown`; ``SHUT_RD`` makes reads
               return 0
setsockopt     ``TCP_NODELAY`` -> ``nagle``; ``SO_KEEPALIVE``, ``TCP_KEEPIDLE``,
               ``TCP_KEEPINTVL``, ``TCP_KEEPCNT`` -> the keep-alive fields;
               ``TCP_USER_TIMEOUT`` (ms) -> ``user_timeout`` (s); ``SO_RCVBUF``/``SO_SNDBUF``
               -> ``recv_buffer``/``send_buffer`` of new connections (getsockopt
               reports twice the value, as Linux); ``SO_LINGER``; ``SO_REUSEADDR``
getsockopt     the values above, ``SO_ERROR`` (pending error, then 0)
fcntl          ``F_GETFL`` / ``F_SETFL`` with ``O_NONBLOCK``
poll           Linux's ``tcp_poll`` mask; blocks up to the timeout (ms)
recvmsg        with ``TCP_INQ`` set and room in ``msg_control``: a ``TCP_CM_INQ``
               control message, the bytes left to read (+1 once the peer's FIN
               came, as Linux's ``tcp_inq_hint``)
open           a real file, read-only (``O_RDONLY``); ``sendfile`` writes its
               bytes from the offset given to the socket
pipe           an emulated pipe (64 KiB); ``splice`` moves bytes between it and a
               socket; ``read``/``write`` work on its ends
=============  ==============================================================

A call that blocks waits in virtual time until it can complete. A blocking
call written without ``...`` that can never complete (no timer pending, so
nothing can change without the script's next packet) raises
:class:`~tcpstack.harness.drill.model.DrillError`, which the runner reports on that line.
"""

from __future__ import annotations

import errno
import os
import random
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .... import events as ev
from ....config import TcpConfig
from ....congestion import ALGORITHMS
from ....connection import Connection
from ....errors import LocalProtocolError, TcpStackError
from ....seq import seq_add, seq_diff, seq_gt
from ....stack import Stack
from ....state import State
from ....tcpinfo import tcp_info
from ....wire import Flags, Segment, decode_packet, encode_packet
from ..args import EE_FIELDS, Cmsg, cmsgs_arg, iovecs_arg, msghdr_arg, pipe_arg
from ..features import require_features
from ..model import DrillError, Script, Syscall
from ..parse import ERRNOS, SYMBOLS, int_arg, list_arg, pollfds_arg, struct_arg
from ..sysctl import ShellReader, Sysctls
from ..target import (
    LOCAL_ADDRESS,
    LOCAL_ADDRESS6,
    LOCAL_PORT,
    REMOTE_ADDRESS,
    REMOTE_ADDRESS6,
    ShellResult,
    SyscallResult,
)

__all__ = ["TcpstackTarget"]

BLOCK_LIMIT = 3600.0
"""Longest a blocking call may wait in virtual time (seconds) before it is an error."""

_LOOP_LIMIT = 100_000
_O_NONBLOCK = SYMBOLS["O_NONBLOCK"]
_POLL = {
    name: SYMBOLS[name]
    for name in (
        "POLLIN",
        "POLLOUT",
        "POLLERR",
        "POLLHUP",
        "POLLNVAL",
        "POLLRDNORM",
        "POLLWRNORM",
        "POLLRDHUP",
    )
}
LINUX_QUICK_ACKS = 16
"""Linux's TCP_MAX_QUICKACKS."""
LINUX_INITIAL_WINDOW = 10
"""Segments in Linux's initial congestion window (TCP_INIT_CWND, RFC 6928)."""
_LINUX_BUF_MAX = 212992
"""Linux's default net.core.wmem_max and rmem_max, bytes."""
_ACCEPTED_OPTIONS = ("SO_REUSEADDR", "SO_ZEROCOPY", "TCP_INQ", "IP_FREEBIND")
"""Options that change nothing in virtual time but are remembered for getsockopt."""
_SCM_TSTAMP_ACK = SYMBOLS["SCM_TSTAMP_ACK"]
_TX_STAMP_ORDER = ((SYMBOLS["SOF_TIMESTAMPING_TX_SCHED"], SYMBOLS["SCM_TSTAMP_SCHED"]),
                   (SYMBOLS["SOF_TIMESTAMPING_TX_SOFTWARE"], SYMBOLS["SCM_TSTAMP_SND"]),
                   (SYMBOLS["SOF_TIMESTAMPING_TX_ACK"], _SCM_TSTAMP_ACK))
"""SO_TIMESTAMPING's transmit stamps in the order a byte earns them: queued, sent, acked."""
_TX_STAMPS = sum(bit for bit, _ in _TX_STAMP_ORDER)
_CLOSING = (State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSING, State.LAST_ACK, State.TIME_WAIT)


@dataclass
class _Ret:
    value: int
    errno: str | None = None
    outputs: dict[str, int] = field(default_factory=dict)


def _err(name: str) -> _Ret:
    return _Ret(-1, name)


_Op = Generator[float | None, None, _Ret]
"""A blocking call: yields the time it wants to be woken at (None: on any change)."""


@dataclass
class _Status:
    """What the events told us about one connection."""

    established: bool = False
    closed: bool = False
    err: str | None = None  # Linux sk_err: reported once by the next call
    state_before_close: State | None = None


@dataclass
class _Counters:
    """Traffic of one connection as a device sees it (tcpi_segs_out, ...)."""

    segs_out: int = 0
    data_segs_out: int = 0
    bytes_sent: int = 0
    bytes_retrans: int = 0
    total_retrans: int = 0
    segs_in: int = 0
    data_segs_in: int = 0
    snd_high: int | None = None  # highest sequence number sent + 1
    largest_in: int = 0  # the largest payload received, bytes
    last_recv_at: float | None = None  # Linux icsk_ack.lrcvtime: establishment, data

    def on_inbound(self, seg: Segment, now: float) -> None:
        """Count a segment from the peer."""
        self.segs_in += 1
        if seg.payload:
            self.data_segs_in += 1
            self.largest_in = max(self.largest_in, len(seg.payload))
            self.last_recv_at = now
        elif self.last_recv_at is None and seg.flags & Flags.ACK:
            self.last_recv_at = now  # the SYN-ACK, or the ACK that completes a passive open

    def info(self, now: float, advmss: int) -> dict[str, int]:
        """The counters' ``tcpi_*`` fields at target time ``now`` (seconds), with
        ``tcpi_rcv_mss`` as Linux estimates it (``tcp_measure_rcv_mss``: the largest
        segment received, at most our MSS; 536 before any) and ``tcpi_last_data_recv``
        in milliseconds."""
        info = {
            "tcpi_rcv_mss": min(self.largest_in, advmss) if self.largest_in else min(advmss, 536),
        }
        if self.last_recv_at is not None:
            info["tcpi_last_data_recv"] = round((now - self.last_recv_at) * 1000)
        return info | {
            "tcpi_segs_out": self.segs_out,
            "tcpi_data_segs_out": self.data_segs_out,
            "tcpi_bytes_sent": self.bytes_sent,
            "tcpi_bytes_retrans": self.bytes_retrans,
            "tcpi_total_retrans": self.total_retrans,
            "tcpi_segs_in": self.segs_in,
            "tcpi_data_segs_in": self.data_segs_in,
        }


@dataclass
class _Epoll:
    """An epoll instance: watched fd -> [events, mask last reported (for EPOLLET),
    the event's data (its ``fd=``/``u64=``/``u32=``/``ptr=`` field)]."""

    fd: int
    watched: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class _Sock:
    fd: int
    nonblocking: bool = False
    family: int = 2  # AF_INET; AF_INET6 is 10
    config: TcpConfig | None = None  # sysctl defaults when socket() ran, active side
    passive_config: TcpConfig | None = None  # ... for a listener (tcp_synack_retries)
    congestion: str | None = None  # TCP_CONGESTION
    port: int | None = None
    listening: bool = False
    conn: Connection | None = None
    opts: dict[str, int] = field(default_factory=dict)
    linger: tuple[int, int] | None = None
    shut_rd: bool = False
    shut_wr: bool = False
    connecting: bool = False  # a non-blocking connect() not yet reported done (SS_CONNECTING)
    more: bool = False  # corked by a MSG_MORE call, until the next ACK or write
    tstamping: int = 0  # SO_TIMESTAMPING flags (SOF_TIMESTAMPING_*)
    tskey_base: int = 0  # SND.UNA when SOF_TIMESTAMPING_OPT_ID was set: keys count from it
    # Writes still to be stamped: (sequence number after the write's last byte,
    # its key, stamps still due: SCHED/SND when sent, ACK when acknowledged).
    tx_pending: list[tuple[int, int, list[int]]] = field(default_factory=list)
    errqueue: deque[tuple[int, int, float]] = field(default_factory=deque)  # (info, key, time)


@dataclass
class _Pipe:
    """A pipe's buffer: bytes in it (its content is zeros, as every payload here)."""

    buffered: int = 0


PIPE_CAPACITY = 65536
"""Bytes a pipe holds (Linux: 16 pages)."""


@dataclass
class _File:
    """A non-socket fd: a file opened read-only (``path``) or a pipe end (``pipe``)."""

    fd: int
    path: str | None = None
    pipe: _Pipe | None = None
    write_end: bool = False


class _Pending:
    """A call in progress (:class:`~tcpstack.harness.drill.target.PendingCall`)."""

    def __init__(self, call: Syscall, op: _Op) -> None:
        self.call = call
        self.op = op
        self.wake: float | None = None
        self.outcome: SyscallResult | None = None

    def result(self) -> SyscallResult | None:
        return self.outcome


class TcpstackTarget:
    """tcpstack as a drill target, in virtual time.

    Args:
        config: configuration of the stack's connections; default
            :meth:`TcpConfig.linux` (Linux's RTO bounds and delayed-ACK time,
            so that scripts written against Linux timing apply), with Linux's
            initial window of 10 segments from :meth:`prepare` on.
        seed: seeds the stack's randomness (ISN key, ephemeral ports).
        tso: segmentation offload on or off for every script; None: as
            :meth:`prepare` decides from the script.
    """

    FEATURES: frozenset[str] = frozenset({"sendfile", "splice", "FreeBSD sysctls",
                                           "transmit timestamps"})
    """The optional features (:mod:`~tcpstack.harness.drill.features`) this target runs;
    a script using any other is reported as unsupported on tcpstack."""

    name = "tcpstack"

    def __init__(
        self, config: TcpConfig | None = None, *, seed: int = 0, tso: bool | None = None
    ) -> None:
        self.config = config or TcpConfig.linux()
        self._default_config = config is None
        self.seed = seed
        self.tso = tso
        self.local_address = LOCAL_ADDRESS
        self.remote_address = REMOTE_ADDRESS
        self.stack = self._new_stack()
        self.sysctls = Sysctls()
        self._reader = ShellReader(self.sysctls, self.config)
        self.script: Script | None = None
        self._gro_mss: int | None = None
        self._counters: dict[tuple[int, int], _Counters] = {}
        self._epolls: dict[int, _Epoll] = {}
        self._files: dict[int, _File] = {}
        self._now = 0.0
        self._out: deque[tuple[float, bytes]] = deque()
        self._socks: dict[int, _Sock] = {}
        self._status: dict[Connection, _Status] = {}
        self._pending: list[_Pending] = []
        self._pumping = False

    # ------------------------------------------------------------------
    # Target protocol
    # ------------------------------------------------------------------

    def _new_stack(self) -> Stack:
        return Stack(
            self.local_address, config=self.config, name="tcpstack",
            rng=random.Random(self.seed),
        )

    def prepare(self, script: Script) -> None:
        """Take the script's options (see ``Target.prepare``).

        * ``ip_version``: ``ipv4`` (default) and ``ipv4-mapped-ipv6`` put the
          stack at :data:`LOCAL_ADDRESS` (AF_INET6 sockets then carry IPv4, as
          on Linux); ``ipv6`` puts it at ``2001:db8::1``, the peer at
          ``2001:db8:1::2``.
        * ``mss``: as packetdrill's ``--mss``, the segment size its TUN device
          cuts an inbound packet larger than that into (``gso_size``): such a
          packet reaches the stack as that many back-to-back segments. It does
          not change the MSS the stack advertises.
        * Without a configuration given to the constructor: Linux's initial
          window of 10 segments, and for a packetdrill-environment script (one
          that runs shell commands) Linux's quick-ACK mode
          (``TcpConfig.quick_acks``); drill's own scripts keep the RFC's
          delayed ACKs.
        * ``tso``: ``1`` switches segmentation offload on (as packetdrill's TUN
          device has TSO/GSO), ``0`` off. Without the option (and without a
          ``tso`` given to the constructor) offload is on for a script that
          runs shell commands, i.e. one written for packetdrill's environment
          (`` `../common/defaults.sh` ``), and off for drill's own scripts,
          which expect MSS-sized segments.

        Raises:
            DrillError: an unknown ``ip_version`` or a bad ``mss``/``tso``.
            DrillUnsupported: the script uses a feature of
                :mod:`~tcpstack.harness.drill.features` not in :attr:`FEATURES`.
        """
        require_features(script, self.FEATURES, self.name)
        self.script = script
        options = script.options
        version = options.get("ip_version", "ipv4")
        if version not in ("ipv4", "ipv6", "ipv4-mapped-ipv6"):
            raise DrillError(f"{self.name} target: unknown --ip_version={version}")
        if version == "ipv6":
            self.local_address, self.remote_address = LOCAL_ADDRESS6, REMOTE_ADDRESS6
        else:
            self.local_address, self.remote_address = LOCAL_ADDRESS, REMOTE_ADDRESS
        # A script that runs shell commands was written for packetdrill's
        # environment: a Linux kernel behind a TUN device with offload.
        packetdrill_env = script.packetdrill_environment
        if self._default_config and self.config.initial_window is None:
            # Linux's initial window: 10 segments (RFC 6928), which packetdrill's
            # scripts assume ("Assumes initial cwnd > 3 (e.g. IW=10)"), and, for
            # packetdrill's scripts, its quick-ACK mode at the start of a connection.
            quick = LINUX_QUICK_ACKS if packetdrill_env else 0
            # No tail loss probes unless the script's sysctls ask for them
            # (tcp_early_retrans, as defaults.sh does), as in the Linux target's
            # namespace: the RTO as in RFC 6298.
            self.config = replace(self.config, initial_window=LINUX_INITIAL_WINDOW,
                                  quick_acks=quick, rto_min_on_variance=packetdrill_env,
                                  tail_loss_probe=False)
            self._reader = ShellReader(self.sysctls, self.config)
        tso = self.tso
        if "tso" in options:
            if options["tso"] not in ("0", "1"):
                raise DrillError(f"{self.name} target: --tso must be 0 or 1")
            tso = options["tso"] == "1"
        if tso is None:
            tso = packetdrill_env
        if tso != self.config.tso:
            self.config = replace(self.config, tso=tso)
            self._reader = ShellReader(self.sysctls, self.config)
        if "mss" in options:
            try:
                self._gro_mss = int(options["mss"], 0)
            except ValueError:
                self._gro_mss = 0
            if self._gro_mss <= 0:
                raise DrillError(f"{self.name} target: bad --mss={options['mss']}")
        if self.stack.address.compressed != self.local_address or self.stack.connections:
            self.stack = self._new_stack()

    def shell(self, command: str, cwd: str) -> ShellResult:
        """Read the sysctl settings ``command`` makes (see :mod:`..sysctl`); run nothing.

        Settings apply to sockets created afterwards (as Linux's do to new
        sockets). A setting without a tcpstack equivalent is reported once, as
        ``ignored: NAME (why)`` in the output (and in :attr:`ignored_settings`);
        a command that is not understood returns status 1 with
        ``tcpstack target does not run shell commands: <cmd>``.
        """
        outcome = self._reader.run(command, cwd)
        # A root qdisc that drops everything: the device refuses packets.
        self.stack.local_congestion = self.sysctls.refuses
        return ShellResult(outcome.status, outcome.output)

    @property
    def ignored_settings(self) -> list[str]:
        """Settings made by shell commands that tcpstack ignores: ``"NAME (why)"``."""
        return [f"{name} ({why})" for name, why in self.sysctls.ignored.items()]

    def tcp_info(self, fd: int) -> Mapping[str, int]:
        """``TCP_INFO`` of socket ``fd`` (see ``Target.tcp_info`` and :mod:`tcpstack.tcpinfo`).

        Raises:
            DrillError: ``fd`` is not an open socket.
        """
        sock = self._socks.get(fd)
        if sock is None:
            raise DrillError(f"{self.name} target: TCP_INFO: fd {fd} is not a socket")
        if sock.conn is None:
            state = 10 if sock.listening else 7  # TCP_LISTEN, TCP_CLOSE
            config = sock.config or self.config
            return {"tcpi_state": state, "tcpi_ca_state": 0,
                    "tcpi_rto": 0, "tcpi_ato": 0, "tcpi_snd_mss": config.default_peer_mss,
                    "tcpi_advmss": config.mss, "tcpi_reordering": config.dupthresh}
        conn = sock.conn
        info = tcp_info(conn)
        counters = self._counter(conn.local.port, conn.remote.port)
        info.update(counters.info(self._now, info["tcpi_advmss"]))
        return info

    def _counter(self, local_port: int, remote_port: int) -> _Counters:
        key = (local_port, remote_port)
        counters = self._counters.get(key)
        if counters is None:
            counters = self._counters[key] = _Counters()
        return counters

    def _count_out(self, packet: bytes) -> None:
        try:
            _, seg = decode_packet(packet)
        except TcpStackError:
            return
        counters = self._counter(seg.src_port, seg.dst_port)
        conn = self.stack.find(seg.src_port, self.remote_address, seg.dst_port)
        size = conn.snd_mss if conn is not None else 0
        pieces = -(-len(seg.payload) // size) if size and seg.payload else 1
        counters.segs_out += pieces
        if seg.payload:
            counters.data_segs_out += pieces
            end = (seg.seq + seg.seg_len) % (1 << 32)
            high = counters.snd_high
            if high is not None and seq_diff(high, seg.seq) > 0:
                counters.total_retrans += pieces
                counters.bytes_retrans += len(seg.payload)
            else:
                counters.bytes_sent += len(seg.payload)
            if high is None or seq_gt(end, high):
                counters.snd_high = end
        elif seg.flags & (Flags.SYN | Flags.FIN) and counters.snd_high is None:
            counters.snd_high = (seg.seq + seg.seg_len) % (1 << 32)

    def _split_gro(self, packet: bytes) -> list[bytes]:
        """An inbound packet larger than ``--mss`` as the segments of ``gso_size``."""
        mss = self._gro_mss
        if mss is None or len(packet) <= mss:
            return [packet]
        try:
            header, seg = decode_packet(packet)
        except TcpStackError:
            return [packet]
        payload = seg.payload
        if len(payload) <= mss:
            return [packet]
        parts = []
        for start in range(0, len(payload), mss):
            last = start + mss >= len(payload)
            flags = seg.flags if last else seg.flags & ~(Flags.FIN | Flags.PSH)
            piece = replace(seg, seq=(seg.seq + start) % (1 << 32), flags=flags,
                            payload=payload[start:start + mss])
            parts.append(encode_packet(header.src, header.dst, piece))
        return parts

    def start(self) -> None:
        """Nothing to set up: the stack exists from construction, at time 0."""

    def close(self) -> None:
        """Drop every pending call."""
        self._pending.clear()

    def now(self) -> float:
        return self._now

    def wait_until(self, t: float) -> None:
        self._advance(t)

    def inject(self, packet: bytes) -> None:
        for part in self._split_gro(packet):
            try:
                _, seg = decode_packet(part)
            except TcpStackError:
                pass
            else:
                self._counter(seg.dst_port, seg.src_port).on_inbound(seg, self._now)
                self._end_more(seg.dst_port, seg.src_port)
            self.stack.receive(part, self._now)
        self._pump()

    def _end_more(self, local_port: int, remote_port: int) -> None:
        """A segment from the peer ends a MSG_MORE call's cork: what it held then goes
        by Nagle's rule alone, as Linux's ACK-driven tcp_push_pending_frames (MSG_MORE
        corks only the call's own push)."""
        for sock in self._socks.values():
            conn = sock.conn
            if sock.more and conn is not None and conn.local.port == local_port \
                    and conn.remote.port == remote_port:
                sock.more = False
                if self._alive(conn):
                    conn.reconfigure(cork=False)

    def next_outbound(self, deadline: float) -> tuple[float, bytes] | None:
        for _ in range(_LOOP_LIMIT):
            if self._out:
                return self._out.popleft() if self._out[0][0] <= deadline else None
            wake = self._next_wake()
            if wake is None or wake > deadline:
                self._advance(deadline)
                if self._out and self._out[0][0] <= deadline:
                    return self._out.popleft()
                return None
            self._advance(wake)
        raise DrillError("tcpstack target: timers keep firing without time advancing")

    def syscall(self, call: Syscall) -> SyscallResult:
        pending = self._start(call)
        limit = self._now + BLOCK_LIMIT
        for _ in range(_LOOP_LIMIT):
            if pending.outcome is not None:
                return pending.outcome
            wake = self._next_wake()
            if wake is None:
                self._pending.remove(pending)
                raise DrillError(
                    f"{call.name}() blocks forever: nothing can happen in virtual time "
                    "before the script's next line (write it as a blocking call "
                    "'+0...T', or make it non-blocking)"
                )
            if wake > limit:
                self._pending.remove(pending)
                raise DrillError(f"{call.name}() still blocked after {BLOCK_LIMIT:g} s")
            self._advance(wake)
        raise DrillError(f"{call.name}(): timers keep firing without time advancing")

    def start_syscall(self, call: Syscall) -> _Pending:
        return self._start(call)

    # ------------------------------------------------------------------
    # Virtual time
    # ------------------------------------------------------------------

    def _next_wake(self) -> float | None:
        times = [
            t for t in (self.stack.next_timer(), *(p.wake for p in self._pending)) if t is not None
        ]
        return max(min(times), self._now) if times else None

    def _advance(self, t: float) -> None:
        """Fire every timer due up to ``t`` in order, then set the clock to ``t``."""
        for _ in range(_LOOP_LIMIT):
            wake = self._next_wake()
            if wake is None or wake > t:
                break
            self._now = max(self._now, wake)
            self.stack.handle_timer(self._now)
            self._pump(wake_due=True)
            if self._next_wake() == wake and wake == self._now:
                # Something is due now and did not go away: it would loop forever.
                raise DrillError(f"tcpstack target: a timer due at {wake:.6f} s keeps firing")
        if t > self._now:
            self._now = t
            self.stack.tick(t)
            self._pump()

    def _pump(self, *, wake_due: bool = False) -> None:
        """Collect output and events; let pending calls progress, until nothing changes."""
        if self._pumping:
            return
        self._pumping = True
        try:
            for _ in range(_LOOP_LIMIT):
                for packet in self.stack.packets_to_send(self._now):
                    self._out.append((self._now, packet))
                    self._count_out(packet)
                while (item := self.stack.next_event()) is not None:
                    self._on_event(*item)
                self._stamp_transmits()
                if not self._step_pending():
                    return
        finally:
            self._pumping = False

    def _step_pending(self) -> bool:
        """Run every pending call one step; True if one of them completed."""
        done = False
        for pending in list(self._pending):
            self._step(pending)
            if pending.outcome is not None:
                self._pending.remove(pending)
                done = True
        return done

    def _step(self, pending: _Pending) -> None:
        try:
            pending.wake = next(pending.op)
        except StopIteration as stop:
            ret: _Ret = stop.value
            pending.outcome = SyscallResult(ret.value, ret.errno, self._now, ret.outputs)

    def _start(self, call: Syscall) -> _Pending:
        handler: Callable[[Syscall], _Ret | _Op] | None = getattr(self, f"_sys_{call.name}", None)
        if handler is None:
            raise DrillError(f"tcpstack target: {call.name}() is not supported")
        try:
            op = handler(call)
        except (ValueError, IndexError) as exc:
            raise DrillError(f"{call.name}(): bad arguments: {exc}") from None
        pending = _Pending(call, _done(op) if isinstance(op, _Ret) else op)
        self._step(pending)
        if pending.outcome is None:
            self._pending.append(pending)
        self._pump()
        return pending

    def _on_event(self, conn: Connection, event: ev.Event) -> None:
        status = self._status.setdefault(conn, _Status())
        if isinstance(event, ev.StateChanged):
            if event.new is State.CLOSED:
                status.state_before_close = event.old
        elif isinstance(event, ev.Connected):
            status.established = True
            self._freebsd_round_rcvbuf(conn)
        elif isinstance(event, ev.ConnectionReset):
            # Linux tcp_reset(): ECONNREFUSED in SYN-SENT, EPIPE in CLOSE-WAIT, else ECONNRESET.
            if event.refused:
                status.err = "ECONNREFUSED"
            elif status.state_before_close is State.CLOSE_WAIT:
                status.err = "EPIPE"
            else:
                status.err = "ECONNRESET"
            status.closed = True
        elif isinstance(event, ev.ConnectionTimedOut):
            status.err = "ETIMEDOUT"
            status.closed = True
        elif isinstance(event, ev.ConnectionClosed | ev.ConnectionAborted):
            status.closed = True

    # ------------------------------------------------------------------
    # Sockets
    # ------------------------------------------------------------------

    def _freebsd_round_rcvbuf(self, conn: Connection) -> None:
        """A script written for FreeBSD (``syn_option_layout="freebsd"``): once the MSS
        is known, the receive buffer grows to a whole number of segments, as FreeBSD's
        ``tcp_mss()`` does (``roundup(sb_hiwat, mss)``, at most ``kern.ipc.maxsockbuf``),
        unless the application sized it with SO_RCVBUF."""
        config = conn.config
        if config.syn_option_layout != "freebsd":
            return
        if any(s.conn is conn and "SO_RCVBUF" in s.opts for s in self._socks.values()):
            return
        mss = tcp_info(conn)["tcpi_snd_mss"]
        if mss <= 0 or config.recv_buffer < mss:
            return
        rounded = -(-config.recv_buffer // mss) * mss
        if config.recv_buffer_max is not None:
            rounded = min(rounded, config.recv_buffer_max)
        if rounded > config.recv_buffer:
            conn.reconfigure(recv_buffer=rounded)

    def _sock(self, call: Syscall) -> _Sock | None:
        return self._socks.get(int_arg(call.args[0]))

    def _st(self, conn: Connection) -> _Status:
        return self._status.setdefault(conn, _Status())

    def _take_err(self, conn: Connection | None) -> str | None:
        if conn is None:
            return None
        status = self._st(conn)
        err, status.err = status.err, None
        return err

    def _alive(self, conn: Connection) -> bool:
        return not self._st(conn).closed and conn.state is not State.CLOSED

    def _config_for(self, sock: _Sock, *, buffers: bool = True) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name, value in sock.opts.items():
            changes.update(self._changes(name, value, buffers=buffers))
        return changes

    def _changes(self, name: str, value: int, *, buffers: bool = True) -> dict[str, Any]:
        """TcpConfig fields for a socket option (ValueError: EINVAL)."""
        base = self.config
        if name == "SO_KEEPALIVE":
            return {"keepalive": bool(value)}
        if name == "TCP_NODELAY":
            return {"nagle": not value}
        if name == "TCP_CORK":
            return {"cork": bool(value)}
        if name in ("IP_TOS", "IPV6_TCLASS"):
            # The Diffserv field (MUST-48); the two ECN bits stay TCP's (as Linux).
            _check_range(value, -1 if name == "IPV6_TCLASS" else 0, 255)
            return {"tos": max(value, 0) & 0xFC}
        if name == "IP_MTU_DISCOVER":
            # Accepted and read back: tcpstack does no path-MTU discovery (it
            # takes no ICMP), so no mode changes what it sends.
            _check_range(value, 0, 5)
            return {}
        if name == "TCP_KEEPIDLE":
            _check_range(value, 1, 32767)
            return {"keepalive_idle": float(value)}
        if name == "TCP_KEEPINTVL":
            _check_range(value, 1, 32767)
            return {"keepalive_interval": float(value)}
        if name == "TCP_KEEPCNT":
            _check_range(value, 1, 127)
            return {"keepalive_count": value}
        if name == "TCP_USER_TIMEOUT":
            _check_range(value, 0, 2**31 - 1)
            return {"user_timeout": value / 1000 if value else None}
        if name == "SO_RCVBUF" and buffers:
            limit = (1 << 30) if base.window_scaling else 65535
            # A locked receive buffer also clamps the window scale offered
            # (Linux: window_clamp = tcp_full_space with SOCK_RCVBUF_LOCK).
            return {"recv_buffer": min(max(self._buf_cap(name, value), 1), limit),
                    "recv_buffer_max": None}
        if name == "SO_SNDBUF" and buffers:
            # Linux sets sk_sndbuf to twice the value and charges each queued
            # skb's truesize against it; the payload that fits is about two
            # thirds of sk_sndbuf with MSS-sized skbs (this reproduces when
            # packetdrill's blocking-write script sees write() return).
            return {"send_buffer": max(self._buf_cap(name, value) * 4 // 3, 1)}
        if name == "TCP_MAXSEG":
            _check_range(value, 88, 32767)  # Linux: TCP_MIN_MSS..MAX_TCP_WINDOW
            return {"mss": value}
        if name == "TCP_NOTSENT_LOWAT":
            return {}  # applied by poll/epoll (see _notsent_lowat)
        if name in _ACCEPTED_OPTIONS or name in ("SO_RCVBUF", "SO_SNDBUF", "TCP_CONGESTION"):
            return {}
        raise LookupError(name)

    def _buf_cap(self, name: str, value: int) -> int:
        """SO_SNDBUF/SO_RCVBUF values are capped at net.core.wmem_max/rmem_max."""
        key = "net.core.wmem_max" if name == "SO_SNDBUF" else "net.core.rmem_max"
        try:
            cap = int(self.sysctls.values.get(key, str(_LINUX_BUF_MAX)), 0)
        except ValueError:
            cap = _LINUX_BUF_MAX
        return min(value, cap)

    def _new_config(self, sock: _Sock, *, passive: bool = False) -> TcpConfig:
        base = (sock.passive_config if passive else sock.config) or self.config
        changes = self._config_for(sock)
        if sock.congestion is not None:
            changes["congestion_control"] = sock.congestion
        return replace(base, **changes) if changes else base

    def _add(self, sock: _Sock) -> _Sock:
        self._socks[sock.fd] = sock
        return sock

    def _free_fd(self, want: int | None = None) -> int:
        """The descriptor the script names (``want``, packetdrill maps script fds
        to real ones) if free, else the lowest free one (0-2 are stdin, stdout,
        stderr)."""
        used = self._socks.keys() | self._epolls.keys() | self._files.keys()
        if want is not None and want >= 3 and want not in used:
            return want
        fd = 3
        while fd in used:
            fd += 1
        return fd

    # ------------------------------------------------------------------
    # System calls: each returns a _Ret, or a generator for a blocking call
    # ------------------------------------------------------------------

    def _sys_socket(self, call: Syscall) -> _Ret:
        family = int_arg(call.args[0]) if call.args[0] != "..." else 2
        if family not in (2, 10):
            return _err("EAFNOSUPPORT")
        kind = int_arg(call.args[1])
        # sysctl settings made so far apply to this socket (Linux reads them at creation).
        sock = self._add(_Sock(
            self._free_fd(call.result),
            nonblocking=bool(kind & _O_NONBLOCK),
            family=family,
            config=self.sysctls.config(self.config, passive=False),
            passive_config=self.sysctls.config(self.config, passive=True),
        ))
        return _Ret(sock.fd)

    def _sys_bind(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.port is not None or sock.conn is not None:
            return _err("EINVAL")
        if any(s.port == LOCAL_PORT and s.listening for s in self._socks.values()) and not (
            sock.opts.get("SO_REUSEADDR")
        ):
            return _err("EADDRINUSE")
        sock.port = LOCAL_PORT
        return _Ret(0)

    def _sys_listen(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.conn is not None:
            return _err("EINVAL")
        if sock.listening:
            return _Ret(0)
        backlog = max(int_arg(call.args[1]), 0) + 1
        port = sock.port if sock.port is not None else LOCAL_PORT
        try:
            self.stack.listen(port, backlog, config=self._new_config(sock, passive=True),
                              now=self._now)
        except TcpStackError:
            return _err("EADDRINUSE")
        sock.port, sock.listening = port, True
        return _Ret(0)

    def _sys_accept(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if not sock.listening or sock.port is None:
            return _err("EINVAL")
        return self._accept(sock, call.result)

    def _accept(self, listener: _Sock, want: int | None = None) -> _Op:
        while True:
            port = listener.port
            if not listener.listening or port is None or listener.fd not in self._socks:
                return _err("EBADF")
            conn = self.stack.accept(port)
            if conn is not None:
                new = self._add(_Sock(self._free_fd(want), port=port, conn=conn,
                                       opts=dict(listener.opts), linger=listener.linger))
                changes = self._config_for(new, buffers=False)
                if changes:
                    conn.reconfigure(**changes)
                return _Ret(new.fd)
            if listener.nonblocking:
                return _err("EAGAIN")
            yield None

    def _sys_connect(self, call: Syscall) -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.listening:
            return _err("EISCONN")
        if sock.conn is not None:
            status = self._st(sock.conn)
            if (err := self._take_err(sock.conn)) is not None:
                sock.connecting = False
                return _err(err)
            if status.established:
                if sock.connecting:
                    # Linux __inet_stream_connect: the first connect() after a
                    # non-blocking one completed reports success, later ones EISCONN.
                    sock.connecting = False
                    return _Ret(0)
                return _err("EISCONN")
            if not status.closed:
                return _err("EALREADY")
        try:
            conn = self.stack.connect(
                self.remote_address,
                LOCAL_PORT,
                now=self._now,
                local_port=sock.port,
                config=self._new_config(sock),
            )
        except TcpStackError:
            return _err("EADDRINUSE")
        sock.conn = conn
        self._status[conn] = _Status()
        if sock.nonblocking:
            sock.connecting = True
            return _err("EINPROGRESS")
        return self._connect_wait(conn)

    def _connect_wait(self, conn: Connection) -> _Op:
        while True:
            status = self._st(conn)
            if status.established:
                return _Ret(0)
            if status.closed:
                return _err(self._take_err(conn) or "ECONNABORTED")
            yield None

    def _sys_read(self, call: Syscall) -> _Ret | _Op:
        if (file := self._files.get(int_arg(call.args[0]))) is not None:
            return self._file_io(file, int_arg(call.args[2]), write=False)
        return self._recv(call, int_arg(call.args[2]), 0, call.args[1])

    def _read(self, sock: _Sock, conn: Connection, size: int, flags: int = 0) -> _Op:
        # The order of Linux tcp_recvmsg(): queued data first (also after
        # SHUT_RD), then end of stream once the peer's FIN was processed
        # (SOCK_DONE: a reset that came after the FIN is left for write() and
        # SO_ERROR), then a pending error, then the read side being shut.
        nonblocking = sock.nonblocking or bool(flags & SYMBOLS["MSG_DONTWAIT"])
        done = 0
        while True:
            if conn.readable and size:
                if flags & SYMBOLS["MSG_PEEK"]:
                    return _Ret(min(conn.readable, size))
                done += len(conn.read(size - done))
                if done == size or not flags & SYMBOLS["MSG_WAITALL"] or nonblocking:
                    return _Ret(done)
                yield None
                continue
            if done:
                if conn.fin_received or self._st(conn).closed or sock.shut_rd:
                    return _Ret(done)
                yield None
                continue
            if size == 0 or conn.fin_received:
                return _Ret(0)
            if (err := self._take_err(conn)) is not None:
                return _err(err)
            if sock.shut_rd or conn.at_eof or self._st(conn).closed:
                return _Ret(0)
            if nonblocking:
                return _err("EAGAIN")
            yield None

    def _sys_write(self, call: Syscall) -> _Ret | _Op:
        if (file := self._files.get(int_arg(call.args[0]))) is not None:
            return self._file_io(file, int_arg(call.args[2]), write=True)
        return self._send(call, int_arg(call.args[2]), 0, call.args[1])

    def _write(self, sock: _Sock, conn: Connection, size: int, flags: int = 0) -> _Op:
        """A write of ``size`` bytes (blocking unless non-blocking); with SO_TIMESTAMPING,
        its last byte is stamped as Linux's tcp_tx_timestamp() marks the last skb of a
        sendmsg."""
        ret = yield from self._write_bytes(sock, conn, size, flags)
        if ret.value > 0 and sock.tstamping & _TX_STAMPS:
            end = seq_add(conn.snd_nxt, conn.unsent)  # after the last byte written
            due = [info for bit, info in _TX_STAMP_ORDER if sock.tstamping & bit]
            # Without OPT_ID every stamp's key is 0; with it, the last byte's number
            # counted from SND.UNA when the option was set.
            key = ((seq_diff(end, sock.tskey_base) - 1) & 0xFFFFFFFF  # ee_data is a u32
                   if sock.tstamping & SYMBOLS["SOF_TIMESTAMPING_OPT_ID"] else 0)
            sock.tx_pending.append((end, key, due))
            self._stamp_transmits()
        return ret

    def _stamp_transmits(self) -> None:
        """Queue the transmit timestamps now due on the error queues (SO_TIMESTAMPING):
        SCHED and SND once the stamped byte has been sent (SND.MAX passed it: handed
        to the device, no qdisc here), ACK once it is acknowledged (SND.UNA passed it).
        Stamps of one write come in that order, writes in the order they were made."""
        for sock in self._socks.values():
            conn = sock.conn
            if not sock.tx_pending or conn is None:
                continue
            for end, key, due in sock.tx_pending:
                sent = not seq_gt(end, conn.snd_max)
                while due and due[0] != _SCM_TSTAMP_ACK and sent:
                    sock.errqueue.append((due.pop(0), key, self._now))
                if due == [_SCM_TSTAMP_ACK] and not seq_gt(end, conn.snd_una):
                    sock.errqueue.append((due.pop(0), key, self._now))
            sock.tx_pending = [entry for entry in sock.tx_pending if entry[2]]

    def _write_bytes(self, sock: _Sock, conn: Connection, size: int, flags: int = 0) -> _Op:
        nonblocking = sock.nonblocking or bool(flags & SYMBOLS["MSG_DONTWAIT"])
        done = 0
        while True:
            if (err := self._take_err(conn)) is not None:
                return _Ret(done) if done else _err(err)
            if sock.shut_wr or not self._alive(conn) or conn.state in _CLOSING:
                return _Ret(done) if done else _err("EPIPE")
            if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
                if nonblocking:
                    return _err("EAGAIN")
            else:
                try:
                    # MSG_MORE: not pushed (Linux tcp_push marks PSH only without it).
                    done += conn.send(bytes(size - done),
                                      push=not flags & SYMBOLS["MSG_MORE"])
                except LocalProtocolError:
                    return _Ret(done) if done else _err("EPIPE")
                if done == size:
                    return _Ret(size)
                if nonblocking:
                    return _Ret(done) if done else _err("EAGAIN")
            yield None

    # recv/send and their vector forms: Linux tcp_recvmsg / tcp_sendmsg with flags.

    def _recv(self, call: Syscall, size: int, flags: int, buf: str = "...") -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if flags & SYMBOLS["MSG_ERRQUEUE"]:
            raise DrillError("tcpstack target: MSG_ERRQUEUE (timestamping, zero-copy "
                             "notifications) is not supported")
        if flags & SYMBOLS["MSG_OOB"]:
            raise DrillError("tcpstack target: MSG_OOB (urgent data read) is not supported")
        if sock.conn is None:
            return _err("ENOTCONN")
        if buf == "NULL" and size and sock.conn.readable:
            return _err("EFAULT")
        return self._read(sock, sock.conn, size, flags)

    def _send(self, call: Syscall, size: int, flags: int, buf: str = "...") -> _Ret | _Op:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if flags & SYMBOLS["MSG_FASTOPEN"]:
            raise DrillError("unsupported: TCP Fast Open (MSG_FASTOPEN) on the tcpstack target")
        # MSG_ZEROCOPY sends as a copy does; only its completion notice (read from the
        # error queue, which this target declines: "zero-copy notifications") would differ.
        if flags & SYMBOLS["MSG_OOB"]:
            raise DrillError("tcpstack target: MSG_OOB (urgent data from send) is not "
                             "supported")
        if sock.conn is None:
            return _err("EPIPE")
        if buf == "NULL" and size:
            return _err("EFAULT")
        conn = sock.conn
        if self._alive(conn):
            # MSG_MORE corks this write's tail; a write without it uncorks
            # (unless TCP_CORK is set), as Linux's tcp_push does.
            more = bool(flags & SYMBOLS["MSG_MORE"])
            cork = more or bool(sock.opts.get("TCP_CORK"))
            sock.more = more and not sock.opts.get("TCP_CORK")
            if conn.config.cork != cork:
                conn.reconfigure(cork=cork)
        return self._write(sock, conn, size, flags)

    def _sys_recv(self, call: Syscall) -> _Ret | _Op:
        return self._recv(call, int_arg(call.args[2]), int_arg(call.args[3]), call.args[1])

    def _sys_recvfrom(self, call: Syscall) -> _Ret | _Op:
        return self._recv(call, int_arg(call.args[2]), int_arg(call.args[3]), call.args[1])

    def _sys_send(self, call: Syscall) -> _Ret | _Op:
        return self._send(call, int_arg(call.args[2]), int_arg(call.args[3]), call.args[1])

    def _sys_sendto(self, call: Syscall) -> _Ret | _Op:
        return self._send(call, int_arg(call.args[2]), int_arg(call.args[3]), call.args[1])

    def _sys_readv(self, call: Syscall) -> _Ret | _Op:
        return self._recv(call, sum(iovecs_arg(call.args[1])), 0)

    def _sys_writev(self, call: Syscall) -> _Ret | _Op:
        return self._send(call, sum(iovecs_arg(call.args[1])), 0)

    def _sys_recvmsg(self, call: Syscall) -> _Ret | _Op:
        if int_arg(call.args[2]) & SYMBOLS["MSG_ERRQUEUE"]:
            return self._recv_errqueue(call)
        op = self._recv(call, _msg_bytes(call.args[1]), int_arg(call.args[2]))
        outputs = {"msg_flags": 0}  # no MSG_TRUNC/MSG_EOR on a stream
        sock = self._sock(call)
        control = msghdr_arg(call.args[1]).get("msg_control", "...")
        if sock is None or control == "...":
            return _with_outputs(op, outputs)
        room = len(cmsgs_arg(control))
        return self._with_inq(op, sock, outputs, room)

    def _recv_errqueue(self, call: Syscall) -> _Ret:
        """recvmsg(..., MSG_ERRQUEUE): the oldest transmit timestamp, as Linux's
        ip_recv_error()/ipv6_recv_error() returns it: no data (``MSG_TRUNC``: the
        stamped packet is not copied into a 0-byte iovec), an ``SCM_TIMESTAMPING``
        (its software time, microseconds since the script's start) and a
        ``sock_extended_err`` (``ENOMSG``, origin TIMESTAMPING, info the stamp,
        data the key). EAGAIN when the queue is empty."""
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if not sock.errqueue:
            return _err("EAGAIN")
        info, key, at = sock.errqueue.popleft()
        v4 = sock.family == 2
        stamp = (ERRNOS["ENOMSG"], SYMBOLS["SO_EE_ORIGIN_TIMESTAMPING"], 0, 0, info, key)
        cmsgs = (Cmsg(SYMBOLS["SOL_SOCKET"], SYMBOLS["SCM_TIMESTAMPING"], timestamp=(0, 0)),
                 Cmsg(SYMBOLS["SOL_IP"] if v4 else SYMBOLS["SOL_IPV6"],
                      SYMBOLS["IP_RECVERR"] if v4 else SYMBOLS["IPV6_RECVERR"],
                      extended_err=stamp))
        outputs = {"msg_flags": SYMBOLS["MSG_ERRQUEUE"] | SYMBOLS["MSG_TRUNC"],
                   "cmsg_count": len(cmsgs)}
        for i, cmsg in enumerate(cmsgs):  # lengths as Cmsg.size lays them out (x86-64)
            outputs |= {f"cmsg_level[{i}]": cmsg.level, f"cmsg_type[{i}]": cmsg.type,
                        f"cmsg_len[{i}]": cmsg.size}
        if sock.tstamping & SYMBOLS["SOF_TIMESTAMPING_SOFTWARE"]:
            outputs["cmsg_ts[0]"] = round(at * 1e6)  # microseconds since the start
        outputs |= {f"{name}[1]": value for name, value in zip(EE_FIELDS, stamp, strict=True)}
        return _Ret(0, outputs=outputs)

    def _with_inq(self, op: _Ret | _Op, sock: _Sock, outputs: dict[str, int],
                  room: int) -> _Op:
        """``op`` (a recvmsg) whose result carries the control messages Linux's
        tcp_recvmsg adds after the read: with ``TCP_INQ`` set, one ``TCP_CM_INQ`` of
        the bytes left to read (:meth:`_inq`), if ``room`` (cmsgs the buffer holds)."""
        ret = op if isinstance(op, _Ret) else (yield from op)
        if ret.errno is None:
            cmsgs = []
            if sock.opts.get("TCP_INQ") and room and sock.conn is not None:
                cmsgs.append((SYMBOLS["SOL_TCP"], SYMBOLS["TCP_CM_INQ"], self._inq(sock.conn)))
            ret.outputs.update(outputs, cmsg_count=len(cmsgs))
            for i, (level, kind, data) in enumerate(cmsgs):
                ret.outputs.update({f"cmsg_level[{i}]": level, f"cmsg_type[{i}]": kind,
                                    f"cmsg_data[{i}]": data})
        return ret

    @staticmethod
    def _inq(conn: Connection) -> int:
        """Linux's tcp_inq_hint(): ``rcv_nxt - copied_seq``, the unread bytes plus one
        for the peer's FIN once it came (so that a reader goes on to see the end)."""
        return conn.readable + (1 if conn.fin_received else 0)

    # open, sendfile, pipe, splice: files read-only, pipes emulated.

    def _sys_open(self, call: Syscall) -> _Ret:
        """open("path", O_RDONLY): a real file, read-only (the tcpstack target writes no
        file); ENOENT and the other errors of the host's open()."""
        flags = int_arg(call.args[1])
        if flags & 3 != SYMBOLS["O_RDONLY"]:
            raise DrillError("tcpstack target: open() other than O_RDONLY is not supported")
        path = call.args[0].strip().strip('"')
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as exc:
            return _err(errno.errorcode.get(exc.errno or 0, "EIO"))
        file = _File(self._free_fd(call.result), path=path)
        self._files[file.fd] = file
        return _Ret(file.fd)

    def _sys_sendfile(self, call: Syscall) -> _Ret | _Op:
        """sendfile(out_fd, in_fd, [offset], count): write the file's bytes from
        ``offset`` (at most ``count``) to the socket, as write() would."""
        file = self._files.get(int_arg(call.args[1]))
        sock = self._sock(call)
        if file is None or sock is None:
            return _err("EBADF")
        if file.path is None:
            return _err("EINVAL")
        offset = int_arg(list_arg(call.args[2])[0])
        try:
            with open(file.path, "rb") as handle:
                handle.seek(offset)
                size = len(handle.read(max(int_arg(call.args[3]), 0)))
        except OSError as exc:
            return _err(errno.errorcode.get(exc.errno or 0, "EIO"))
        if sock.conn is None:
            return _err("EPIPE")
        return self._write(sock, sock.conn, size) if size else _Ret(0)

    def _sys_pipe(self, call: Syscall) -> _Ret:
        read_want, write_want = pipe_arg(call.args[0])
        pipe = _Pipe()
        read_end = _File(self._free_fd(read_want), pipe=pipe)
        self._files[read_end.fd] = read_end
        write_end = _File(self._free_fd(write_want), pipe=pipe, write_end=True)
        self._files[write_end.fd] = write_end
        return _Ret(0, outputs={"fds[0]": read_end.fd, "fds[1]": write_end.fd})

    def _sys_splice(self, call: Syscall) -> _Ret | _Op:
        """splice(fd_in, NULL, fd_out, NULL, len, flags) between a socket and a pipe:
        socket -> pipe reads (as recv) at most the pipe's free room; pipe -> socket
        writes (as send) at most what the pipe holds."""
        src, dst = int_arg(call.args[0]), int_arg(call.args[2])
        size, flags = int_arg(call.args[4]), int_arg(call.args[5])
        if int_arg(call.args[1]) or int_arg(call.args[3]):
            return _err("ESPIPE")  # offsets on a socket or a pipe
        sock_in, file_out = self._socks.get(src), self._files.get(dst)
        if sock_in is not None and file_out is not None and file_out.write_end \
                and file_out.pipe is not None:
            if sock_in.conn is None:
                return _err("ENOTCONN")
            return self._into_pipe(sock_in, sock_in.conn, file_out.pipe, size,
                                   bool(flags & SYMBOLS["SPLICE_F_NONBLOCK"]))
        file_in, sock_out = self._files.get(src), self._socks.get(dst)
        if file_in is not None and sock_out is not None and not file_in.write_end \
                and file_in.pipe is not None:
            if sock_out.conn is None:
                return _err("EPIPE")
            pipe = file_in.pipe
            count = min(size, pipe.buffered)
            if not count:
                return _Ret(0)
            return self._out_of_pipe(self._write(sock_out, sock_out.conn, count), pipe)
        if src not in self._socks | self._files or dst not in self._socks | self._files:
            return _err("EBADF")
        return _err("EINVAL")

    def _into_pipe(self, sock: _Sock, conn: Connection, pipe: _Pipe, size: int,
                   pipe_nonblock: bool) -> _Op:
        """Socket -> pipe (Linux tcp_splice_read): waiting for data follows the socket's
        O_NONBLOCK, waiting for room in a full pipe follows SPLICE_F_NONBLOCK."""
        while not PIPE_CAPACITY - pipe.buffered:
            if pipe_nonblock:
                return _err("EAGAIN")
            yield None
        ret = yield from self._read(sock, conn, min(size, PIPE_CAPACITY - pipe.buffered))
        if ret.errno is None:
            pipe.buffered += ret.value
        return ret

    @staticmethod
    def _out_of_pipe(op: _Op, pipe: _Pipe) -> _Op:
        ret = yield from op
        if ret.errno is None:
            pipe.buffered -= ret.value
        return ret

    @staticmethod
    def _file_io(file: _File, size: int, *, write: bool) -> _Ret:
        """read()/write() on a pipe end (a file opened read-only is not read here)."""
        pipe = file.pipe
        if pipe is None or file.write_end != write:
            return _err("EBADF") if pipe is not None else _err("EINVAL")
        if write:
            count = min(size, PIPE_CAPACITY - pipe.buffered)
            if size and not count:
                return _err("EAGAIN")
            pipe.buffered += count
            return _Ret(count)
        count = min(size, pipe.buffered)
        pipe.buffered -= count
        return _Ret(count)

    def _sys_sendmsg(self, call: Syscall) -> _Ret | _Op:
        return self._send(call, _msg_bytes(call.args[1]), int_arg(call.args[2]))

    def _sys_ioctl(self, call: Syscall) -> _Ret:
        """SIOCINQ/FIONREAD, SIOCOUTQ, SIOCOUTQNSD (Linux tcp_ioctl); FIONBIO."""
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        request = int_arg(call.args[1])
        if request == SYMBOLS["FIONBIO"]:
            sock.nonblocking = bool(int_arg(list_arg(call.args[2])[0]))
            return _Ret(0)
        if request not in (SYMBOLS["SIOCINQ"], SYMBOLS["SIOCOUTQ"], SYMBOLS["SIOCOUTQNSD"]):
            return _err("EINVAL")
        if sock.listening:
            return _err("EINVAL")
        conn = sock.conn
        if conn is None or conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            value = 0
        elif request == SYMBOLS["SIOCINQ"]:
            value = conn.readable  # unread data, the peer's FIN not counted
        elif request == SYMBOLS["SIOCOUTQ"]:
            value = seq_diff(conn.snd_nxt, conn.snd_una) + conn.unsent  # write_seq - snd_una
        else:
            value = conn.unsent  # write_seq - snd_nxt
        return _Ret(0, outputs={"optval": value})

    def _sys_getsockname(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        return _err("EBADF") if sock is None else _Ret(0)

    def _sys_getpeername(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if sock.conn is None or not self._st(sock.conn).established:
            return _err("ENOTCONN")
        return _Ret(0)

    # epoll: level-triggered unless EPOLLET; EPOLLONESHOT disables after one report.

    def _sys_epoll_create(self, call: Syscall) -> _Ret:
        if int_arg(call.args[0]) <= 0:
            return _err("EINVAL")
        ep = _Epoll(self._free_fd(call.result))
        self._epolls[ep.fd] = ep
        return _Ret(ep.fd)

    def _sys_epoll_create1(self, call: Syscall) -> _Ret:
        if int_arg(call.args[0]) & ~SYMBOLS["EPOLL_CLOEXEC"]:
            return _err("EINVAL")
        ep = _Epoll(self._free_fd(call.result))
        self._epolls[ep.fd] = ep
        return _Ret(ep.fd)

    def _sys_epoll_ctl(self, call: Syscall) -> _Ret:
        ep = self._epolls.get(int_arg(call.args[0]))
        if ep is None:
            return _err("EBADF")
        op, fd = int_arg(call.args[1]), int_arg(call.args[2])
        if fd not in self._socks:
            return _err("EBADF")
        events, data = 0, fd
        if op != SYMBOLS["EPOLL_CTL_DEL"]:
            fields = struct_arg(" ".join(call.args[3].split()))
            events = int_arg(fields["events"])
            for key in ("fd", "u64", "u32", "ptr"):
                if key in fields and fields[key] != "...":
                    data = int_arg(fields[key])
        if op == SYMBOLS["EPOLL_CTL_ADD"]:
            if fd in ep.watched:
                return _err("EEXIST")
            ep.watched[fd] = [events, 0, data]
        elif op == SYMBOLS["EPOLL_CTL_MOD"]:
            if fd not in ep.watched:
                return _err("ENOENT")
            ep.watched[fd] = [events, 0, data]
        elif op == SYMBOLS["EPOLL_CTL_DEL"]:
            if ep.watched.pop(fd, None) is None:
                return _err("ENOENT")
        else:
            return _err("EINVAL")
        return _Ret(0)

    def _sys_epoll_wait(self, call: Syscall) -> _Ret | _Op:
        ep = self._epolls.get(int_arg(call.args[0]))
        if ep is None:
            return _err("EBADF")
        maxevents = int_arg(call.args[2])
        if maxevents <= 0:
            return _err("EINVAL")
        return self._epoll_wait(ep, maxevents, int_arg(call.args[3]))

    def _epoll_wait(self, ep: _Epoll, maxevents: int, timeout_ms: int) -> _Op:
        until = None if timeout_ms < 0 else self._now + timeout_ms / 1000
        always = SYMBOLS["EPOLLERR"] | SYMBOLS["EPOLLHUP"]
        flags = SYMBOLS["EPOLLET"] | SYMBOLS["EPOLLONESHOT"]
        while True:
            ready: list[tuple[int, int]] = []
            for fd, entry in ep.watched.items():
                events, reported, data = entry
                mask = self._poll_mask(fd) & ((events & ~flags) | always)
                if events & SYMBOLS["EPOLLET"]:
                    fresh = mask & ~reported
                    entry[1] = mask  # an edge is a bit that was clear when last looked at
                    if not fresh:
                        continue
                if mask and len(ready) < maxevents and (events & ~flags or mask & always):
                    ready.append((data, mask))
                    if events & SYMBOLS["EPOLLONESHOT"]:
                        entry[0] = events & SYMBOLS["EPOLLET"]  # disarmed until EPOLL_CTL_MOD
            if ready or (until is not None and self._now >= until):
                # The i-th struct epoll_event written back: events[i], data[i].
                outputs = {}
                for i, (data, mask) in enumerate(ready):
                    outputs[f"events[{i}]"], outputs[f"data[{i}]"] = mask, data
                return _Ret(len(ready), outputs=outputs)
            yield until

    def _sys_close(self, call: Syscall) -> _Ret | _Op:
        if self._files.pop(int_arg(call.args[0]), None) is not None:
            return _Ret(0)
        if (ep := self._epolls.pop(int_arg(call.args[0]), None)) is not None:
            ep.watched.clear()
            return _Ret(0)
        sock = self._socks.pop(int_arg(call.args[0]), None)
        if sock is None:
            return _err("EBADF")
        for epoll in self._epolls.values():
            epoll.watched.pop(sock.fd, None)
        if sock.listening and sock.port is not None:
            # Linux resets the connections nobody accepted (inet_csk_listen_stop).
            while (queued := self.stack.accept(sock.port)) is not None:
                queued.abort(self._now)
            self.stack.unlisten(sock.port)
            sock.listening = False
            return _Ret(0)
        conn = sock.conn
        if conn is None:
            return _Ret(0)
        if sock.linger is not None and sock.linger[0] and sock.linger[1] == 0:
            conn.abort(self._now)
            return _Ret(0)
        conn.close(self._now)
        if sock.linger is not None and sock.linger[0] and not sock.nonblocking:
            return self._linger(conn, self._now + sock.linger[1])
        return _Ret(0)

    def _linger(self, conn: Connection, until: float) -> _Op:
        while self._alive(conn) and conn.state not in (State.FIN_WAIT_2, State.TIME_WAIT):
            if self._now >= until:
                break
            yield until
        return _Ret(0)

    def _sys_shutdown(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        how = call.args[1]
        if sock.listening and sock.port is not None:
            if how in ("SHUT_RD", "SHUT_RDWR"):
                self.stack.unlisten(sock.port)
                sock.listening = False
            return _Ret(0)
        conn = sock.conn
        if conn is None or not self._alive(conn):
            return _err("ENOTCONN")
        if how in ("SHUT_WR", "SHUT_RDWR"):
            conn.shutdown(self._now)
            sock.shut_wr = True
        if how in ("SHUT_RD", "SHUT_RDWR"):
            sock.shut_rd = True
        return _Ret(0)

    def _sys_setsockopt(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        name = call.args[2]
        if name == "TCP_CONGESTION":
            # setsockopt(fd, SOL_TCP, TCP_CONGESTION, "reno", 4): ENOENT if unknown.
            algorithm = call.args[3].strip().strip('"')
            if algorithm not in ALGORITHMS:
                return _err("ENOENT")
            sock.opts[name] = 1
            sock.congestion = algorithm
            if sock.conn is not None and self._alive(sock.conn):
                raise DrillError("tcpstack target: TCP_CONGESTION on a connected socket "
                                 "is not supported")
            return _Ret(0)
        if name == "SO_LINGER":
            fields = struct_arg(call.args[3])
            sock.linger = (int_arg(fields["onoff"]), int_arg(fields["linger"]))
            return _Ret(0)
        if name == "SO_TIMESTAMPING":
            # Transmit timestamps on the error queue; with OPT_ID keys count the
            # bytes from SND.UNA now (Linux sets sk_tskey to snd_una).
            flags = int_arg(list_arg(call.args[3])[0])
            if flags & SYMBOLS["SOF_TIMESTAMPING_OPT_ID"] and not (
                    sock.tstamping & SYMBOLS["SOF_TIMESTAMPING_OPT_ID"]):
                sock.tskey_base = sock.conn.snd_una if sock.conn is not None else 0
            sock.tstamping = flags
            sock.opts[name] = flags
            return _Ret(0)
        value = int_arg(list_arg(call.args[3])[0])
        try:
            changes = self._changes(name, value)
        except ValueError:
            return _err("EINVAL")
        except LookupError:
            return _err("ENOPROTOOPT")
        sock.opts[name] = value
        if sock.listening and sock.port is not None and changes:
            listener = self.stack.listener(sock.port)
            if listener is not None:
                listener.config = self._new_config(sock, passive=True)
        if sock.conn is not None and self._alive(sock.conn):
            # Buffer sizes take effect at once (the receive window's right edge
            # never moves left, RFC 7323 §2.4); the MSS only before the SYN.
            live = {k: v for k, v in changes.items() if k != "mss"}
            conn = sock.conn
            if name == "TCP_NODELAY" and value and conn.config.cork:
                # Linux: TCP_NODELAY pushes what is pending once, even when corked.
                self._push(conn)
            if live:
                conn.reconfigure(**live)
        return _Ret(0)

    def _push(self, conn: Connection) -> None:
        """Send what a cork holds now, and cork again (Linux TCP_NAGLE_PUSH)."""
        conn.reconfigure(cork=False)
        for packet in self.stack.packets_to_send(self._now):
            self._out.append((self._now, packet))
            self._count_out(packet)
        conn.reconfigure(cork=True)

    def _sys_getsockopt(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        name = call.args[2]
        if name == "SO_LINGER":
            onoff, linger = sock.linger or (0, 0)
            return _Ret(0, outputs={"onoff": onoff, "linger": linger})
        if name == "SO_ERROR":
            err = self._take_err(sock.conn)
            return _Ret(0, outputs={"optval": ERRNOS[err] if err else 0})
        if name == "TCP_INFO":
            return _Ret(0, outputs=dict(self.tcp_info(sock.fd)))
        if name == "TCP_MAXSEG":
            conn = sock.conn
            if conn is not None and conn.state not in (State.SYN_SENT, State.CLOSED):
                value = tcp_info(conn)["tcpi_snd_mss"]  # Linux: mss_cache
            else:
                value = sock.opts.get(name, 536)  # user_mss, else TCP_MSS_DEFAULT
            return _Ret(0, outputs={"optval": value})
        base = sock.config or self.config
        defaults = {
            "SO_KEEPALIVE": 0,
            "TCP_NODELAY": 0,
            "SO_REUSEADDR": 0,
            "SO_ZEROCOPY": 0,
            "TCP_INQ": 0,
            "IP_FREEBIND": 0,
            "TCP_USER_TIMEOUT": 0,
            "TCP_NOTSENT_LOWAT": 0,  # 0: the sysctl decides (tcp_notsent_lowat)
            "TCP_KEEPIDLE": int(base.keepalive_idle),
            "TCP_KEEPINTVL": int(base.keepalive_interval),
            "TCP_KEEPCNT": base.keepalive_count,
            "SO_RCVBUF": (sock.conn.config if sock.conn is not None else base).recv_buffer,
            "SO_SNDBUF": base.send_buffer,
        }
        if name not in defaults:
            return _err("ENOPROTOOPT")
        value = sock.opts.get(name, defaults[name])
        if name not in sock.opts:
            pass  # the default, as the sysctls made it
        elif name in ("SO_RCVBUF", "SO_SNDBUF"):
            # Linux doubles the value set (for bookkeeping overhead), after
            # capping it at net.core.rmem_max / wmem_max.
            value = self._buf_cap(name, value) * 2
        elif name in ("SO_KEEPALIVE", "TCP_NODELAY") or name in _ACCEPTED_OPTIONS:
            value = int(bool(value))
        return _Ret(0, outputs={"optval": value})

    def _sys_fcntl(self, call: Syscall) -> _Ret:
        sock = self._sock(call)
        if sock is None:
            return _err("EBADF")
        if call.args[1] == "F_GETFL":
            return _Ret(SYMBOLS["O_RDWR"] | (_O_NONBLOCK if sock.nonblocking else 0))
        sock.nonblocking = bool(int_arg(call.args[2]) & _O_NONBLOCK)
        return _Ret(0)

    def _sys_poll(self, call: Syscall) -> _Ret | _Op:
        fds = pollfds_arg(call.args[0])
        timeout = int_arg(call.args[2])
        return self._poll([(p.fd, p.events) for p in fds], timeout)

    def _poll(self, fds: list[tuple[int, int]], timeout_ms: int) -> _Op:
        until = None if timeout_ms < 0 else self._now + timeout_ms / 1000
        while True:
            always = _POLL["POLLERR"] | _POLL["POLLHUP"] | _POLL["POLLNVAL"]
            revents = [self._poll_mask(fd) & (events | always) for fd, events in fds]
            ready = sum(1 for r in revents if r)
            if ready or (until is not None and self._now >= until):
                return _Ret(ready, outputs={f"revents[{i}]": r for i, r in enumerate(revents)})
            yield until

    def _notsent_lowat(self, sock: _Sock) -> int:
        """Unsent bytes below which the socket is writable (Linux TCP_NOTSENT_LOWAT,
        else net.ipv4.tcp_notsent_lowat; 4294967295 by default: no limit)."""
        value = sock.opts.get("TCP_NOTSENT_LOWAT") or 0
        if not value:
            try:
                value = int(self.sysctls.values.get("net.ipv4.tcp_notsent_lowat", "0"), 0)
            except ValueError:
                value = 0
        return value or 0xFFFFFFFF

    def _poll_mask(self, fd: int) -> int:
        """The mask of Linux tcp_poll() for ``fd``."""
        p = _POLL
        sock = self._socks.get(fd)
        if sock is None:
            return p["POLLNVAL"]
        if sock.listening:
            queued = sock.port is not None and any(
                self._st(c).established
                and c.passive
                and c.local.port == sock.port
                and c not in {s.conn for s in self._socks.values()}
                for c in self.stack.connections
            )
            return p["POLLIN"] | p["POLLRDNORM"] if queued else 0
        conn = sock.conn
        status = self._st(conn) if conn is not None else None
        closed = (
            conn is None or conn.state is State.CLOSED or (status is not None and status.closed)
        )
        rcv_shut = sock.shut_rd or (
            conn is not None and (conn.fin_received or (status is not None and status.closed))
        )
        snd_shut = sock.shut_wr or (status is not None and status.closed)
        mask = 0
        if (rcv_shut and snd_shut) or closed:
            mask |= p["POLLHUP"]
        if rcv_shut:
            mask |= p["POLLIN"] | p["POLLRDNORM"] | p["POLLRDHUP"]
        state = conn.state if conn is not None else State.CLOSED
        if state is not State.SYN_SENT and state is not State.SYN_RECEIVED:
            if conn is not None and conn.readable:
                mask |= p["POLLIN"] | p["POLLRDNORM"]
            if snd_shut or conn is None or (
                conn.send_space > 0 and conn.unsent < self._notsent_lowat(sock)
            ):
                mask |= p["POLLOUT"] | p["POLLWRNORM"]
        if status is not None and status.err is not None:
            mask |= p["POLLERR"]
        return mask


def _with_outputs(op: _Ret | _Op, outputs: dict[str, int]) -> _Ret | _Op:
    """``op`` whose successful result also carries ``outputs``."""
    if isinstance(op, _Ret):
        if op.errno is None:
            op.outputs.update(outputs)
        return op
    return _outputs_after(op, outputs)


def _outputs_after(op: _Op, outputs: dict[str, int]) -> _Op:
    ret = yield from op
    if ret.errno is None:
        ret.outputs.update(outputs)
    return ret


def _done(ret: _Ret) -> _Op:
    return ret
    yield  # pragma: no cover - makes this a generator


def _check_range(value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{value} not in {low}..{high}")


def _msg_bytes(text: str) -> int:
    """The bytes a ``struct msghdr`` argument's iovecs hold (sendmsg/recvmsg)."""
    return sum(iovecs_arg(msghdr_arg(text)["msg_iov"]))
