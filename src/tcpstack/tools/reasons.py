"""Drop reasons in words, English and Simplified Chinese.

The trace names why a segment was lost or thrown away with a short code
(``segment_dropped``'s ``reason``, listed in docs/trace.md); the pictures
that travel (Mermaid notes, pcapng comments) say it in words a learner
reads. :func:`drop_reason_text` gives the words of a code; a code it does
not know (a scenario's own scripted fault) is shown as it is.

Each text says what happened, and for the TCP drops what the receiver did
about it, with the rule in brackets: RFC 9293 §3.10.7 (SEGMENT ARRIVES),
RFC 5961 (challenge ACKs), RFC 7323 (timestamps, PAWS), RFC 1337.

The ladder needs fewer words on an arrow: :func:`describe_drop` gives a
short label and says whether the drop is *routine* -- TCP working as the
RFCs say (a retransmitted FIN in TIME-WAIT is re-ACKed, RFC 9293
§3.10.7.4; an RST in the window but not exact draws a challenge ACK, RFC
5961 §3.2): the segment was answered, not lost, and drawings show it in the
colour of normal processing. The other drops discard something broken,
stale or unexpected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tcpstack.tools.i18n import Text

__all__ = [
    "DROP_REASONS",
    "NETWORK_LOSSES",
    "Drop",
    "describe_drop",
    "drop_reason_text",
    "is_network_loss",
    "is_network_reason",
]

#: Reasons of the simulated network and of the TUN fault injector: the packet never arrived.
NETWORK_LOSSES = frozenset(
    {"link-down", "queue-overflow", "red-drop", "codel-drop", "burst-loss", "lost-in-network",
     "no-route", "scripted-drop", "fault-loss", "local-congestion"}
)

DROP_REASONS: dict[str, Text] = {
    # -- the network (the packet never arrives) --
    "lost-in-network": Text("lost in the network (random loss)", "在网络中丢失（随机丢包）"),
    "burst-loss": Text("lost in a burst of losses", "在一串连续丢包中丢失"),
    "link-down": Text("lost: the link was down", "丢失：链路中断"),
    "queue-overflow": Text("lost: the bottleneck queue was full (drop-tail)",
                           "丢失：瓶颈队列已满（尾部丢弃）"),
    "red-drop": Text("lost: dropped early by the bottleneck's RED queue (congestion signal)",
                     "丢失：瓶颈的 RED 队列提前丢弃（拥塞信号）"),
    "codel-drop": Text("lost: dropped by the bottleneck's CoDel queue (it waited too long)",
                       "丢失：瓶颈的 CoDel 队列将其丢弃（排队时间过长）"),
    "no-route": Text("lost: no route to the destination", "丢失：没有到目的地址的路由"),
    "scripted-drop": Text("lost: dropped on purpose by the scenario",
                          "丢失：场景有意丢弃了这个报文段"),
    "fault-loss": Text("lost: dropped on purpose by the fault injector",
                       "丢失：故障注入器有意丢弃"),
    "local-congestion": Text("lost: our own device refused it (its transmit queue is full)",
                             "丢失：本机网卡拒绝发送（发送队列已满）"),
    # -- the wire format (the packet is malformed) --
    "truncated-ip": Text("malformed: shorter than an IP header", "格式错误：比 IP 首部还短"),
    "bad-ip-version": Text("malformed: neither IPv4 nor IPv6", "格式错误：既不是 IPv4 也不是 IPv6"),
    "bad-ihl": Text("malformed: impossible IPv4 header length", "格式错误：IPv4 首部长度不合理"),
    "bad-ip-length": Text("malformed: impossible IP total length", "格式错误：IP 总长度不合理"),
    "bad-ip-checksum": Text("corrupted: the IPv4 header checksum is wrong",
                            "已损坏：IPv4 首部校验和错误"),
    "ip-fragment": Text("an IP fragment (not reassembled here)", "IP 分片（这里不做重组）"),
    "ipv6-extension": Text("an IPv6 extension header (not supported)",
                           "带 IPv6 扩展首部（不支持）"),
    "not-tcp": Text("not a TCP packet", "不是 TCP 报文"),
    "truncated-tcp": Text("malformed: shorter than a TCP header", "格式错误：比 TCP 首部还短"),
    "bad-option-length": Text("malformed: a TCP option's length is impossible",
                              "格式错误：TCP 选项长度不合理"),
    "bad-checksum": Text("corrupted: the TCP checksum is wrong", "已损坏：TCP 校验和错误"),
    # -- the host, before any connection (RFC 9293 §3.10.7.1-2) --
    "not-our-address": Text("not addressed to this host", "目的地址不是本主机"),
    "invalid-address": Text("from or to a broadcast/multicast address or port 0 (MUST-57)",
                            "来自或发往广播/组播地址或 0 号端口（MUST-57）"),
    "rst-to-closed-port": Text("a RST for a closed port: ignored (§3.10.7.1)",
                               "发往关闭端口的 RST：忽略（§3.10.7.1）"),
    "rst-in-listen": Text("a RST to a listening socket: ignored (§3.10.7.2)",
                          "发往监听套接字的 RST：忽略（§3.10.7.2）"),
    "no-syn-in-listen": Text("no SYN, so a listener ignores it (§3.10.7.2)",
                             "没有 SYN 标志，监听端忽略它（§3.10.7.2）"),
    "ack-in-listen": Text("an ACK to a listener: answered with a RST (§3.10.7.2)",
                          "监听端收到 ACK：回复 RST（§3.10.7.2）"),
    "backlog-full": Text("the listen backlog is full: the SYN is ignored",
                         "监听队列（backlog）已满：忽略这个 SYN"),
    "bad-syncookie": Text("an ACK to a listener whose SYN cookie is not valid: answered "
                          "with a RST (§3.10.7.2)",
                          "发往监听端的 ACK 带的 SYN cookie 无效：回复 RST（§3.10.7.2）"),
    "syn-queue-full": Text("the SYN queue is full and SYN cookies are off: the SYN is ignored",
                           "SYN 队列已满且未启用 SYN cookie：忽略这个 SYN"),
    "max-connections": Text("the host holds as many connections as it may: the segment is "
                            "ignored", "主机的连接数已达上限：忽略这个报文段"),
    # -- a connection (RFC 9293 §3.10.7) --
    "connection-closed": Text("the connection is already CLOSED", "连接已经是 CLOSED 状态"),
    "bad-ack-in-syn-sent": Text("SYN-SENT: the ACK does not acknowledge our SYN; RST sent",
                                "SYN-SENT：确认号没有确认我们的 SYN，回复 RST"),
    "rst-without-ack-in-syn-sent": Text("SYN-SENT: a RST without ACK is ignored",
                                        "SYN-SENT：不带 ACK 的 RST 被忽略"),
    "no-syn-in-syn-sent": Text("SYN-SENT: neither SYN nor RST, ignored",
                               "SYN-SENT：既没有 SYN 也没有 RST，忽略"),
    "retransmitted-syn": Text("a retransmitted SYN: the SYN,ACK is sent again",
                              "重传的 SYN：再次发送 SYN,ACK"),
    "missing-timestamps": Text("no timestamp option although both agreed on it (RFC 7323)",
                               "双方协商了时间戳，这个报文段却没有带（RFC 7323）"),
    "paws": Text("an old duplicate: its timestamp is too old (PAWS, RFC 7323)",
                 "旧的重复报文段：时间戳太旧（PAWS，RFC 7323）"),
    "out-of-window": Text("outside the receive window: answered with an ACK",
                          "不在接收窗口内：回复一个 ACK"),
    "rst-out-of-window": Text("a RST outside the window: ignored (RFC 5961)",
                              "窗口外的 RST：忽略（RFC 5961）"),
    "retransmitted-fin": Text("a retransmitted FIN: TIME-WAIT ACKs it again and restarts 2 MSL",
                              "重传的 FIN：TIME-WAIT 再次确认它，并重新开始 2MSL 计时"),
    "rst-challenged": Text("a RST in the window but not exact: challenge ACK (RFC 5961)",
                           "RST 在窗口内但序列号不精确：回复挑战 ACK（RFC 5961）"),
    "syn-challenged": Text("a SYN on an open connection: challenge ACK (RFC 5961)",
                           "已建立的连接收到 SYN：回复挑战 ACK（RFC 5961）"),
    "syn-in-syn-received": Text("a SYN in SYN-RECEIVED: back to LISTEN",
                                "SYN-RECEIVED 收到 SYN：回到 LISTEN"),
    "no-ack": Text("the ACK flag is off: dropped (§3.10.7.4, fifth)",
                   "没有 ACK 标志：丢弃（§3.10.7.4 第五步）"),
    "bad-ack-in-syn-received": Text("SYN-RECEIVED: the ACK is unacceptable; RST sent",
                                    "SYN-RECEIVED：确认号不可接受，回复 RST"),
    "ack-above-snd-nxt": Text("acknowledges data never sent: answered with an ACK",
                              "确认了从未发送的数据：回复一个 ACK"),
    "ack-too-old": Text("acknowledges data far too old (RFC 5961 §5): answered with an ACK",
                        "确认号太旧（RFC 5961 §5）：回复一个 ACK"),
    "closing-no-fin-ack": Text("CLOSING: our FIN is not acknowledged yet",
                               "CLOSING：我们的 FIN 还没有被确认"),
    "rst-in-time-wait-rfc1337": Text("a RST in TIME-WAIT: ignored (RFC 1337)",
                                     "TIME-WAIT 收到 RST：忽略（RFC 1337）"),
    "time-wait-reopened": Text("a new SYN took over the TIME-WAIT connection",
                               "新的 SYN 接管了处于 TIME-WAIT 的连接"),
}


def drop_reason_text(reason: str) -> Text:
    """The words of a drop ``reason`` code; an unknown code is its own text.

    Args:
        reason: a ``segment_dropped`` reason (docs/trace.md).
    """
    known = DROP_REASONS.get(reason)
    if known is not None:
        return known
    shown = reason.strip() or "?"
    return Text(shown, shown)


def is_network_loss(data: Mapping[str, Any]) -> bool:
    """True when a ``segment_dropped`` record's ``data`` is a loss in the network, not a TCP drop.

    The simulator records its losses on the sending host with ``to`` (the
    receiving host's name); the TUN fault injector with ``direction``; a
    scenario's scripted fault may name its own reason.
    """
    reason = data.get("reason")
    return (
        (isinstance(reason, str) and reason in NETWORK_LOSSES)
        or isinstance(data.get("to"), str)
        or isinstance(data.get("direction"), str)
    )


def is_network_reason(reason: str) -> bool:
    """True when ``reason`` names a loss in the network (the segment never arrived)."""
    return reason in NETWORK_LOSSES


@dataclass(frozen=True)
class Drop:
    """What TCP did with a segment it dropped, in a few words for a drawing.

    Attributes:
        reason: the trace's reason name (``retransmitted-fin``).
        words: a short label, in both languages.
        routine: True when the drop is an ordinary, answered part of TCP
            (drawn like processing), False when something was discarded.
    """

    reason: str
    words: Text
    routine: bool


def _d(reason: str, en: str, zh: str, routine: bool = False) -> tuple[str, Drop]:
    return reason, Drop(reason, Text(en, zh), routine)


_DROPS: dict[str, Drop] = dict(
    [
        # Routine: the RFCs answer these segments; nothing is wrong.
        _d("retransmitted-fin", "retransmitted FIN: re-ACKed",
           "重传的 FIN：再次回复 ACK", True),
        _d("retransmitted-syn", "retransmitted SYN: SYN,ACK sent again",
           "重传的 SYN：再次回复 SYN,ACK", True),
        _d("time-wait-reopened", "new SYN in TIME-WAIT: a new connection takes over",
           "TIME-WAIT 中收到新的 SYN：由新连接接管这个四元组", True),
        _d("rst-challenged", "RST not at RCV.NXT: challenge ACK (RFC 5961)",
           "RST 的序列号不等于 RCV.NXT：回复挑战 ACK（RFC 5961）", True),
        _d("syn-challenged", "SYN on an open connection: challenge ACK (RFC 5961)",
           "已建立的连接收到 SYN：回复挑战 ACK（RFC 5961）", True),
        _d("out-of-window", "outside the receive window (duplicate or probe): re-ACKed",
           "不在接收窗口内（重复报文或探测报文）：再次回复 ACK", True),
        _d("paws", "old timestamp (PAWS): an old duplicate, re-ACKed",
           "时间戳过旧（PAWS）：判定为旧的重复报文，再次回复 ACK", True),
        _d("ack-too-old", "ACK older than the window: re-ACKed (RFC 5961)",
           "确认号早于窗口：再次回复 ACK（RFC 5961）", True),
        _d("rst-in-time-wait-rfc1337", "RST in TIME-WAIT: ignored (RFC 1337)",
           "TIME-WAIT 中收到 RST：忽略（RFC 1337）", True),
        _d("rst-out-of-window", "RST outside the window: ignored",
           "窗口外的 RST：忽略", True),
        _d("rst-in-listen", "RST to a listener: ignored", "监听端口收到 RST：忽略", True),
        _d("rst-to-closed-port", "RST to a closed port: ignored",
           "发往关闭端口的 RST：忽略", True),
        _d("rst-without-ack-in-syn-sent", "RST without ACK in SYN-SENT: ignored",
           "SYN-SENT 状态收到不带 ACK 的 RST：忽略", True),
        # Discarded: broken, stale or unexpected.
        _d("connection-closed", "the connection is closed: discarded",
           "连接已经关闭：丢弃"),
        _d("ack-in-listen", "ACK to a listener: answered with RST",
           "监听端口收到 ACK：回复 RST"),
        _d("no-syn-in-listen", "no SYN for a listener: discarded",
           "发往监听端口的报文没有 SYN：丢弃"),
        _d("bad-ack-in-syn-sent", "SYN-SENT: it acknowledges a SYN we did not send: RST",
           "SYN-SENT 状态：它确认的不是我们发出的 SYN，回复 RST"),
        _d("no-syn-in-syn-sent", "no SYN in SYN-SENT: discarded",
           "SYN-SENT 状态收到的报文没有 SYN：丢弃"),
        _d("missing-timestamps", "timestamps agreed but missing: discarded",
           "双方约定了时间戳，报文却没有带：丢弃"),
        _d("syn-in-syn-received", "SYN in SYN-RECEIVED: back to LISTEN",
           "SYN-RECEIVED 状态收到 SYN：回到 LISTEN"),
        _d("no-ack", "no ACK flag: discarded", "没有 ACK 标志：丢弃"),
        _d("bad-ack-in-syn-received", "bad ACK in SYN-RECEIVED: answered with RST",
           "SYN-RECEIVED 状态收到的确认号不对：回复 RST"),
        _d("ack-above-snd-nxt", "ACK of data never sent: discarded, ACK sent",
           "确认了还没发送的数据：丢弃并回复 ACK"),
        _d("closing-no-fin-ack", "CLOSING: the ACK does not cover our FIN: ignored",
           "CLOSING 状态：这个 ACK 没有确认我们的 FIN，忽略"),
        _d("not-our-address", "not addressed to this host: discarded",
           "目的地址不是本机：丢弃"),
        _d("invalid-address", "broadcast, multicast or port 0: discarded",
           "广播、组播地址或端口 0：丢弃"),
        _d("backlog-full", "listen queue full: SYN discarded",
           "监听队列已满：丢弃 SYN"),
        _d("bad-syncookie", "invalid SYN cookie: answered with RST",
           "SYN cookie 无效：回复 RST"),
        _d("syn-queue-full", "SYN queue full, no cookies: SYN discarded",
           "SYN 队列已满且不用 cookie：丢弃 SYN"),
        _d("max-connections", "connection limit reached: discarded",
           "连接数已达上限：丢弃"),
        _d("truncated-ip", "truncated IP header: discarded", "IP 首部不完整：丢弃"),
        _d("bad-ip-version", "unknown IP version: discarded", "IP 版本号不对：丢弃"),
        _d("bad-ihl", "bad IP header length: discarded", "IP 首部长度不对：丢弃"),
        _d("bad-ip-checksum", "bad IP checksum: discarded", "IP 校验和错误：丢弃"),
        _d("ipv6-extension", "IPv6 extension header: discarded", "IPv6 扩展首部：丢弃"),
        _d("not-tcp", "not TCP: discarded", "不是 TCP 报文：丢弃"),
        _d("truncated-tcp", "truncated TCP header: discarded", "TCP 首部不完整：丢弃"),
        _d("bad-option-length", "bad TCP option length: discarded", "TCP 选项长度不对：丢弃"),
        _d("bad-checksum", "bad TCP checksum: discarded", "TCP 校验和错误：丢弃"),
    ]
)



def describe_drop(reason: str) -> Drop:
    """The short label of a drop for ``reason`` (any string; never raises).

    A reason without a label reads ``discarded: REASON``.
    """
    known = _DROPS.get(reason)
    if known is not None:
        return known
    shown = reason.strip() or "?"
    return Drop(reason, Text(f"discarded: {shown}", f"丢弃：{shown}"), False)
