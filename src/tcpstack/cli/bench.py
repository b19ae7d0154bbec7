"""``tcpstack bench``: the benchmarks, one JSON object on stdout (or a table).

How each figure is measured: ``docs/performance.md``. Every flag is checked
here, after parsing, so that bad input is one line (``tcpstack: error: ...``)
and exit status 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from ..harness.aio_time import AIO_VIRTUAL_TIME_TARGET
from ..harness.bench import (
    ALL_FIGURES,
    DEFAULT_FIGURES,
    FIGURES,
    MAX_IDLE_HOSTS,
    SIM_STEP_TARGET,
    run_bench,
)
from ..harness.references import TUN_VS_VETH_TARGET
from ..harness.scaling import ACCEPT_TARGET, CONN_MEMORY_TARGET, SCALING_TARGET
from ..harness.speed import (
    CHURN_TARGET,
    MAX_CHURN,
    PER_PACKET_TARGET,
    SIM_BULK_TARGET,
    TRACE_COST_TARGET,
    churn_profile,
    profile_run,
)
from .argtypes import UsageError, probability
from .outputs import open_output

BENCH_EPILOG = f"""\
figures (--only NAMES, comma-separated; default: all but those marked opt-in):
  sim_bulk         sim_bulk_mbps: 10^6 bytes/s of wall time, --size bytes in the simulator
                   ({SIM_BULK_TARGET}); per_packet_us: wall µs per packet ({PER_PACKET_TARGET})
  trace_cost       trace_cost: sim_bulk's speed with a trace kept / without ({TRACE_COST_TARGET})
  sim_bulk_lossy   sim_bulk_lossy_mbps: the same with --loss ({SIM_BULK_TARGET})
  sim_churn        sim_churn_cps: connect, 100 bytes each way, close, TIME-WAIT reaped,
                   per wall second; --churn connections per run ({CHURN_TARGET})
  calls_per_packet calls_per_packet: Python calls per packet, cProfile of --profile-size bytes
  kernel_loopback  kernel_loopback_mbps: Python kernel sockets over loopback, --size bytes
  kernel_veth      kernel_veth_mbps: kernel to kernel over a veth pair (root)
  tun_bulk         tun_bulk_mbps_send, tun_bulk_mbps_recv: tcpstack on TUN <-> kernel (root);
                   tun_vs_veth: the slower direction / kernel_veth ({TUN_VS_VETH_TARGET})
  conn_memory      conn_memory_bytes: tracemalloc bytes per idle ESTABLISHED end
                   ({CONN_MEMORY_TARGET})
  scaling          scaling_ratio: cost per packet with --scale idle connections / with none
                   ({SCALING_TARGET}; opt-in)
  accept           accept_scaling: cost per accepted connection at --scale / at --scale/10
                   ({ACCEPT_TARGET}; opt-in)
  sim_step         sim_step_ratio: simulator cost per step with --idle-hosts hosts and
                   --sim-connections idle connections / alone ({SIM_STEP_TARGET})
  idle_million     idle_connection_ends: 500,000 connections (1,000,000 ends) in one process
                   (opt-in: --idle-million, or name it in --only; not in --all)
  aio_time         aio_virtual_time: wall seconds of an asyncio program's 2-hour sleep and
                   keep-alive timeout over the simulator ({AIO_VIRTUAL_TIME_TARGET})
  bulk, handshakes the older single-run figures bulk_clean, bulk_lossy, handshakes (opt-in)

examples:
  tcpstack bench                                  every default figure, JSON
  tcpstack bench --table                          the same as a table
  tcpstack bench --json-out benchmarks/$(date -u +%F)-$(hostname).json --table
  tcpstack bench --only sim_bulk,sim_churn --runs 3
  tcpstack bench --only kernel_veth,tun_bulk --size 4194304      (root)
  tcpstack bench --only kernel_veth,tun_bulk --no-offload         (root, plain packets)
  tcpstack bench --profile 25                     where the time goes (markdown table)
  tcpstack bench --profile 25 --profile-run sim_churn      the same for a churn run (--churn)
  tcpstack bench --all                            also scaling, accept and the older figures
  tcpstack bench --only scaling,accept --scale 20000 --heavy-runs 1
  tcpstack bench --only idle_million              1,000,000 idle ends (GBs of memory)

Figures print {{"median", "min", "max", "runs", "values", "unit", "target", "met",
"wall_seconds", "cpu_seconds", ...}}; a figure that cannot run here (not root)
prints {{"skipped": REASON, ...}}. --idle-hosts is at most {MAX_IDLE_HOSTS:,},
--churn at most {MAX_CHURN:,}.
"""


_DEFAULTS: dict[str, Any] = {
    name: param.default for name, param in inspect.signature(run_bench).parameters.items()
}
"""run_bench's defaults: the flags' defaults."""

_WHOLE_NUMBERS: tuple[tuple[str, str, int | None, str], ...] = (
    # flag (its run_bench keyword with "_" for "-"), metavar, least value, what it sets
    ("--runs", "K", 1, "runs of every figure but scaling, accept and calls_per_packet"),
    ("--heavy-runs", "K", 1, "runs of scaling and accept"),
    ("--size", "BYTES", 1, "bytes of each transfer of sim_bulk, trace_cost, sim_bulk_lossy, "
     "kernel_loopback, kernel_veth, tun_bulk and bulk"),
    ("--scale-size", "BYTES", 1, "bytes of each transfer of scaling and sim_step"),
    ("--churn", "N", 1, "connections per run of sim_churn"),
    ("--profile-size", "BYTES", 1, "bytes of the profiled transfer (calls_per_packet, "
     "--profile)"),
    ("--connections", "N", 1, "open+close cycles of the handshakes figure"),
    ("--scale", "N", 10, "idle connections of scaling; the larger size of accept"),
    ("--memory-connections", "N", 1, "connections conn_memory opens"),
    ("--idle-hosts", "H", 1, "idle hosts of sim_step"),
    ("--sim-connections", "N", 0, "idle connections of sim_step, from the idle hosts"),
    ("--seed", "N", None, "seed of every network, stack and payload"),
)

PROFILE_ROWS = 20
"""Rows of ``--profile`` without a number."""

PROFILE_RUNS = ("sim_bulk", "sim_churn")
"""What ``--profile-run`` may name: the first is the default."""


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` command to the ``tcpstack`` parser."""
    bench = sub.add_parser(
        "bench",
        help="run the benchmarks and print one JSON object",
        description="Measure the stack: bulk transfers and connection churn in the "
        "simulator (wall-clock speed, cost per packet, calls per packet, the cost of a "
        "trace), the kernel's TCP and tcpstack on TUN as references in the same run, "
        "memory per idle connection, and how costs grow with idle connections and hosts. "
        "Each figure is the median, min and max of --runs runs. Prints one JSON object "
        "with the machine; docs/performance.md explains each figure.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=BENCH_EPILOG,
    )
    which = bench.add_argument_group("what to measure")
    which.add_argument("--only", metavar="NAMES",
                       help="comma-separated figures to measure (names below)")
    which.add_argument("--all", action="store_true",
                       help="every figure but idle_million (adds scaling, accept, bulk, "
                       "handshakes: several minutes)")
    million = _DEFAULTS["million_connections"]
    which.add_argument("--idle-million", metavar="CONNECTIONS", nargs="?", const=str(million),
                       help=f"also open CONNECTIONS idle connections (default {million}: "
                       f"{2 * million:,} ends) in this process and report memory and time")
    which.add_argument("--no-offload", action="store_true",
                       help="tun_bulk without segmentation offload: plain packets of at most "
                       "the MTU cross the TUN device (default: offload, as `tcpstack tun`)")
    which.add_argument("--profile", metavar="ROWS", nargs="?", const=str(PROFILE_ROWS),
                       help="instead of the figures, print where the time goes: the ROWS "
                       f"functions (default {PROFILE_ROWS}) with the most self time in a "
                       "cProfile of sim_bulk (--profile-size bytes) or of sim_churn "
                       "(--profile-run), as a Markdown table")
    which.add_argument("--profile-run", metavar="RUN", default=PROFILE_RUNS[0],
                       help="the run --profile profiles: sim_bulk (one transfer of "
                       "--profile-size bytes) or sim_churn (one run of --churn connections, "
                       "its calls per lifecycle on the first line) (default "
                       f"{PROFILE_RUNS[0]})")
    output = bench.add_argument_group("output")
    output.add_argument("--table", action="store_true",
                        help="print a table (figure, median, min, max, unit, target, met) "
                        "instead of the JSON")
    output.add_argument("--json-out", metavar="FILE", type=Path,
                        help="also write the JSON object to FILE (see benchmarks/README.md)")
    sizes = bench.add_argument_group("sizes and runs")
    sizes.add_argument("--loss", metavar="P", default=_DEFAULTS["loss"],
                       help=f"loss probability of the lossy transfers "
                       f"(default {_DEFAULTS['loss']})")
    for flag, metavar, least, what in _WHOLE_NUMBERS:
        default = _DEFAULTS[_keyword(flag)]
        floor = f"; at least {least}" if least not in (None, 0, 1) else ""
        sizes.add_argument(flag, metavar=metavar, default=default,
                           help=f"{what} (default {default}{floor})")


def bench_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~tcpstack.harness.bench.run_bench` the flags ask for.

    Raises:
        UsageError: a flag's value is not a number, out of range, or names no figure
            (or no run of ``--profile-run``).
    """
    figures = list(ALL_FIGURES if args.all else DEFAULT_FIGURES)
    if args.only is not None:
        if args.all:
            raise UsageError("--only and --all exclude each other")
        figures = [name.strip() for name in args.only.split(",") if name.strip()]
        for name in figures:
            if name not in FIGURES:
                raise UsageError(f"--only: unknown figure {name!r} "
                                 f"(choose from {', '.join(FIGURES)})")
        if not figures:
            raise UsageError("--only: name at least one figure")
    if args.profile_run not in PROFILE_RUNS:
        raise UsageError(f"--profile-run must be one of {', '.join(PROFILE_RUNS)}, "
                         f"got {args.profile_run!r}")
    options: dict[str, Any] = {"figures": figures}
    if args.no_offload:
        options["tun_options"] = {"offload": False}
    if args.idle_million is not None:
        figures.append("idle_million")
        options["million_connections"] = _integer("--idle-million", args.idle_million, 1)
    try:
        options["loss"] = probability(str(args.loss))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--loss: {exc}") from None
    for flag, _, least, _ in _WHOLE_NUMBERS:
        key = _keyword(flag)
        options[key] = _integer(flag, getattr(args, key), least)
    if options["idle_hosts"] > MAX_IDLE_HOSTS:
        raise UsageError(f"--idle-hosts must be <= {MAX_IDLE_HOSTS}, got {options['idle_hosts']}")
    if options["churn"] > MAX_CHURN:
        raise UsageError(f"--churn must be <= {MAX_CHURN}, got {options['churn']}")
    return options


def run_bench_command(args: argparse.Namespace) -> int:
    """Measure what the flags ask for and print one JSON object (or a table, or the
    profile); returns the exit status (1 if a measurement failed)."""
    options = bench_options(args)
    if args.profile is not None:
        rows = _integer("--profile", args.profile, 1)
        if args.profile_run == "sim_churn":
            churn = churn_profile(options["churn"], seed=options["seed"], top=rows)
            print(churn_summary(churn))
            print(profile_markdown(churn["top"]))
        else:
            print(profile_markdown(profile_run(options["profile_size"], seed=options["seed"],
                                               top=rows)))
        return 0
    out: IO[str] | None = None
    if args.json_out is not None:
        # Checked now, written at the end: opened to append, so that a result
        # file tracked by git is not emptied (and the run not marked "dirty").
        out = open_output(args.json_out, "--json-out", "a")
    busy = _busy()
    if busy:
        print(f"tcpstack bench: warning: {busy}", file=sys.stderr)
    progress = None
    if sys.stderr.isatty():
        def progress(name: str) -> None:
            print(f"tcpstack bench: measuring {name} ...", file=sys.stderr, flush=True)
    try:
        try:
            result = run_bench(**options, progress=progress)
        except RuntimeError as exc:
            print(f"tcpstack bench: a measurement failed: {exc}", file=sys.stderr)
            return 1
        text = json.dumps(result, indent=2)
        if out is not None:
            out.truncate(0)  # in append mode, the text then starts the file
            out.write(text + "\n")
    finally:
        if out is not None:
            out.close()
    if args.table:
        print_table(result)
    else:
        print(text)
    return 0


TABLE_COLUMNS = ("figure", "median", "min", "max", "unit", "target", "met")
"""The columns of :func:`figure_rows`."""


def figure_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """The figures of ``result`` (:func:`run_bench`'s, or a file of ``benchmarks/``)
    as rows of :data:`TABLE_COLUMNS`, in the JSON's order. A skipped figure says
    why in its unit column; an older figure (no median) points to the JSON."""
    rows: list[tuple[str, ...]] = []
    for key, fig in result.items():
        if not isinstance(fig, dict) or key in ("system", "options"):
            continue
        if "skipped" in fig:
            rows.append((key, "skipped", "", "", fig["skipped"], fig.get("target") or "", ""))
        elif "median" in fig:
            met = {True: "yes", False: "no", None: ""}[fig.get("met")]
            rows.append((key, _number(fig["median"]), _number(fig["min"]), _number(fig["max"]),
                         fig.get("unit", ""), fig.get("target") or "", met))
        else:
            rows.append((key, "", "", "", "(an older figure: see the JSON)", "", ""))
    return rows


def machine_line(result: dict[str, Any]) -> str:
    """One line saying where and when ``result`` was measured."""
    system = result.get("system", {})
    commit = system.get("commit")
    commit = f"{commit[:10]}{' + changes' if system.get('dirty') else ''}" if commit else "no git"
    return (f"tcpstack {system.get('tcpstack')} ({commit}) on {system.get('cpu')}, "
            f"{system.get('cpus')} CPUs, {system.get('implementation')} "
            f"{system.get('python')}, {system.get('date_utc')}")


def print_table(result: dict[str, Any], file: IO[str] | None = None) -> None:
    """Print the figures of ``result`` as a rich table, under :func:`machine_line`."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, width=140)
    console.print(machine_line(result), highlight=False)
    table = Table(*TABLE_COLUMNS)
    for row in figure_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"took {result.get('total_wall_seconds')} s of wall time", highlight=False)


def markdown_table(result: dict[str, Any]) -> str:
    """The figures of ``result`` as a Markdown table (:func:`figure_rows`)."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |",
             "| --- | ---: | ---: | ---: | --- | --- | --- |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in figure_rows(result)]
    return "\n".join(lines)


def profile_markdown(rows: list[dict[str, Any]]) -> str:
    """:func:`~tcpstack.harness.speed.profile_table`'s rows as a Markdown table."""
    lines = ["| function | self % | self s | cumulative s | calls |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        name = row["function"].replace("|", "\\|")
        lines.append(f"| `{name}` | {row['self_percent']:.1f} | {row['self_s']:.3f} | "
                     f"{row['cumulative_s']:.3f} | {row['calls']:,} |")
    return "\n".join(lines)


def churn_summary(profile: dict[str, Any]) -> str:
    """The first line of ``--profile-run sim_churn``: what
    :func:`~tcpstack.harness.speed.churn_profile` counted, per lifecycle."""
    return (f"sim_churn under cProfile: {profile['connections']:,} connections, "
            f"{profile['calls']:,} calls, {profile['calls_per_lifecycle']:,} calls and "
            f"{profile['packets_per_lifecycle']} packets per lifecycle\n")


def _busy() -> str | None:
    """A warning if other work already fills the CPUs (wall-clock figures will be
    noisy), else None."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cpus = os.cpu_count() or 1
    if load < cpus:
        return None
    return (f"the machine is busy (load {load:.1f} on {cpus} CPUs): wall-clock figures "
            "will be noisy; compare them with their CPU-time figures (\"cpu\")")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"


def _keyword(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _integer(flag: str, value: object, minimum: int | None) -> int:
    """``value`` (text from the command line, or an int default) as an int >= ``minimum``."""
    try:
        number = int(str(value))
    except ValueError:
        raise UsageError(f"{flag}: not a whole number: {value!r}") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"{flag} must be >= {minimum}, got {number}")
    return number


