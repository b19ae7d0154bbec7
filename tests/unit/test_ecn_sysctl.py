"""The drill target's reading of the ECN sysctls (docs/drill-sysctl.md): Linux
``net.ipv4.tcp_ecn`` 0/1/2 and ``tcp_ecn_fallback``, FreeBSD ``net.inet.tcp.ecn.enable``."""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.harness.drill.sysctl import ShellReader, Sysctls

BASE = TcpConfig.linux()


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        ("sysctl -q net.ipv4.tcp_ecn=0", "ecn", "off"),
        ("sysctl -q net.ipv4.tcp_ecn=1", "ecn", "on"),
        ("sysctl -q net.ipv4.tcp_ecn=2", "ecn", "passive"),
        ("sysctl -q net.ipv4.tcp_ecn_fallback=0", "ecn_fallback", False),
        ("sysctl -w net.inet.tcp.ecn.enable=1", "ecn", "on"),
        ("sysctl -w net.inet.tcp.ecn.enable=2", "ecn", "passive"),
        ("sysctl -w net.inet.tcp.ecn.enable=0", "ecn", "off"),
    ],
)
def test_ecn_settings_map_onto_the_config(command: str, field: str, value: object) -> None:
    sysctls = Sysctls()
    outcome = ShellReader(sysctls, BASE).run(command, ".")
    assert outcome.status == 0 and outcome.output == ""
    assert getattr(sysctls.config(BASE, passive=False), field) == value


def test_accecn_modes_are_reported_ignored() -> None:
    sysctls = Sysctls()
    outcome = ShellReader(sysctls, BASE).run("sysctl -q net.ipv4.tcp_ecn=3", ".")
    assert outcome.output == ("ignored: net.ipv4.tcp_ecn (tcpstack has RFC 3168 ECN only, "
                              "not AccECN; it keeps ecn=passive)")
    assert sysctls.config(BASE, passive=False).ecn == "passive"
