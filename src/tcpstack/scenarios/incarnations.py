"""Two incarnations of one 4-tuple: what TIME-WAIT protects (RFC 9293 §3.4.2, §3.6.1).

An old segment of a connection can outlive it in the network (up to one MSL).
If a new connection between the same two sockets (a new *incarnation*)
starts before it has died, and the old segment's sequence number falls in
the new connection's receive window, the new connection takes it as its own
data. The clock-driven ISN (RFC 9293 §3.4.1: it ticks 250,000 times a
second) keeps a new incarnation's sequence numbers above the old ones only
while the old connection sends more slowly than that clock; on any fast link
it sends faster. TIME-WAIT closes the gap: the side that closed first keeps
the 4-tuple for 2 MSL, so no new incarnation can start before every old
segment is gone.

The scenario runs the same story twice: once with TIME-WAIT skipped (MSL 0
on the client: the bug), once with it (MSL from the options).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..connection import Connection
from ..drivers.sim import Network, PacketInfo
from ..errors import AddressInUse
from ..events import Connected, DataReceived, Event, PeerClosed
from ..isn import TICKS_PER_SECOND
from ..seq import SEQ_MOD
from ..state import State
from ..tools.i18n import Text
from .base import (
    PORT,
    SERVER_ADDR,
    Scenario,
    ScenarioOptions,
    ScenarioResult,
    can_send,
    register,
    two_hosts,
)

OLD_DATA = b"old " * 14_000
"""What the first incarnation sends: 56,000 bytes, more than the ISN clock advances
between the incarnations."""
NEW_DATA = b"NEW " * 750
"""What the second incarnation sends: 3,000 bytes."""

REOPEN_AFTER = 0.2
"""Seconds between the first incarnation's connect() and the second's."""
ISN_ADVANCE = int(REOPEN_AFTER * TICKS_PER_SECOND)
"""How far the ISN clock moves between the two connect() calls: 50,000."""
HELD_OFFSET = ISN_ADVANCE + 500
"""The byte (stream offset of the first incarnation) whose segment the network
holds back: it lands 500 bytes into the second incarnation's stream."""
HOLD = 0.2
"""Seconds the network holds that segment back (its original copy; TCP
retransmits it and the first incarnation completes)."""
THINK = 0.2
"""Seconds the second incarnation's client waits after connecting before it writes."""
RETRY_EVERY = 30.0
"""Seconds between connect() attempts while the 4-tuple is taken."""

NO_TIME_WAIT_AT, NO_TIME_WAIT_PORT = 0.0, 40000
WITH_TIME_WAIT_AT, WITH_TIME_WAIT_PORT = 1.0, 40001


@dataclass
class Streams:
    """The server's application: reads every connection to its end and closes;
    keeps what each connection delivered.

    Attributes:
        streams: per connection, in the order they opened: (connection, bytes read).
    """

    streams: list[tuple[Connection, bytearray]] = field(default_factory=list)

    def on_event(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            self.streams.append((conn, bytearray()))
        if isinstance(event, DataReceived | PeerClosed):
            for c, data in self.streams:
                if c is conn:
                    data += conn.read()
            if conn.at_eof and conn.state is State.CLOSE_WAIT:
                conn.close()

    def incarnations(self, port: int) -> list[bytes]:
        """What each connection from client ``port`` delivered, in order."""
        return [bytes(d) for c, d in self.streams if c.remote.port == port]


class Incarnations:
    """The client side of one story on one port: the first incarnation sends
    :data:`OLD_DATA` and closes; ``REOPEN_AFTER`` seconds after it started, a
    second incarnation is opened from the same port (retrying while the
    4-tuple is taken), waits ``THINK`` seconds, sends :data:`NEW_DATA` and closes.

    Attributes:
        failed: times of connect() attempts refused with "address in use".
        opened: connect() times of the incarnations.
    """

    def __init__(self, net: Network, client: str, port: int, start: float,
                 opts: ScenarioOptions, msl: float) -> None:
        self.net = net
        self.client = client
        self.port = port
        self.opts = opts
        self.msl = msl
        self.iss: list[int] = []
        self.conns: list[Connection] = []
        self.failed: list[float] = []
        self.opened: list[float] = []
        net.at(start, self.connect)
        net.at(start + REOPEN_AFTER, self.connect)
        net.delay_first(self.is_held, HOLD)

    def connect(self) -> None:
        """Open the next incarnation, or try again later while the 4-tuple is taken."""
        host = self.net.hosts[self.client]
        try:
            conn = host.stack.connect(SERVER_ADDR, PORT, now=self.net.now, local_port=self.port,
                                      config=self.opts.config(timestamps=False, msl=self.msl))
        except AddressInUse:
            self.failed.append(self.net.now)
            self.net.at(self.net.now + RETRY_EVERY, self.connect)
            return
        self.opened.append(self.net.now)
        self.iss.append(conn.iss)
        self.conns.append(conn)

    def is_held(self, p: PacketInfo) -> bool:
        """The first incarnation's segment that carries byte :data:`HELD_OFFSET`."""
        seg = p.segment
        if p.src != self.client or seg.src_port != self.port or not seg.payload or not self.iss:
            return False
        offset = (seg.seq - self.iss[0] - 1) % SEQ_MOD
        return offset <= HELD_OFFSET < offset + len(seg.payload)

    def on_event(self, conn: Connection, event: Event) -> None:
        if not isinstance(event, Connected) or not can_send(conn):
            return
        if conn is self.conns[0]:
            conn.send(OLD_DATA)
            conn.close()
        else:
            self.net.at(self.net.now + THINK, lambda: self.write_new(conn))

    @staticmethod
    def write_new(conn: Connection) -> None:
        if can_send(conn):
            conn.send(NEW_DATA)
            conn.close()


class Client:
    """The client host's application: each connection goes to the story of its port."""

    def __init__(self, stories: list[Incarnations]) -> None:
        self.stories = {s.port: s for s in stories}

    def on_event(self, conn: Connection, event: Event) -> None:
        story = self.stories.get(conn.local.port)
        if story is not None:
            story.on_event(conn, event)


def time_wait_old_duplicate(opts: ScenarioOptions) -> ScenarioResult:
    # Timestamps off: PAWS (RFC 7323), a separate guard, stays out of the picture.
    net, client, server = two_hosts(opts, timestamps=False)
    without = Incarnations(net, client, NO_TIME_WAIT_PORT, NO_TIME_WAIT_AT, opts, msl=0.0)
    with_tw = Incarnations(net, client, WITH_TIME_WAIT_PORT, WITH_TIME_WAIT_AT, opts,
                           msl=opts.msl)
    net.hosts[client].app = Client([without, with_tw])
    app = Streams()
    net.hosts[server].app = app
    net.hosts[server].stack.listen(PORT)
    net.run()
    result = ScenarioResult("time-wait-old-duplicate", net, client, server)
    result.notes += [_verdict(app, without, time_wait=False),
                     _verdict(app, with_tw, time_wait=True)]
    return result


def _verdict(app: Streams, story: Incarnations, *, time_wait: bool) -> Text:
    """What the server's application read from the second incarnation, in words."""
    port = story.port
    how = (Text(f"With TIME-WAIT (port {port}):", f"有 TIME-WAIT（端口 {port}）：")
           if time_wait else
           Text(f"TIME-WAIT skipped (port {port}):", f"跳过 TIME-WAIT（端口 {port}）："))
    if story.failed:
        n = len(story.failed)
        how = Text(f"{how.en} connect() from the same port failed {n} time(s) with \"address "
                   f"in use\" while the old connection was in TIME-WAIT;",
                   f"{how.zh}旧连接处于 TIME-WAIT 期间，从同一端口 connect() 失败了 {n} 次"
                   f"（地址已被占用）；")
    streams = app.incarnations(port)
    if len(streams) < 2:
        return Text(f"{how.en} the second connection delivered no data.",
                    f"{how.zh}第二条连接没有收到任何数据。")
    got = streams[1]
    if got == NEW_DATA:
        return Text(
            f"{how.en} the new connection opened at {story.opened[-1]:.1f} s and the server "
            f"read exactly the {len(NEW_DATA)} bytes the client wrote.",
            f"{how.zh}新连接在第 {story.opened[-1]:.1f} 秒建立，"
            f"服务器读到的正是客户端写入的 {len(NEW_DATA)} 字节。")
    stale = 4 * sum(1 for i in range(0, len(got) - 3, 4) if got[i:i + 4] == b"old ")
    return Text(
        f"{how.en} the server read {len(got)} bytes on the new connection, {stale} of them "
        f"\"old \" from the previous incarnation: its data is corrupted, and no checksum can "
        f"tell.",
        f"{how.zh}服务器在新连接上读到 {len(got)} 字节，其中 {stale} 字节是上一个连接的 "
        f"\"old \"：数据被破坏了，而且任何校验和都发现不了。")


register(Scenario(
    "time-wait-old-duplicate",
    Text("without TIME-WAIT a delayed segment of the old connection corrupts the next one on "
         "the same 4-tuple; with 2 MSL it cannot",
         "没有 TIME-WAIT 时，旧连接的延迟报文段会混进同一四元组上的新连接，破坏数据；"
         "等满 2MSL 就不会"),
    Text("What would go wrong without TIME-WAIT?",
         "如果没有 TIME-WAIT，会出什么问题？"),
    Text(
        f"A segment can linger in the network for up to one MSL. The client sends "
        f"{len(OLD_DATA):,} bytes on a fast link; the network holds one segment back (TCP "
        f"retransmits it and the connection closes normally). First with TIME-WAIT "
        f"skipped: {REOPEN_AFTER} s after the first connect() the client opens a new "
        f"connection from the same port to the same server: the same 4-tuple. The ISN "
        f"clock moved only {ISN_ADVANCE:,} in that time (250,000 per second), less than the "
        f"old connection sent, so the new sequence space overlaps the old. The old "
        f"segment arrives, lies in the new receive window, and the server takes it as new "
        f"data: the application reads \"old old\" where the client wrote \"NEW NEW\". Then "
        f"with TIME-WAIT: the client's 4-tuple stays taken for 2 MSL, connect() from that "
        f"port fails with \"address in use\", the old segment finds no connection, and the "
        f"new connection opens only after 2 MSL, when no old segment can be left.",
        f"一个报文段最多可以在网络中滞留一个 MSL（最大报文段生存时间）。客户端在一条快速链路上"
        f"发送 {len(OLD_DATA)} 字节，网络把其中一个报文段扣住了（TCP 重传了它，连接照常关闭）。"
        f"先看跳过 TIME-WAIT 的情况：第一次 connect() 之后 {REOPEN_AFTER} 秒，"
        f"客户端从同一个端口向同一个服务器再建一条连接，四元组完全相同。"
        f"这段时间里 ISN 时钟只前进了 {ISN_ADVANCE}（它每 4 微秒加 1，每秒 250000），"
        f"比旧连接发出的字节数还少，"
        f"所以新连接的序列号空间和旧连接重叠了。旧报文段这时才到达，正好落在新连接的接收窗口里，"
        f"服务器把它当成新数据收下：应用读到的是 \"old old\"，而客户端写的是 \"NEW NEW\"。"
        f"再看有 TIME-WAIT 的情况：客户端的这个四元组在 2MSL 内一直被占用，"
        f"从该端口 connect() 会失败（地址已被占用），旧报文段到达时找不到连接，"
        f"新连接要等 2MSL 之后才能建立，那时旧报文段早已消失。",
    ),
    time_wait_old_duplicate,
    {"client": ("CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED",
                "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT", "CLOSED") * 2,
     "server": ("LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED",
                "LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK",
                "CLOSED") * 2},
))
