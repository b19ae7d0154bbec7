"""Drill targets: the TCPs a script can run against.

* ``tcpstack``: :class:`~tcpstack.harness.drill.targets.tcpstack.TcpstackTarget`, the
  sans-I/O stack in virtual time (always available);
* ``linux``: :class:`tcpstack.harness.drill.targets.linux.LinuxTarget`, the kernel's TCP
  in a private network namespace (root and Linux only), imported lazily.
"""

from __future__ import annotations

from ..model import DrillError
from ..target import Target

__all__ = ["TARGET_NAMES", "create_target"]

TARGET_NAMES = ("tcpstack", "linux")
"""Names accepted by :func:`create_target`."""


def create_target(name: str) -> Target:
    """A fresh target by name.

    Raises:
        ValueError: unknown name.
        DrillError: the target cannot be loaded here (e.g. the Linux target
            on a system without it), with a one-line reason.
    """
    if name == "tcpstack":
        from .tcpstack import TcpstackTarget

        return TcpstackTarget()
    if name == "linux":
        try:
            from . import linux  # type: ignore[attr-defined,unused-ignore]
        except ImportError as exc:
            raise DrillError(f"the linux target is not available: {exc}") from None
        check = getattr(linux, "linux_unavailable_reason", None)
        reason = check() if callable(check) else None
        if reason:
            raise DrillError(str(reason))
        target: Target = linux.LinuxTarget()
        return target
    raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGET_NAMES)}")
