"""The drill script parser: packetdrill's language, as TCP scripts use it.

A script is a list of timed events::

    `../common/defaults.sh`                      // a shell command run first
    --mss=1000                                   // script options (before the events)
    0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0  bind(3, ..., ...) = 0
    +0  listen(3, 1) = 0
    +0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
    +0  > S. 0:0(0) ack 1 <...>
    +.1 < . 1:1(0) ack 1 win 257
    +0  accept(3, ..., ...) = 4
    +0  %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%

:func:`parse` turns the text into a :class:`~tcpstack.harness.drill.model.Script`.
Like packetdrill's lexer, spacing between tokens is free (``+ 0.1``,
``1:1001 (1000)``, ``0.1 ~ 0.2``); an event may continue on the next lines
while brackets are open or a line ends with a comma.

packetdrill's grammar (``parser.y``): ``options, [init command], events,
[cleanup command]``. A backtick command without a time is the init command
(before the first event: drill gives it time 0) or the cleanup command
(after the last: drill gives it ``+0``); both become events with a
:class:`~tcpstack.harness.drill.model.Shell` action. A ``%{ }%`` block is a
:class:`~tcpstack.harness.drill.model.PythonBlock` event.

Valid packetdrill that drill does not run raises
:class:`~tcpstack.harness.drill.model.DrillUnsupported` with a stable
``construct`` (the packet, system call and option modules list them); other
errors raise :class:`~tcpstack.harness.drill.model.DrillSyntaxError` naming
the line and what was expected. Nothing is skipped silently.

Split by concern: :mod:`.packets` (packet lines), :mod:`.syscalls` (system
call lines), :mod:`.options` (script options), :mod:`.args` (reading
arguments, for the targets), :mod:`.symbols` (Linux values). The names the
targets import from here (:func:`int_arg`, :data:`SYMBOLS`...) are
re-exported.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from .args import (
    EpollEvent,
    PollFd,
    epoll_events_arg,
    int_arg,
    iovecs_arg,
    list_arg,
    msghdr_arg,
    pollfds_arg,
    split_args,
    struct_arg,
)
from .model import (
    DrillSyntaxError,
    DrillUnsupported,
    Event,
    IcmpSpec,
    PacketSpec,
    PythonBlock,
    Script,
    Shell,
    Syscall,
    Timing,
)
from .options import SCRIPT_OPTIONS, parse_option_line
from .packets import options_length, parse_icmp, parse_packet
from .symbols import ERRNOS, SYMBOLS
from .syscalls import SOCKOPT_LEVELS, SYSCALLS, parse_syscall

__all__ = [
    "ERRNOS",
    "SCRIPT_OPTIONS",
    "SOCKOPT_LEVELS",
    "SUPPORTED_SYSCALLS",
    "SYMBOLS",
    "EpollEvent",
    "PollFd",
    "epoll_events_arg",
    "int_arg",
    "iovecs_arg",
    "list_arg",
    "msghdr_arg",
    "options_length",
    "parse",
    "parse_file",
    "pollfds_arg",
    "split_args",
    "struct_arg",
]

SUPPORTED_SYSCALLS = SYSCALLS
"""System calls drill parses, with the numbers of arguments they take."""

_Fail = Callable[[str], DrillSyntaxError]

_NUM = r"(?:\d*\.\d+|\d+)"
_TIMING = re.compile(
    rf"""(?P<star>\*)
       |(?P<p1>\+\s*)?(?P<t1>{_NUM})
        (?:\s*~\s*(?P<p2>\+\s*)?(?P<t2>{_NUM}))?
        (?:\s*\.\.\.\s*(?P<t3>{_NUM}))?""",
    re.VERBOSE,
)
_DEVIATION = re.compile(r"^\s*linux-deviation\s*:\s*(.*?)\s*$")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


def parse_file(path: str | Path) -> Script:
    """Read and parse the script at ``path``.

    Raises:
        OSError: the file cannot be read.
        DrillSyntaxError: see :func:`parse` (DrillUnsupported for valid packetdrill
            drill does not run).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DrillSyntaxError(str(p), 1, f"not a text file: {exc.reason}") from None
    return parse(text, str(p))


def parse(text: str, path: str = "<script>") -> Script:
    """Parse a drill script.

    Args:
        text: the script.
        path: the name used in error messages and in the result.

    Raises:
        DrillUnsupported: valid packetdrill that drill does not run, with its
            ``construct`` (the first one in the script).
        DrillSyntaxError: with the 1-based line of the first problem.
    """
    lines, blocks, deviations = _scan(_preprocess(text, path), path)
    events: list[Event] = []
    options: dict[str, str] = {}
    untimed: list[int] = []  # indexes in events of commands written without a time
    for number, logical in _logical_lines(lines):
        if logical.startswith("--"):
            if len(events) > len(untimed):
                raise DrillSyntaxError(path, number, "script options must come before the "
                                       "first event")
            name, value = parse_option_line(logical, path, number)
            options[name] = value
            continue
        event, timed = _parse_event(logical, blocks, path, number, first=not events)
        if not timed:
            untimed.append(len(events))
        events.append(event)
    for index in untimed:
        if 0 < index < len(events) - 1:
            raise DrillSyntaxError(
                path, events[index].line,
                "a command without a time must be the first event (init command) or the "
                "last (cleanup command); write a time before it")
    if not events:
        raise DrillSyntaxError(path, max(1, len(lines)), "script has no events")
    deviation = " ".join(deviations) if deviations else None
    return Script(path=path, events=tuple(events), linux_deviation=deviation, options=options)


# ----------------------------------------------------------------------
# Lexing: conditionals, comments, backticks, code blocks, lines
# ----------------------------------------------------------------------

DEFINED = frozenset({"STANDARD", "linux", "__linux__"})
"""Names ``#ifdef`` sees as defined. freebsd-net/tcp-testsuite (run through the C
preprocessor by its packetdrill) writes ``#ifdef STANDARD`` for what the RFCs
say and ``#ifdef FreeBSD`` for FreeBSD's own behaviour; drill runs the
standard branch."""

_DIRECTIVE = re.compile(r"\s*#\s*(ifdef|ifndef|else|endif)\b\s*(\w*)")


def _preprocess(text: str, path: str) -> str:
    """Apply ``#ifdef NAME`` / ``#ifndef`` / ``#else`` / ``#endif`` lines (names in
    :data:`DEFINED`), blanking the lines left out so that line numbers stay."""
    if "#" not in text:
        return text
    out: list[str] = []
    stack: list[tuple[bool, int]] = []  # (this branch is kept, line of the #if)
    for number, line in enumerate(text.split("\n"), start=1):
        match = _DIRECTIVE.match(line)
        if match is None:
            keep = all(kept for kept, _ in stack)
            out.append(line if keep else "")
            continue
        word, name = match.groups()
        if word in ("ifdef", "ifndef"):
            if not name:
                raise DrillSyntaxError(path, number, f"#{word} needs a name")
            stack.append(((name in DEFINED) == (word == "ifdef"), number))
        elif not stack:
            raise DrillSyntaxError(path, number, f"#{word} without #ifdef")
        elif word == "else":
            kept, start = stack.pop()
            stack.append((not kept, start))
        else:
            stack.pop()
        out.append("")
    if stack:
        raise DrillSyntaxError(path, stack[-1][1], "#ifdef without #endif")
    return "\n".join(out)


def _scan(text: str, path: str) -> tuple[list[str], list[Shell | PythonBlock], list[str]]:
    """Remove comments and lift out backtick commands and ``%{ }%`` blocks.

    Returns the lines (line numbers kept; a command or block is replaced by a
    placeholder ``\\x00N\\x00`` on its first line), the commands and blocks by N,
    and the texts of ``// linux-deviation:`` comments.
    """
    out: list[str] = []
    blocks: list[Shell | PythonBlock] = []
    deviations: list[str] = []
    i = 0
    line = 1
    n = len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            match = _DEVIATION.match(text[i + 2:end])
            if match:
                if not match.group(1):
                    raise DrillSyntaxError(path, line, "linux-deviation comment without "
                                           "a reason")
                deviations.append(match.group(1))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise DrillSyntaxError(path, line, "unterminated /* comment")
            skipped = text[i:end + 2].count("\n")
            out.append(" " + "\n" * skipped)
            line += skipped
            i = end + 2
        elif ch == "`" or text.startswith("%{", i):
            shell = ch == "`"
            end = text.find("`" if shell else "}%", i + (1 if shell else 2))
            if end < 0:
                raise DrillSyntaxError(path, line, "unterminated backtick command" if shell
                                       else "unterminated %{ code block: missing }%")
            inner = text[i + (1 if shell else 2):end]
            blocks.append(Shell(inner.strip()) if shell else PythonBlock(_dedent_code(inner)))
            skipped = inner.count("\n")
            out.append(f"\x00{len(blocks) - 1}\x00" + "\n" * skipped)
            line += skipped
            i = end + (1 if shell else 2)
        elif ch == '"':
            end = i + 1
            while end < n and text[end] != '"' and text[end] != "\n":
                end += 2 if text[end] == "\\" else 1
            out.append(text[i:end + 1])
            i = end + 1
        else:
            if ch == "\n":
                line += 1
            out.append(ch)
            i += 1
    return "".join(out).splitlines(), blocks, deviations


def _dedent_code(inner: str) -> str:
    """The code of a ``%{ }%`` block as packetdrill runs it: without the spaces around
    it, and without the indentation its lines share. A backslash ending the block
    (``assert a;\\`` before ``}%``) continues onto nothing and is dropped: in
    packetdrill's generated program it joins the next block's variables."""
    first, _, rest = inner.strip(" \t").partition("\n")
    first = first.strip()
    rest = textwrap.dedent(rest).strip("\n")
    code = "\n".join(part for part in (first, rest) if part.strip())
    code = textwrap.dedent(code).strip()
    while code.endswith("\\"):
        code = code[:-1].rstrip()
    return code


def _logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """Join lines that continue (open brackets, a trailing comma); skip blank ones."""
    result: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not buffer:
            if not line:
                continue
            buffer, start = line, number
        elif line:
            buffer = f"{buffer} {line}"
        if _continues(buffer):
            continue
        result.append((start, buffer))
        buffer = ""
    if buffer:
        result.append((start, buffer))
    return result


def _continues(text: str) -> bool:
    if text.endswith(","):
        return True
    depth = 0
    for ch in _strip_strings(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth > 0


def _strip_strings(text: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


# ----------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------


def _parse_event(text: str, blocks: list[Shell | PythonBlock], path: str, line: int,
                 *, first: bool) -> tuple[Event, bool]:
    """One event; the flag says whether it was written with a time."""

    def fail(message: str) -> DrillSyntaxError:
        return DrillSyntaxError(path, line, message)

    def unsupported(construct: str, detail: str) -> DrillSyntaxError:
        return DrillUnsupported(path, line, construct, detail)

    shown = _PLACEHOLDER.sub(lambda m: _block_text(blocks[int(m.group(1))]), text)
    held = _PLACEHOLDER.fullmatch(text)
    if held is not None:
        block = blocks[int(held.group(1))]
        if isinstance(block, PythonBlock):
            raise fail("a %{ }% block needs a time before it ('+0 %{ ... }%')")
        timing = Timing("abs", 0.0, 0.0) if first else Timing("rel", 0.0, 0.0)
        return Event(line=line, timing=timing, action=block, text=shown), False
    match = _TIMING.match(text)
    if match is None:
        raise fail(f"expected a time ('0.1', '+0.1', '*') at the start of {shown!r}")
    timing = _timing(match, fail)
    rest = text[match.end():].strip()
    if not rest:
        raise fail("a time without an event")
    action: PacketSpec | IcmpSpec | Syscall | Shell | PythonBlock
    held = _PLACEHOLDER.fullmatch(rest)
    if held is not None:
        action = blocks[int(held.group(1))]
        if timing.kind == "any" or timing.end != timing.start or timing.blocking_end:
            raise fail("a command or code block needs a plain time ('+0', '1.5')")
        return Event(line=line, timing=timing, action=action, text=shown), True
    if "\x00" in rest:
        raise fail(f"unexpected backticks or %{{ }}% inside {shown!r}")
    if rest[0] in "<>":
        action = parse_icmp(rest, fail, unsupported) or parse_packet(rest, fail, unsupported)
        if timing.blocking_end is not None:
            raise fail("'...' (a blocking call) is only for system calls")
        if action.direction == "<" and timing.kind == "any":
            raise fail("time '*' can only be used with outbound packets")
        if action.direction == "<" and timing.end != timing.start:
            raise fail("a time range can only be used with outbound packets")
    else:
        action = parse_syscall(rest, fail, unsupported)
        if timing.kind == "any":
            raise fail("time '*' can only be used with outbound packets")
        if timing.end != timing.start:
            raise fail("a time range can only be used with outbound packets")
    return Event(line=line, timing=timing, action=action, text=shown), True


def _block_text(block: Shell | PythonBlock) -> str:
    if isinstance(block, Shell):
        return f"`{block.command}`"
    return "%{ " + block.code + " }%"


def _timing(match: re.Match[str], fail: _Fail) -> Timing:
    if match.group("star"):
        return Timing("any")
    relative = bool(match.group("p1"))
    start = float(match.group("t1"))
    end = start
    if match.group("t2") is not None:
        if bool(match.group("p2")) != relative:
            raise fail("a time range must be both absolute (0.1~0.2) or both relative "
                       "(+0.1~+0.2)")
        end = float(match.group("t2"))
        if end < start:
            raise fail("time range is backwards")
    blocking = float(match.group("t3")) if match.group("t3") is not None else None
    if blocking is not None:
        if end != start:
            raise fail("a blocking call cannot have a time range")
        if blocking < start:
            raise fail(f"a blocking call cannot return ({blocking:g}) before it starts "
                       f"({start:g})")
    return Timing("rel" if relative else "abs", start, end, blocking)
