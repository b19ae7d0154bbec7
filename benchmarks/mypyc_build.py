"""Opt-in compiled build: the hot modules of the core compiled in place with mypyc.

The package stays pure Python by default, and the tests run on that. This
script compiles chosen modules of the current checkout's ``src/tcpstack``
into C extensions that sit next to their sources (``seq.py`` gains
``seq.cpython-311-x86_64-linux-gnu.so``); Python imports an extension in
preference to the source of the same name, so while they exist
``PYTHONPATH=src`` runs the compiled code. ``clean`` deletes them and the
package is pure Python again.

Usage (from the checkout's root; needs mypy, which ships mypyc, a C compiler
and Python's headers)::

    python benchmarks/mypyc_build.py build [MODULE ...]   # default: DEFAULT_MODULES
    python benchmarks/mypyc_build.py status               # what is compiled, what is stale
    python benchmarks/mypyc_build.py clean                # back to pure Python

MODULE is a path under ``src/tcpstack`` (``seq.py``, ``wire/segment.py``).
An extension does not follow later edits of its source: ``status`` names
the stale ones, and a build (or ``clean``) is needed after each edit.
Generated C, objects and mypy's cache go to ``build/mypyc/`` (ignored by
git). After compiling, a smoke test (:data:`SMOKE`: a 1 MB transfer between
two stacks, in a fresh interpreter) must pass, or the build is removed
again: mypyc compiles some valid Python into code that fails at import or
at run time (docs/performance.md, "Compiled build (opt-in)", lists what was found).

Exit status: 0 on success; 1 with one line on stderr when a module is
unknown, mypyc or the C compiler fails, or the smoke test fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout's root."""
SRC = ROOT / "src"
PACKAGE = SRC / "tcpstack"
BUILD = ROOT / "build" / "mypyc"
"""Generated C (``c/``) and object files (``temp/``)."""
GROUP = "tcpstack_hot"
"""Name of the shared library that holds the compiled code of every module.

It lands at ``src/tcpstack_hot__mypyc.<EXT_SUFFIX>``; each compiled module
gets a small extension of its own name that loads it.
"""

DEFAULT_MODULES = (
    "seq.py",
    "buffers.py",
    "wire/checksum.py",
    "wire/options.py",
    "wire/segment.py",
    "wire/ip.py",
    "timers.py",
    "rtt.py",
    "sack.py",
    "reassembly.py",
    "recovery.py",
    "congestion/__init__.py",
    "congestion/base.py",
    "congestion/newreno.py",
    "sender.py",
    "tcb.py",
    "connection.py",
    "stack.py",
)
"""The modules compiled by default: those a packet's path through the core runs."""

SMOKE = """
from tcpstack.config import TcpConfig
from tcpstack.harness.population import Wire, wired_bulk
from tcpstack.stack import Stack
wire = Wire(Stack("192.0.2.1", config=TcpConfig(), isn_key=bytes(16)),
            Stack("192.0.2.2", config=TcpConfig(), isn_key=bytes(16)))
wired_bulk(wire, 1_000_000)
"""
"""Run by a fresh interpreter on the compiled tree; it must exit 0."""


def suffix() -> str:
    """The extension file suffix of this interpreter, e.g. ``.cpython-311-x86_64-linux-gnu.so``."""
    return str(sysconfig.get_config_var("EXT_SUFFIX"))


def extensions() -> list[Path]:
    """Every compiled file this script may have left under ``src/``."""
    found = sorted(PACKAGE.rglob(f"*{suffix()}"))
    found.extend(sorted(SRC.glob(f"*__mypyc{suffix()}")))
    return found


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block in ``path`` (setuptools' ``--inplace`` is relative to it)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def build(modules: list[str]) -> int:
    """Compile ``modules`` (paths under ``src/tcpstack``) in place; returns the exit status."""
    missing = [m for m in modules if not (PACKAGE / m).is_file()]
    if missing:
        print(f"error: no such module under src/tcpstack: {', '.join(missing)}", file=sys.stderr)
        return 1
    clean(quiet=True)  # a module dropped from the list must not stay compiled
    from mypyc.build import mypycify  # imported late: clean and status need no mypy
    from setuptools import setup  # type: ignore[import-untyped]

    paths = [str(Path("tcpstack") / m) for m in modules]
    os.environ["MYPY_CACHE_DIR"] = str(BUILD / "mypy_cache")
    with working_directory(SRC):
        try:
            ext_modules = mypycify(
                paths, opt_level="3", group_name=GROUP, target_dir=str(BUILD / "c")
            )
            setup(
                name="tcpstack-mypyc",
                ext_modules=ext_modules,
                script_args=[
                    "--quiet",
                    "build_ext",
                    "--inplace",
                    "--build-temp",
                    str(BUILD / "temp"),
                    "--build-lib",
                    str(BUILD / "lib"),
                ],
            )
        except SystemExit as exc:  # mypyc's type errors and setuptools' failures exit
            if exc.code not in (None, 0):
                clean(quiet=True)
                print(f"error: compiling failed: {exc.code}", file=sys.stderr)
                return 1
        except Exception as exc:  # a crash inside mypyc
            clean(quiet=True)
            print(f"error: mypyc failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    failure = smoke_test()
    if failure:
        clean(quiet=True)
        print(f"error: the compiled build fails its smoke test, removed: {failure}",
              file=sys.stderr)
        return 1
    print(f"compiled, smoke test passed: {' '.join(modules)}")
    return 0


def smoke_test() -> str:
    """Run :data:`SMOKE` on the compiled tree; returns its last line of error, or ``""``."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-c", SMOKE], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode == 0:
        return ""
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def clean(quiet: bool = False) -> int:
    """Delete the compiled files and ``build/mypyc``; returns the exit status (0)."""
    removed = extensions()
    for path in removed:
        path.unlink()
    shutil.rmtree(BUILD, ignore_errors=True)
    with contextlib.suppress(OSError):  # build/ itself, unless something else is in it
        BUILD.parent.rmdir()
    if not quiet:
        print(f"removed {len(removed)} compiled files; src/tcpstack is pure Python")
    return 0


def status() -> int:
    """Print each compiled module, and whether its source changed since; returns 0."""
    compiled = [p for p in extensions() if p.parent != SRC]
    if not compiled:
        print("pure Python: no compiled modules under src/tcpstack")
        return 0
    for path in compiled:
        source = path.with_name(path.name.removesuffix(suffix()) + ".py")
        stale = source.stat().st_mtime > path.stat().st_mtime
        note = "  STALE: source changed since the build" if stale else ""
        print(f"{path.relative_to(PACKAGE).with_name(source.name)}{note}")
    return 0


def main(argv: list[str]) -> int:
    """Command line; see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    to_build = commands.add_parser("build", help="compile modules in place")
    to_build.add_argument("modules", nargs="*", help="paths under src/tcpstack")
    commands.add_parser("status", help="list compiled modules")
    commands.add_parser("clean", help="delete compiled files")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build(args.modules or list(DEFAULT_MODULES))
    if args.command == "clean":
        return clean()
    return status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
