"""Reading sysctl settings out of a script's shell commands (harness/drill/sysctl.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpstack.config import TcpConfig
from tcpstack.harness.drill.model import Event, Script, Shell, Timing
from tcpstack.harness.drill.parse import parse
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.sysctl import ShellOutcome, ShellReader, Sysctls, canonical_name
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

BASE = TcpConfig.linux()

SETUP = """\
#!/bin/sh
# A setup script in the style of the suites' common scripts.
ip tcp_metrics flush all > /dev/null 2>&1
sysctl -q net.ipv4.tcp_rmem="4096 540000 $((15*1024*1024))"
sysctl -q net.ipv4.tcp_wmem="4096 $((256*1024)) 4194304"
sysctl -q net.ipv4.tcp_sack=1 net.ipv4.tcp_timestamps=1
sysctl -q net.ipv4.tcp_fack=1   # no tcpstack equivalent
sysctl -q net.ipv4.tcp_notsent_lowat=4294967295 > /dev/null 2>&1
tc qdisc add dev tun0 root pfifo
"""


def reader() -> tuple[Sysctls, ShellReader]:
    sysctls = Sysctls()
    return sysctls, ShellReader(sysctls, BASE)


def test_canonical_names() -> None:
    assert canonical_name("net/ipv4/tcp_sack") == "net.ipv4.tcp_sack"
    assert canonical_name("/proc/sys/net/ipv4/tcp_sack") == "net.ipv4.tcp_sack"
    assert canonical_name("net.inet.tcp.rfc1323") == "net.inet.tcp.rfc1323"


def test_a_setup_script_is_read_line_by_line(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "setup.sh").write_text(SETUP)
    (tmp_path / "tcp").mkdir()
    sysctls, shell = reader()
    outcome = shell.run("../common/setup.sh", str(tmp_path / "tcp"))
    assert outcome.status == 0, outcome.output
    assert sysctls.values["net.ipv4.tcp_rmem"] == "4096 540000 15728640"
    assert sysctls.values["net.ipv4.tcp_wmem"] == "4096 262144 4194304"
    assert outcome.output == "ignored: net.ipv4.tcp_fack (tcpstack has no FACK)"
    config = sysctls.config(BASE, passive=True)
    assert (config.recv_buffer, config.recv_buffer_max, config.send_buffer) == (
        540000, 15 * 1024 * 1024, 262144)
    # Reported once per run, not again.
    assert shell.run("../common/setup.sh", str(tmp_path / "tcp")).output == ""
    assert list(sysctls.ignored) == ["net.ipv4.tcp_fack"]


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        ("sysctl -q net.ipv4.tcp_sack=0", "sack", False),
        ("sysctl -w net/ipv4/tcp_timestamps=0", "timestamps", False),
        ("echo 0 > /proc/sys/net/ipv4/tcp_window_scaling", "window_scaling", False),
        ("sysctl -q net.ipv4.tcp_reordering=5", "dupthresh", 5),
        ("sysctl -q net.ipv4.tcp_early_retrans=0", "tail_loss_probe", False),
        ("sysctl -q net.ipv4.tcp_slow_start_after_idle=0", "slow_start_after_idle", False),
        ("sysctl -q net.ipv4.tcp_fin_timeout=30", "fin_wait_2_timeout", 30),
        ("sysctl -q net.ipv4.tcp_orphan_retries=3", "orphan_retries", 3),
        ("sysctl -q net.ipv4.tcp_orphan_retries=0", "orphan_retries", 8),
        ("sysctl -q net.ipv4.tcp_syncookies=2", "syncookies", "always"),
        ("sysctl -q net.ipv4.tcp_syncookies=0", "syncookies", "off"),
        ("sysctl -q net.ipv4.tcp_max_syn_backlog=4096", "max_syn_backlog", 4096),
        ("sysctl -q net.ipv4.tcp_max_tw_buckets=10", "max_time_wait", 10),
        ("sysctl -q net.ipv4.tcp_keepalive_time=$((60*10))", "keepalive_idle", 600),
        ("sysctl -q net.ipv4.tcp_congestion_control=reno", "congestion_control", "reno"),
        ("sysctl -w net.inet.tcp.rfc1323=0", "timestamps", False),
        ("sysctl -w net.inet.tcp.recvspace=65536", "recv_buffer", 65536),
        ("sysctl -w net.inet.tcp.rexmit_initial=1000", "rto_initial", 1.0),
        ("false || sysctl -q net.ipv4.tcp_sack=0", "sack", False),
        ("true && sysctl -q net.ipv4.tcp_sack=0; true", "sack", False),
    ],
)
def test_settings_map_onto_the_config(command: str, field: str, value: object) -> None:
    sysctls, shell = reader()
    outcome = shell.run(command, ".")
    if command.startswith("false"):
        assert outcome.status == 0 or "does not run" in outcome.output
    config = sysctls.config(BASE, passive=False)
    assert getattr(config, field) == value, outcome


def test_syn_retries_apply_to_their_side() -> None:
    sysctls, shell = reader()
    assert shell.run("sysctl -q net.ipv4.tcp_syn_retries=2 "
                     "net.ipv4.tcp_synack_retries=3", ".").status == 0
    # 1 + 2 + 4 s for two retries from a 1 s initial RTO; 15 s for three.
    assert sysctls.config(BASE, passive=False).r2_syn == 7.0
    assert sysctls.config(BASE, passive=True).r2_syn == 15.0
    assert sysctls.config(BASE, passive=True).synack_retries == 3
    assert sysctls.config(BASE, passive=False).synack_retries == TcpConfig().synack_retries


def test_set_sysctls_helper_and_its_restore_script() -> None:
    sysctls, shell = reader()
    outcome = shell.run("../common/set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0 \\\n"
                        "   /proc/sys/net/ipv4/tcp_min_tso_segs=10", ".")
    assert outcome.status == 0
    assert "ignored: net.ipv4.tcp_min_tso_segs" in outcome.output
    assert sysctls.config(BASE, passive=False).sack is False
    assert shell.run("/tmp/sysctl_restore_${PPID}.sh", ".").status == 0
    assert sysctls.config(BASE, passive=False).sack is True


@pytest.mark.parametrize(
    "command",
    [
        "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 1460",
        "sockstat -4 -P tcp -s | grep -c TIME_WAIT",
        "nstat | grep TcpExtOutOfWindowIcmps",
        "./no-such-script.sh",
    ],
)
def test_other_commands_are_refused(command: str) -> None:
    _, shell = reader()
    outcome = shell.run(command, ".")
    assert outcome.status == 1
    assert "tcpstack target does not run shell commands" in outcome.output


def test_harmless_commands_succeed() -> None:
    _, shell = reader()
    for command in ("ip tcp_metrics flush all > /dev/null 2>&1", "tc qdisc add dev tun0 root "
                    "pfifo", "nstat > /dev/null", "true", "sysctl -w "
                    "net.inet.tcp.hostcache.purgenow=1"):
        assert shell.run(command, ".") == shell.run("true", "."), command


def test_invalid_values_fail() -> None:
    sysctls, shell = reader()
    outcome = shell.run('sysctl -q net.ipv4.tcp_rmem="4096 1 2"', ".")
    assert outcome.status == 1
    assert "invalid value" in outcome.output
    assert "net.ipv4.tcp_rmem" not in sysctls.values


def _syn_ack_wscale(target: TcpstackTarget) -> int:
    script = parse(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
        "+0 listen(3, 1) = 0\n"
        "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n"
        "+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n",
        "t.pkt",
    )
    return 8 if run_script(script, target).passed else -1


def test_rmem_max_of_15_mib_offers_window_scale_8(tmp_path: Path) -> None:
    (tmp_path / "setup.sh").write_text(SETUP)
    target = TcpstackTarget()
    script = Script(str(tmp_path / "x.pkt"),
                    (Event(1, Timing("abs"), Shell("./setup.sh")),))
    target.prepare(script)
    result = target.shell("./setup.sh", str(tmp_path))
    assert result.status == 0
    assert target.ignored_settings == ["net.ipv4.tcp_fack (tcpstack has no FACK)"]
    assert _syn_ack_wscale(target) == 8
    # Without the settings the default 64 KiB buffer needs no scaling: wscale 0.
    assert _syn_ack_wscale(TcpstackTarget()) == -1


def test_ethtool_switches_offload() -> None:
    sysctls, shell = reader()
    assert shell.run("ethtool -K tun0 tso off gso off", ".").status == 0
    assert sysctls.config(BASE.__class__(tso=True), passive=False).tso is False
    assert shell.run("ethtool -K tun0 tso on", ".").status == 0
    assert sysctls.config(BASE, passive=False).tso is True
    assert shell.run("ethtool -K tun0 tso maybe", ".").status == 1


def test_module_parameters_are_reported_ignored() -> None:
    sysctls, shell = reader()
    outcome = shell.run("echo 3 > /sys/module/tcp_cubic/parameters/hystart_detect", ".")
    assert outcome == ShellOutcome(0, "ignored: tcp_cubic.hystart_detect (no tcpstack "
                                      "equivalent)")
    assert "tcp_cubic.hystart_detect" in sysctls.ignored
