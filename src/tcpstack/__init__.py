"""tcpstack: a complete TCP (RFC 9293) in pure Python, built sans-I/O.

Open a connection, send, and close it, over the simulated network (virtual
time: the 240 s of TIME-WAIT pass at once)::

    >>> import tcpstack
    >>> from tcpstack.drivers.apps import EchoApp
    >>> net = tcpstack.Network(seed=1)
    >>> client = net.add_host("client", "192.0.2.1")
    >>> server = net.add_host("server", "192.0.2.2", app=EchoApp())
    >>> link = net.link(client, server, delay=0.010)
    >>> server.stack.listen(7)
    >>> conn = client.stack.connect("192.0.2.2", 7, now=net.now)
    >>> net.run(until=0.1)          # the handshake: SYN, SYN-ACK, ACK
    0.1
    >>> conn.send(b"hello"), conn.shutdown()
    (5, None)
    >>> net.run()                   # data, echo, the four-way close, TIME-WAIT
    240.12
    >>> conn.read(), str(conn.state)
    (b'hello', 'CLOSED')

The names here are the public API: the host's TCP (:class:`Stack`), one
connection (:class:`Connection`) and its configuration (:class:`TcpConfig`),
the states, the events a connection reports and the errors a local caller
can get; :class:`Network`, :class:`Host` and :class:`LinkConfig` of the
simulator. Everything else is reachable by module (``tcpstack.wire``,
``tcpstack.drivers.tun``, ``tcpstack.tools``...).
"""

__version__ = "0.2.0"

from . import _compat

_compat.install()

from .config import TcpConfig  # noqa: E402
from .connection import Connection, Endpoint  # noqa: E402
from .drivers.sim import Host, LinkConfig, Network  # noqa: E402
from .errors import (  # noqa: E402
    AddressInUse,
    LocalProtocolError,
    MalformedPacket,
    TcpStackError,
)
from .events import (  # noqa: E402
    Connected,
    ConnectionAborted,
    ConnectionClosed,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Event,
    PeerClosed,
    SendBufferAvailable,
    SoftError,
    StateChanged,
    UrgentDataReceived,
)
from .stack import Stack  # noqa: E402
from .state import State  # noqa: E402

__all__ = [
    "AddressInUse",
    "Connected",
    "Connection",
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionReset",
    "ConnectionTimedOut",
    "DataReceived",
    "Endpoint",
    "Event",
    "Host",
    "LinkConfig",
    "LocalProtocolError",
    "MalformedPacket",
    "Network",
    "PeerClosed",
    "SendBufferAvailable",
    "SoftError",
    "Stack",
    "State",
    "StateChanged",
    "TcpConfig",
    "TcpStackError",
    "UrgentDataReceived",
    "__version__",
]
