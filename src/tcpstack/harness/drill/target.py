"""What a drill target must provide: the runner drives it through this protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .model import Script, Syscall

LOCAL_ADDRESS = "192.0.2.1"
"""Address of the TCP under test."""
REMOTE_ADDRESS = "198.51.100.2"
"""Address of the script's simulated peer."""
LOCAL_PORT = 8080
"""Port the script's bind() and connect() use on the side under test / the peer."""
LOCAL_ADDRESS6 = "2001:db8::1"
"""Address of the TCP under test with ``--ip_version=ipv6`` (documentation prefix)."""
REMOTE_ADDRESS6 = "2001:db8:1::2"
"""Address of the script's peer with ``--ip_version=ipv6``. With
``--ip_version=ipv4-mapped-ipv6`` the wire carries IPv4 between LOCAL_ADDRESS and
REMOTE_ADDRESS while the sockets are AF_INET6 (``::ffff:192.0.2.1``)."""


@dataclass(frozen=True)
class SyscallResult:
    """The outcome of a system call: return value and errno name (``"EAGAIN"``) if it failed.

    ``returned_at``: target time in seconds when the call returned.

    ``outputs``: values the call wrote through pointer arguments, for the
    runner to compare with the script (added for getsockopt and poll):
    ``{"optval": N}`` for getsockopt (an errno number for SO_ERROR),
    ``{"onoff": N, "linger": N}`` for getsockopt(SO_LINGER), and
    ``{"revents[i]": N}`` for the i-th pollfd of poll(), ``{"optval": N}`` for
    the value ioctl() writes through its third argument (SIOCINQ, SIOCOUTQ),
    ``{"events[i]": N, "data[i]": N}`` for the i-th event epoll_wait() returns
    and ``{"msg_flags": N}`` for recvmsg(). Only the keys present are compared;
    a target that leaves it empty skips those checks.
    """

    value: int
    errno: str | None
    returned_at: float
    outputs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ShellResult:
    """The outcome of a script's shell command: exit ``status`` and its ``output`` text."""

    status: int
    output: str = ""


class PendingCall(Protocol):
    """A system call started with :meth:`Target.start_syscall`."""

    def result(self) -> SyscallResult | None:
        """The outcome once the call has returned, else None (never blocks)."""


class Target(Protocol):
    """A TCP under test. All times are seconds since the script started.

    The tcpstack target runs on a virtual clock (``wait_until`` jumps);
    the Linux target on the wall clock (``wait_until`` sleeps).
    """

    name: str

    def prepare(self, script: Script) -> None:
        """Called once before :meth:`start` with the script to run: its options
        (``--mss``, ``--ip_version``, ...) and its path (its directory is where
        shell commands run). Raises DrillUnsupported (a DrillError) naming the
        construct for an option or feature this target cannot honour: a suite run
        then reports the script as "unsupported" on this target instead of failed."""

    def start(self) -> None:
        """Set up (namespace, device, stack). Raises DrillError with a clear reason."""

    def shell(self, command: str, cwd: str) -> ShellResult:
        """Run a script's backtick command now, from directory ``cwd``.

        The Linux target runs it with ``/bin/sh -c`` inside its namespace (as
        packetdrill does); the tcpstack target applies the ``sysctl`` settings
        the command makes, directly or through a script it runs, to its
        configuration, and reports each setting it has no equivalent for once.
        """

    def tcp_info(self, fd: int) -> Mapping[str, int]:
        """``TCP_INFO`` of socket ``fd`` as ``{"tcpi_state": 1, "tcpi_rto": 200000, ...}``
        (Linux names, units and state numbers: times in microseconds). Raises
        DrillError when ``fd`` is not a TCP socket."""

    def now(self) -> float:
        """Current target time."""

    def wait_until(self, t: float) -> None:
        """Let time pass until ``t``, processing the TCP's timers meanwhile."""

    def inject(self, packet: bytes) -> None:
        """Deliver a raw IP packet (IPv4, or IPv6 with ``--ip_version=ipv6``) from the
        peer to the TCP under test, now."""

    def next_outbound(self, deadline: float) -> tuple[float, bytes] | None:
        """The next raw IP packet the TCP sent (with its send time), waiting at most
        until ``deadline``; None if nothing was sent by then. With segmentation
        offload (the default, as on packetdrill's TUN device) a segment may be longer
        than the MSS: the runner compares it as one segment."""

    def syscall(self, call: Syscall) -> SyscallResult:
        """Perform ``call`` now. A blocking call (accept, connect, read, write,
        close with linger) that cannot complete at once may let target time
        pass until it can; the runner checks ``returned_at`` against the
        script. On a non-blocking fd such a call fails with EAGAIN/EINPROGRESS."""

    def start_syscall(self, call: Syscall) -> PendingCall:
        """Start ``call`` for a ``+t...t2`` line: it completes while later lines run."""

    def close(self) -> None:
        """Tear everything down (always called, also after errors)."""
