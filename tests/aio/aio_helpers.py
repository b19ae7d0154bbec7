"""Helpers for the asyncio driver's tests: run a coroutine over a simulated network."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import tcpstack.aio
from tcpstack.trace import TraceRecord

T = TypeVar("T")

CLIENT = "192.0.2.1"
SERVER = "192.0.2.2"


def run_sim(
    main: Callable[[], Coroutine[Any, Any, T]], **net_options: Any
) -> tuple[T, tcpstack.aio.SimulatedNetwork]:
    """Run ``main()`` on a tcpstack loop over a two-host simulated network.

    Returns the coroutine's result and the network (for its trace).
    """
    net = tcpstack.aio.SimulatedNetwork([CLIENT, SERVER], **net_options)
    return tcpstack.aio.run(main(), network=net), net


def segments(net: tcpstack.aio.SimulatedNetwork, host: str) -> list[TraceRecord]:
    """The segments ``host`` sent, in order."""
    return net.trace.select("segment_sent", host=host)


def flagged(net: tcpstack.aio.SimulatedNetwork, host: str, flag: str) -> list[TraceRecord]:
    """The segments ``host`` sent with ``flag`` set."""
    return [r for r in segments(net, host) if flag in r.data["flags"]]



def retransmissions(net: tcpstack.aio.SimulatedNetwork, host: str) -> int:
    """How many data segments ``host`` sent with a sequence number it had sent before."""
    seen: set[int] = set()
    again = 0
    for r in segments(net, host):
        if r.data["len"]:
            again += r.data["seq"] in seen
            seen.add(r.data["seq"])
    return again


def states(net: tcpstack.aio.SimulatedNetwork, host: str) -> list[str]:
    """The states ``host``'s connections entered, in order."""
    return [r.data["new"] for r in net.trace.select("state_updated", host=host)]
