"""The Linux target's TUN device, made inside the target's namespace as packetdrill makes it.

Used by the agent (:mod:`~tcpstack.harness.drill.targets.linux_agent`), which
runs inside the namespace. Like packetdrill's ``netdev.c`` on Linux:

* ``IFF_TUN | IFF_NO_PI | IFF_VNET_HDR`` and ``TUNSETOFFLOAD`` with
  ``TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN`` (``offload=True``,
  the default): the kernel sends one large segment per TSO burst, every frame
  carries a ``virtio_net_hdr`` (:mod:`~tcpstack.harness.drill.targets.linux_vnet`);
  with ``offload=False`` a plain device (no header, the kernel segments to the
  MSS and checksums everything);
* the device is named ``tun0`` (packetdrill's scripts say ``tc qdisc ... dev
  tun0``); the namespace is private, so the name is always free;
* addresses: ``192.0.2.1/24`` (the TCP under test), a route to the peer's
  ``198.51.100.0/24`` through the device; for IPv6 also ``2001:db8::1/64``
  (no duplicate address detection) and a route to ``2001:db8:1::/64``;
* the MTU of ``--mtu`` (default 1500);
* the kernel's default root qdisc stays (``pfifo_fast`` here: no pacing),
  so that a script's ``tc qdisc add dev tun0 root pfifo`` works as under
  packetdrill; a pacing default (``fq``) is replaced by ``pfifo``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from .linux_vnet import TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN

__all__ = ["DeviceConfig", "make_device"]

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFA_F_NODAD = 0x02
NO_PACING_QDISCS = ("pfifo_fast", "pfifo", "bfifo", "fq_codel", "noqueue", "prio")
"""Root qdiscs kept as the kernel chose them (none paces TCP)."""


@dataclass(frozen=True)
class DeviceConfig:
    """What the device looks like (all from the agent's ``setup`` request).

    ``address``: ``"192.0.2.1/24"``; ``routes``: IPv4 networks routed to the
    device; ``address6``/``routes6``: the same for IPv6 (None/empty: no IPv6);
    ``mtu`` in bytes; ``offload``: TSO/GSO and checksum offload with a vnet header.
    """

    ifname: str
    address: str
    routes: tuple[str, ...]
    mtu: int = 1500
    offload: bool = True
    address6: str | None = None
    routes6: tuple[str, ...] = ()


def make_device(cfg: DeviceConfig) -> int:
    """Create and configure the device; return its non-blocking fd (closing it removes it).

    Raises:
        OSError: the device could not be created or configured.
        RuntimeError: the namespace has a default route (nothing may leave it).
    """
    from pyroute2 import IPRoute

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if cfg.offload else 0)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", cfg.ifname.encode(), flags))
        if cfg.offload:
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=cfg.ifname)[0]
            ipr.link("set", index=idx, mtu=cfg.mtu, state="up")
            v4 = ipaddress.IPv4Interface(cfg.address)
            ipr.addr("add", index=idx, address=str(v4.ip), prefixlen=v4.network.prefixlen)
            for route in cfg.routes:
                net = ipaddress.IPv4Network(route)
                ipr.route("add", dst=str(net.network_address), dst_len=net.prefixlen,
                          oif=idx, prefsrc=str(v4.ip))
            if cfg.address6:
                v6 = ipaddress.IPv6Interface(cfg.address6)
                ipr.addr("add", index=idx, family=socket.AF_INET6, address=str(v6.ip),
                         prefixlen=v6.network.prefixlen, flags=IFA_F_NODAD)
                for route in cfg.routes6:
                    net6 = ipaddress.IPv6Network(route)
                    ipr.route("add", family=socket.AF_INET6, dst=str(net6.network_address),
                              dst_len=net6.prefixlen, oif=idx)
            _no_pacing(ipr, idx)
            for family in (socket.AF_INET, socket.AF_INET6):
                for route in ipr.get_routes(family=family):
                    if route["dst_len"] == 0 and route.get_attr("RTA_TABLE") != 255:
                        raise RuntimeError("the namespace has a default route; refusing to run")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def _no_pacing(ipr: object, idx: int) -> None:
    kinds = [q.get_attr("TCA_KIND") for q in ipr.get_qdiscs(index=idx)  # type: ignore[attr-defined]
             if q["parent"] == 0xFFFFFFFF]
    if any(kind not in NO_PACING_QDISCS for kind in kinds):
        ipr.tc("replace", "pfifo", idx, handle="1:", limit=1000)  # type: ignore[attr-defined]
