"""The sysctl settings a packetdrill script's shell commands make, read without running them.

packetdrill scripts set kernel parameters with backtick lines such as
`` `../common/defaults.sh` `` or `` `sysctl -q net.ipv4.tcp_sack=0` ``. The
tcpstack target runs no shell: :class:`ShellReader` reads such a command as
``/bin/sh`` would for the purpose of sysctls and records each setting in a
:class:`Sysctls`, which maps them onto :class:`~tcpstack.config.TcpConfig`
(see ``docs/drill-sysctl.md`` for the table).

Understood, per command (after ``$((...))`` arithmetic, ``$PPID``, comments,
``\\``-continuations, ``;``/``&&``/``||`` chains and redirections to
``/dev/null``):

* ``sysctl [-q] [-w] [-e] name=value ...`` (Linux ``net.ipv4.x`` or
  ``net/ipv4/x``, FreeBSD ``net.inet.tcp.x``); ``sysctl name`` reads;
* ``echo VALUE > /proc/sys/net/...``;
* ``.../set_sysctls.py /proc/sys/...=VALUE ...`` (packetdrill's helper) and
  ``/tmp/sysctl_restore_*.sh``, which undoes what it set;
* a shell script relative to the command's directory (``../common/defaults.sh``),
  read line by line;
* harmless commands with no effect on a TCP in virtual time:
  ``ip tcp_metrics flush``, ``nstat`` alone, ``true``, ``:``,
  FreeBSD's ``sysctl net.inet.tcp.hostcache.purgenow=1``;
* ``tc qdisc add|del dev tun0 root ...``: a root FIFO with ``limit 0`` makes the
  device refuse every packet (:attr:`Sysctls.refuses`) until it is deleted;
  other disciplines change nothing in virtual time.

Anything else (``ip route change``, ``sockstat | grep``, ...) is not run: its
status is 1 with the message ``tcpstack target does not run shell commands: <cmd>``.
"""

from __future__ import annotations

import ast
import operator
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ...config import TcpConfig

__all__ = ["ShellOutcome", "ShellReader", "Sysctls", "canonical_name"]

_MAX_DEPTH = 8
"""Nesting of scripts that run scripts, at most."""

_PROC = "/proc/sys/"
_MODULE = "/sys/module/"


def canonical_name(name: str) -> str:
    """``net/ipv4/tcp_sack``, ``/proc/sys/net/ipv4/tcp_sack`` -> ``net.ipv4.tcp_sack``."""
    name = name.strip()
    if name.startswith(_PROC):
        name = name[len(_PROC):]
    return name.strip("/").replace("/", ".")


# ---------------------------------------------------------------------------
# The mapping: sysctl name -> TcpConfig changes (or the reason it is ignored)
# ---------------------------------------------------------------------------


class _Ignored(Exception):
    """A setting tcpstack has no equivalent for (the message says why)."""


_Rule = Callable[[str, TcpConfig, bool], dict[str, Any]]
"""(value, config so far, passive) -> TcpConfig changes; raises _Ignored or ValueError."""


def _int(value: str) -> int:
    return int(value.split()[0], 0)


def _bool(field_name: str) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        return {field_name: _int(value) != 0}

    return rule


def _linux_retries_timeout(retries: int, rto_base: float, rto_max: float) -> float:
    """Seconds Linux retransmits before giving up after ``retries`` backoffs
    (tcp_model_timeout: doubling from ``rto_base`` up to ``rto_max``, then linear)."""
    total, rto = 0.0, rto_base
    for _ in range(retries + 1):
        total += rto
        rto = min(rto * 2, rto_max)
    return total


def _syn_retries(passive_side: bool) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        retries = _int(value)
        if not 1 <= retries <= 127:
            raise ValueError(f"{retries} not in 1..127")
        if passive != passive_side:
            return {}
        # The SYN (or SYN-ACK) is sent once and retried `retries` times, the RTO
        # doubling from the initial one; it gives up one more RTO after the last.
        r2_syn = _linux_retries_timeout(retries, config.rto_initial, config.rto_max)
        if passive_side:  # a half-open entry also counts its SYN,ACK retries
            return {"r2_syn": r2_syn, "synack_retries": retries}
        return {"r2_syn": r2_syn}

    return rule


def _retries2(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    retries = _int(value)
    return {"r2": _linux_retries_timeout(retries, config.rto_min, config.rto_max)}


def _choice(field_name: str, modes: dict[int, str], *, other: str | None = None) -> _Rule:
    """A setting whose numbers name the values of ``field_name`` (``modes``); any
    other number is invalid, or, with ``other``, ignored for that reason (which
    may name the value kept: ``{kept}``)."""

    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        number = _int(value)
        if number in modes:
            return {field_name: modes[number]}
        if other is None:
            raise ValueError(f"{number} not in {min(modes)}..{max(modes)}")
        raise _Ignored(other.format(kept=getattr(config, field_name)))

    return rule


# Linux tcp_syncookies: 0 never, 1 when the SYN queue overflows, 2 always.
_syncookies = _choice("syncookies", {0: "off", 1: "on-overflow", 2: "always"})

# Linux tcp_ecn (FreeBSD ecn.enable alike): 0 off, 1 ask and accept, 2 accept only
# (RFC 3168); 3..5 are the AccECN modes of newer kernels, not implemented here.
_ecn = _choice("ecn", {0: "off", 1: "on", 2: "passive"},
               other="tcpstack has RFC 3168 ECN only, not AccECN; it keeps ecn={kept}")


def _orphan_retries(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    # Linux tcp_orphan_retries(): 0, the default, means 8 (while the RTO is below
    # its maximum; tcpstack does not model that exception).
    retries = _int(value)
    if not 0 <= retries <= 255:
        raise ValueError(f"{retries} not in 0..255")
    return {"orphan_retries": retries or 8}


def _rmem(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    low, default, high = (int(v, 0) for v in value.split())
    if not 0 < low <= default <= high:
        raise ValueError(f"tcp_rmem must be 'min default max', got {value!r}")
    limit = 1 << 30
    return {"recv_buffer": min(default, limit), "recv_buffer_max": min(high, limit)}


def _wmem(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    low, default, high = (int(v, 0) for v in value.split())
    if not 0 < low <= default <= high:
        raise ValueError(f"tcp_wmem must be 'min default max', got {value!r}")
    return {"send_buffer": default}


def _early_retrans(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    # Linux: 3 and 4 enable the tail loss probe (TLP); 0-2 disable it.
    return {"tail_loss_probe": _int(value) >= 3}


def _cc(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    from ...congestion import ALGORITHMS

    name = value.strip()
    if name not in ALGORITHMS:
        raise _Ignored(f"tcpstack has no {name!r}; it keeps {config.congestion_control}")
    return {"congestion_control": name}


def _equals(expected: int, meaning: str) -> _Rule:
    """A setting whose value ``expected`` is what tcpstack always does."""

    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        if _int(value) != expected:
            raise _Ignored(meaning)
        return {}

    return rule


def _ignored(reason: str) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        raise _Ignored(reason)

    return rule


def _noop(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    return {}


def _seconds(field_name: str, scale: float = 1.0, *, none_if_zero: bool = False) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        number = _int(value)
        if number < 0:
            raise ValueError(f"{number} < 0")
        if none_if_zero and number == 0:
            return {field_name: None}
        return {field_name: number * scale}

    return rule


def _count(field_name: str, low: int = 1) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        number = _int(value)
        if number < low:
            raise ValueError(f"{number} < {low}")
        return {field_name: number}

    return rule


def _rfc1323(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    on = _int(value) != 0
    return {"timestamps": on, "window_scaling": on}


def _sb_max(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
    """FreeBSD's ``kern.ipc.maxsockbuf`` (sb_max, bytes): the window scale covers it;
    above 2**30 the scale is the largest, 14 (RFC 7323 §2.3)."""
    number = _int(value)
    if number < 1:
        raise ValueError(f"{number} < 1")
    return {"recv_buffer_max": min(number, 1 << 30)}


def _bytes(field_name: str) -> _Rule:
    def rule(value: str, config: TcpConfig, passive: bool) -> dict[str, Any]:
        number = _int(value)
        if number < 1:
            raise ValueError(f"{number} < 1")
        if field_name == "recv_buffer":
            number = min(number, 1 << 30)
        return {field_name: number}

    return rule


_NO_PACING = "tcpstack does not pace; a TSO segment takes what the windows allow"
_NO_FASTOPEN = "TCP Fast Open is not supported by tcpstack"

RULES: dict[str, _Rule] = {
    # Linux, net.ipv4.*
    "net.ipv4.tcp_rmem": _rmem,
    "net.ipv4.tcp_wmem": _wmem,
    "net.ipv4.tcp_timestamps": _bool("timestamps"),
    "net.ipv4.tcp_sack": _bool("sack"),
    "net.ipv4.tcp_window_scaling": _bool("window_scaling"),
    "net.ipv4.tcp_syn_retries": _syn_retries(False),
    "net.ipv4.tcp_synack_retries": _syn_retries(True),
    "net.ipv4.tcp_early_retrans": _early_retrans,
    "net.ipv4.tcp_recovery": _ignored("tcpstack detects loss by RFC 6675 / RFC 5681 "
                                      "duplicate ACKs, not RACK"),
    "net.ipv4.tcp_frto": _equals(0, "tcpstack has no F-RTO (RFC 5682)"),
    "net.ipv4.tcp_dsack": _ignored("tcpstack does not send D-SACK blocks (RFC 2883)"),
    "net.ipv4.tcp_fack": _equals(0, "tcpstack has no FACK"),
    "net.ipv4.tcp_reordering": _count("dupthresh"),
    "net.ipv4.tcp_min_tso_segs": _ignored(_NO_PACING),
    "net.ipv4.tcp_tso_win_divisor": _ignored(_NO_PACING),
    "net.ipv4.tcp_pacing_ss_ratio": _ignored(_NO_PACING),
    "net.ipv4.tcp_pacing_ca_ratio": _ignored(_NO_PACING),
    "net.ipv4.tcp_congestion_control": _cc,
    "net.ipv4.tcp_slow_start_after_idle": _bool("slow_start_after_idle"),
    "net.ipv4.tcp_fin_timeout": _seconds("fin_wait_2_timeout"),
    "net.ipv4.tcp_keepalive_time": _seconds("keepalive_idle"),
    "net.ipv4.tcp_keepalive_intvl": _seconds("keepalive_interval"),
    "net.ipv4.tcp_keepalive_probes": _count("keepalive_count"),
    "net.ipv4.tcp_retries1": _count("r1", 0),
    "net.ipv4.tcp_retries2": _retries2,
    "net.ipv4.tcp_orphan_retries": _orphan_retries,
    "net.ipv4.tcp_syncookies": _syncookies,
    "net.ipv4.tcp_max_syn_backlog": _count("max_syn_backlog"),
    "net.ipv4.tcp_max_orphans": _count("max_orphans", 0),
    "net.ipv4.tcp_max_tw_buckets": _count("max_time_wait", 0),
    "net.ipv4.tcp_ecn": _ecn,
    "net.ipv4.tcp_ecn_fallback": _bool("ecn_fallback"),
    "net.ipv4.tcp_ecn_option": _ignored("tcpstack does not do AccECN"),
    "net.ipv4.tcp_fastopen": _equals(0, _NO_FASTOPEN),
    "net.ipv4.tcp_fastopen_key": _ignored(_NO_FASTOPEN),
    "net.ipv4.tcp_notsent_lowat": _noop,  # poll/epoll writability on the drill target
    "net.ipv4.tcp_rfc1337": _bool("rfc1337"),
    "net.ipv4.tcp_invalid_ratelimit": _seconds("invalid_ack_ratelimit", 0.001),
    "net.ipv4.tcp_challenge_ack_limit": _count("challenge_ack_limit", 0),
    "net.ipv4.tcp_mtu_probing": _equals(0, "tcpstack does no path MTU probing"),
    "net.core.rmem_max": _noop,  # only widens the window scale: see Sysctls.config
    "net.core.wmem_max": _noop,  # bounds SO_SNDBUF only
    # FreeBSD, net.inet.tcp.* (freebsd-net/tcp-testsuite)
    "net.inet.tcp.recvspace": _bytes("recv_buffer"),
    # FreeBSD's window scale covers sb_max (tcp_syncache/tcp_connect: the smallest
    # shift with TCP_MAXWIN << shift >= sb_max), as recv_buffer_max does here.
    "kern.ipc.maxsockbuf": _sb_max,
    "net.inet.tcp.sendspace": _bytes("send_buffer"),
    "net.inet.tcp.sack.enable": _bool("sack"),
    "net.inet.tcp.rfc1323": _rfc1323,
    "net.inet.tcp.mssdflt": _count("default_peer_mss"),
    "net.inet.tcp.rexmit_initial": _seconds("rto_initial", 0.001),
    "net.inet.tcp.rexmit_min": _seconds("rto_min", 0.001),
    "net.inet.tcp.delacktime": _seconds("delayed_ack", 0.001),
    "net.inet.tcp.msl": _seconds("msl", 0.001),
    "net.inet.tcp.keepidle": _seconds("keepalive_idle", 0.001),
    "net.inet.tcp.keepintvl": _seconds("keepalive_interval", 0.001),
    "net.inet.tcp.keepcnt": _count("keepalive_count"),
    "net.inet.tcp.hostcache.purgenow": _noop,
    "net.inet.tcp.blackhole": _equals(0, "tcpstack always answers a closed port with a RST"),
    "net.inet.tcp.insecure_rst": _equals(0, "tcpstack always applies RFC 5961 to RSTs"),
    "net.inet.tcp.insecure_syn": _equals(0, "tcpstack always applies RFC 5961 to SYNs"),
    "net.inet.tcp.ecn.enable": _ecn,  # FreeBSD: 0 off, 1 in and out, 2 incoming only
    "net.inet.tcp.cc.algorithm": _cc,
    "net.inet.tcp.fastopen.client_enable": _equals(0, _NO_FASTOPEN),
    "net.inet.tcp.fastopen.server_enable": _equals(0, _NO_FASTOPEN),
}
"""Every sysctl tcpstack maps, by canonical name (a name not here is ignored)."""


@dataclass
class Sysctls:
    """Settings made so far, in order, and what tcpstack makes of them.

    ``values``: canonical name -> value as written (the last one wins).
    ``ignored``: names reported as having no tcpstack equivalent, each once,
    with the reason (for the runner/CLI to print).
    """

    values: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    offload: bool | None = None
    """Segmentation offload switched by ``ethtool -K tun0 tso on|off``; None: unchanged."""
    refuses: bool = False
    """The device's root queueing discipline drops every packet (``tc qdisc add dev
    tun0 root pfifo limit 0``) until ``tc qdisc del dev tun0 root``: the target's
    stack then sees local congestion (``Stack.local_congestion``)."""

    def set(self, name: str, value: str, base: TcpConfig) -> str | None:
        """Record ``name=value``; returns the "ignored" note the first time a
        setting without a tcpstack equivalent is made, else None.

        Raises:
            ValueError: the value is invalid for this setting (sysctl's EINVAL).
        """
        name = canonical_name(name)
        value = " ".join(value.split())
        rule = RULES.get(name)
        note = None
        try:
            if rule is None:
                raise _Ignored("no tcpstack equivalent")
            changes = rule(value, base, False) or rule(value, base, True)
            replace(base, **changes)  # validate against TcpConfig's own checks
        except _Ignored as why:
            if name not in self.ignored:
                self.ignored[name] = str(why)
                note = f"ignored: {name} ({why})"
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"sysctl: invalid value {value!r} for {name}: {exc}") from None
        self.values.pop(name, None)
        self.values[name] = value
        return note

    def config(self, base: TcpConfig, *, passive: bool) -> TcpConfig:
        """``base`` with every setting applied, for a passive (listening) or an
        active (connecting) socket (``tcp_synack_retries`` / ``tcp_syn_retries``)."""
        changes: dict[str, Any] = {}
        config = base
        for name, value in self.values.items():
            rule = RULES.get(name)
            if rule is None:
                continue
            try:
                step = rule(value, config, passive)
                config = replace(config, **step)
            except (_Ignored, ValueError, TypeError):
                continue
            changes.update(step)
        rmem_max = self.values.get("net.core.rmem_max")
        if rmem_max is not None and config.window_scaling:
            # Linux tcp_select_initial_window: the window scale covers
            # max(tcp_rmem[2], net.core.rmem_max).
            wanted = max(config.recv_buffer_max or config.recv_buffer, _int(rmem_max))
            config = replace(config, recv_buffer_max=min(wanted, 1 << 30))
        if self.offload is not None and self.offload != config.tso:
            config = replace(config, tso=self.offload)
        if any(name.startswith("net.inet.") for name in self.values):
            # A script written for FreeBSD (freebsd-net/tcp-testsuite) compares the
            # SYN's options byte for byte: lay them out as FreeBSD does. FreeBSD
            # has no quick-ACK mode: the first data segments are acknowledged
            # as any others (delayed, RFC 9293 §3.8.6.3).
            config = replace(config, syn_option_layout="freebsd", quick_acks=0)
        return config


# ---------------------------------------------------------------------------
# Reading shell commands
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellOutcome:
    """What a command did: exit ``status`` and its ``output`` (notes, messages)."""

    status: int
    output: str = ""


_ARITH = re.compile(r"\$\(\(([^()]*(?:\([^()]*\)[^()]*)*)\)\)")
_REDIRECT_NULL = re.compile(r"\s*\d*>>?\s*/dev/null|\s*\d*>&\d+|\s*&>\s*/dev/null")
_OPS: dict[type, Callable[..., int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.floordiv,
    ast.Mod: operator.mod,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
}


def _arith(expr: str) -> int:
    """Evaluate shell arithmetic (integers, + - * / % << >> | &, parentheses)."""

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(f"unsupported arithmetic: {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


def _expand(line: str) -> str:
    line = _ARITH.sub(lambda m: str(_arith(m.group(1))), line)
    return re.sub(r"\$\{?PPID\}?|\$\$", "0", line)


def _harmless(words: list[str]) -> bool:
    """Commands with no effect on a TCP in virtual time: flushing the route
    metrics cache (tcpstack has none), ``tc`` other than ``tc qdisc`` (read by
    ``_qdisc``), resetting the counters of ``nstat``."""
    program = words[0]
    if program == "ip":
        return "tcp_metrics" in words and ("flush" in words or "delete" in words)
    if program == "nstat":
        return all(w.startswith("-") for w in words[1:])
    return program in ("tc", "true", ":")


class ShellReader:
    """Reads shell commands for their sysctl settings (see the module docstring).

    Args:
        sysctls: where settings go.
        base: the configuration settings are validated against.
    """

    def __init__(self, sysctls: Sysctls, base: TcpConfig) -> None:
        self.sysctls = sysctls
        self.base = base
        self._saved: dict[str, str | None] = {}  # before set_sysctls.py, for the restore script

    def run(self, command: str, cwd: str, *, depth: int = 0) -> ShellOutcome:
        """Interpret ``command`` (one or more lines) from directory ``cwd``."""
        if depth > _MAX_DEPTH:
            return ShellOutcome(1, "tcpstack target: shell scripts nested too deeply")
        status, notes = 0, []
        for line in _lines(command):
            try:
                status, out = self._line(line, cwd, depth)
            except ValueError as exc:
                status, out = 1, str(exc)
            if out:
                notes.append(out)
        return ShellOutcome(status, "\n".join(notes))

    def _line(self, line: str, cwd: str, depth: int) -> tuple[int, str]:
        line = _REDIRECT_NULL.sub("", _expand(line))
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|>")
        lexer.whitespace_split = True
        tokens = list(lexer)
        status, notes = 0, []
        connector = ";"
        words: list[str] = []
        for token in [*tokens, ";"]:
            if token in (";", "&&", "||", "|", "&"):
                if token in ("|", "&"):
                    return 1, _refuse(line)
                if words and (
                    connector == ";"
                    or (connector == "&&" and status == 0)
                    or (connector == "||" and status != 0)
                ):
                    status, out = self._command(words, cwd, depth)
                    if out:
                        notes.append(out)
                words, connector = [], token
            else:
                words.append(token)
        return status, "\n".join(notes)

    def _command(self, words: list[str], cwd: str, depth: int) -> tuple[int, str]:
        text = " ".join(words)
        if ">" in words or ">>" in words:
            # echo VALUE > /proc/sys/...
            at = words.index(">") if ">" in words else words.index(">>")
            if words[0] == "echo" and at == len(words) - 2 and words[-1].startswith(_PROC):
                return self._set([(words[-1], " ".join(words[1:at]))])
            if words[0] == "echo" and at == len(words) - 2 and words[-1].startswith(_MODULE):
                # A kernel module's parameter (tcp_cubic's hystart_detect, ...).
                name = words[-1][len(_MODULE):].replace("/parameters/", ".")
                if name not in self.sysctls.ignored:
                    self.sysctls.ignored[name] = "no tcpstack equivalent"
                    return 0, f"ignored: {name} (no tcpstack equivalent)"
                return 0, ""
            return 1, _refuse(text)
        program = words[0]
        base = os.path.basename(program)
        if base == "sysctl":
            return self._sysctl(words[1:])
        if base == "set_sysctls.py":
            pairs = [tuple(arg.split("=", 1)) for arg in words[1:]]
            if any(len(p) != 2 for p in pairs):
                return 1, f"set_sysctls.py: expected /proc/sys/...=value, got {text!r}"
            for name, _ in pairs:
                key = canonical_name(name)
                self._saved.setdefault(key, self.sysctls.values.get(key))
            return self._set([(p[0], p[1]) for p in pairs])
        if re.fullmatch(r"/tmp/sysctl_restore_\w*\.sh", program):
            for key, old in self._saved.items():
                if old is None:
                    self.sysctls.values.pop(key, None)
                else:
                    self.sysctls.values[key] = old
            self._saved.clear()
            return 0, ""
        if base == "echo":
            return 0, " ".join(words[1:])
        if base == "ethtool" and len(words) >= 3 and words[1] in ("-K", "--features",
                                                                  "--offload"):
            return self._ethtool(words[3:])
        if base == "tc" and words[1:2] == ["qdisc"]:
            return self._qdisc(words[2:])
        if _harmless(words):
            return 0, ""
        path = os.path.normpath(os.path.join(cwd, program))
        if os.path.isfile(path) and _is_shell_script(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                outcome = self.run(f.read(), cwd, depth=depth + 1)
            return outcome.status, outcome.output
        return 1, _refuse(text)

    def _ethtool(self, args: list[str]) -> tuple[int, str]:
        """``ethtool -K DEV FEATURE on|off ...``: ``tso`` switches segmentation
        offload (a device without TSO gets MSS-sized packets); the other
        features change nothing tcpstack sends."""
        if len(args) % 2 or any(v not in ("on", "off") for v in args[1::2]):
            return 1, f"ethtool: expected 'FEATURE on|off ...', got {' '.join(args)!r}"
        for feature, value in zip(args[::2], args[1::2], strict=True):
            if feature in ("tso", "tcp-segmentation-offload"):
                self.sysctls.offload = value == "on"
        return 0, ""

    def _qdisc(self, args: list[str]) -> tuple[int, str]:
        """``tc qdisc add|replace|change dev DEV root QDISC ...``: a FIFO with
        ``limit 0`` (``pfifo``, ``bfifo``, ``pfifo_head_drop``) refuses every
        packet; any other root discipline takes them (nothing queues in virtual
        time: the peer reads at once). ``tc qdisc del dev DEV root`` restores the
        default. Other forms (``show``, a child class) change nothing."""
        verb = args[0] if args else ""
        if "root" not in args:
            return 0, ""
        rest = args[args.index("root") + 1:]
        if verb in ("del", "delete"):
            self.sysctls.refuses = False
        elif verb in ("add", "replace", "change"):
            fifo = bool(rest) and rest[0] in ("pfifo", "bfifo", "pfifo_head_drop")
            limit = rest[rest.index("limit") + 1] if "limit" in rest[:-1] else None
            self.sysctls.refuses = fifo and limit is not None and limit.rstrip("bkKmMgG") == "0"
        return 0, ""

    def _sysctl(self, args: list[str]) -> tuple[int, str]:
        pairs: list[tuple[str, str]] = []
        out: list[str] = []
        for arg in args:
            if arg.startswith("-"):
                if set(arg[1:]) <= set("qwen"):
                    continue
                return 1, f"sysctl: unsupported option {arg}"
            if "=" in arg:
                name, value = arg.split("=", 1)
                pairs.append((name, value))
            else:
                name = canonical_name(arg)
                out.append(f"{name} = {self.sysctls.values.get(name, '?')}")
        status, notes = self._set(pairs)
        return status, "\n".join([*out, notes] if notes else out)

    def _set(self, pairs: list[tuple[str, str]]) -> tuple[int, str]:
        notes: list[str] = []
        status = 0
        for name, value in pairs:
            try:
                note = self.sysctls.set(name, value, self.base)
            except ValueError as exc:
                status = 1
                notes.append(str(exc))
                continue
            if note:
                notes.append(note)
        return status, "\n".join(notes)


def _refuse(command: str) -> str:
    return f"tcpstack target does not run shell commands: {command}"


def _is_shell_script(path: str) -> bool:
    if path.endswith(".sh"):
        return True
    with open(path, "rb") as f:
        first = f.readline(200)
    return first.startswith(b"#!") and (b"sh" in first.split(b"/")[-1])


def _lines(command: str) -> list[str]:
    """Logical lines: continuations joined, comments and blank lines dropped."""
    text = command.replace("\\\n", " ")
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\s#.*$", "", line)
        lines.append(line)
    return lines
