"""Old module paths keep working after the layout of the core rebuild.

Before the rebuild, the command line, the harnesses and the applications
lived beside the core (``tcpstack.apps``, ``tcpstack.bench``,
``tcpstack.drill``...). They now live in ``drivers/``, ``harness/`` and
``cli/``. :func:`install` registers an import hook that resolves each old
name to the module at its new place: ``import tcpstack.apps`` gives the very
module object ``tcpstack.drivers.apps`` (same classes, same globals), so
code written against the old paths keeps working unchanged.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

MOVED: dict[str, str] = {
    "tcpstack.apps": "tcpstack.drivers.apps",
    "tcpstack.bench": "tcpstack.harness.bench",
    "tcpstack.torture": "tcpstack.harness.torture",
    "tcpstack.drill": "tcpstack.harness.drill",
    "tcpstack.cli_tun": "tcpstack.cli.tun",
    "tcpstack.torture_cli": "tcpstack.cli.torture",
    "tcpstack.argtypes": "tcpstack.cli.argtypes",
    "tcpstack.docs_gen": "tcpstack.cli.docs",
}
"""Old module name -> new module name. A moved package moves with its submodules
(``tcpstack.drill.parse`` -> ``tcpstack.harness.drill.parse``), except that
the drill command moved to the command-line package."""

_EXCEPTIONS = {"tcpstack.drill.cli": "tcpstack.cli.drill"}


def new_name(old: str) -> str | None:
    """The current name of the module once called ``old``, or None if it did not move."""
    if old in _EXCEPTIONS:
        return _EXCEPTIONS[old]
    for prefix, target in MOVED.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name by importing the new one and handing back that module."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias spec on the module: give it its own back.
        if self._spec is not None:
            module.__spec__ = self._spec

    def get_code(self, fullname: str) -> CodeType | None:
        """The new module's code, so ``python -m OLD.NAME`` runs it (:mod:`runpy`)."""
        spec = importlib.util.find_spec(self._target)
        loader = spec.loader if spec is not None else None
        get_code = getattr(loader, "get_code", None)
        return get_code(self._target) if get_code is not None else None


class _AliasSpec(importlib.machinery.ModuleSpec):
    """The spec of an old name: its package is the new module's package, so that
    ``python -m OLD.NAME`` resolves the module's relative imports."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name, _AliasLoader(target))
        self._target_parent = target.rpartition(".")[0]

    @property
    def parent(self) -> str:
        return self._target_parent


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        return _AliasSpec(fullname, new)


def install() -> None:
    """Register the alias hook once (idempotent)."""
    # First in line: the path finder would otherwise load a second copy of a
    # moved package's submodule through the package's ``__path__``.
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
