"""Optional features a target may decline: found per script, refused per target."""

from __future__ import annotations

import pytest

from tcpstack.harness.drill.features import require_features, script_features
from tcpstack.harness.drill.model import (
    DrillUnsupported,
    Event,
    PacketSpec,
    Script,
    Syscall,
    TcpOptionSpec,
    Timing,
)
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget


def _script(*actions: PacketSpec | Syscall) -> Script:
    events = tuple(Event(line=10 + i, timing=Timing("rel"), action=a)
                   for i, a in enumerate(actions))
    return Script(path="x.pkt", events=events)


SOCKET = Syscall("socket", ("...", "SOCK_STREAM", "IPPROTO_TCP"), 3)
FO_SYN = PacketSpec("<", "S", 0, 0, 0, win=1000,
                    options=(TcpOptionSpec("mss", (1460,)), TcpOptionSpec("FO", ())))
SENDTO = Syscall("sendto", ("3", "...", "1000", "MSG_FASTOPEN", "...", "..."), 1000)


def test_a_plain_script_uses_no_optional_feature() -> None:
    assert script_features(_script(SOCKET)) == {}


def test_fast_open_is_found_in_options_and_calls_at_its_first_line() -> None:
    assert script_features(_script(SOCKET, FO_SYN)) == {"TCP Fast Open": 11}
    assert script_features(_script(SOCKET, SENDTO, FO_SYN)) == {"TCP Fast Open": 11}


def test_a_missing_feature_is_unsupported_on_that_target_only() -> None:
    script = _script(SOCKET, SENDTO)
    with pytest.raises(DrillUnsupported) as info:
        require_features(script, frozenset(), "tcpstack")
    assert info.value.construct == "TCP Fast Open"
    assert info.value.line == 11
    assert "not on the tcpstack target" in str(info.value)
    require_features(script, frozenset({"TCP Fast Open"}), "linux")


def test_the_tcpstack_target_declines_fast_open_in_prepare() -> None:
    with pytest.raises(DrillUnsupported, match="TCP Fast Open"):
        TcpstackTarget().prepare(_script(SOCKET, FO_SYN))
