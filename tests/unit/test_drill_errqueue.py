"""The socket error queue in drill: recvmsg(MSG_ERRQUEUE) control messages holding a
``struct scm_timestamping`` or a ``struct sock_extended_err`` (SO_TIMESTAMPING,
MSG_ZEROCOPY completions): parsing, the names run_all.py defines, the feature the
tcpstack target declines, the Linux target's requests and decoding, and the runner's
comparison (timestamps within the tolerance, at the script's time as written)."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from test_drill_runner import FakeTarget, failure, run

from tcpstack.harness.drill.args import Cmsg, cmsg_defines, cmsgs_arg
from tcpstack.harness.drill.features import script_features
from tcpstack.harness.drill.model import DrillUnsupported, Syscall
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.symbols import SYMBOLS
from tcpstack.harness.drill.target import SyscallResult
from tcpstack.harness.drill.targets.linux import LinuxTarget
from tcpstack.harness.drill.targets.linux_agent import _cmsg_data
from tcpstack.harness.drill.targets.linux_args import Endpoints, build_request, outputs
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

FEATURES = Path(__file__).resolve().parents[1] / "drill_features"

TS = "{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=1, scm_nsec=5}}"
EE = ("{cmsg_level=CMSG_LEVEL_IP, cmsg_type=CMSG_TYPE_RECVERR, cmsg_data={ee_errno=ENOMSG, "
      "ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_ACK, "
      "ee_data=599}}")
ZC = ("{cmsg_level=SOL_IPV6, cmsg_type=IPV6_RECVERR, cmsg_data={ee_errno=0, "
      "ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, "
      "ee_info=2, ee_data=7}}")


def test_error_queue_control_messages_parse() -> None:
    ts, ee = cmsgs_arg(f"[{TS}, {EE}]")
    assert ts == Cmsg(1, 37, timestamp=(1, 5))
    assert ee == Cmsg(0, 11, extended_err=(42, 4, 0, 0, 2, 599))
    assert (ts.size, ee.size) == (48, 32)  # three timespecs; the error and a sockaddr_in
    (zc,) = cmsgs_arg(f"[{ZC}]")
    assert zc == Cmsg(41, 25, extended_err=(0, 5, 0, 1, 2, 7)) and zc.size == 44


def test_cmsg_names_are_run_alls_for_the_ip_version_unless_defined() -> None:
    assert cmsg_defines("ipv4", {}) == {"CMSG_LEVEL_IP": "SOL_IP",
                                        "CMSG_TYPE_RECVERR": "IP_RECVERR"}
    for version in ("ipv6", "ipv4-mapped-ipv6"):
        (ee,) = cmsgs_arg(f"[{EE}]", cmsg_defines(version, {}))
        assert (ee.level, ee.type, ee.size) == (41, 25, 44)
    (ee,) = cmsgs_arg(f"[{EE}]", cmsg_defines("ipv6", {"CMSG_LEVEL_IP": "7"}))
    assert ee.level == 7


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{scm_sec=0}", "expected {scm_sec=S, scm_nsec=N}"),
        ("{scm_nsec=1, scm_sec=0}", "expected {scm_sec=S, scm_nsec=N}"),
        ("{scm_sec=0, scm_nsec=1000000000}", "0 <= scm_nsec < 1e9"),
        ("{ee_errno=0, ee_origin=0, ee_type=0, ee_code=0, ee_info=0}", "in this order"),
        ("{ee_errno=0, ee_origin=NOPE, ee_type=0, ee_code=0, ee_info=0, ee_data=0}",
         "'NOPE'"),
        ("{a=1}", "cmsg_data other than"),
        ("[1, 2]", "cmsg_data other than"),
    ],
)
def test_malformed_error_queue_data_is_refused(data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("[", r"\[")):
        cmsgs_arg(f"[{{cmsg_level=1, cmsg_type=37, cmsg_data={data}}}]")


def test_timestamping_and_error_queue_symbols_have_linux_values() -> None:
    flags = ("SOF_TIMESTAMPING_TX_SCHED|SOF_TIMESTAMPING_TX_SOFTWARE|SOF_TIMESTAMPING_TX_ACK"
             "|SOF_TIMESTAMPING_SOFTWARE|SOF_TIMESTAMPING_OPT_ID")
    assert sum(SYMBOLS[f] for f in flags.split("|")) == 0x392
    assert (SYMBOLS["SCM_TSTAMP_SND"], SYMBOLS["SCM_TSTAMP_SCHED"],
            SYMBOLS["SCM_TSTAMP_ACK"]) == (0, 1, 2)
    assert SYMBOLS["SO_EE_ORIGIN_TIMESTAMPING"] == SYMBOLS["SO_EE_ORIGIN_TXSTATUS"] == 4
    assert SYMBOLS["SO_EE_ORIGIN_ZEROCOPY"] == 5


@pytest.mark.parametrize(("name", "feature"), [
    ("tx_timestamp_ack.pkt", "transmit timestamps"),
    ("zerocopy_completion.pkt", "zero-copy notifications"),
])
def test_error_queue_scripts_parse_and_name_what_they_read(name: str, feature: str) -> None:
    script = parse((FEATURES / name).read_text(), name)
    assert feature in script_features(script)
    assert feature in LinuxTarget.FEATURES


def test_tcpstack_declines_zero_copy_notifications() -> None:
    script = parse((FEATURES / "zerocopy_completion.pkt").read_text(), "zerocopy_completion.pkt")
    with pytest.raises(DrillUnsupported) as info:
        TcpstackTarget().prepare(script)
    assert str(info.value).endswith(
        "unsupported: zero-copy notifications (not on the tcpstack target)")


def test_tcpstack_stamps_transmits_on_the_error_queue() -> None:
    """SO_TIMESTAMPING on the tcpstack target: nothing before the ACK (EAGAIN), then
    the ACK stamp of the write's last byte (key 599) at the ACK's time."""
    result = run_script(parse((FEATURES / "tx_timestamp_ack.pkt").read_text(),
                              "tx_timestamp_ack.pkt"), TcpstackTarget())
    assert result.passed, result.failure


def test_tcpstack_stamp_order_and_keys() -> None:
    """A write stamped SCHED and SND when sent and ACK when acknowledged, its key
    counting from SND.UNA when OPT_ID was set; a wrong key fails the script."""
    # The passive open of tx_timestamp_ack.pkt, up to its accept().
    accept = "+0  accept(3, ..., ...) = 4\n"
    opening = (FEATURES / "tx_timestamp_ack.pkt").read_text().split(accept)[0]
    text = opening + accept + """\
+0  write(4, ..., 100) = 100
+0  > P. 1:101(100) ack 1
+0  < . 1:1(0) ack 101 win 1000
+0  setsockopt(4, SOL_SOCKET, SO_TIMESTAMPING, [SOF_TIMESTAMPING_TX_SCHED |
      SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_TX_ACK |
      SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID], 4) = 0
+0  write(4, ..., 300) = 300
+0  > P. 101:401(300) ack 1
+.02 < . 1:1(0) ack 401 win 1000
""" + "".join(
        f"""+0  recvmsg(4, {{msg_iov(1)=[{{..., 0}}], msg_flags=MSG_ERRQUEUE|MSG_TRUNC,
      msg_control=[{{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING,
                     cmsg_data={{scm_sec=0, scm_nsec={ns}}}}},
                   {{cmsg_level=CMSG_LEVEL_IP, cmsg_type=CMSG_TYPE_RECVERR,
                     cmsg_data={{ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING,
                                ee_type=0, ee_code=0, ee_info={info}, ee_data={key}}}}}]}},
      MSG_ERRQUEUE) = 0
""" for info, ns, key in (("SCM_TSTAMP_SCHED", 10000000, 299),
                          ("SCM_TSTAMP_SND", 10000000, 299),
                          ("SCM_TSTAMP_ACK", 30000000, 299)))
    ok = run_script(parse(text, "stamps.pkt"), TcpstackTarget())
    # Keys count from SND.UNA when OPT_ID was set (byte 101): the last byte is 299;
    # counted from the connection's first byte it would be 399, which must fail.
    assert ok.passed, ok.failure
    wrong = text.replace("ee_data=299", "ee_data=399", 1)
    assert wrong != text
    assert not run_script(parse(wrong, "stamps.pkt"), TcpstackTarget()).passed


# --- the Linux target: request and decoding (pure: no namespace) --------------------


def test_linux_recvmsg_request_has_room_for_the_expected_messages() -> None:
    msg = f"{{msg_iov(1)=[{{..., 0}}], msg_control=[{TS}, {EE}]}}"
    call = Syscall("recvmsg", ("4", msg, "MSG_ERRQUEUE"), 0)
    req, kind = build_request(call)
    assert (kind, req["cmsgs"], req["flags"]) == ("msg", 2, 0x2000)
    assert req["cmsg_room"] == socket.CMSG_SPACE(48) + socket.CMSG_SPACE(32)
    req, _ = build_request(call, Endpoints.from_options({"ip_version": "ipv6"}))
    assert req["cmsg_room"] == socket.CMSG_SPACE(48) + socket.CMSG_SPACE(44)


def test_the_agent_decodes_timestamps_and_extended_errors() -> None:
    now = time.time()
    stamps = struct.pack("=qqqqqq", int(now), int(now % 1 * 1e9), 0, 0, 0, 0)
    t = _cmsg_data(socket.SOL_SOCKET, 37, stamps)["ts"]
    assert abs(t - time.monotonic()) < 0.5  # CLOCK_REALTIME became the monotonic clock
    ee = struct.pack("=IBBBBII", 42, 4, 0, 0, 0, 2, 599) + bytes(16)
    assert _cmsg_data(socket.SOL_IP, 11, ee) == {"ee": [42, 4, 0, 0, 2, 599]}
    assert _cmsg_data(41, 25, ee + bytes(12)) == {"ee": [42, 4, 0, 0, 2, 599]}
    assert _cmsg_data(6, 36, struct.pack("=i", 9)) == 9
    assert _cmsg_data(6, 36, b"12345") == -1


def test_outputs_report_timestamps_since_the_start_in_microseconds() -> None:
    out = [0x2020, [[1, 37, 48, {"ts": 100.25}], [0, 11, 32, {"ee": [42, 4, 0, 0, 2, 599]}]]]
    assert outputs("msg", out, t0=100.0) == {
        "msg_flags": 0x2020, "cmsg_count": 2,
        "cmsg_level[0]": 1, "cmsg_type[0]": 37, "cmsg_len[0]": 48, "cmsg_ts[0]": 250000,
        "cmsg_level[1]": 0, "cmsg_type[1]": 11, "cmsg_len[1]": 32, "ee_errno[1]": 42,
        "ee_origin[1]": 4, "ee_type[1]": 0, "ee_code[1]": 0, "ee_info[1]": 2,
        "ee_data[1]": 599}


# --- the runner's comparison --------------------------------------------------------


def _recvmsg_line(sec: int, nsec: int) -> str:
    ts = TS.replace("scm_sec=1, scm_nsec=5", f"scm_sec={sec}, scm_nsec={nsec}")
    return (f"recvmsg(3, {{msg_iov(1)=[{{..., 0}}], msg_flags=MSG_ERRQUEUE|MSG_TRUNC, "
            f"msg_control=[{ts}, {EE}]}}, MSG_ERRQUEUE) = 0\n")


def _errqueue_target(ts_usecs: int, ee_data: int = 599, late: float = 0.0) -> FakeTarget:
    """Its read blocks ``late`` s; its recvmsg returns a timestamp at ``ts_usecs``."""
    def read(call: Syscall, t: float) -> SyscallResult:
        target.t = t + late
        return SyscallResult(10, None, t + late)

    def recvmsg(call: Syscall, t: float) -> SyscallResult:
        return SyscallResult(0, None, t, {
            "msg_flags": 0x2020, "cmsg_count": 2, "cmsg_level[0]": 1, "cmsg_type[0]": 37,
            "cmsg_len[0]": 48, "cmsg_ts[0]": ts_usecs, "cmsg_level[1]": 0,
            "cmsg_type[1]": 11, "cmsg_len[1]": 32, "ee_errno[1]": 42, "ee_origin[1]": 4,
            "ee_type[1]": 0, "ee_code[1]": 0, "ee_info[1]": 2, "ee_data[1]": ee_data})

    target = FakeTarget([], replies={"read": read, "recvmsg": recvmsg})  # type: ignore[arg-type]
    return target


SOCKET = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"


def test_error_queue_messages_are_compared_field_by_field() -> None:
    text = SOCKET + "+0.1 " + _recvmsg_line(0, 100_000_000)
    assert run(text, _errqueue_target(101_000)).passed  # 1 ms off: within 4 ms
    message = failure(run(text, _errqueue_target(110_000))).message
    assert message == "recvmsg() cmsg_ts[0] is 0.110000 s, expected 0.100000 s"
    message = failure(run(text, _errqueue_target(100_000, ee_data=598))).message
    assert message == "recvmsg() ee_data[1] is 598, expected 599"
    # A timestamp written as 0 is not compared (packetdrill).
    assert run(SOCKET + "+0.1 " + _recvmsg_line(0, 0), _errqueue_target(5)).passed


def test_a_timestamp_is_the_script_time_as_written_shifted_as_its_line() -> None:
    # The read blocks until 30 ms, so the recvmsg written at 10 ms runs at 30 ms:
    # the time it names, 10 ms as written, is 30 ms on the target.
    text = (SOCKET + "+0...0.03 read(3, ..., 10) = 10\n"
            "+0.01 " + _recvmsg_line(0, 10_000_000))
    assert run(text, _errqueue_target(30_000, late=0.03)).passed
    message = failure(run(text, _errqueue_target(10_000, late=0.03))).message
    assert message == "recvmsg() cmsg_ts[0] is 0.010000 s, expected 0.030000 s"
