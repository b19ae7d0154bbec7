"""Where the simulations of an experiment run: ``concurrent.futures`` executors.

* ``process`` (the default): a :class:`~concurrent.futures.ProcessPoolExecutor`
  with ``jobs`` workers on this machine; ``jobs == 1`` runs every simulation
  in this process, one after the other (:class:`InlineExecutor`).
* ``dask``: an existing Dask cluster, through
  ``distributed.Client(scheduler).get_executor()``; its workers need
  tcpstack installed (the same version).
* ``dask-local``: a Dask ``LocalCluster`` of ``jobs`` single-threaded worker
  processes on this machine, started and stopped here (a test of the Dask
  path without a cluster).

Whichever runs them, :func:`run_points` returns the results in point order,
and each simulation depends on its spec alone (seeded per point), so the
results are identical.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from ...drivers.topology import DumbbellResult, DumbbellSpec, run_dumbbell
from .plan import ExperimentError, Point

__all__ = ["EXECUTORS", "InlineExecutor", "SimulationError", "open_executor", "run_points",
           "submit_points"]

EXECUTORS = ("process", "dask", "dask-local")
"""The executor kinds, by the name ``--executor`` takes."""

DASK_HINT = "pip install 'tcpstack[cluster]'"
"""What to install for the Dask executors."""

CONNECT_TIMEOUT = 10.0
"""How long to wait for a Dask scheduler to answer, seconds."""

T = TypeVar("T")

Simulate = Callable[[DumbbellSpec], DumbbellResult]
"""Runs one point's spec (:func:`~tcpstack.drivers.topology.run_dumbbell`); picklable."""


class SimulationError(RuntimeError):
    """One point's simulation raised; the message names the point and the error."""


class InlineExecutor(Executor):
    """An executor that runs each call at once, in the calling thread (``--jobs 1``).

    ``submit`` returns a future that is already done (with the result or the
    exception), so code written for a pool works unchanged and a debugger or
    profiler sees the simulation in this process.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future, as a pool does
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def open_executor(kind: str, *, jobs: int, scheduler: str | None = None) -> Iterator[Executor]:
    """The executor ``kind`` (one of :data:`EXECUTORS`), shut down on exit.

    Args:
        kind: ``process``, ``dask`` or ``dask-local``.
        jobs: worker processes for ``process`` and ``dask-local`` (>= 1);
            ignored for ``dask`` (the cluster has its own workers).
        scheduler: the Dask scheduler's address (``tcp://HOST:8786``), for
            ``dask`` only.

    Raises:
        ExperimentError: an unknown kind, ``jobs`` < 1, a scheduler given to a
            kind that takes none (or none to ``dask``), dask.distributed not
            installed, or a scheduler that cannot be reached.
    """
    if kind not in EXECUTORS:
        raise ExperimentError(f"unknown executor {kind!r} (choose {', '.join(EXECUTORS)})")
    if jobs < 1:
        raise ExperimentError(f"--jobs must be >= 1, got {jobs}")
    if kind == "dask" and scheduler is None:
        raise ExperimentError("--executor dask needs --scheduler tcp://HOST:8786")
    if kind != "dask" and scheduler is not None:
        raise ExperimentError(f"--scheduler goes with --executor dask, not {kind}")
    if kind == "process":
        if jobs == 1:
            yield InlineExecutor()
            return
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            yield pool
        return
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if kind == "dask":
            assert scheduler is not None
            client = _connect(distributed, scheduler)
        else:
            cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=logging.ERROR)
            stack.enter_context(cluster)
            client = distributed.Client(cluster)
        stack.enter_context(client)
        executor: Executor = client.get_executor()
        yield executor


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ExperimentError(
            f"the Dask executors need dask.distributed, which is not installed: {DASK_HINT}"
        ) from None
    return distributed


def _connect(distributed: Any, scheduler: str) -> Any:
    """A client of the Dask scheduler at ``scheduler``.

    Raises:
        ExperimentError: a malformed address or no answer within :data:`CONNECT_TIMEOUT`.
    """
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExperimentError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None


def submit_points(executor: Executor, points: Sequence[Point],
                  simulate: Simulate = run_dumbbell) -> list[Future[DumbbellResult]]:
    """Submit every point's simulation to ``executor``; the futures in point order.

    Submitting all at once before drawing anything lets a process pool fork
    its workers before a progress bar starts its refresh thread.
    """
    return [executor.submit(simulate, point.spec) for point in points]


def run_points(points: Sequence[Point], futures: Sequence[Future[DumbbellResult]],
               done: Callable[[Point], None] | None = None) -> list[DumbbellResult]:
    """Wait for ``futures`` (from :func:`submit_points`); the results in point order.

    Args:
        points: the points submitted.
        futures: their futures, same order.
        done: called with each point as its simulation finishes (in finishing
            order), e.g. to advance a progress bar.

    Raises:
        SimulationError: a simulation raised (the first one seen; the rest
            are cancelled where the executor allows it).
    """
    index = {id(f): i for i, f in enumerate(futures)}
    results: list[DumbbellResult | None] = [None] * len(futures)
    try:
        for future in as_completed(futures):
            i = index[id(future)]
            point = points[i]
            try:
                results[i] = future.result()
            except Exception as exc:
                params = ", ".join(f"{k}={v}" for k, v in point.parameters.items())
                detail = str(exc).splitlines()[0] if str(exc) else ""
                raise SimulationError(f"simulation {point.index} ({params}) failed: "
                                      f"{type(exc).__name__}: {detail}") from exc
            if done is not None:
                done(point)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [r for r in results if r is not None]
