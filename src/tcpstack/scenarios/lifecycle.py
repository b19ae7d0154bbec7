"""The connection-lifecycle scenarios (RFC 9293 §3.5, §3.6, §3.10.7)."""

from __future__ import annotations

from ..connection import Connection
from ..drivers.sim import Network, PacketInfo
from ..events import Connected, DataReceived, Event, PeerClosed, SendBufferAvailable
from ..state import State
from ..wire import Flags, Mss, Segment, encode_packet
from .base import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Scenario,
    ScenarioOptions,
    ScenarioResult,
    register,
    two_hosts,
)

REQUEST = b"GET / HTTP/1.0\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
PORT = 80

ACTIVE_CLOSE = ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                "CLOSED")
PASSIVE_CLOSE = ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED")


class RequestClient:
    """Sends :data:`REQUEST` once connected, reads the reply, then closes.

    Args:
        net: the network (to schedule the close).
        close_after: seconds between the complete reply and ``close()``.
    """

    def __init__(self, net: Network, close_after: float = 0.05) -> None:
        self.net = net
        self.close_after = close_after
        self.received = bytearray()

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conn.send(REQUEST)
        elif isinstance(event, DataReceived):
            self.received += conn.read()
            if len(self.received) >= len(REPLY):
                self.net.at(self.net.now + self.close_after, conn.close)


class ReplyServer:
    """Answers :data:`REQUEST` with :data:`REPLY`; closes when the peer has closed.

    Args:
        net: the network (to schedule the close).
        close_after: seconds between the peer's FIN and our ``close()``;
            ``None`` closes at once, so our FIN rides with the ACK of theirs.
    """

    def __init__(self, net: Network, close_after: float | None = 0.05) -> None:
        self.net = net
        self.close_after = close_after
        self.received = bytearray()

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, DataReceived):
            self.received += conn.read()
            if self.received.endswith(b"\r\n\r\n"):
                conn.send(REPLY)
        elif isinstance(event, PeerClosed):
            if self.close_after is None:
                conn.close()
            else:
                self.net.at(self.net.now + self.close_after, conn.close)


def request_reply(
    opts: ScenarioOptions, name: str, *, server_close_after: float | None = 0.05
) -> tuple[Network, ScenarioResult]:
    """Client and server scripted for one request/reply and a close by the client."""
    net, client, server = two_hosts(opts)
    net.hosts[client].app = RequestClient(net)
    net.hosts[server].app = ReplyServer(net, server_close_after)
    net.hosts[server].stack.listen(PORT)
    net.at(0.0, lambda: net.hosts[client].stack.connect(SERVER_ADDR, PORT, now=net.now))
    return net, ScenarioResult(name, net, client, server)


def _run(net: Network, result: ScenarioResult) -> ScenarioResult:
    net.run()  # until nothing is left to happen: every timer expired, every packet delivered
    return result


# ----------------------------------------------------------------------------


def lifecycle(opts: ScenarioOptions) -> ScenarioResult:
    return _run(*request_reply(opts, "lifecycle"))


register(Scenario(
    "lifecycle",
    "handshake, data both ways, four-way close, TIME-WAIT expiry, both ends CLOSED",
    "The three-way handshake (SYN, SYN-ACK, ACK) synchronizes both sequence "
    "numbers. The client sends a request and the server answers. The client "
    "closes first (active close): FIN-WAIT-1, then FIN-WAIT-2 once its FIN is "
    "acknowledged. The server's side reads end-of-stream in CLOSE-WAIT, closes "
    "in turn (LAST-ACK) and is CLOSED when its FIN is acknowledged. The client "
    "waits in TIME-WAIT for 2 x MSL (240 s) so that a lost final ACK can be "
    "repeated and old duplicates die out, then it is CLOSED too.",
    lifecycle,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def three_way_close(opts: ScenarioOptions) -> ScenarioResult:
    return _run(*request_reply(opts, "three-way-close", server_close_after=None))


register(Scenario(
    "three-way-close",
    "the server closes at once: its FIN rides on the ACK of the client's FIN",
    "When the passive side closes as soon as it reads end-of-stream, its FIN "
    "and the ACK of the client's FIN leave in one segment. The close takes "
    "three segments, and the client goes from FIN-WAIT-1 straight to "
    "TIME-WAIT (RFC 9293 §3.10.7.4, eighth step).",
    three_way_close,
    {
        "client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED"),
        "server": PASSIVE_CLOSE,
    },
))


def _is_final_ack(p: PacketInfo) -> bool:
    return p.src == "client" and p.sender_state is State.TIME_WAIT and p.segment.flags == Flags.ACK


def lost_final_ack(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-final-ack")
    net.drop_first(_is_final_ack)
    return _run(net, result)


register(Scenario(
    "lost-final-ack",
    "the last ACK of the close is lost: LAST-ACK resends its FIN, TIME-WAIT re-ACKs",
    "Why TIME-WAIT exists: the client's final ACK is lost, so the server, in "
    "LAST-ACK, retransmits its FIN when its retransmission timer expires. The "
    "client is still in TIME-WAIT, holds the connection's sequence numbers, "
    "acknowledges the FIN again and restarts its 2 x MSL timer. Without "
    "TIME-WAIT the FIN would have drawn a RST and the server would report an "
    "error for a connection that closed normally.",
    lost_final_ack,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def lost_syn(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-syn")
    net.drop_first(lambda p: p.src == "client" and p.segment.flags == Flags.SYN)
    return _run(net, result)


register(Scenario(
    "lost-syn",
    "the first SYN is lost and retransmitted after the initial RTO of 1 s",
    "Nothing comes back for the client's SYN, so after the initial "
    "retransmission timeout (1 s, RFC 6298 §2.1) the client sends it again. "
    "Further losses would double the timeout each time (1, 2, 4, 8 s ...).",
    lost_syn,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def lost_syn_ack(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-syn-ack")
    net.drop_first(lambda p: p.src == "server" and p.segment.flags == Flags.SYN | Flags.ACK)
    return _run(net, result)


register(Scenario(
    "lost-syn-ack",
    "the SYN-ACK is lost: both ends time out and retransmit",
    "The server sits in SYN-RECEIVED, the client in SYN-SENT; neither hears "
    "from the other. After 1 s the client repeats its SYN and the server its "
    "SYN-ACK; the handshake then completes.",
    lost_syn_ack,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def simultaneous_open(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = RequestClient(net)
    s.app = ReplyServer(net)
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, 40001, local_port=40000, now=net.now))
    net.at(0.0, lambda: s.stack.connect(CLIENT_ADDR, 40000, local_port=40001, now=net.now))
    return _run(net, ScenarioResult("simultaneous-open", net, client, server))


register(Scenario(
    "simultaneous-open",
    "both ends send a SYN at the same time; each answers with a SYN-ACK",
    "Both ends perform an active open towards each other's port at once. Each "
    "receives a bare SYN while in SYN-SENT, moves to SYN-RECEIVED and answers "
    "with SYN-ACK; each SYN-ACK completes the other side's handshake. Four "
    "segments instead of three, and no listener at all (MUST-10).",
    simultaneous_open,
    {
        "client": ("CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
                   "FIN-WAIT-2", "TIME-WAIT", "CLOSED"),
        "server": ("CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT",
                   "LAST-ACK", "CLOSED"),
    },
))


def simultaneous_close(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    conns: list[Connection] = []

    def close_both() -> None:
        for conn in conns:
            conn.close()

    def remember(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conns.append(conn)
            if len(conns) == 2:  # both ends open: close them at the same instant
                net.at(net.now + 0.5, close_both)

    c.app = remember
    s.app = remember
    s.stack.listen(PORT)
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, PORT, now=net.now))
    return _run(net, ScenarioResult("simultaneous-close", net, client, server))


register(Scenario(
    "simultaneous-close",
    "both ends close at the same moment and pass through CLOSING",
    "Both applications close at once, so each end is in FIN-WAIT-1 when the "
    "other's FIN arrives, before its own FIN is acknowledged: that is the "
    "CLOSING state. Each then receives the ACK of its FIN and both go to "
    "TIME-WAIT: both ends wait 2 x MSL.",
    simultaneous_close,
    {
        "client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "CLOSING", "TIME-WAIT",
                   "CLOSED"),
        "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "CLOSING", "TIME-WAIT",
                   "CLOSED"),
    },
))

HALF_CLOSE_BYTES = 20_000


class PatternSender:
    """Sends ``total`` bytes (``i % 251``) as the send buffer allows, then closes."""

    def __init__(self, total: int) -> None:
        self.pending = bytes(i % 251 for i in range(total))

    def pump(self, conn: Connection) -> None:
        """Queue what fits; close once everything is queued."""
        n = conn.send(self.pending)
        self.pending = self.pending[n:]
        if not self.pending:
            conn.close()


class HalfCloseServer(PatternSender):
    """After the client's FIN, keeps sending ``total`` bytes, then closes."""

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, DataReceived):
            conn.read()
        elif isinstance(event, PeerClosed | SendBufferAvailable) and self.pending:
            self.pump(conn)


class HalfCloseClient:
    """Sends a request, shuts its sending side down at once, reads to end-of-stream."""

    def __init__(self) -> None:
        self.received = bytearray()

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conn.send(REQUEST)
            conn.shutdown()
        elif isinstance(event, DataReceived):
            self.received += conn.read()


def half_close(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = HalfCloseClient()
    s.app = HalfCloseServer(HALF_CLOSE_BYTES)
    s.stack.listen(PORT)
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, PORT, now=net.now))
    return _run(net, ScenarioResult("half-close", net, client, server))


register(Scenario(
    "half-close",
    f"the client shuts down writing; the server keeps sending {HALF_CLOSE_BYTES} bytes",
    "A FIN closes one direction only. The client sends its request and its FIN "
    "together and sits in FIN-WAIT-2, still receiving. The server, in "
    "CLOSE-WAIT, keeps sending its answer (a half-closed connection) and "
    "closes when done.",
    half_close,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def old_duplicate_syn(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = RequestClient(net)
    s.app = ReplyServer(net)
    s.stack.listen(PORT)
    real_iss: list[int] = []

    def start() -> None:
        conn = c.stack.connect(SERVER_ADDR, PORT, local_port=40000, now=net.now)
        real_iss.append(conn.iss)
        stale = Segment(40000, PORT, seq=(conn.iss - 1_000_000) % (1 << 32), ack=0,
                        flags=Flags.SYN, window=65535, options=(Mss(1460),))
        net.inject(net.now, client, encode_packet(c.address, s.address, stale))

    net.at(0.0, start)
    # The client's real SYN is slow: the stale one reaches the server first.
    net.delay_first(lambda p: p.segment.flags == Flags.SYN and p.segment.seq in real_iss, 0.05)
    return _run(net, ScenarioResult("old-duplicate-syn", net, client, server))


register(Scenario(
    "old-duplicate-syn",
    "a stale SYN reaches the listener; the client's RST sends it back to LISTEN",
    "Why the handshake needs three steps (RFC 9293 Figure 8): an old duplicate "
    "SYN from an earlier incarnation arrives first. The server answers it with "
    "a SYN-ACK that acknowledges the old sequence number; the client, in "
    "SYN-SENT, sees an ACK for something it never sent and answers RST. The "
    "server returns to LISTEN, then the client's real SYN opens the "
    "connection normally. With a two-way handshake the server would have "
    "opened a connection nobody asked for.",
    old_duplicate_syn,
    {"client": ACTIVE_CLOSE,
     "server": ("LISTEN", "SYN-RECEIVED", "LISTEN", "SYN-RECEIVED", "ESTABLISHED",
                "CLOSE-WAIT", "LAST-ACK", "CLOSED")},
))


def refused(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    net.at(0.0, lambda: net.hosts[client].stack.connect(SERVER_ADDR, 8080, now=net.now))
    return _run(net, ScenarioResult("refused", net, client, server))


register(Scenario(
    "refused",
    "SYN to a port nobody listens on: RST,ACK, connection refused",
    "No TCB exists for port 8080 on the server, which is the CLOSED state: any "
    "segment but a RST is answered with a RST (RFC 9293 §3.10.7.1). The SYN "
    "has no ACK, so the reset is <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>; the "
    "client, in SYN-SENT, accepts it and reports 'connection refused'.",
    refused,
    {"client": ("CLOSED", "SYN-SENT", "CLOSED"), "server": ()},
))


def half_open(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    conns: list[Connection] = []
    c.app = lambda conn, event: conns.append(conn) if isinstance(event, Connected) else None
    s.stack.listen(PORT)
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, PORT, now=net.now))

    def reboot() -> None:
        net.restart(s)
        s.stack.listen(PORT)

    net.at(0.5, reboot)
    net.at(1.0, lambda: conns[0].send(b"are you there?\n"))
    return _run(net, ScenarioResult("half-open", net, client, server))


register(Scenario(
    "half-open",
    "the server reboots and forgets the connection; the client's next segment draws RST",
    "A half-open connection (RFC 9293 §3.5.2, Figure 11): the server crashes "
    "and restarts, losing its TCB. The client does not know until it sends: "
    "the server has no connection for that segment and answers with "
    "<SEQ=SEG.ACK><CTL=RST>. The RST's sequence number is exactly what the "
    "client expects, so it accepts it and reports 'connection reset'.",
    half_open,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED")},
))
