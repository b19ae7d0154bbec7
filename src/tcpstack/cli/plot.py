"""``tcpstack plot``: the time-sequence graph or cwnd/ssthresh of a trace, as PNG or SVG.

Reads a JSON Lines trace (``tcpstack demo --trace FILE`` writes one, so do
``tcpstack tun ... --trace FILE`` and ``Trace.write_jsonl``) and draws it
with matplotlib (:mod:`tcpstack.tools.plot`). Bad input (a missing file,
not a trace, a trace without data, a connection or host it does not have, an
output that is not ``.png`` or ``.svg``) is one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..trace import TraceRecord, read_jsonl
from .argtypes import UsageError

__all__ = ["PLOT_EPILOG", "add_plot_parser", "check_plot_outputs", "plot_records", "run_plot"]

KINDS = ("tsg", "cwnd")

PLOT_EPILOG = """\
kinds:
  tsg    time-sequence graph: data segments (sequence number relative to the ISN
         against time), the ACK line, the window line (ACK + advertised window),
         retransmissions and losses marked
  cwnd   the sender's congestion window and slow-start threshold over time

examples:
  tcpstack demo fast-retransmit --trace fr.jsonl --quiet
  tcpstack plot fr.jsonl --kind tsg -o fr-tsg.png
  tcpstack plot fr.jsonl --kind cwnd -o fr-cwnd.svg
  tcpstack demo half-close --trace hc.jsonl --quiet
  tcpstack plot hc.jsonl --kind tsg --host client -o request.png   the other direction
  tcpstack demo retransmission --json | tcpstack plot - --kind tsg -o rto.png
"""


def add_plot_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``plot`` to the ``tcpstack`` subcommands (``sub`` from ``add_subparsers``)."""
    plot: argparse.ArgumentParser = sub.add_parser(
        "plot",
        help="draw a trace's time-sequence graph or cwnd as PNG or SVG",
        description="Draw one direction of one connection of a JSON Lines trace: the "
        "time-sequence graph or cwnd and ssthresh over time (matplotlib).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=PLOT_EPILOG,
    )
    plot.add_argument("trace", metavar="TRACE", help="a JSON Lines trace file, or - for stdin")
    plot.add_argument("--kind", choices=KINDS, default="tsg", help="what to draw (default tsg)")
    plot.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                      help="the picture to write: FILE.png or FILE.svg")
    plot.add_argument("--conn", metavar="ADDR:PORT-ADDR:PORT",
                      help="the connection (either direction; default: the one whose "
                           "direction carried the most data)")
    plot.add_argument("--host", metavar="HOST",
                      help="the data sender: a host name of the trace or ADDR:PORT "
                           "(default: the direction that sent the most data)")
    return plot


def _read(source: str) -> list[TraceRecord]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read trace {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not a trace: not UTF-8 text") from None
    try:
        records = read_jsonl(text.splitlines())
    except ValueError as exc:
        raise UsageError(f"{source} is not a JSON Lines trace: {exc}") from None
    if not records:
        raise UsageError(f"{source} is an empty trace")
    return records


def check_plot_outputs(*paths: Path | None) -> None:
    """Check pictures to be written after a run: ``.png`` or ``.svg``, in a directory
    that exists (nothing is created yet).

    Raises:
        UsageError: one line naming the bad path.
    """
    for path in paths:
        if path is None:
            continue
        if path.suffix.lower() not in (".png", ".svg"):
            raise UsageError(f"cannot write {path}: choose a .png or .svg file")
        if path.is_dir() or not path.resolve().parent.is_dir():
            what = "Is a directory" if path.is_dir() else "No such file or directory"
            raise UsageError(f"cannot write {path}: {what}")


def plot_records(records: list[TraceRecord], kind: str, output: Path, *,
                 conn: str | None = None, host: str | None = None) -> None:
    """Draw ``kind`` (``tsg`` or ``cwnd``) of ``records`` into ``output`` (``.png``/``.svg``).

    The series are extracted first, so nothing is written when the trace
    has nothing to draw.

    Raises:
        UsageError: the kind is unknown, the output is not ``.png``/``.svg``,
            the trace has no such connection, host or data, or the output
            cannot be written.
    """
    from ..tools import plot

    check_plot_outputs(output)
    if kind not in KINDS:
        raise UsageError(f"unknown plot kind {kind!r} (choose {' or '.join(KINDS)})")
    try:
        if kind == "tsg":
            tsg = plot.tsg_series(records, conn=conn, host=host)
        else:
            cwnd = plot.cwnd_series(records, conn=conn, host=host)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        if kind == "tsg":
            plot.plot_tsg(tsg, output)
        else:
            plot.plot_cwnd(cwnd, output)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def run_plot(args: argparse.Namespace) -> int:
    """``tcpstack plot``: read the trace, draw it."""
    plot_records(_read(args.trace), args.kind, args.output, conn=args.conn, host=args.host)
    return 0
