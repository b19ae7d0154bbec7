"""``tcpstack attack NAME``: run one attack experiment and judge it (issue 12).

A rich progress bar on stderr (only when stderr is a terminal), then a
table of the measured values and one of the criterion's parts, each PASS or
FAIL; ``--json`` prints one object instead (:meth:`AttackResult.to_dict`).
Exit status: 0 when the attack's "done means" criterion held, 1 when it did
not, 2 for bad input (one line).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from ..harness.attack import ATTACKS, BLIND_KINDS, AttackResult
from ..harness.attack.blind import DEFAULT_SIZE
from ..harness.attack.ofo import DEFAULT_CPU_BUDGET, DEFAULT_WINDOW
from ..harness.attack.synflood import MEMORY_BOUND
from ..harness.attack.zerowindow import DEFAULT_MAX_TIME, DEFAULT_USER_TIMEOUT
from .argtypes import positive_seconds

ATTACK_EPILOG = """\
examples:
  tcpstack attack blind-rst --count 1000000      spoofed RSTs at a 4 MiB transfer
  tcpstack attack blind-data --spread 1048576    guesses within 1 MiB of the true numbers
  tcpstack attack syn-flood --rate 100000 --seconds 10 --clients 1000
  tcpstack attack ofo-holes --window 4194304     a 4 MiB window of 1-byte holes
  tcpstack attack zero-window                    R2, user timeout and orphan cases
  tcpstack attack ack-storm --json > storm.json  one JSON object on stdout

exit status: 0 when the issue's "done means" criterion held, 1 when it did not,
2 for bad input
"""


def _count(text: str) -> int:
    """A whole number >= 0 (``1000000``, ``1_000_000`` or ``1,000,000``)."""
    try:
        value = int(text.replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    """A whole number >= 1."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_attack_parser(sub: Any) -> None:
    """Add ``attack`` and one sub-command per attack to the ``tcpstack`` parser's sub-parsers."""
    attack = sub.add_parser(
        "attack",
        help="run an attack experiment in the simulator and judge the stack",
        description="Run one attack in the simulator (virtual time, seeded), measure what "
        "the stack does and judge it against the 'done means' criterion of issue 12. "
        "Attacks: " + "; ".join(f"{k}: {v}" for k, v in ATTACKS.items()) + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=ATTACK_EPILOG,
    )
    names = attack.add_subparsers(dest="attack", metavar="NAME")
    for name, summary in ATTACKS.items():
        p = names.add_parser(name, help=summary, description=summary[0].upper() + summary[1:]
                             + ". See docs/security.md, 'Attack experiments'.")
        p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON object on stdout instead of the tables")
        if name in BLIND_KINDS or name == "ack-storm":
            default = 1_000_000 if name in BLIND_KINDS else 100_000
            p.add_argument("--count", type=_count, default=default,
                           help=f"spoofed segments (default {default:,})")
            p.add_argument("--size", type=_positive, default=DEFAULT_SIZE,
                           help=f"bytes of the transfer under attack (default {DEFAULT_SIZE:,})")
        if name in BLIND_KINDS:
            p.add_argument("--spread", type=_positive, default=1 << 32,
                           help="guesses range over this many sequence values around the "
                                "true ones (default 4294967296: fully blind)")
        if name == "syn-flood":
            p.add_argument("--rate", type=_count, default=100_000,
                           help="spoofed SYNs per second of virtual time (default 100,000)")
            p.add_argument("--seconds", type=positive_seconds, default=10.0,
                           help="how long the flood lasts, virtual seconds (default 10)")
            p.add_argument("--clients", type=_count, default=1000,
                           help="legitimate clients connecting during the flood (default 1000)")
            p.add_argument("--connect-timeout", type=positive_seconds, default=3.0,
                           help="seconds a client waits for its connection (default 3)")
            p.add_argument("--memory-bound", type=_positive, default=MEMORY_BOUND,
                           help="bytes the server stack's peak memory is judged against "
                                f"(default {MEMORY_BOUND:,})")
        if name == "ofo-holes":
            p.add_argument("--window", type=_positive, default=DEFAULT_WINDOW,
                           help=f"the receiver's window in bytes, 4..2**30 "
                                f"(default {DEFAULT_WINDOW:,})")
            p.add_argument("--segment", type=_positive, default=1,
                           help="data bytes per segment, each followed by a 1-byte hole "
                                "(default 1)")
            p.add_argument("--cpu-budget", type=positive_seconds, default=DEFAULT_CPU_BUDGET,
                           help="stop feeding holes after this many CPU seconds "
                                f"(default {DEFAULT_CPU_BUDGET:g})")
        if name == "zero-window":
            p.add_argument("--max-time", type=positive_seconds, default=DEFAULT_MAX_TIME,
                           help="virtual seconds each case may last after the peer vanished "
                                f"(default {DEFAULT_MAX_TIME:g})")
            p.add_argument("--user-timeout", type=positive_seconds, default=DEFAULT_USER_TIMEOUT,
                           help="TcpConfig.user_timeout of the user-timeout case "
                                f"(default {DEFAULT_USER_TIMEOUT:g})")


def _runner(args: argparse.Namespace) -> Callable[..., AttackResult]:
    """The function that runs ``args.attack``, its arguments bound."""
    from ..harness import attack as h

    name = args.attack
    if name in BLIND_KINDS:
        return lambda **kw: h.run_blind(name, seed=args.seed, count=args.count, size=args.size,
                                        spread=args.spread, **kw)
    if name == "ack-storm":
        return lambda **kw: h.run_ack_storm(seed=args.seed, count=args.count, size=args.size,
                                            **kw)
    if name == "syn-flood":
        return lambda **kw: h.run_syn_flood(
            seed=args.seed, rate=args.rate, seconds=args.seconds, clients=args.clients,
            connect_timeout=args.connect_timeout, memory_bound=args.memory_bound, **kw)
    if name == "ofo-holes":
        return lambda **kw: h.run_ofo_holes(seed=args.seed, window=args.window,
                                            segment=args.segment, cpu_budget=args.cpu_budget,
                                            **kw)
    return lambda **kw: h.run_zero_window(seed=args.seed, max_time=args.max_time,
                                          user_timeout=args.user_timeout, **kw)


def run_attack(args: argparse.Namespace) -> int:
    """Run the attack ``args`` name; print the result; return the exit status.

    Raises:
        UsageError: no attack named, or values the attack refuses.
    """
    from .argtypes import UsageError

    if args.attack is None:
        raise UsageError("name an attack: " + ", ".join(ATTACKS) + " (see --help)")
    if args.attack == "ofo-holes" and not 4 <= args.window <= 1 << 30:
        raise UsageError(f"--window must be in 4..{1 << 30} bytes, got {args.window}")
    run = _runner(args)
    err = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task(args.attack, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = run(progress=progress)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        _print_tables(result)
    return 0 if result.passed else 1


def _value(value: object, unit: str) -> str:
    """A metric as the table shows it."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def _print_tables(result: AttackResult) -> None:
    """The measured values, then the criterion's parts."""
    console = Console()
    verdict = "[bold green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    params = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in result.params.items())
    table = Table(title=f"tcpstack attack {result.attack} --seed {result.seed} {params}")
    table.add_column("measured")
    table.add_column("value", justify="right")
    for m in result.metrics:
        table.add_row(m.label, _value(m.value, m.unit))
    console.print(table)
    checks = Table(title=f"done means: {result.criterion}")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("measured")
    for c in result.checks:
        checks.add_row(c.name, "[green]PASS[/]" if c.passed else "[red]FAIL[/]", c.detail)
    console.print(checks)
    if result.counters:
        console.print("victim's counters: " + ", ".join(
            f"{k} {v:,}" for k, v in result.counters.items()), highlight=False)
    console.print(f"{verdict} ({result.wall_seconds:.1f} s wall)", highlight=False)


__all__ = ["add_attack_parser", "run_attack"]
