"""The core is sans-I/O: no core module imports I/O, clocks, threads, a driver or a tool.

DESIGN.md, "Rules of the core": time enters only as ``now``; nothing under the
core imports ``socket``, ``asyncio``, ``time`` or ``os``. The core is every
module at the top of the package (but the package's ``__init__``, which is the
public face and re-exports the simulator, ``__main__`` and ``_compat``) and the
``wire`` and ``congestion`` packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tcpstack

PACKAGE = Path(tcpstack.__file__).resolve().parent
NOT_CORE = {"__init__.py", "__main__.py", "_compat.py"}
FORBIDDEN_MODULES = {"socket", "asyncio", "select", "selectors", "threading", "time", "os",
                     "subprocess", "signal"}
FORBIDDEN_PACKAGES = {"drivers", "tools", "cli", "harness", "scenarios"}


def core_modules() -> list[Path]:
    top = [p for p in PACKAGE.glob("*.py") if p.name not in NOT_CORE]
    subpackages = [p for sub in ("wire", "congestion") for p in (PACKAGE / sub).glob("*.py")]
    return sorted(top + subpackages)


def package_of(path: Path) -> tuple[str, ...]:
    """The package a module of this installation belongs to, e.g. ``("tcpstack", "wire")``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return parts if path.name == "__init__.py" else parts[:-1]


def imported(path: Path, package: tuple[str, ...]) -> set[str]:
    """Absolute names of every module ``path`` (in ``package``) imports, relative
    imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def violations(names: set[str]) -> set[str]:
    bad = set()
    for name in names:
        parts = name.split(".")
        if parts[0] in FORBIDDEN_MODULES:
            bad.add(name)
        if parts[0] == "tcpstack" and len(parts) > 1 and parts[1] in FORBIDDEN_PACKAGES:
            bad.add(name)
    return bad


def test_the_core_is_found() -> None:
    names = {p.name for p in core_modules()}
    assert {"connection.py", "stack.py", "sender.py", "recovery.py", "timers.py",
            "segment.py", "newreno.py"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_io_clock_driver_or_tool(path: Path) -> None:
    assert violations(imported(path, package_of(path))) == set()


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import socket\n", {"socket"}),
        ("import os.path\n", {"os.path"}),
        ("from time import monotonic\n", {"time", "time.monotonic"}),
        ("from ..drivers import sim\n", {"tcpstack.drivers", "tcpstack.drivers.sim"}),
        ("from ..tools.ladder import render_ladder\n",
         {"tcpstack.tools.ladder", "tcpstack.tools.ladder.render_ladder"}),
        ("from . import options\nimport hashlib\n", set()),
    ],
)
def test_the_scan_catches_forbidden_imports(tmp_path: Path, source: str, bad: set[str]) -> None:
    probe = tmp_path / "probe.py"  # as if it were tcpstack/wire/probe.py
    probe.write_text(source, encoding="utf-8")
    assert violations(imported(probe, ("tcpstack", "wire"))) == bad
