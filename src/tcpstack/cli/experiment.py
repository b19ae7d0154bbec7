"""``tcpstack experiment goodput|fairness|bufferbloat|sweep``: seeded experiments
over the simulator's dumbbell, run by processes here or by a Dask cluster (issue 13).

Each command builds an experiment (:mod:`tcpstack.harness.experiments`),
runs its simulations through the chosen executor with a rich progress bar on
stderr (hidden by ``--quiet`` or when stderr is not a terminal), then prints
a table, or one JSON object with ``--json``, and draws ``--plot FILE``.
Exit status: 0 done, 1 a simulation failed, 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from .argtypes import (
    UsageError,
    number,
    positive_int,
    positive_number,
    positive_seconds,
    seconds,
)
from .plot import check_plot_outputs

if TYPE_CHECKING:
    from ..harness.experiments import Experiment

EXPERIMENT_EPILOG = """\
experiments:
  goodput      goodput vs random loss per algorithm, beside the Mathis model
  fairness     N flows on one bottleneck: Jain's index, goodput over time
  bufferbloat  queueing delay and goodput vs buffer size per algorithm
  sweep        any grid of dumbbell and flow parameters from a TOML file

executors (the results are the same whichever runs them):
  --jobs N                      N processes on this machine (default: all CPUs;
                                --jobs 1 runs in this process)
  --executor dask --scheduler tcp://HOST:8786
                                a Dask cluster (pip install 'tcpstack[cluster]';
                                its workers need the same tcpstack installed)
  --executor dask-local         a Dask LocalCluster of --jobs workers, here

examples:
  tcpstack experiment goodput --loss 0.001,0.01,0.05 --algorithms newreno --plot goodput.png
  tcpstack experiment fairness --flows 2,4 --algorithms newreno --duration 60
  tcpstack experiment bufferbloat --buffers 0.5,1,2,4,8 --queue codel --json > bloat.json
  tcpstack experiment sweep examples/sweep.toml --executor dask --scheduler tcp://10.0.0.5:8786
"""

GOODPUT_EPILOG = """\
The Mathis model (MSS/RTT * 1.22/sqrt(p)) holds for a flow limited by loss,
not by the link: the default link is 100 Mbit/s with a one-BDP buffer, far
above the model's rate for p >= 0.1 % at 50 ms (9 Mbit/s), so NewReno's
sawtooth is set by the losses alone. The table's "limited by" column says
"link" where the model exceeds the link rate and does not apply.

examples:
  tcpstack experiment goodput
  tcpstack experiment goodput --loss 0.001,0.01,0.05 --algorithms newreno,cubic \\
      --bandwidth 10e6 --rtt 0.05 --duration 60 --seed 1
  tcpstack experiment goodput --loss 0.002,0.02 --rtt 0.2 --plot goodput.svg
  tcpstack experiment goodput --executor dask-local --jobs 4 --json > goodput.json
"""

FAIRNESS_EPILOG = """\
Flow i runs the i-th algorithm of --algorithms (cycling through the list) and
starts at i * --stagger seconds. Jain's index is (sum x)^2 / (n sum x^2) over
the flows' goodputs: 1 is perfectly fair, 1/n is one flow taking all.

examples:
  tcpstack experiment fairness --flows 2 --algorithms newreno
  tcpstack experiment fairness --flows 2,4,8 --algorithms newreno,cubic --plot fair.png
  tcpstack experiment fairness --flows 2 --stagger 10 --duration 60 --queue red --ecn
"""

BUFFERBLOAT_EPILOG = """\
One BDP is bandwidth * RTT / 8 bytes (62,500 bytes at 10 Mbit/s and 50 ms).

examples:
  tcpstack experiment bufferbloat --buffers 0.5,1,2,4,8 --algorithms newreno
  tcpstack experiment bufferbloat --buffers 1,8 --queue codel --plot bloat.pdf
"""

SWEEP_EPILOG = """\
The file names shared [dumbbell] fields, one [[flows]] table per kind of flow
and a [grid] of parameters to vary; every combination is one simulation.
See examples/sweep.toml for the format, commented.

examples:
  tcpstack experiment sweep examples/sweep.toml
  tcpstack experiment sweep examples/sweep.toml --jobs 8 --json > sweep.json
"""

EXPERIMENTS = ("goodput", "fairness", "bufferbloat", "sweep")


def _split(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not items or any(not s for s in items):
        raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}")
    return items


def _floats(text: str) -> list[float]:
    """A comma-separated list of finite numbers (``0.001,0.01``)."""
    return [number(item) for item in _split(text)]


def _ints(text: str) -> list[int]:
    """A comma-separated list of whole numbers >= 1 (``2,4,8``)."""
    return [positive_int(item) for item in _split(text)]


def _common(p: argparse.ArgumentParser, *, bandwidth: float, duration: float) -> None:
    """Options every experiment takes: the link, the seed, the executor, the outputs."""
    link = p.add_argument_group("link")
    link.add_argument("--bandwidth", type=positive_number, default=bandwidth, metavar="BIT/S",
                      help=f"bottleneck rate in bit/s (default {bandwidth:g})")
    link.add_argument("--rtt", type=positive_seconds, default=0.05,
                      help="base round-trip time in seconds (default 0.05)")
    link.add_argument("--duration", type=positive_seconds, default=duration,
                      help=f"simulated seconds per point (default {duration:g})")
    link.add_argument("--warmup", type=seconds, default=0.0,
                      help="first seconds that goodput does not count (default 0)")
    link.add_argument("--mss", type=positive_int, default=1460,
                      help="segment size in bytes (default 1460)")
    _run_options(p)


def _run_options(p: argparse.ArgumentParser) -> None:
    run = p.add_argument_group("running")
    run.add_argument("--seed", type=int, default=1,
                     help="the experiment's seed; each simulation's comes from it and the "
                          "point's index (default 1)")
    run.add_argument("--jobs", type=positive_int, default=None,
                     help="worker processes (default: the number of CPUs; 1: in this process)")
    run.add_argument("--executor", choices=("process", "dask", "dask-local"), default="process",
                     help="where simulations run (default process)")
    run.add_argument("--scheduler", metavar="tcp://HOST:8786",
                     help="the Dask scheduler's address, with --executor dask")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout instead of the table")
    out.add_argument("--plot", metavar="FILE", type=Path,
                     help="also draw the results: FILE.png, FILE.svg or FILE.pdf")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


def _algorithms(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--algorithms", type=_split, default=_split(default), metavar="A,B",
                   help=f"congestion controls, comma-separated (default {default}; "
                        "see 'tcpstack cc list')")


def _bottleneck(p: argparse.ArgumentParser, *, buffer: bool = True, ecn: bool = True) -> None:
    """``--buffer-bdp``, ``--queue`` and ``--ecn``, as the experiment takes them."""
    if buffer:
        p.add_argument("--buffer-bdp", type=positive_number, default=1.0, metavar="BDP",
                       help="bottleneck buffer in bandwidth-delay products (default 1)")
    p.add_argument("--queue", choices=("droptail", "red", "codel"), default="droptail",
                   help="bottleneck queue discipline (default droptail)")
    if ecn:
        p.add_argument("--ecn", action="store_true",
                       help="the queue marks CE on ECT packets instead of dropping them "
                            "(RFC 3168; needs --queue red or codel)")


def add_experiment_parser(sub: Any) -> None:
    """Add ``experiment`` and its four sub-commands to the ``tcpstack`` sub-parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    exp = sub.add_parser(
        "experiment", help="seeded congestion-control experiments, here or on a Dask cluster",
        description="Run a set of independent, seeded simulations of flows over a dumbbell "
        "bottleneck (virtual time) through processes on this machine or a Dask cluster, and "
        "show the results as a table, JSON or a plot.",
        formatter_class=fmt, epilog=EXPERIMENT_EPILOG)
    names = exp.add_subparsers(dest="experiment", metavar="EXPERIMENT")

    goodput = names.add_parser(
        "goodput", help="goodput vs random loss per algorithm, beside the Mathis model",
        description="One flow per algorithm and loss probability over a link with random "
        "loss; goodput beside the Mathis et al. model, MSS/RTT * 1.22/sqrt(p).",
        formatter_class=fmt, epilog=GOODPUT_EPILOG)
    goodput.add_argument("--loss", type=_floats, default=[0.001, 0.01, 0.05], metavar="P,Q",
                         help="loss probabilities, comma-separated (default 0.001,0.01,0.05)")
    _algorithms(goodput, "newreno")
    _bottleneck(goodput, ecn=False)
    _common(goodput, bandwidth=100e6, duration=60.0)

    fairness = names.add_parser(
        "fairness", help="N flows sharing a bottleneck: Jain's index, goodput over time",
        description="N flows of the chosen algorithms share one bottleneck; Jain's index of "
        "their goodputs and each flow's goodput over time.",
        formatter_class=fmt, epilog=FAIRNESS_EPILOG)
    fairness.add_argument("--flows", type=_ints, default=[2], metavar="N,M",
                          help="numbers of flows, one simulation each (default 2)")
    _algorithms(fairness, "newreno")
    _bottleneck(fairness)
    fairness.add_argument("--stagger", type=seconds, default=0.0,
                          help="flow i starts at i * STAGGER seconds (default 0)")
    fairness.add_argument("--sample-interval", type=positive_seconds, default=1.0,
                          help="goodput-over-time sampling, seconds (default 1)")
    _common(fairness, bandwidth=10e6, duration=60.0)

    bloat = names.add_parser(
        "bufferbloat", help="queueing delay and goodput vs buffer size per algorithm",
        description="Flows of each algorithm through bottleneck buffers of several sizes "
        "(bandwidth-delay products): queueing delay (mean, 95th percentile) and goodput.",
        formatter_class=fmt, epilog=BUFFERBLOAT_EPILOG)
    bloat.add_argument("--buffers", type=_floats, default=[0.5, 1.0, 2.0, 4.0, 8.0],
                       metavar="B,C", help="buffer sizes in BDP multiples (default 0.5,1,2,4,8)")
    _algorithms(bloat, "newreno")
    bloat.add_argument("--flows", type=positive_int, default=1,
                       help="flows of the algorithm per simulation (default 1)")
    _bottleneck(bloat, buffer=False)
    _common(bloat, bandwidth=10e6, duration=30.0)

    sweep = names.add_parser(
        "sweep", help="any grid of parameters from a TOML file",
        description="Every combination of the parameters in a TOML file's [grid] is one "
        "simulation; one table row (or JSON point) each.",
        formatter_class=fmt, epilog=SWEEP_EPILOG)
    sweep.add_argument("spec", metavar="SPEC.toml", type=Path, help="the sweep file")
    _run_options(sweep)


def run_experiment(args: argparse.Namespace) -> int:
    """``tcpstack experiment ...``; returns the exit status.

    Raises:
        UsageError: bad input (one line; the caller exits with status 2).
    """
    if args.experiment is None:
        raise UsageError("choose an experiment: " + ", ".join(EXPERIMENTS)
                         + " (tcpstack experiment --help)")
    from ..harness import experiments as ex  # here: 'tcpstack --help' stays quick

    try:
        check_plot_outputs(args.plot)
        experiment = _build(args)
        # No more workers than simulations: the rest would only be started and stopped.
        jobs = min(args.jobs if args.jobs is not None else (os.cpu_count() or 1),
                   len(experiment.points))
        started = time.monotonic()
        with ex.open_executor(args.executor, jobs=jobs, scheduler=args.scheduler) as executor:
            futures = ex.submit_points(executor, experiment.points)
            console = Console(stderr=True)
            with Progress("[progress.description]{task.description}", BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                          disable=args.quiet or not console.is_terminal) as progress:
                task = progress.add_task(f"experiment {experiment.name}",
                                         total=len(experiment.points))
                results = ex.run_points(experiment.points, futures,
                                        lambda _point: progress.advance(task))
    except ex.ExperimentError as exc:
        raise UsageError(str(exc)) from None
    except ex.SimulationError as exc:
        print(f"tcpstack: error: {exc}", file=sys.stderr)
        return 1
    wall = time.monotonic() - started
    summary = ex.summarize(experiment, results)
    if args.json:
        machine = ex.machine_info(executor=args.executor,
                                  jobs=None if args.executor == "dask" else jobs,
                                  scheduler=args.scheduler, wall_seconds=wall)
        print(json.dumps(ex.experiment_json(experiment, results, summary, machine)))
    else:
        Console().print(ex.summary_table(summary))
    if args.plot is not None:
        try:
            ex.plot_experiment(experiment, results, summary, args.plot)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"cannot write {args.plot}: {reason}") from None
    return 0


def _build(args: argparse.Namespace) -> Experiment:
    """The experiment the command line asks for.

    Raises:
        ExperimentError: a bad setting.
    """
    from ..harness import experiments as ex

    if args.experiment == "sweep":
        return ex.sweep_experiment(ex.load_sweep(args.spec), seed=args.seed,
                                   source=str(args.spec))
    link = {"algorithms": args.algorithms, "bandwidth": args.bandwidth, "rtt": args.rtt,
            "duration": args.duration, "warmup": args.warmup, "mss": args.mss,
            "seed": args.seed}
    if args.experiment == "goodput":
        return ex.goodput_experiment(losses=args.loss, buffer_bdp=args.buffer_bdp,
                                     queue=args.queue, **link)
    if args.experiment == "fairness":
        return ex.fairness_experiment(flows=args.flows, buffer_bdp=args.buffer_bdp,
                                      queue=args.queue, ecn=args.ecn, stagger=args.stagger,
                                      sample_interval=args.sample_interval, **link)
    return ex.bufferbloat_experiment(buffers=args.buffers, flows=args.flows, queue=args.queue,
                                     ecn=args.ecn, **link)
