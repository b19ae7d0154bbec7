"""Print the figures of stored ``tcpstack bench`` results as Markdown tables.

Usage (from the checkout's root)::

    PYTHONPATH=src python benchmarks/table.py benchmarks/2026-12-06-epyc-2cpu.json [...]

Each file gives one line saying where and when it was measured, then a
table of its figures (figure, median, min, max, unit, target, met): the
table of ``benchmarks/README.md`` and ``docs/performance.md``.
Exit status 2 with one line on stderr if a file cannot be read as JSON.
"""

from __future__ import annotations

import json
import sys

from tcpstack.cli.bench import machine_line, markdown_table


def main(paths: list[str]) -> int:
    """Print each file's machine line and table; returns the exit status."""
    if not paths:
        print("usage: python benchmarks/table.py RESULT.json [...]", file=sys.stderr)
        return 2
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fp:
                result = json.load(fp)
        except (OSError, ValueError) as exc:
            print(f"table.py: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        print(f"{path}: {machine_line(result)}\n")
        print(markdown_table(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
