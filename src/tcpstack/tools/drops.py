"""What each ``segment_dropped`` reason means, in words a learner reads (English and Chinese).

A segment can meet three fates (see :mod:`tcpstack.tools._model`): lost in
the network, delivered and dropped by TCP, or delivered and processed. This
module says which reasons are network losses (:data:`NETWORK_REASONS`), and
for the drops by TCP what TCP did, as a :class:`Drop`:

- *routine* drops are TCP working as the RFCs say: a retransmitted FIN in
  TIME-WAIT is re-ACKed (RFC 9293 §3.10.7.4), a duplicate outside the window
  is re-ACKed, an RST that is in the window but not exact draws a challenge
  ACK (RFC 5961 §3.2). The segment was answered, not lost; drawings show
  these in the colour of normal processing.
- the other drops discard something broken, stale or unexpected (a bad
  checksum, an ACK for data never sent, a segment for a closed connection).

The reason names are those of docs/trace.md ("segment_dropped"); an
unknown reason is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpstack.tools.i18n import Text

__all__ = ["NETWORK_REASONS", "Drop", "describe_drop", "is_network_loss"]

NETWORK_REASONS = frozenset(
    {
        "lost-in-network",
        "link-down",
        "queue-overflow",
        "burst-loss",
        "no-route",
        "scripted-drop",
        "fault-loss",
    }
)
"""Reasons recorded when the network (simulator links, the TUN fault injector) lost a packet."""


@dataclass(frozen=True)
class Drop:
    """What TCP did with a segment it dropped.

    Attributes:
        reason: the trace's reason name (``retransmitted-fin``).
        words: what happened, in both languages.
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


def is_network_loss(reason: str) -> bool:
    """True when ``reason`` is a loss in the network (the segment never arrived)."""
    return reason in NETWORK_REASONS


def describe_drop(reason: str) -> Drop:
    """What TCP did with a segment dropped for ``reason`` (any string; never raises).

    A reason this module does not know reads ``discarded: REASON``.
    """
    known = _DROPS.get(reason)
    if known is not None:
        return known
    shown = reason.strip() or "?"
    return Drop(reason, Text(f"discarded: {shown}", f"丢弃：{shown}"), False)
