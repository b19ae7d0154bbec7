"""Features a script uses that not every target runs.

The parser accepts the whole packetdrill language that TCP scripts use; some
of it is a feature one target has and the other lacks (TCP Fast Open runs on
the Linux target, not on tcpstack). :func:`script_features` names each such
feature a script uses, with the first line that uses it; a target's
``prepare`` compares them with what it runs and raises
:class:`~tcpstack.harness.drill.model.DrillUnsupported` for the first it
lacks, so a suite run reports the script as "unsupported: <feature>" on that
target only.

Each feature is recognised by one rule in :data:`FEATURE_RULES`: a function
from one event's action to True when the action uses the feature.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .model import Action, DrillUnsupported, IcmpSpec, PacketSpec, Script, Shell, Syscall

__all__ = ["FEATURE_RULES", "FeatureRule", "require_features", "script_features"]

FeatureRule = Callable[[Action], bool]
"""True when one event's action uses the feature."""

def _mentions(*words: str) -> FeatureRule:
    """A rule: the action is a call with one of ``words`` in its arguments."""
    return lambda action: isinstance(action, Syscall) and any(
        word in arg for arg in action.args for word in words)


_calls_fast_open = _mentions("MSG_FASTOPEN", "TCP_FASTOPEN")


def _uses_fast_open(action: Action) -> bool:
    if isinstance(action, PacketSpec):
        return any(o.kind in ("FO", "FOEXP") for o in action.options or ())
    return _calls_fast_open(action)


def _uses_icmp(action: Action) -> bool:
    return isinstance(action, IcmpSpec)


_FREEBSD_SYSCTL = re.compile(r"\bsysctl\b.*\b(?:net\.inet6?|kern\.ipc)\.")


def _sets_freebsd_sysctls(action: Action) -> bool:
    """A shell line setting FreeBSD's sysctls (``sysctl -w net.inet.tcp.sack.enable=1``),
    as every script of freebsd-net/tcp-testsuite does: Linux has no such names (the
    kernel refuses them, so packetdrill on Linux fails these scripts at that line);
    the tcpstack target maps them (:mod:`~tcpstack.harness.drill.sysctl`)."""
    return isinstance(action, Shell) and _FREEBSD_SYSCTL.search(action.command) is not None


def _calls(*names: str) -> FeatureRule:
    """A rule: the action is a call of one of ``names``."""
    return lambda action: isinstance(action, Syscall) and action.name in names


FEATURE_RULES: dict[str, FeatureRule] = {
    "TCP Fast Open": _uses_fast_open,
    "ICMP packets": _uses_icmp,
    "sendfile": _calls("open", "sendfile"),
    "splice": _calls("pipe", "splice"),
    "FreeBSD sysctls": _sets_freebsd_sysctls,
    # What recvmsg(..., MSG_ERRQUEUE) reads: zero-copy completion notices (their
    # origin SO_EE_ORIGIN_ZEROCOPY; a MSG_ZEROCOPY send alone is a plain send), and
    # transmit timestamps (SO_TIMESTAMPING's SCHED, SND and ACK stamps).
    "zero-copy notifications": _mentions("SO_EE_ORIGIN_ZEROCOPY"),
    "transmit timestamps": _mentions("SO_TIMESTAMPING"),
}
"""Each optional feature by the construct name reported, with its rule."""


def script_features(script: Script) -> dict[str, int]:
    """The optional features ``script`` uses: ``{"TCP Fast Open": 12}`` (feature name ->
    the line that first uses it), in the order of :data:`FEATURE_RULES`."""
    found: dict[str, int] = {}
    for name, rule in FEATURE_RULES.items():
        for event in script.events:
            if rule(event.action):
                found[name] = event.line
                break
    return found


def require_features(script: Script, supported: frozenset[str], target: str) -> None:
    """Raise for the first feature ``script`` uses that is not in ``supported``.

    Raises:
        DrillUnsupported: ``"unsupported: TCP Fast Open (not on the tcpstack target)"``
            at the line that first uses it.
    """
    for name, line in script_features(script).items():
        if name not in supported:
            raise DrillUnsupported(script.path, line, name, f"not on the {target} target")
