"""``tcpstack drill``: run packetdrill-style scripts against tcpstack and/or Linux.

:func:`add_drill_parser` adds the command to the ``tcpstack`` parser and
:func:`run_drill` runs it; ``python -m tcpstack.cli.drill`` runs the same
command on its own.

Every script is parsed before any runs. A script that uses valid packetdrill
drill does not run (TCP Fast Open, zero-copy, MD5...) is reported as
"unsupported: <construct>"; one with a syntax error found in a directory is
reported as "did not parse"; neither is a failure.

Exit status: 0 when no supported script failed (an expected Linux deviation
counts as passed), 1 when one failed, 2 for bad input (a missing file, a
script named on the command line that does not parse, an unavailable
target): one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape

from ..harness.drill.model import DrillError, DrillSyntaxError, DrillUnsupported, Script
from ..harness.drill.options import parse_option_line
from ..harness.drill.report import (
    comparison_table,
    outcome,
    print_result,
    print_summary,
    write_junit,
)
from ..harness.drill.runner import (
    DEFAULT_TIMEOUT,
    DEFAULT_TOLERANCE,
    DrillResult,
    run_script,
)
from ..harness.drill.suite import Loaded, SuiteError, histogram_table, load
from ..harness.drill.target import Target
from ..harness.drill.targets import create_target
from .argtypes import UsageError, positive_seconds
from .outputs import open_output

__all__ = ["add_drill_parser", "main", "run_drill"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DESCRIPTION = """\
Run packetdrill-style scripts: timed socket calls and TCP segments going in
(<) and out (>), with relative sequence numbers. The same script runs against
tcpstack (in virtual time: fast, deterministic) and against the Linux kernel
(real sockets in a private network namespace; needs root). A script that
documents, with a '// linux-deviation: why' comment, that Linux departs from
the RFC there counts as passed when it fails on Linux.
"""

EPILOG = """\
examples:
  tcpstack drill tests/drill                      every *.pkt under the directory
  tcpstack drill tests/drill/passive_open.pkt -v  one script, with each event
  tcpstack drill --target linux tests/drill       against the kernel (root)
  tcpstack drill --target both tests/drill        both, and a table of differences
  tcpstack drill --junit drill.xml tests/drill    also write JUnit XML for CI
  tcpstack drill --tolerance-usecs 10000 x.pkt    allow 10 ms of timing error
  tcpstack drill --list-unsupported ~/packetdrill/gtests/net/tcp
                                                  what keeps scripts from running
  tcpstack drill --timeout 30 ~/packetdrill/gtests/net/tcp
                                                  a whole suite, 30 s per script
  tcpstack drill --option ip_version=ipv6 ~/packetdrill/gtests/net/tcp
                                                  the suite over IPv6
  tcpstack drill --unexpected defer ~/packetdrill/gtests/net/tcp
                                                  packetdrill's rule for unlisted packets

the syntax, the supported subset and how to write a script: docs/drill.md
"""


class _UsageError(Exception):
    pass


def add_drill_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``drill`` command to the ``tcpstack`` sub-command parsers."""
    parser = sub.add_parser(
        "drill",
        help="run packetdrill-style scripts against tcpstack and/or Linux",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    _add_arguments(parser)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="SCRIPT_OR_DIR",
                        help="a .pkt script, or a directory searched for *.pkt")
    parser.add_argument("--target", choices=("tcpstack", "linux", "both"), default="tcpstack",
                        help="the TCP to test (default: tcpstack)")
    parser.add_argument("--junit", metavar="FILE", type=Path,
                        help="also write the results as JUnit XML")
    parser.add_argument("--tolerance-usecs", metavar="N", type=_usecs, default=None,
                        help="timing tolerance in microseconds (default: the script's "
                             f"--tolerance_usecs, else {DEFAULT_TOLERANCE * 1e6:.0f} on "
                             "tcpstack, as packetdrill, and 20000 on linux)")
    parser.add_argument("--timeout", metavar="SECONDS", type=positive_seconds, default=None,
                        help="per-script limit: SECONDS of target time (virtual on "
                             "tcpstack) and 2*SECONDS+30 of real time (default: "
                             f"{DEFAULT_TIMEOUT:g})")
    parser.add_argument("--option", metavar="NAME[=VALUE]", action="append", default=[],
                        type=_script_option, dest="options",
                        help="a packetdrill option for every script, overriding the "
                             "script's own (as packetdrill's command line does), e.g. "
                             "--option ip_version=ipv6 --option mss=1000; repeatable")
    parser.add_argument("-D", "--define", metavar="NAME=VALUE", action="append", default=[],
                        type=_define, dest="defines",
                        help="a name for every script, as packetdrill's -D: the cookie of "
                             "a Fast Open option 'FO NAME', e.g. -D TFO_COOKIE=3021b9d889017eeb "
                             "(the Linux target computes TFO_COOKIE when it is not given); "
                             "repeatable")
    parser.add_argument("--unexpected", choices=("fail", "defer"), default="fail",
                        help="a packet the script does not list: 'fail' the script at once "
                             "(drill's rule, the default) or 'defer' it to the next '>' "
                             "line, never checked if none follows (packetdrill's rule; use "
                             "it for the public suites)")
    parser.add_argument("--list-unsupported", action="store_true",
                        help="parse only: print how many scripts each unsupported construct "
                             "keeps out (and those that do not parse), run nothing")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every event as it runs")


def _usecs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of microseconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _script_option(text: str) -> tuple[str, str]:
    try:
        return parse_option_line("--" + text.lstrip("-"), "--option", 0)
    except DrillUnsupported as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.message}") from None
    except DrillSyntaxError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def with_defines(script: Script, defines: Sequence[str]) -> Script:
    """``script`` with ``-D NAME=VALUE`` names added after its own ``--define``
    (a name given twice: the last one counts)."""
    if not defines:
        return script
    defined = " ".join([script.options.get("define", ""), *defines]).strip()
    return replace(script, options={**script.options, "define": defined})


def _define(text: str) -> str:
    name, equals, value = text.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not value \
            or any(c.isspace() or c == "," for c in value):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def run_drill(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run the ``drill`` command; returns the exit status."""
    console = console or Console()
    try:
        loaded = load(args.paths)
        if getattr(args, "list_unsupported", False):
            console.print(histogram_table(loaded))
            return EXIT_OK
        names = ["tcpstack", "linux"] if args.target == "both" else [args.target]
        for name in names:
            _new_target(name)  # an unavailable target stops everything before any run
        if args.junit is not None:  # a bad path fails now, not after every script ran
            open_output(args.junit, "--junit").close()
        tolerance = None if args.tolerance_usecs is None else args.tolerance_usecs / 1e6
        timeout = getattr(args, "timeout", None)
        results: list[DrillResult] = []
        skipped: list[tuple[str, str, str]] = []
        not_parsed = 0
        pairs = []
        for item in loaded:
            if item.script is None:
                not_parsed += _report_unrun(console, item, names, skipped)
                continue
            script = item.script
            if getattr(args, "options", None):  # packetdrill: the command line overrides the script
                script = replace(script, options={**script.options, **dict(args.options)})
            script = with_defines(script, getattr(args, "defines", None) or [])
            row: list[DrillResult | None] = []
            for name in names:
                result = _run_one(script, name, tolerance, timeout, console,
                                  args.verbose, getattr(args, "unexpected", "fail"))
                if isinstance(result, DrillUnsupported):
                    _print_unrun(console, "UNSUPPORTED", item.path, name, str(result.message))
                    skipped.append((name, item.path, result.message))
                    row.append(None)
                    continue
                print_result(console, result)
                results.append(result)
                row.append(result)
            if len(row) == 2 and row[0] is not None and row[1] is not None:
                pairs.append((row[0], row[1]))
        if pairs:
            console.print()
            console.print(comparison_table(pairs))
        unsupported = len({path for _, path, _ in skipped})
        if len(results) + unsupported + not_parsed > 1:
            print_summary(console, results, unsupported=unsupported, not_parsed=not_parsed)
        if args.junit is not None:
            write_junit(args.junit, results, skipped)
    except (_UsageError, UsageError, SuiteError) as exc:
        print(f"tcpstack drill: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"tcpstack drill: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    failed = any(outcome(r) == "FAIL" for r in results)
    return EXIT_FAILED if failed else EXIT_OK


def _report_unrun(console: Console, item: Loaded, names: list[str],
                  skipped: list[tuple[str, str, str]]) -> int:
    """Print a script that will not run; returns 1 if it did not parse (0: unsupported)."""
    assert item.error is not None
    if item.unsupported:
        _print_unrun(console, "UNSUPPORTED", item.path, "", item.error.message,
                     item.error.line)
        skipped += [(name, item.path, item.error.message) for name in names]
        return 0
    _print_unrun(console, "NOT PARSED", item.path, "", item.error.message, item.error.line)
    return 1


def _print_unrun(console: Console, kind: str, path: str, target: str, message: str,
                 line: int = 0) -> None:
    style = "magenta" if kind == "UNSUPPORTED" else "bold magenta"
    where = f"[cyan]\\[{target}][/]  " if target else ""
    at = f"line {line}: " if line else ""
    console.print(f"[{style}]{kind:<11}[/] {escape(path)}  {where}", highlight=False,
                  soft_wrap=True)
    console.print(f"          {escape(at + message)}", highlight=False, soft_wrap=True)


def _new_target(name: str) -> Target:
    try:
        return create_target(name)
    except DrillError as exc:
        raise _UsageError(str(exc)) from None


def _run_one(script: Script, name: str, tolerance: float | None, timeout: float | None,
             console: Console, verbose: bool, unexpected: Literal["fail", "defer"] = "fail"
             ) -> DrillResult | DrillUnsupported:
    """Run one script on a fresh target; a DrillUnsupported (an option or construct
    this target cannot honour, from ``Target.prepare``) is returned, not raised."""
    def log(line: str) -> None:
        console.print(f"[dim]{escape(line)}[/]", highlight=False, soft_wrap=True)

    if verbose:
        console.print(f"[bold]{escape(script.path)}[/] [cyan]\\[{name}][/]", highlight=False)
    wall = None if timeout is None else 2 * timeout + 30

    def once() -> DrillResult:
        return run_script(script, _new_target(name), tolerance=tolerance,
                          log=log if verbose else None, timeout=timeout, wall_timeout=wall,
                          unexpected=unexpected)

    try:
        if name != "linux":
            return once()
        # The kernel on a loaded machine can be late: a run that failed on timing
        # only is run once more in a fresh namespace (docs/drill-linux.md).
        from tcpstack.harness.drill.targets.linux import run_with_timing_retry

        result, reruns = run_with_timing_retry(once)
        if reruns and verbose:
            log(f"run again after a timing failure ({reruns}x)")
        return result
    except DrillUnsupported as exc:
        return exc
    except DrillError as exc:
        raise _UsageError(f"{name} target: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tcpstack.cli.drill``: the drill command on its own."""
    parser = argparse.ArgumentParser(
        prog="tcpstack drill", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    try:
        return run_drill(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
