"""The asyncio driver: ordinary asyncio programs over tcpstack.

Public names are re-exported by :mod:`tcpstack.aio`; see there.
"""

from __future__ import annotations

from .loop import TcpstackEventLoop, new_event_loop, run
from .network import AioNetwork, Deadlock, SimulatedNetwork, VirtualSelector
from .server import TcpServer
from .transport import TcpSocket, TcpTransport
from .tun import TunNetwork

__all__ = [
    "AioNetwork",
    "Deadlock",
    "SimulatedNetwork",
    "TcpServer",
    "TcpSocket",
    "TcpTransport",
    "TcpstackEventLoop",
    "TunNetwork",
    "VirtualSelector",
    "new_event_loop",
    "run",
]
