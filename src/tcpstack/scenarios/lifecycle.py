"""The connection-lifecycle scenarios (RFC 9293 §3.5, §3.6, §3.10.7)."""

from __future__ import annotations

from ..connection import Connection
from ..drivers.sim import Network
from ..events import Connected, DataReceived, Event, PeerClosed, SendBufferAvailable
from ..tools.i18n import Text
from ..wire import Flags, Mss, Segment, encode_packet
from .base import (
    CLIENT_ADDR,
    PORT,
    SERVER_ADDR,
    Scenario,
    ScenarioOptions,
    ScenarioResult,
    can_send,
    is_final_ack,
    listen_and_connect,
    register,
    two_hosts,
)

REQUEST = b"GET / HTTP/1.0\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"

ACTIVE_CLOSE = ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                "CLOSED")
PASSIVE_CLOSE = ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED")


class RequestClient:
    """Sends ``request`` once connected, reads the reply, then closes.

    Args:
        net: the network (to schedule the close).
        close_after: seconds between the complete reply and ``close()``.
        request: the bytes to send.
        reply_size: bytes of reply to wait for before closing.
    """

    def __init__(self, net: Network, close_after: float = 0.05, *, request: bytes = REQUEST,
                 reply_size: int = len(REPLY)) -> None:
        self.net = net
        self.close_after = close_after
        self.request = request
        self.reply_size = reply_size
        self.received = bytearray()

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected) and can_send(conn):
            conn.send(self.request)
        elif isinstance(event, DataReceived):
            before = len(self.received)
            self.received += conn.read()
            if before < self.reply_size <= len(self.received):
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
            if self.received.endswith(b"\r\n\r\n") and can_send(conn):
                conn.send(REPLY)
        elif isinstance(event, PeerClosed):
            conn.read()  # read() returns 0: the end of the stream
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
    listen_and_connect(net)
    return net, ScenarioResult(name, net, client, server)


def _run(net: Network, result: ScenarioResult) -> ScenarioResult:
    net.run()  # until nothing is left to happen: every timer expired, every packet delivered
    return result


# ----------------------------------------------------------------------------


def lifecycle(opts: ScenarioOptions) -> ScenarioResult:
    return _run(*request_reply(opts, "lifecycle"))


register(Scenario(
    "lifecycle",
    Text("handshake, data both ways, four-way close, TIME-WAIT expiry, both ends CLOSED",
         "三次握手、双向传数据、四次挥手、TIME-WAIT 到期，两端都回到 CLOSED"),
    Text("Why does opening a connection take three segments, but closing it four?",
         "为什么建立连接是三次握手，而关闭连接却要四次挥手？"),
    Text(
        "Opening: the client's SYN carries its initial sequence number; the server "
        "acknowledges it and sends its own SYN in the same segment (SYN-ACK); the "
        "client's ACK completes the three-way handshake. Closing: each direction "
        "closes on its own. The client closes first (active close: FIN-WAIT-1, then "
        "FIN-WAIT-2 once its FIN is acknowledged). The server acknowledges that FIN at "
        "once, but its application may still have data to send, so its own FIN comes "
        "later, when it calls close() (CLOSE-WAIT, then LAST-ACK): the ACK and the FIN "
        "travel apart, four segments. The client then waits in TIME-WAIT for 2 x MSL "
        "(240 s by default) before it is CLOSED too.",
        "建立连接时，客户端的 SYN 带上自己的初始序列号；服务器在同一个报文段里既确认它，"
        "又发出自己的 SYN（即 SYN-ACK）；客户端再回一个 ACK，三次握手完成。"
        "关闭连接时，两个方向要各自关闭。客户端先关闭（主动关闭）：发出 FIN 进入 FIN-WAIT-1，"
        "FIN 被确认后进入 FIN-WAIT-2。服务器收到 FIN 会马上确认，但它的应用可能还有数据要发，"
        "要等应用调用 close() 才发出自己的 FIN（先 CLOSE-WAIT，再 LAST-ACK）。"
        "ACK 和 FIN 分开发送，所以是四次挥手。最后客户端在 TIME-WAIT 中等待 2×MSL"
        "（默认 240 秒），然后也进入 CLOSED。",
    ),
    lifecycle,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def three_way_close(opts: ScenarioOptions) -> ScenarioResult:
    return _run(*request_reply(opts, "three-way-close", server_close_after=None))


register(Scenario(
    "three-way-close",
    Text("the server closes at once: its FIN rides on the ACK of the client's FIN",
         "服务器立即关闭：它的 FIN 和对客户端 FIN 的确认合在一个报文段里"),
    Text("Why does a capture sometimes show only three segments for the close?",
         "为什么抓包时有时只看到三次挥手？"),
    Text(
        "When the passive side has nothing more to send and closes as soon as it reads "
        "end-of-stream, its FIN and the ACK of the client's FIN leave in one segment "
        "(FIN,ACK). The close then takes three segments, and the client goes from "
        "FIN-WAIT-1 straight to TIME-WAIT without passing FIN-WAIT-2 (RFC 9293 "
        "§3.10.7.4, eighth step).",
        "被动关闭的一方如果已经没有数据要发，读到流结束后立刻调用 close()，"
        "它的 FIN 就和对客户端 FIN 的 ACK 合并在同一个报文段（FIN,ACK）里发出。"
        "这样关闭只用三个报文段，客户端也不经过 FIN-WAIT-2，"
        "直接从 FIN-WAIT-1 进入 TIME-WAIT（RFC 9293 §3.10.7.4 第八步）。",
    ),
    three_way_close,
    {
        "client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED"),
        "server": PASSIVE_CLOSE,
    },
))


def lost_final_ack(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-final-ack")
    net.drop_first(is_final_ack)
    return _run(net, result)


register(Scenario(
    "lost-final-ack",
    Text("the last ACK of the close is lost: LAST-ACK resends its FIN, TIME-WAIT re-ACKs",
         "挥手的最后一个 ACK 丢失：LAST-ACK 一方重传 FIN，TIME-WAIT 一方再次确认"),
    Text("Why does TIME-WAIT last 2 MSL, and what happens when the final ACK is lost?",
         "TIME-WAIT 为什么要等 2MSL？最后一个 ACK 丢了会怎样？"),
    Text(
        "The client's final ACK is lost, so the server, in LAST-ACK, retransmits its FIN "
        "when its retransmission timer expires. The client is still in TIME-WAIT: it "
        "still holds the connection, acknowledges the FIN again and restarts its "
        "2 MSL timer. 2 MSL covers the worst case of this story: the final ACK may "
        "travel for up to one MSL (maximum segment lifetime) before it is lost, and the "
        "FIN sent again may take another MSL to arrive. It is also long enough for every "
        "old segment of the connection to die out. Without TIME-WAIT the repeated FIN "
        "would find no connection and draw a RST, and the server would report an "
        "error for a connection that had closed normally.",
        "客户端的最后一个 ACK 丢了，处于 LAST-ACK 的服务器等到重传定时器超时，重传它的 FIN。"
        "客户端此时还在 TIME-WAIT，连接信息仍然保留，于是再次确认这个 FIN，"
        "并重新开始 2MSL 计时。2MSL（两倍的最大报文段生存时间 MSL）正好覆盖这种最坏情况："
        "最后的 ACK 在网络中最多走一个 MSL 才丢失，对方重传的 FIN 最多再过一个 MSL 才到达。"
        "这段时间也足以让本连接的所有旧报文段在网络中消失。"
        "如果没有 TIME-WAIT，重传的 FIN 会找不到连接而招来 RST，"
        "服务器就会把一个正常关闭的连接当作出错。",
    ),
    lost_final_ack,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def lost_syn(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-syn")
    net.drop_first(lambda p: p.src == "client" and p.segment.flags == Flags.SYN)
    return _run(net, result)


register(Scenario(
    "lost-syn",
    Text("the first SYN is lost and retransmitted after the initial RTO of 1 s",
         "第一个 SYN 丢失，1 秒（初始 RTO）后超时重传"),
    Text("What happens when the first SYN is lost?",
         "第一次握手的 SYN 丢了会怎样？"),
    Text(
        "Nothing comes back for the client's SYN, so when the retransmission timer "
        "expires after the initial timeout (RTO = 1 s, RFC 6298 §2.1) the client sends "
        "the SYN again, with the same sequence number. Each further loss would double "
        "the timeout (1, 2, 4, 8 s ...), and after about three minutes (R2 for a SYN) "
        "connect() would fail.",
        "客户端的 SYN 没有任何回应，重传定时器在初始超时时间（RTO=1 秒，RFC 6298 §2.1）"
        "到期后，客户端用同一个序列号重发 SYN，这就是超时重传。"
        "如果再丢，超时时间每次翻倍（1、2、4、8 秒……），"
        "大约三分钟（SYN 的 R2）后 connect() 才会失败。",
    ),
    lost_syn,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))


def lost_syn_ack(opts: ScenarioOptions) -> ScenarioResult:
    net, result = request_reply(opts, "lost-syn-ack")
    net.drop_first(lambda p: p.src == "server" and p.segment.flags == Flags.SYN | Flags.ACK)
    return _run(net, result)


register(Scenario(
    "lost-syn-ack",
    Text("the SYN-ACK is lost: both ends time out and retransmit",
         "SYN-ACK 丢失：两端都超时重传"),
    Text("What happens when the second segment of the handshake, the SYN-ACK, is lost?",
         "第二次握手的 SYN-ACK 丢了会怎样？"),
    Text(
        "The server sits in SYN-RECEIVED, the client in SYN-SENT, and neither hears "
        "from the other. Both have a retransmission timer running: after 1 s the "
        "client repeats its SYN and the server its SYN-ACK. The repeated SYN is a "
        "duplicate for the server, which answers it with the SYN-ACK again; the "
        "handshake then completes.",
        "服务器停在 SYN-RECEIVED，客户端停在 SYN-SENT，谁也收不到对方的消息。"
        "两端都有重传定时器：1 秒后客户端重传 SYN，服务器也重传 SYN-ACK。"
        "重传的 SYN 对服务器来说是重复的，它会再回一次 SYN-ACK，"
        "之后三次握手顺利完成。",
    ),
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
    Text("both ends send a SYN at the same time; each answers with a SYN-ACK",
         "两端同时发出 SYN，各自再回一个 SYN-ACK"),
    Text("Can both ends open the same connection at the same time?",
         "两端能同时主动打开同一条连接吗（同时打开）？"),
    Text(
        "Yes. Both ends perform an active open towards each other's port at once. Each "
        "receives a bare SYN while in SYN-SENT, moves to SYN-RECEIVED and answers with "
        "a SYN-ACK; each SYN-ACK completes the other side's handshake. Four segments "
        "instead of three, one connection, and no listener at all (MUST-10).",
        "可以。两端同时向对方的端口主动打开。每一端都在 SYN-SENT 状态收到一个不带 ACK 的 SYN，"
        "于是进入 SYN-RECEIVED 并回复 SYN-ACK；对方的 SYN-ACK 又完成了自己这边的握手。"
        "一共四个报文段而不是三个，建立的是同一条连接，而且完全不需要监听者（MUST-10）。",
    ),
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
    listen_and_connect(net)
    return _run(net, ScenarioResult("simultaneous-close", net, client, server))


register(Scenario(
    "simultaneous-close",
    Text("both ends close at the same moment and pass through CLOSING",
         "两端同时关闭，都经过 CLOSING 状态"),
    Text("What happens when both ends close at the same time?",
         "两端同时关闭（同时关闭）会怎样？"),
    Text(
        "Both applications close at once, so each end is in FIN-WAIT-1 when the "
        "other's FIN arrives, before its own FIN is acknowledged: that is the CLOSING "
        "state, the rarest one. Each then receives the ACK of its FIN and goes to "
        "TIME-WAIT: both ends were active closers, so both wait 2 x MSL.",
        "两端的应用同时调用 close()，每一端都在 FIN-WAIT-1 时收到了对方的 FIN，"
        "而自己的 FIN 还没被确认，于是进入 CLOSING，这是最少见的一个状态。"
        "随后各自收到对自己 FIN 的确认，进入 TIME-WAIT。"
        "两端都是主动关闭方，所以两端都要等待 2×MSL。",
    ),
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
        if not can_send(conn):
            return
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
        if isinstance(event, Connected) and can_send(conn):
            conn.send(REQUEST)
            conn.shutdown()
        elif isinstance(event, DataReceived):
            self.received += conn.read()


def half_close(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = HalfCloseClient()
    s.app = HalfCloseServer(HALF_CLOSE_BYTES)
    listen_and_connect(net)
    return _run(net, ScenarioResult("half-close", net, client, server))


register(Scenario(
    "half-close",
    Text(f"the client shuts down writing; the server keeps sending {HALF_CLOSE_BYTES} bytes",
         f"客户端关闭写方向（半关闭）；服务器继续发送 {HALF_CLOSE_BYTES} 字节"),
    Text("What is a half-close: can one side keep sending after the other has sent its FIN?",
         "什么是半关闭？一方发出 FIN 之后，另一方还能继续发数据吗？"),
    Text(
        "Yes: a FIN closes one direction only. The client sends its request and calls "
        "shutdown(WR): its FIN follows the request, and it sits in FIN-WAIT-2, still "
        "receiving. The server, in CLOSE-WAIT, keeps sending its answer over the "
        "half-closed connection and closes when it is done; only then does the client's "
        "read() return 0.",
        "能。FIN 只关闭一个方向。客户端发出请求后调用 shutdown(WR)，FIN 紧跟在请求之后发出；"
        "它被确认后，客户端停在 FIN-WAIT-2，但仍然可以接收数据。服务器处于 CLOSE-WAIT，"
        "在这条半关闭的连接上继续发送应答，发完才关闭；直到这时，客户端的 read() 才返回 0。",
    ),
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
    Text("a stale SYN reaches the listener; the client's RST sends it back to LISTEN",
         "一个过时的旧 SYN 先到达监听方；客户端用 RST 让它回到 LISTEN"),
    Text("Why does opening a connection take three segments, not two?",
         "为什么建立连接需要三次握手，而不是两次？"),
    Text(
        "Because the client must get the chance to say \"that SYN is not mine\" (RFC "
        "9293 Figure 8). Here an old duplicate SYN from an earlier incarnation arrives "
        "first. The server answers it with a SYN-ACK that acknowledges the old "
        "sequence number; the client, in SYN-SENT, sees an ACK for something it never "
        "sent and answers with a RST. The server returns to LISTEN, then the client's "
        "real SYN opens the connection normally. With a two-way handshake the server "
        "would have opened a connection nobody asked for, and taken the old sequence "
        "number as the client's.",
        "因为客户端必须有机会说一句“那个 SYN 不是我发的”（RFC 9293 图 8）。"
        "这里，一个来自早先连接的过时重复 SYN 先到达服务器。服务器回复 SYN-ACK，"
        "确认号对应的是那个旧的序列号；处于 SYN-SENT 的客户端发现对方确认了自己从没发过的东西，"
        "于是回一个 RST。服务器回到 LISTEN，随后客户端真正的 SYN 正常建立连接。"
        "如果只有两次握手，服务器会建立一条没人请求的连接，还会把旧序列号当成客户端的初始序列号。",
    ),
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
    Text("SYN to a port nobody listens on: RST,ACK, connection refused",
         "向没有监听的端口发 SYN：收到 RST,ACK，连接被拒绝"),
    Text("What happens when you connect to a port nobody listens on?",
         "连接一个没有程序监听的端口会怎样？"),
    Text(
        "No TCB exists for port 8080 on the server, which is the CLOSED state: any "
        "segment but a RST is answered with a RST (RFC 9293 §3.10.7.1). The SYN has no "
        "ACK, so the reset is <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>; the client, in "
        "SYN-SENT, accepts it because it acknowledges its SYN, and connect() fails with "
        "\"connection refused\".",
        "服务器的 8080 端口上没有任何 TCB，相当于处于 CLOSED 状态：除了 RST，"
        "收到任何报文段都回复 RST（RFC 9293 §3.10.7.1）。SYN 不带 ACK，"
        "所以回复的是 <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>。处于 SYN-SENT 的客户端"
        "看到它确认了自己的 SYN，就接受这个 RST，connect() 报错“连接被拒绝”"
        "（connection refused）。",
    ),
    refused,
    {"client": ("CLOSED", "SYN-SENT", "CLOSED"), "server": ()},
))

REBOOT_AT = 0.5
PROBE_AT = 1.0


def half_open(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    conns: list[Connection] = []
    c.app = lambda conn, event: conns.append(conn) if isinstance(event, Connected) else None
    listen_and_connect(net)

    def reboot() -> None:
        net.restart(s)
        s.stack.listen(PORT)

    def probe() -> None:
        # The connection may never have opened (its SYN lost, a long delay).
        if conns and can_send(conns[0]):
            conns[0].send(b"are you there?\n")

    net.at(REBOOT_AT, reboot)
    net.at(PROBE_AT, probe)
    return _run(net, ScenarioResult("half-open", net, client, server))


register(Scenario(
    "half-open",
    Text("the server reboots and forgets the connection; the client's next segment draws RST",
         "服务器重启，忘掉了连接；客户端再发报文段时收到 RST"),
    Text("What happens to a connection when the peer crashes and reboots?",
         "对端崩溃重启后，原来的连接会怎样（半打开连接）？"),
    Text(
        "It becomes half-open (RFC 9293 §3.5.2, Figure 11): the server crashes and "
        "restarts, losing its TCB, and the client does not know until it sends. The "
        "server has no connection for that segment and answers with <SEQ=SEG.ACK>"
        "<CTL=RST>. The RST's sequence number is exactly what the client expects, so "
        "the client accepts it and reports \"connection reset\". A client that never "
        "sends would never find out, unless keep-alive is on.",
        "连接变成了半打开状态（RFC 9293 §3.5.2，图 11）：服务器崩溃重启，TCB 全部丢失，"
        "而客户端在发数据之前对此一无所知。服务器收到这个报文段时找不到对应的连接，"
        "就回复 <SEQ=SEG.ACK><CTL=RST>。这个 RST 的序列号正是客户端期望的，"
        "所以客户端接受它并报告“连接被重置”（connection reset）。"
        "如果客户端一直不发数据，它永远也发现不了，除非打开了保活机制。",
    ),
    half_open,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"),
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED")},
))

GREETING = b"hello"


class GreetingClient:
    """Sends :data:`GREETING` once connected and closes ``close_after`` seconds
    later (after its ACK, so that the FIN travels alone)."""

    def __init__(self, net: Network, close_after: float = 0.3) -> None:
        self.net = net
        self.close_after = close_after

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected) and can_send(conn):
            conn.send(GREETING)
            self.net.at(self.net.now + self.close_after, conn.close)


def syn_fin_consume_sequence(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    net.hosts[client].app = GreetingClient(net)
    net.hosts[server].app = ReplyServer(net)
    listen_and_connect(net)
    return _run(net, ScenarioResult("syn-fin-consume-sequence", net, client, server))


register(Scenario(
    "syn-fin-consume-sequence",
    Text(f"ack = ISN + 1 for the SYN, data from ISN + 1, the FIN's ACK = FIN seq + 1 "
         f"({len(GREETING)} bytes sent)",
         f"对 SYN 的确认号=ISN+1，数据从 ISN+1 开始，对 FIN 的确认号=FIN 的序列号+1"
         f"（发送 {len(GREETING)} 字节）"),
    Text("Why do SYN and FIN each consume one sequence number?",
         "为什么 SYN 和 FIN 各占用一个序列号？"),
    Text(
        "Because they must be acknowledged, and TCP acknowledges only sequence numbers. "
        "The client's SYN has seq = ISN; the server's SYN-ACK says ack = ISN + 1, and "
        "the client's first data byte is numbered ISN + 1. After 5 data bytes the "
        "client's FIN has seq = ISN + 6 and is acknowledged with ack = ISN + 7. If the "
        "SYN or FIN took no number, its ACK could not be told apart from an ACK of the "
        "data before it, and a lost SYN or FIN could never be detected and "
        "retransmitted. A bare ACK takes no number: nobody acknowledges an ACK.",
        "因为它们必须被确认，而 TCP 只能确认序列号。客户端 SYN 的序列号为 ISN，"
        "服务器在 SYN-ACK 中给出的确认号是 ISN+1，客户端第一个数据字节的编号也是 ISN+1。"
        "发送 5 个字节的数据之后，客户端 FIN 的序列号是 ISN+6，对它的确认号是 ISN+7。"
        "如果 SYN 或 FIN 不占序列号，对它的确认就和对前面数据的确认无法区分，"
        "SYN 或 FIN 丢了也无从发现、无法重传。单纯的 ACK 不占序列号：没有人会去确认一个 ACK。",
    ),
    syn_fin_consume_sequence,
    {"client": ACTIVE_CLOSE, "server": PASSIVE_CLOSE},
))
