"""A TUN device on an asyncio loop: asyncio programs over tcpstack, against the kernel.

:class:`TunNetwork` creates the device when the loop starts and removes it
when the loop closes (Linux, root, ``/dev/net/tun``; run it inside a network
namespace, see :mod:`tcpstack.drivers.netns`). The device's file descriptor
is a reader of the loop; writes never block it (a packet the device cannot
take now waits for writability); the stack's next deadline is a
``loop.call_at`` timer; the stack's ``wakeup`` schedules a flush (events to
transports, segments to the device) once per loop pass. The clock is the
loop's, ``time.monotonic()``, in seconds. The optional fault injectors of
:mod:`tcpstack.drivers.faults` sit on either direction, as in
``tcpstack tun``. With ``offload`` (the default), the device carries a
virtio-net header as ``tcpstack tun``'s does: the kernel hands the stack
coalesced segments of up to 64 KiB and vouches for their checksums, which
the stack then does not sum again (see :mod:`tcpstack.drivers.tun`); the
stack's own segments go out as they are (at most one MSS each unless its
configuration asks for ``tso``, which this driver does not).
"""

from __future__ import annotations

import asyncio
import os
import random
import selectors
import time
from collections import deque
from typing import TYPE_CHECKING

from ...config import TcpConfig
from ...stack import Stack
from ...trace import Trace
from ..faults import NO_FAULTS, FaultConfig, FaultInjector, direction_rng
from ..tun import DEFAULT_MTU, TunDevice, parse_peer, validate_ifname
from ..vnet import PLAIN, CheckedPacket
from .network import AioNetwork

if TYPE_CHECKING:
    from .loop import TcpstackEventLoop

__all__ = ["TunNetwork"]


class TunNetwork(AioNetwork):
    """tcpstack on a TUN device, for asyncio programs, in real time.

    Args:
        ifname: the device to create (it must not exist).
        address: our stack's IPv4 address.
        peer: the kernel side of the device, address and prefix
            (``192.0.2.1/24``); ``address`` must lie in it.
        faults: fault injection on both directions (or ``to_kernel`` /
            ``from_kernel`` for one).
        seed: seeds the fault injectors and the ephemeral ports (None: random).
        config: the TCP configuration of the stack.
        trace: where trace records go (None: no trace).
        mtu: the device MTU, bytes.
        offload: open the device with checksum and segmentation offload (the
            kernel may refuse: the device then works without, as
            :class:`~tcpstack.drivers.tun.TunDevice` says).

    Attributes:
        stack: the stack (once the loop has started).
        device: the TUN device (once the loop has started).

    Raises:
        ValueError: a bad name or address.
    """

    def __init__(
        self,
        ifname: str = "tun0",
        address: str = "192.0.2.2",
        peer: str = "192.0.2.1/24",
        *,
        faults: FaultConfig | None = None,
        to_kernel: FaultConfig | None = None,
        from_kernel: FaultConfig | None = None,
        seed: int | None = None,
        config: TcpConfig | None = None,
        trace: Trace | None = None,
        mtu: int = DEFAULT_MTU,
        offload: bool = True,
    ) -> None:
        super().__init__()
        self.offload = offload
        self.ifname = validate_ifname(ifname)
        self.address, self.peer = parse_peer(address, peer)
        self._to_kernel_faults = to_kernel or faults or NO_FAULTS
        self._from_kernel_faults = from_kernel or faults or NO_FAULTS
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self._config = config
        self.trace = trace
        self.mtu = mtu
        self.stack: Stack | None = None
        self.device: TunDevice | None = None
        self._to_kernel: FaultInjector | None = None
        self._from_kernel: FaultInjector | None = None
        self._out: deque[bytes] = deque()  # packets the device could not take yet
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._held_timer: asyncio.TimerHandle | None = None
        self._plain_header = b""  # what precedes a plain packet on the device's fd

    # -- AioNetwork ---------------------------------------------------------------------

    def time(self) -> float:
        # The loop's time() asks the network, so this must not ask the loop back:
        # the clock is asyncio's usual one.
        return time.monotonic()

    def make_selector(self) -> selectors.BaseSelector:
        return selectors.DefaultSelector()

    @property
    def stacks(self) -> list[Stack]:
        return [self.stack] if self.stack is not None else []

    def default_stack(self) -> Stack:
        if self.stack is None:
            raise RuntimeError("the TUN network is not attached to a loop")
        return self.stack

    def attach(self, loop: TcpstackEventLoop) -> None:
        """Create the device and the stack; read the device from ``loop``.

        Raises:
            tcpstack.drivers.tun.TunError: the device cannot be created.
        """
        super().attach(loop)
        self.device = TunDevice(self.ifname, self.peer, mtu=self.mtu, offload=self.offload)
        # Complete checksums only where a fault injector may corrupt the packet
        # (corruption must then be caught by the stack's own check).
        self.device.complete_checksums = (self._to_kernel_faults.active
                                          or self._from_kernel_faults.active)
        self._plain_header = PLAIN.encode(self.device.vnet_hdr) if self.device.vnet_hdr else b""
        self.stack = Stack(
            self.address,
            config=self._config,
            name="tcpstack",
            trace=self.trace,
            rng=random.Random(self.seed),
            clock=loop.time,
            wakeup=self.kick,
        )
        if self._to_kernel_faults.active:
            self._to_kernel = FaultInjector(self._to_kernel_faults,
                                            direction_rng(self.seed, "to-kernel"),
                                            name="to-kernel")
        if self._from_kernel_faults.active:
            self._from_kernel = FaultInjector(self._from_kernel_faults,
                                              direction_rng(self.seed, "from-kernel"),
                                              name="from-kernel")
        loop.add_reader(self.device.fileno(), self._readable)

    def detach(self) -> None:
        """Remove the device (the loop is closing)."""
        for handle in (self._timer, self._held_timer):
            if handle is not None:
                handle.cancel()
        if self.device is not None:
            self.device.close()
            self.device = None
        super().detach()

    def kick(self) -> None:
        """Flush the stack soon (once per loop pass, however many wake-ups)."""
        loop = self.loop
        if loop is not None and not self._flush_scheduled and not loop.is_closed():
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def write_pcap(self, path: str) -> int:
        """Not kept for a TUN run: pass a trace and convert it, or capture with tcpdump.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("a TUN network keeps no packets: capture with tcpdump")

    # -- the device -----------------------------------------------------------------------

    def _readable(self) -> None:
        device, stack = self.device, self.stack
        if device is None or stack is None:
            return
        try:
            packets = device.read_packets()
        except OSError as exc:  # TunDeviceRemoved (ip link del), or the fd went bad
            self._device_lost(exc)
            return
        now = self.time()
        for packet in packets:
            if self._from_kernel is not None:
                for due in self._from_kernel.push(packet, now):
                    stack.receive(due, now, checksum_verified=type(due) is CheckedPacket)
            else:
                # (packets for other addresses are dropped, traced); the kernel's own
                # check of a checksum (offload) spares the stack a second pass.
                stack.receive(packet, now, checksum_verified=type(packet) is CheckedPacket)
        self._flush()

    def _device_lost(self, exc: OSError) -> None:
        """The device is gone: say so once, then drop what the stack sends.

        The reader must go, or the loop would call it (and fail) on every pass.
        Connections then end as the kernel's do when their interface goes:
        by their timeouts.
        """
        device, loop = self.device, self.loop
        if device is None or loop is None:
            return
        loop.remove_reader(device.fileno())
        loop.remove_writer(device.fileno())
        self._out.clear()
        self.device = None
        device.close()
        loop.call_exception_handler({"message": f"TUN device {self.ifname} lost; its "
                                                "packets are dropped from now on",
                                     "exception": exc})

    def _flush(self) -> None:
        """Events to transports, segments to the device, the next deadline armed."""
        self._flush_scheduled = False
        stack, loop = self.stack, self.loop
        if stack is None or loop is None or loop.is_closed():
            return
        for _ in range(10_000):  # bounded: applications may keep producing work
            item = stack.next_event()
            if item is None:
                break
            conn, event = item
            self.on_event(stack, conn, event)
        now = self.time()
        for packet in stack.packets_to_send(now):
            if self._to_kernel is not None:
                for due in self._to_kernel.push(packet, now):
                    self._write(due)
            else:
                self._write(packet)
        self._arm_timers()

    def _arm_timers(self) -> None:
        stack, loop = self.stack, self.loop
        if stack is None or loop is None:
            return
        at = stack.next_timer()
        if at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(at, self._on_timer) if at is not None else None
            self._timer_at = at
        held = [inj.next_due() for inj in (self._to_kernel, self._from_kernel)
                if inj is not None and inj.next_due() is not None]
        if held and self._held_timer is None:
            self._held_timer = loop.call_at(min(h for h in held if h is not None),
                                            self._release_held)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        stack = self.stack
        if stack is not None:
            stack.handle_timer(self.time())
        self._flush()

    def _release_held(self) -> None:
        self._held_timer = None
        now = self.time()
        if self._to_kernel is not None:
            for packet in self._to_kernel.pop_due(now):
                self._write(packet)
        if self._from_kernel is not None and self.stack is not None:
            for packet in self._from_kernel.pop_due(now):
                self.stack.receive(packet, now, checksum_verified=type(packet) is CheckedPacket)
        self._flush()

    def _write(self, packet: bytes) -> None:
        if self._out:
            self._out.append(packet)
            return
        if not self._try_write(packet):
            self._out.append(packet)
            loop, device = self.loop, self.device
            if loop is not None and device is not None:
                loop.add_writer(device.fileno(), self._writable)

    def _try_write(self, packet: bytes) -> bool:
        device = self.device
        if device is None:
            return True  # gone: drop
        try:
            if self._plain_header:  # the virtio-net header of a packet sent as it is
                os.writev(device.fileno(), (self._plain_header, packet))
            else:
                os.write(device.fileno(), packet)
        except BlockingIOError:
            return False
        except OSError:
            return True  # the kernel refused it: a packet lost on the wire
        return True

    def _writable(self) -> None:
        while self._out:
            if not self._try_write(self._out[0]):
                return
            self._out.popleft()
        loop, device = self.loop, self.device
        if loop is not None and device is not None:
            loop.remove_writer(device.fileno())
