"""Named, documented scenarios: the connection lifecycle and its classic corner cases.

Each scenario answers a classic question (``question`` and ``answer``, in
English and Simplified Chinese). It builds a two-host network in the
simulator, scripts the applications and any fault, runs it to completion in
virtual time and returns a :class:`ScenarioResult`. ``expected`` gives, per
host, the state sequence that host's connections must go through; the test
suite checks it.

Modules: :mod:`.lifecycle` (open, close, TIME-WAIT, resets), :mod:`.transfer`
(retransmission, flow control, keep-alive), :mod:`.closing` (how applications
close), :mod:`.incarnations` (what TIME-WAIT protects), :mod:`.ss` (sockets per
state over time, from a trace).

``tcpstack scenarios`` lists them; ``tcpstack demo NAME`` draws one.
"""

from __future__ import annotations

# Importing a module registers its scenarios; closing imports lifecycle and transfer
# first, so the listing starts with the lifecycle.
from . import closing as _closing  # noqa: F401
from . import incarnations as _incarnations  # noqa: F401
from . import lifecycle as _lifecycle  # noqa: F401
from . import transfer as _transfer  # noqa: F401
from .base import SCENARIOS, Scenario, ScenarioOptions, ScenarioResult, get_scenario

__all__ = ["SCENARIOS", "Scenario", "ScenarioOptions", "ScenarioResult", "get_scenario"]
