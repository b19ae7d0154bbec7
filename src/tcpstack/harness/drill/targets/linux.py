"""The Linux kernel as a drill target (like packetdrill's local mode).

:class:`LinuxTarget` runs a script's system calls on real kernel sockets and
its packets through a TUN device, all inside a private network namespace:

* ``prepare(script)`` reads the script's options (``--ip_version``,
  ``--bind_port``, ``--connect_port``, ``--mtu``, ``--mss``, ``--tso``).
* ``start()`` creates a namespace ``drill-linux-<pid>-<hex>`` (only ``lo``
  and the TUN device, no default route, so nothing leaves it) and starts the
  *agent* (:mod:`~tcpstack.harness.drill.targets.linux_agent`, at ``nice -10``)
  inside it with ``ip netns exec``. The agent sets the sysctls below, creates
  ``tun0`` as packetdrill does (:mod:`~tcpstack.harness.drill.targets.linux_device`:
  ``IFF_VNET_HDR`` and TSO/checksum offload unless ``offload=False`` or
  ``--tso=0``, so the kernel hands over one segment per TSO burst; IPv6
  ``2001:db8::1/64`` for ``--ip_version=ipv6``) with ``LOCAL_ADDRESS/24``, a
  route ``198.51.100.0/24 dev tun0`` to the peer, makes ``/proc/sys``
  read-only except ``/proc/sys/net`` in its own mount namespace (a script's
  shell command cannot change a host-wide setting), and passes the TUN fd
  back over a Unix socket (``SCM_RIGHTS``).
* Packets never cross the process boundary: this process reads and writes
  the TUN fd itself. A reader thread stamps every packet the kernel sends
  with its arrival time; :meth:`next_outbound` hands them out in order
  (IPv4 and IPv6 TCP; other packets are counted in :attr:`ignored`), after
  stripping the vnet header and completing a partial checksum
  (:mod:`~tcpstack.harness.drill.targets.linux_vnet`).
* Shell commands (:meth:`LinuxTarget.shell`) and ``TCP_INFO``
  (:meth:`LinuxTarget.tcp_info`) are requests to the agent too.
* System calls go to the agent as JSON lines (one thread per call in the
  agent, so blocking calls really block and ``start_syscall`` overlaps
  them); script fds (3, 4, ...) map to real sockets there, numbered like
  POSIX (lowest free number).
* Time is ``time.monotonic()`` since the end of ``start()``, shared by both
  processes (one ``CLOCK_MONOTONIC``), so the agent stamps ``returned_at``.
* ``close()`` closes the sockets, stops the agent, closes the device and
  deletes the namespace, always (also after errors or ``KeyboardInterrupt``,
  and at interpreter exit if the caller forgot). A process killed with
  SIGKILL leaves its ``drill-linux-<pid>-*`` namespace behind
  (``ip netns delete`` it).

Kernel settings (per-namespace sysctls, written before the device exists;
a new namespace copies many of them from the host's, so they are set
explicitly; see :data:`DEFAULT_SYSCTLS` and packetdrill's ``defaults.sh``).
A script with shell commands configures the kernel itself, as packetdrill's
scripts do with ``defaults.sh``: it gets a new namespace's values instead
(only the IPv6 settings are applied), like under packetdrill.
A sysctl this kernel lacks is skipped and reported as None in
:attr:`LinuxTarget.sysctls_applied`; the ``sysctls`` argument overrides or
adds settings (those must succeed).

Script arguments are read as written (:mod:`~tcpstack.harness.drill.targets.linux_args`):
``bind`` and ``connect`` use ``LOCAL_ADDRESS:bind_port`` /
``REMOTE_ADDRESS:connect_port`` (IPv6 or IPv4-mapped addresses for an
AF_INET6 socket). Out-parameters go into :attr:`SyscallResult.outputs` for
the runner to compare: ``{"optval": N}`` for getsockopt (an errno number for
SO_ERROR) and ioctl, ``{"onoff": N, "linger": N}`` for SO_LINGER,
``{"revents[i]": N}`` for poll, ``{"events[i]": N, "fd[i]": N}`` (or
``"ptr[i]"``) for epoll_wait, ``{"msg_flags": N}`` for recvmsg, with its control
messages (``cmsg_level[i]``..., an error-queue timestamp ``cmsg_ts[i]`` in
microseconds since the start, a ``struct sock_extended_err`` as ``ee_errno[i]``...).

A call written without ``...`` that is still blocked at the end of the
script's own time plus :data:`BLOCK_MARGIN` fails, saying what its socket
waits for (:mod:`~tcpstack.harness.drill.targets.linux_diagnose`).

What the kernel does that a script author must expect (Linux 6.x with the
settings above; MSS 1460 on the device; with offloads, data segments up to
64 KiB in multiples of the MSS instead of one per MSS):

* SYN-ACK options ``<mss 1460,sackOK,TS val T ecr E,nop,wscale 7>`` and
  ``win 65160`` when the SYN had timestamps; ``<mss 1460,nop,nop,sackOK,nop,
  wscale 7>`` (win 64240) without; only ``<mss 1460>`` for a SYN without
  options. Its own SYN: ``<mss 1460,sackOK,TS val T ecr 0,nop,wscale 7>``,
  ``win 64240``. After the handshake the window field is 510 (<< 7).
* TS val is a millisecond clock with a random per-connection offset; wscale
  7 comes from ``tcp_rmem`` (and the global ``net.core.rmem_max`` if larger).
* Initial window 10 segments (1448 payload bytes each with timestamps);
  PSH only on some segments (end of a write, or after half a window).
* RTO: at least 200 ms (the first retransmission of data comes about
  200-210 ms after a near-zero RTT), 1 s for SYN and SYN-ACK, doubling.
* About 16 quick ACKs at the start of a connection, then delayed ACKs of
  about 40 ms; a FIN is ACKed at once.
* ``accept()`` returns only after the handshake's last ACK; ``close()`` with
  unread data sends a RST instead of a FIN.
* IP: DF set, TTL 64, IP ID 0 on SYN-ACKs.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import errno
import ipaddress
import json
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ..fastopen import parse_keys, script_addresses, translate_cookie
from ..features import require_features, script_features
from ..model import DrillError, Script, Shell, Syscall
from ..runner import DrillResult
from ..target import LOCAL_ADDRESS, ShellResult, SyscallResult
from .linux_args import LOCAL_ADDRESS6, Endpoints, build_request, fastopen_key, outputs
from .linux_diagnose import blocked_message, script_duration
from .linux_vnet import inbound_header, split_outbound, with_tcp_checksum

__all__ = [
    "BLOCK_MARGIN",
    "DEFAULT_SYSCTLS",
    "LinuxTarget",
    "build_request",
    "linux_unavailable_reason",
    "run_with_timing_retry",
]

AGENT_MODULE = "tcpstack.harness.drill.targets.linux_agent"
"""The module run inside the namespace (``python -m``)."""
NETNS_PREFIX = "drill-linux"
"""Namespaces are named ``{NETNS_PREFIX}-{pid}-{6 hex digits}``."""
IFNAME = "tun0"
"""The TUN device's name inside the namespace."""
PREFIX_LENGTH = 24
"""``LOCAL_ADDRESS/24`` on the device."""
PEER_NETWORK = "198.51.100.0/24"
"""Routed to the TUN device: the script's peer lives here."""
FASTOPEN_KEY_FILE = "/proc/sys/net/ipv4/tcp_fastopen_key"
"""The namespace's Fast Open keys (read for cookies, see ``LinuxTarget.fastopen_cookie``)."""
MTU = 1500
"""Device MTU (bytes): the kernel's MSS is 1460."""

SETUP_TIMEOUT = 30.0
"""Seconds the agent may take to configure the namespace and answer."""
QUIT_TIMEOUT = 3.0
"""Seconds the agent gets to exit after ``quit`` before it is killed."""
DEFAULT_MAX_BLOCK = 60.0
"""Default longest wait (s) of :meth:`LinuxTarget.syscall` for a blocking call."""
BLOCK_MARGIN = 1.0
"""Seconds a call written without ``...`` may stay blocked past the script's last
event before :meth:`LinuxTarget.syscall` gives up and says what the socket waits for."""
SHELL_TIMEOUT = 60.0
"""Longest run (s) of a script's shell command."""
TIMING_RETRIES = 1
"""Reruns of a script that failed on timing only (:func:`run_with_timing_retry`)."""
AGENT_NICE = -10
"""Scheduling priority of the agent and of the packet reader (see docs/drill-linux.md)."""
PEER_NETWORK6 = "2001:db8:1::/64"
"""Routed to the TUN device for IPv6 scripts (the peer is 2001:db8:1::2)."""
PREFIX_LENGTH6 = 64
DEFAULT_MAX_WAIT = 300.0
"""Default longest single wait (s) of ``wait_until`` / ``next_outbound``."""
READ_SIZE = 65535 + 64
"""Bytes asked of each read of the TUN fd (a 64 KiB GSO packet and its vnet header)."""

DEFAULT_SYSCTLS: tuple[tuple[str, str, str], ...] = (
    # name, value, why
    ("net.ipv6.conf.all.disable_ipv6", "1", "no IPv6 chatter (RS, MLD) on the device"),
    ("net.ipv6.conf.default.disable_ipv6", "1", "... also for tun0, created afterwards"),
    ("net.ipv4.tcp_timestamps", "1", "RFC 7323 timestamps, random per-connection offset"),
    ("net.ipv4.tcp_sack", "1", "RFC 2018 SACK"),
    ("net.ipv4.tcp_dsack", "1", "RFC 2883 D-SACK (packetdrill)"),
    ("net.ipv4.tcp_window_scaling", "1", "RFC 7323 window scaling"),
    ("net.ipv4.tcp_ecn", "0", "no ECN (packetdrill); kernel default 2 answers ECN SYNs"),
    (
        "net.ipv4.tcp_rmem",
        "4096 131072 6291456",
        "kernel defaults: SYN-ACK win 65160, wscale 7 (a new netns copies the host's values)",
    ),
    ("net.ipv4.tcp_wmem", "4096 16384 4194304", "kernel defaults"),
    (
        "net.ipv4.tcp_congestion_control",
        "reno",
        "RFC 5681 like tcpstack's NewReno (packetdrill uses cubic; hosts may have bbr, "
        "which paces and is copied into new namespaces)",
    ),
    ("net.ipv4.tcp_syn_retries", "5", "packetdrill"),
    ("net.ipv4.tcp_synack_retries", "5", "packetdrill"),
    (
        "net.ipv4.tcp_syn_linear_timeouts",
        "0",
        "SYN retransmissions back off exponentially (RFC 6298 5.5); 6.x default 4 = linear 1 s",
    ),
    ("net.ipv4.tcp_early_retrans", "0", "no tail loss probes (TLP): RTO as in RFC 6298"),
    ("net.ipv4.tcp_frto", "2", "packetdrill / kernel default"),
    ("net.ipv4.tcp_reordering", "3", "dupthresh 3 (RFC 5681)"),
    ("net.ipv4.tcp_slow_start_after_idle", "1", "RFC 5681 4.1 restart window (kernel default)"),
    ("net.ipv4.tcp_autocorking", "0", "each write() goes out at once"),
    ("net.ipv4.tcp_no_metrics_save", "1", "no RTT/ssthresh cache between connections"),
    ("net.ipv4.tcp_comp_sack_nr", "0", "no SACK compression: one (dup)ACK per segment"),
    ("net.ipv4.tcp_invalid_ratelimit", "0", "ACK every unacceptable segment (no 500 ms limit)"),
    ("net.ipv4.tcp_syncookies", "1", "packetdrill / kernel default"),
    ("net.ipv4.tcp_tso_win_divisor", "3", "packetdrill / kernel default"),
    ("net.ipv4.tcp_fastopen", "0", "no TCP Fast Open"),
)
"""The sysctls set in the namespace, with the reason for each."""


def linux_unavailable_reason() -> str | None:
    """Why the Linux target cannot run here (one line), or None."""
    if not sys.platform.startswith("linux"):
        return "the linux target needs Linux"
    if os.geteuid() != 0:
        return "the linux target needs root (network namespaces and /dev/net/tun)"
    if not os.path.exists("/dev/net/tun"):
        return "the linux target needs /dev/net/tun (load the 'tun' module)"
    if shutil.which("ip") is None:
        return "the linux target needs the 'ip' command (iproute2)"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "the linux target needs the pyroute2 package"
    return None


def run_with_timing_retry(
    run: Callable[[], DrillResult], retries: int = TIMING_RETRIES
) -> tuple[DrillResult, int]:
    """Run a script on the Linux target; rerun it when it failed on timing only.

    ``run`` makes one complete run (a fresh namespace each time: nothing of a run
    survives into the next, so a rerun is always safe). A run that failed with a
    ``timing_error`` (a packet or a return too early or too late: what a loaded
    machine causes) is run again, at most ``retries`` times; any other failure
    (a wrong packet, a wrong result) is final at once. Returns the last result
    and the number of reruns made; a result that passed after a rerun should be
    reported as "passed on retry" (see docs/drill-linux.md).
    """
    result = run()
    reruns = 0
    while not result.passed and result.timing_error is not None and reruns < retries:
        reruns += 1
        result = run()
    return result, reruns


# -- the target ------------------------------------------------------------------


IPV6_SYSCTLS: tuple[tuple[str, str, str], ...] = (
    ("net.ipv6.conf.all.disable_ipv6", "0", "IPv6 scripts (--ip_version=ipv6)"),
    ("net.ipv6.conf.default.disable_ipv6", "0", "... also on tun0"),
    ("net.ipv6.conf.default.accept_dad", "0", "2001:db8::1 usable at once"),
    ("net.ipv6.conf.default.router_solicitations", "0", "no RS on the device"),
)
"""Replacing the IPv6 part of :data:`DEFAULT_SYSCTLS` when the script's packets are IPv6."""


PACKET_OUTGOING = 4
"""``sll_pkttype`` of a packet the host sends (``linux/if_packet.h``)."""
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("=qq")
_TIMESTAMP_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


class _StillBlocked(DrillError):
    """A call did not return within the time it was given."""


def _is_tcp(pkt: bytes) -> bool:
    """An IPv4 or IPv6 TCP packet (IPv6: TCP as the first next header)."""
    if len(pkt) >= 20 and pkt[0] >> 4 == 4:
        return pkt[9] == socket.IPPROTO_TCP
    return len(pkt) >= 40 and pkt[0] >> 4 == 6 and pkt[6] == socket.IPPROTO_TCP


def _int_option(options: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = int(raw, 0)
    except ValueError:
        raise DrillError(f"--{key}={raw}: not a number") from None
    if not low <= value <= high:
        raise DrillError(f"--{key}={raw}: the linux target accepts {low}..{high}")
    return value


class _Pending:
    """A call running in the agent (:class:`~tcpstack.harness.drill.target.PendingCall`)."""

    def __init__(self, target: LinuxTarget, rid: int, call: Syscall, kind: str | None):
        self._target = target
        self.rid = rid
        self.call = call
        self.kind = kind
        self._result: SyscallResult | None = None
        self.fd: int | None = None
        """The script fd the call works on (for a diagnosis), if any."""

    def result(self) -> SyscallResult | None:
        """The outcome once the call has returned, else None (never blocks).

        Raises:
            DrillError: the agent died or rejected the call.
        """
        if self._result is None:
            resp = self._target._take_response(self.rid)
            if resp is not None:
                self._result = self._target._finish(self, resp)
        return self._result

    def wait(self, timeout: float) -> SyscallResult:
        """Block until the call returns (at most ``timeout`` seconds)."""
        if self._result is None:
            resp = self._target._wait_response(self.rid, timeout, self.call)
            self._result = self._target._finish(self, resp)
        return self._result


class LinuxTarget:
    """The Linux kernel's TCP in a private network namespace (see the module docs).

    Args:
        sysctls: extra or overriding sysctls (``{"net.ipv4.tcp_sack": "0"}``);
            these must exist and be accepted.
        max_block: longest wait (s) of :meth:`syscall` for a blocking call.
        max_wait: longest single wait (s) of :meth:`wait_until` and
            :meth:`next_outbound`.
        offload: segmentation and checksum offload on the TUN device (as
            packetdrill's); None: the script's ``tso`` option, by default on for a
            script written for packetdrill (one that runs shell commands).

    Attributes:
        netns: the namespace's name once started.
        sysctls_applied: each sysctl's value read back (None: not in this kernel).
        packets: every packet injected (``"<"``) and captured (``">"``) with
            its time, for a pcap.
        ignored: packets captured that are not IPv4 TCP (not returned).
        inject_errors: injected packets the kernel refused (treated as lost).
    """

    name = "linux"
    default_tolerance = 0.020
    """Timing tolerance (seconds) when neither the script nor the command line
    sets one: the real kernel's timers and the agent's round trip jitter by a
    few milliseconds, so packetdrill's 4 ms fails scripts at random here."""
    default_tolerance_percent = 12.5
    """packetdrill's default ``--tolerance_percent``: an outbound packet may also be
    late (or early) by 12.5% of the time since the previous event, since the kernel's
    timer wheel rounds a long timer up (a 1 s SYN retransmission comes up to ~60 ms
    late)."""
    FEATURES: frozenset[str] = frozenset({"ICMP packets", "sendfile", "splice",
                                           "TCP Fast Open", "zero-copy notifications",
                                           "transmit timestamps"})
    """The optional features (:mod:`~tcpstack.harness.drill.features`) this target runs."""

    def __init__(
        self,
        *,
        sysctls: Mapping[str, str | int] | None = None,
        max_block: float = DEFAULT_MAX_BLOCK,
        max_wait: float = DEFAULT_MAX_WAIT,
        offload: bool | None = None,
    ) -> None:
        self.extra_sysctls = {k: str(v) for k, v in (sysctls or {}).items()}
        self.max_block = float(max_block)
        self.max_wait = float(max_wait)
        self.netns: str | None = None
        self.sysctls_applied: dict[str, str | None] = {}
        self.packets: list[tuple[float, str, bytes]] = []
        self.ignored = 0
        self.inject_errors = 0
        self._t0 = time.monotonic()
        self._started = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._tun_fd = -1
        self._wake_r = -1
        self._wake_w = -1
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._outbound: collections.deque[tuple[float, bytes]] = collections.deque()
        self._responses: dict[int, dict[str, Any]] = {}
        self._agent_gone: str | None = None
        self._pump_error: str | None = None
        self._next_id = 1
        self.endpoints = Endpoints()
        self.mtu = MTU
        self.gso_mss: int | None = None
        self._offload_arg = offload
        self.offload = True if offload is None else offload
        self._script_end: float | None = None
        self._restore_nice: tuple[int, int] | None = None
        self._init_command: str | None = None
        self._clock_used = False
        self._capture: socket.socket | None = None
        self.packetdrill_environment = False
        """True for a script with shell commands: it sets up the kernel itself (as
        packetdrill's ``defaults.sh`` does), so only the IPv6 sysctls of
        :data:`DEFAULT_SYSCTLS` are applied and the rest keep the values of a new
        namespace, as under packetdrill."""
        self.oversized = 0
        """Packets captured larger than the MTU (TSO/GSO segments)."""
        self._fast_open = False
        self._global_keys: tuple[bytes, ...] = ()
        self._socket_keys: list[tuple[bytes, ...]] = []

    # -- life cycle -------------------------------------------------------

    def prepare(self, script: Script) -> None:
        """Read the script's options: ``ip_version``, ``bind_port``, ``connect_port``,
        ``mtu`` (the device's), ``mss`` (inbound segments larger than it are injected
        as GSO packets of that size, as by packetdrill) and ``tso`` (``0``: a device
        without offloads); see ``Target.prepare``.

        Raises:
            DrillError: an option value this target cannot honour.
            DrillUnsupported: the script uses a feature of
                :mod:`~tcpstack.harness.drill.features` not in :attr:`FEATURES`.
        """
        if self._started:
            raise DrillError("prepare() must come before start()")
        require_features(script, self.FEATURES, self.name)
        self._fast_open = "TCP Fast Open" in script_features(script)
        self.script = script
        options = script.options
        self.endpoints = Endpoints.from_options(options)
        self.mtu = _int_option(options, "mtu", MTU, 1280 if self.endpoints.wire_ipv6 else 576,
                               65535)
        mss = options.get("mss")
        self.gso_mss = None if mss is None else _int_option(options, "mss", 0, 1, 65535)
        if self._offload_arg is None:
            # packetdrill's TUN has offload; drill's own scripts expect one MSS per segment.
            default = "1" if script.packetdrill_environment else "0"
            self.offload = options.get("tso", default) not in ("0", "off", "false")
        self._script_end = script_duration(script)
        self.packetdrill_environment = script.packetdrill_environment
        first = script.events[0].action if script.events else None
        self._init_command = first.command if isinstance(first, Shell) else None

    def shell(self, command: str, cwd: str) -> ShellResult:
        """Run a script's backtick command with ``/bin/sh -c`` in the namespace, from ``cwd``.

        As packetdrill: the namespace's own ``net.*`` sysctls can be changed
        (``sysctl -q net.ipv4.tcp_sack=0``, ``../common/defaults.sh``), the TUN
        device is ``tun0`` (``tc qdisc add dev tun0 root pfifo`` works), the
        environment has ``PACKETDRILL_PID``. Host-wide settings cannot be
        changed: ``/proc/sys`` is read-only but for ``/proc/sys/net`` in the
        agent's mount namespace, so such a write fails (non-zero status, with a
        line saying why). At most :data:`SHELL_TIMEOUT` seconds (then status 124).

        The script's init command (a shell command as its first event, run
        before any packet or call) does not count in the script's time:
        packetdrill runs it before its clock starts, so the clock (:meth:`now`)
        restarts at 0 when it returns (``defaults.sh`` takes ~0.1 s).

        Raises:
            DrillError: the target is not running.
        """
        init = command == self._init_command and not self._clock_used
        resp = self._request({"op": "shell", "command": command, "cwd": cwd,
                              "timeout": SHELL_TIMEOUT}, SHELL_TIMEOUT + 10.0, "shell")
        if self._fast_open:  # the command may have set net.ipv4.tcp_fastopen_key
            self._read_fastopen_keys()
        if init:  # packetdrill runs its init command before its clock starts
            self._init_command = None
            self._t0 = time.monotonic()
        return ShellResult(status=int(resp["status"]), output=str(resp.get("output", "")))

    def fastopen_cookie(self, written: bytes | None) -> bytes:
        """The cookie to send or expect for a script's Fast Open cookie
        (:class:`~tcpstack.harness.drill.fastopen.CookieTranslator`).

        The keys in force: those the script set with ``setsockopt(TCP_FASTOPEN_KEY)``
        (the last first), then the namespace's
        (``/proc/sys/net/ipv4/tcp_fastopen_key``, read at the start, after each shell
        command, and after the ``listen()`` that makes the kernel choose one).
        ``None`` (``TFO_COOKIE``) is the cookie the first of them gives for drill's
        peer and this side; a cookie one of them gives for the script's own
        addresses (:func:`~tcpstack.harness.drill.fastopen.script_addresses`) is
        mapped to drill's addresses.

        Raises:
            DrillError: no key is known for ``TFO_COOKIE``.
        """
        keys = [k for keys in reversed(self._socket_keys) for k in keys]
        keys += self._global_keys
        ep = self.endpoints
        wire6 = ep.wire_ipv6
        target = (ipaddress.ip_address(ep.remote6 if wire6 else ep.remote),
                  ipaddress.ip_address(ep.local6 if wire6 else ep.local))
        return translate_cookie(written, keys, script_addresses(self.script.options), target)

    def _note_fastopen_keys(self, call: Syscall) -> None:
        """After a successful call: remember a key ``setsockopt(TCP_FASTOPEN_KEY)`` set;
        after ``listen()`` or ``setsockopt(TCP_FASTOPEN)`` read the namespace's keys
        again if they were unset (zeros): the kernel makes a random key then."""
        keys = fastopen_key(call)
        if keys:
            self._socket_keys.append(keys)
        elif not any(any(k) for k in self._global_keys) and (
            call.name == "listen" or (call.name == "setsockopt" and len(call.args) > 2
                                      and call.args[2].strip() == "TCP_FASTOPEN")
        ):
            self._read_fastopen_keys()

    def _read_fastopen_keys(self) -> None:
        resp = self._request({"op": "shell", "command": f"cat {FASTOPEN_KEY_FILE}",
                              "cwd": "/", "timeout": 10.0}, 20.0, "shell")
        try:
            self._global_keys = parse_keys(str(resp.get("output", "")))
        except ValueError:
            self._global_keys = ()

    def tcp_info(self, fd: int) -> Mapping[str, int]:
        """``getsockopt(fd, IPPROTO_TCP, TCP_INFO)`` decoded (:mod:`.linux_tcpinfo`).

        Raises:
            DrillError: ``fd`` is not an open TCP socket of the script.
        """
        resp = self._request({"op": "tcp_info", "fd": int(fd)}, 10.0, "TCP_INFO")
        if resp.get("info") is None:
            raise DrillError(f"TCP_INFO of fd {fd}: {resp.get('errno') or 'not available'}")
        return {str(k): int(v) for k, v in resp["info"].items()}

    def _request(self, req: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        with self._cond:
            rid = self._next_id
            self._next_id += 1
        req["id"] = rid
        self._send(req)
        resp = self._wait_response(rid, timeout, what)
        if "error" in resp:
            raise DrillError(f"linux agent: {resp['error']}")
        return resp

    def start(self) -> None:
        """Create the namespace, the agent and the device.

        Raises:
            DrillError: not available here (one-line reason) or setup failed;
                nothing is left behind.
        """
        if self._started:
            raise DrillError("the linux target was started already")
        self._started = True
        reason = linux_unavailable_reason()
        if reason is not None:
            raise DrillError(reason)
        atexit.register(self.close)
        try:
            self._setup()
            self._raise_priority()  # after the agent was started: it sets its own
        except DrillError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise DrillError(f"linux target setup failed: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _raise_priority(self) -> None:
        """Run the calling thread (the one that drives the script: it injects the
        peer's packets and starts the calls) at :data:`AGENT_NICE` until
        :meth:`close`, like the agent and the packet reader; best effort."""
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            before = os.getpriority(os.PRIO_PROCESS, tid)
            if before > AGENT_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, AGENT_NICE)
                self._restore_nice = (tid, before)

    def _setup(self) -> None:
        from ....drivers.netns import NetnsError, create_netns, exec_argv

        name = f"{NETNS_PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
        self.netns = name  # before creating: close() deletes it whatever happens next
        try:
            create_netns(name)
        except NetnsError as exc:
            raise DrillError(f"cannot create a network namespace: {exc}") from None

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ctl = parent
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        with child:
            argv = [sys.executable, "-m", AGENT_MODULE, "--fd", str(child.fileno())]
            if shutil.which("nice") is not None:
                argv = ["nice", "-n", str(AGENT_NICE), *argv]
            self._proc = subprocess.Popen(
                exec_argv(name, argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(child.fileno(),),
                env=env,
                start_new_session=True,  # Ctrl-C reaches us only; close() stops it
            )

        defaults = DEFAULT_SYSCTLS
        if self.packetdrill_environment:  # as packetdrill: the namespace's own defaults
            defaults = tuple(d for d in DEFAULT_SYSCTLS if d[0].startswith("net.ipv6."))
        sysctls: dict[str, tuple[str, bool]] = {n: (v, False) for n, v, _ in defaults}
        ipv6 = self.endpoints.wire_ipv6
        if ipv6:
            sysctls.update({n: (v, False) for n, v, _ in IPV6_SYSCTLS})
        sysctls.update({n: (v, True) for n, v in self.extra_sysctls.items()})
        self._send(
            {
                "id": 0,
                "op": "setup",
                "ifname": IFNAME,
                "address": f"{LOCAL_ADDRESS}/{PREFIX_LENGTH}",
                "routes": [PEER_NETWORK],
                "address6": f"{LOCAL_ADDRESS6}/{PREFIX_LENGTH6}" if ipv6 else None,
                "routes6": [PEER_NETWORK6] if ipv6 else [],
                "mtu": self.mtu,
                "offload": self.offload,
                "sysctls": [[n, v, req] for n, (v, req) in sysctls.items()],
            }
        )
        reply, fds, rest = self._read_setup_reply(parent)
        if not reply.get("ok"):
            for fd in fds:
                os.close(fd)
            raise DrillError(f"linux target setup failed: {reply.get('error', 'unknown error')}")
        if len(fds) not in (1, 2):
            for fd in fds:
                os.close(fd)
            raise DrillError("linux target setup failed: the agent sent no TUN device")
        self._tun_fd = fds[0]
        if len(fds) == 2:
            self._capture = socket.socket(fileno=fds[1])
            self._capture.setblocking(False)
        self.sysctls_applied = dict(reply.get("sysctls", {}))
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._t0 = time.monotonic()
        self._spawn(self._pump_packets, "drill-linux-packets")
        self._spawn(lambda: self._pump_control(rest), "drill-linux-control")
        if self._fast_open:
            self._read_fastopen_keys()
            self._t0 = time.monotonic()

    def _read_setup_reply(self, sock: socket.socket) -> tuple[dict[str, Any], list[int], bytes]:
        buf = b""
        fds: list[int] = []
        deadline = time.monotonic() + SETUP_TIMEOUT
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DrillError(
                    f"linux target setup failed: no answer from the agent within "
                    f"{SETUP_TIMEOUT:.0f} s{self._agent_stderr_hint()}"
                )
            sock.settimeout(min(remaining, 0.5))
            try:
                data, new_fds, _flags, _addr = socket.recv_fds(sock, 65536, 4)
            except TimeoutError:
                continue
            finally:
                sock.settimeout(None)
            fds.extend(new_fds)
            if not data:
                raise DrillError(
                    f"linux target setup failed: the agent exited{self._agent_stderr_hint()}"
                )
            buf += data
        line, _, rest = buf.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError:
            raise DrillError(f"linux target setup failed: bad agent reply {line[:200]!r}") from None
        return reply, fds, rest

    def _agent_stderr_hint(self) -> str:
        text = self.agent_stderr().strip()
        if not text:
            return ""
        return ": " + text.splitlines()[-1][:300]

    def agent_stderr(self) -> str:
        """What the agent wrote on stderr so far (for diagnostics)."""
        f = self._stderr
        if f is None:
            return ""
        try:
            f.seek(0)
            return f.read()[-8000:].decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def _spawn(self, fn: Any, name: str) -> None:
        thread = threading.Thread(target=fn, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        """Close the sockets, stop the agent, remove the device and the namespace.

        Safe to call more than once, and after a failed :meth:`start`.

        Raises:
            DrillError: the namespace could not be removed (its name is given).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        restore, self._restore_nice = self._restore_nice, None
        if restore is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, *restore)
        try:
            self._stop_threads_and_agent()
        finally:
            try:
                self._delete_netns()
            finally:
                if self._stderr is not None:
                    self._stderr.close()
                    self._stderr = None

    def _stop_threads_and_agent(self) -> None:
        self._stopping = True
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError, DrillError):
                    self._send({"id": -2, "op": "quit"})
                try:
                    proc.wait(QUIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(QUIT_TIMEOUT)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(QUIT_TIMEOUT)
            if self._ctl is not None:
                with contextlib.suppress(OSError):
                    self._ctl.shutdown(socket.SHUT_RDWR)
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join(2.0)
            if self._ctl is not None:
                self._ctl.close()
            if self._capture is not None:
                self._capture.close()
                self._capture = None
            for attr in ("_tun_fd", "_wake_r", "_wake_w"):
                fd = getattr(self, attr)
                if fd >= 0:
                    setattr(self, attr, -1)
                    with contextlib.suppress(OSError):
                        os.close(fd)
            with self._cond:
                if self._agent_gone is None:
                    self._agent_gone = "the linux target is closed"
                self._cond.notify_all()

    def _delete_netns(self) -> None:
        name = self.netns
        if name is None:
            return
        from ....drivers.netns import NetnsError, delete_netns, netns_exists

        last: Exception | None = None
        for attempt in range(5):
            try:
                delete_netns(name)
                if not netns_exists(name):
                    break
            except (NetnsError, OSError, subprocess.SubprocessError) as exc:
                last = exc
            time.sleep(0.05 * (attempt + 1))
        else:
            raise DrillError(f"could not delete network namespace {name}: {last}")

    # -- time and packets ------------------------------------------------

    def now(self) -> float:
        """Seconds since :meth:`start` finished (monotonic clock)."""
        return time.monotonic() - self._t0

    def wait_until(self, t: float) -> None:
        """Sleep until target time ``t`` (at once if it is past).

        Raises:
            DrillError: ``t`` is more than ``max_wait`` seconds away.
        """
        delay = t - self.now()
        if delay > self.max_wait:
            raise DrillError(
                f"the script waits {delay:.1f} s; the linux target waits at most "
                f"{self.max_wait:.0f} s at a time"
            )
        for _ in range(1000):  # bounded: sleep() may return a little early
            delay = t - self.now()
            if delay <= 0:
                return
            time.sleep(delay)

    def inject(self, packet: bytes) -> None:
        """Write one raw IP packet (IPv4 or IPv6) to the TUN device, as if it came from the peer.

        With offloads on (the default) it gets a ``virtio_net_hdr``, marked GSO
        when the script set ``--mss`` and the payload is larger (packetdrill's
        behaviour).

        A packet the kernel refuses at the device (EINVAL: not IP at all) is
        counted in :attr:`inject_errors` and otherwise lost, like on a wire.

        Raises:
            DrillError: not started, or the device is gone.
        """
        if self._tun_fd < 0:
            raise DrillError("the linux target is not running")
        self._clock_used = True
        t = self.now()
        frame = inbound_header(packet, self.gso_mss) + packet if self.offload else packet
        try:
            os.write(self._tun_fd, frame)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EMSGSIZE, errno.EFAULT):
                self.inject_errors += 1
                return
            raise DrillError(f"cannot write to the TUN device: {exc.strerror}") from None
        self.packets.append((t, "<", bytes(packet)))

    def next_outbound(self, deadline: float) -> tuple[float, bytes] | None:
        """The next IPv4 TCP packet the kernel sent, with the time it was read.

        Waits until target time ``deadline`` at most (and at most ``max_wait``
        seconds). None if nothing was sent by ``deadline``: a packet captured
        later stays queued for the next call.
        """
        limit = min(deadline, self.now() + self.max_wait)
        with self._cond:
            for _ in range(100_000):  # bounded: each wait ends by ``limit``
                if self._outbound:
                    if self._outbound[0][0] > deadline:
                        return None
                    return self._outbound.popleft()
                if self._pump_error is not None:
                    raise DrillError(self._pump_error)
                remaining = limit - self.now()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        return None

    def _pump_packets(self) -> None:
        """Hand out what the kernel sends, stamped with the time it left.

        With the capture socket (an ``AF_PACKET`` socket on ``tun0``, as
        packetdrill captures) the time is the kernel's own timestamp of the
        transmission (``SO_TIMESTAMPNS``), so a reader scheduled late on a busy
        machine still reports the true time; the TUN device is then only
        drained. Without it, the time the device was read.
        """
        with contextlib.suppress(OSError):  # best effort: see docs/drill-linux.md
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), AGENT_NICE)
        fd, wake, cap = self._tun_fd, self._wake_r, self._capture
        watched = [fd, wake] + ([cap.fileno()] if cap is not None else [])
        while not self._stopping:
            try:
                ready, _, _ = select.select(watched, [], [], 1.0)
            except (OSError, ValueError):
                break
            if wake in ready or self._stopping:
                break
            batch: list[tuple[float, bytes]] = []
            try:
                if fd in ready:
                    self._read_device(fd, batch if cap is None else None)
                if cap is not None and cap.fileno() in ready:
                    self._read_capture(cap, batch)
            except OSError as exc:
                if not self._stopping:
                    with self._cond:
                        self._pump_error = f"reading the TUN device: {exc.strerror}"
                        self._cond.notify_all()
                return
            if batch:
                with self._cond:
                    self._outbound.extend(batch)
                    self._cond.notify_all()

    def _read_device(self, fd: int, batch: list[tuple[float, bytes]] | None) -> None:
        """Read what is queued on the device; keep it in ``batch`` (None: only drain)."""
        for _ in range(256):
            try:
                frame = os.read(fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            if batch is not None:
                pkt = split_outbound(frame)[0] if self.offload else frame
                self._keep(self.now(), pkt, batch)

    def _read_capture(self, cap: socket.socket, batch: list[tuple[float, bytes]]) -> None:
        for _ in range(256):
            try:
                data, ancdata, _flags, addr = cap.recvmsg(READ_SIZE, _TIMESTAMP_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            if addr[2] != PACKET_OUTGOING:
                continue
            offset = time.time() - time.monotonic()
            t = self.now()
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    t = min(t, sec + nsec / 1e9 - offset - self._t0)
            self._keep(t, with_tcp_checksum(data), batch)

    def _keep(self, t: float, pkt: bytes, batch: list[tuple[float, bytes]]) -> None:
        self.packets.append((t, ">", pkt))
        if _is_tcp(pkt):
            if len(pkt) > self.mtu:
                self.oversized += 1
            batch.append((t, pkt))
        else:
            self.ignored += 1

    # -- system calls ----------------------------------------------------

    def syscall(self, call: Syscall) -> SyscallResult:
        """Run ``call`` on the real socket; a blocking call really blocks, but not for
        long: at most until the script's own time (:func:`.linux_diagnose.script_duration`,
        after :meth:`prepare`) plus :data:`BLOCK_MARGIN`, and never more than
        ``max_block`` seconds. Then DrillError says what the socket waits for
        (:func:`.linux_diagnose.blocked_message`, from its TCP_INFO).

        Raises:
            DrillError: unsupported call/argument, agent failure, or still blocked.
        """
        pending = self.start_syscall(call)
        limit = self.max_block
        if self._script_end is not None:
            limit = min(limit, max(0.0, self._script_end - self.now()) + BLOCK_MARGIN)
        try:
            return pending.wait(limit)
        except _StillBlocked:
            pass
        info: Mapping[str, int] | None = None
        fd = pending.fd
        if fd is not None:
            with contextlib.suppress(DrillError, KeyError, ValueError):
                info = self.tcp_info(fd)
        raise DrillError(
            f"{call.name}() still blocked {limit:.1f} s later on the linux target: "
            + blocked_message(call.name, info)
        )

    def start_syscall(self, call: Syscall) -> _Pending:
        """Start ``call`` in its own agent thread; poll the returned object's ``result()``.

        Raises:
            DrillError: unsupported call/argument or the agent is gone.
        """
        req, kind = build_request(call, self.endpoints)
        self._clock_used = True
        with self._cond:
            rid = self._next_id
            self._next_id += 1
        req["id"] = rid
        self._send(req)
        pending = _Pending(self, rid, call, kind)
        fd = req.get("fd", req.get("epfd"))
        pending.fd = int(fd) if isinstance(fd, int) and call.name != "epoll_wait" else None
        return pending

    def _send(self, obj: dict[str, Any]) -> None:
        ctl = self._ctl
        if ctl is None or (self._closed and obj.get("op") != "quit"):
            raise DrillError("the linux target is not running")
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        try:
            with self._send_lock:
                ctl.sendall(data)
        except OSError as exc:
            raise DrillError(
                f"the linux agent is gone ({exc.strerror}){self._agent_stderr_hint()}"
            ) from None

    def _pump_control(self, buf: bytes) -> None:
        ctl = self._ctl
        assert ctl is not None
        reason = "the linux agent exited"
        for _ in range(10**12):  # bounded by the agent's lifetime
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                try:
                    msg: dict[str, Any] = json.loads(line)
                except ValueError:
                    continue
                with self._cond:
                    self._responses[int(msg.get("id", -1))] = msg
                    self._cond.notify_all()
            try:
                data = ctl.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
        with self._cond:
            if self._agent_gone is None:
                self._agent_gone = reason + self._agent_stderr_hint()
            self._cond.notify_all()

    def _take_response(self, rid: int) -> dict[str, Any] | None:
        with self._cond:
            resp = self._responses.pop(rid, None)
            if resp is None and self._agent_gone is not None:
                raise DrillError(self._agent_gone)
            return resp

    def _wait_response(self, rid: int, timeout: float, what: Syscall | str) -> dict[str, Any]:
        end = time.monotonic() + timeout
        with self._cond:
            for _ in range(10**9):  # bounded: each wait ends by ``end``
                resp = self._responses.pop(rid, None)
                if resp is not None:
                    return resp
                if self._agent_gone is not None:
                    raise DrillError(self._agent_gone)
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        if isinstance(what, str):
            raise DrillError(f"the linux agent did not answer the {what} request within "
                             f"{timeout:g} s")
        raise _StillBlocked(f"{what.name}() still blocked after {timeout:g} s on the linux target")

    def _finish(self, pending: _Pending, resp: dict[str, Any]) -> SyscallResult:
        if "error" in resp:
            raise DrillError(f"linux agent: {resp['error']}")
        value = int(resp["value"])
        err = resp.get("errno")
        returned_at = float(resp["t"]) - self._t0
        outs = outputs(pending.kind, resp.get("out"), self._t0) if value >= 0 else {}
        if value == 0 and self._fast_open:
            self._note_fastopen_keys(pending.call)
        return SyscallResult(
            value=value,
            errno=None if err is None else str(err),
            returned_at=returned_at,
            outputs=outs,
        )

    # -- context manager ---------------------------------------------------

    def __enter__(self) -> LinuxTarget:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
