"""Browser tests of the viewer: Playwright driving the system's Chromium.

Playwright's own browser download is not used: the tests launch the
Chromium the system has (Debian's ``chromium`` package; ``.ci/run`` installs
it), found on PATH or at ``$TCPSTACK_CHROMIUM``. Without it the tests skip
with one line, unless ``TCPSTACK_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
which makes that a failure.

Screenshots go to ``$TCPSTACK_ARTIFACTS/browser`` when that is set, else to
pytest's temporary directory.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WAIT = 30.0  # seconds: the longest any step of these tests may take


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("TCPSTACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TCPSTACK_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_executable() -> str | None:
    """The system's Chromium: ``$TCPSTACK_CHROMIUM``, else ``chromium`` on PATH."""
    explicit = os.environ.get("TCPSTACK_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Module scope, not session: while Playwright's sync API is open its event loop
# counts as running in this thread, so an asyncio program run by a later test in
# the same worker (asyncio.run, tcpstack.aio.run) would fail to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install '.[test]')")
    executable = chromium_executable()
    if executable is None:
        _skip_or_fail("no Chromium (apt-get install chromium, or set TCPSTACK_CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go (kept: a test artifact)."""
    root = os.environ.get("TCPSTACK_ARTIFACTS")
    base = Path(root) / "browser" if root else tmp_path
    out = base / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; page errors and console errors are collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT * 1000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" else None)
    page.errors = errors
    yield page
    context.close()


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.fixture(scope="module")
def ui_url() -> Iterator[str]:
    """``tcpstack ui --port 0`` in a subprocess: its URL, once it printed it.

    At the end it gets SIGINT (Ctrl-C) and must exit 0 with nothing on stderr.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpstack", "ui", "--port", "0", "--lang", "en"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=WAIT)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"tcpstack ui printed no URL in {WAIT} s: {proc.stderr.read()}")  # type: ignore[union-attr]
    url = first.split()[2]
    assert first.startswith("tcpstack ui: http://127.0.0.1:") and url.endswith("/"), first
    yield url
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("tcpstack ui did not stop on Ctrl-C")
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.returncode == 0, err
    assert err == "", err
