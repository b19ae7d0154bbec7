"""Named, documented scenarios: the connection lifecycle and its classic corner cases.

Each scenario builds a two-host network in the simulator, scripts the
applications and any fault, runs it to completion in virtual time and
returns a :class:`ScenarioResult`. ``expected`` gives, per host, the state
sequence that host's connection must go through; the test suite checks it.

``tcpstack scenarios`` lists them; ``tcpstack demo NAME`` draws one.
"""

from __future__ import annotations

from . import lifecycle as _lifecycle  # noqa: F401  (registers the scenarios)
from . import transfer as _transfer  # noqa: F401
from .base import SCENARIOS, Scenario, ScenarioOptions, ScenarioResult, get_scenario

__all__ = ["SCENARIOS", "Scenario", "ScenarioOptions", "ScenarioResult", "get_scenario"]
