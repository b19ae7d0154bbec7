"""Fixtures shared by the TUN integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tun_helpers import Netns, netns_for_test, require_or_skip, tun_unavailable_reason


@pytest.fixture(scope="session")
def tun_env() -> None:
    """Skip (or fail, with TCPSTACK_REQUIRE_TUN=1) where TUN tests cannot run."""
    reason = tun_unavailable_reason()
    if reason is not None:
        require_or_skip(reason)


@pytest.fixture
def ns(tun_env: None, tmp_path: Path) -> Iterator[Netns]:
    """A fresh namespace for one test; its processes are stopped and it is deleted."""
    with netns_for_test(tmp_path) as netns:
        yield netns
