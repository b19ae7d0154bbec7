"""Network namespaces for running the TUN driver in isolation (Linux, root).

The network rule of the project: anything that touches a real interface runs
inside a network namespace created for it, with no route out, and removed
afterwards. These helpers wrap ``ip netns`` (iproute2): it is the simplest
reliable way to run a *whole process* inside a namespace
(``ip netns exec NAME cmd``), which is how the TUN server is started; moving
a thread of an existing Python process with ``setns`` is fragile and not
offered here.

Every function raises :class:`NetnsError` with iproute2's message when a
command fails, and ``FileNotFoundError`` is turned into a :class:`NetnsError`
saying ``ip`` is missing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import TcpStackError

__all__ = [
    "NETNS_RUN_DIR",
    "NetnsError",
    "NetnsWatch",
    "create_netns",
    "delete_netns",
    "exec_argv",
    "has_default_route",
    "list_netns",
    "names_of_own_netns",
    "netns_exists",
    "popen_in_netns",
    "run_in_netns",
    "temporary_netns",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

COMMAND_TIMEOUT = 20.0
"""Seconds any single ``ip`` command may take before it is killed."""

NETNS_RUN_DIR = "/run/netns"
"""Where ``ip netns`` keeps its names: one bind mount of the namespace per name."""

OWN_NETNS = "/proc/self/ns/net"
"""This process's network namespace."""


class NetnsError(TcpStackError):
    """An ``ip netns`` operation failed (message from iproute2 included)."""


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid network namespace name {name!r}")
    return name


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip")
    if ip is None:
        raise NetnsError("the 'ip' command (iproute2) is not installed")
    proc = subprocess.run(
        [ip, *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        raise NetnsError(f"ip {' '.join(args)}: {msg}")
    return proc


def list_netns() -> list[str]:
    """Names of the named network namespaces (``ip netns list``)."""
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_exists(name: str) -> bool:
    """True if a named namespace ``name`` exists."""
    return os.path.exists(f"/run/netns/{_check_name(name)}") or name in list_netns()


def create_netns(name: str) -> None:
    """Create namespace ``name`` and bring its loopback up.

    A fresh namespace holds only ``lo`` and has no routes, so nothing
    started in it can reach the outside network.

    Raises:
        NetnsError: the namespace exists already, or ``ip`` failed
            (for example without CAP_SYS_ADMIN).
    """
    _ip("netns", "add", _check_name(name))
    try:
        _ip("-n", name, "link", "set", "lo", "up")
    except BaseException:
        delete_netns(name)
        raise


def delete_netns(name: str) -> None:
    """Delete namespace ``name``; no error if it does not exist.

    Processes still running inside keep their namespace alive until they
    exit: stop them first.
    """
    if not netns_exists(name):
        return
    _ip("netns", "delete", _check_name(name))


def has_default_route(name: str) -> bool:
    """True if namespace ``name`` has an IPv4 or IPv6 default route (a way out)."""
    for family in ("-4", "-6"):
        out = _ip("-n", _check_name(name), family, "route", "show", "default").stdout
        if out.strip():
            return True
    return False


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argument vector that runs ``argv`` inside namespace ``name``."""
    ip = shutil.which("ip") or "ip"
    return [ip, "netns", "exec", _check_name(name), *argv]


def run_in_netns(
    name: str, argv: Sequence[str], *, timeout: float = 60.0, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """Run ``argv`` inside namespace ``name`` and wait for it (at most ``timeout`` s).

    Extra keyword arguments go to :func:`subprocess.run` (``capture_output``,
    ``text``, ``input``, ``check``...).

    Raises:
        subprocess.TimeoutExpired: the command ran longer than ``timeout``
            (it is killed).
    """
    return subprocess.run(exec_argv(name, argv), timeout=timeout, **kwargs)


def popen_in_netns(name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` inside namespace ``name`` without waiting (:class:`subprocess.Popen`)."""
    return subprocess.Popen(exec_argv(name, argv), **kwargs)


@contextmanager
def temporary_netns(prefix: str = "tcpstack") -> Iterator[str]:
    """Create a uniquely named namespace, yield its name, always delete it.

    The name is ``{prefix}-{pid}-{random hex}``. The namespace is deleted on
    normal exit and on any exception.

    Raises:
        NetnsError: creation failed (nothing is left behind).
    """
    name = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
    create_netns(name)
    try:
        yield name
    finally:
        delete_netns(name)


def _identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``path`` (a namespace's identity), or None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def names_of_own_netns(run_dir: str = NETNS_RUN_DIR, own: str = OWN_NETNS) -> list[str]:
    """The ``ip netns`` names of the network namespace this process runs in.

    Empty in the machine's main namespace, in an unnamed one (``unshare -n``)
    or where ``run_dir`` cannot be read.

    Args:
        run_dir: where the names live (``/run/netns``).
        own: this process's namespace (``/proc/self/ns/net``).
    """
    me = _identity(own)
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return []
    return [n for n in names if me is not None and _identity(os.path.join(run_dir, n)) == me]


class NetnsWatch:
    """Notices that the named network namespace this process runs in was deleted.

    ``ip netns del NAME`` only removes the name: a namespace lives on while a
    process is inside it, so a server started with ``ip netns exec NAME``
    would run on, unreachable, after its namespace is "deleted". This watch
    remembers the names of the process's namespace when it is made;
    :meth:`deleted` is true once none of them refers to it any more.

    Args:
        run_dir: where the names live (``/run/netns``).
        own: this process's namespace (``/proc/self/ns/net``).
    """

    def __init__(self, run_dir: str = NETNS_RUN_DIR, own: str = OWN_NETNS) -> None:
        self._run_dir = run_dir
        self._me = _identity(own)
        self.names: tuple[str, ...] = tuple(names_of_own_netns(run_dir, own))
        """The names the namespace had when the watch was made (empty: nothing to watch)."""

    def deleted(self) -> bool:
        """True once every name the namespace had is gone or names another namespace.

        Always False if it had no name. A few ``stat`` calls, no ``ip``.
        """
        if not self.names:
            return False
        return all(
            _identity(os.path.join(self._run_dir, name)) != self._me for name in self.names
        )
