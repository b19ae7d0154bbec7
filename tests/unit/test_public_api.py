"""The public face: ``import tcpstack`` and the module paths users already rely on."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import tcpstack
from tcpstack import errors
from tcpstack import events as ev

REQUIRED = {
    "Stack",
    "Connection",
    "Endpoint",
    "TcpConfig",
    "State",
    "Network",
    "Host",
    "LinkConfig",
    "__version__",
}


def test_all_names_the_api_and_every_event_and_error() -> None:
    names = set(tcpstack.__all__)
    assert names >= REQUIRED
    event_classes = {n for n, v in vars(ev).items() if isinstance(v, type)
                     and issubclass(v, ev.Event)}
    error_classes = {n for n, v in vars(errors).items() if isinstance(v, type)
                     and issubclass(v, errors.TcpStackError)}
    assert event_classes <= names
    assert error_classes <= names
    for name in tcpstack.__all__:
        assert hasattr(tcpstack, name), name


def test_all_is_curated_no_modules_or_helpers_leak() -> None:
    public = {n for n in dir(tcpstack) if not n.startswith("_")}
    # Subpackages are reachable as attributes once imported; they are not API names.
    modules = {n for n in public if type(getattr(tcpstack, n)).__name__ == "module"}
    assert public - modules == set(tcpstack.__all__) - {"__version__"}


def test_module_docstring_program_runs() -> None:
    result = doctest.testmod(tcpstack, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("tcpstack.apps", "tcpstack.drivers.apps"),
        ("tcpstack.bench", "tcpstack.harness.bench"),
        ("tcpstack.torture", "tcpstack.harness.torture"),
        ("tcpstack.drill", "tcpstack.harness.drill"),
        ("tcpstack.drill.parse", "tcpstack.harness.drill.parse"),
        ("tcpstack.drill.targets.tcpstack", "tcpstack.harness.drill.targets.tcpstack"),
        ("tcpstack.drill.cli", "tcpstack.cli.drill"),
        ("tcpstack.cli_tun", "tcpstack.cli.tun"),
        ("tcpstack.torture_cli", "tcpstack.cli.torture"),
        ("tcpstack.argtypes", "tcpstack.cli.argtypes"),
        ("tcpstack.docs_gen", "tcpstack.cli.docs"),
    ],
)
def test_old_module_paths_give_the_same_module(old: str, new: str) -> None:
    moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)
    assert moved.__spec__ is not None and moved.__spec__.name == new


def test_old_from_import_gives_the_same_class() -> None:
    from tcpstack.apps import EchoApp as Old

    from tcpstack.drivers.apps import EchoApp as New

    assert Old is New


def test_old_module_path_runs_with_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tcpstack.cli_tun", "serve", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
