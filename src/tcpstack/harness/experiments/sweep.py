"""``tcpstack experiment sweep SPEC.toml``: any grid of dumbbell and flow parameters.

The file (TOML, read with :mod:`tomllib`; ``examples/sweep.toml`` is a
commented example)::

    name = "buffer sizes"          # optional: a title for the table and plot

    [dumbbell]                     # DumbbellSpec fields every point shares
    bandwidth = 10e6               # bit/s
    rtt = 0.05                     # seconds
    duration = 30.0

    [[flows]]                      # one table per kind of flow: FlowSpec fields,
    algorithm = "newreno"          # plus count (identical flows, default 1) and
    count = 2                      # config (TcpConfig fields changed from the
                                   # simulator's defaults for the flow)

    [grid]                         # every combination of these lists
    buffer_bdp = [0.5, 1, 2]       # a DumbbellSpec field
    "flows.algorithm" = ["newreno", "cubic"]   # a field of every [[flows]] table
    "flows.0.start" = [0.0, 5.0]   # a field of one table (0-based)
    "flows.config.sack" = [true, false]        # a TcpConfig field of the flows

The grid's combinations are the points, the first key varying slowest; the
seed of each comes from ``--seed`` and the point's index (``seed`` may not be
set in the file). A file without ``[grid]`` is one point.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...config import TcpConfig
from ...drivers.topology import DumbbellSpec, FlowSpec, flow_config
from .plan import ExperimentError

__all__ = ["SweepFile", "expand_grid", "load_sweep"]

TOP_KEYS = ("name", "dumbbell", "flows", "grid")
FLOW_EXTRA = ("count",)
"""Keys of a ``[[flows]]`` table that are not FlowSpec fields."""
MAX_POINTS = 100_000
"""Largest grid accepted: a typo in a list should not start a week of simulations."""


@dataclasses.dataclass(frozen=True)
class SweepFile:
    """A parsed sweep file.

    Attributes:
        name: its title (``name``, or the file's name).
        dumbbell: the shared DumbbellSpec fields.
        flows: the ``[[flows]]`` tables (``count`` and ``config`` included).
        grid: parameter path -> the values it takes, in file order.
    """

    name: str
    dumbbell: Mapping[str, Any]
    flows: tuple[Mapping[str, Any], ...]
    grid: Mapping[str, tuple[Any, ...]]

    def points(self) -> list[tuple[dict[str, Any], DumbbellSpec]]:
        """Each grid combination with its spec (seed not yet set).

        Raises:
            ExperimentError: a combination the simulator's spec refuses (the
                message names the point).
        """
        out = []
        for i, assignment in enumerate(expand_grid(self.grid)):
            try:
                spec = self.spec(assignment)
            except (TypeError, ValueError) as exc:
                params = ", ".join(f"{k}={v!r}" for k, v in assignment.items())
                raise ExperimentError(f"{self.name}: point {i} ({params}): {exc}") from None
            out.append((assignment, spec))
        return out

    def spec(self, assignment: Mapping[str, Any]) -> DumbbellSpec:
        """The DumbbellSpec of the file with the grid ``assignment`` applied.

        Raises:
            TypeError, ValueError: the spec or a TcpConfig refuses a value.
        """
        dumbbell = dict(self.dumbbell)
        flows = [copy.deepcopy(dict(f)) for f in self.flows]
        for path, value in assignment.items():
            parts = path.split(".")
            if parts[0] != "flows":
                dumbbell[path] = value
                continue
            which: Sequence[dict[str, Any]] = flows
            rest = parts[1:]
            if rest[0].isdigit():
                which, rest = [flows[int(rest[0])]], rest[1:]
            for flow in which:
                if rest[0] == "config":
                    flow.setdefault("config", {})[rest[1]] = value
                else:
                    flow[rest[0]] = value
        specs: list[FlowSpec] = []
        tables: list[dict[str, Any] | None] = []
        for flow in flows:
            fields = {k: v for k, v in flow.items() if k not in (*FLOW_EXTRA, "config")}
            count = flow.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"flows: count must be a whole number >= 0, got {count!r}")
            specs.extend([FlowSpec(**fields)] * count)
            tables.extend([flow.get("config")] * count)
        plain = DumbbellSpec(flows=tuple(specs), **dumbbell)
        # A config table changes the simulator's own defaults for the flow (send
        # and receive buffers sized to the path), not TcpConfig's bare ones.
        return dataclasses.replace(plain, flows=tuple(
            spec if table is None else dataclasses.replace(
                spec, config=dataclasses.replace(flow_config(spec, plain), **table))
            for spec, table in zip(specs, tables, strict=True)))


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as ``{path: value}``, the first
    key varying slowest (like nested loops in the file's order). An empty
    grid is one empty combination; a key with no values gives none."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))]


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def load_sweep(path: Path) -> SweepFile:
    """Read and check a sweep file (format in the module's doc).

    Raises:
        ExperimentError: unreadable, not TOML, or a key, path or list that is
            not understood (one line naming the file and the key).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExperimentError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ExperimentError(f"cannot read {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path} is not valid TOML: {exc}") from None
    where = str(path)
    unknown = set(data) - set(TOP_KEYS)
    if unknown:
        raise ExperimentError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(TOP_KEYS)})")
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise ExperimentError(f"{where}: name must be a string")
    dumbbell_keys = _field_names(DumbbellSpec) - {"flows", "seed"}
    flow_keys = _field_names(FlowSpec) | set(FLOW_EXTRA)
    config_keys = _field_names(TcpConfig)

    dumbbell = _table(data.get("dumbbell", {}), f"{where}: [dumbbell]")
    _check_keys(dumbbell, dumbbell_keys, f"{where}: [dumbbell]")
    raw_flows = data.get("flows", [{}])
    if not isinstance(raw_flows, list) or not raw_flows:
        raise ExperimentError(f"{where}: flows must be one or more [[flows]] tables")
    flows = []
    for i, raw in enumerate(raw_flows):
        flow = _table(raw, f"{where}: [[flows]] #{i}")
        _check_keys(flow, flow_keys, f"{where}: [[flows]] #{i}")
        if "config" in flow:
            _check_keys(_table(flow["config"], f"{where}: flows #{i} config"), config_keys,
                        f"{where}: [[flows]] #{i} config")
        flows.append(flow)

    grid_table = _table(data.get("grid", {}), f"{where}: [grid]")
    grid: dict[str, tuple[Any, ...]] = {}
    for key, values in grid_table.items():
        if not isinstance(values, list):
            raise ExperimentError(f"{where}: [grid] {key} must be a list of values")
        _check_path(key, dumbbell_keys, flow_keys, config_keys, len(flows), where)
        grid[key] = tuple(values)
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_POINTS:
        raise ExperimentError(f"{where}: the grid has {size:,} points; at most {MAX_POINTS:,}")
    if size == 0:
        raise ExperimentError(f"{where}: the grid has no points (an empty list)")
    return SweepFile(name=name, dumbbell=dumbbell, flows=tuple(flows), grid=grid)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExperimentError(f"{where} must be a table")
    return value


def _check_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = set(table) - known
    if "seed" in unknown:
        raise ExperimentError(f"{where}: seed is not set in the file; use --seed "
                              "(each point's seed comes from it and the point's index)")
    if unknown:
        raise ExperimentError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(sorted(known))})")


def _check_path(key: str, dumbbell_keys: set[str], flow_keys: set[str], config_keys: set[str],
                n_flows: int, where: str) -> None:
    """A grid key: ``FIELD``, ``flows[.N].FIELD`` or ``flows[.N].config.FIELD``."""
    parts = key.split(".")
    if parts[0] != "flows":
        if len(parts) == 1:
            _check_keys({key: None}, dumbbell_keys, f"{where}: [grid]")
            return
        raise ExperimentError(f"{where}: [grid] {key}: not a parameter (FIELD, flows.FIELD, "
                              "flows.N.FIELD or flows[.N].config.FIELD)")
    rest = parts[1:]
    if rest and rest[0].isdigit():
        if int(rest[0]) >= n_flows:
            raise ExperimentError(f"{where}: [grid] {key}: there are only {n_flows} "
                                  "[[flows]] tables (counted from 0)")
        rest = rest[1:]
    if len(rest) == 1 and rest[0] != "config":
        _check_keys({rest[0]: None}, flow_keys, f"{where}: [grid] {key}")
    elif len(rest) == 2 and rest[0] == "config":
        _check_keys({rest[1]: None}, config_keys, f"{where}: [grid] {key}")
    else:
        raise ExperimentError(f"{where}: [grid] {key}: not a parameter (FIELD, flows.FIELD, "
                              "flows.N.FIELD or flows[.N].config.FIELD)")
