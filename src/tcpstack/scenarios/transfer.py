"""Scenarios of reliable delivery and connection supervision (RFC 9293 §3.8, RFC 6298, 5681)."""

from __future__ import annotations

from ..connection import Connection
from ..drivers.sim import Network, PacketInfo
from ..events import Connected, DataReceived, Event, PeerClosed
from ..state import State
from ..tools.i18n import Text
from .base import (
    PORT,
    SERVER_ADDR,
    Scenario,
    ScenarioOptions,
    ScenarioResult,
    listen_and_connect,
    register,
    two_hosts,
)
from .lifecycle import PASSIVE_CLOSE, PatternSender

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
    listen_and_connect(net)
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
    Text("a data segment is lost three times: RTO 1 s, then 2 s, then 4 s (RFC 6298)",
         "一个数据报文段连丢三次：RTO 先是 1 秒，然后 2 秒、4 秒（RFC 6298）"),
    Text("How long does TCP wait before it retransmits, and why does the wait double?",
         "超时重传要等多久？为什么每次等待时间都翻倍？"),
    Text(
        "The client sends three segments; the second is lost, and so are its first two "
        "retransmissions. Nothing acknowledges it, so each time the retransmission "
        "timer expires (RTO, at least 1 s, computed from the measured round-trip time) "
        "the segment is sent again and the timeout doubles (exponential backoff, RFC "
        "6298 §5.5): 1 s, 2 s, 4 s. Doubling keeps a sender from flooding a path that "
        "is congested or down. The receiver keeps the third segment out of order and "
        "answers each arrival with a duplicate ACK carrying a SACK block; once the hole "
        "is filled, one ACK acknowledges everything. Before the first timeout the "
        "client sends one tail loss probe (RFC 8985 §7): the last segment again, to draw "
        "an ACK; one duplicate ACK is not enough for fast retransmit, so the timer "
        "still decides.",
        "客户端发出三个报文段，第二个丢了，它的前两次重传也都丢了。"
        "一直没有确认，所以每当重传定时器到期（RTO 至少 1 秒，由测得的往返时间算出），"
        "这个报文段就被重传一次，超时时间翻倍（指数退避，RFC 6298 §5.5）：1 秒、2 秒、4 秒。"
        "指数退避让发送方在网络拥塞或中断时放慢重试，而不是不停地重发。"
        "接收方把先到的第三个报文段作为乱序数据暂存，每收到一个报文段就回一个带 SACK 块的重复 ACK；"
        "空洞补上之后，一个 ACK 就把所有数据都确认了。"
        "第一次超时之前，客户端会发一次尾部丢失探测（TLP，RFC 8985 §7）：把最后一个报文段再发一遍，"
        "以换回一个 ACK；一个重复 ACK 不足以触发快速重传，所以最终还是由重传定时器决定。",
    ),
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
    Text("one segment of a burst is lost; three duplicate ACKs resend it without a timeout",
         "一批报文段中丢了一个；三个重复 ACK 触发重传，不必等超时"),
    Text("How can TCP resend a lost segment without waiting for the timeout?",
         "快速重传：为什么收到三个重复 ACK 就重传，而不等超时？"),
    Text(
        "The fifth segment of a burst is lost. Every later segment makes the receiver "
        "repeat its ACK for the missing byte, with a SACK block saying what did arrive. "
        "One or two duplicate ACKs may just mean reordering; three mean a loss. At the "
        "third duplicate ACK the sender retransmits the hole at once (fast retransmit, "
        "RFC 5681 §3.2), halves its congestion window (ssthresh = cwnd / 2) and "
        "recovers using the SACK scoreboard (RFC 6675), instead of waiting a whole "
        "second for the retransmission timer.",
        "一批报文段中的第五个丢了。之后每到一个报文段，接收方都重复确认那个缺失的字节，"
        "并用 SACK 块说明哪些数据已经收到。一两个重复 ACK 可能只是乱序，连续三个就说明丢包了。"
        "收到第三个重复 ACK 时，发送方立刻重传缺失的报文段（快速重传，RFC 5681 §3.2），"
        "把拥塞窗口减半（慢启动阈值 ssthresh=cwnd/2），并借助 SACK 记分板（RFC 6675）恢复，"
        "而不必苦等一整秒的重传定时器。",
    ),
    fast_retransmit,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def zero_window(opts: ScenarioOptions) -> ScenarioResult:
    net, result = bulk(opts, "zero-window", 12 * CHUNK, start_reading=8.0, recv_buffer=8192)
    net.run()
    return result


register(Scenario(
    "zero-window",
    Text("the receiver stops reading: its window closes, the sender probes it, it reopens",
         "接收方不读数据：接收窗口关闭，发送方探测，窗口重新打开"),
    Text("What happens when the receiving application stops reading?",
         "接收方的应用不读数据时会怎样（零窗口）？"),
    Text(
        "The server offers an 8 KiB buffer and its application does not read for 8 "
        "seconds. The receive window shrinks with each segment until the server "
        "advertises zero: flow control stops the sender so the receiver's buffer never "
        "overflows. The client holds its data and, when the persist timer expires (one "
        "RTO, then doubling: RFC 9293 §3.8.6.1), sends a zero-window probe that draws "
        "an ACK with the current window, in case a window update was lost. When the "
        "application finally reads, the server announces the open window and the "
        "transfer resumes.",
        "服务器只提供 8 KiB 的接收缓冲区，而它的应用 8 秒内都不读数据。"
        "每到一个报文段，接收窗口就缩小一些，直到服务器通告窗口为零："
        "流量控制让发送方停下来，接收缓冲区永远不会溢出。客户端暂存数据，"
        "坚持定时器到期时（先是一个 RTO，之后翻倍：RFC 9293 §3.8.6.1）发送零窗口探测，"
        "让对方回一个带当前窗口的 ACK，以防窗口更新报文丢失而双方互相干等。"
        "应用终于读数据后，服务器通告窗口重新打开，传输继续。",
    ),
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
    Text("an idle connection is probed after 2 h; when the peer vanishes, 9 probes later it ends",
         "空闲 2 小时后发保活探测；对端消失后，9 次探测无应答，连接结束"),
    Text("What does keep-alive do when the peer silently disappears?",
         "保活机制：对端悄无声息地消失了，连接会怎样？"),
    Text(
        "Without traffic TCP cannot notice a dead peer. Keep-alive is off by default "
        "(MUST-25); here the client turns it on. After two hours without traffic "
        "(MUST-28) it sends a probe: a segment with SEQ = SND.NXT - 1 and no data, "
        "which any live peer must acknowledge. The answer restarts the idle timer. Then "
        "the network between the hosts goes down for good. Two hours later the next "
        "probe goes unanswered; one lost probe is not death (MUST-29), so probes repeat "
        "every 75 s, and after 9 unanswered probes the client gives up with a timeout. "
        "All of it takes milliseconds of wall-clock time.",
        "没有数据往来时，TCP 无法察觉对端已经不在了。保活默认是关闭的（MUST-25），"
        "这里由客户端打开。空闲两小时后（MUST-28），客户端发出保活探测："
        "一个 SEQ=SND.NXT-1、不带数据的报文段，只要对端还活着就必须确认它。"
        "收到回应后，空闲计时重新开始。随后两台主机之间的网络彻底断开。"
        "又过两小时，下一个探测没有回应；丢一个探测不代表对端已死（MUST-29），"
        "所以每隔 75 秒再探测一次，连续 9 次无应答后，客户端以超时结束连接。"
        "这一切在虚拟时间里进行，实际只用了几毫秒。",
    ),
    keepalive,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED")},
))

SERVER_CLOSE_AT = 100.0


def fin_wait_2_timeout(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    held: list[Connection] = []

    def client_app(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            net.at(net.now + 0.5, conn.close)

    def server_app(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            held.append(conn)

    c.app = client_app
    s.app = server_app
    listen_and_connect(net)
    net.at(SERVER_CLOSE_AT, lambda: held[0].close() if held else None)
    net.run()
    return ScenarioResult("fin-wait-2-timeout", net, client, server)


register(Scenario(
    "fin-wait-2-timeout",
    Text("the client closes, the server never does: the orphan leaves FIN-WAIT-2 after 60 s",
         "客户端关闭，服务器迟迟不关：孤儿连接在 FIN-WAIT-2 等 60 秒后放弃"),
    Text("If the peer never closes, does FIN-WAIT-2 last forever?",
         "如果对方一直不关闭，FIN-WAIT-2 会永远等下去吗？"),
    Text(
        "The client's application closes and goes away; its FIN is acknowledged, so it "
        "waits in FIN-WAIT-2 for the server's FIN. The server's application keeps its "
        "half open (CLOSE-WAIT). Nothing in RFC 9293 ends FIN-WAIT-2, but an orphaned "
        "connection (nobody will ever read it) is given up after 60 s, as Linux does "
        "(tcp_fin_timeout). When the server finally closes at 100 s, its FIN reaches a "
        "host with no connection and draws a RST.",
        "客户端的应用调用 close() 后就不管了；它的 FIN 已被确认，"
        "于是在 FIN-WAIT-2 等待服务器的 FIN。服务器的应用却一直不关闭自己这一半"
        "（停在 CLOSE-WAIT）。RFC 9293 并没有规定 FIN-WAIT-2 何时结束，"
        "但孤儿连接（再也没有应用会读它）等 60 秒就会被放弃，"
        "Linux 也是这样做的（tcp_fin_timeout）。"
        "服务器直到第 100 秒才关闭，它的 FIN 到达时客户端已没有这条连接，于是招来一个 RST。",
    ),
    fin_wait_2_timeout,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED")},
))
