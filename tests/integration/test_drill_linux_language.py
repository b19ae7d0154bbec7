"""The Linux drill target and the whole packetdrill language: shell commands, TCP_INFO,
the other system calls, IPv6 and IPv4-mapped IPv6, offloads, blocked calls.

The target is driven directly (no runner, no parser): hand-built
:class:`~tcpstack.harness.drill.model.Syscall` objects and scripts, segments
built with :mod:`tcpstack.wire` from the peer. Each test has its own network
namespace (``lo`` and ``tun0``, no route out) and checks it is gone afterwards.
The pure parts (argument readers, struct tcp_info, the vnet header) are tested
without privileges.

Skipped (with the reason) without root, /dev/net/tun or ``ip``; with
``TCPSTACK_REQUIRE_TUN=1`` those conditions fail the tests instead.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from tun_helpers import netns_names, require_linux_target

from tcpstack.harness.drill.args import iovecs_arg, msghdr_arg
from tcpstack.harness.drill.model import DrillError, Event, Script, Shell, Syscall, Timing
from tcpstack.harness.drill.runner import DrillResult, Failure
from tcpstack.harness.drill.target import (
    LOCAL_ADDRESS,
    LOCAL_ADDRESS6,
    LOCAL_PORT,
    REMOTE_ADDRESS,
    REMOTE_ADDRESS6,
    SyscallResult,
)
from tcpstack.harness.drill.targets.linux import (
    LinuxTarget,
    build_request,
    run_with_timing_retry,
)
from tcpstack.harness.drill.targets.linux_agent import run_shell
from tcpstack.harness.drill.targets.linux_args import Endpoints
from tcpstack.harness.drill.targets.linux_diagnose import blocked_message, script_duration
from tcpstack.harness.drill.targets.linux_tcpinfo import decode_tcp_info
from tcpstack.harness.drill.targets.linux_vnet import (
    GSO_TCPV4,
    NEEDS_CSUM,
    VNET_HDR,
    inbound_header,
    split_outbound,
    with_tcp_checksum,
)
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    WindowScale,
    decode_packet,
    encode_packet,
)

PEER_PORT = 40000
PEER_ISN = 1_000_000
WAIT = 2.0  # seconds, upper bound of each wait for a packet
PACKETDRILL_DEFAULTS = Path("/work/suites/packetdrill/gtests/net/common/defaults.sh")




Factory = Callable[..., LinuxTarget]


@pytest.fixture
def make_target() -> Iterator[Factory]:
    """``make_target(options={...}, events=(...), **kwargs)``: a started target, prepared
    with a script of those options and events; closed (namespace checked gone) after."""
    require_linux_target()
    made: list[LinuxTarget] = []

    def factory(options: dict[str, str] | None = None, events: tuple[Event, ...] = (),
                **kwargs: object) -> LinuxTarget:
        t = LinuxTarget(max_block=5.0, max_wait=10.0, **kwargs)  # type: ignore[arg-type]
        made.append(t)
        t.prepare(Script(path=str(Path(__file__)), events=events, options=options or {}))
        t.start()
        return t

    try:
        yield factory
    finally:
        for t in made:
            name = t.netns
            t.close()
            assert name is None or name not in netns_names(), f"namespace {name} left behind"


def call(t: LinuxTarget, name: str, *args: str) -> SyscallResult:
    return t.syscall(Syscall(name, args, None))


def ok(result: SyscallResult, value: int = 0) -> SyscallResult:
    assert (result.value, result.errno) == (value, None), result
    return result


class Peer:
    """The script's peer on one target: IPv4 or IPv6 addresses."""

    def __init__(self, t: LinuxTarget, ipv6: bool = False) -> None:
        self.t = t
        self.me: IPv4Address | IPv6Address = ip_address(REMOTE_ADDRESS6 if ipv6 else REMOTE_ADDRESS)
        self.them: IPv4Address | IPv6Address = ip_address(LOCAL_ADDRESS6 if ipv6 else LOCAL_ADDRESS)

    def send(self, flags: Flags, seq: int, ack: int = 0, *, payload: bytes = b"",
             options: tuple[TcpOption, ...] = (), window: int = 1000) -> None:
        seg = Segment(src_port=PEER_PORT, dst_port=LOCAL_PORT, seq=seq % 2**32, ack=ack % 2**32,
                      flags=flags, window=window, options=options, payload=payload)
        self.t.inject(encode_packet(self.me, self.them, seg))

    def expect(self, what: str) -> Segment:
        got = self.t.next_outbound(self.t.now() + WAIT)
        assert got is not None, f"no {what} from the kernel within {WAIT} s"
        ip, seg = decode_packet(got[1])  # verifies the TCP checksum
        assert (str(ip.src), str(ip.dst)) == (str(self.them), str(self.me))
        return seg

    def handshake(self, window: int = 1000) -> int:
        """Passive open on fd 3 (listening) up to accept() = 4; the kernel's ISN."""
        self.send(Flags.SYN, PEER_ISN, options=(Mss(1460), SackPermitted(), Timestamps(100, 0),
                                                Nop(), WindowScale(7)))
        synack = self.expect("SYN-ACK")
        assert synack.flags == Flags.SYN | Flags.ACK and synack.ack == PEER_ISN + 1
        self.send(Flags.ACK, PEER_ISN + 1, synack.seq + 1, window=window,
                  options=(Nop(), Nop(), Timestamps(101, synack.timestamps.tsval
                                                    if synack.timestamps else 0)))
        ok(call(self.t, "accept", "3", "...", "..."), 4)
        return synack.seq


def listen(t: LinuxTarget) -> None:
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    ok(call(t, "setsockopt", "3", "SOL_SOCKET", "SO_REUSEADDR", "[1]", "4"))
    ok(call(t, "bind", "3", "...", "..."))
    ok(call(t, "listen", "3", "1"))


# -- pure parts (no privileges) -----------------------------------------------


def test_iovec_and_msghdr_readers() -> None:
    assert iovecs_arg("[{..., 1000}, {iov_base=..., iov_len=5}]") == (1000, 5)
    fields = msghdr_arg("{msg_name(...)=..., msg_iov(2)=[{..., 10}, {..., 20}], "
                        "msg_flags=MSG_EOR, msg_control=[]}")
    assert fields == {"msg_name": "...", "msg_iov": "[{..., 10}, {..., 20}]",
                      "msg_flags": "MSG_EOR", "msg_control": "[]"}
    with pytest.raises(ValueError):
        iovecs_arg("{..., 10}")


def test_requests_for_the_new_calls() -> None:
    req, kind = build_request(Syscall("ioctl", ("4", "SIOCINQ", "[1000]"), 0))
    assert (req["request"], kind) == (0x541B, "optval")
    req, kind = build_request(Syscall("sendmsg", ("4", "{msg_name(...)=..., msg_iov(1)="
                                      "[{..., 1000}], msg_flags=0}", "0"), 1000))
    assert (req["lengths"], req["flags"], kind) == ([1000], 0, None)
    req, _ = build_request(Syscall("epoll_ctl", ("5", "EPOLL_CTL_ADD", "4",
                                                 "{events=EPOLLOUT|EPOLLET, fd=4}"), 0))
    assert (req["events"], req["key"], req["data"]) == (0x4 | 1 << 31, "fd", 4)
    req, _ = build_request(Syscall("socket", ("...", "SOCK_STREAM", "IPPROTO_TCP"), 3),
                           Endpoints.from_options({"ip_version": "ipv6"}))
    assert req["family"] == socket.AF_INET6
    req, _ = build_request(Syscall("connect", ("3", "...", "..."), 0),
                           Endpoints.from_options({"connect_port": "443"}))
    assert (req["host"], req["host6"], req["port"]) == (REMOTE_ADDRESS, "::ffff:" + REMOTE_ADDRESS,
                                                        443)
    req, _ = build_request(Syscall("sendto", ("3", "...", "1000", "MSG_FASTOPEN", "...",
                                              "..."), 1))  # Fast Open: to the peer
    assert (req["call"], req["host"], req["port"]) == ("sendto", REMOTE_ADDRESS, LOCAL_PORT)
    with pytest.raises(DrillError, match="ip_version"):
        Endpoints.from_options({"ip_version": "ipx"})


def test_tcp_info_layout() -> None:
    head = bytes([1, 0, 2, 0, 1, 7, 0x87, 0x03])
    u32 = struct.pack("=24I", 204000, 40000, 1448, 536, 3, 1, 0, 1, 0, *range(15))
    u64 = struct.pack("=4Q", 1, 2, 3, 4)
    info = decode_tcp_info(head + u32 + u64)
    assert (info["tcpi_state"], info["tcpi_retransmits"], info["tcpi_options"]) == (1, 2, 7)
    assert (info["tcpi_snd_wscale"], info["tcpi_rcv_wscale"]) == (7, 8)
    assert (info["tcpi_delivery_rate_app_limited"], info["tcpi_fastopen_client_fail"]) == (1, 1)
    assert (info["tcpi_rto"], info["tcpi_snd_mss"], info["tcpi_unacked"]) == (204000, 1448, 3)
    assert (info["tcpi_pacing_rate"], info["tcpi_bytes_received"]) == (1, 4)
    assert "tcpi_segs_out" not in info  # beyond the bytes given
    with pytest.raises(ValueError):
        decode_tcp_info(b"\x01")


def test_tcp_info_of_a_real_socket() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        info = decode_tcp_info(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512))
    assert info["tcpi_state"] == 10  # LISTEN
    assert info["tcpi_sacked"] == 1  # a listener's backlog


def test_vnet_header_checksum_completion() -> None:
    seg = Segment(src_port=1, dst_port=2, seq=5, ack=0, flags=Flags.SYN, window=10, payload=b"x")
    packet = bytearray(encode_packet(IPv4Address(LOCAL_ADDRESS), IPv4Address(REMOTE_ADDRESS), seg))
    good = bytes(packet)
    # What the kernel hands a device with TUN_F_CSUM: the pseudo-header sum, not complemented.
    pseudo = sum(struct.unpack("!4H", packet[12:20])) + 6 + (len(packet) - 20)
    while pseudo >> 16:
        pseudo = (pseudo & 0xFFFF) + (pseudo >> 16)
    struct.pack_into("!H", packet, 36, pseudo)
    frame = VNET_HDR.pack(NEEDS_CSUM, 0, 0, 0, 20, 16) + bytes(packet)
    assert split_outbound(frame) == (good, 0)
    assert inbound_header(good, None) == bytes(10)
    big = encode_packet(IPv4Address(REMOTE_ADDRESS), IPv4Address(LOCAL_ADDRESS),
                        Segment(src_port=1, dst_port=2, seq=5, ack=0, flags=Flags.ACK,
                                window=10, payload=bytes(3000)))
    assert VNET_HDR.unpack(inbound_header(big, 1000))[1:4] == (GSO_TCPV4, 0, 1000)
    assert inbound_header(big, 3000) == bytes(10)
    broken = bytearray(good)
    broken[36:38] = b"\x12\x34"  # a partial (pseudo-header) or wrong checksum
    assert with_tcp_checksum(bytes(broken)) == good
    seg6 = encode_packet(IPv6Address(LOCAL_ADDRESS6), IPv6Address(REMOTE_ADDRESS6), seg)
    broken6 = bytearray(seg6)
    broken6[56:58] = b"\0\0"
    assert with_tcp_checksum(bytes(broken6)) == seg6


def test_blocked_messages_and_script_duration() -> None:
    assert "handshake" in blocked_message("accept", {"tcpi_state": 10})
    assert "SYN-ACK" in blocked_message("connect", {"tcpi_state": 2, "tcpi_retransmits": 2})
    assert "send buffer" in blocked_message("write", {"tcpi_state": 1, "tcpi_unacked": 10})
    assert "no data" in blocked_message("read", {"tcpi_state": 1})
    events = (
        Event(1, Timing("abs", 0.0, 0.0), Syscall("socket", (), 3)),
        Event(2, Timing("rel", 0.1, 0.1), Syscall("accept", (), 4)),
        Event(3, Timing("rel", 0.0, 0.0, blocking_end=0.5), Syscall("read", (), 0)),
        Event(4, Timing("rel", 0.2, 0.3), Syscall("close", (), 0)),
    )
    assert script_duration(Script("x", events)) == pytest.approx(0.6)


def _result(timing_error: float | None) -> DrillResult:
    failure = Failure(line=3, message="x", timing_error=timing_error)
    return DrillResult(path="x", target="linux", passed=False, failures=(failure,),
                       duration=1.0, wall_time=1.0)


def test_retry_only_timing_failures() -> None:
    passed = DrillResult(path="x", target="linux", passed=True, failures=(), duration=1.0,
                         wall_time=1.0)
    runs = iter([_result(0.15), passed])
    assert run_with_timing_retry(lambda: next(runs)) == (passed, 1)
    wrong = _result(None)
    calls: list[int] = []

    def wrong_packet() -> DrillResult:
        calls.append(1)
        return wrong

    assert run_with_timing_retry(wrong_packet) == (wrong, 0) and len(calls) == 1
    late = _result(0.2)
    assert run_with_timing_retry(lambda: late) == (late, 1)  # fails twice: final


def test_run_shell_times_out_and_sets_the_environment(tmp_path: Path) -> None:
    status, output = run_shell("echo $PACKETDRILL_PID; pwd", str(tmp_path), 10.0)
    assert status == 0
    assert output.split() == [str(os.getpid()), str(tmp_path)]
    started = time.monotonic()
    status, output = run_shell("sleep 30", str(tmp_path), 0.3)
    assert status == 124 and "killed after" in output
    assert time.monotonic() - started < 5.0


# -- shell commands in the namespace -------------------------------------------


def _host_sysctls() -> dict[str, str]:
    values = {}
    for base in ("/proc/sys/net/ipv4", "/proc/sys/net/core", "/proc/sys/kernel"):
        for path in Path(base).glob("*"):
            if not path.is_file():
                continue
            try:
                values[str(path)] = path.read_text()
            except OSError:
                continue
    return values


@pytest.mark.tun
def test_shell_changes_the_namespace_only(make_target: Factory, tmp_path: Path) -> None:
    before = _host_sysctls()
    t = make_target()
    res = t.shell("sysctl -q net.ipv4.tcp_sack=0 && sysctl -n net.ipv4.tcp_sack && pwd",
                  str(tmp_path))
    assert res.status == 0, res.output
    assert res.output.split() == ["0", str(tmp_path)]
    # A host-wide setting cannot be changed: refused, with a clear line.
    ratelimit = Path("/proc/sys/kernel/printk_ratelimit").read_text().strip()
    res = t.shell(f"sysctl -w kernel.printk_ratelimit={int(ratelimit) + 1}", str(tmp_path))
    assert res.status != 0
    assert "kernel.printk_ratelimit is a host-wide setting" in res.output
    res = t.shell("echo 1 > /proc/sys/vm/drop_caches", str(tmp_path))
    assert res.status != 0 and "vm.drop_caches is a host-wide setting" in res.output
    # packetdrill's qdisc line works on tun0 (the kernel's default qdisc is replaceable).
    res = t.shell("tc qdisc add dev tun0 root pfifo && tc qdisc show dev tun0", str(tmp_path))
    assert res.status == 0 and "pfifo" in res.output, res.output
    if PACKETDRILL_DEFAULTS.exists():  # the public suite's defaults.sh, unchanged
        res = t.shell(f"{PACKETDRILL_DEFAULTS}", str(PACKETDRILL_DEFAULTS.parent))
        assert res.status != 0  # its last line: tc qdisc add ... again (as under packetdrill)
        assert t.shell("sysctl -n net.ipv4.tcp_rmem", "/").output.split() == [
            "4096", "540000", str(15 * 1024 * 1024)]
    after = _host_sysctls()
    changed = {k for k in before if before[k] != after.get(k)}
    volatile = {"/proc/sys/kernel/random/entropy_avail", "/proc/sys/kernel/ns_last_pid",
                "/proc/sys/kernel/tainted"}
    assert changed - volatile == set()
    assert Path("/proc/sys/net/ipv4/tcp_sack").read_text() == before[
        "/proc/sys/net/ipv4/tcp_sack"]


@pytest.mark.tun
def test_the_init_command_does_not_count_in_the_script_s_time(make_target: Factory) -> None:
    init = Shell("sleep 0.3")
    events = (Event(1, Timing("abs", 0.0, 0.0), init),
              Event(2, Timing("abs", 0.0, 0.0), Syscall("socket", (), 3)))
    t = make_target(events=events)
    assert t.packetdrill_environment  # a new namespace's sysctls, as under packetdrill
    assert t.sysctls_applied.get("net.ipv4.tcp_congestion_control") is None
    assert t.shell(init.command, "/").status == 0
    assert t.now() < 0.2  # the clock restarted when the init command returned
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    assert t.shell(init.command, "/").status == 0  # any later command counts
    assert t.now() >= 0.3


@pytest.mark.tun
def test_shell_sysctls_change_the_kernel_s_behaviour(make_target: Factory) -> None:
    t = make_target()
    assert t.shell("sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0", "/").status == 0
    listen(t)
    peer = Peer(t)
    peer.send(Flags.SYN, PEER_ISN, options=(Mss(1460), SackPermitted(), Timestamps(100, 0),
                                            Nop(), WindowScale(7)))
    synack = peer.expect("SYN-ACK")
    assert synack.timestamps is None and not synack.sack_permitted


# -- TCP_INFO, the other calls -----------------------------------------------------


@pytest.mark.tun
def test_tcp_info_and_the_data_calls(make_target: Factory) -> None:
    t = make_target(offload=False)
    listen(t)
    assert t.tcp_info(3)["tcpi_state"] == 10
    peer = Peer(t)
    iss = peer.handshake()
    info = t.tcp_info(4)
    assert info["tcpi_state"] == 1 and info["tcpi_snd_mss"] == 1448
    assert info["tcpi_rto"] >= 200_000  # microseconds
    with pytest.raises(DrillError, match="EBADF"):
        t.tcp_info(9)

    peer.send(Flags.ACK | Flags.PSH, PEER_ISN + 1, iss + 1, payload=bytes(1000))
    assert peer.expect("ACK").ack == PEER_ISN + 1001
    assert ok(call(t, "ioctl", "4", "SIOCINQ", "[0]")).outputs == {"optval": 1000}
    ok(call(t, "recv", "4", "...", "100", "0"), 100)
    ok(call(t, "recvfrom", "4", "...", "100", "0", "...", "..."), 100)
    ok(call(t, "readv", "4", "[{..., 200}, {..., 100}]", "2"), 300)
    res = ok(call(t, "recvmsg", "4", "{msg_name(...)=..., msg_iov(1)=[{..., 1000}], "
                  "msg_flags=0}", "0"), 500)
    assert res.outputs == {"msg_flags": 0}
    ok(call(t, "getsockname", "4", "...", "..."))
    ok(call(t, "getpeername", "4", "...", "..."))

    ok(call(t, "epoll_create", "1"), 5)
    ok(call(t, "epoll_ctl", "5", "EPOLL_CTL_ADD", "4", "{events=EPOLLIN|EPOLLOUT, fd=4}"))
    res = ok(call(t, "epoll_wait", "5", "{events=EPOLLOUT, fd=4}", "1", "0"), 1)
    assert res.outputs == {"events[0]": 0x4, "fd[0]": 4}

    ok(call(t, "setsockopt", "4", "SOL_TCP", "TCP_NODELAY", "[1]", "4"))  # no Nagle
    ok(call(t, "writev", "4", "[{..., 100}, {..., 200}]", "2"), 300)
    assert len(peer.expect("writev data").payload) == 300
    ok(call(t, "send", "4", "...", "10", "0"), 10)
    assert len(peer.expect("send data").payload) == 10
    ok(call(t, "sendto", "4", "...", "20", "0", "...", "..."), 20)
    assert len(peer.expect("sendto data").payload) == 20
    ok(call(t, "sendmsg", "4", "{msg_name(...)=..., msg_iov(2)=[{..., 30}, {..., 40}], "
            "msg_flags=0}", "0"), 70)
    assert len(peer.expect("sendmsg data").payload) == 70
    assert ok(call(t, "ioctl", "4", "SIOCOUTQ", "[0]")).outputs == {"optval": 400}
    assert t.tcp_info(4)["tcpi_unacked"] == 4
    ok(call(t, "setsockopt", "4", "SOL_TCP", "TCP_CONGESTION", '"reno"', "4"))
    ok(call(t, "setsockopt", "4", "SOL_TCP", "TCP_NOTSENT_LOWAT", "[0xffffffff]", "4"))
    res = ok(call(t, "getsockopt", "4", "SOL_TCP", "TCP_NOTSENT_LOWAT", "[0]", "[4]"))
    assert res.outputs == {"optval": 0xFFFFFFFF}  # a 32-bit pattern, as packetdrill compares


# -- IPv6, IPv4-mapped IPv6 --------------------------------------------------------


@pytest.mark.tun
def test_ipv6_passive_open(make_target: Factory) -> None:
    t = make_target({"ip_version": "ipv6", "bind_port": "8080"})
    listen(t)
    peer = Peer(t, ipv6=True)
    iss = peer.handshake()
    ok(call(t, "write", "4", "...", "100"), 100)
    data = peer.expect("data")
    assert data.seq == iss + 1 and len(data.payload) == 100
    assert t.tcp_info(4)["tcpi_snd_mss"] == 1428  # 1500 - 40 - 20 - 12 (timestamps)


@pytest.mark.tun
def test_ipv4_mapped_ipv6_active_open(make_target: Factory) -> None:
    t = make_target({"ip_version": "ipv4-mapped-ipv6", "connect_port": "8080"})
    ok(call(t, "socket", "...", "SOCK_STREAM|SOCK_NONBLOCK", "IPPROTO_TCP"), 3)
    res = call(t, "connect", "3", "...", "...")
    assert (res.value, res.errno) == (-1, "EINPROGRESS")
    got = t.next_outbound(t.now() + WAIT)
    assert got is not None
    ip, syn = decode_packet(got[1])  # IPv4 on the wire
    assert (str(ip.src), str(ip.dst), syn.dst_port) == (LOCAL_ADDRESS, REMOTE_ADDRESS, 8080)
    assert syn.flags == Flags.SYN


# -- offloads: large segments as packetdrill sees them ------------------------------


@pytest.mark.tun
def test_tso_hands_over_one_large_segment(make_target: Factory) -> None:
    t = make_target({"tso": "1"})  # offloads on, as on packetdrill's TUN device
    listen(t)
    peer = Peer(t)
    iss = peer.handshake(window=65535)
    ok(call(t, "write", "4", "...", "20000"), 20000)
    first = peer.expect("a TSO segment")  # decode_packet verified the completed checksum
    assert first.seq == iss + 1
    assert len(first.payload) > 1448 and len(first.payload) % 1448 == 0
    assert t.oversized >= 1


@pytest.mark.tun
def test_mss_option_injects_gso_packets(make_target: Factory) -> None:
    t = make_target({"mss": "1000", "tso": "1"})
    listen(t)
    peer = Peer(t)
    iss = peer.handshake()
    peer.send(Flags.ACK, PEER_ISN + 1, iss + 1, payload=bytes(3000))
    assert ok(call(t, "ioctl", "4", "SIOCINQ", "[0]")).outputs == {"optval": 3000}
    assert t.tcp_info(4)["tcpi_rcv_mss"] == 1000  # it arrived as segments of 1000 bytes


@pytest.mark.tun
def test_without_offload_segments_fit_the_mss(make_target: Factory) -> None:
    t = make_target({"tso": "0"})
    assert not t.offload
    listen(t)
    peer = Peer(t)
    peer.handshake(window=65535)
    ok(call(t, "write", "4", "...", "5000"), 5000)
    assert len(peer.expect("a segment").payload) == 1448


# -- a call that blocks unexpectedly -------------------------------------------------


@pytest.mark.tun
def test_blocked_accept_fails_soon_and_says_why(make_target: Factory) -> None:
    events = (Event(1, Timing("abs", 0.0, 0.0), Syscall("socket", (), 3)),
              Event(2, Timing("rel", 0.2, 0.2), Syscall("accept", (), 4)))
    t = make_target(events=events)
    listen(t)
    started = time.monotonic()
    with pytest.raises(DrillError, match="no connection completed the three-way handshake"):
        call(t, "accept", "3", "...", "...")
    assert time.monotonic() - started < 0.2 + 1.0 + 0.5  # script time + margin + slack


@pytest.mark.tun
def test_blocked_connect_names_the_missing_syn_ack(make_target: Factory) -> None:
    t = make_target(events=(Event(1, Timing("abs", 0.0, 0.0), Syscall("socket", (), 3)),))
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    with pytest.raises(DrillError, match="SYN_SENT: the kernel waits for a SYN-ACK"):
        call(t, "connect", "3", "...", "...")
