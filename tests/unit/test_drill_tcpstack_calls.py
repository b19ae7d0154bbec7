"""The tcpstack target's newer calls, driven directly (the parser reads them on
another branch): recv/send families, ioctl, epoll, AF_INET6, TCP_INFO, TCP_MAXSEG."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

import pytest

from tcpstack.harness.drill.model import DrillError, Event, Script, Shell, Syscall, Timing
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    SackPermitted,
    Segment,
    WindowScale,
    decode_packet,
    encode_packet,
)

PEER_ISN = 1000


def call(target: TcpstackTarget, name: str, *args: str) -> tuple[int, str | None, dict[str, int]]:
    result = target.syscall(Syscall(name, args, None))
    return result.value, result.errno, dict(result.outputs)


@dataclass
class Peer:
    """The script's side of one connection, by hand."""

    target: TcpstackTarget
    local: str
    remote: str
    iss: int = 0  # the target's ISN, from its SYN-ACK

    def send(self, flags: Flags, seq: int = 1, ack: int = 1, data: int = 0, win: int = 500,
             options: tuple[object, ...] = ()) -> None:
        seg = Segment(40000, 8080, (PEER_ISN + seq) % 2**32, (self.iss + ack) % 2**32, flags,
                      win, options=options, payload=bytes(data))  # type: ignore[arg-type]
        self.target.inject(encode_packet(ip_address(self.remote), ip_address(self.local), seg))

    def sent(self) -> list[Segment]:
        out = []
        while (item := self.target.next_outbound(self.target.now())) is not None:
            out.append(decode_packet(item[1])[1])
        return out


def established(options: dict[str, str] | None = None, family: str = "AF_INET",
                peer_mss: int = 1000, shell: bool = False) -> tuple[TcpstackTarget, Peer]:
    target = TcpstackTarget()
    events = (Event(1, Timing("abs"), Shell("true")),) if shell else ()
    target.prepare(Script("t.pkt", events, options=options or {}))
    target.start()
    v6 = (options or {}).get("ip_version") == "ipv6"
    peer = Peer(target, "2001:db8::1" if v6 else "192.0.2.1",
                "2001:db8:1::2" if v6 else "198.51.100.2")
    assert call(target, "socket", family, "SOCK_STREAM", "IPPROTO_TCP")[0] == 3
    assert call(target, "bind", "3", "...", "...")[0] == 0
    assert call(target, "listen", "3", "1")[0] == 0
    peer.send(Flags.SYN, seq=0, ack=0, options=(Mss(peer_mss), SackPermitted(), Nop(),
                                                 WindowScale(7)))
    (syn_ack,) = peer.sent()
    peer.iss = syn_ack.seq
    target.wait_until(0.1)
    peer.send(Flags.ACK)
    assert call(target, "accept", "3", "...", "...")[0] == 4
    return target, peer


def test_recv_peek_then_read_and_vector_forms() -> None:
    target, peer = established()
    peer.send(Flags.ACK | Flags.PSH, data=3000)
    assert call(target, "ioctl", "4", "SIOCINQ", "[3000]") == (0, None, {"optval": 3000})
    assert call(target, "recv", "4", "...", "1000", "MSG_PEEK")[0] == 1000
    assert call(target, "ioctl", "4", "SIOCINQ", "[3000]")[2] == {"optval": 3000}
    assert call(target, "recv", "4", "...", "1000", "0")[0] == 1000
    assert call(target, "recvfrom", "4", "...", "500", "0", "...", "...")[0] == 500
    assert call(target, "readv", "4", "[{..., 200}, {..., 300}]", "2")[0] == 500
    msg = "{msg_name(...)=..., msg_iov(1)=[{..., 5000}], msg_flags=0}"
    assert call(target, "recvmsg", "4", msg, "0")[::2] == (1000, {"msg_flags": 0})
    assert call(target, "recv", "4", "...", "10", "MSG_DONTWAIT")[:2] == (-1, "EAGAIN")
    assert call(target, "recv", "4", "NULL", "10", "MSG_DONTWAIT")[:2] == (-1, "EAGAIN")


def test_send_family_queues_data_and_siocoutq_counts_it() -> None:
    target, peer = established()
    assert call(target, "write", "4", "...", "100")[0] == 100  # a small segment in flight
    assert call(target, "send", "4", "...", "1000", "0")[0] == 1000
    assert call(target, "sendto", "4", "...", "1000", "MSG_NOSIGNAL", "...", "...")[0] == 1000
    assert call(target, "writev", "4", "[{..., 500}, {..., 500}]", "2")[0] == 1000
    msg = "{msg_name(...)=..., msg_iov(2)=[{..., 100}, {..., 200}], msg_flags=0}"
    assert call(target, "sendmsg", "4", msg, "0")[0] == 300
    sent = peer.sent()
    # Nagle (Minshall's, as Linux) holds the small tail while the first small
    # segment is unacknowledged.
    assert sum(len(s.payload) for s in sent) == 3100
    assert call(target, "ioctl", "4", "SIOCOUTQ", "[0]")[2] == {"optval": 3400}
    assert call(target, "ioctl", "4", "SIOCOUTQNSD", "[0]")[2] == {"optval": 300}
    peer.send(Flags.ACK, ack=3101)
    assert call(target, "ioctl", "4", "SIOCOUTQ", "[0]")[2] == {"optval": 300}
    assert call(target, "ioctl", "4", "SIOCOUTQNSD", "[0]")[2] == {"optval": 0}
    assert call(target, "send", "4", "NULL", "10", "0")[:2] == (-1, "EFAULT")
    assert call(target, "ioctl", "3", "SIOCINQ", "[0]")[:2] == (-1, "EINVAL")


@pytest.mark.parametrize(("flags", "what"), [("MSG_FASTOPEN", "TCP Fast Open")])
def test_unsupported_send_flags_say_so(flags: str, what: str) -> None:
    target, _ = established()
    with pytest.raises(DrillError, match=f"unsupported: {what}"):
        call(target, "sendto", "4", "...", "10", flags, "...", "...")


def test_epoll_level_and_edge_triggered() -> None:
    target, peer = established()
    assert call(target, "epoll_create", "1") == (5, None, {})
    assert call(target, "epoll_ctl", "5", "EPOLL_CTL_ADD", "4", "{events=EPOLLIN, fd=4}")[0] == 0
    assert call(target, "epoll_ctl", "5", "EPOLL_CTL_ADD", "4",
                "{events=EPOLLIN, fd=4}")[:2] == (-1, "EEXIST")
    assert call(target, "epoll_wait", "5", "{events=0, ptr=0}", "1", "0")[0] == 0
    peer.send(Flags.ACK | Flags.PSH, data=100)
    assert call(target, "epoll_wait", "5", "{events=EPOLLIN, fd=4}", "1", "0") == (
        1, None, {"events[0]": 1, "data[0]": 4})
    assert call(target, "epoll_wait", "5", "{events=EPOLLIN, fd=4}", "1", "0")[0] == 1
    assert call(target, "epoll_ctl", "5", "EPOLL_CTL_MOD", "4",
                "{events=EPOLLIN|EPOLLOUT|EPOLLET, fd=4}")[0] == 0
    assert call(target, "epoll_wait", "5", "{events=EPOLLIN|EPOLLOUT, fd=4}", "1", "0")[2] == {
        "events[0]": 5, "data[0]": 4}
    assert call(target, "epoll_wait", "5", "{events=0, ptr=0}", "1", "0")[0] == 0  # no new edge
    assert call(target, "epoll_ctl", "5", "EPOLL_CTL_DEL", "4", "NULL")[0] == 0
    assert call(target, "epoll_ctl", "5", "EPOLL_CTL_DEL", "4", "NULL")[:2] == (-1, "ENOENT")
    assert call(target, "close", "5")[0] == 0


def test_epoll_wait_blocks_until_data_or_timeout() -> None:
    target, peer = established()
    call(target, "epoll_create1", "0")
    call(target, "epoll_ctl", "5", "EPOLL_CTL_ADD", "4", "{events=EPOLLIN, fd=4}")
    start = target.now()
    assert call(target, "epoll_wait", "5", "{events=0, ptr=0}", "1", "250")[0] == 0
    assert target.now() == pytest.approx(start + 0.25)
    pending = target.start_syscall(Syscall("epoll_wait", ("5", "...", "1", "-1"), 1))
    assert pending.result() is None
    peer.send(Flags.ACK | Flags.PSH, data=10)
    done = pending.result()
    assert done is not None and done.value == 1


def test_ipv6_listener_answers_from_the_documentation_prefix() -> None:
    target, peer = established({"ip_version": "ipv6"}, family="AF_INET6", peer_mss=1400)
    assert target.stack.address == ip_address("2001:db8::1")
    assert call(target, "write", "4", "...", "1000")[0] == 1000
    (data,) = peer.sent()
    assert len(data.payload) == 1000
    info = target.tcp_info(4)
    assert info["tcpi_state"] == 1
    assert info["tcpi_advmss"] == 1440  # 1500 - 40 - 20 for the IPv6 header
    assert info["tcpi_snd_mss"] == 1400


def test_ipv4_mapped_ipv6_sockets_carry_ipv4() -> None:
    target, _ = established({"ip_version": "ipv4-mapped-ipv6"}, family="AF_INET6")
    assert target.stack.address == ip_address("192.0.2.1")
    assert target.tcp_info(4)["tcpi_state"] == 1


def test_tcp_info_fields_and_getsockopt() -> None:
    target, peer = established()
    info = target.tcp_info(4)
    assert info["tcpi_state"] == 1
    assert info["tcpi_snd_mss"] == 1000
    assert info["tcpi_snd_cwnd"] == 10  # Linux's initial window, in segments
    assert info["tcpi_snd_ssthresh"] == 0x7FFFFFFF
    assert info["tcpi_options"] == 2 | 4  # SACK, window scaling
    assert (info["tcpi_snd_wscale"], info["tcpi_rcv_wscale"]) == (7, 0)
    assert info["tcpi_rtt"] == 100_000  # the SYN-ACK's round trip: 100 ms
    assert call(target, "write", "4", "...", "3000")[0] == 3000
    peer.sent()
    info = target.tcp_info(4)
    assert (info["tcpi_unacked"], info["tcpi_segs_out"], info["tcpi_data_segs_out"]) == (3, 4, 3)
    assert info["tcpi_bytes_sent"] == 3000
    target.wait_until(target.now() + 1.0)  # RTO: the first segment again
    peer.sent()
    info = target.tcp_info(4)
    assert info["tcpi_total_retrans"] >= 1
    assert info["tcpi_ca_state"] == 4  # TCP_CA_Loss
    assert info["tcpi_retransmits"] == info["tcpi_backoff"] >= 1
    outputs = call(target, "getsockopt", "4", "SOL_TCP", "TCP_INFO", "...", "...")[2]
    assert outputs["tcpi_state"] == 1
    assert target.tcp_info(3)["tcpi_state"] == 10  # the listener
    with pytest.raises(DrillError):
        target.tcp_info(9)


def test_tcp_maxseg_on_a_listener() -> None:
    target = TcpstackTarget()
    target.prepare(Script("t.pkt", ()))
    call(target, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP")
    call(target, "bind", "3", "...", "...")
    call(target, "listen", "3", "1")
    assert call(target, "setsockopt", "3", "SOL_TCP", "TCP_MAXSEG", "[1100]", "4")[0] == 0
    assert call(target, "getsockopt", "3", "SOL_TCP", "TCP_MAXSEG", "[1100]", "[4]")[2] == {
        "optval": 1100}
    assert call(target, "setsockopt", "3", "SOL_TCP", "TCP_MAXSEG", "[10]", "4")[1] == "EINVAL"
    peer = Peer(target, "192.0.2.1", "198.51.100.2")
    peer.send(Flags.SYN, seq=0, ack=0, options=(Mss(1300),))
    (syn_ack,) = peer.sent()
    assert syn_ack.mss == 1100
    peer.iss = syn_ack.seq
    peer.send(Flags.ACK)
    assert call(target, "accept", "3", "...", "...")[0] == 4
    assert call(target, "getsockopt", "4", "SOL_TCP", "TCP_MAXSEG", "[0]", "[4]")[2] == {
        "optval": 1100}
    assert target.tcp_info(4)["tcpi_advmss"] == 1100


def test_gro_mss_splits_a_large_inbound_packet() -> None:
    target, peer = established({"mss": "1000"})
    peer.send(Flags.ACK, data=10000)
    assert target.tcp_info(4)["tcpi_segs_in"] == 2 + 10  # SYN, ACK, ten segments
    (ack,) = peer.sent()
    assert ack.ack == (PEER_ISN + 10001) % 2**32


def test_quick_acks_for_packetdrill_scripts_until_the_exchange_is_interactive() -> None:
    target, peer = established(shell=True)
    peer.send(Flags.ACK | Flags.PSH, data=100)
    (ack,) = peer.sent()  # at once: Linux's quick-ACK mode
    assert ack.ack == (PEER_ISN + 101) % 2**32
    assert call(target, "write", "4", "...", "100")[0] == 100  # a reply within 40 ms
    peer.sent()
    peer.send(Flags.ACK | Flags.PSH, seq=101, ack=101, data=100)
    assert peer.sent() == []  # interactive: the ACK waits (pingpong)
    target.wait_until(target.now() + 0.04)
    (ack,) = peer.sent()
    assert ack.ack == (PEER_ISN + 201) % 2**32


def test_drill_scripts_keep_delayed_acks() -> None:
    target, peer = established()
    peer.send(Flags.ACK | Flags.PSH, data=100)
    assert peer.sent() == []
    target.wait_until(target.now() + 0.04)
    assert len(peer.sent()) == 1


def test_tcp_cork_and_msg_more_hold_a_partial_segment() -> None:
    target, peer = established()
    assert call(target, "setsockopt", "4", "SOL_TCP", "TCP_CORK", "[1]", "4")[0] == 0
    assert call(target, "write", "4", "...", "40")[0] == 40
    target.wait_until(target.now() + 0.05)
    assert call(target, "write", "4", "...", "40")[0] == 40
    assert peer.sent() == []
    assert call(target, "setsockopt", "4", "SOL_TCP", "TCP_CORK", "[0]", "4")[0] == 0
    (seg,) = peer.sent()
    assert len(seg.payload) == 80 and seg.flags & Flags.PSH
    peer.send(Flags.ACK, ack=81)
    # MSG_MORE corks one call; TCP_NODELAY pushes what it holds.
    assert call(target, "send", "4", "...", "40", "MSG_MORE")[0] == 40
    assert peer.sent() == []
    assert call(target, "setsockopt", "4", "SOL_TCP", "TCP_NODELAY", "[1]", "4")[0] == 0
    (seg,) = peer.sent()
    assert len(seg.payload) == 40
    peer.send(Flags.ACK, ack=121)
    # Held with nothing in flight, the data goes when the override timer fires.
    assert call(target, "send", "4", "...", "40", "MSG_MORE")[0] == 40
    start = target.now()
    assert peer.sent() == []
    item = target.next_outbound(start + 1.0)
    assert item is not None
    assert 0.1 <= item[0] - start <= 1.0
    assert len(decode_packet(item[1])[1].payload) == 40


def test_tcp_congestion_by_name() -> None:
    target = TcpstackTarget()
    target.prepare(Script("t.pkt", ()))
    call(target, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP")
    assert call(target, "setsockopt", "3", "SOL_TCP", "TCP_CONGESTION", '"reno"', "4")[0] == 0
    assert call(target, "setsockopt", "3", "SOL_TCP", "TCP_CONGESTION", '"westwood"',
                "4")[:2] == (-1, "ENOENT")
    call(target, "bind", "3", "...", "...")
    call(target, "listen", "3", "1")
    listener = target.stack.listener(8080)
    assert listener is not None and listener.config is not None
    assert listener.config.congestion_control == "reno"


def test_epoll_reports_the_data_given_to_epoll_ctl() -> None:
    target, _ = established()
    call(target, "epoll_create", "1")
    call(target, "epoll_ctl", "5", "EPOLL_CTL_ADD", "4", "{events=EPOLLOUT|EPOLLONESHOT, u64=77}")
    assert call(target, "epoll_wait", "5", "...", "4", "0") == (
        1, None, {"events[0]": 4, "data[0]": 77})
    assert call(target, "epoll_wait", "5", "...", "4", "0")[0] == 0  # one-shot: disarmed
    call(target, "epoll_ctl", "5", "EPOLL_CTL_MOD", "4", "{events=EPOLLOUT, u64=78}")
    assert call(target, "epoll_wait", "5", "...", "4", "0")[2] == {"events[0]": 4, "data[0]": 78}


def test_notsent_lowat_limits_pollout_and_write_null_is_efault() -> None:
    target, _ = established()
    assert call(target, "setsockopt", "4", "SOL_TCP", "TCP_NOTSENT_LOWAT", "[500]", "4")[0] == 0
    assert call(target, "getsockopt", "4", "SOL_TCP", "TCP_NOTSENT_LOWAT", "[500]",
                "[4]")[2] == {"optval": 500}
    pollout = "[{fd=4, events=POLLOUT}]"
    assert call(target, "poll", pollout, "1", "0")[0] == 1
    assert call(target, "write", "4", "...", "20000")[0] == 20000  # beyond the window
    assert call(target, "poll", pollout, "1", "0")[0] == 0
    assert call(target, "write", "4", "NULL", "1000")[:2] == (-1, "EFAULT")


def test_packetdrill_scripts_get_linux_rto_from_the_first_sample() -> None:
    # "RTO = RTT + 200ms": Linux's tcp_set_rto bounds the variance term by rto_min.
    target, _ = established(shell=True)
    assert target.tcp_info(4)["tcpi_rto"] == 100_000 + 200_000
    plain, _ = established()
    assert plain.tcp_info(4)["tcpi_rto"] == 300_000  # RFC 6298: 100 ms + 4 * 50 ms
