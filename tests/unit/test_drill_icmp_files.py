"""ICMP packets, open/sendfile, pipe/splice, TCP_INQ control messages and NULL buffers:
the parser, the ICMP packet drill injects, and the tcpstack target running the scripts
of ``tests/drill_features`` (the Linux target runs them in
``tests/integration/test_drill_linux_features.py``)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from tcpstack.harness.drill.args import Cmsg, cmsgs_arg, pipe_arg
from tcpstack.harness.drill.features import script_features
from tcpstack.harness.drill.icmp import build_icmp, icmp_numbers, icmp_text
from tcpstack.harness.drill.model import (
    DrillSyntaxError,
    DrillUnsupported,
    IcmpSpec,
    Syscall,
)
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.targets.linux_args import build_request, outputs
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.wire.checksum import internet_checksum, pseudo_header_sum

FEATURES = Path(__file__).resolve().parents[1] / "drill_features"
SOCKET = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"


def one(line: str) -> object:
    return parse(SOCKET + "+0 " + line + "\n").events[1].action


def error(line: str) -> DrillSyntaxError:
    with pytest.raises(DrillSyntaxError) as info:
        parse(SOCKET + "+0 " + line + "\n")
    return info.value


# --- ICMP lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "spec"),
    [
        ("< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]",
         IcmpSpec("<", "unreachable", "frag_needed", mtu=1200, seq=1, end=1461, length=1460)),
        ("< icmp unreachable host_unreachable",
         IcmpSpec("<", "unreachable", "host_unreachable")),
        ("<icmp unreachable [5000:6000(1000)]",
         IcmpSpec("<", "unreachable", seq=5000, end=6000, length=1000)),
        ("< [ect0] icmp time_exceeded exceeded_hop_limit [0:0(0)]",
         IcmpSpec("<", "time_exceeded", "exceeded_hop_limit", ecn="ect0")),
        ("< icmp packet_too_big mtu 1400 [0:1440(1440)]",
         IcmpSpec("<", "packet_too_big", mtu=1400, end=1440, length=1440)),
        ("< icmp type_3 code_13 id 7", IcmpSpec("<", "type_3", "code_13", echo_id=7)),
        ("< icmp echo_request id 5 [ 1 : 11 ( 10 ) ]",
         IcmpSpec("<", "echo_request", echo_id=5, seq=1, end=11, length=10)),
    ],
)
def test_icmp_lines(line: str, spec: IcmpSpec) -> None:
    assert one(line) == spec


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("< icmp bogus", "bad ICMP type 'bogus'"),
        ("< icmp unreachable bogus_code", "bad ICMP code 'bogus_code' for type unreachable"),
        ("< icmp source_quench host_unreachable", "bad ICMP code 'host_unreachable'"),
        ("< icmp type_300", "bad ICMP type type_300: at most 255"),
        ("< icmp unreachable [1:2(5)]", "inconsistent sequence numbers"),
        ("< icmp unreachable [*:*(0)]", "expected '[start:end(length)]'"),
        ("< icmp unreachable frag_needed mtu x", "expected 'icmp TYPE"),
        ("< icmp unreachable id 70000", "ICMP id 70000 out of range"),
        ("< [ect01] icmp unreachable", "[ect01] can only be used with outbound packets"),
        ("> icmp unreachable port_unreachable", "unsupported: outbound ICMP packets"),
        ("< icmp unreachable [udp (100)]", "unsupported: ICMP quoting UDP or raw data"),
        ("< (tos 0x10) icmp unreachable", "unsupported: IP header fields"),
    ],
)
def test_icmp_line_errors(line: str, message: str) -> None:
    exc = error(line)
    assert exc.line == 2
    assert message in exc.message, exc.message


def test_icmp_times_are_those_of_inbound_packets() -> None:
    assert "time '*' can only be used with outbound packets" in parse_error(
        SOCKET + "* < icmp unreachable\n").message


def parse_error(text: str) -> DrillSyntaxError:
    with pytest.raises(DrillSyntaxError) as info:
        parse(text)
    return info.value


def test_icmp_numbers_follow_the_ip_version() -> None:
    frag = IcmpSpec("<", "unreachable", "frag_needed", mtu=1200)
    assert icmp_numbers(frag, ipv6=False) == (3, 4)
    with pytest.raises(ValueError, match="bad ICMP code frag_needed for ICMPv6"):
        icmp_numbers(frag, ipv6=True)
    too_big = IcmpSpec("<", "packet_too_big", mtu=1280)
    assert icmp_numbers(too_big, ipv6=True) == (2, 0)
    with pytest.raises(ValueError, match="bad ICMP type packet_too_big for ICMPv4"):
        icmp_numbers(too_big, ipv6=False)
    assert icmp_numbers(IcmpSpec("<", "unreachable", "port_unreachable"), ipv6=False) == (3, 3)
    assert icmp_numbers(IcmpSpec("<", "unreachable", "port_unreachable"), ipv6=True) == (1, 4)
    assert icmp_numbers(IcmpSpec("<", "type_42", "code_7"), ipv6=True) == (42, 7)
    with pytest.raises(ValueError, match="MTU is only valid for unreachable frag_needed"):
        icmp_numbers(IcmpSpec("<", "unreachable", "host_unreachable", mtu=1000), ipv6=False)
    with pytest.raises(ValueError, match="MTU out of 16-bit range"):
        icmp_numbers(IcmpSpec("<", "unreachable", "frag_needed", mtu=70000), ipv6=False)


def test_icmpv4_packet_quotes_the_connection() -> None:
    spec = IcmpSpec("<", "unreachable", "frag_needed", mtu=1200, seq=1, end=1461, length=1460)
    local, remote = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2")
    packet = build_icmp(spec, local=local, remote=remote, local_port=8080, remote_port=40000,
                        local_isn=0xFFFFFFFF, tos=2)
    assert packet[0] == 0x45 and packet[1] == 2 and packet[9] == 1  # IPv4, ECT(0), ICMP
    assert packet[12:16] == remote.packed and packet[16:20] == local.packed
    assert internet_checksum(packet[:20]) == 0
    icmp = packet[20:]
    assert len(icmp) == 8 + 20 + 8
    assert internet_checksum(icmp) == 0
    assert icmp[:2] == bytes([3, 4]) and struct.unpack("!HH", icmp[4:8]) == (0, 1200)
    quoted = icmp[8:28]
    assert quoted[9] == 6 and quoted[12:16] == local.packed and quoted[16:20] == remote.packed
    assert struct.unpack("!H", quoted[2:4])[0] == 20 + 20 + 1460  # the segment sent
    assert internet_checksum(quoted) == 0
    assert struct.unpack("!HHI", icmp[28:36]) == (8080, 40000, 0)  # ISN + 1, wrapped
    assert icmp_text(spec) == "icmp unreachable frag_needed mtu 1200 [1:1461(1460)]"


def test_icmpv6_packet_checksum_covers_the_pseudo_header() -> None:
    spec = IcmpSpec("<", "packet_too_big", mtu=1280, seq=1, end=1441, length=1440, echo_id=0)
    local, remote = IPv6Address("2001:db8::1"), IPv6Address("2001:db8:1::2")
    packet = build_icmp(spec, local=local, remote=remote, local_port=8080, remote_port=40000,
                        local_isn=1000)
    assert packet[0] >> 4 == 6 and packet[6] == 58
    assert packet[8:24] == remote.packed and packet[24:40] == local.packed
    icmp = packet[40:]
    assert internet_checksum(icmp, pseudo_header_sum(remote, local, 58, len(icmp))) == 0
    assert icmp[0] == 2 and struct.unpack("!I", icmp[4:8])[0] == 1280
    quoted = icmp[8:48]
    assert quoted[6] == 6 and struct.unpack("!H", quoted[4:6])[0] == 20 + 1440
    assert struct.unpack("!HHI", icmp[48:56]) == (8080, 40000, 1001)


# --- open, sendfile, pipe, splice, msg_control --------------------------------------


def test_file_and_pipe_calls_parse() -> None:
    assert one('open("/tmp/x", O_RDONLY) = 5') == Syscall("open", ('"/tmp/x"', "O_RDONLY"), 5)
    assert one("sendfile(4, 5, [0], 5) = 5") == Syscall("sendfile", ("4", "5", "[0]", "5"), 5)
    assert one("pipe([5, 6]) = 0") == Syscall("pipe", ("[5, 6]",), 0)
    assert one("splice(4, NULL, 6, NULL, 99, SPLICE_F_NONBLOCK) = 99").args[5] == \
        "SPLICE_F_NONBLOCK"  # type: ignore[union-attr]
    assert pipe_arg("[5, 6]") == (5, 6)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("open(/tmp/x, O_RDONLY) = 5", "open(): the path must be a string"),
        ('open("/tmp/x") = 5', "open() takes 2 arguments, got 1"),
        ("pipe([5]) = 0", "pipe(): expected '[read_fd, write_fd]'"),
        ("sendfile(4, 5, 0, 5) = 5", "sendfile(): the offset must be '[N]'"),
        ("sendfile(4, x, [0], 5) = 5", "sendfile(): the input fd must be a number, got 'x'"),
        ("splice(4, NULL, 6, NULL, 99) = 99", "splice() takes 6 arguments"),
        ("recvmsg(3, {msg_iov(1)=[{..., 10}], msg_control=[{cmsg_level=SOL_TCP}]}, 0) = 1",
         "expected '{cmsg_level=..., cmsg_type=..., cmsg_data=N}'"),
    ],
)
def test_file_and_pipe_call_errors(line: str, message: str) -> None:
    assert message in error(line).message


def test_cmsgs_arg() -> None:
    text = "[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=9000}, " \
           "{cmsg_level=1, cmsg_type=2, cmsg_data=0x10}]"
    assert cmsgs_arg(text) == (Cmsg(6, 36, 9000), Cmsg(1, 2, 16))
    assert cmsgs_arg("[]") == ()
    with pytest.raises(ValueError, match="cmsg_data other than an integer"):
        cmsgs_arg("[{cmsg_level=1, cmsg_type=2, cmsg_data={a=1}}]")


def test_features_are_named_by_their_first_line() -> None:
    script = parse(SOCKET + "+0 pipe([5, 6]) = 0\n+0 < icmp unreachable\n"
                   '+0 open("/x", O_RDONLY) = 7\n')
    assert script_features(script) == {"ICMP packets": 3, "sendfile": 4, "splice": 2}


# --- the tcpstack target ------------------------------------------------------------


def feature_script(name: str, data: Path | None = None) -> str:
    text = (FEATURES / name).read_text()
    return text.replace("@DATA@", str(data)) if data is not None else text


def run_tcpstack(text: str, path: str = "t.pkt") -> tuple[bool, str]:
    result = run_script(parse(text, path), TcpstackTarget())
    failure = result.failure
    return result.passed, f"line {failure.line}: {failure.message}" if failure else ""


@pytest.mark.parametrize("name", ["inq.pkt", "splice.pkt", "null_buffers.pkt",
                                  "zerocopy_send.pkt"])
def test_feature_scripts_pass_on_tcpstack(name: str) -> None:
    passed, why = run_tcpstack(feature_script(name))
    assert passed, why


def test_sendfile_writes_the_file_from_its_offset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"hello")
    passed, why = run_tcpstack(feature_script("sendfile.pkt", data))
    assert passed, why
    data.write_bytes(b"hello, world")  # 11 bytes from offset 1, not 4
    passed, why = run_tcpstack(feature_script("sendfile.pkt", data))
    assert not passed and "sendfile() returned 11, expected 4" in why


def test_inq_reports_the_bytes_left_and_only_when_asked() -> None:
    text = feature_script("inq.pkt")
    wrong = text.replace("cmsg_data=2000", "cmsg_data=1999")
    passed, why = run_tcpstack(wrong)
    assert not passed and "cmsg_data[0] is 2000, expected 1999" in why
    off = text.replace("TCP_INQ, [1], 4", "TCP_INQ, [0], 4").replace("TCP_INQ, [1], [4]",
                                                                     "TCP_INQ, [0], [4]")
    passed, why = run_tcpstack(off)
    assert not passed and "cmsg_count is 0, expected 1" in why


def test_splice_moves_what_the_pipe_holds() -> None:
    text = feature_script("splice.pkt")
    passed, why = run_tcpstack(text.replace("splice(5, NULL, 4, NULL, 1000, 0) = 250",
                                            "splice(5, NULL, 4, NULL, 1000, 0) = 300"))
    assert not passed and "splice() returned 250, expected 300" in why


@pytest.mark.parametrize("name", ["icmp_frag_needed.pkt", "icmp_packet_too_big_ipv6.pkt",
                                  "icmp_unreachable_syn.pkt"])
def test_icmp_scripts_are_unsupported_on_tcpstack(name: str) -> None:
    # The core handles no ICMP: the target declines such scripts (features.py).
    with pytest.raises(DrillUnsupported, match="ICMP packets") as info:
        run_script(parse(feature_script(name), name), TcpstackTarget())
    assert info.value.construct == "ICMP packets"


# --- the Linux target's requests (pure: no namespace) -------------------------------


def test_linux_requests_for_the_new_calls() -> None:
    req, kind = build_request(Syscall("open", ('"/tmp/f"', "O_RDONLY"), 5))
    assert (req["path"], req["flags"], kind) == ("/tmp/f", 0, None)
    req, _ = build_request(Syscall("sendfile", ("4", "5", "[3]", "10"), 7))
    assert (req["fd"], req["in_fd"], req["offset"], req["count"]) == (4, 5, 3, 10)
    req, kind = build_request(Syscall("pipe", ("[5, 6]",), 0))
    assert kind == "pipe" and outputs(kind, [5, 6]) == {"fds[0]": 5, "fds[1]": 6}
    req, _ = build_request(Syscall("splice", ("4", "NULL", "6", "NULL", "99",
                                              "SPLICE_F_NONBLOCK"), 99))
    assert (req["fd"], req["out_fd"], req["count"], req["flags"]) == (4, 6, 99, 2)
    req, _ = build_request(Syscall("write", ("4", "NULL", "10"), -1, "EFAULT"))
    assert req["null"] is True
    req, _ = build_request(Syscall("read", ("4", "...", "10"), 10))
    assert "null" not in req
    msg = ("{msg_iov(1)=[{..., 10}], msg_control=[{cmsg_level=SOL_TCP, "
           "cmsg_type=TCP_CM_INQ, cmsg_data=1}]}")
    req, kind = build_request(Syscall("recvmsg", ("4", msg, "0"), 10))
    assert (req["cmsgs"], kind) == (1, "msg")
    assert outputs(kind, [0, [[6, 36, 4, 9000]]]) == {
        "msg_flags": 0, "cmsg_count": 1, "cmsg_level[0]": 6, "cmsg_type[0]": 36,
        "cmsg_len[0]": 4, "cmsg_data[0]": 9000}
    assert outputs(kind, 0) == {"msg_flags": 0}
    req, _ = build_request(Syscall("sendmsg", ("4", "{msg_iov(1)=[{..., 10}]}",
                                               "MSG_ZEROCOPY"), 10))
    assert req["flags"] == 0x4000000


def test_an_icmp_code_written_as_a_name_is_resolved_from_the_defines() -> None:
    # packetdrill's run_all.py runs every script with -D CODE=host_unreachable.
    from tcpstack.harness.drill.icmp import resolve_code
    from tcpstack.harness.drill.model import IcmpSpec

    spec = IcmpSpec(direction="<", icmp_type="unreachable", code="CODE")
    assert resolve_code(spec, {}).code == "host_unreachable"
    assert resolve_code(spec, {"CODE": "port_unreachable"}).code == "port_unreachable"
    plain = IcmpSpec(direction="<", icmp_type="unreachable", code="net_unreachable")
    assert resolve_code(plain, {}) is plain
    with pytest.raises(ValueError, match="OTHER is not defined"):
        resolve_code(IcmpSpec(direction="<", icmp_type="unreachable", code="OTHER"), {})
