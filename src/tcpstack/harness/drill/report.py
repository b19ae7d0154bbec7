"""Reporting drill results: terminal lines, the two-target comparison table, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .runner import DrillResult

__all__ = [
    "Outcome",
    "comparison_table",
    "junit_xml",
    "outcome",
    "print_result",
    "print_summary",
    "result_lines",
    "write_junit",
]

Outcome = Literal["PASS", "FAIL", "DEVIATION"]
"""PASS; FAIL; DEVIATION: failed on Linux, as the script's ``linux-deviation`` says."""

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "DEVIATION": "bold yellow"}


def outcome(result: DrillResult) -> Outcome:
    """How a result counts: an expected Linux deviation is not a failure."""
    if result.passed:
        return "PASS"
    return "DEVIATION" if result.expected_deviation else "FAIL"


def result_lines(result: DrillResult) -> list[Text]:
    """The lines printed for one result: a headline, and on failure the details."""
    kind = outcome(result)
    head = Text()
    head.append(f"{kind:<9}", style=_STYLE[kind])
    head.append(f" {result.path}  ")
    head.append(f"[{result.target}]", style="cyan")
    head.append(f"  {result.duration:.3f} s", style="dim")
    lines = [head]
    if kind == "DEVIATION":
        lines.append(Text(f"          expected deviation: {result.linux_deviation}",
                          style="yellow"))
    failure = result.failure
    if failure is not None:
        where = f"line {failure.line}: " if failure.line else ""
        lines.append(Text(f"          {where}{failure.message}"))
        if failure.expected:
            lines.append(Text(f"            expected: {failure.expected}", style="green"))
        if failure.actual:
            lines.append(Text(f"            actual:   {failure.actual}", style="red"))
        if failure.timing_error is not None:
            lines.append(Text(f"            timing error: {failure.timing_error * 1000:+.3f} ms",
                              style="red"))
    return lines


def print_result(console: Console, result: DrillResult) -> None:
    """Print :func:`result_lines` of ``result``."""
    for line in result_lines(result):
        console.print(line, highlight=False, soft_wrap=True)


def print_summary(console: Console, results: Sequence[DrillResult], *, unsupported: int = 0,
                  not_parsed: int = 0) -> None:
    """One line: how many passed, failed, deviated as expected; and, for a suite, how
    many were unsupported (valid packetdrill drill does not run) or did not parse."""
    counts = {"PASS": 0, "FAIL": 0, "DEVIATION": 0}
    for result in results:
        counts[outcome(result)] += 1
    text = Text()
    text.append(f"{counts['PASS']} passed", style=_STYLE["PASS"])
    text.append(", ")
    text.append(f"{counts['FAIL']} failed", style=_STYLE["FAIL"] if counts["FAIL"] else "")
    if counts["DEVIATION"]:
        text.append(", ")
        text.append(f"{counts['DEVIATION']} expected deviation"
                    f"{'s' if counts['DEVIATION'] > 1 else ''}", style=_STYLE["DEVIATION"])
    if unsupported:
        text.append(", ")
        text.append(f"{unsupported} unsupported", style="magenta")
    if not_parsed:
        text.append(", ")
        text.append(f"{not_parsed} did not parse", style="bold magenta")
    console.print(text, highlight=False)


def comparison_table(pairs: Iterable[tuple[DrillResult, DrillResult]]) -> Table:
    """Scripts run on both targets side by side: (tcpstack result, linux result) pairs."""
    table = Table(title="tcpstack vs linux", show_lines=False)
    table.add_column("script", overflow="fold")
    table.add_column("tcpstack", no_wrap=True)
    table.add_column("linux", no_wrap=True)
    table.add_column("note", overflow="fold")
    pairs = list(pairs)
    names = [Path(ours.path).name for ours, _ in pairs]
    short = len(set(names)) == len(names)  # file names alone are unambiguous
    for ours, linux in pairs:
        notes = []
        if linux.linux_deviation:
            notes.append(f"linux-deviation: {linux.linux_deviation}")
            if linux.passed:
                notes.append("(Linux passed anyway)")
        for result in (ours, linux):
            if result.failure is not None and outcome(result) == "FAIL":
                notes.append(f"{result.target} line {result.failure.line}: "
                             f"{result.failure.message}")
        table.add_row(
            Text(Path(ours.path).name if short else ours.path),
            _cell(ours),
            _cell(linux),
            Text("; ".join(notes)),
        )
    return table


def _cell(result: DrillResult) -> Text:
    kind = outcome(result)
    label = "expected deviation" if kind == "DEVIATION" else kind
    return Text(label, style=_STYLE[kind])


def junit_xml(results: Sequence[DrillResult],
              unsupported: Sequence[tuple[str, str, str]] = ()) -> ET.Element:
    """A JUnit XML tree: one testsuite per target, one testcase per script.

    A failure becomes ``<failure>``; an expected Linux deviation ``<skipped>``;
    ``unsupported`` lists ``(target, script path, "unsupported: ...")`` of the
    scripts not run, each a testcase with ``<skipped>``.
    """
    root = ET.Element("testsuites", name="tcpstack drill")
    targets: dict[str, list[DrillResult]] = {}
    not_run: dict[str, list[tuple[str, str]]] = {}
    for result in results:
        targets.setdefault(result.target, []).append(result)
    for target, path, message in unsupported:
        targets.setdefault(target, [])
        not_run.setdefault(target, []).append((path, message))
    total = failed = 0
    for target, items in targets.items():
        fails = sum(1 for r in items if outcome(r) == "FAIL")
        skipped = sum(1 for r in items if outcome(r) == "DEVIATION")
        others = not_run.get(target, [])
        suite = ET.SubElement(
            root, "testsuite", name=f"drill.{target}", tests=str(len(items) + len(others)),
            failures=str(fails), errors="0", skipped=str(skipped + len(others)),
            time=f"{sum(r.wall_time for r in items):.3f}",
        )
        for path, message in others:
            case = ET.SubElement(suite, "testcase", classname=f"drill.{target}", name=path,
                                 time="0.000")
            ET.SubElement(case, "skipped", message=message)
        for result in items:
            case = ET.SubElement(suite, "testcase", classname=f"drill.{target}",
                                 name=result.path, time=f"{result.wall_time:.3f}")
            kind = outcome(result)
            failure = result.failure
            if kind == "DEVIATION":
                ET.SubElement(case, "skipped",
                              message=f"expected deviation: {result.linux_deviation}")
            elif kind == "FAIL" and failure is not None:
                node = ET.SubElement(case, "failure", type="DrillFailure",
                                     message=f"line {failure.line}: {failure.message}")
                details = [f"{result.path}:{failure.line}: {failure.message}"]
                if failure.expected:
                    details.append(f"expected: {failure.expected}")
                if failure.actual:
                    details.append(f"actual:   {failure.actual}")
                if failure.timing_error is not None:
                    details.append(f"timing error: {failure.timing_error * 1000:+.3f} ms")
                node.text = "\n".join(details)
        total += len(items) + len(others)
        failed += fails
    root.set("tests", str(total))
    root.set("failures", str(failed))
    return root


def write_junit(path: str | Path, results: Sequence[DrillResult],
                unsupported: Sequence[tuple[str, str, str]] = ()) -> None:
    """Write :func:`junit_xml` to ``path``.

    Raises:
        OSError: the file cannot be written.
    """
    tree = ET.ElementTree(junit_xml(results, unsupported))
    ET.indent(tree)
    with open(path, "wb") as fp:
        tree.write(fp, encoding="utf-8", xml_declaration=True)
