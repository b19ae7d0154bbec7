"""TCP Fast Open in drill: the FO/FOEXP options, SipHash-2-4 and Linux's cookies,
cookie names and their translation, the runner's use of them, the Linux target's
requests for MSG_FASTOPEN and TCP_FASTOPEN_KEY."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import ip_address

import pytest
from test_drill_runner import ISS, FakeTarget, out, run

from tcpstack.cli.drill import with_defines
from tcpstack.cli.main import main
from tcpstack.harness.drill.fastopen import (
    defines,
    kernel_cookie,
    option_matches,
    option_text,
    parse_keys,
    resolve_cookie,
    script_addresses,
    siphash24,
    translate_cookie,
    wire_option,
)
from tcpstack.harness.drill.model import (
    DrillError,
    DrillSyntaxError,
    DrillUnsupported,
    PacketSpec,
    Syscall,
    TcpOptionSpec,
)
from tcpstack.harness.drill.parse import options_length, parse
from tcpstack.harness.drill.runner import PEER_ISN, PEER_PORT
from tcpstack.harness.drill.targets.linux_args import build_request, fastopen_key
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget
from tcpstack.wire import Flags, Mss, Nop, UnknownOption

PACKETDRILL_KEY = "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"
"""The key of packetdrill's common/defaults.sh."""


def options(text: str) -> tuple[TcpOptionSpec, ...]:
    spec = parse(f"0 < S 0:0(0) win 100 <{text}>\n").events[0].action
    assert isinstance(spec, PacketSpec) and spec.options is not None
    return spec.options


# ----------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------


def test_fo_forms() -> None:
    assert options("FO,nop,nop") == (TcpOptionSpec("FO"), TcpOptionSpec("nop"),
                                     TcpOptionSpec("nop"))
    assert options("nop,nop,FO abcd1234")[2] == TcpOptionSpec("FO", (0xAB, 0xCD, 0x12, 0x34))
    assert options("FOEXP")[0] == TcpOptionSpec("FOEXP")
    assert options("FOEXP 0123456789abcdef")[0] == TcpOptionSpec(
        "FOEXP", tuple(bytes.fromhex("0123456789abcdef")))
    assert options("FO TFO_COOKIE,nop,nop")[0] == TcpOptionSpec("FO", name="TFO_COOKIE")
    # digits only are hex too (packetdrill's lexer reads them as an INTEGER token)
    assert options("FO 12345678,nop,nop")[0].values == (0x12, 0x34, 0x56, 0x78)


@pytest.mark.parametrize(("option", "size"), [
    (TcpOptionSpec("FO"), 2), (TcpOptionSpec("FO", (1, 2, 3, 4)), 6),
    (TcpOptionSpec("FOEXP"), 4), (TcpOptionSpec("FOEXP", (1, 2, 3, 4)), 8),
    (TcpOptionSpec("FO", name="TFO_COOKIE"), 10), (TcpOptionSpec("FOEXP", name="X"), 12),
])
def test_options_length_counts_the_cookie(option: TcpOptionSpec, size: int) -> None:
    assert options_length((option,)) == size
    assert options_length((TcpOptionSpec("mss", (1460,)), option)) == size + 4


@pytest.mark.parametrize(("text", "message"), [
    ("FO abc,nop", "odd number of digits"),
    ("FO 12zz,nop,nop", "not a valid hex string"),
    ("FO ab cd", "expected one cookie"),
    ("FO " + "ab" * 39, "exceeds the maximum of 38 bytes"),
    ("FOEXP " + "ab" * 37, "exceeds the maximum of 36 bytes"),
    ("FO 112233", "not padded"),
    ("mss 1460,FO " + "ab" * 36, "too long: 42 bytes"),
])
def test_fo_errors(text: str, message: str) -> None:
    with pytest.raises(DrillSyntaxError, match=message) as info:
        options(text)
    assert not isinstance(info.value, DrillUnsupported)


def test_fast_open_symbols_parse_and_tcpstack_declines_them() -> None:
    script = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                   "+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0\n"
                   "+0 sendto(3, ..., 1000, MSG_FASTOPEN, ..., ...) = 1000\n")
    with pytest.raises(DrillUnsupported, match="not on the tcpstack target") as info:
        TcpstackTarget().prepare(script)
    assert info.value.construct == "TCP Fast Open" and info.value.line == 2


# ----------------------------------------------------------------------
# SipHash-2-4 and the kernel's cookie
# ----------------------------------------------------------------------

# The reference vectors of the SipHash paper (key 00..0f, message 00..n-1), as bytes.
SIPHASH_VECTORS = {
    0: "310e0edd47db6f72", 1: "fd67dc93c539f874", 2: "5a4fa9d909806c0d",
    3: "2d7efbd796666785", 7: "37d1018bf50002ab", 8: "6224939a79f5f593",
    63: "724506eb4c328a95",
}


@pytest.mark.parametrize("length", sorted(SIPHASH_VECTORS))
def test_siphash24_reference_vectors(length: int) -> None:
    result = siphash24(bytes(range(16)), bytes(range(length)))
    assert result.to_bytes(8, "little").hex() == SIPHASH_VECTORS[length]


def test_siphash24_15_byte_vector_of_the_paper() -> None:
    assert siphash24(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5


def test_siphash24_needs_a_16_byte_key() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        siphash24(bytes(8), b"")


def test_kernel_cookie_reproduces_packetdrill_run_all() -> None:
    (key,) = parse_keys(PACKETDRILL_KEY)
    # run_all.py's -D TFO_COOKIE for 192.0.2.1 -> 192.168.0.1 and its IPv6 addresses
    assert kernel_cookie(key, ip_address("192.0.2.1"),
                         ip_address("192.168.0.1")).hex() == "3021b9d889017eeb"
    assert kernel_cookie(key, ip_address("fd3d:fa7b:d17d::1"),
                         ip_address("fd3d:a0b:17d6::1")).hex() == "c1d1e9742a47a9bc"


def test_sysctl_and_setsockopt_keys_agree() -> None:
    # fastopen/server/sockopt-fastopen-key.pkt: the same key both ways gives 00abaaabe8e954c2
    (key,) = parse_keys("a0bf63f7-ed803d81-cd641d30-cebc4a90")
    call = Syscall("setsockopt", ("3", "SOL_TCP", "TCP_FASTOPEN_KEY",
                                  '"\\xf7\\x63\\xbf\\xa0\\x81\\x3d\\x80\\xed\\x30\\x1d'
                                  '\\x64\\xcd\\x90\\x4a\\xbc\\xce"', "16"), 0)
    assert fastopen_key(call) == (key,)
    assert kernel_cookie(key, ip_address("10.248.0.2"),
                         ip_address("192.168.0.2")).hex() == "00abaaabe8e954c2"


def test_parse_keys_primary_and_backup() -> None:
    primary, backup = parse_keys(f"{PACKETDRILL_KEY},00000001-0-0-0")
    assert primary == bytes.fromhex("a1a1a1a1b2b2b2b2c3c3c3c3d4d4d4d4")
    assert backup == bytes([1]) + bytes(15)
    with pytest.raises(ValueError, match="not a Fast Open key"):
        parse_keys("a1a1a1a1-b2b2b2b2")


# ----------------------------------------------------------------------
# Names and translation
# ----------------------------------------------------------------------

SCRIPT = (ip_address("192.0.2.1"), ip_address("192.168.0.1"))
DRILL = (ip_address("198.51.100.2"), ip_address("192.0.2.1"))


def test_script_addresses_default_to_run_all_and_follow_the_options() -> None:
    assert script_addresses({}) == SCRIPT
    assert script_addresses({"ip_version": "ipv6"}) == (ip_address("fd3d:fa7b:d17d::1"),
                                                        ip_address("fd3d:a0b:17d6::1"))
    assert script_addresses({"local_ip": "192.168.0.2", "remote_ip": "10.248.0.2"}) == (
        ip_address("10.248.0.2"), ip_address("192.168.0.2"))


def test_translate_cookie() -> None:
    (key,) = parse_keys(PACKETDRILL_KEY)
    other = bytes(16)
    ours = kernel_cookie(key, *DRILL)
    assert ours != bytes.fromhex("3021b9d889017eeb")
    assert translate_cookie(None, [key, other], SCRIPT, DRILL) == ours
    # the script's cookie for its own addresses, with any key in force, is translated
    assert translate_cookie(bytes.fromhex("3021b9d889017eeb"), [other, key], SCRIPT,
                            DRILL) == ours
    # any other cookie (a client test's, an invalid one) stays as written
    assert translate_cookie(bytes.fromhex("abcd1234"), [key], SCRIPT, DRILL).hex() == "abcd1234"
    with pytest.raises(DrillError, match="no Fast Open key"):
        translate_cookie(None, [], SCRIPT, DRILL)
    # addresses of another family (an IPv4 script run over IPv6): nothing to translate
    six = (ip_address("2001:db8:1::2"), ip_address("2001:db8::1"))
    assert translate_cookie(bytes.fromhex("3021b9d889017eeb"), [key], SCRIPT, six).hex() == \
        "3021b9d889017eeb"
    assert translate_cookie(bytes.fromhex("3021b9d889017eeb"), [key], None, DRILL).hex() == \
        "3021b9d889017eeb"


def test_defines() -> None:
    assert defines({"define": "TFO_COOKIE=3021b9d889017eeb CODE=1"}) == {
        "TFO_COOKIE": "3021b9d889017eeb", "CODE": "1"}
    assert defines({}) == {}


def test_command_line_defines_come_after_the_scripts() -> None:
    script = parse("--define=TFO_COOKIE=aaaa\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
    merged = with_defines(script, ["TFO_COOKIE=bbbb", "CODE=1"])
    assert defines(merged.options) == {"TFO_COOKIE": "bbbb", "CODE": "1"}
    assert with_defines(script, []) is script
    with pytest.raises(SystemExit):
        main(["drill", "-D", "TFO_COOKIE", "x.pkt"])


@dataclass
class Translator:
    seen: list[bytes | None]

    def fastopen_cookie(self, written: bytes | None) -> bytes:
        self.seen.append(written)
        return b"\x01" * 8 if written is None else written[::-1]


def test_resolve_cookie() -> None:
    translator = Translator([])
    named = TcpOptionSpec("FO", name="TFO_COOKIE")
    assert resolve_cookie(named, {}, translator) == b"\x01" * 8
    assert resolve_cookie(named, {"define": "TFO_COOKIE=0102"}, translator) == b"\x02\x01"
    assert resolve_cookie(TcpOptionSpec("FO", (1, 2, 3, 4)), {}, None) == b"\x01\x02\x03\x04"
    assert translator.seen == [None, b"\x01\x02"]
    with pytest.raises(DrillError, match="MY_COOKIE is not defined"):
        resolve_cookie(TcpOptionSpec("FO", name="MY_COOKIE"), {}, translator)
    with pytest.raises(DrillError, match="TFO_COOKIE is not defined"):
        resolve_cookie(named, {}, None)  # a target that cannot compute it
    with pytest.raises(DrillError, match="not a hex string"):
        resolve_cookie(named, {"define": "TFO_COOKIE=xyz"}, translator)


def test_wire_forms() -> None:
    assert wire_option("FO", b"") == UnknownOption(34, b"")
    assert wire_option("FOEXP", b"\xab\xcd") == UnknownOption(254, b"\xf9\x89\xab\xcd")
    assert option_matches("FOEXP", b"\xab\xcd", UnknownOption(254, b"\xf9\x89\xab\xcd"))
    assert not option_matches("FO", b"\xab\xcd", UnknownOption(254, b"\xf9\x89\xab\xcd"))
    assert not option_matches("FO", b"", UnknownOption(34, b"\x00\x00"))
    assert option_text(UnknownOption(34, b"")) == "FO"
    assert option_text(UnknownOption(254, b"\xf9\x89\x12\x34")) == "FOEXP 1234"
    assert option_text(UnknownOption(254, b"\x00\x00")) is None
    assert option_text(Mss(1460)) is None


# ----------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------


@dataclass
class CookieTarget(FakeTarget):
    """A fake target that runs Fast Open: cookies are translated by reversing them."""

    def fastopen_cookie(self, written: bytes | None) -> bytes:
        return b"\x77" * 8 if written is None else written[::-1]


SERVER = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:10(10) win 1000 <mss 1460,FO TFO_COOKIE,nop,nop>
+0 > S. 0:0(0) ack 11 <mss 1460,FO 12345678,nop,nop>
"""


def _syn_ack(cookie: str) -> tuple[float, bytes]:
    return out(0.0, Flags.SYN | Flags.ACK, ISS, PEER_ISN + 11,
               options=(Mss(1460), UnknownOption(34, bytes.fromhex(cookie)), Nop(), Nop()))


def test_runner_sends_and_compares_translated_cookies() -> None:
    target = CookieTarget([_syn_ack("78563412")])
    result = run(SERVER, target)
    assert result.passed, result.failure
    ((_, syn),) = target.injected
    assert syn.options[1] == UnknownOption(34, b"\x77" * 8)
    assert len(syn.payload) == 10


def test_runner_fails_on_a_cookie_other_than_the_translated_one() -> None:
    result = run(SERVER, CookieTarget([_syn_ack("12345678")]))
    assert not result.passed and result.failure is not None
    assert "options <mss 1460,FO 12345678,nop,nop>" in result.failure.message


def test_a_syn_written_with_an_isn_numbers_the_peer_from_it() -> None:
    # packetdrill: '< S 1000:1000(0)' is the peer's ISN; '< . 1:1(0)' the next byte,
    # and '> S. 1234:1234(0)' names the tested TCP's ISN, whatever it is.
    target = FakeTarget([out(0.0, Flags.SYN | Flags.ACK, ISS, PEER_ISN + 1001),
                         out(0.2, Flags.ACK, ISS + 1, PEER_ISN + 1002)])
    result = run("""\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 1000:1000(0) win 1000
+0 > S. 1234:1234(0) ack 1001
+.1 < . 1:2(1) ack 1 win 1000
+.1 > . 1:1(0) ack 2
""", target)
    assert result.passed, result.failure
    (_, syn), (_, data) = target.injected
    assert (syn.seq, data.seq, data.ack) == (PEER_ISN + 1000, PEER_ISN + 1001, ISS + 1)


def test_each_listen_gets_a_connection_from_a_new_peer_port() -> None:
    listen = "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n"
    target = FakeTarget([out(0.0, Flags.SYN | Flags.ACK, ISS, PEER_ISN + 1),
                         out(0.1, Flags.SYN | Flags.ACK, ISS, PEER_ISN + 1,
                             dport=PEER_PORT + 1)])
    result = run(listen.replace("+0", "0", 1) + "+0 < S 0:0(0) win 1000\n"
                 "+0 > S. 0:0(0) ack 1\n+.1 close(3) = 0\n" + listen
                 + "+0 < S 0:0(0) win 1000\n+0 > S. 0:0(0) ack 1\n", target)
    assert result.passed, result.failure
    assert [seg.src_port for _, seg in target.injected] == [PEER_PORT, PEER_PORT + 1]


def test_deferred_packets_of_an_abandoned_connection_are_dropped() -> None:
    # fd 3's FIN (after close) and a SYN it sent before the new socket() are not the
    # new connection's: packetdrill filters them; drill does too with --unexpected defer.
    text = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 connect(3, ..., ...) = -1 EINPROGRESS
+0 > S 0:0(0)
+.1 close(3) = 0
+.1 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0 connect(4, ..., ...) = -1 EINPROGRESS
+0 > S 0:0(0)
"""
    packets = [out(0.0, Flags.SYN, 700, sport=50000, dport=8080),
               out(0.15, Flags.SYN, 700, sport=50000, dport=8080),
               out(0.2, Flags.SYN, 900, sport=50001, dport=8080)]
    assert run(text, FakeTarget(list(packets)), unexpected="defer").passed
    strict = run(text, FakeTarget(list(packets)), unexpected="fail")
    assert not strict.passed


def test_tolerance_percent_widens_the_window_after_a_long_wait() -> None:
    text = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 connect(3, ..., ...) = -1 EINPROGRESS
+0 > S 0:0(0)
+1 > S 0:0(0)
"""
    packets = [out(0.0, Flags.SYN, 700, sport=50000, dport=8080),
               out(1.05, Flags.SYN, 700, sport=50000, dport=8080)]
    assert not run(text, FakeTarget(list(packets))).passed  # 50 ms late, 4 ms tolerance
    assert run("--tolerance_percent=12.5\n" + text, FakeTarget(list(packets))).passed


# ----------------------------------------------------------------------
# The Linux target's requests
# ----------------------------------------------------------------------


def test_sendto_with_msg_fastopen_goes_to_the_peer() -> None:
    req, _ = build_request(Syscall("sendto", ("3", "...", "1000", "MSG_FASTOPEN", "...",
                                              "..."), 1000))
    assert req["call"] == "sendto" and req["flags"] == 0x20000000
    assert (req["host"], req["port"], req.get("null", False)) == ("198.51.100.2", 8080, False)
    req, _ = build_request(Syscall("sendto", ("3", "NULL", "1", "MSG_FASTOPEN", "AF_UNSPEC",
                                              "..."), -1))
    assert req["family_only"] == socket.AF_UNSPEC and req["null"] is True


def test_sendmsg_with_a_name_goes_to_the_peer() -> None:
    msg = "{msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}"
    req, _ = build_request(Syscall("sendmsg", ("4", msg, "MSG_FASTOPEN"), 1000))
    assert (req["host"], req["port"], req["lengths"]) == ("198.51.100.2", 8080, [1000])
    req, _ = build_request(Syscall("sendmsg", ("4", msg.replace("msg_name(...)=..., ", ""),
                                               "0"), 1000))
    assert "host" not in req


def test_setsockopt_with_a_string_passes_its_bytes_and_length() -> None:
    key = '"\\xf7\\x63' + "\\x00" * 14 + '"'
    req, _ = build_request(Syscall("setsockopt", ("3", "SOL_TCP", "TCP_FASTOPEN_KEY", key,
                                                  "16"), 0))
    assert req["kind"] == "bytes" and req["value"] == [0xF7, 0x63] + [0] * 14
    req, _ = build_request(Syscall("setsockopt", ("3", "SOL_TCP", "TCP_FASTOPEN_KEY", '""',
                                                  "3"), -1))
    assert req["value"] == [0, 0, 0]
    assert fastopen_key(Syscall("setsockopt", ("3", "SOL_TCP", "TCP_FASTOPEN_KEY", '""', "3"),
                                -1)) == ()
    assert fastopen_key(Syscall("setsockopt", ("3", "SOL_TCP", "TCP_FASTOPEN_KEY",
                                               '"' + "a" * 32 + '"', "32"), 0)) == (
        b"a" * 16, b"a" * 16)
