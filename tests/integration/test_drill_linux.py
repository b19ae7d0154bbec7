"""The Linux drill target driven directly (no runner): real kernel sockets in a namespace.

Each test starts a :class:`~tcpstack.harness.drill.targets.linux.LinuxTarget` (its own
network namespace: ``lo`` and ``tun0`` only, no route out), injects segments
built with :mod:`tcpstack.wire` from the peer 198.51.100.2 and reads what the
kernel sends back. Every wait is bounded; the namespace is gone afterwards.

Skipped (with the reason) without root, /dev/net/tun or ``ip``; with
``TCPSTACK_REQUIRE_TUN=1`` those conditions fail the tests instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest
from tun_helpers import netns_names, require_linux_target

from tcpstack.harness.drill.model import DrillError, Syscall
from tcpstack.harness.drill.target import LOCAL_ADDRESS, LOCAL_PORT, REMOTE_ADDRESS, SyscallResult
from tcpstack.harness.drill.targets import linux
from tcpstack.harness.drill.targets.linux import (
    LinuxTarget,
    build_request,
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

PEER = IPv4Address(REMOTE_ADDRESS)
LOCAL = IPv4Address(LOCAL_ADDRESS)
PEER_PORT = 40000
PEER_ISN = 1_000_000
WAIT = 2.0  # seconds, upper bound of each wait for a packet




@pytest.fixture
def target() -> Iterator[LinuxTarget]:
    require_linux_target()
    t = LinuxTarget(max_block=5.0, max_wait=10.0)
    t.start()
    name = t.netns
    assert name is not None
    try:
        yield t
    finally:
        t.close()
        assert name not in netns_names(), f"namespace {name} left behind"


def call(t: LinuxTarget, name: str, *args: str) -> SyscallResult:
    return t.syscall(Syscall(name, args, None))


def ok(result: SyscallResult, value: int = 0) -> SyscallResult:
    assert (result.value, result.errno) == (value, None), result
    return result


def inject(
    t: LinuxTarget,
    flags: Flags,
    seq: int,
    ack: int = 0,
    *,
    payload: bytes = b"",
    options: tuple[TcpOption, ...] = (),
    dst_port: int = LOCAL_PORT,
    src_port: int = PEER_PORT,
) -> None:
    seg = Segment(
        src_port=src_port,
        dst_port=dst_port,
        seq=seq % 2**32,
        ack=ack % 2**32,
        flags=flags,
        window=1000,
        options=options,
        payload=payload,
    )
    t.inject(encode_packet(PEER, LOCAL, seg))


def expect(t: LinuxTarget, what: str) -> tuple[float, Segment]:
    got = t.next_outbound(t.now() + WAIT)
    assert got is not None, f"no {what} from the kernel within {WAIT} s"
    when, raw = got
    ip, seg = decode_packet(raw)
    assert (str(ip.src), str(ip.dst)) == (LOCAL_ADDRESS, REMOTE_ADDRESS)
    return when, seg


def syn_options() -> tuple[TcpOption, ...]:
    return (Mss(1460), SackPermitted(), Timestamps(100, 0), Nop(), WindowScale(7))


def listen(t: LinuxTarget) -> None:
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    ok(call(t, "setsockopt", "3", "SOL_SOCKET", "SO_REUSEADDR", "[1]", "4"))
    ok(call(t, "bind", "3", "...", "..."))
    ok(call(t, "listen", "3", "1"))


def handshake(t: LinuxTarget) -> int:
    """Complete a passive open from the peer; return the kernel's ISN."""
    inject(t, Flags.SYN, PEER_ISN, options=syn_options())
    _, synack = expect(t, "SYN-ACK")
    assert synack.flags == Flags.SYN | Flags.ACK
    assert synack.ack == PEER_ISN + 1
    assert (synack.src_port, synack.dst_port) == (LOCAL_PORT, PEER_PORT)
    assert synack.mss == 1460 and synack.sack_permitted and synack.wscale == 7
    ts = synack.timestamps
    assert ts is not None and ts.tsecr == 100
    inject(t, Flags.ACK, PEER_ISN + 1, synack.seq + 1)
    return synack.seq


# -- the environment ---------------------------------------------------------


@pytest.mark.tun
def test_namespace_is_isolated(target: LinuxTarget) -> None:
    name = target.netns
    assert name is not None and name in netns_names()
    links = subprocess.run(
        ["ip", "-n", name, "-o", "link", "show"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert sorted(line.split(":")[1].strip() for line in links.splitlines()) == ["lo", "tun0"]
    for family in ("-4", "-6"):
        routes = subprocess.run(
            ["ip", "-n", name, family, "route", "show", "default"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        assert routes.strip() == ""
    assert target.sysctls_applied["net.ipv4.tcp_timestamps"] == "1"
    assert target.sysctls_applied["net.ipv4.tcp_congestion_control"] == "reno"


# -- passive open, data, close -----------------------------------------------


@pytest.mark.tun
def test_passive_open_write_fin_read_close(target: LinuxTarget) -> None:
    t = target
    listen(t)
    iss = handshake(t)
    ok(call(t, "accept", "3", "...", "..."), 4)

    ok(call(t, "write", "4", "...", "1000"), 1000)
    assert t.next_outbound(0.0) is None  # sent after the deadline: stays queued
    _, data = expect(t, "data segment")
    assert data.seq == iss + 1 and data.ack == PEER_ISN + 1
    assert len(data.payload) == 1000 and data.flags == Flags.ACK | Flags.PSH

    # The peer ACKs the data and closes: the kernel ACKs the FIN at once.
    inject(t, Flags.FIN | Flags.ACK, PEER_ISN + 1, iss + 1001)
    _, ack = expect(t, "ACK of the FIN")
    assert ack.flags == Flags.ACK and ack.ack == PEER_ISN + 2
    ok(call(t, "read", "4", "...", "1000"), 0)

    ok(call(t, "close", "4"))
    _, fin = expect(t, "FIN")
    assert fin.flags == Flags.FIN | Flags.ACK
    assert fin.seq == iss + 1001 and fin.ack == PEER_ISN + 2
    inject(t, Flags.ACK, PEER_ISN + 2, iss + 1002)
    ok(call(t, "close", "3"))
    assert t.next_outbound(t.now() + 0.05) is None
    # The freed script fd is reused, lowest first.
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)


@pytest.mark.tun
def test_blocking_accept_started_before_the_handshake(target: LinuxTarget) -> None:
    t = target
    listen(t)
    pending = t.start_syscall(Syscall("accept", ("3", "...", "..."), 4))
    t.wait_until(t.now() + 0.05)
    assert pending.result() is None  # really blocked in the kernel
    before = t.now()
    handshake(t)
    for _ in range(200):  # bounded: at most 2 s
        result = pending.result()
        if result is not None:
            break
        t.wait_until(t.now() + 0.01)
    else:
        pytest.fail("accept() did not return after the handshake")
    ok(result, 4)
    assert before <= result.returned_at <= t.now()


@pytest.mark.tun
def test_blocking_call_is_bounded(target: LinuxTarget) -> None:
    t = target
    listen(t)
    t.max_block = 0.2
    with pytest.raises(DrillError, match="still blocked"):
        call(t, "accept", "3", "...", "...")


# -- active open ---------------------------------------------------------------


def _nonblocking_connect(t: LinuxTarget) -> Segment:
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    ok(call(t, "fcntl", "3", "F_SETFL", "O_RDWR|O_NONBLOCK"))
    res = call(t, "connect", "3", "...", "...")
    assert (res.value, res.errno) == (-1, "EINPROGRESS")
    _, syn = expect(t, "SYN")
    assert syn.flags == Flags.SYN and syn.dst_port == LOCAL_PORT
    # Linux's SYN options, in this order.
    kinds = [type(o).__name__ for o in syn.options]
    assert kinds == ["Mss", "SackPermitted", "Timestamps", "Nop", "WindowScale"]
    assert syn.mss == 1460 and syn.wscale == 7
    return syn


@pytest.mark.tun
def test_active_open_nonblocking(target: LinuxTarget) -> None:
    t = target
    syn = _nonblocking_connect(t)
    res = call(t, "poll", "[{fd=3, events=POLLOUT, revents=0}]", "1", "0")
    assert res.value == 0 and res.outputs == {"revents[0]": 0}

    ts = syn.timestamps
    assert ts is not None
    inject(
        t,
        Flags.SYN | Flags.ACK,
        PEER_ISN,
        syn.seq + 1,
        src_port=LOCAL_PORT,
        dst_port=syn.src_port,
        options=(Mss(1460), SackPermitted(), Timestamps(500, ts.tsval), Nop(), WindowScale(7)),
    )
    _, ack = expect(t, "ACK of the SYN-ACK")
    assert ack.flags == Flags.ACK and ack.ack == PEER_ISN + 1
    res = call(t, "poll", "[{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}]", "1", "0")
    assert res.value == 1 and res.outputs == {"revents[0]": 0x4}
    res = ok(call(t, "getsockopt", "3", "SOL_SOCKET", "SO_ERROR", "[0]", "[4]"))
    assert res.outputs == {"optval": 0}
    res = call(t, "read", "3", "...", "100")
    assert (res.value, res.errno) == (-1, "EAGAIN")


@pytest.mark.tun
def test_connect_refused(target: LinuxTarget) -> None:
    t = target
    syn = _nonblocking_connect(t)
    inject(
        t,
        Flags.RST | Flags.ACK,
        0,
        syn.seq + 1,
        src_port=LOCAL_PORT,
        dst_port=syn.src_port,
    )
    res = ok(call(t, "getsockopt", "3", "SOL_SOCKET", "SO_ERROR", "[ECONNREFUSED]", "[4]"))
    assert res.outputs == {"optval": 111}  # ECONNREFUSED on Linux
    res = ok(call(t, "getsockopt", "3", "SOL_SOCKET", "SO_ERROR", "[0]", "[4]"))
    assert res.outputs == {"optval": 0}  # reading SO_ERROR clears it
    ok(call(t, "close", "3"))
    assert t.next_outbound(t.now() + 0.05) is None  # no RST answers a RST


@pytest.mark.tun
def test_socket_options(target: LinuxTarget) -> None:
    t = target
    ok(call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
    for level, opt, value in (
        ("SOL_SOCKET", "SO_KEEPALIVE", 1),
        ("IPPROTO_TCP", "TCP_NODELAY", 1),
        ("IPPROTO_TCP", "TCP_KEEPIDLE", 5),
        ("IPPROTO_TCP", "TCP_KEEPINTVL", 2),
        ("IPPROTO_TCP", "TCP_KEEPCNT", 3),
        ("IPPROTO_TCP", "TCP_USER_TIMEOUT", 1500),
    ):
        ok(call(t, "setsockopt", "3", level, opt, f"[{value}]", "4"))
        res = ok(call(t, "getsockopt", "3", level, opt, f"[{value}]", "[4]"))
        assert res.outputs == {"optval": value}, opt
    ok(call(t, "setsockopt", "3", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "8"))
    res = ok(call(t, "getsockopt", "3", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "[8]"))
    assert res.outputs == {"onoff": 1, "linger": 0}
    ok(call(t, "setsockopt", "3", "SOL_SOCKET", "SO_RCVBUF", "[10000]", "4"))
    res = ok(call(t, "getsockopt", "3", "SOL_SOCKET", "SO_RCVBUF", "[20000]", "[4]"))
    assert res.outputs == {"optval": 20000}  # Linux doubles it
    res = call(t, "fcntl", "3", "F_GETFL")
    assert res.value == os.O_RDWR
    res = call(t, "shutdown", "3", "SHUT_WR")
    assert (res.value, res.errno) == (-1, "ENOTCONN")
    res = call(t, "close", "7")
    assert (res.value, res.errno) == (-1, "EBADF")


# -- failures and cleanup --------------------------------------------------------


@pytest.mark.tun
def test_failed_setup_leaves_nothing_behind() -> None:
    require_linux_target()
    t = LinuxTarget(sysctls={"net.ipv4.tcp_no_such_sysctl": "1"})
    with pytest.raises(DrillError, match="tcp_no_such_sysctl") as info:
        t.start()
    assert "\n" not in str(info.value)
    assert t.netns is not None and t.netns not in netns_names()
    assert t._proc is not None and t._proc.poll() is not None  # the agent is gone
    t.close()  # again: harmless
    ours = f"{linux.NETNS_PREFIX}-{os.getpid()}-"  # other xdist workers run their own
    out = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    assert not [n for n in out.split() if n.startswith(ours)]


@pytest.mark.tun
def test_agent_death_is_reported(target: LinuxTarget) -> None:
    t = target
    proc = t._proc
    assert proc is not None
    proc.kill()
    proc.wait(5)
    with pytest.raises(DrillError, match="agent"):
        for _ in range(50):  # bounded: the control reader notices EOF quickly
            call(t, "socket", "...", "SOCK_STREAM", "IPPROTO_TCP")
            t.wait_until(t.now() + 0.02)


def test_unavailable_is_one_line_drill_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    t = LinuxTarget()
    with pytest.raises(DrillError) as info:
        t.start()
    assert str(info.value) and "\n" not in str(info.value)
    if sys.platform.startswith("linux"):
        assert "root" in str(info.value)
    assert t.netns is None
    t.close()


def test_build_request_reads_script_arguments() -> None:
    req, kind = build_request(Syscall("fcntl", ("3", "F_SETFL", "O_RDWR|O_NONBLOCK"), 0))
    assert (req["fd"], req["cmd"], req["arg"], kind) == (3, 4, 0o4002, None)
    req, kind = build_request(
        Syscall("setsockopt", ("4", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "8"), 0)
    )
    assert (req["level"], req["opt"], req["value"], req["kind"]) == (1, 13, [1, 0], "linger")
    req, kind = build_request(
        Syscall("getsockopt", ("3", "SOL_SOCKET", "SO_ERROR", "[ECONNREFUSED]", "[4]"), 0)
    )
    assert (req["opt"], kind) == (4, "optval")
    req, kind = build_request(
        Syscall("poll", ("[{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}]", "1", "100"), 1)
    )
    assert (req["fds"], req["timeout"], kind) == ([[4, 5]], 100, "poll")
    req, _ = build_request(Syscall("connect", ("3", "...", "..."), 0))
    assert (req["host"], req["port"]) == (REMOTE_ADDRESS, LOCAL_PORT)
    with pytest.raises(DrillError, match="does not support"):
        build_request(Syscall("vmsplice", ("3",), 0))
