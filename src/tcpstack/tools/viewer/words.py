"""The viewer's words in English and Simplified Chinese.

Three catalogs of :class:`~tcpstack.tools.i18n.Text`:

* :data:`UI`: the labels of the page (buttons, panel titles, TCB fields),
  embedded in the page as JSON and looked up by key by its script;
* :data:`CAPTIONS`: one template per kind of step ("client sends ..."),
  filled in by :mod:`tcpstack.tools.viewer.document` with ``{host}``,
  ``{seg}`` and the like;
* :data:`CAUSES`, :data:`TIMERS`, :data:`FATES`: the trace's
  codes (``state_updated`` causes, timer names, segment fates, drop reasons)
  in words a learner reads.

The Chinese is written for learners and uses the field's standard terms
(序列号, 确认号, 重传, 拥塞窗口, 慢启动阈值, 接收窗口, 保活, 最大报文段生存时间 MSL);
state names keep their RFC spelling (TIME-WAIT, CLOSE-WAIT), as textbooks
print them.
"""

from __future__ import annotations

from tcpstack.tools.i18n import Text

__all__ = ["CAPTIONS", "CAUSES", "FATES", "TIMERS", "UI", "catalog"]

T = Text

UI: dict[str, Text] = {
    "title": T("TCP connection viewer", "TCP 连接查看器"),
    "language": T("Language", "语言"),
    "scenario": T("Scenario", "场景"),
    "connection": T("Connection", "连接"),
    "run": T("Run", "运行"),
    "running": T("Running…", "正在运行…"),
    "faults": T("What if… (faults on the link)", "如果……（在链路上注入故障）"),
    "seed": T("Seed", "随机种子"),
    "loss": T("Loss (0–1)", "丢包率（0–1）"),
    "delay": T("Delay (s)", "单向时延（秒）"),
    "jitter": T("Jitter (s)", "抖动（秒）"),
    "reorder": T("Reorder (0–1)", "乱序概率（0–1）"),
    "duplicate": T("Duplicate (0–1)", "重复概率（0–1）"),
    "msl": T("MSL (s)", "MSL（秒）"),
    "drop": T("Drop packet no.", "丢弃第几个分组"),
    "drop_hint": T(
        "numbers of the packets to drop, counted over the whole network: 3, 7",
        "要丢弃的分组序号，按整个网络的发送顺序计数，例如：3, 7",
    ),
    "drop_final_ack": T("Drop the final ACK", "丢弃最后一个 ACK"),
    "error": T("Error", "错误"),
    "first": T("|◀ Start", "|◀ 开头"),
    "prev": T("◀ Back", "◀ 上一步"),
    "next": T("Next ▶", "下一步 ▶"),
    "last": T("End ▶|", "结尾 ▶|"),
    "prev_segment": T("◀◀ Segment", "◀◀ 上个报文段"),
    "next_segment": T("Segment ▶▶", "下个报文段 ▶▶"),
    "keys": T(
        "keys: ← → step, Shift+← → segment, Home/End",
        "快捷键：← → 单步，Shift+← → 跳到报文段，Home/End 首尾",
    ),
    "step": T("Step", "步骤"),
    "time": T("time", "时间"),
    "seconds": T("s", "秒"),
    "absolute": T("absolute sequence numbers", "显示绝对序列号"),
    "ladder": T("Ladder diagram", "时序图"),
    "tcb": T("TCB", "传输控制块 TCB"),
    "not_traced": T("not traced", "未被跟踪"),
    "no_connection": T("no connection yet", "尚未建立连接"),
    "state": T("State", "状态"),
    "SND.UNA": T("oldest unacknowledged sequence number", "最早的未确认序列号"),
    "SND.NXT": T("next sequence number to send", "下一个要发送的序列号"),
    "SND.WND": T("send window: what the peer advertised", "发送窗口：对端通告的窗口"),
    "RCV.NXT": T("next sequence number expected", "期望收到的下一个序列号"),
    "RCV.WND": T("receive window we advertised", "本端通告的接收窗口"),
    "cwnd": T("congestion window", "拥塞窗口"),
    "ssthresh": T("slow-start threshold", "慢启动阈值"),
    "srtt": T("smoothed round-trip time", "平滑往返时间"),
    "rto": T("retransmission timeout", "超时重传时间"),
    "unread": T("bytes delivered that the application has not read yet",
                "已经交付、但应用程序还没有读取的字节"),
    "unread_short": T("unread", "未读字节"),
    "bytes": T("bytes", "字节"),
    "timers": T("Running timers", "运行中的定时器"),
    "no_timers": T("none", "无"),
    "expires": T("expires at {at} s (in {left} s)", "{at} 秒到期（还剩 {left} 秒）"),
    "restarted": T("restarted: was {prev} s", "已重新计时：原定 {prev} 秒"),
    "segment": T("Segment (as Wireshark shows it)", "报文段（按 Wireshark 的方式显示）"),
    "no_segment": T("No segment yet.", "还没有报文段。"),
    "last_segment": T("the latest segment, from step {n}", "最近的报文段，来自第 {n} 步"),
    "retransmission": T("This frame is a (suspected) retransmission",
                        "这是一次（疑似）重传"),
    "state_diagram": T("State diagram (RFC 9293 Figure 5)", "状态转换图（RFC 9293 图 5）"),
    "path_taken": T("coloured arcs: the path each end took so far",
                    "彩色箭头：两端到目前为止走过的路径"),
    "explanation": T("Explanation", "讲解"),
    "question": T("Question", "问题"),
    "answer": T("Answer", "解答"),
    "this_step": T("This step", "这一步"),
    "rule": T("RFC rule", "RFC 规则"),
    "tsg": T("Time-sequence graph", "时间-序列号图"),
    "tsg_y": T("relative sequence number", "相对序列号"),
    "tsg_legend": T(
        "bars: data sent (red: retransmitted); line: ACKs; dashed: ACK + window",
        "竖条：发出的数据（红色为重传）；实线：确认号；虚线：确认号 + 窗口",
    ),
    "cwnd_plot": T("Congestion window", "拥塞窗口"),
    "cwnd_legend": T("solid: cwnd; dashed: ssthresh",
                     "实线：拥塞窗口 cwnd；虚线：慢启动阈值 ssthresh"),
    "mark_lost": T("✕ lost", "✕ 丢失"),
    "mark_fired": T("{timer} fired", "{timer} 到期"),
    "mark_restart": T("↯ restart", "↯ 重启"),
    "mark_2msl": T("↻ 2 MSL restarted", "↻ 2MSL 重新计时"),
    "direction": T("{src} → {dst}", "{src} → {dst}"),
    "no_data": T("This run carries no data.", "这次运行没有传输数据。"),
    "empty": T("Nothing happened in this run: the trace is empty.",
               "这次运行什么也没有发生：跟踪记录是空的。"),
    "pick": T("Pick a scenario and press Run.", "选择一个场景，然后点击“运行”。"),
    "summary_counts": T("{segments} segments, {steps} steps, {time} s of virtual time",
                        "{segments} 个报文段，{steps} 个步骤，虚拟时间 {time} 秒"),
}
"""Labels of the page, by key (the script looks them up in the chosen language)."""

CAPTIONS: dict[str, Text] = {
    "send": T("{host} sends {seg}", "{host} 发送 {seg}"),
    "send_retx": T("{host} retransmits {seg}", "{host} 重传 {seg}"),
    "arrive": T("{seg} arrives at {host}", "{seg} 到达 {host}"),
    "tcp_drop": T("{host}'s TCP discards {seg}: {reason}",
                  "{host} 的 TCP 丢弃了 {seg}：{reason}"),
    "lost": T("{seg} from {host} is lost in the network: {reason}",
              "{host} 发出的 {seg} 在网络中丢失：{reason}"),
    "host_drop": T("{host} drops a packet: {reason}", "{host} 丢弃了一个分组：{reason}"),
    "state": T("{host}: {old} → {new}, because {cause}", "{host}：{old} → {new}，因为{cause}"),
    "timer_fired": T("{host}: the {timer} expires", "{host}：{timer}到期"),
    "timer_set": T("{host}: the {timer} is set to expire at {at} s",
                   "{host}：{timer}设为 {at} 秒到期"),
    "timer_restarted": T("{host}: the {timer} is restarted: it now expires at {at} s, not {prev} s",
                         "{host}：{timer}重新计时：到期时间由 {prev} 秒改为 {at} 秒"),
    "timer_cancelled": T("{host}: the {timer} is stopped", "{host}：{timer}被停止"),
    "call": T("{host}: the application calls {call}", "{host}：应用程序调用 {call}"),
    "accept": T("{host}: accept() returns the new connection",
                "{host}：accept() 返回这条新连接"),
    "read": T("{host}: read() returns {n} bytes", "{host}：read() 返回 {n} 字节"),
    "read_eof": T("{host}: read() returns 0: end of stream, the peer sent its FIN",
                  "{host}：read() 返回 0：数据流结束，对端发来了 FIN"),
    "restart": T("{host} crashes and restarts: it forgets every connection",
                 "{host} 崩溃并重启：它忘掉了所有连接"),
    "other": T("{host}: {event}", "{host}：{event}"),
}
"""One template per kind of step; fields in braces."""

CAUSES: dict[str, Text] = {
    "active OPEN": T("the application called connect() (active open)",
                     "应用程序调用了 connect()（主动打开）"),
    "passive OPEN": T("a passive open", "被动打开"),
    "SEND": T("send() in LISTEN opens actively", "在 LISTEN 中调用 send() 会主动打开"),
    "rcv SYN": T("a SYN arrived", "收到了 SYN"),
    "rcv SYN,ACK": T("a SYN,ACK acknowledging our SYN arrived", "收到了确认本端 SYN 的 SYN,ACK"),
    "rcv ACK of SYN": T("the ACK of our SYN arrived", "收到了对本端 SYN 的确认"),
    "rcv FIN": T("the peer's FIN arrived", "收到了对端的 FIN"),
    "rcv ACK of FIN": T("the ACK of our FIN arrived", "收到了对本端 FIN 的确认"),
    "rcv RST": T("an acceptable RST arrived", "收到了一个有效的 RST"),
    "CLOSE": T("the application called close() or shutdown()",
               "应用程序调用了 close() 或 shutdown()"),
    "FIN sent": T("our FIN left, after the data queued before it",
                  "排在数据后面的 FIN 发出去了"),
    "ABORT": T("the application called abort()", "应用程序调用了 abort()"),
    "CLOSE with unread data": T("close() was called with data still unread: RST, not FIN",
                                "调用 close() 时还有数据没读：发 RST 而不是 FIN"),
    "data after CLOSE": T("data arrived after the application closed: RST",
                          "应用程序关闭后又收到数据：回复 RST"),
    "retransmission timeout (R2)": T("retransmissions went on too long (R2)",
                                     "重传持续太久，超过了 R2"),
    "keep-alive timeout": T("the keep-alive probes went unanswered", "保活探测一直没有回应"),
    "FIN-WAIT-2 timeout": T("it waited too long in FIN-WAIT-2 for the peer's FIN",
                            "在 FIN-WAIT-2 等对端的 FIN 等得太久"),
    "2 MSL timeout": T("TIME-WAIT lasted its 2 MSL", "TIME-WAIT 已经等满 2MSL"),
    "new SYN reopens": T("a new SYN took over the 4-tuple", "新的 SYN 接管了这个四元组"),
    "rcv ACK with a valid SYN cookie": T("the ACK returned a valid SYN cookie",
                                         "ACK 带回了有效的 SYN cookie"),
    "SYN,ACK retries exceeded": T("the SYN,ACK was retransmitted too often: dropped silently",
                                  "SYN,ACK 重传次数用尽：静默丢弃"),
    "recycled for a new SYN": T("the SYN queue was full: its place went to a new SYN",
                                "SYN 队列已满：位置让给了新的 SYN"),
    "TIME-WAIT limit reached": T("too many TIME-WAIT connections: closed at once",
                                 "TIME-WAIT 连接太多：立即关闭"),
}
"""``state_updated`` causes (docs/trace.md) in words."""

TIMERS: dict[str, Text] = {
    "rto": T("retransmission timer (RTO)", "重传定时器（RTO）"),
    "tlp": T("tail-loss-probe timer", "尾部丢失探测定时器（TLP）"),
    "persist": T("persist timer", "坚持定时器"),
    "delayed_ack": T("delayed-ACK timer", "延迟确认定时器"),
    "keepalive": T("keep-alive timer", "保活定时器"),
    "time_wait": T("2 MSL timer (TIME-WAIT)", "2MSL 定时器（TIME-WAIT）"),
    "fin_wait_2": T("FIN-WAIT-2 timer", "FIN-WAIT-2 定时器"),
}
"""Timer names (docs/trace.md) in words."""

FATES: dict[str, Text] = {
    "processed": T("arrived and processed", "已到达并被处理"),
    "dropped": T("arrived, discarded by TCP", "已到达，但被 TCP 丢弃"),
    "lost": T("lost in the network", "在网络中丢失"),
    "unknown": T("fate unknown (not traced, or still in flight)",
                 "去向未知（对端未被跟踪，或仍在途中）"),
}
"""What became of a segment (``SegmentView.fate``)."""

"""Drop reasons (docs/trace.md) with a short explanation; others show their code."""


def catalog() -> dict[str, dict[str, str]]:
    """Every word the page's script looks up, as ``{key: {"en": ..., "zh": ...}}``:
    :data:`UI` by its keys, :data:`FATES`, :data:`TIMERS` and :data:`CAUSES`
    as ``fate_<fate>``, ``timer_<name>`` and ``cause_<cause>``."""
    out = {key: text.to_dict() for key, text in UI.items()}
    for prefix, table in (("fate_", FATES), ("timer_", TIMERS), ("cause_", CAUSES)):
        out.update({prefix + key: text.to_dict() for key, text in table.items()})
    return out
