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

A device is only ever removed by the instance that created it: a name
already in use in the namespace (a TUN device of another process, a
persistent TUN device, a veth, ``lo``...) is refused before anything is
created, and :meth:`TunDevice.close` deletes a link only if the link of that
name still has the interface index the device was created with. A network
already routed to another link (an existing address of that network, or of
a part of it) is refused too: the kernel would send the packets for our
stack out of that other link, and a connection would hang.

Run it inside a network namespace made for the purpose (see
:mod:`tcpstack.drivers.netns`), never in the root namespace of a machine
you care about.

The loop (:meth:`TunDriver.run`) is the sans-I/O pattern: read packets from
the fd into ``stack.receive(pkt, now)``, fire due timers, accept new
connections and dispatch ``stack.next_event()`` to the applications, write
``stack.packets_to_send(now)``, then ``select`` until the next packet or
timer. ``now`` is ``time.monotonic()`` in seconds.

The loop also watches its surroundings every ``WATCH_PERIOD`` seconds: it
stops at once if its device is removed from under it (``ip link del``), and
closes its connections and stops if the named network namespace it runs in
is deleted (``ip netns del``: the namespace itself lives on while a process
is inside it, so a server that did not notice would run on, unreachable).

Fault injection (:mod:`tcpstack.drivers.faults`, the fault model the
simulator's links use too): a seeded
:class:`~tcpstack.drivers.faults.FaultInjector` on each direction of the
device can drop (at random or in Gilbert-Elliott bursts), duplicate,
reorder, delay and corrupt packets, to exercise both TCPs' recovery against
each other. Held packets are released by the loop at their due time.

Slow readers: with ``read_rate`` the applications read only every
``READ_PERIOD`` seconds, a limited amount each time (:class:`ReadThrottle`),
so our receive window closes and reopens as behind a slow application.

Segmentation offload (``offload=True``, the driver's default; ``tcpstack tun
--no-offload`` turns it off), as gVisor's netstack and other user-space TCPs
do it: the device is opened with ``IFF_VNET_HDR``, every read and write
carries a 10-byte virtio-net header (:mod:`tcpstack.drivers.vnet`), and
``TUNSETOFFLOAD`` lets the kernel use checksum offload and TSO (IPv4 and
IPv6) on the device. Then:

- inbound, the kernel's TCP hands us segments of up to 64 KiB (``GSO_TCPV4``)
  standing for many MSS-sized ones, their checksum left partial
  (``NEEDS_CSUM``): the device completes it (one pass over the packet), so the
  stack, which verifies every checksum, sees a valid packet; a packet the
  kernel marks ``DATA_VALID`` is passed as it came (a coalesced one gets a
  fresh checksum). The stack accepts any segment within its window, whatever
  its length;
- outbound, with ``TcpConfig(tso=True)`` on the stack (``tcpstack tun`` sets
  it unless ``--no-offload``) the stack sends super-segments of up to 64 KiB
  (:data:`~tcpstack.sender.TSO_MAX_BYTES` of data); the device writes each
  with ``GSO_TCPV4``, ``gso_size`` the connection's segment size (its MSS less
  the timestamps option) and ``hdr_len``. A packet with a complete checksum
  goes without ``NEEDS_CSUM``: the kernel verifies it, so a packet the fault
  injector corrupted is caught. A packet whose TCP checksum field holds only
  the pseudo-header sum (made by
  :class:`~tcpstack.wire.ip.PartialChecksumEncoder`, written with
  ``TunDevice.write(..., partial=True)``) goes with ``NEEDS_CSUM``: neither
  our process nor the kernel then sums its payload, which is what makes
  offload pay when sending (a fault injector or a pcap needs complete
  checksums, so they keep the first way). The pure ACKs the kernel sends
  back are answered together, not one by one (:func:`_pure_ack`);
- the device's MTU stays what it is (1500: MSS 1460); only the packets that
  cross the device are larger, and the pcap (``record``) and the trace show
  them as they crossed it, super-segments included.

If the kernel refuses ``IFF_VNET_HDR`` or the offload ioctls, the driver says
so in one line (``log``) and falls back to plain packets: super-segments the
stack still makes are then cut into MSS-sized packets in software
(:func:`~tcpstack.drivers.vnet.segment`, as the kernel's GSO does).
:attr:`RunStats.offload` tells which path ran. Fault injection applies to
the packets as they cross the device: with offload, a lost packet may be a
64 KiB super-segment.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from ..errors import TcpStackError
from ..negotiation import TS_OPTION_SPACE
from ..state import State
from .apps import App, PerConnection
from .faults import DIRECTIONS, NO_FAULTS, FaultConfig, FaultInjector, FaultStats, direction_rng
from .netns import NetnsWatch
from .vnet import (
    F_NEEDS_CSUM,
    PLAIN,
    TUN_F_CSUM,
    TUN_F_TSO4,
    TUN_F_TSO6,
    VNET_HDR_LEN,
    CheckedPacket,
    VnetError,
    VnetHeader,
    complete_checksum,
    gso_header,
    partial_header,
    segment,
    tcp_checksum,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..stack import Stack

__all__ = [
    "DEFAULT_MTU",
    "ReadThrottle",
    "RunStats",
    "ThrottledConnection",
    "TunDevice",
    "TunDeviceRemoved",
    "TunDriver",
    "TunError",
    "check_tun_available",
    "conflicting_address",
    "parse_peer",
    "validate_ifname",
]

TUN_PATH = "/dev/net/tun"
"""The TUN/TAP clone device."""

TUNSETIFF = 0x400454CA
"""``_IOW('T', 202, int)``: attach the fd to a TUN/TAP interface."""
TUNGETIFF = 0x800454D2
"""``_IOR('T', 210, unsigned int)``: the name and flags of the fd's interface."""
IFF_TUN = 0x0001
"""Layer-3 device: raw IP packets, no Ethernet header."""
IFF_NO_PI = 0x1000
"""No 4-byte packet-information prefix on reads and writes."""
IFF_PERSIST = 0x0800
"""A persistent device (``ip tuntap add``): never one this module created."""
IFF_VNET_HDR = 0x4000
"""Every read and write starts with a virtio-net header (:mod:`.vnet`)."""
TUNSETOFFLOAD = 0x400454D0
"""``_IOW('T', 208, unsigned int)``: the offloads we accept (``TUN_F_*``, by value)."""
TUNSETVNETHDRSZ = 0x400454D8
"""``_IOW('T', 216, int)``: the virtio-net header size (pointer to an int)."""
TUNSETVNETLE = 0x400454DC
"""``_IOW('T', 220, int)``: the header's fields are little-endian (pointer to an int)."""
OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
"""What ``TUNSETOFFLOAD`` asks for: partial checksums and TCP segmentation, IPv4 and IPv6."""
IFNAMSIZ = 16
"""Interface names are at most ``IFNAMSIZ - 1`` = 15 bytes."""

DEFAULT_MTU = 1500
"""MTU of the device (bytes); matches the stack's default MSS of 1460."""

READ_SIZE = 65536 + 128
"""Bytes asked of each ``read()`` on the fd (larger than any packet, a 64 KiB
super-segment and its virtio-net header included)."""

READ_BUDGET = 128
"""Packets read per loop iteration before the stack gets to answer."""

MAX_WAIT = 0.2
"""Longest ``select`` wait (seconds), so signals and ``until()`` are noticed."""

WATCH_PERIOD = 0.5
"""Seconds between the loop's checks that its device and its named network
namespace still exist."""

DRAIN_LIMIT = 5.0
"""Longest wait (seconds) at the end of a run for packets still held by the
to-kernel fault injector (a final ACK, say); later ones are discarded."""

READ_PERIOD = 0.01
"""Seconds between the reads of a throttled (slow) application (:class:`ReadThrottle`)."""

CAP_NET_ADMIN = 12
"""Capability bit needed to create a TUN device and configure links."""

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_DONE_STATES = frozenset({State.CLOSED, State.TIME_WAIT})
_CAN_RECEIVE = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})
_CAN_SEND = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})


class TunError(TcpStackError):
    """The TUN device could not be opened or configured (clear one-line message)."""


class TunDeviceRemoved(TunError, OSError):
    """The device was removed from under its open fd (``ip link del``).

    Also an :class:`OSError`, which is what reading the fd raised before.
    """


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


def conflicting_address(
    peer: ipaddress.IPv4Interface, existing: list[tuple[str, ipaddress.IPv4Interface]]
) -> str | None:
    """Why ``peer``'s network cannot be given to a new device, or None if it can.

    An existing address whose network lies inside ``peer``'s network (the
    same network, or a smaller part of it) wins the kernel's route lookup
    for that part: packets to our stack would leave by that other link, and
    a connection would hang. A larger existing network is fine (the new,
    more specific route wins).

    Args:
        peer: the kernel side's address and prefix for the new device.
        existing: ``(ifname, address)`` of the IPv4 addresses of the namespace.
    """
    for ifname, iface in existing:
        if iface.network.subnet_of(peer.network):
            return (
                f"{peer.network} is already routed to {ifname} (address {iface}): "
                f"packets to the stack would leave by {ifname}; use another network"
            )
    return None


class TunDevice:
    """An open TUN device with its kernel side addressed and up.

    The device is created by this instance and only ever removed by it:
    before creating it, a name already in use in this network namespace (by
    any kind of link) is refused, and so is a network already routed to
    another link (see :func:`conflicting_address`). The interface
    index is kept in :attr:`ifindex`; :meth:`close` deletes a link of that
    name only while it still has that index.

    Args:
        ifname: interface name to create (1-15 characters).
        peer: the kernel side's address and prefix, e.g. ``192.0.2.1/24``.
        mtu: device MTU in bytes.
        offload: open with ``IFF_VNET_HDR`` and ask for checksum and
            segmentation offload (see the module docstring). If the kernel
            refuses, the device works without: :attr:`offload` is then False
            and :attr:`offload_error` says why. Default False: plain packets.

    Either way :meth:`read_packets` returns raw IP packets with complete
    checksums and :meth:`write` takes raw IP packets.

    Raises:
        TunError: the name is in use in this namespace, the network is
            already routed elsewhere, or the device could not be created or
            configured (the fd is closed again and a device created here is
            removed, so nothing is left behind; nothing else is touched).
        ValueError: invalid ``ifname``.
    """

    vnet_hdr: int = 0
    """Bytes of virtio-net header before each packet on the fd (0: none)."""
    offload: bool = False
    """True once the kernel accepted ``TUNSETOFFLOAD`` (:data:`OFFLOADS`)."""
    offload_error: str | None = None
    """Why offload was asked for but is not in effect (one line), else None."""
    bad_frames: int = 0
    """Frames read whose virtio-net header could not be applied (dropped)."""
    complete_checksums: bool = True
    """Complete the partial checksum of a ``NEEDS_CSUM`` packet (one pass over
    it). Off (the driver's choice when it records no packets and injects no
    faults): the packet is handed on as a :class:`~.vnet.CheckedPacket` with
    the partial field as the kernel left it; the stack, told the checksum is
    verified, never reads that field."""

    def __init__(
        self,
        ifname: str,
        peer: ipaddress.IPv4Interface,
        *,
        mtu: int = DEFAULT_MTU,
        offload: bool = False,
    ) -> None:
        self.ifname = validate_ifname(ifname)
        self.peer = peer
        self.mtu = mtu
        self.fd = -1
        self.ifindex: int | None = None
        """Interface index of the device this instance created (None before)."""
        check_tun_available()
        self._check_free()
        try:
            self.fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            self._attach(offload)
            if offload:
                self._enable_offload()
            self._configure()
        except BaseException:
            self.close()
            raise

    def _check_free(self) -> None:
        """Refuse a name in use or a network already routed elsewhere (nothing created yet)."""
        if _link_index(self.ifname) is not None:
            raise TunError(
                f"interface {self.ifname} already exists in this network namespace "
                "(another tcpstack, or another link): choose another name"
            )
        conflict = conflicting_address(self.peer, _ipv4_addresses())
        if conflict is not None:
            raise TunError(conflict)

    def _attach(self, vnet: bool) -> None:
        """TUNSETIFF: create the device; remember its index (only then is it ours).

        With ``vnet``, ask for ``IFF_VNET_HDR`` first and, if refused, create
        the device without it (:attr:`offload_error` says so).
        """
        flags = IFF_TUN | IFF_NO_PI
        if vnet:
            ifr = struct.pack("16sH22x", self.ifname.encode(), flags | IFF_VNET_HDR)
            try:
                fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            except OSError as exc:
                self.offload_error = f"TUNSETIFF with IFF_VNET_HDR: {exc.strerror}"
            else:
                self.vnet_hdr = VNET_HDR_LEN
        if not self.vnet_hdr:
            ifr = struct.pack("16sH22x", self.ifname.encode(), flags)
            try:
                fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            except OSError as exc:
                hint = " (device name in use?)" if exc.errno in (errno.EBUSY, errno.EINVAL) else ""
                raise TunError(f"TUNSETIFF {self.ifname}: {exc.strerror}{hint}") from None
        # The name was free a moment ago; if a persistent TUN device of that name
        # appeared since, TUNSETIFF attached us to it: not ours, leave it alone.
        try:
            flags = struct.unpack("16sH22x", fcntl.ioctl(self.fd, TUNGETIFF, bytes(40)))[1]
        except OSError as exc:
            raise TunError(f"TUNGETIFF {self.ifname}: {exc.strerror}") from None
        if flags & IFF_PERSIST:
            raise TunError(
                f"interface {self.ifname} already exists in this network namespace "
                "(a persistent TUN device): choose another name"
            )
        self.ifindex = _link_index(self.ifname)
        if self.ifindex is None:
            raise TunError(f"device {self.ifname} vanished after TUNSETIFF")

    def _enable_offload(self) -> None:
        """Header size, byte order and ``TUNSETOFFLOAD``; on refusal, stay without offload.

        The header stays on the fd once ``IFF_VNET_HDR`` is set (a plain
        header is then written before each packet); without ``TUNSETOFFLOAD``
        the kernel hands us only plain packets with complete checksums.
        """
        if not self.vnet_hdr:
            return
        steps = (
            ("TUNSETVNETHDRSZ", TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN)),
            ("TUNSETVNETLE", TUNSETVNETLE, struct.pack("i", 1)),
            ("TUNSETOFFLOAD", TUNSETOFFLOAD, OFFLOADS),
        )
        for name, request, arg in steps:
            try:
                fcntl.ioctl(self.fd, request, arg)
            except OSError as exc:
                if name == "TUNSETVNETLE" and sys.byteorder == "little":
                    continue  # legacy virtio is the host's byte order: little-endian already
                self.offload_error = f"{name}: {exc.strerror}"
                return
        self.offload = True

    def _configure(self) -> None:
        from pyroute2 import IPRoute  # imported here: Linux-only dependency

        try:
            with IPRoute() as ipr:
                ipr.addr(
                    "add",
                    index=self.ifindex,
                    address=str(self.peer.ip),
                    prefixlen=self.peer.network.prefixlen,
                )
                ipr.link("set", index=self.ifindex, mtu=self.mtu, state="up")
        except Exception as exc:  # pyroute2's NetlinkError and friends
            raise TunError(f"configuring {self.ifname}: {exc}") from None
        # No IPv6 chatter (router solicitations, MLD) on the device: best effort.
        try:
            with open(f"/proc/sys/net/ipv6/conf/{self.ifname}/disable_ipv6", "w") as fp:
                fp.write("1")
        except OSError:
            pass

    def present(self) -> bool:
        """True while the link named :attr:`ifname` here is the device this instance made.

        False once it was removed (``ip link del``), replaced by another link
        of the same name, or closed. One ``ioctl``, no netlink.
        """
        return (
            self.fd >= 0
            and self.ifindex is not None
            and _link_index(self.ifname) == self.ifindex
        )

    def read_packets(self, budget: int = READ_BUDGET) -> list[bytes]:
        """Read up to ``budget`` packets that are ready (never blocks).

        Raises:
            TunDeviceRemoved: the device was removed from under the fd
                (``ip link del``); an :class:`OSError` too.
            OSError: any other read error of the fd.
        """
        out: list[bytes] = []
        hdr = self.vnet_hdr
        for _ in range(budget):
            try:
                frame = os.read(self.fd, READ_SIZE)
                if not hdr:
                    out.append(frame)
                elif frame[:2] == b"\0\0":  # no flags, no GSO: the packet as it is
                    out.append(frame[hdr:])
                elif frame[0] & F_NEEDS_CSUM and not self.complete_checksums:
                    # Made by the local kernel: nothing to verify, nobody to show it to.
                    out.append(CheckedPacket(memoryview(frame)[hdr:]))
                else:
                    out.append(complete_checksum(VnetHeader.decode(frame), frame[hdr:]))
            except VnetError:
                self.bad_frames += 1  # not a TCP packet the header fits: dropped
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.EBADFD:  # what a read returns once the link is gone
                    raise TunDeviceRemoved(
                        f"{self.ifname} was removed from under us (ip link del?)"
                    ) from None
                raise
        return out

    def write(self, packet: bytes, gso_size: int = 0, *, partial: bool = False) -> bool:
        """Inject one raw IPv4 packet into the kernel; False if the kernel refused it.

        Args:
            packet: the packet, its checksums complete (but see ``partial``).
            gso_size: for a TCP segment carrying more than this many bytes of
                data (a super-segment), the data bytes per segment it stands
                for: with offload it goes as one ``GSO_TCPV4`` packet, without
                it is cut into packets of that size (:func:`.vnet.segment`).
                0: the packet goes as it is.
            partial: the TCP checksum field holds only the pseudo-header sum
                (:class:`~tcpstack.wire.ip.PartialChecksumEncoder`): with
                offload the kernel completes it (``NEEDS_CSUM``: neither we
                nor the kernel sum the payload); without, it is completed here.
        """
        hdr = self.vnet_hdr
        frames: list[tuple[VnetHeader, bytes]] = [(PLAIN, packet)]
        try:
            if partial and self.offload:
                frames = [(partial_header(packet, gso_size), packet)]
            else:
                if partial:
                    packet = tcp_checksum(packet)
                    frames = [(PLAIN, packet)]
                if gso_size > 0:
                    if self.offload:
                        frames = [gso_header(packet, gso_size)]
                    else:
                        frames = [(PLAIN, p) for p in segment(packet, gso_size)]
        except VnetError:
            pass  # not a whole TCP/IPv4 packet (corrupted on purpose?): as it is
        try:
            for header, data in frames:
                if hdr:
                    os.writev(self.fd, (header.encode(hdr), data))
                else:
                    os.write(self.fd, data)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        """The device's file descriptor (for ``select``)."""
        return self.fd

    def close(self) -> None:
        """Close the fd (which removes the device) and delete the link if it remains.

        Only the device this instance created is deleted: a link of the same
        name with another index (or any link, if creation failed before the
        device existed) is left alone. Safe to call more than once.
        """
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        ifindex, self.ifindex = self.ifindex, None
        if ifindex is None or _link_index(self.ifname) != ifindex:
            return  # never created, or gone with the fd (the usual case), or not ours
        try:
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                ipr.link("del", index=ifindex)
        except Exception:  # gone in the meantime, or pyroute2 unavailable
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


def _link_index(ifname: str) -> int | None:
    """Index of the link named ``ifname`` in this network namespace, or None."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


def _ipv4_addresses() -> list[tuple[str, ipaddress.IPv4Interface]]:
    """``(ifname, address/prefix)`` of every IPv4 address in this network namespace.

    Raises:
        TunError: rtnetlink could not be asked.
    """
    from pyroute2 import IPRoute  # imported here: Linux-only dependency

    out: list[tuple[str, ipaddress.IPv4Interface]] = []
    try:
        with IPRoute() as ipr:
            names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
            for msg in ipr.get_addr(family=socket.AF_INET):
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                if addr:
                    name = names.get(msg["index"], f"index {msg['index']}")
                    out.append((name, ipaddress.IPv4Interface(f"{addr}/{msg['prefixlen']}")))
    except Exception as exc:  # pyroute2's NetlinkError and friends
        raise TunError(f"listing the addresses of this network namespace: {exc}") from None
    return out


@dataclass
class RunStats:
    """What one :meth:`TunDriver.run` did.

    Attributes:
        reason: why the loop ended: ``"until"``, ``"deadline"``, ``"signal"``,
            ``"stopped"`` (``request_stop()``), ``"netns-deleted"`` (the named
            network namespace the process runs in was deleted: connections
            closed gracefully) or ``"device-removed"`` (the device was removed
            from under the loop: connections abandoned, nothing more sent).
        elapsed: seconds the loop ran.
        packets_in, packets_out: packets given to the stack / written to the
            device (after fault injection); with offload a super-segment
            counts as one.
        bytes_in, bytes_out: their total size in bytes.
        ignored: packets read from the device that were not IPv4 to our address.
        lost: packets dropped on purpose by the fault injectors, both directions.
        write_errors: packets the kernel refused.
        accepted: connections taken from the accept queue.
        finished: connections with an application that reached TIME-WAIT or CLOSED.
        app_errors: local-API errors raised inside applications.
        aborted: connections reset because the loop had to end.
        zero_windows_in, zero_windows_out: segments (not SYN, not RST) from
            the kernel / from our stack advertising a zero window.
        windows_closed_in: times the kernel's window (SND.WND) fell below one
            MSS, so our stack could not send a full segment (zero-window
            probes and window updates then reopen it).
        windows_closed_out: times our receive window (RCV.WND) fell below one
            MSS (a slow reader: see ``read_rate``).
        throttled_reads: reads that the ``read_rate`` limit cut short.
        faults: the fault injectors' counters by direction (``"to-kernel"``,
            ``"from-kernel"``), when fault injection is on.
        offload: segmentation offload was in effect on the device.
        gso_in: packets longer than the MTU the kernel handed us (its
            coalesced super-segments: offload only).
        gso_out: super-segments written as one GSO packet (offload).
        segmented_out: super-segments cut into MTU-sized packets by the
            driver (no offload, but the stack made them: ``TcpConfig.tso``).
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
    zero_windows_in: int = 0
    zero_windows_out: int = 0
    windows_closed_in: int = 0
    windows_closed_out: int = 0
    throttled_reads: int = 0
    faults: dict[str, FaultStats] = field(default_factory=dict)
    offload: bool = False
    gso_in: int = 0
    gso_out: int = 0
    segmented_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counters as a JSON-serialisable dict."""
        out = asdict(self)
        out["elapsed"] = round(self.elapsed, 6)
        return out


class ReadThrottle:
    """A slow reader: the application reads only at ticks, ``period`` seconds apart.

    At each tick (:meth:`open`) the application may read up to ``quota =
    rate * period`` bytes (at least 1); between ticks every read returns
    nothing, as if the application slept between its ``recv`` calls. Bytes
    it cannot read stay in the connection's receive buffer, so the receive
    window closes whenever the peer sends faster than ``rate`` (or than the
    buffer size per ``period``), and reopens at the next tick.

    Args:
        rate: average read rate limit, bytes per second.
        clock: the driver's clock (seconds).
        period: seconds between ticks.

    Raises:
        ValueError: ``rate`` or ``period`` not a finite number > 0.
    """

    def __init__(
        self, rate: float, clock: Callable[[], float], *, period: float = READ_PERIOD
    ) -> None:
        if not 0 < rate < float("inf"):
            raise ValueError(f"read rate must be a finite number of bytes/s > 0, got {rate}")
        if not 0 < period < float("inf"):
            raise ValueError(f"read period must be a finite number of seconds > 0, got {period}")
        self.rate = float(rate)
        self.period = float(period)
        self.quota = max(1, int(rate * period))
        self.next_tick = clock()
        """When the next tick is due (seconds)."""
        self.budget = 0
        """Bytes that may still be read in the current tick (0 between ticks)."""
        self.ticks = 0

    def open(self, now: float) -> None:
        """Start a tick: the application may read ``quota`` bytes until :meth:`close`."""
        self.budget = self.quota
        self.ticks += 1
        nxt = self.next_tick + self.period  # keep the average rate if the loop was a bit late
        self.next_tick = nxt if nxt > now else now + self.period

    def close(self) -> None:
        """End the tick: reads return nothing until the next one."""
        self.budget = 0

    def take(self, want: int) -> int:
        """Grant up to ``want`` bytes of the current tick's budget; return how many."""
        n = min(want, self.budget)
        self.budget -= n
        return n


class ThrottledConnection:
    """The connection as an application sees it when its reads are throttled.

    Everything is passed to the :class:`~tcpstack.connection.Connection`,
    except that :meth:`read` returns no more than the :class:`ReadThrottle`
    grants. Unread bytes stay in the connection's receive buffer, so the
    receive window closes; the driver polls the application at the next
    tick. Once the connection is CLOSED reads are no longer limited (the
    application collects what the TCB still holds). :attr:`cut_short` counts
    reads that got less than was buffered.
    """

    def __init__(self, conn: Connection, throttle: ReadThrottle) -> None:
        self.conn = conn
        self.throttle = throttle
        self.cut_short = 0

    @property
    def state(self) -> State:
        """The connection's state."""
        return self.conn.state

    @property
    def at_eof(self) -> bool:
        """True once the peer's FIN arrived and every byte before it was read."""
        return self.conn.at_eof

    def read(self, max_bytes: int = -1) -> bytes:
        """Up to ``max_bytes`` buffered bytes (all if -1), as far as the throttle allows."""
        avail = self.conn.readable
        want = avail if max_bytes < 0 else min(max_bytes, avail)
        if want <= 0:
            return b""
        if self.conn.state is State.CLOSED:  # no window left to hold closed: the rest at once
            return self.conn.read(want)
        n = self.throttle.take(want)
        if n < want:
            self.cut_short += 1
        return self.conn.read(n) if n else b""

    def send(self, data: bytes) -> int:
        """Queue ``data``; return how many bytes the send buffer accepted."""
        return self.conn.send(data)

    def shutdown(self) -> None:
        """Half-close."""
        self.conn.shutdown()

    def close(self) -> None:
        """Full close."""
        self.conn.close()

    def abort(self) -> None:
        """Reset the connection."""
        self.conn.abort()


_Handle: TypeAlias = "Connection | ThrottledConnection"
"""What an application of the driver talks to."""


def _conn_of(handle: _Handle) -> Connection:
    return handle.conn if isinstance(handle, ThrottledConnection) else handle


def _zero_window(pkt: bytes) -> bool:
    """True if IPv4 ``pkt`` holds a TCP segment (not SYN, not RST) with a zero window."""
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 20 or pkt[9] != 6:
        return False
    return pkt[ihl + 14] == 0 and pkt[ihl + 15] == 0 and not pkt[ihl + 13] & 0x06


def _pure_ack(pkt: bytes) -> bool:
    """True if IPv4 ``pkt`` holds a TCP segment without data, SYN, FIN or RST.

    The loop lets such segments from the kernel pile up and answers them
    together (the flush after the batch it read): a sender's work per ACK is
    then only the ACK's processing, and the window the ACKs opened goes out
    in as few super-segments as it takes. Answered one at a time (a flush
    each), 64 MiB to the kernel went out as about 3,000 segments of 25 KB on
    average (a flush for each of the kernel's ACKs and window updates);
    batched, mostly as full 64 KiB super-segments (see docs/performance.md,
    "Sending over TUN"). Segments with data are still answered one by one.
    """
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 20 or pkt[9] != 6:
        return False
    return len(pkt) == ihl + (pkt[ihl + 12] >> 4) * 4 and not pkt[ihl + 13] & 0x07


class TunDriver:
    """Drive a :class:`~tcpstack.stack.Stack` over a TUN device.

    Args:
        ifname: the device to create.
        our_address: the stack's IPv4 address (must match the stack's).
        peer_cidr: the kernel side, e.g. ``"192.0.2.1/24"``.
        stack: the stack; the driver only calls its public API.
        mtu: device MTU in bytes.
        record: keep ``(time, raw bytes)`` of every packet in and out in
            :attr:`packets` (for :meth:`write_pcap`). This is our host's
            view: packets as our stack sent them (before the to-kernel
            faults) and as it received them (after the from-kernel faults).
        to_kernel, from_kernel: fault injection on each direction (see
            :mod:`tcpstack.drivers.faults`); default none.
        fault_seed: seed of the fault injectors (None: a random one, kept
            in :attr:`fault_seed` so the run can be repeated).
        read_rate: make the applications slow readers: each reads at most
            ``read_rate * READ_PERIOD`` bytes every ``READ_PERIOD`` seconds
            (its own :class:`ReadThrottle`); None: no limit.
        log: called with one-line progress messages (default: silent).
        clock: monotonic clock in seconds (the stack's ``now``).
        watch_netns: stop :meth:`run` gracefully once the named network
            namespace the process runs in is deleted (``ip netns del``; see
            :class:`~tcpstack.drivers.netns.NetnsWatch`).
        offload: open the device with checksum and segmentation offload
            (see the module docstring; falls back to plain packets, with a
            log line, if the kernel refuses). Give the stack
            ``TcpConfig(tso=True)`` to send super-segments too. False: plain
            packets of at most the MTU both ways (super-segments the stack
            makes anyway are cut by the driver).

    Use as a context manager (or call :meth:`open` / :meth:`close`): the
    device exists between the two, and :meth:`close` always removes it.

    Raises:
        ValueError: invalid names or addresses, ``our_address`` differs
            from ``stack.address``, or a bad ``read_rate``.
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
        to_kernel: FaultConfig = NO_FAULTS,
        from_kernel: FaultConfig = NO_FAULTS,
        fault_seed: int | None = None,
        read_rate: float | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_netns: bool = True,
        offload: bool = True,
    ) -> None:
        self.ifname = validate_ifname(ifname)
        self.address, self.peer = parse_peer(str(our_address), peer_cidr)
        if stack.address != self.address:
            raise ValueError(f"the stack's address {stack.address} is not {self.address}")
        self.stack = stack
        self.mtu = mtu
        self.record = record
        if read_rate is not None:
            ReadThrottle(read_rate, clock)  # validates
        self.read_rate = read_rate
        self.fault_seed = (
            fault_seed if fault_seed is not None else int.from_bytes(os.urandom(4), "big")
        )
        self.injectors: dict[str, FaultInjector] = {}
        """The active fault injectors by direction (``"to-kernel"``, ``"from-kernel"``)."""
        for direction, config in zip(DIRECTIONS, (to_kernel, from_kernel), strict=True):
            if config.active:
                self.injectors[direction] = FaultInjector(
                    config, direction_rng(self.fault_seed, direction), name=direction
                )
        self._to_kernel = self.injectors.get("to-kernel")
        self._from_kernel = self.injectors.get("from-kernel")
        self.packets: list[tuple[float, bytes]] = []
        """``(monotonic time, raw IPv4 packet)`` of every packet in and out, if recording."""
        self.stats = RunStats()
        self.stats.faults = {d: inj.stats for d, inj in self.injectors.items()}
        self._log = log or (lambda _msg: None)
        self._clock = clock
        self._wall_offset = time.time() - time.monotonic()
        self._device: TunDevice | None = None
        self._our_bytes = self.address.packed
        self._apps: PerConnection[_Handle] = PerConnection()
        self._throttled: dict[int, ThrottledConnection] = {}
        self._closed: dict[int, tuple[bool, bool]] = {}  # id(conn) -> windows closed?
        self._throttled_done = 0  # cut-short reads of throttled connections already gone
        self._dropped_to = 0  # the injectors' drop counts last seen (to trace each drop)
        self._dropped_from = 0
        self._ports: list[int] = []
        self._stop = threading.Event()
        self._stop_reason = ""
        self.watch_netns = watch_netns
        self._netns_watch: NetnsWatch | None = None
        self._device_gone = False  # removed from under us: nothing can be sent any more
        self._gso_conn: tuple[bytes, Connection] | None = None  # see _gso_size
        self.offload = offload

    @property
    def faults_active(self) -> bool:
        """True if any fault injection is configured."""
        return bool(self.injectors)

    # -- lifecycle -------------------------------------------------------

    def open(self) -> TunDevice:
        """Create and configure the device (idempotent).

        Raises:
            TunError: the device cannot be created (see :class:`TunDevice`).
        """
        if self._device is None:
            dev = TunDevice(self.ifname, self.peer, mtu=self.mtu, offload=self.offload)
            # A pcap shows, and the fault injector's corruption and its checks
            # need, complete checksums; otherwise completing them is a wasted pass.
            dev.complete_checksums = self.record or self.faults_active
            # The same goes out: the kernel completes our TCP checksums (see
            # PartialChecksumEncoder), unless a pcap or the fault injector needs them.
            self.stack.checksum_offload = dev.offload and not dev.complete_checksums
            self._device = dev
            self._device_gone = False
            self.stats.offload = dev.offload
            if self.watch_netns:
                self._netns_watch = NetnsWatch()
            self._log(
                f"{self.ifname}: kernel side {self.peer}, tcpstack at {self.address}, "
                f"mtu {self.mtu}"
            )
            if dev.offload:
                self._log("offload: checksum and TSO (virtio-net header), segments up to 64 KiB")
            elif self.offload:
                self._log(
                    f"offload refused by the kernel ({dev.offload_error}): plain packets, "
                    "super-segments cut by the driver"
                )
            for direction, inj in self.injectors.items():
                self._log(f"faults {direction}: {inj.config.describe()} (seed {self.fault_seed})")
        return self._device

    def close(self) -> None:
        """Remove the device. Safe to call more than once."""
        if self._device is not None:
            dev, self._device = self._device, None
            self.stack.checksum_offload = False
            dev.close()
            if not self._device_gone:
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
        self.stack.listen(port, backlog, now=self._clock())  # one clock for the whole trace
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
        self._apps.attach(self._handle(conn), app)
        return conn

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask :meth:`run` to close connections gracefully and return (thread-safe)."""
        self._stop_reason = reason
        self._stop.set()

    @property
    def connections(self) -> list[Connection]:
        """Connections with an application attached that have not ended yet."""
        return [_conn_of(h) for h, _ in self._apps.items()]

    # -- the loop --------------------------------------------------------

    def run(
        self,
        app_factory: Callable[[], App] | None = None,
        *,
        until: Callable[[], bool] | None = None,
        deadline: float | None = None,
        handle_signals: bool = True,
        shutdown_grace: float = 3.0,
        linger: float = 0.0,
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
            linger: seconds the loop keeps running once ``until()`` is true,
                so that a connection in TIME-WAIT can acknowledge a FIN the
                peer sends again (our last ACK may have been lost on purpose).

        Packets still held by the to-kernel fault injector when the loop
        ends are written at their due time (at most ``DRAIN_LIMIT`` seconds
        later); packets held on their way to the stack are discarded.

        Returns:
            :class:`RunStats` (also kept in :attr:`stats`).
        """
        dev = self.open()
        stats = self.stats
        start = self._clock()
        restore = self._install_signals() if handle_signals else {}
        stop_at: float | None = None
        linger_until: float | None = None
        watch_at = start + WATCH_PERIOD
        try:
            while True:
                now = self._clock()
                self.stack.tick(now)  # user calls made in this pass are stamped now
                accepting = stop_at is None
                self._release_held(now, app_factory, accepting=accepting)
                try:
                    packets = dev.read_packets()
                except TunDeviceRemoved as exc:
                    self._lost_device(str(exc))
                    break
                for pkt in packets:
                    # Each packet that carries data (or SYN, FIN, RST) is answered
                    # before the next is read, as by a host on a wire: a burst
                    # of out-of-order segments draws one duplicate ACK each (RFC
                    # 5681 §4.2), and the apps read what arrived so the ACK
                    # carries the reopened window. A pure ACK is not answered
                    # on its own: see _pure_ack.
                    now = self._clock()
                    if self._packet_in(pkt, now) and not _pure_ack(pkt):
                        self._dispatch(app_factory, accepting=accepting)
                        self._flush(now)
                due = self.stack.next_timer()
                if due is not None and now >= due:
                    self.stack.handle_timer(now)
                self._wake_throttled(now)
                self._dispatch(app_factory, accepting=accepting)
                self._flush(now)

                if now >= watch_at:
                    watch_at = now + WATCH_PERIOD
                    if not dev.present():
                        self._lost_device(f"{self.ifname} was removed from under us (ip link del?)")
                        break
                    self._watch_netns()
                if linger_until is None and until is not None and until():
                    linger_until = now + linger
                if linger_until is not None and now >= linger_until:
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
                for t in (
                    self.stack.next_timer(),
                    deadline,
                    stop_at,
                    linger_until,
                    self._next_wake(),
                ):
                    if t is not None:
                        wait = min(wait, t - now)
                with contextlib.suppress(InterruptedError):
                    select.select([dev.fileno()], [], [], max(wait, 0.0))
            self._abort_live()
            self._drain_held()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            stats.elapsed = self._clock() - start
            stats.throttled_reads = sum(t.cut_short for t in self._throttled.values()) + (
                self._throttled_done
            )
        return stats

    def _lost_device(self, message: str) -> None:
        """The device is gone: end the loop now (nothing can be sent any more)."""
        self._device_gone = True
        self.stats.reason = "device-removed"
        self._log(f"{message}: stopping")

    def _watch_netns(self) -> None:
        """Ask for a graceful stop once the named namespace we run in is deleted."""
        watch = self._netns_watch
        if watch is None or self._stop.is_set() or not watch.deleted():
            return
        self._log(f"network namespace {' '.join(watch.names)} was deleted (ip netns del)")
        self.request_stop("netns-deleted")

    def _next_wake(self) -> float | None:
        """The earliest time a held packet is due or a slow reader with data has a tick."""
        times = [t for inj in self.injectors.values() if (t := inj.next_due()) is not None]
        times.extend(h.throttle.next_tick for h in self._throttled.values() if h.conn.readable)
        return min(times) if times else None

    def _release_held(
        self, now: float, app_factory: Callable[[], App] | None, *, accepting: bool
    ) -> None:
        """Deliver the packets the fault injectors held that are due by ``now``."""
        inj = self._from_kernel
        if inj is not None and inj.pending:
            delivered = False
            for pkt in inj.pop_due(now):
                self._deliver(pkt, now)
                delivered = True
            if delivered:
                self._dispatch(app_factory, accepting=accepting)
                self._flush(now)
        inj = self._to_kernel
        if inj is not None and inj.pending:
            for pkt in inj.pop_due(now):
                self._write(pkt)

    def _drain_held(self) -> None:
        """At the end: write held to-kernel packets when due (bounded), drop the others."""
        if self._from_kernel is not None:
            self._from_kernel.clear()
        inj = self._to_kernel
        if inj is None or self._device is None or self._device_gone:
            return
        end = self._clock() + DRAIN_LIMIT
        for _ in range(100_000):  # bounded in count as well as in time
            due = inj.next_due()
            now = self._clock()
            if due is None or now >= end:
                break
            if due > now:
                time.sleep(min(due, end) - now)
                continue
            for pkt in inj.pop_due(now):
                self._write(pkt)
        inj.clear()

    def _wake_throttled(self, now: float) -> None:
        """A tick of each throttled application with bytes to read: let it read them."""
        for handle in list(self._throttled.values()):
            throttle = handle.throttle
            if handle.conn.readable and now >= throttle.next_tick:
                throttle.open(now)
                try:
                    self._apps.poll(handle)
                finally:
                    throttle.close()

    def _packet_in(self, pkt: bytes, now: float) -> bool:
        """Give ``pkt`` to the stack if it is ours; False if nothing was delivered."""
        # IPv4 (version nibble 4) to our address; everything else is not ours.
        if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[16:20] != self._our_bytes:
            self.stats.ignored += 1
            return False
        inj = self._from_kernel
        if inj is None:
            self._deliver(pkt, now)
            return True
        out = inj.push(pkt, now)
        if inj.stats.dropped != self._dropped_from:
            self._dropped_from = inj.stats.dropped
            self.stats.lost += 1
            self._trace_fault_drop(pkt, now, "from-kernel")
        for p in out:
            self._deliver(p, now)
        return bool(out)

    def _deliver(self, pkt: bytes, now: float) -> None:
        if self.record:
            self.packets.append((now, pkt))
        stats = self.stats
        stats.packets_in += 1
        stats.bytes_in += len(pkt)
        if len(pkt) > self.mtu:
            stats.gso_in += 1
        if _zero_window(pkt):
            stats.zero_windows_in += 1
        # The kernel's own check (offload) spares the stack a second pass.
        self.stack.receive(pkt, now, checksum_verified=type(pkt) is CheckedPacket)

    def _flush(self, now: float) -> None:
        inj = self._to_kernel
        stats = self.stats
        for pkt in self.stack.packets_to_send(now):
            if self.record:
                self.packets.append((now, pkt))
            if _zero_window(pkt):
                stats.zero_windows_out += 1
            if inj is None:
                self._write(pkt)
                continue
            out = inj.push(pkt, now)
            if inj.stats.dropped != self._dropped_to:
                self._dropped_to = inj.stats.dropped
                stats.lost += 1
                self._trace_fault_drop(pkt, now, "to-kernel")
            for p in out:
                self._write(p)
        self._watch_windows()

    def _watch_windows(self) -> None:
        """Count the times each window fell below one MSS (see :class:`RunStats`)."""
        closed = self._closed
        stats = self.stats
        for handle, _app in self._apps.items():
            conn = _conn_of(handle)
            state = conn.state
            ours = state in _CAN_RECEIVE and conn.rcv_wnd < conn.rcv_mss
            theirs = state in _CAN_SEND and conn.snd_wnd < conn.snd_mss
            before = closed.get(id(conn), (False, False))
            if ours and not before[0]:
                stats.windows_closed_out += 1
            if theirs and not before[1]:
                stats.windows_closed_in += 1
            closed[id(conn)] = (ours, theirs)

    def _write(self, pkt: bytes) -> None:
        dev = self._device
        assert dev is not None
        stats = self.stats
        if len(pkt) <= self.mtu:
            ok = dev.write(pkt, partial=self.stack.checksum_offload)
        else:  # a super-segment (TcpConfig.tso)
            ok = dev.write(pkt, self._gso_size(pkt), partial=self.stack.checksum_offload)
            if ok and dev.offload:
                stats.gso_out += 1
            elif ok:
                stats.segmented_out += 1
        if ok:
            stats.packets_out += 1
            stats.bytes_out += len(pkt)
        else:
            stats.write_errors += 1

    def _gso_size(self, pkt: bytes) -> int:
        """Data bytes per segment of the super-segment ``pkt``: its connection's
        segment size (the MSS less the timestamps option, as the stack cuts its
        super-segments: ``Sender.seg_size``), at most what fits the MTU after
        the packet's own headers. A packet of no known connection (or garbled
        on purpose by the fault injector) gets what fits the MTU."""
        ihl = (pkt[0] & 0x0F) * 4
        fits = self.mtu - ihl - (pkt[ihl + 12] >> 4) * 4 if len(pkt) > ihl + 12 else 0
        # The connection of the last super-segment, by its peer address and ports:
        # Stack.find builds the address object again from its text each time,
        # 9 % of the sender's CPU time in tun_bulk (64 MiB: 0.210 -> 0.192 s).
        key = pkt[16:20] + pkt[ihl:ihl + 4]
        last = self._gso_conn
        if last is not None and last[0] == key and last[1].state is not State.CLOSED:
            conn: Connection | None = last[1]
        else:
            conn = self.stack.find(
                int.from_bytes(pkt[ihl:ihl + 2], "big"),
                ipaddress.IPv4Address(pkt[16:20]),
                int.from_bytes(pkt[ihl + 2:ihl + 4], "big"),
            )
            self._gso_conn = (key, conn) if conn is not None else None
        if conn is None:
            return max(fits, 1)
        size = conn.snd_mss - (TS_OPTION_SPACE if conn.negotiated.timestamps else 0)
        return max(min(size, fits), 1)

    def _trace_fault_drop(self, pkt: bytes, now: float, direction: str) -> None:
        """Trace a packet the fault injector dropped as ``segment_dropped`` (``fault-loss``)."""
        trace = self.stack.trace
        if trace is None:
            return
        data: dict[str, Any] = {"reason": "fault-loss", "direction": direction}
        conn = ""
        try:
            from ..connection import segment_record
            from ..wire import decode_packet

            ip, seg = decode_packet(pkt)
        except Exception:  # a corrupted or foreign packet: trace what we know
            pass
        else:
            ours_first = direction == "to-kernel"
            local = (ip.src, seg.src_port) if ours_first else (ip.dst, seg.dst_port)
            remote = (ip.dst, seg.dst_port) if ours_first else (ip.src, seg.src_port)
            conn = f"{local[0]}:{local[1]}-{remote[0]}:{remote[1]}"
            data.update(segment_record(seg))
        trace.emit(now, self.stack.name, conn, "segment_dropped", data)

    def _handle(self, conn: Connection) -> _Handle:
        """What the application of ``conn`` talks to: the connection, or its throttle."""
        if self.read_rate is None:
            return conn
        handle = self._throttled.get(id(conn))
        if handle is None or handle.conn is not conn:
            handle = ThrottledConnection(conn, ReadThrottle(self.read_rate, self._clock))
            self._throttled[id(conn)] = handle
        return handle

    def _dispatch(self, app_factory: Callable[[], App] | None, *, accepting: bool) -> None:
        self._accept_all(app_factory, accepting=accepting)
        for _ in range(100_000):  # bounded: apps' calls may add events
            item = self.stack.next_event()
            if item is None:
                break
            conn, event = item
            handle = self._handle(conn)
            if self._apps.app_of(handle) is None:
                self._accept_all(app_factory, accepting=accepting)
            self._apps.on_event(handle, event)  # ignored if no application owns it
        for handle, _app in self._apps.items():
            # TIME-WAIT or CLOSED, and every byte read (a slow reader may still
            # hold some): nothing left for the application.
            if handle.state in _DONE_STATES and not _conn_of(handle).readable:
                self._apps.remove(handle)
        if len(self._closed) > len(self._apps):
            live = {id(_conn_of(h)) for h, _ in self._apps.items()}
            for key in [k for k in self._closed if k not in live]:
                del self._closed[key]
        if self._throttled:
            for key, th in list(self._throttled.items()):
                if self._apps.app_of(th) is None:
                    self._throttled_done += th.cut_short
                    del self._throttled[key]
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
                self._apps.attach(self._handle(conn), app_factory(), accepted=True)

    def _live(self) -> list[_Handle]:
        return [h for h, _ in self._apps.items() if h.state not in _DONE_STATES]

    def _close_all(self) -> None:
        for handle in self._live():
            with contextlib.suppress(TcpStackError):
                handle.close()

    def _abort_live(self) -> None:
        self.stack.tick(self._clock())
        live = self._live()
        for handle in live:
            try:
                handle.abort()
                self.stats.aborted += 1
            except TcpStackError:
                pass
        if live and self._device is not None and not self._device_gone:
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

    def write_pcap(self, path: str | Path | IO[bytes]) -> int:
        """Write the recorded packets (wall-clock timestamps) as pcapng; return the count.

        The interface is named after the device; the section comment says
        whose view it is and the fault seed when faults were injected.

        Args:
            path: a path, or a binary file open for writing (left open).

        Raises:
            OSError: the file cannot be written.
        """
        from ..tools.pcap import write_pcapng  # a tool: imported lazily

        packets = [(t + self._wall_offset, p) for t, p in self.packets]
        faults = f"; faults seeded {self.fault_seed}" if self.injectors else ""
        write_pcapng(
            path,
            packets,
            section_comment=f"tcpstack tun: {self.address} talking to the kernel ({self.peer}) "
            f"on {self.ifname}; packets as our stack sent and received them{faults}",
            interface=self.ifname,
            description="tcpstack TUN driver (raw IPv4, wall-clock time)",
        )
        return len(packets)
