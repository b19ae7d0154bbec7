"""``tcpstack experiment`` through Dask: a LocalCluster gives the same result as
``--jobs 1``; a missing dask or an unreachable scheduler is one line.

The Dask tests skip, with one line, where dask.distributed is not installed
(``pip install 'tcpstack[cluster]'``); ``TCPSTACK_REQUIRE_DASK=1`` (set by the
CI) makes that a failure instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

import pytest

from tcpstack.cli.main import main
from tcpstack.harness.experiments import executors

TINY = ["--bandwidth", "1e6", "--rtt", "0.02", "--duration", "0.5", "--quiet", "--json",
        "--seed", "9"]


@pytest.fixture
def dask_installed() -> None:
    if importlib.util.find_spec("distributed") is None:
        reason = "dask.distributed is not installed (pip install 'tcpstack[cluster]')"
        if os.environ.get("TCPSTACK_REQUIRE_DASK") == "1":
            pytest.fail(f"TCPSTACK_REQUIRE_DASK=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(["experiment", *argv]) == 0
    obj: dict[str, Any] = json.loads(capsys.readouterr().out)
    return obj


@pytest.mark.usefixtures("dask_installed")
def test_dask_local_gives_the_result_of_jobs_1(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["goodput", "--loss", "0,0.02,0.05", "--algorithms", "newreno,reno", *TINY]
    local = _run(capsys, [*argv, "--jobs", "1"])
    dask = _run(capsys, [*argv, "--executor", "dask-local", "--jobs", "2"])
    assert dask["machine"]["executor"] == "dask-local"
    assert local["machine"]["executor"] == "process"
    del local["machine"], dask["machine"]
    assert dask == local
    assert len(local["points"]) == 6


@pytest.mark.usefixtures("dask_installed")
def test_unreachable_scheduler_is_one_line(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 0.5)
    # Port 9 of the loopback (discard): nothing listens there in a test run.
    assert main(["experiment", "goodput", *TINY, "--executor", "dask",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcpstack: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert err.count("\n") == 1


def test_dask_not_installed_hint(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    for kind in ("dask-local", "dask"):
        extra = ["--scheduler", "tcp://127.0.0.1:9"] if kind == "dask" else []
        assert main(["experiment", "goodput", *TINY, "--executor", kind, *extra]) == 2
        err = capsys.readouterr().err
        assert "pip install 'tcpstack[cluster]'" in err and err.count("\n") == 1
