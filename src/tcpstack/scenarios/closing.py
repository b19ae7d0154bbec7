"""How applications close: close() after write, a close() that never comes, a process
that dies (RFC 9293 §3.6, §3.10.4, SHLD-3)."""

from __future__ import annotations

from ..connection import Connection
from ..events import Connected, DataReceived, Event, PeerClosed
from ..tools.i18n import Text
from .base import (
    PerConnection,
    Scenario,
    ScenarioOptions,
    ScenarioResult,
    can_send,
    listen_and_connect,
    register,
    two_hosts,
)
from .lifecycle import ACTIVE_CLOSE, PASSIVE_CLOSE, REQUEST, ReplyServer, RequestClient
from .ss import state_counts, state_table
from .transfer import CHUNK, Receiver, bulk

FLUSH_BYTES = 16 * CHUNK
"""More than the initial window (10 segments): data still leaves after close()."""


def close_flushes(opts: ScenarioOptions) -> ScenarioResult:
    # The client queues everything and calls close() at once (BulkClient);
    # the server reads it all and closes when read() returns 0.
    net, result = bulk(opts, "close-flushes", FLUSH_BYTES)
    net.run()
    server = net.hosts[result.server].app
    if isinstance(server, Receiver):
        n = len(server.received)
        result.notes.append(Text(
            f"The server's application read {n} of the {FLUSH_BYTES} bytes the client "
            f"wrote before close(), then read() returned 0.",
            f"服务器的应用读到了客户端在 close() 之前写入的 {FLUSH_BYTES} 字节中的 {n} 字节，"
            f"然后 read() 返回 0。"))
    return result


register(Scenario(
    "close-flushes",
    Text(f"write {FLUSH_BYTES} bytes, then close() at once: the data still arrives, then the FIN",
         f"写入 {FLUSH_BYTES} 字节后立即 close()：数据照样全部送达，FIN 最后到"),
    Text("Does close() throw away the data that has not been sent yet? Why does recv() "
         "return 0?",
         "调用 close() 时还没发出去的数据会丢吗？recv() 为什么会返回 0？"),
    Text(
        "No. close() (like shutdown) only queues a FIN behind the data already written "
        "(RFC 9293 §3.10.4: \"queue this until all preceding SENDs have been "
        "segmentized\"). The client enters FIN-WAIT-1 at once, yet its data keeps "
        "flowing, paced by the congestion window and retransmitted if lost; the FIN "
        "leaves with the last byte. The server's application reads every byte; then "
        "read() returns 0: that 0 is the peer's FIN, the end of the stream, not an "
        "error. (Only close() with unread received data, or abort(), sends a RST "
        "and discards data: see process-exit.)",
        "不会。close()（和 shutdown 一样）只是把一个 FIN 排在已写入的数据后面"
        "（RFC 9293 §3.10.4：等之前所有 SEND 的数据都分成报文段之后再发 FIN）。"
        "客户端立刻进入 FIN-WAIT-1，但数据照样继续发送，受拥塞窗口控制，丢了也会重传；"
        "FIN 跟着最后一个字节一起发出。服务器的应用读到全部数据，之后 read() 返回 0："
        "这个 0 表示对方发来了 FIN，数据流结束了，并不是出错。"
        "（只有在接收缓冲区里还有未读数据时调用 close()，或者调用 abort()，"
        "才会发 RST 并丢弃数据，参见 process-exit。）",
    ),
    close_flushes,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED"),
     "server": PASSIVE_CLOSE},
))

LEAK_CONNECTIONS = 5
LEAK_EVERY = 10.0
"""Seconds between two clients' connections."""
LEAK_SAMPLES = tuple(5.0 + 10.0 * i for i in range(11))
"""The moments of the ``ss`` table, seconds."""


class LeakyServer(ReplyServer):
    """Answers the request; when the peer closes it reads end-of-stream and,
    by a bug, never calls close()."""

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, PeerClosed):
            conn.read()  # read() returns 0 ... and the close() is forgotten
            return
        super().on_event(conn, event)


def close_wait_leak(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = PerConnection(lambda: RequestClient(net))
    s.app = LeakyServer(net)
    listen_and_connect(net, *(i * LEAK_EVERY for i in range(LEAK_CONNECTIONS)))
    net.run()
    result = ScenarioResult("close-wait-leak", net, client, server)
    table = state_table(state_counts(result.records, LEAK_SAMPLES, (client, server)))
    result.notes.append(Text(
        "Sockets per state over time, as `ss -tan` would count them:\n" + table.en,
        "各状态的套接字数量随时间的变化（相当于用 `ss -tan` 统计）：\n" + table.zh))
    return result


register(Scenario(
    "close-wait-leak",
    Text(f"a server that never calls close(): {LEAK_CONNECTIONS} connections pile up in "
         "CLOSE-WAIT; the clients leave FIN-WAIT-2 after 60 s",
         f"服务器从不调用 close()：{LEAK_CONNECTIONS} 条连接堆积在 CLOSE-WAIT；"
         "客户端 60 秒后离开 FIN-WAIT-2"),
    Text("Why do connections pile up in CLOSE-WAIT, and what does it mean?",
         "为什么会有大量连接堆积在 CLOSE-WAIT？这说明了什么？"),
    Text(
        "CLOSE-WAIT means: the peer has closed (its FIN arrived, read() returned 0) and "
        "TCP is waiting for our application to call close(). Nothing in TCP ends it, "
        "no timer, no retransmission: only the application can. Here a server answers "
        "each request and, by a bug, never closes. Every client that closes leaves one "
        "more socket in CLOSE-WAIT on the server, forever, each holding a file "
        "descriptor and buffers. The clients wait in FIN-WAIT-2 for a FIN that never "
        "comes, until their orphan timeout (60 s) frees them. Many CLOSE-WAIT sockets "
        "always point to the application, not to the network: look for the missing "
        "close() on the end-of-stream or error path.",
        "CLOSE-WAIT 的意思是：对方已经关闭（它的 FIN 已到，read() 已返回 0），"
        "TCP 在等我们自己的应用调用 close()。TCP 里没有任何机制能结束这个状态，"
        "没有定时器，也没有重传，只有应用自己能结束它。这里的服务器回复完每个请求后，"
        "因为一个 bug 从不调用 close()。每有一个客户端关闭，"
        "服务器上就多一个永远停在 CLOSE-WAIT 的套接字，每个都占着文件描述符和缓冲区。"
        "客户端则停在 FIN-WAIT-2，等一个永远不会来的 FIN，直到孤儿连接超时（60 秒）才被释放。"
        "大量 CLOSE-WAIT 几乎总是应用的问题，而不是网络的问题："
        "去找读到流结束或出错时漏掉的那个 close()。",
    ),
    close_wait_leak,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
                "CLOSED") * LEAK_CONNECTIONS,
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT") * LEAK_CONNECTIONS},
))

EXIT_AT = 0.5
SECOND_CONNECT_AT = 0.1


class BusyClient:
    """Sends :data:`REQUEST` on every connection; reads the replies of the first
    connection only (it is busy before it gets to the others)."""

    def __init__(self) -> None:
        self.order: list[Connection] = []

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected) and can_send(conn):
            self.order.append(conn)
            conn.send(REQUEST)
        elif isinstance(event, DataReceived) and self.order and conn is self.order[0]:
            conn.read()


def process_exit(opts: ScenarioOptions) -> ScenarioResult:
    net, client, server = two_hosts(opts)
    c, s = net.hosts[client], net.hosts[server]
    c.app = BusyClient()
    s.app = ReplyServer(net)
    listen_and_connect(net, 0.0, SECOND_CONNECT_AT)

    def exit_process() -> None:
        # The process dies (a crash, exit(), Ctrl-C): the kernel closes every
        # socket it had open, exactly as if it had called close() on each.
        for conn in c.stack.connections:
            conn.close()

    net.at(EXIT_AT, exit_process)
    net.run()
    result = ScenarioResult("process-exit", net, client, server)
    result.notes += [_exit_note(result, conn) for conn in result.connections(client)]
    return result


def _exit_note(result: ScenarioResult, conn: str) -> Text:
    """What the OS sent on ``conn`` (a client connection) when the process exited."""
    sent = [r for r in result.records if r.host == result.client and r.conn == conn
            and r.event == "segment_sent" and r.time >= EXIT_AT]
    flags = {flag for r in sent for flag in r.data["flags"]}
    if "RST" in flags:
        return Text(f"{conn}: unread data in the receive buffer at exit: RST.",
                    f"{conn}：退出时接收缓冲区里还有未读数据：发送 RST。")
    if "FIN" in flags:
        return Text(f"{conn}: everything read at exit: FIN, a graceful close.",
                    f"{conn}：退出时数据都已读完：发送 FIN，正常关闭。")
    return Text(f"{conn}: nothing left to close at exit.",
                f"{conn}：退出时已没有需要关闭的连接。")


register(Scenario(
    "process-exit",
    Text("the client process dies: the OS closes its sockets, FIN on one, RST on the one "
         "with unread data",
         "客户端进程退出：操作系统替它关闭套接字，一条发 FIN，有未读数据的那条发 RST"),
    Text("What happens to a process's connections when it crashes or is killed with Ctrl-C?",
         "进程崩溃或被 Ctrl-C 杀掉时，它的 TCP 连接会怎样？"),
    Text(
        f"The connections belong to the kernel, not to the process. When the process "
        f"dies, at {EXIT_AT} s here, the operating system closes every socket it had "
        f"open, just as close() would. The first connection had read its reply, so it "
        f"closes gracefully: a FIN, and the usual four-way close with TIME-WAIT; the "
        f"server sees read() return 0. The second still had an unread reply in its "
        f"receive buffer: closing it would silently lose data the peer believes "
        f"delivered, so TCP sends a RST instead (RFC 9293 §3.6.1, SHLD-3), and the "
        f"server gets \"connection reset by peer\".",
        f"连接属于内核，而不属于进程。进程一退出（这里是第 {EXIT_AT} 秒），"
        f"操作系统就会像调用 close() 一样，替它关闭所有打开的套接字。"
        f"第一条连接已经读完了应答，所以正常关闭：发出 FIN，走完四次挥手和 TIME-WAIT，"
        f"服务器那边 read() 返回 0。第二条连接的接收缓冲区里还有没读的应答，"
        f"如果照常关闭，对方以为已经送达的数据就会悄悄丢掉，所以 TCP 改发 RST"
        f"（RFC 9293 §3.6.1，SHLD-3），服务器收到“连接被对方重置”"
        f"（connection reset by peer）。",
    ),
    process_exit,
    {"client": (*ACTIVE_CLOSE, "CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"),
     "server": (*PASSIVE_CLOSE, "LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSED")},
))
