"""The ``tcpstack`` command: demo, scenarios, stats, bench, tun... (DESIGN.md, "The command line").

Every error caused by the user's input is one line on stderr and a non-zero
exit status (2 for usage errors, 1 for failures while running), never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from .. import __version__
from ..scenarios import SCENARIOS, Scenario, ScenarioOptions, ScenarioResult, get_scenario
from ..tools.i18n import Lang, default_lang, parse_lang
from ..tools.wrap import wrap
from .argtypes import UsageError, positive_seconds, probability, seconds
from .bench import add_bench_parser, run_bench_command
from .outputs import open_output
from .plot import add_plot_parser, check_plot_outputs, plot_records, run_plot
from .stats import add_stats_parser, run_stats

__all__ = ["UsageError", "build_parser", "main"]


DEMO_EPILOG = """\
examples:
  tcpstack demo                         the full lifecycle, drawn as a ladder
  tcpstack demo lost-final-ack          why TIME-WAIT exists
  tcpstack demo lifecycle --absolute    wire sequence numbers instead of relative
  tcpstack demo --loss 0.2 --seed 7     the lifecycle over a lossy link
  tcpstack demo --json > trace.jsonl    the structured trace instead of the drawing
  tcpstack demo lost-final-ack --pcap run.pcapng
                                        also write a capture; packet comments say which
                                        were lost or dropped, and why (tshark -r run.pcapng)
  tcpstack demo --html view.html        also write the interactive viewer (one file)
  tcpstack demo --mermaid ladder.mmd    also write a Mermaid sequenceDiagram for your notes
  tcpstack demo fast-retransmit --plot-tsg tsg.png --plot-cwnd cwnd.svg
                                        also draw the time-sequence graph and cwnd
  tcpstack demo lifecycle --drop-final-ack   lose the last ACK of the close
  tcpstack demo --drop 1 --drop 3       lose the 1st and 3rd packets of the run
  tcpstack demo close-wait-leak --lang zh    the explanation in Chinese
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tcpstack`` command."""
    parser = argparse.ArgumentParser(
        prog="tcpstack",
        description="A complete TCP (RFC 9293) in pure Python: watch it, test it, run it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'tcpstack COMMAND --help' for the options of each command",
    )
    parser.add_argument("--version", action="version", version=f"tcpstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run a scenario in the simulator and draw its ladder diagram",
        description="Run a scenario in the simulator (virtual time) and draw both ends' "
        "segments and states as a ladder diagram.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=DEMO_EPILOG,
    )
    demo.add_argument("scenario", nargs="?", default="lifecycle",
                      help="scenario name (default: lifecycle; see 'tcpstack scenarios')")
    out = demo.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the JSON Lines trace instead")
    out.add_argument("--pcap", metavar="FILE", type=Path,
                     help="also write a pcapng capture, with a comment on every packet that "
                          "was lost or dropped")
    out.add_argument("--html", metavar="FILE", type=Path,
                     help="also write the interactive viewer: a self-contained HTML page")
    out.add_argument("--svg", metavar="FILE", type=Path, help="also write an SVG ladder")
    out.add_argument("--mermaid", metavar="FILE", type=Path,
                     help="also write the ladder as a Mermaid sequenceDiagram (renders in "
                          "Markdown notes: Obsidian, Typora, GitHub)")
    out.add_argument("--plot-tsg", metavar="FILE", type=Path,
                     help="also draw the time-sequence graph (FILE.png, .svg or .pdf; "
                          "see 'tcpstack plot'); a run without data gets a warning instead")
    out.add_argument("--plot-cwnd", metavar="FILE", type=Path,
                     help="also draw cwnd and ssthresh over time (FILE.png, .svg or .pdf)")
    out.add_argument("--trace", metavar="FILE", type=Path,
                     help="also write the JSON Lines trace to FILE")
    out.add_argument("--absolute", action="store_true",
                     help="show wire sequence numbers (default: relative to each ISN)")
    out.add_argument("--quiet", action="store_true",
                     help="no explanation text, only the diagram")
    out.add_argument("--width", type=_columns, metavar="N",
                     help=f"draw for N columns, at least {MIN_COLUMNS} (default: the "
                          "terminal's width; 80 when the output is a pipe)")
    add_network_options(demo)
    _add_lang_option(demo)

    scenarios = sub.add_parser(
        "scenarios",
        help="list the scenarios, or explain one",
        description="List the scenarios that 'tcpstack demo NAME' runs, one line each; with "
        "a NAME, print the question that scenario answers and a short answer.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tcpstack scenarios\n  tcpstack scenarios lost-final-ack --lang zh",
    )
    scenarios.add_argument("scenario", nargs="?", default=None,
                           help="a scenario to explain (default: list them all)")
    _add_lang_option(scenarios)

    add_bench_parser(sub)
    add_plot_parser(sub)
    add_network_options(add_stats_parser(sub))

    torture = sub.add_parser(
        "torture",
        help="run many seeded transfers over hostile simulated links",
        description="Run seeded two-way transfers (0 to 4 MiB each way) over links with "
        "loss, duplication, reordering, corruption, jitter and outages. Each must arrive "
        "byte-exact and close cleanly, or time out when an outage outlasts R2. Exit status "
        "1 if any seed fails.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tcpstack torture --seeds 5000 --jobs 2\n"
        "  tcpstack torture --start 123 --seeds 1      reproduce one seed\n"
        "  tcpstack torture --seeds 200 --json > results.json",
    )
    torture.add_argument("--seeds", type=int, default=1000, help="how many seeds (default 1000)")
    torture.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    torture.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    torture.add_argument("--max-size", type=int, default=4 * 1024 * 1024,
                         help="largest transfer per direction in bytes (default 4 MiB)")
    torture.add_argument("--json", action="store_true",
                         help="print one JSON object per seed instead of a summary")

    try:
        from .tun import add_tun_parser
    except ImportError:  # pragma: no cover - the TUN driver is Linux-only
        pass
    else:
        add_tun_parser(sub)
    from .drill import add_drill_parser

    add_drill_parser(sub)
    from .ui import add_ui_parser

    add_ui_parser(sub)
    # tcpstack attack (issue 12)
    from .attack import add_attack_parser

    add_attack_parser(sub)
    from .experiment import add_experiment_parser  # tcpstack experiment (issue 13)

    add_experiment_parser(sub)
    from .cc import add_cc_parser  # tcpstack cc (issue 13)

    add_cc_parser(sub)
    return parser


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """The simulated network's knobs (``demo``, ``stats``): seed, delay, loss...;
    :func:`scenario_options` turns them into :class:`ScenarioOptions`."""
    net = parser.add_argument_group("network")
    net.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    net.add_argument("--delay", type=seconds, default=0.010,
                     help="one-way delay in seconds (default 0.010)")
    net.add_argument("--loss", type=probability, default=0.0,
                     help="loss probability per packet, 0..1")
    net.add_argument("--duplicate", type=probability, default=0.0,
                     help="duplication probability per packet, 0..1")
    net.add_argument("--reorder", type=probability, default=0.0,
                     help="reordering probability per packet, 0..1")
    net.add_argument("--jitter", type=seconds, default=0.0,
                     help="random extra delay up to this many seconds")
    net.add_argument("--msl", type=positive_seconds, default=120.0,
                     help="maximum segment lifetime in seconds; TIME-WAIT is 2 x MSL "
                          "(default 120)")
    net.add_argument("--drop", metavar="N", action="append", default=[],
                     help="lose the N-th packet of the run (1-based, counted over the "
                          "whole network in the order sent); repeatable")
    net.add_argument("--drop-final-ack", action="store_true",
                     help="lose the last ACK of the close (the one acknowledging the "
                          "peer's FIN)")
    tcp = parser.add_argument_group("tcp")
    tcp.add_argument("--cc", "--congestion-control", dest="congestion_control",
                     metavar="NAME", default="newreno",
                     help="both hosts' congestion control (`tcpstack cc list`; default newreno)")
    tcp.add_argument("--ecn", choices=("off", "on", "passive"), default="off",
                     help="both hosts' ECN (RFC 3168): on asks for it, passive accepts it "
                          "(default off)")


def scenario_options(args: argparse.Namespace) -> ScenarioOptions:
    """The :class:`ScenarioOptions` of :func:`add_network_options`' flags.

    Raises:
        UsageError: a bad ``--drop`` packet number.
    """
    return ScenarioOptions(
        seed=args.seed,
        delay=args.delay,
        loss=args.loss,
        duplicate=args.duplicate,
        reorder=args.reorder,
        jitter=args.jitter,
        msl=args.msl,
        drop=_drop_numbers(args.drop),
        drop_final_ack=args.drop_final_ack,
        congestion_control=_algorithm(args.congestion_control),
        ecn=args.ecn,
    )


def _algorithm(name: str) -> str:
    """``name`` if it is a registered congestion control algorithm.

    Raises:
        UsageError: it is not (the message lists the known ones).
    """
    from ..congestion import ALGORITHMS

    if name not in ALGORITHMS:
        raise UsageError(f"unknown congestion control {name!r}; known: {', '.join(ALGORITHMS)}")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tcpstack`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return run_demo(args)
        if args.command == "scenarios":
            return run_scenarios(_lang(args), args.scenario)
        if args.command == "bench":
            return run_bench_command(args)
        if args.command == "plot":
            return run_plot(args)
        if args.command == "stats":
            return run_stats(args, scenario_options(args))
        if args.command == "torture":
            from .torture import run_torture

            if args.seeds < 1 or args.jobs < 1 or args.max_size < 0 or args.start < 0:
                raise UsageError("--seeds and --jobs must be >= 1, --start and --max-size >= 0")
            return run_torture(start=args.start, seeds=args.seeds, jobs=args.jobs,
                               max_size=args.max_size, as_json=args.json)
        if args.command == "tun":
            from .tun import run_tun

            return run_tun(args)
        if args.command == "drill":
            from .drill import run_drill

            return run_drill(args)
        if args.command == "ui":
            from .ui import run_ui

            return run_ui(args)
        if args.command == "attack":  # issue 12
            from .attack import run_attack

            return run_attack(args)
        if args.command == "experiment":  # issue 13
            from .experiment import run_experiment

            return run_experiment(args)
        if args.command == "cc":  # issue 13
            from .cc import run_cc

            return run_cc(args)
        parser.print_help()
        return 2
    except UsageError as exc:
        print(f"tcpstack: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _stdout_closed()
    except OSError as exc:
        print(f"tcpstack: error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


MIN_COLUMNS = 60
"""The narrowest ``--width`` (the ladder's own minimum)."""


def _columns(text: str) -> int:
    """``--width``: a number of terminal columns, at least :data:`MIN_COLUMNS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of columns: {text!r}") from None
    if value < MIN_COLUMNS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_COLUMNS} columns, got {value}")
    return value


class _Console(Console):
    """A console whose closed stdout ends the command like any other (:func:`_stdout_closed`)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # rich would exit with status 1 instead


def _stdout_closed() -> int:
    """The reader of stdout went away (``tcpstack demo | head``): stop quietly.

    Exits like a program killed by SIGPIPE would (128 + 13), as ``yes | head``
    does; stdout is pointed at /dev/null so that flushing it at exit does not
    raise again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file descriptor (captured)
        pass
    return 141  # 128 + SIGPIPE (13)


def _add_lang_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", metavar="en|zh", default=None,
                        help="language of the explanations: en or zh (default: from the "
                             "locale, LC_ALL / LC_MESSAGES / LANG)")


def _lang(args: argparse.Namespace) -> Lang:
    """The language of ``--lang``, or of the locale.

    Raises:
        UsageError: not a language we have.
    """
    if args.lang is None:
        return default_lang()
    try:
        return parse_lang(args.lang)
    except ValueError as exc:
        raise UsageError(f"--lang: {exc}") from None


def _drop_numbers(values: Sequence[str]) -> tuple[int, ...]:
    """The packet numbers of ``--drop``.

    Raises:
        UsageError: not a whole number >= 1.
    """
    numbers = []
    for value in values:
        try:
            n = int(value)
        except ValueError:
            raise UsageError(f"--drop: not a packet number: {value!r}") from None
        if n < 1:
            raise UsageError(f"--drop: packet numbers start at 1, got {n}")
        numbers.append(n)
    return tuple(numbers)


def run_scenarios(lang: Lang = "en", name: str | None = None) -> int:
    """Print every scenario with its one-line summary, or the question and answer
    of the scenario ``name``, in ``lang``.

    Raises:
        UsageError: no scenario called ``name``.
    """
    if name is not None:
        console = Console()
        console.print(_explanation(_scenario(name), lang, console.width))
        return 0
    width = max(len(n) for n in SCENARIOS)
    for key, sc in SCENARIOS.items():
        print(f"{key:<{width}}  {sc.summary.get(lang)}")
    return 0


def _scenario(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        UsageError: there is none (the message lists the known names).
    """
    try:
        return get_scenario(name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


EXPLANATION_WIDTH = 100
"""Widest explanation panel, columns (long lines are hard to read)."""


def _explanation(scenario: Scenario, lang: Lang, width: int) -> Panel:
    """The scenario's summary, question and short answer in ``lang``, wrapped
    (Chinese included) to fit ``width`` columns."""
    inner = max(min(width, EXPLANATION_WIDTH) - 4, 20)  # borders and padding
    body = Text(no_wrap=True)
    parts = [(scenario.summary, "dim"), (None, ""), (scenario.question, "bold"),
             (scenario.answer, "")]
    for i, (part, style) in enumerate(parts):
        lines = wrap(part.get(lang), inner) if part is not None else [""]
        body.append(("\n" if i else "") + "\n".join(lines), style=style)
    return Panel(body, title=f"[bold]{scenario.name}[/]", expand=False)


def _print_wrapped(console: Console, text: str) -> None:
    """Print ``text`` wrapped to the console's width (Chinese included)."""
    console.print(Text("\n".join(wrap(text, max(console.width, 20))), no_wrap=True),
                  highlight=False)


def run_demo(args: argparse.Namespace) -> int:
    """Run one scenario and draw (or dump) its trace."""
    scenario = _scenario(args.scenario)
    lang = _lang(args)
    for option in ("pcap", "trace", "html", "svg", "mermaid"):  # a bad path fails now
        path = getattr(args, option)
        if path:
            open_output(path, f"--{option}").close()
    check_plot_outputs(args.plot_tsg, args.plot_cwnd)
    result = scenario.run(scenario_options(args))
    _write_outputs(args, result)
    if args.json:
        result.trace.write_jsonl(sys.stdout)
        return 0
    from ..tools.ladder import render_ladder

    console = _Console(width=args.width)
    if not args.quiet:
        console.print(_explanation(scenario, lang, console.width))
    console.print(render_ladder(result.records, left=result.client, right=result.server,
                                absolute=args.absolute, lang=lang))
    if not args.quiet:
        for note in result.notes:
            _print_wrapped(console, note.get(lang))
        _print_wrapped(console, _summary(result, lang))
    return 0


def _summary(result: ScenarioResult, lang: Lang = "en") -> str:
    zh = lang == "zh"
    lines = []
    for host in (result.client, result.server):
        conns = result.connections(host)
        if not conns:
            lines.append(f"{host}: " + ("（没有连接）" if zh else "(no connection)"))
        for conn in conns:
            ports = "→".join(end.rsplit(":", 1)[-1] for end in conn.split("-", 1))
            label = f"{host} {ports}" if len(conns) > 1 else host
            lines.append(f"{label}: " + " → ".join(result.states(host, conn)))
    net = result.network
    lines.append(f"虚拟时间 {net.now:.3f} 秒内共 {net.packets_sent} 个数据包" if zh else
                 f"{net.packets_sent} packets in {net.now:.3f} s of virtual time")
    return "\n".join(lines)


def _write_outputs(args: argparse.Namespace, result: ScenarioResult) -> None:
    if args.pcap:
        _write_pcap(args, result)
    for kind in ("tsg", "cwnd"):
        if path := getattr(args, f"plot_{kind}"):
            try:
                plot_records(result.records, kind, path)
            except UsageError as exc:  # e.g. the connection never carried data
                print(f"tcpstack: warning: --plot-{kind} not written: {exc}", file=sys.stderr)
    if args.mermaid:
        from ..tools.mermaid import render_mermaid

        args.mermaid.write_text(
            render_mermaid(result.records, title=f"tcpstack: {result.name}", left=result.client,
                           right=result.server, absolute=args.absolute,
                           lang=_lang(args)),
            encoding="utf-8",
        )
    if args.trace:
        with args.trace.open("w", encoding="utf-8") as fp:
            result.trace.write_jsonl(fp)
    if args.html:
        from .ui import viewer_html

        args.html.write_text(viewer_html(result, args), encoding="utf-8")
    if args.svg:
        from ..tools.html import render_svg

        args.svg.write_text(
            render_svg(result.records, title=f"tcpstack: {result.name}", left=result.client,
                       right=result.server, absolute=args.absolute, lang=_lang(args)),
            encoding="utf-8",
        )


def _write_pcap(args: argparse.Namespace, result: ScenarioResult) -> None:
    """``--pcap``: pcapng, every packet at its send time, losses and drops commented."""
    from ..tools.fates import packet_comments
    from ..tools.pcap import write_pcapng

    packets = result.network.packets
    write_pcapng(
        args.pcap,
        packets,
        packet_comments(packets, result.records, _lang(args)),
        section_comment=f"tcpstack demo {result.name} --seed {args.seed} --loss {args.loss} "
        f"--delay {args.delay}: a simulated run, times are virtual seconds",
        interface="sim",
        description="tcpstack simulator: every packet put on a link, at its send time",
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
