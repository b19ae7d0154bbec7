"""Linux TUN driver: the sans-I/O stack talking to the real kernel (Linux, root).

A TUN device (``IFF_TUN | IFF_NO_PI``) hands us every raw IPv4 packet the
kernel routes to it and injects every packet we write as if it had arrived
on a wire. The kernel side of the device gets an address such as
``192.0.2.1/24``; the stack answers as another address of that subnet
(``192.0.2.2``). Kernel programs (curl, a Python socket) then talk TCP to
our stack, and our stack can connect to kernel servers.

Only the ``TUNSETIFF`` ioctl is done by hand; addresses, MTU and link state
are set through pyroute2 (rtnetlink). The device is not persistent: it
disappears when its file descriptor is closed, and :meth:`TunDevice.close`
also deletes the link if it is still there, so removal always happens.

Run it inside a network namespace made for the purpose (see
:mod:`tcpstack.drivers.netns`), never in the root namespace of a machine
you care about.

The loop (:meth:`TunDriver.run`) is the sans-I/O pattern: read packets from
the fd into ``stack.receive(pkt, now)``, fire due timers, accept new
connections and dispatch ``stack.next_event()`` to the applications, write
``stack.packets_to_send(now)``, then ``select`` until the next packet or
timer. ``now`` is ``time.monotonic()`` in seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import random
import re
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from ..apps import App, PerConnection
from ..errors import TcpStackError
from ..state import State

if TYPE_CHECKING:
    from ..connection import Connection
    from ..stack import Stack

__all__ = [
    "DEFAULT_MTU",
    "RunStats",
    "TunDevice",
    "TunDriver",
    "TunError",
    "check_tun_available",
    "parse_peer",
    "validate_ifname",
]

TUN_PATH = "/dev/net/tun"
"""The TUN/TAP clone device."""

TUNSETIFF = 0x400454CA
"""``_IOW('T', 202, int)``: attach the fd to a TUN/TAP interface."""
IFF_TUN = 0x0001
"""Layer-3 device: raw IP packets, no Ethernet header."""
IFF_NO_PI = 0x1000
"""No 4-byte packet-information prefix on reads and writes."""
IFNAMSIZ = 16
"""Interface names are at most ``IFNAMSIZ - 1`` = 15 bytes."""

DEFAULT_MTU = 1500
"""MTU of the device (bytes); matches the stack's default MSS of 1460."""

READ_SIZE = 65535
"""Bytes asked of each ``read()`` on the fd (larger than any packet)."""

READ_BUDGET = 128
"""Packets read per loop iteration before the stack gets to answer."""

MAX_WAIT = 0.2
"""Longest ``select`` wait (seconds), so signals and ``until()`` are noticed."""

CAP_NET_ADMIN = 12
"""Capability bit needed to create a TUN device and configure links."""

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_DONE_STATES = frozenset({State.CLOSED, State.TIME_WAIT})


class TunError(TcpStackError):
    """The TUN device could not be opened or configured (clear one-line message)."""


def validate_ifname(name: str) -> str:
    """Return ``name`` if it is a valid interface name (1-15 of ``[A-Za-z0-9_.-]``).

    Raises:
        ValueError: otherwise.
    """
    if not _IFNAME_RE.match(name) or name in (".", ".."):
        raise ValueError(
            f"invalid interface name {name!r}: use 1-15 letters, digits, '_', '.', '-'"
        )
    return name


def parse_peer(address: str, peer: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Interface]:
    """Check our address and the kernel side's ``ADDR/PREFIX``.

    Our address must be a host address of the kernel side's network and differ
    from the kernel side's own address.

    Returns:
        ``(our_address, peer_interface)``.

    Raises:
        ValueError: malformed, not IPv4, or inconsistent addresses.
    """
    try:
        ours = ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"--address {address!r} is not an IPv4 address") from None
    if "/" not in peer:
        raise ValueError(f"--peer {peer!r} needs a prefix length, e.g. 192.0.2.1/24")
    try:
        iface = ipaddress.IPv4Interface(peer)
    except ValueError:
        raise ValueError(f"--peer {peer!r} is not an IPv4 ADDRESS/PREFIX") from None
    net = iface.network
    if iface.ip == ours:
        raise ValueError(f"--address {ours} must differ from the kernel side's {iface.ip}")
    if net.prefixlen > 30:
        raise ValueError(f"--peer {peer}: the prefix must be /30 or shorter to hold two hosts")
    if ours not in net or ours in (net.network_address, net.broadcast_address):
        raise ValueError(f"--address {ours} is not a host address of {net}")
    if iface.ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"--peer {iface.ip} is not a host address of {net}")
    return ours, iface


def _has_cap_net_admin() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as fp:
            for line in fp:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return False


def check_tun_available() -> None:
    """Check that this process can create a TUN device.

    Raises:
        TunError: not Linux, ``/dev/net/tun`` missing, or neither root nor
            CAP_NET_ADMIN.
    """
    if not hasattr(os, "geteuid") or not os.path.exists("/proc/self"):
        raise TunError("TUN devices need Linux")
    if not os.path.exists(TUN_PATH):
        raise TunError(
            f"{TUN_PATH} does not exist (load the 'tun' module, or run on a host that provides it)"
        )
    if not _has_cap_net_admin():
        raise TunError("creating a TUN device needs root (or CAP_NET_ADMIN)")


class TunDevice:
    """An open TUN device with its kernel side addressed and up.

    Args:
        ifname: interface name to create (1-15 characters).
        peer: the kernel side's address and prefix, e.g. ``192.0.2.1/24``.
        mtu: device MTU in bytes.

    Raises:
        TunError: the device could not be created or configured (the fd is
            closed again, so nothing is left behind).
        ValueError: invalid ``ifname``.
    """

    def __init__(
        self, ifname: str, peer: ipaddress.IPv4Interface, *, mtu: int = DEFAULT_MTU
    ) -> None:
        self.ifname = validate_ifname(ifname)
        self.peer = peer
        self.mtu = mtu
        self.fd = -1
        check_tun_available()
        try:
            self.fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            ifr = struct.pack("16sH22x", self.ifname.encode(), IFF_TUN | IFF_NO_PI)
            try:
                fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            except OSError as exc:
                hint = " (device name in use?)" if exc.errno in (errno.EBUSY, errno.EINVAL) else ""
                raise TunError(f"TUNSETIFF {self.ifname}: {exc.strerror}{hint}") from None
            self._configure()
        except BaseException:
            self.close()
            raise

    def _configure(self) -> None:
        from pyroute2 import IPRoute  # imported here: Linux-only dependency

        try:
            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=self.ifname)
                if not idx:
                    raise TunError(f"device {self.ifname} vanished after TUNSETIFF")
                ipr.addr(
                    "add",
                    index=idx[0],
                    address=str(self.peer.ip),
                    prefixlen=self.peer.network.prefixlen,
                )
                ipr.link("set", index=idx[0], mtu=self.mtu, state="up")
        except TunError:
            raise
        except Exception as exc:  # pyroute2's NetlinkError and friends
            raise TunError(f"configuring {self.ifname}: {exc}") from None
        # No IPv6 chatter (router solicitations, MLD) on the device: best effort.
        try:
            with open(f"/proc/sys/net/ipv6/conf/{self.ifname}/disable_ipv6", "w") as fp:
                fp.write("1")
        except OSError:
            pass

    def read_packets(self, budget: int = READ_BUDGET) -> list[bytes]:
        """Read up to ``budget`` packets that are ready (never blocks)."""
        out: list[bytes] = []
        for _ in range(budget):
            try:
                out.append(os.read(self.fd, READ_SIZE))
            except BlockingIOError:
                break
            except InterruptedError:
                continue
        return out

    def write(self, packet: bytes) -> bool:
        """Inject one raw IPv4 packet into the kernel; False if the kernel refused it."""
        try:
            os.write(self.fd, packet)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        """The device's file descriptor (for ``select``)."""
        return self.fd

    def close(self) -> None:
        """Close the fd (which removes the device) and delete the link if it remains.

        Safe to call more than once.
        """
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        try:
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=self.ifname)
                if idx:
                    ipr.link("del", index=idx[0])
        except Exception:  # already gone, or pyroute2 unavailable
            pass

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class RunStats:
    """What one :meth:`TunDriver.run` did.

    Attributes:
        reason: why the loop ended: ``"until"``, ``"deadline"``, ``"signal"``
            or ``"stopped"`` (``request_stop()``).
        elapsed: seconds the loop ran.
        packets_in, packets_out: packets given to / taken from the stack.
        bytes_in, bytes_out: their total size in bytes.
        ignored: packets read from the device that were not IPv4 to our address.
        lost: packets dropped on purpose (``loss``), both directions.
        write_errors: packets the kernel refused.
        accepted: connections taken from the accept queue.
        finished: connections with an application that reached TIME-WAIT or CLOSED.
        app_errors: local-API errors raised inside applications.
        aborted: connections reset because the loop had to end.
    """

    reason: str = ""
    elapsed: float = 0.0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    ignored: int = 0
    lost: int = 0
    write_errors: int = 0
    accepted: int = 0
    finished: int = 0
    app_errors: int = 0
    aborted: int = 0


class TunDriver:
    """Drive a :class:`~tcpstack.stack.Stack` over a TUN device.

    Args:
        ifname: the device to create.
        our_address: the stack's IPv4 address (must match the stack's).
        peer_cidr: the kernel side, e.g. ``"192.0.2.1/24"``.
        stack: the stack; the driver only calls its public API.
        mtu: device MTU in bytes.
        record: keep ``(time, raw bytes)`` of every packet in and out in
            :attr:`packets` (for :meth:`write_pcap`).
        loss: fraction of packets, each direction, dropped on purpose
            (fault injection to exercise retransmission against the kernel;
            dropped packets are not recorded).
        rng: randomness of ``loss`` (seed it to repeat a run).
        log: called with one-line progress messages (default: silent).
        clock: monotonic clock in seconds (the stack's ``now``).

    Use as a context manager (or call :meth:`open` / :meth:`close`): the
    device exists between the two, and :meth:`close` always removes it.

    Raises:
        ValueError: invalid names or addresses, or ``our_address`` differs
            from ``stack.address``.
        TunError: (from :meth:`open`) the device cannot be created.
    """

    def __init__(
        self,
        ifname: str,
        our_address: str | ipaddress.IPv4Address,
        peer_cidr: str,
        stack: Stack,
        *,
        mtu: int = DEFAULT_MTU,
        record: bool = False,
        loss: float = 0.0,
        rng: random.Random | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ifname = validate_ifname(ifname)
        self.address, self.peer = parse_peer(str(our_address), peer_cidr)
        if stack.address != self.address:
            raise ValueError(f"the stack's address {stack.address} is not {self.address}")
        self.stack = stack
        self.mtu = mtu
        self.record = record
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), got {loss}")
        self.loss = loss
        self._rng = rng or random.Random()
        self.packets: list[tuple[float, bytes]] = []
        """``(monotonic time, raw IPv4 packet)`` of every packet in and out, if recording."""
        self.stats = RunStats()
        self._log = log or (lambda _msg: None)
        self._clock = clock
        self._wall_offset = time.time() - time.monotonic()
        self._device: TunDevice | None = None
        self._our_bytes = self.address.packed
        self._apps: PerConnection[Connection] = PerConnection()
        self._ports: list[int] = []
        self._stop = threading.Event()
        self._stop_reason = ""

    # -- lifecycle -------------------------------------------------------

    def open(self) -> TunDevice:
        """Create and configure the device (idempotent)."""
        if self._device is None:
            self._device = TunDevice(self.ifname, self.peer, mtu=self.mtu)
            self._log(
                f"{self.ifname}: kernel side {self.peer}, tcpstack at {self.address}, "
                f"mtu {self.mtu}"
            )
        return self._device

    def close(self) -> None:
        """Remove the device. Safe to call more than once."""
        if self._device is not None:
            dev, self._device = self._device, None
            dev.close()
            self._log(f"{self.ifname}: removed")

    def __enter__(self) -> TunDriver:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- user calls ------------------------------------------------------

    def listen(self, port: int, backlog: int = 128) -> None:
        """Listen on ``port``; accepted connections get an app from ``run``'s factory."""
        self.stack.listen(port, backlog)
        self._ports.append(port)

    def connect(
        self,
        remote_address: str | ipaddress.IPv4Address,
        remote_port: int,
        app: App,
        *,
        local_port: int | None = None,
    ) -> Connection:
        """Start an active open to the kernel side; ``app`` gets the connection's events."""
        conn = self.stack.connect(
            remote_address, remote_port, now=self._clock(), local_port=local_port
        )
        self._apps.attach(conn, app)
        return conn

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask :meth:`run` to close connections gracefully and return (thread-safe)."""
        self._stop_reason = reason
        self._stop.set()

    @property
    def connections(self) -> list[Connection]:
        """Connections with an application attached that have not ended yet."""
        return [c for c, _ in self._apps.items()]

    # -- the loop --------------------------------------------------------

    def run(
        self,
        app_factory: Callable[[], App] | None = None,
        *,
        until: Callable[[], bool] | None = None,
        deadline: float | None = None,
        handle_signals: bool = True,
        shutdown_grace: float = 3.0,
    ) -> RunStats:
        """Run the loop until ``until()`` is true, ``deadline`` passes, or a stop.

        Args:
            app_factory: makes the application of each accepted connection
                (None: accepted connections are closed at once).
            until: checked after every iteration, once output is written.
            deadline: absolute time (``clock()`` seconds) at which live
                connections are reset and the loop returns.
            handle_signals: on SIGINT/SIGTERM (main thread only), close the
                connections gracefully; a second signal stops at once.
            shutdown_grace: seconds a graceful stop waits for connections
                to finish before resetting them.

        Returns:
            :class:`RunStats` (also kept in :attr:`stats`).
        """
        dev = self.open()
        stats = self.stats
        start = self._clock()
        restore = self._install_signals() if handle_signals else {}
        stop_at: float | None = None
        try:
            while True:
                now = self._clock()
                accepting = stop_at is None
                for pkt in dev.read_packets():
                    # Each packet is answered before the next is read, as by a
                    # host on a wire: a burst of out-of-order segments draws
                    # one duplicate ACK each (RFC 5681 §4.2), and the apps read
                    # what arrived so the ACK carries the reopened window.
                    now = self._clock()
                    if self._packet_in(pkt, now):
                        self._dispatch(app_factory, accepting=accepting)
                        self._flush(now)
                due = self.stack.next_timer()
                if due is not None and now >= due:
                    self.stack.handle_timer(now)
                self._dispatch(app_factory, accepting=accepting)
                self._flush(now)

                if until is not None and until():
                    stats.reason = "until"
                    break
                if stop_at is None and self._stop.is_set():
                    stop_at = now + shutdown_grace
                    self._log(f"{self._stop_reason}: closing connections")
                    self._close_all()
                    self._flush(now)
                if stop_at is not None and (not self._live() or now >= stop_at):
                    stats.reason = self._stop_reason
                    break
                if deadline is not None and now >= deadline:
                    stats.reason = "deadline"
                    break

                wait = MAX_WAIT
                due = self.stack.next_timer()
                if due is not None:
                    wait = min(wait, due - now)
                if deadline is not None:
                    wait = min(wait, deadline - now)
                if stop_at is not None:
                    wait = min(wait, stop_at - now)
                with contextlib.suppress(InterruptedError):
                    select.select([dev.fileno()], [], [], max(wait, 0.0))
            self._abort_live()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            stats.elapsed = self._clock() - start
        return stats

    def _packet_in(self, pkt: bytes, now: float) -> bool:
        """Give ``pkt`` to the stack if it is ours; False if it was not (or was lost)."""
        # IPv4 (version nibble 4) to our address; everything else is not ours.
        if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[16:20] != self._our_bytes:
            self.stats.ignored += 1
            return False
        if self.loss and self._rng.random() < self.loss:
            self.stats.lost += 1
            return False
        if self.record:
            self.packets.append((now, pkt))
        self.stats.packets_in += 1
        self.stats.bytes_in += len(pkt)
        self.stack.receive(pkt, now)
        return True

    def _flush(self, now: float) -> None:
        dev = self._device
        assert dev is not None
        for pkt in self.stack.packets_to_send(now):
            if self.loss and self._rng.random() < self.loss:
                self.stats.lost += 1
                continue
            if self.record:
                self.packets.append((now, pkt))
            if dev.write(pkt):
                self.stats.packets_out += 1
                self.stats.bytes_out += len(pkt)
            else:
                self.stats.write_errors += 1

    def _dispatch(self, app_factory: Callable[[], App] | None, *, accepting: bool) -> None:
        self._accept_all(app_factory, accepting=accepting)
        for _ in range(100_000):  # bounded: apps' calls may add events
            item = self.stack.next_event()
            if item is None:
                break
            conn, event = item
            if self._apps.app_of(conn) is None:
                self._accept_all(app_factory, accepting=accepting)
            self._apps.on_event(conn, event)  # ignored if no application owns it
        for conn, _app in self._apps.items():
            if conn.state in _DONE_STATES:  # TIME-WAIT: nothing left for the app
                self._apps.remove(conn)
        self.stats.finished = self._apps.ended
        self.stats.app_errors = len(self._apps.errors)

    def _accept_all(self, app_factory: Callable[[], App] | None, *, accepting: bool) -> None:
        for port in self._ports:
            for _ in range(10_000):
                conn = self.stack.accept(port)
                if conn is None:
                    break
                self.stats.accepted += 1
                self._log(f"accepted {conn.remote} -> {conn.local}")
                if app_factory is None or not accepting:
                    conn.close()
                    continue
                self._apps.attach(conn, app_factory(), accepted=True)

    def _live(self) -> list[Connection]:
        return [c for c, _ in self._apps.items() if c.state not in _DONE_STATES]

    def _close_all(self) -> None:
        for conn in self._live():
            with contextlib.suppress(TcpStackError):
                conn.close()

    def _abort_live(self) -> None:
        live = self._live()
        for conn in live:
            try:
                conn.abort()
                self.stats.aborted += 1
            except TcpStackError:
                pass
        if live and self._device is not None:
            self._flush(self._clock())

    def _install_signals(
        self,
    ) -> dict[int, Callable[[int, FrameType | None], object] | int | None]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt  # second signal: stop now (device still removed)
            self.request_stop("signal")

        previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
        return previous

    # -- output ----------------------------------------------------------

    def write_pcap(self, path: str | Path) -> int:
        """Write the recorded packets (wall-clock timestamps) as a pcap; return the count.

        Raises:
            OSError: the file cannot be written.
        """
        from ..tools.pcap import write_pcap  # another engineer's module: import lazily

        packets = [(t + self._wall_offset, p) for t, p in self.packets]
        write_pcap(path, packets)
        return len(packets)
