"""Scenario registry and the result type shared by every scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import TcpConfig
from ..drivers.sim import Network
from ..trace import Trace, TraceRecord

CLIENT_ADDR = "192.0.2.1"
SERVER_ADDR = "192.0.2.2"


@dataclass(frozen=True)
class ScenarioOptions:
    """Knobs a user may turn from the command line.

    Attributes:
        seed: seeds every random choice of the run.
        delay: one-way link delay, seconds.
        loss: random loss probability per packet, both directions, in [0, 1].
        duplicate: duplication probability per packet, in [0, 1].
        reorder: probability that a packet is held back (reordered), in [0, 1].
        jitter: extra random delay per packet, up to this many seconds.
        msl: maximum segment lifetime, seconds (TIME-WAIT lasts 2 * msl).
    """

    seed: int = 1
    delay: float = 0.010
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    jitter: float = 0.0
    msl: float = 120.0

    def config(self, **overrides: object) -> TcpConfig:
        """The TcpConfig of both hosts (MSL from the options)."""
        return TcpConfig(msl=self.msl, **overrides)  # type: ignore[arg-type]


@dataclass
class ScenarioResult:
    """What a scenario run produced.

    Attributes:
        name: scenario name.
        network: the simulator after the run (hosts, packets).
        client, server: the two hosts' names (left and right of the ladder).
    """

    name: str
    network: Network
    client: str = "client"
    server: str = "server"
    notes: list[str] = field(default_factory=list)

    @property
    def trace(self) -> Trace:
        """The run's trace (both hosts)."""
        return self.network.trace

    @property
    def records(self) -> list[TraceRecord]:
        """All trace records in time order."""
        return self.network.trace.records

    def states(self, host: str) -> list[str]:
        """The state sequence of ``host``'s connection(s), RFC spelling, e.g.
        ``["CLOSED", "SYN-SENT", "ESTABLISHED", ...]``.

        Built from ``state_updated`` records: the first record's ``old`` then
        every ``new``. Listeners have no state records; a passive TCB starts
        from LISTEN.
        """
        seq: list[str] = []
        for rec in self.records:
            if rec.host != host or rec.event != "state_updated" or not rec.conn:
                continue
            if not seq or seq[-1] != rec.data["old"]:
                seq.append(str(rec.data["old"]))
            seq.append(str(rec.data["new"]))
        return seq


@dataclass(frozen=True)
class Scenario:
    """A named scenario.

    Attributes:
        name: command-line name (``tcpstack demo NAME``).
        summary: one line for ``tcpstack scenarios``.
        explanation: what to look at in the ladder, and why TCP does it.
        run: builds and runs the network.
        expected: per host, the state sequence the run must produce with
            default options.
    """

    name: str
    summary: str
    explanation: str
    run: Callable[[ScenarioOptions], ScenarioResult]
    expected: dict[str, tuple[str, ...]]


SCENARIOS: dict[str, Scenario] = {}
"""Every scenario by name, in registration order."""


def register(scenario: Scenario) -> Scenario:
    """Add a scenario to :data:`SCENARIOS`.

    Raises:
        ValueError: the name is taken.
    """
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} exists")
    SCENARIOS[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        KeyError: no such scenario (the message lists the known names).
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise KeyError(f"unknown scenario {name!r}; known: {known}") from None


def two_hosts(opts: ScenarioOptions, **config: object) -> tuple[Network, str, str]:
    """A client and a server joined by a link shaped by ``opts``."""
    net = Network(seed=opts.seed)
    cfg = opts.config(**config)
    net.add_host("client", CLIENT_ADDR, config=cfg)
    net.add_host("server", SERVER_ADDR, config=cfg)
    net.link(
        "client",
        "server",
        delay=opts.delay,
        loss=opts.loss,
        duplicate=opts.duplicate,
        reorder=opts.reorder,
        jitter=opts.jitter,
    )
    return net, "client", "server"
