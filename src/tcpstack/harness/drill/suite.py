"""Running suites of scripts: find them, parse them all first, sort out what runs.

``tcpstack drill DIR... [FILE...]`` parses every script before running any.
Each one is then

* **runnable**: it parsed;
* **unsupported**: valid packetdrill drill does not run
  (:class:`~tcpstack.harness.drill.model.DrillUnsupported`), reported as
  ``unsupported: <construct>`` and never counted as a failure;
* **not parsed**: not valid packetdrill as drill reads it (a
  :class:`~tcpstack.harness.drill.model.DrillSyntaxError`). Found in a
  directory, it is reported and counted but does not change the exit status
  (public suites hold the odd broken file); named on the command line, it
  is bad input (exit status 2 before anything runs).

:func:`unsupported_histogram` counts the unsupported constructs (and the
scripts that did not parse) for ``--list-unsupported``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from .model import DrillSyntaxError, DrillUnsupported, Script
from .parse import parse_file

__all__ = [
    "NOT_PARSED",
    "Loaded",
    "SuiteError",
    "collect",
    "histogram_table",
    "load",
    "unsupported_histogram",
]

NOT_PARSED = "(did not parse)"
"""The histogram's key for scripts with a syntax error."""


class SuiteError(Exception):
    """Bad input for a suite run: a missing path, a directory without scripts, or a
    script named on the command line that does not parse. One line of text."""


@dataclass(frozen=True)
class Loaded:
    """One script file after parsing.

    Attributes:
        path: the file, as found.
        script: the parsed script, or None.
        error: why it did not parse (a DrillUnsupported for valid packetdrill
            drill does not run), or None.
        named: the file was named on the command line (not found in a directory).
    """

    path: str
    script: Script | None
    error: DrillSyntaxError | None = None
    named: bool = False

    @property
    def unsupported(self) -> bool:
        """Valid packetdrill that drill does not run."""
        return isinstance(self.error, DrillUnsupported)

    @property
    def construct(self) -> str:
        """The unsupported construct, :data:`NOT_PARSED` for a syntax error, "" if it parsed."""
        if isinstance(self.error, DrillUnsupported):
            return self.error.construct
        return NOT_PARSED if self.error is not None else ""


def collect(paths: Sequence[str]) -> list[tuple[Path, bool]]:
    """The script files under ``paths``: every ``*.pkt`` below a directory (sorted), and
    files named directly; with a flag saying which were named.

    Raises:
        SuiteError: a path does not exist, or a directory holds no ``*.pkt``.
    """
    files: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("*.pkt"))
            if not found:
                raise SuiteError(f"no *.pkt scripts under {raw}")
            files += [(f, False) for f in found]
        elif path.is_file():
            files.append((path, True))
        else:
            raise SuiteError(f"no such script or directory: {raw}")
    return files


def load(paths: Sequence[str]) -> list[Loaded]:
    """Collect and parse every script (nothing runs yet).

    Raises:
        SuiteError: see :func:`collect`; also a script named on the command line
            with a syntax error (not an unsupported construct).
        OSError: a file cannot be read.
    """
    loaded = []
    for file, named in collect(paths):
        try:
            loaded.append(Loaded(str(file), parse_file(file), None, named))
        except DrillSyntaxError as exc:
            if named and not isinstance(exc, DrillUnsupported):
                raise SuiteError(str(exc)) from None
            loaded.append(Loaded(str(file), None, exc, named))
    return loaded


def unsupported_histogram(loaded: Iterable[Loaded]) -> Counter[str]:
    """How many scripts each unsupported construct (or :data:`NOT_PARSED`) keeps out."""
    return Counter(item.construct for item in loaded if item.error is not None)


def histogram_table(loaded: Sequence[Loaded]) -> Table:
    """A table for ``--list-unsupported``: construct, number of scripts, an example."""
    counts = unsupported_histogram(loaded)
    examples: dict[str, Loaded] = {}
    for item in loaded:
        if item.error is not None:
            examples.setdefault(item.construct, item)
    runnable = sum(1 for item in loaded if item.error is None)
    table = Table(title=f"{len(loaded)} scripts: {runnable} run, "
                        f"{sum(counts.values()) - counts[NOT_PARSED]} unsupported, "
                        f"{counts[NOT_PARSED]} did not parse")
    table.add_column("construct", overflow="fold")
    table.add_column("scripts", justify="right")
    table.add_column("first example", overflow="fold")
    for construct, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        example = examples[construct]
        assert example.error is not None
        table.add_row(construct, str(count),
                      f"{example.path}:{example.error.line}: {example.error.message}")
    return table
