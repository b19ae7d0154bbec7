"""The parsed form of a drill script: events with timing, packets, system calls.

Shared by the parser, the runner and every target. Times are seconds from the
script's start; sequence numbers in :class:`PacketSpec` are as written in the
script (relative, packetdrill style) and converted by the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...errors import TcpStackError


class DrillError(TcpStackError):
    """Base class of drill errors."""


class DrillSyntaxError(DrillError):
    """A script line could not be parsed or uses syntax drill does not support.

    Attributes:
        path: the script file; line: 1-based line number; message: what is wrong.
    """

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


class DrillUnsupported(DrillSyntaxError):
    """Valid packetdrill that drill does not run (TCP Fast Open, MD5, zero-copy, UDP ...).

    A suite runner reports such a script as "unsupported: <construct>" and
    goes on; only a script that is not valid packetdrill is a syntax error.

    Attributes:
        construct: a short, stable name of what is not supported
            (``"TCP Fast Open"``, ``"TCP MD5 option"``, ``"UDP packets"``),
            used for the histogram of ``--list-unsupported``.
    """

    def __init__(self, path: str, line: int, construct: str, detail: str = "") -> None:
        self.construct = construct
        message = f"unsupported: {construct}" + (f" ({detail})" if detail else "")
        super().__init__(path, line, message)


@dataclass(frozen=True)
class Timing:
    """When an event happens.

    ``kind``: ``"abs"`` (``0.1``), ``"rel"`` (``+0.1``, relative to the previous
    event's time) or ``"any"`` (``*``). ``start``/``end`` in seconds; a range
    ``0.1~0.2`` has end > start, otherwise end == start. ``blocking_end``
    is set for a blocking call written ``+0...0.5 read(...)``: the call
    starts at ``start`` and must return at ``blocking_end`` (same kind).
    """

    kind: Literal["abs", "rel", "any"]
    start: float = 0.0
    end: float = 0.0
    blocking_end: float | None = None


@dataclass(frozen=True)
class TcpOptionSpec:
    """One TCP option in a script: ``mss 1460``, ``sackOK``, ``nop``, ``eol``,
    ``wscale 7``, ``TS val 100 ecr 0``, ``sack 1:1001 2001:3001``, and TCP Fast
    Open's ``FO``/``FOEXP`` (RFC 7413: kind 34, or the experimental kind 254 with
    magic 0xF989).

    ``values``: the numbers as written; for ``FO``/``FOEXP`` the cookie's bytes
    (``FO abcd1234`` -> ``(0xab, 0xcd, 0x12, 0x34)``, ``()`` for a cookie request).
    ``name``: for ``FO``/``FOEXP`` only, a cookie written as a name (``FO
    TFO_COOKIE``) that the runner resolves when the packet is built or compared
    (a ``--define``, or the cookie the Linux target computes); None otherwise.
    """

    kind: Literal["mss", "sackOK", "nop", "eol", "wscale", "TS", "sack", "FO", "FOEXP"]
    values: tuple[int, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class PacketSpec:
    """An inbound (``<``) or outbound (``>``) TCP segment as written.

    ``flags``: packetdrill letters (``S F R P . U E W``; ``.`` is ACK).
    ``seq``/``end``/``length``: ``start:end(len)``; ``ack``/``win`` None when
    absent. ``options``: None when not given, or a tuple; ``options_wildcard``
    for ``<...>``. ``any_*`` flags mark ``*`` wildcards. ``ecn``: the IP ECN
    field written before the flags (``[ect0]``, ``[ect1]``, ``[ce]``, ``[noecn]``;
    ``[ect01]``, outbound only, accepts ECT(0) or ECT(1)), None when not written
    (inbound: not-ECT; outbound: not checked).
    """

    direction: Literal["<", ">"]
    flags: str
    seq: int | None
    end: int | None
    length: int | None
    ack: int | None = None
    win: int | None = None
    urg: int | None = None
    options: tuple[TcpOptionSpec, ...] | None = None
    options_wildcard: bool = False
    ecn: Literal["noecn", "ect0", "ect1", "ce", "ect01"] | None = None


@dataclass(frozen=True)
class IcmpSpec:
    """An inbound ICMP message as written: ``< icmp unreachable frag_needed mtu 1200
    [1:1461(1460)]`` (packetdrill's ``icmp_packet_spec``).

    ``icmp_type``/``code``: the names as written (``"unreachable"``,
    ``"frag_needed"``, ``"type_3"``, ``"code_4"``; ``code`` None when absent:
    code 0); their numbers depend on the IP version (ICMPv4 or ICMPv6) and are
    looked up when the packet is built (:mod:`~tcpstack.harness.drill.icmp`).
    ``mtu``: the next-hop MTU (bytes) of a "fragmentation needed" (ICMPv4) or
    "packet too big" (ICMPv6) message, None when not written. ``echo_id``: the
    ``id N`` field (0 when absent). ``seq``/``end``/``length``: the quoted
    TCP segment ``[start:end(len)]`` in the sequence space of the TCP under test
    (relative to its ISN; seq 0 when no segment is written). ``ecn``: as in
    :class:`PacketSpec`.
    """

    direction: Literal["<"]
    icmp_type: str
    code: str | None = None
    mtu: int | None = None
    echo_id: int = 0
    seq: int = 0
    end: int = 0
    length: int = 0
    ecn: Literal["noecn", "ect0", "ect1", "ce"] | None = None


@dataclass(frozen=True)
class Syscall:
    """A system call line: ``name(args) = result [ERRNO (text)]``.

    ``args`` are raw argument strings as written (``"3"``, ``"..."``,
    ``"SOL_SOCKET"``, ``"[1]"``, ``"[{fd=4, events=POLLIN, revents=POLLIN}]"``);
    ``result`` the expected integer return value; ``errno`` e.g.
    ``"ECONNREFUSED"`` when ``result == -1``.
    """

    name: str
    args: tuple[str, ...]
    result: int | None
    errno: str | None = None


@dataclass(frozen=True)
class Shell:
    """A shell command in backticks, such as `` `sysctl -q net.ipv4.tcp_sack=0` ``.

    ``command`` is the text between the backticks, unchanged. packetdrill
    runs it with ``/bin/sh -c`` in the script's directory; the Linux target
    does so inside its namespace, the tcpstack target reads the sysctl
    settings it makes (see ``Target.shell``).
    """

    command: str


@dataclass(frozen=True)
class PythonBlock:
    """A ``%{ python }%`` block: assertions on ``TCP_INFO`` (``tcpi_*`` names).

    ``code`` is the text between ``%{`` and ``}%``, dedented. It runs after the
    script's events, at the end, as in packetdrill, with the ``tcpi_*`` values
    of the socket last used at its place in the script (``Target.tcp_info``).
    """

    code: str


Action = PacketSpec | IcmpSpec | Syscall | Shell | PythonBlock
"""What one event of a script does."""


@dataclass(frozen=True)
class Event:
    """One timed line of a script: a packet, a system call, a shell command or a code block."""

    line: int
    timing: Timing
    action: Action
    text: str = ""


@dataclass(frozen=True)
class Script:
    """A whole script.

    ``linux_deviation``: the text of a ``// linux-deviation: ...`` comment,
    documenting why the Linux kernel fails this script (it encodes the RFC).
    """

    path: str
    events: tuple[Event, ...]
    linux_deviation: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def packetdrill_environment(self) -> bool:
        """True when the script runs shell commands: it was written for packetdrill's
        environment (a Linux kernel behind a TUN device with segmentation offload,
        Linux's defaults), not for drill's own one-MSS-per-segment conventions.
        Both targets take their defaults from it (offload, initial window, quick ACKs)."""
        return any(isinstance(event.action, Shell) for event in self.events)
