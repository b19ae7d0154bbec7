"""How long an asyncio program's long waits take over the simulator (``tcpstack bench``).

In :class:`tcpstack.aio.SimulatedNetwork` the event loop's clock is virtual:
when nothing is ready, time jumps to the next timer. Two waits that take
hours of real time on a real network are measured in wall-clock seconds:

* ``sleep``: ``asyncio.sleep(7200)`` in a program (7,200 virtual seconds);
* ``keepalive``: a connection with SO_KEEPALIVE whose peer vanishes: two
  hours idle, then nine probes 75 s apart, then ``TimeoutError`` (7,875
  virtual seconds).

Tests check that these take no wall-clock waiting (``real_waits == 0``);
the wall time itself is a figure here, never asserted in a test.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from ..drivers.aio import SimulatedNetwork, run
from .figures import Stopwatch, Target, figure, require_positive

AIO_VIRTUAL_TIME_TARGET = Target("<=", 1.0)
"""Wall seconds the slower of the two waits may take."""

_CLIENT, _SERVER = "192.0.2.1", "192.0.2.2"


async def _sleep() -> float:
    await asyncio.sleep(7200)
    return asyncio.get_running_loop().time()


async def _keepalive_timeout() -> float:
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(lambda r, w: None, _SERVER, 80)
    reader, writer = await asyncio.open_connection(_SERVER, 80)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    try:
        await reader.read()  # the server's host is gone from 1 s on (an outage)
    except TimeoutError:
        return loop.time()
    finally:
        server.close()
    raise RuntimeError("the keep-alive timeout did not end the connection")


def _timed(main: Any, **network: Any) -> tuple[float, float]:
    """(wall seconds, virtual seconds) of one run of ``main()``."""
    net = SimulatedNetwork([_CLIENT, _SERVER], **network)
    with Stopwatch() as sw:
        virtual = run(main(), network=net)
    return sw.wall, virtual


def aio_virtual_time(*, runs: int = 5) -> dict[str, Any]:
    """Wall seconds of a two-hour ``asyncio.sleep`` and of a keep-alive timeout.

    Returns:
        The figure (unit: wall seconds of the slower wait, target <= 1.0)
        with ``sleep`` and ``keepalive``: the spread of each one's wall
        seconds and its virtual seconds.

    Raises:
        ValueError: ``runs`` < 1.
    """
    require_positive(runs=runs)
    sleeps: list[tuple[float, float]] = []
    keepalives: list[tuple[float, float]] = []
    with Stopwatch() as cost:
        for _ in range(runs):
            sleeps.append(_timed(_sleep))
            keepalives.append(_timed(_keepalive_timeout, outage=(1.0, 1e6)))

    def detail(samples: list[tuple[float, float]]) -> dict[str, Any]:
        walls = sorted(wall for wall, _ in samples)
        return {"wall_seconds_median": round(walls[len(walls) // 2], 4),
                "virtual_seconds": round(samples[0][1], 3)}

    slower = [max(s[0], k[0]) for s, k in zip(sleeps, keepalives, strict=True)]
    return figure(slower, unit="wall seconds of the slower wait (virtual time in the "
                  "simulator)", target=AIO_VIRTUAL_TIME_TARGET, cost=cost,
                  sleep=detail(sleeps), keepalive=detail(keepalives))
