"""Run a parsed drill script against a target and check what the TCP does.

:func:`run_script` executes the events in order, packetdrill style:

* an inbound packet (``<``) is built from the script, with sequence numbers
  converted from relative to absolute, and injected at its time;
* a system call runs at its time; its return value (and errno, and the
  values getsockopt/poll write back) must be as written. A call written
  ``+0...0.5`` is started and must return at the second time, while the
  next lines run;
* an outbound packet (``>``) is the next packet the TCP sends: flags,
  sequence numbers, length, ack, window (when written), urgent pointer
  (when written) and options (``<...>`` accepts any) must match, and it must
  leave within ``tolerance`` of its time (``*``: any time);
* a packet the TCP sends before an event's time when the script expects none
  is an error ("unexpected packet"), except after the last line: the runner
  stops there, as packetdrill does.

The first failure stops the script.

Shell commands (backticks) run through ``target.shell`` in the script's
directory at their time; a non-zero status fails the script with the command
and its output, as in packetdrill. ``%{ }%`` blocks take a ``TCP_INFO``
snapshot (``target.tcp_info``) of the socket under test when the script
reaches them (the socket last returned by ``socket()`` or ``accept()``, as
packetdrill's "socket under test") and run at the end, after the last event,
in one restricted namespace (:mod:`.pycode`).

IP version (``--ip_version``): ``ipv4`` (default) and ``ipv4-mapped-ipv6``
put IPv4 on the wire (192.0.2.1, 198.51.100.2); ``ipv6`` puts IPv6 packets
(40-byte header, TCP checksum over the IPv6 pseudo-header) between
:data:`~tcpstack.harness.drill.target.LOCAL_ADDRESS6` and
:data:`~tcpstack.harness.drill.target.REMOTE_ADDRESS6`. An ECN mark written
on a packet (``[ect0]``) sets the inbound packet's ECN field and is checked
on an outbound one.

File descriptors (packetdrill's ``CHECK_FD``): the number a script writes as
the result of ``socket()``, ``accept()``, ``accept4()`` or ``epoll_create()``
is a name, not a value to compare. The call passes when the target returns
an fd (any) where the script expects one; the runner then maps the script's
number to the target's in every later call's fd arguments (the first
argument, ``epoll_ctl``'s third, ``poll``'s ``fd=`` fields). An fd the script
never named is passed through unchanged (so ``close(99) = -1 EBADF`` works).

Segmentation offload: an outbound segment longer than the MSS (as packetdrill
sees from its TUN device with TSO/GSO) is compared as the one segment it is.
Conversely, when a script expects more payload than the next packet carries,
the packets that continue it are joined first, as packetdrill does (unless
``--strict_segments``): see :meth:`_Run._aggregate`.

Time limits: a script that runs longer than ``timeout`` seconds of target
time (default :data:`DEFAULT_TIMEOUT`) or ``wall_timeout`` seconds of real
time fails, so that a suite never hangs.

Sequence numbers (packetdrill's convention): the script's peer uses
:data:`PEER_ISN` as its ISN; inbound ``seq`` is relative to it and inbound
``ack`` (and SACK edges) to the ISN of the TCP under test, learned from the
first SYN it sends (the SYN-ACK of a passive open, the SYN of an active
one; 0 until then). Outbound ``seq`` is relative to the tested TCP's ISN,
outbound ``ack`` and SACK edges to the peer's. As in packetdrill, the seq
written on the SYN that opens a connection (the first packet to a listener,
a SYN-ACK) is the peer's ISN (later peer numbers count from it), and the seq
written on the tested TCP's SYN names its ISN (not compared).

Timestamps: an inbound ``TS val`` is sent as written. An inbound ``TS ecr``
that equals the ``TS val`` written on an earlier outbound packet is replaced
by the value that packet really carried (packetdrill's mapping); other ecr
values are sent as written. On outbound packets the TS option's presence and
position are checked, not its values.

Times: ``0.1`` is seconds since the start; ``+0.1`` is relative to the
previous event: to its scheduled time when both are inbound packets,
otherwise to when it really happened (an outbound packet's send time, a
call's return, the start of a ``...`` call).

Ports: the tested side listens on :data:`~tcpstack.harness.drill.target.LOCAL_PORT`
(8080) and the peer connects from :data:`PEER_PORT` (the n-th connection to a
new ``listen()`` from ``PEER_PORT + n``, as packetdrill's peer takes a new port
for each); after the TCP under test sends a SYN (``connect()``), its source
port and the peer's port 8080 are used instead.

TCP Fast Open options (``FO``, ``FOEXP``) are built and compared with
:mod:`.fastopen`; a target with a ``fastopen_cookie`` method (the Linux
target) maps the script's cookies to its own addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from ...errors import MalformedPacket
from ...wire import (
    Flags,
    IPv4Header,
    IPv6Header,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    decode_packet,
    encode_packet,
)
from .args import EE_FIELDS, Cmsg, cmsg_defines, cmsgs_arg, pipe_arg
from .fastopen import (
    CookieTranslator,
    defines,
    option_matches,
    option_text,
    resolve_cookie,
    wire_option,
)
from .icmp import build_icmp, icmp_text, resolve_code
from .model import (
    DrillError,
    Event,
    IcmpSpec,
    PacketSpec,
    PythonBlock,
    Script,
    Shell,
    Syscall,
    TcpOptionSpec,
)
from .parse import (
    ERRNOS,
    SYMBOLS,
    epoll_events_arg,
    int_arg,
    list_arg,
    msghdr_arg,
    pollfds_arg,
    struct_arg,
)
from .pycode import Snapshot, run_blocks
from .target import (
    LOCAL_ADDRESS,
    LOCAL_ADDRESS6,
    LOCAL_PORT,
    REMOTE_ADDRESS,
    REMOTE_ADDRESS6,
    PendingCall,
    SyscallResult,
    Target,
)

__all__ = [
    "ANY_TIME_LIMIT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOLERANCE",
    "DEFAULT_WALL_TIMEOUT",
    "LATE_LOOKAHEAD",
    "NONBLOCKING_SLACK",
    "PEER_ISN",
    "PEER_PORT",
    "DrillResult",
    "Failure",
    "run_script",
    "spec_summary",
]

DEFAULT_TOLERANCE = 0.004
"""Default timing tolerance in seconds (packetdrill's default, 4 ms)."""

DEFAULT_TIMEOUT = 120.0
"""Default per-script limit in seconds of target time (virtual on tcpstack)."""

DEFAULT_WALL_TIMEOUT = 300.0
"""Default per-script limit in seconds of real time (what bounds the Linux target)."""

PEER_ISN = 1_000_000_000
"""The ISN of the script's peer: inbound ``seq`` values are relative to it."""

PEER_PORT = 40000
"""The peer's port for connections it opens to the tested side's listener."""

ANY_TIME_LIMIT = 60.0
"""How long (target seconds) an outbound packet timed ``*`` is waited for."""

LATE_LOOKAHEAD = 3.0
"""When an expected packet is missing, how much longer (target seconds) the runner
waits to report its real time in the timing error."""

NONBLOCKING_SLACK = 0.1
"""A call written without ``...`` must return at once: within this many seconds (or the
tolerance, if larger). Generous, since the Linux target's calls go through a helper
process; a call that really blocks is late by far more."""

_U32 = 0xFFFFFFFF
_LETTERS = {"F": Flags.FIN, "S": Flags.SYN, "R": Flags.RST, "P": Flags.PSH, ".": Flags.ACK,
            "U": Flags.URG, "E": Flags.ECE, "W": Flags.CWR}
_ECN_BITS = {"noecn": 0, "ect1": 1, "ect0": 2, "ce": 3}
_FD_RESULT_CALLS = frozenset({"socket", "accept", "accept4", "epoll_create", "epoll_create1",
                              "open"})
"""Calls whose result is an fd: compared as "an fd or not", then mapped."""
_NO_FD_FIRST_ARG = frozenset({"socket", "poll", "epoll_create", "epoll_create1", "open",
                              "pipe"})
_FD_ARGS = {"epoll_ctl": 2, "sendfile": 1, "splice": 2}
"""Calls with an fd as another argument than the first, by the index of that argument."""
_LIKELY_CAUSE = {
    "accept": "no connection completed the handshake (the peer's final ACK was not "
              "accepted, or the listener's backlog is full)",
    "accept4": "no connection completed the handshake",
    "connect": "the handshake did not complete (no SYN-ACK accepted, or the SYN was "
               "never answered)",
    "read": "no data or FIN arrived in order (a gap, or data outside the window)",
    "recv": "no data or FIN arrived in order (a gap, or data outside the window)",
    "recvfrom": "no data or FIN arrived in order",
    "recvmsg": "no data or FIN arrived in order",
    "readv": "no data or FIN arrived in order",
    "write": "the send buffer is full (the peer's window is closed or data is not "
             "acknowledged)",
    "send": "the send buffer is full (the peer's window is closed or data is not "
            "acknowledged)",
    "sendto": "the send buffer is full",
    "sendmsg": "the send buffer is full",
    "writev": "the send buffer is full",
    "close": "SO_LINGER waits for the FIN to be acknowledged",
    "poll": "none of the requested events became ready",
    "epoll_wait": "none of the requested events became ready",
}
"""What usually keeps a blocking call blocked, for the failure message."""

Log = Callable[[str], None]


@dataclass(frozen=True)
class Failure:
    """Why a script failed.

    Attributes:
        line: the script line (0 for problems not tied to a line).
        message: what went wrong, one line.
        expected: the expected packet or call (packets in tcpdump style,
            relative sequence numbers), or "".
        actual: what the target did, in the same form, or "".
        timing_error: for timing failures, actual minus expected time in
            seconds (None otherwise, and when nothing arrived).
    """

    line: int
    message: str
    expected: str = ""
    actual: str = ""
    timing_error: float | None = None


@dataclass(frozen=True)
class DrillResult:
    """The outcome of one script on one target.

    Attributes:
        path: the script.
        target: the target's name.
        passed: True when every event matched.
        failures: the failure that stopped the script (at most one: the
            first failure stops it), empty when passed.
        duration: target time the script took, seconds (virtual for tcpstack).
        wall_time: real time the run took, seconds.
        linux_deviation: the script's ``linux-deviation`` text, if any.
    """

    path: str
    target: str
    passed: bool
    failures: tuple[Failure, ...] = ()
    duration: float = 0.0
    wall_time: float = 0.0
    linux_deviation: str | None = None

    @property
    def failure(self) -> Failure | None:
        """The first failure, or None."""
        return self.failures[0] if self.failures else None

    @property
    def timing_error(self) -> float | None:
        """The timing error of the first failure, if it was one (seconds)."""
        return self.failures[0].timing_error if self.failures else None

    @property
    def expected_deviation(self) -> bool:
        """Failed on Linux, and the script documents why (``linux-deviation``)."""
        return not self.passed and self.target == "linux" and bool(self.linux_deviation)


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def run_script(
    script: Script,
    target: Target,
    *,
    tolerance: float | None = None,
    peer_isn: int = PEER_ISN,
    log: Log | None = None,
    timeout: float | None = None,
    wall_timeout: float | None = None,
    unexpected: Literal["fail", "defer"] = "fail",
) -> DrillResult:
    """Run ``script`` against ``target`` (started here and always closed).

    Args:
        script: the parsed script.
        target: a fresh target.
        tolerance: timing tolerance in seconds; None: the script's
            ``--tolerance_usecs`` option, else the target's
            ``default_tolerance`` if it has one, else :data:`DEFAULT_TOLERANCE`.
            An outbound packet's tolerance is at least ``--tolerance_percent``
            (else the target's ``default_tolerance_percent``, else 0) percent of
            the time since the previous event, as packetdrill's.
        peer_isn: the ISN of the script's peer.
        log: called with one line per event as it runs (``--verbose``).
        timeout: limit in seconds of target time (default :data:`DEFAULT_TIMEOUT`).
        wall_timeout: limit in seconds of real time (default
            :data:`DEFAULT_WALL_TIMEOUT`).
        unexpected: what a packet the script does not list does. ``"fail"``
            (drill's rule): sent while the script waits for an inbound packet or
            a call, it fails the script ("unexpected packet"). ``"defer"``
            (packetdrill's rule): it stays queued and is compared with the next
            ``>`` line, or never if none follows; public suites rely on this
            (they leave out the data segments of a bulk write).

    Raises:
        DrillError: the target could not be set up (from ``target.start()``).
    """
    if tolerance is None:
        usecs = script.options.get("tolerance_usecs")
        # A target on a real clock may need more slack than packetdrill's 4 ms
        # (the Linux kernel's timers and our agent process add jitter).
        default = getattr(target, "default_tolerance", DEFAULT_TOLERANCE)
        tolerance = int(usecs) / 1e6 if usecs else default
    run = _Run(script, target, tolerance, peer_isn % (1 << 32), log)
    percent = script.options.get("tolerance_percent")
    # packetdrill's tolerance_percent (12.5 by default there): on a real clock the
    # kernel's timer wheel fires a long timer late by up to about 1/8 of its length
    run.tol_percent = (float(percent) if percent
                       else getattr(target, "default_tolerance_percent", 0.0))
    started = time.monotonic()
    run.deadline = DEFAULT_TIMEOUT if timeout is None else timeout
    run.defer_unexpected = unexpected == "defer"
    run.wall_deadline = started + (DEFAULT_WALL_TIMEOUT if wall_timeout is None
                                   else wall_timeout)
    target.prepare(script)
    target.start()
    try:
        failure = run.run()
        duration = target.now()
    finally:
        target.close()
    return DrillResult(
        path=script.path,
        target=target.name,
        passed=failure is None,
        failures=(failure,) if failure else (),
        duration=duration,
        wall_time=time.monotonic() - started,
        linux_deviation=script.linux_deviation,
    )


@dataclass
class _Blocked:
    event: Event
    call: Syscall
    pending: PendingCall
    returns_at: float
    tol: float  # the tolerance of its return time (see tolerance_percent)


class _Run:
    def __init__(self, script: Script, target: Target, tolerance: float, peer_isn: int,
                 log: Log | None) -> None:
        self.script = script
        self.target = target
        self.tol = tolerance
        self.tol_percent = 0.0
        self.peer_isn = peer_isn
        self.local_isn: int | None = None
        self.listening = False  # a listen() since the last socket() and inbound packet
        self.connection_known = True  # the ports are those of the socket under test
        self.socket_at = 0.0  # when the last socket() returned
        self.passive_opens = 0  # connections the peer opened to a listener
        self.peer_syn = 0  # the seq the script wrote on the peer's last SYN
        self.local_syn = 0  # the seq the script wrote on the tested TCP's last SYN
        self.local_port = LOCAL_PORT
        self.remote_port = PEER_PORT
        self.ts_map: dict[int, int] = {}
        self.held: deque[tuple[float, bytes]] = deque()
        self.blocked: list[_Blocked] = []
        self.last_actual = 0.0
        self.last_event: Event | None = None
        self.last_start = 0.0
        # (script time as written, target time it started) of each event so far
        self.timeline: list[tuple[float, float]] = []
        self.log = log
        self.line = 0
        self.deadline = DEFAULT_TIMEOUT
        self.wall_deadline = math.inf
        self.socket_under_test: int | None = None
        self.fds: dict[int, int] = {}  # script fd -> target fd
        self.defer_unexpected = False
        self.snapshots: list[Snapshot] = []
        self.cwd = os.path.dirname(os.path.abspath(script.path))
        ipv6 = script.options.get("ip_version") == "ipv6"
        self.local_ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            LOCAL_ADDRESS6 if ipv6 else LOCAL_ADDRESS)
        self.remote_ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            REMOTE_ADDRESS6 if ipv6 else REMOTE_ADDRESS)

    # ------------------------------------------------------------------

    def run(self) -> Failure | None:
        try:
            for event in self.script.events:
                self.line = event.line
                self._check_time_limits(event)
                self._check_blocked(final=False)
                self._run_event(event)
                self.last_event = event
            self._check_blocked(final=True)
            code_failure = run_blocks(self.snapshots, self.script.path)
            if code_failure is not None:
                raise self._fail(f"error in Python code: {code_failure.message}",
                                 line=code_failure.line)
        except _Failed as failed:
            return failed.failure
        except DrillError as exc:
            return Failure(self.line, str(exc))
        except Exception as exc:  # a target's bug must not stop a suite run: report it
            return Failure(self.line, f"internal error in the {self.target.name} target or "
                           f"the runner: {type(exc).__name__}: {exc}")
        return None

    def _fail(self, message: str, *, line: int | None = None, expected: str = "",
              actual: str = "", timing_error: float | None = None) -> _Failed:
        return _Failed(Failure(self.line if line is None else line, message, expected, actual,
                               timing_error))

    def _check_time_limits(self, event: Event) -> None:
        now = self.target.now()
        if now > self.deadline:
            raise self._fail(f"script timeout: {now:.3f} s of target time passed before this "
                             f"line (limit {self.deadline:g} s; drill --timeout)")
        if time.monotonic() > self.wall_deadline:
            raise self._fail("script timeout: the real-time limit passed before this line "
                             "(drill --timeout)")

    def _say(self, t: float, line: int, text: str) -> None:
        if self.log is not None:
            self.log(f"{t:9.6f}  line {line:<4} {text}")

    def _times(self, event: Event) -> tuple[float, float, float]:
        """(start, end, base) of ``event`` in target time; base: what '+' is relative to."""
        timing = event.timing
        prev = self.last_event
        if (
            prev is not None
            and isinstance(prev.action, PacketSpec | IcmpSpec) and prev.action.direction == "<"
            and isinstance(event.action, PacketSpec | IcmpSpec)
            and event.action.direction == "<"
        ):
            base = self.last_start
        else:
            base = self.last_actual
        if timing.kind == "abs":
            return timing.start, timing.end, 0.0
        if timing.kind == "rel":
            return base + timing.start, base + timing.end, base
        return base, math.inf, base

    def _note_script_time(self, event: Event, start: float) -> None:
        """Record when ``event`` started (target time ``start``), with its time as
        written (``+`` relative to the previous line as written, as packetdrill anchors
        it), for :meth:`_live_time`."""
        written = self.timeline[-1][0] if self.timeline else 0.0
        if event.timing.kind == "abs":
            written = event.timing.start
        elif event.timing.kind == "rel":
            written += event.timing.start
        self.timeline.append((written, start))

    def _live_time(self, script_time: float) -> float:
        """The target time of ``script_time`` as written in the script (packetdrill's
        ``script_time_to_live_time_usecs``, for a timestamp a call returns): drill
        starts each line relative to when the previous one happened, so the time is
        shifted as the last line written at or before it was."""
        live = script_time
        for written, start in self.timeline:
            if written > script_time:
                break
            live = start + script_time - written
        return live

    def _run_event(self, event: Event) -> None:
        start, end, base = self._times(event)
        action = event.action
        if isinstance(action, PacketSpec) and action.direction == ">":
            self._note_script_time(event, start)
            self._expect_packet(event, action, start, end)
            return
        self._idle_until(start)
        self.target.wait_until(start)
        self._note_script_time(event, max(start, self.target.now()))
        self.last_start = start
        if isinstance(action, IcmpSpec):
            self._inject_icmp(event, action, start)
            return
        if isinstance(action, PacketSpec):
            packet = self._inbound(action)
            self.target.inject(packet)
            self.last_actual = start
            if self.log is not None:
                _, seg = decode_packet(packet)
                self._say(start, event.line,
                          "< " + seg.summary(relative_to=(self._peer_base(), self._isn())))
            return
        if isinstance(action, Shell):
            self._run_shell(event, action, start)
            return
        if isinstance(action, PythonBlock):
            self._snapshot(event, action, start)
            return
        self._await_returned(start)
        blocking_end = event.timing.blocking_end
        if blocking_end is not None:
            returns_at = blocking_end if event.timing.kind == "abs" else base + blocking_end
            pending = self.target.start_syscall(self._live(action))
            tol = max(self.tol, self.tol_percent / 100 * (returns_at - start))
            self.blocked.append(_Blocked(event, action, pending, returns_at, tol))
            self.last_actual = start
            self._say(start, event.line, f"{_call_text(action)} started")
            return
        result = self.target.syscall(self._live(action))
        self._say(result.returned_at, event.line,
                  f"{_call_text(action)} -> {_result_text(result)}")
        self._check_result(event, action, result)
        self._note_socket(action, result)
        if result.returned_at - start > max(self.tol, NONBLOCKING_SLACK):
            raise self._fail(
                f"{action.name}() should return at once at {start:.3f} s but returned at "
                f"{result.returned_at:.3f} s (it blocked; write a blocking call as "
                f"'+0...T {action.name}(...)')",
                expected=f"return at {start:.6f} s",
                actual=f"returned at {result.returned_at:.6f} s",
                timing_error=result.returned_at - start,
            )
        self.last_actual = result.returned_at

    # ------------------------------------------------------------------
    # Shell commands and code blocks
    # ------------------------------------------------------------------

    def _run_shell(self, event: Event, shell: Shell, start: float) -> None:
        result = self.target.shell(shell.command, self.cwd)
        self._say(start, event.line, f"`{shell.command}` -> status {result.status}")
        start = self.target.now()  # packetdrill: '+t' after a command counts from its end
        if result.status != 0:
            output = result.output.strip()
            joined = re.sub(r"\\\n", " ", shell.command)  # shell line continuations
            one_line = "; ".join(" ".join(part.split()) for part in joined.splitlines()
                                 if part.strip())
            raise self._fail(
                f"command failed with status {result.status}: `{one_line}`"
                + (f": {output.splitlines()[-1]}" if output else ""),
                line=event.line, expected="status 0",
                actual=f"status {result.status}" + (f"\n{output}" if output else ""))
        self.last_actual = start

    def _snapshot(self, event: Event, block: PythonBlock, start: float) -> None:
        fd = self.socket_under_test
        if fd is None:
            raise self._fail("no socket to use for the %{ }% code (no socket() or accept() "
                             "before it)", line=event.line)
        info = self.target.tcp_info(fd)
        self._say(start, event.line, f"TCP_INFO of fd {fd} taken for the code at the end")
        self.snapshots.append(Snapshot(event.line, block.code, dict(info)))
        self.last_actual = start

    def _note_socket(self, call: Syscall, result: SyscallResult) -> None:
        """Map the script's fd to the target's; track packetdrill's socket under test
        (the last socket created or accepted, as a target fd)."""
        if call.name in _FD_RESULT_CALLS and result.value >= 0 and call.result is not None \
                and call.result >= 0:
            self.fds[call.result] = result.value
        if call.name in ("socket", "accept", "accept4") and result.value >= 0:
            self.socket_under_test = result.value
        if call.name == "pipe" and result.value == 0:
            with contextlib.suppress(ValueError):
                for i, script_fd in enumerate(pipe_arg(call.args[0])):
                    if f"fds[{i}]" in result.outputs:
                        self.fds[script_fd] = result.outputs[f"fds[{i}]"]
        if call.name in ("socket", "listen") and result.value >= 0:
            self.listening = call.name == "listen"
        if call.name == "socket" and result.value >= 0:
            self.connection_known = False  # packetdrill: a new socket under test
            self.socket_at = result.returned_at

    def _live(self, call: Syscall) -> Syscall:
        """``call`` with the script's fds replaced by the target's (see the module)."""
        if not self.fds or all(k == v for k, v in self.fds.items()):
            return call
        args = list(call.args)

        def live(text: str) -> str:
            number = text.strip()
            if number.isdigit() and int(number) in self.fds:
                return str(self.fds[int(number)])
            return text

        if args and call.name not in _NO_FD_FIRST_ARG:
            args[0] = live(args[0])
        index = _FD_ARGS.get(call.name)
        if index is not None and len(args) > index:
            args[index] = live(args[index])
        if call.name == "poll" and args:
            args[0] = re.sub(r"\bfd\s*=\s*(\d+)", lambda m: f"fd={live(m.group(1))}", args[0])
        return Syscall(call.name, tuple(args), call.result, call.errno)

    # ------------------------------------------------------------------
    # Outbound packets
    # ------------------------------------------------------------------

    def _next_packet(self, deadline: float) -> tuple[float, bytes] | None:
        if self.held:
            return self.held.popleft() if self.held[0][0] <= deadline else None
        got = self.target.next_outbound(deadline)
        if got is not None and got[0] > deadline:
            self.held.append(got)
            return None
        return got

    def _idle_until(self, t: float) -> None:
        """No packet is expected before ``t``: one sent before ``t - tolerance`` is unexpected
        (unless unexpected packets are deferred to the next ``>`` line, as in packetdrill)."""
        if self.defer_unexpected:
            return
        got = self._next_packet(t - self.tol)
        if got is None:
            return
        sent_at, raw = got
        actual = self._describe(raw)
        raise self._fail(
            f"unexpected packet sent at {sent_at:.3f} s (the script expects none before "
            f"this line's event at {t:.3f} s)",
            expected="(no packet)",
            actual=actual,
        )

    def _describe(self, raw: bytes) -> str:
        try:
            _, seg = decode_packet(raw)
        except MalformedPacket as exc:
            return f"(undecodable packet: {exc})"
        return seg.summary(relative_to=(self._isn(), self._peer_base()))

    def _isn(self) -> int:
        return self.local_isn if self.local_isn is not None else 0

    def _peer_base(self, syn: bool = False) -> int:
        """What the peer's sequence numbers in the script are relative to (packetdrill's
        ``remote_seq_script_to_live_offset``): on a SYN (and the ack of a SYN-ACK) the
        seq written is the peer's ISN itself (from :data:`PEER_ISN`); after the SYN that
        opened the connection (the first packet to a listener, or a SYN-ACK), numbers
        count from the ISN the script wrote on it (``< S 1000:1000(0)`` then
        ``< . 1:1(0)`` is the next byte)."""
        return self.peer_isn if syn else (self.peer_isn + self.peer_syn) & _U32

    def _expect_packet(self, event: Event, spec: PacketSpec, start: float, end: float) -> None:
        any_time = event.timing.kind == "any"
        # packetdrill's verify_time: at least tolerance_percent of the time since the
        # previous event
        tol = max(self.tol, self.tol_percent / 100 * (start - self.last_actual))
        low = -math.inf if any_time else start - tol
        high = start + ANY_TIME_LIMIT if any_time else end + tol
        got = self._next_of_connection(high)
        expected = spec_summary(spec)
        when = "at any time" if any_time else _when(start, end)
        if got is None and not any_time:
            # Look a little further, to report a late packet with its time.
            got = self._next_of_connection(high + LATE_LOOKAHEAD)
            high_seen = high + LATE_LOOKAHEAD
        else:
            high_seen = high
        if got is None:
            raise self._fail(
                f"expected a packet {when}, none was sent by {high_seen:.3f} s",
                expected=expected, actual="(no packet)",
            )
        sent_at, raw = got
        try:
            ip, seg = decode_packet(raw)
        except MalformedPacket as exc:
            raise self._fail(f"the TCP sent a malformed packet: {exc}",
                             expected=expected) from None
        if seg.has(Flags.SYN):
            self.local_isn = seg.seq
            if not seg.has(Flags.ACK):
                self.local_port, self.remote_port = seg.src_port, seg.dst_port
                self.connection_known = True
        if (spec.length is not None and len(seg.payload) < spec.length
                and "strict_segments" not in self.script.options):
            sent_at, ip, seg = self._aggregate(spec.length, sent_at, ip, seg, high)
        actual = seg.summary(relative_to=(self._isn(), self._peer_base()))
        self._say(sent_at, event.line, "> " + actual)
        diffs = self._compare(spec, ip, seg)
        if diffs:
            raise self._fail(f"packet sent at {sent_at:.3f} s differs: {'; '.join(diffs)}",
                             expected=expected, actual=actual)
        if not low <= sent_at <= high:
            target = start if sent_at < start else end
            raise self._fail(
                f"timing error: expected {when} (tolerance {tol * 1000:g} ms), "
                f"sent at {sent_at:.6f} s",
                expected=expected, actual=actual, timing_error=sent_at - target,
            )
        self._learn_timestamps(spec, seg)
        self.last_actual = sent_at

    def _next_of_connection(self, deadline: float) -> tuple[float, bytes] | None:
        """The next packet sent by ``deadline``. With packetdrill's rule for unexpected
        packets (``defer``), packetdrill's filter too: a packet of another connection
        than the socket under test's (its ports; none after a ``socket()`` until it
        connects or its listener gets a packet), other than a new SYN (sent after the
        last ``socket()``), is dropped: the FIN of a connection the script closed and
        no longer follows, the SYN an abandoned connection retransmits."""
        for _ in range(10**9):  # bounded: each round consumes a packet sent by deadline
            got = self._next_packet(deadline)
            if got is None or not self.defer_unexpected:
                return got
            try:
                _, seg = decode_packet(got[1])
            except MalformedPacket:
                return got
            ports = (seg.src_port, seg.dst_port)
            if (self.connection_known and ports == (self.local_port, self.remote_port)) or (
                seg.has(Flags.SYN) and not seg.has(Flags.ACK) and got[0] >= self.socket_at
            ):
                return got
            self._say(got[0], self.line, "> (another connection, ignored) "
                      + self._describe(got[1]))
        return None  # pragma: no cover

    def _aggregate(self, length: int, sent_at: float, ip: IPv4Header | IPv6Header,
                   seg: Segment, deadline: float
                   ) -> tuple[float, IPv4Header | IPv6Header, Segment]:
        """packetdrill's aggregation of segments (``run_packet.c``, off with
        ``--strict_segments``): when the script expects more payload than the packet
        carries, the next packets sent by ``deadline`` that continue it (same ports,
        the next sequence number, every fragment but the last as long as the one
        before it)
        are joined into one, as segmentation offload would have sent it. The result
        has the first fragment's sequence number and CWR flag, the last one's other
        header fields and send time, and the joined payload. A packet that does not
        continue the run is left for the next line."""
        fragments = [seg]
        total = len(seg.payload)
        while total < length:
            got = self._next_packet(deadline)
            if got is None:
                break
            try:
                next_ip, following = decode_packet(got[1])
            except MalformedPacket:
                self.held.appendleft(got)
                break
            previous = fragments[-1]
            continues = (
                (following.src_port, following.dst_port) == (seg.src_port, seg.dst_port)
                and following.seq == (previous.seq + len(previous.payload)) & _U32
                and len(following.payload) > 0
                and total + len(following.payload) <= length
                # every fragment but the last as long as the one before it
                and (total + len(following.payload) == length
                     or len(following.payload) == len(previous.payload))
            )
            if not continues:
                self.held.appendleft(got)
                break
            fragments.append(following)
            total += len(following.payload)
            sent_at, ip = got[0], next_ip
        if len(fragments) == 1:
            return sent_at, ip, seg
        last = fragments[-1]
        flags = (last.flags & ~Flags.CWR) | (seg.flags & Flags.CWR)
        joined = replace(last, seq=seg.seq, flags=flags,
                         payload=b"".join(f.payload for f in fragments))
        return sent_at, ip, joined

    def _compare(self, spec: PacketSpec, ip: object, seg: Segment) -> list[str]:
        diffs: list[str] = []
        src, dst = getattr(ip, "src", None), getattr(ip, "dst", None)
        if (src, dst) != (self.local_ip, self.remote_ip):
            diffs.append(f"addresses {src} > {dst}, expected {self.local_ip} > "
                         f"{self.remote_ip}")
        if spec.ecn is not None:
            tos = ip.tos if isinstance(ip, IPv4Header) else getattr(ip, "traffic_class", 0)
            have = tos & 3
            ok = have in (1, 2) if spec.ecn == "ect01" else have == _ECN_BITS[spec.ecn]
            if not ok:
                names = {v: k for k, v in _ECN_BITS.items()}
                diffs.append(f"ECN field [{names[have]}], expected [{spec.ecn}]")
        if (seg.src_port, seg.dst_port) != (self.local_port, self.remote_port):
            diffs.append(f"ports {seg.src_port} > {seg.dst_port}, expected "
                         f"{self.local_port} > {self.remote_port}")
        flags = flags_of(spec.flags)
        if seg.flags != flags:
            diffs.append(f"flags [{seg.flags.letters()}], expected [{flags.letters()}]")
        rel_seq = (seg.seq - self._isn()) & _U32
        length = len(seg.payload)
        syn = seg.has(Flags.SYN)
        if syn and spec.seq is not None:
            # packetdrill: the seq written on the TCP's SYN names its ISN, whatever it is
            self.local_syn = spec.seq
        elif spec.seq is not None and rel_seq != spec.seq:
            diffs.append(f"seq {rel_seq}, expected {spec.seq}")
        if spec.length is not None and length != spec.length:
            diffs.append(f"length {length}, expected {spec.length}")
        elif spec.seq is None and spec.end is not None and (rel_seq + length) & _U32 != spec.end:
            diffs.append(f"end {(rel_seq + length) & _U32}, expected {spec.end}")
        if spec.ack is not None and seg.has(Flags.ACK):
            rel_ack = (seg.ack - self._peer_base(syn)) & _U32
            if rel_ack != spec.ack:
                diffs.append(f"ack {rel_ack}, expected {spec.ack}")
        if spec.win is not None and seg.window != spec.win:
            diffs.append(f"win {seg.window}, expected {spec.win}")
        if spec.urg is not None and seg.urgent != spec.urg:
            diffs.append(f"urg {seg.urgent}, expected {spec.urg}")
        if not spec.options_wildcard:
            want = _strip_eol(spec.options or ())
            if not self._options_match(want, seg.options):
                shown = _options_text(seg.options, self._peer_base()) or "none"
                diffs.append(f"options <{shown}>, expected "
                             f"<{_spec_options_text(want) or 'none'}>")
        return diffs

    def _options_match(self, want: tuple[TcpOptionSpec, ...], have: tuple[TcpOption, ...]
                       ) -> bool:
        if len(want) != len(have):
            return False
        for spec, option in zip(want, have, strict=True):
            kind = spec.kind
            if kind == "nop":
                ok = isinstance(option, Nop)
            elif kind == "sackOK":
                ok = isinstance(option, SackPermitted)
            elif kind == "mss":
                ok = isinstance(option, Mss) and option.value == spec.values[0]
            elif kind == "wscale":
                ok = isinstance(option, WindowScale) and option.shift == spec.values[0]
            elif kind == "TS":
                ok = isinstance(option, Timestamps)
            elif kind == "sack":
                ok = isinstance(option, Sack) and tuple(
                    (edge - self._peer_base()) & _U32 for block in option.blocks for edge in block
                ) == spec.values
            elif kind in ("FO", "FOEXP"):
                ok = option_matches(kind, self._cookie(spec), option)
            else:
                ok = False
            if not ok:
                return False
        return True

    def _learn_timestamps(self, spec: PacketSpec, seg: Segment) -> None:
        ts = seg.timestamps
        if ts is None or spec.options is None:
            return
        for option in spec.options:
            if option.kind == "TS":
                self.ts_map[option.values[0]] = ts.tsval

    # ------------------------------------------------------------------
    # Inbound packets
    # ------------------------------------------------------------------

    def _inject_icmp(self, event: Event, spec: IcmpSpec, start: float) -> None:
        """Inject an ICMP error quoting a segment of the connection (see :mod:`.icmp`)."""
        try:
            spec = resolve_code(spec, defines(self.script.options))
            packet = build_icmp(spec, local=self.local_ip, remote=self.remote_ip,
                                local_port=self.local_port, remote_port=self.remote_port,
                                local_isn=self._isn(), tos=_ECN_BITS.get(spec.ecn or "noecn", 0))
        except ValueError as exc:
            raise self._fail(str(exc), line=event.line) from None
        self.target.inject(packet)
        self.last_actual = start
        self._say(start, event.line, "< " + icmp_text(spec))

    def _inbound(self, spec: PacketSpec) -> bytes:
        flags = flags_of(spec.flags)
        opens = self.listening
        if self.listening:
            # packetdrill: the first inbound packet after a listen() opens a new
            # connection, from a new port of the peer's
            self.listening = False
            self.local_port, self.remote_port = LOCAL_PORT, PEER_PORT + self.passive_opens
            self.passive_opens += 1
        self.connection_known = True  # the ports it is sent with are the connection's
        assert spec.seq is not None and spec.length is not None and spec.win is not None
        syn = bool(flags & Flags.SYN)
        if syn and (opens or flags & Flags.ACK):  # a SYN that opens a connection
            self.peer_syn = spec.seq
        seq = (self._peer_base(syn) + spec.seq) & _U32
        ack = spec.ack or 0
        if flags & Flags.ACK:
            # the ack of a SYN-ACK counts from the seq written on the TCP's SYN
            ack = (self._isn() + ack - (self.local_syn if syn else 0)) & _U32
        options: list[TcpOption] = []
        ended = False
        for option in spec.options or ():
            if option.kind == "eol":
                ended = True
                continue
            if ended:
                raise DrillError("options after 'eol' cannot be sent")
            options.append(self._wire_option(option))
        segment = Segment(
            src_port=self.remote_port,
            dst_port=self.local_port,
            seq=seq,
            ack=ack,
            flags=flags,
            window=spec.win,
            urgent=spec.urg or 0,
            options=tuple(options),
            payload=bytes(spec.length),
        )
        return encode_packet(self.remote_ip, self.local_ip, segment,
                             tos=_ECN_BITS.get(spec.ecn or "noecn", 0))

    def _wire_option(self, option: TcpOptionSpec) -> TcpOption:
        values = option.values
        if option.kind == "mss":
            return Mss(values[0])
        if option.kind == "wscale":
            return WindowScale(values[0])
        if option.kind == "sackOK":
            return SackPermitted()
        if option.kind == "nop":
            return Nop()
        if option.kind == "TS":
            return Timestamps(values[0], self.ts_map.get(values[1], values[1]))
        if option.kind == "sack":
            base = self._isn()
            return Sack(tuple(((base + values[i]) & _U32, (base + values[i + 1]) & _U32)
                              for i in range(0, len(values), 2)))
        if option.kind in ("FO", "FOEXP"):
            return wire_option(option.kind, self._cookie(option))
        raise DrillError(f"cannot send option {option.kind}")  # pragma: no cover

    def _cookie(self, option: TcpOptionSpec) -> bytes:
        """A Fast Open option's cookie, resolved and translated for the target
        (:func:`~tcpstack.harness.drill.fastopen.resolve_cookie`)."""
        target = self.target
        translator = target if isinstance(target, CookieTranslator) else None
        return resolve_cookie(option, self.script.options, translator)

    # ------------------------------------------------------------------
    # System calls
    # ------------------------------------------------------------------

    def _check_result(self, event: Event, call: Syscall, result: SyscallResult) -> None:
        expected = _call_text(call) + " = " + _expected_result_text(call)
        actual = "= " + _result_text(result)
        if call.name in _FD_RESULT_CALLS and call.result is not None and call.result >= 0:
            same = result.value >= 0  # packetdrill's CHECK_FD: an fd is expected, any fd
        else:
            same = result.value == call.result
        if not same or (
            call.errno is not None and result.value == -1
            and not _same_errno(result.errno, call.errno)
        ):
            raise self._fail(f"{call.name}() returned {_result_text(result)}, expected "
                             f"{_expected_result_text(call)}", line=event.line,
                             expected=expected, actual=actual)
        names = cmsg_defines(self.script.options.get("ip_version", "ipv4"),
                             defines(self.script.options))
        for key, want, show in _expected_outputs(call, names):
            have = result.outputs.get(key)
            if have is None:
                continue
            if key.startswith("cmsg_ts["):  # a script time: compared within the tolerance
                want = round(self._live_time(want / 1e6) * 1e6)
                if abs(have - want) <= self.tol * 1e6:
                    continue
            if have != want:
                raise self._fail(f"{call.name}() {key} is {show(have)}, expected {show(want)}",
                                 line=event.line, expected=expected,
                                 actual=f"{actual}, {key} {show(have)}")

    def _await_returned(self, start: float) -> None:
        """Before a call at ``start``: the blocking calls due to return by then must
        have returned (a later call may use what they return, e.g. the fd of an
        accept()). A target whose results travel from another process may deliver
        one late: wait for it up to the tolerance plus :data:`NONBLOCKING_SLACK`.
        (:meth:`_check_blocked` reports a call still blocked, after this line.)"""
        for blocked in self.blocked:
            if blocked.returns_at > start:
                continue
            limit = blocked.returns_at + blocked.tol + NONBLOCKING_SLACK
            while blocked.pending.result() is None and self.target.now() < limit:
                self.target.wait_until(min(self.target.now() + 0.002, limit))

    def _check_blocked(self, *, final: bool) -> None:
        """Check the ``...`` calls that have returned. A call still blocked well after
        its time (tolerance plus :data:`NONBLOCKING_SLACK`, for a target whose results
        travel from another process) fails; at the end of the script, wait for it
        (at most :data:`LATE_LOOKAHEAD` after its time)."""
        for blocked in list(self.blocked):
            deadline = blocked.returns_at + blocked.tol
            overdue = deadline + NONBLOCKING_SLACK
            result = blocked.pending.result()
            # At the end, wait for it: up to LATE_LOOKAHEAD more, to report a late
            # return with its time.
            limit = deadline + LATE_LOOKAHEAD
            while final and result is None and self.target.now() < limit:
                step = max(deadline, self.target.now() + 0.002)
                self.target.wait_until(min(step, limit))
                result = blocked.pending.result()
            line = blocked.event.line
            if result is None:
                if final or self.target.now() > overdue:
                    cause = _LIKELY_CAUSE.get(blocked.call.name)
                    raise self._fail(
                        f"{blocked.call.name}() should have returned at "
                        f"{blocked.returns_at:.3f} s but is still blocked"
                        + (f"; likely cause: {cause}" if cause else ""),
                        line=line, expected=f"return at {blocked.returns_at:.6f} s",
                        actual="(still blocked)",
                    )
                continue
            self.blocked.remove(blocked)
            self._say(result.returned_at, line,
                      f"{_call_text(blocked.call)} -> {_result_text(result)}")
            self._check_result(blocked.event, blocked.call, result)
            self._note_socket(blocked.call, result)
            if abs(result.returned_at - blocked.returns_at) > blocked.tol:
                raise self._fail(
                    f"timing error: {blocked.call.name}() expected to return at "
                    f"{blocked.returns_at:.6f} s (tolerance {blocked.tol * 1000:g} ms), returned "
                    f"at {result.returned_at:.6f} s",
                    line=line, expected=f"return at {blocked.returns_at:.6f} s",
                    actual=f"returned at {result.returned_at:.6f} s",
                    timing_error=result.returned_at - blocked.returns_at,
                )


# ----------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------


def flags_of(letters: str) -> Flags:
    """The flags of packetdrill letters (``"S."`` -> SYN|ACK)."""
    flags = Flags(0)
    for letter in letters:
        flags |= _LETTERS[letter]
    return flags


def _when(start: float, end: float) -> str:
    return f"at {start:.6f} s" if end == start else f"between {start:.6f} and {end:.6f} s"


def spec_summary(spec: PacketSpec) -> str:
    """A script packet in the tcpdump-like form of :meth:`Segment.summary` (``*`` for
    wildcards)."""
    flags = flags_of(spec.flags)

    def num(value: int | None) -> str:
        return "*" if value is None else str(value)

    parts = [f"Flags [{flags.letters()}]"]
    if spec.seq is None and spec.end is None:
        parts.append("seq *")
    elif spec.length != 0 or flags & (Flags.SYN | Flags.FIN | Flags.RST):
        if spec.length:
            parts.append(f"seq {num(spec.seq)}:{num(spec.end)}")
        else:
            parts.append(f"seq {num(spec.seq)}")
    if flags & Flags.ACK:
        parts.append(f"ack {num(spec.ack)}")
    parts.append(f"win {num(spec.win)}")
    if spec.urg is not None:
        parts.append(f"urg {spec.urg}")
    if spec.options_wildcard:
        parts.append("options [...]")
    elif spec.options:
        parts.append(f"options [{_spec_options_text(spec.options)}]")
    parts.append(f"length {num(spec.length)}")
    return ", ".join(parts)


def _strip_eol(options: tuple[TcpOptionSpec, ...]) -> tuple[TcpOptionSpec, ...]:
    """Options before the first EOL (what a parser of the packet sees)."""
    for i, option in enumerate(options):
        if option.kind == "eol":
            return options[:i]
    return options


def _spec_options_text(options: tuple[TcpOptionSpec, ...]) -> str:
    items = []
    for option in options:
        if option.kind == "TS":
            items.append(f"TS val {option.values[0]} ecr {option.values[1]}")
        elif option.kind == "sack":
            v = option.values
            items.append("sack " + " ".join(f"{v[i]}:{v[i + 1]}" for i in range(0, len(v), 2)))
        elif option.kind in ("FO", "FOEXP"):
            items.append(f"{option.kind} {option.name or bytes(option.values).hex()}".rstrip())
        elif option.values:
            items.append(f"{option.kind} {option.values[0]}")
        else:
            items.append(option.kind)
    return ",".join(items)


def _options_text(options: tuple[TcpOption, ...], ack_base: int) -> str:
    items = []
    for option in options:
        if isinstance(option, Nop):
            items.append("nop")
        elif isinstance(option, Mss):
            items.append(f"mss {option.value}")
        elif isinstance(option, WindowScale):
            items.append(f"wscale {option.shift}")
        elif isinstance(option, SackPermitted):
            items.append("sackOK")
        elif isinstance(option, Timestamps):
            items.append(f"TS val {option.tsval} ecr {option.tsecr}")
        elif isinstance(option, Sack):
            items.append("sack " + " ".join(
                f"{(left - ack_base) & _U32}:{(right - ack_base) & _U32}"
                for left, right in option.blocks))
        elif isinstance(option, UnknownOption):
            items.append(option_text(option) or f"opt-{option.kind}:{option.data.hex()}")
    return ",".join(items)


def _call_text(call: Syscall) -> str:
    return f"{call.name}({', '.join(call.args)})"


def _expected_result_text(call: Syscall) -> str:
    if call.errno:
        return f"{call.result} {call.errno}"
    return str(call.result)


def _result_text(result: SyscallResult) -> str:
    return f"{result.value} {result.errno}" if result.errno else str(result.value)


_ERRNO_NAMES = {number: name for name, number in reversed(ERRNOS.items())}
_POLL_NAMES = [(v, k) for k, v in SYMBOLS.items() if k.startswith("POLL")]


def _errno_text(value: int) -> str:
    return _ERRNO_NAMES.get(value, str(value)) if value else "0"


def _poll_text(value: int) -> str:
    names = [name for bit, name in _POLL_NAMES if value & bit]
    return "|".join(names) if names else "0"


def _usecs_text(value: int) -> str:
    return f"{value / 1e6:.6f} s"


def _cmsg_expected(i: int, cmsg: Cmsg) -> list[tuple[str, int, Callable[[int], str]]]:
    """What recvmsg's ``i``-th control message must hold: level, type, length, and its
    data (a timestamp of ``(0, 0)`` is not compared, as in packetdrill)."""
    expected: list[tuple[str, int, Callable[[int], str]]] = [
        (f"cmsg_level[{i}]", cmsg.level, str), (f"cmsg_type[{i}]", cmsg.type, str),
        (f"cmsg_len[{i}]", cmsg.size, str)]
    if cmsg.timestamp is not None:
        sec, nsec = cmsg.timestamp
        if sec or nsec:
            expected.append((f"cmsg_ts[{i}]", sec * 1_000_000 + nsec // 1000, _usecs_text))
    elif cmsg.extended_err is not None:
        expected += [(f"{name}[{i}]", value, _errno_text if name == "ee_errno" else str)
                     for name, value in zip(EE_FIELDS, cmsg.extended_err, strict=True)]
    else:
        expected.append((f"cmsg_data[{i}]", cmsg.data or 0, str))
    return expected


def _expected_outputs(call: Syscall, defined: Mapping[str, str] | None = None,
                      ) -> list[tuple[str, int, Callable[[int], str]]]:
    """(output key, expected value, formatter) for the values a call writes back
    (see ``SyscallResult.outputs``); values written as ``...`` are not compared.
    ``defined``: the names msg_control may use (``CMSG_LEVEL_IP``...), see
    :func:`~tcpstack.harness.drill.args.cmsg_defines`."""
    args = call.args
    if call.name == "getsockopt":
        if args[2] == "SO_LINGER" and args[3].startswith("{"):
            fields = struct_arg(args[3])
            return [("onoff", int_arg(fields["onoff"]), str),
                    ("linger", int_arg(fields["linger"]), str)]
        if not args[3].startswith("["):
            return []
        value = int_arg(list_arg(args[3])[0])
        show = _errno_text if args[2] == "SO_ERROR" else str
        return [("optval", value, show)]
    if call.name == "ioctl" and args[2].startswith("["):
        items = list_arg(args[2])
        return [("optval", int_arg(items[0]), str)] if len(items) == 1 else []
    if call.name == "poll" and args[0].startswith("["):
        return [(f"revents[{i}]", pfd.revents, _poll_text)
                for i, pfd in enumerate(pollfds_arg(args[0]))]
    if call.name == "epoll_wait" and args[1].startswith("["):
        expected: list[tuple[str, int, Callable[[int], str]]] = []
        for i, event in enumerate(epoll_events_arg(args[1])):
            expected += [(f"events[{i}]", event.events, _poll_text), (f"data[{i}]", event.data,
                                                                      str)]
        return expected
    if call.name == "recvmsg" and args[1].startswith("{"):
        fields = msghdr_arg(args[1])
        flags = fields.get("msg_flags")
        expected = [("msg_flags", int_arg(flags), str)] if flags and flags != "..." else []
        control = fields.get("msg_control", "...")
        if control != "...":
            cmsgs = cmsgs_arg(control, defined)
            expected.append(("cmsg_count", len(cmsgs), str))
            for i, cmsg in enumerate(cmsgs):
                expected += _cmsg_expected(i, cmsg)
        return expected
    return []


def _same_errno(have: str | None, want: str) -> bool:
    """Errno names compare by number, as packetdrill compares errno values: EAGAIN and
    EWOULDBLOCK (FreeBSD's scripts write the latter) are one error."""
    if have == want:
        return True
    return have is not None and ERRNOS.get(have, -1) == ERRNOS.get(want, -2)
