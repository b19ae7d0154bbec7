"""``tcpstack torture``: run many torture seeds with a progress bar and a summary."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from ..harness.torture import TortureCase, TortureResult, run_case


def _one(seed: int, max_size: int) -> TortureResult:
    return run_case(TortureCase.draw(seed, max_size=max_size))


def run_torture(*, start: int, seeds: int, jobs: int, max_size: int, as_json: bool) -> int:
    """Run seeds ``start`` .. ``start + seeds - 1``; returns the exit status (1 if any failed)."""
    console = Console(stderr=True)
    work = range(start, start + seeds)
    results: list[TortureResult] = []
    run = partial(_one, max_size=max_size)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=as_json) as progress:
        task = progress.add_task("torture", total=seeds)
        iterator: Iterator[TortureResult]
        if jobs == 1:
            iterator = map(run, work)
        else:
            pool = ProcessPoolExecutor(max_workers=jobs)
            iterator = pool.map(run, work, chunksize=4)
        for result in iterator:
            results.append(result)
            progress.advance(task)
            if as_json:
                print(json.dumps(result.to_dict()))
            elif not result.ok:
                progress.console.print(f"[red]seed {result.case.seed} failed:[/] {result.detail}")
        if jobs != 1:
            pool.shutdown()
    failed = [r for r in results if not r.ok]
    if not as_json:
        outcomes = Counter(r.outcome for r in results)
        table = Table(title=f"tcpstack torture: seeds {start}..{start + seeds - 1}")
        for col in ("outcome", "seeds", "bytes", "packets", "virtual s", "wall s"):
            table.add_column(col, justify="right")
        for outcome in ("completed", "timed-out", "failed"):
            rs = [r for r in results if r.outcome == outcome]
            table.add_row(outcome, str(outcomes.get(outcome, 0)),
                          f"{sum(r.case.up + r.case.down for r in rs):,}",
                          f"{sum(r.packets for r in rs):,}",
                          f"{sum(r.virtual_seconds for r in rs):,.0f}",
                          f"{sum(r.wall_seconds for r in rs):,.1f}")
        Console().print(table)
        for r in failed:
            print(f"FAILED seed {r.case.seed}: {r.detail}; reproduce: "
                  f"tcpstack torture --start {r.case.seed} --seeds 1", file=sys.stderr)
    return 1 if failed else 0
