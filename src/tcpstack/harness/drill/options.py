"""Script options: packetdrill's command-line options, on a script's first lines
(``--mss=1000``) or on drill's command line.

Every option of packetdrill's ``config.c`` is known. :func:`check_option`
validates a value where it matters and raises
:class:`~tcpstack.harness.drill.model.DrillUnsupported` for the options drill
cannot honour (a wire client/server run, UDP encapsulation, MD5 secrets...);
the others are recorded as strings in ``Script.options`` for the runner and
the targets (``mss``, ``ip_version``, ``tolerance_usecs``, ``bind_port``...).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from .model import DrillSyntaxError, DrillUnsupported

__all__ = ["IGNORED_OPTIONS", "IP_VERSIONS", "SCRIPT_OPTIONS", "UNSUPPORTED_OPTIONS",
           "check_option", "parse_option_line"]

IP_VERSIONS = ("ipv4", "ipv6", "ipv4-mapped-ipv6")
"""Values of ``--ip_version``."""


def _uint(bits: int, low: int = 0) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value.isdigit():
            return "needs a number (a non-negative integer)"
        if not low <= int(value) < 1 << bits:
            return f"out of range ({low}..{(1 << bits) - 1})"
        return None
    return check


def _number(value: str) -> str | None:
    return None if re.fullmatch(r"\d+(\.\d*)?|\.\d+", value) else "needs a number"


def _ip_version(value: str) -> str | None:
    return None if value in IP_VERSIONS else f"must be one of {', '.join(IP_VERSIONS)}"


def _address(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "needs an IP address"
    return None


def _speed(value: str) -> str | None:
    return None if re.fullmatch(r"\d+[kKmMgG]?", value) else "needs a speed (e.g. 100M)"


def _flag(value: str) -> str | None:
    return None if value == "" else "takes no value"


def _any(value: str) -> str | None:
    return None


def _non_fatal(value: str) -> str | None:
    bad = [w for w in value.split(",") if w not in ("packet", "syscall")]
    return f"unknown kind {bad[0]!r} (packet, syscall)" if bad else None


SCRIPT_OPTIONS: dict[str, Callable[[str], str | None]] = {
    "ip_version": _ip_version,
    "bind_port": _uint(16, 1),
    "connect_port": _uint(16, 1),
    "remote_ip": _address,
    "local_ip": _address,
    "gateway_ip": _address,
    "netmask_ip": _address,
    "speed": _speed,
    "mss": _uint(16, 1),
    "mtu": _uint(32, 68),
    "init_rto": _number,
    "tolerance_usecs": _uint(32),
    "tolerance_percent": _number,
    "tcp_ts_tick_usecs": _uint(32),
    "tcp_ts_ecr_scaled": _flag,
    "strict_segments": _flag,
    "non_fatal": _non_fatal,
    "dry_run": _flag,
    "send_omit_free": _flag,
    "debug": _flag,
    "verbose": _flag,
    "define": _any,
    "init_scripts": _any,
    "code_command": _any,
    "code_format": _any,
    "code_sockopt": _any,
    "is_anyip": _flag,
    "so_filename": _any,
    "so_flags": _any,
    "psp_udp_port": _uint(16),
    "wire_client": _flag,
    "wire_server": _flag,
    "wire_server_ip": _address,
    "wire_server_at": _any,
    "wire_server_port": _uint(16),
    "wire_client_dev": _any,
    "wire_server_dev": _any,
    # the FreeBSD packetdrill of freebsd-net/tcp-testsuite
    "udp_encapsulation": _any,
    "tcp_md5_secret": _any,
}
"""Every option packetdrill knows (``config.c``, and the FreeBSD port's two), with the
check of its value (None: fine, else what is wrong)."""

UNSUPPORTED_OPTIONS: dict[str, str] = {
    "wire_client": "wire client/server mode",
    "wire_server": "wire client/server mode",
    "wire_server_ip": "wire client/server mode",
    "wire_server_at": "wire client/server mode",
    "wire_server_port": "wire client/server mode",
    "wire_client_dev": "wire client/server mode",
    "wire_server_dev": "wire client/server mode",
    "so_filename": "shared-object netdev (--so_filename)",
    "so_flags": "shared-object netdev (--so_filename)",
    "udp_encapsulation": "UDP encapsulation",
    "tcp_md5_secret": "TCP MD5 option",
    "psp_udp_port": "PSP encapsulation",
    "is_anyip": "any-IP (--is_anyip)",
    "code_command": "code options (--code_*)",
    "code_format": "code options (--code_*)",
    "code_sockopt": "code options (--code_*)",
    "init_scripts": "init scripts (--init_scripts)",
}
"""Options drill cannot honour, with the construct reported."""

IGNORED_OPTIONS = frozenset({
    "debug", "verbose", "dry_run", "send_omit_free", "speed", "gateway_ip", "netmask_ip",
    "define", "tcp_ts_ecr_scaled", "tcp_ts_tick_usecs", "strict_segments",
})
"""Options that are accepted and recorded but do not change how drill runs a script."""


def check_option(name: str, value: str, path: str = "<options>", line: int = 0) -> None:
    """Check one script option (``name`` without dashes, ``value`` "" for a flag).

    Raises:
        DrillUnsupported: an option drill cannot honour (the construct names it).
        DrillSyntaxError: an unknown option or a bad value.
    """
    check = SCRIPT_OPTIONS.get(name)
    if check is None:
        raise DrillSyntaxError(path, line, f"unknown script option --{name}")
    problem = check(value)
    if problem is not None:
        raise DrillSyntaxError(path, line, f"--{name}={value}: {problem}")
    if name in UNSUPPORTED_OPTIONS:
        raise DrillUnsupported(path, line, UNSUPPORTED_OPTIONS[name], f"--{name}")
    if name == "tolerance_percent" and float(value) > 100:
        raise DrillSyntaxError(path, line, f"--tolerance_percent={value}: at most 100")


def parse_option_line(text: str, path: str, line: int) -> tuple[str, str]:
    """``"--mss=1000"`` (or ``--mss 1000``, or ``--dry_run``) -> ``("mss", "1000")``.

    Raises:
        DrillSyntaxError / DrillUnsupported: see :func:`check_option`.
    """
    match = re.fullmatch(r"--([A-Za-z0-9_]+)(?:\s*=\s*|\s+)?(.*)", text.strip())
    if not match:
        raise DrillSyntaxError(path, line, f"cannot parse script option {text!r}")
    name, value = match.group(1), match.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    check_option(name, value, path, line)
    return name, value
