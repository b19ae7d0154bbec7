"""Scenarios of reliable delivery and connection supervision (RFC 9293 §3.8, RFC 6298, 5681)."""

from __future__ import annotations

from ..connection import Connection
from ..drivers.sim import Network, PacketInfo
from ..events import Connected, DataReceived, Event, PeerClosed
from ..state import State
from .base import SERVER_ADDR, Scenario, ScenarioOptions, ScenarioResult, register, two_hosts
from .lifecycle import PASSIVE_CLOSE, PORT, PatternSender

# The receiver closes as soon as it reads end-of-stream: three-segment close.
ACTIVE_CLOSE = ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED")

CHUNK = 1448  # one full segment with timestamps (1460 - 12)


class BulkClient(PatternSender):
    """Sends ``total`` bytes as soon as connected, then closes."""

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, DataReceived):
            conn.read()
        if self.pending and conn.state is State.ESTABLISHED:
            self.pump(conn)


class Receiver:
    """Reads everything (optionally not before ``start_reading``), closes after the peer."""

    def __init__(self, net: Network, start_reading: float = 0.0) -> None:
        self.net = net
        self.start_reading = start_reading
        self.received = bytearray()

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected) and self.start_reading > self.net.now:
            self.net.at(self.start_reading, lambda: self._drain(conn))
        if isinstance(event, DataReceived | PeerClosed) and self.net.now >= self.start_reading:
            self._drain(conn)

    def _drain(self, conn: Connection) -> None:
        self.received += conn.read()
        if conn.at_eof and conn.state is State.CLOSE_WAIT:
            conn.close()


def bulk(opts: ScenarioOptions, name: str, total: int, *, start_reading: float = 0.0,
         **config: object) -> tuple[Network, ScenarioResult]:
    """A client sending ``total`` bytes to a reading server, then a normal close."""
    net, client, server = two_hosts(opts, **config)
    net.hosts[client].app = BulkClient(total)
    net.hosts[server].app = Receiver(net, start_reading)
    net.hosts[server].stack.listen(PORT)
    net.at(0.0, lambda: net.hosts[client].stack.connect(SERVER_ADDR, PORT, now=net.now))
    return net, ScenarioResult(name, net, client, server)


def _data_from_client(nth: int) -> object:
    """Predicate: the ``nth`` data segment (by sequence number) the client sends."""
    seen: list[int] = []

    def match(p: PacketInfo) -> bool:
        if p.src != "client" or not p.segment.payload:
            return False
        if p.segment.seq not in seen:
            seen.append(p.segment.seq)
        return seen.index(p.segment.seq) == nth - 1

    return match


def retransmission(opts: ScenarioOptions) -> ScenarioResult:
    net, result = bulk(opts, "retransmission", 3 * CHUNK)
    match = _data_from_client(2)
    net.drop_first(match, count=3)  # type: ignore[arg-type]
    net.run()
    return result


register(Scenario(
    "retransmission",
    "a data segment is lost three times: RTO 1 s, then 2 s, then 4 s (RFC 6298)",
    "The client sends three segments; the second is lost, and so are its "
    "first two retransmissions. Nothing acknowledges it, so each time the "
    "retransmission timer expires the segment is sent again and the timeout "
    "doubles (exponential backoff, RFC 6298 §5.5): 1 s, 2 s, 4 s. The receiver "
    "keeps the third segment out of order and answers each arrival with a "
    "duplicate ACK carrying a SACK block; once the hole is filled one ACK "
    "acknowledges everything.",
    retransmission,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def fast_retransmit(opts: ScenarioOptions) -> ScenarioResult:
    net, result = bulk(opts, "fast-retransmit", 24 * CHUNK)
    net.drop_first(_data_from_client(5))  # type: ignore[arg-type]
    net.run()
    return result


register(Scenario(
    "fast-retransmit",
    "one segment of a burst is lost; three duplicate ACKs resend it without a timeout",
    "The fifth segment of a burst is lost. Every later segment makes the "
    "receiver repeat its ACK for the missing byte, with a SACK block saying "
    "what did arrive. At the third duplicate ACK the sender retransmits the "
    "hole at once (fast retransmit, RFC 5681 §3.2), halves its congestion "
    "window and recovers using the SACK scoreboard (RFC 6675) instead of "
    "waiting a whole second for the retransmission timer.",
    fast_retransmit,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def zero_window(opts: ScenarioOptions) -> ScenarioResult:
    net, result = bulk(opts, "zero-window", 12 * CHUNK, start_reading=8.0, recv_buffer=8192)
    net.run()
    return result


register(Scenario(
    "zero-window",
    "the receiver stops reading: its window closes, the sender probes it, it reopens",
    "The server offers an 8 KiB buffer and its application does not read for "
    "8 seconds. The window shrinks with each segment until the server "
    "advertises zero. The client then holds its data and, when the persist "
    "timer expires (one RTO, then doubling: RFC 9293 §3.8.6.1), sends a "
    "zero-window probe that draws an ACK with the current window. When the "
    "application finally reads, the server announces the open window and the "
    "transfer resumes.",
    zero_window,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))

KEEPALIVE_OUTAGE = 7300.0


def keepalive(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    s.stack.listen(PORT)
    # Keep-alive is per connection (MUST-24): only the client asks for it.
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, PORT, now=net.now,
                                        config=opts.config(keepalive=True)))

    def cut() -> None:
        net.direction(client, server).up = False
        net.direction(server, client).up = False

    net.at(KEEPALIVE_OUTAGE, cut)
    net.run()
    return ScenarioResult("keepalive", net, client, server)


register(Scenario(
    "keepalive",
    "an idle connection is probed after 2 h; when the peer vanishes, 9 probes later it ends",
    "Keep-alive is off by default (MUST-25); here the client turns it on. After "
    "two hours without traffic (MUST-28) it sends a probe: a segment with "
    "SEQ = SND.NXT - 1 and no data, which any live peer must acknowledge. The "
    "answer restarts the idle timer. Then the network between the hosts goes "
    "down for good. Two hours later the next probe goes unanswered; one lost "
    "probe is not death (MUST-29), so probes repeat every 75 s, and after 9 "
    "unanswered probes the client gives up with a timeout. All of it takes "
    "milliseconds of wall-clock time.",
    keepalive,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED")},
))

SERVER_CLOSE_AT = 100.0


def fin_wait_2_timeout(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    s.stack.listen(PORT)
    held: list[Connection] = []

    def client_app(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            net.at(net.now + 0.5, conn.close)

    def server_app(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            held.append(conn)

    c.app = client_app
    s.app = server_app
    net.at(0.0, lambda: c.stack.connect(SERVER_ADDR, PORT, now=net.now))
    net.at(SERVER_CLOSE_AT, lambda: held[0].close())
    net.run()
    return ScenarioResult("fin-wait-2-timeout", net, client, server)


register(Scenario(
    "fin-wait-2-timeout",
    "the client closes, the server never does: the orphan leaves FIN-WAIT-2 after 60 s",
    "The client's application closes and goes away; its FIN is acknowledged, "
    "so it waits in FIN-WAIT-2 for the server's FIN. The server's application "
    "keeps its half open (CLOSE-WAIT). Nothing in RFC 9293 ends FIN-WAIT-2, "
    "but an orphaned connection (nobody will ever read it) is given up after "
    "60 s, as Linux does (tcp_fin_timeout). When the server finally closes at "
    "100 s, its FIN reaches a host with no connection and draws a RST.",
    fin_wait_2_timeout,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED")},
))
