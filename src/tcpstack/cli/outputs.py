"""Files a command writes, checked when it starts rather than discovered at its end.

A long run (a server on a TUN device, say) that only learns at exit that
its ``--pcap`` path is bad loses the capture. :func:`open_output` opens an
output for writing at once, so a bad path is one clear line before any work
is done; :class:`ReadyFile` is the ``--ready-file`` of a server, which
scripts wait for instead of sleeping blindly.

Errors are :class:`~tcpstack.cli.argtypes.UsageError` with a one-line
message (the command exits with status 2).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

from .argtypes import UsageError

__all__ = ["ReadyFile", "open_output"]


def open_output(path: Path, option: str, mode: str = "wb") -> IO[Any]:
    """Open ``path`` for writing now (created, or emptied if it exists and ``mode`` is not ``"a"``).

    Args:
        path: the file named on the command line.
        option: the option that named it (``"--pcap"``), for the message.
        mode: ``"wb"`` or ``"w"``; ``"a"`` checks the same without emptying
            the file (the caller truncates it when it writes).

    Raises:
        UsageError: the directory does not exist, the path is a directory,
            or it may not be written (one line naming ``option`` and ``path``).
    """
    try:
        return path.open(mode)
    except OSError as exc:
        raise UsageError(f"cannot write {option} {path}: {exc.strerror or exc}") from None


def _identity(path: Path) -> tuple[int, int, bytes] | None:
    """``(device, inode, content)`` of a small file, or None if it cannot be read.

    The content counts too: a file removed and made again may get the same inode.
    """
    try:
        st = path.stat()
        return st.st_dev, st.st_ino, path.read_bytes()
    except OSError:
        return None


class ReadyFile:
    """A file that appears once a server is ready, and goes when it exits.

    Made when the command starts: a temporary file is opened in the same
    directory (which checks that the directory exists and may be written)
    and a stale ready file left by an earlier run is removed, so that
    waiting for the file waits for this run. :meth:`write` fills the
    temporary file and renames it to ``path``: the file appears at once,
    complete. :meth:`remove` (at exit) removes it, if it is still the one
    written here.

    Args:
        path: the ready file.
        option: the option that named it, for messages.

    Raises:
        UsageError: the directory does not exist or may not be written,
            ``path`` is a directory, or a stale file cannot be removed.
    """

    def __init__(self, path: Path, option: str = "--ready-file") -> None:
        self.path = path
        self.option = option
        if path.is_dir():
            raise UsageError(f"cannot write {option} {path}: Is a directory")
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self._fp: IO[str] | None = self._tmp.open("w")
        except OSError as exc:
            raise UsageError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
        self._written: tuple[int, int, bytes] | None = None
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self.remove()
            raise UsageError(
                f"cannot remove the old {option} {path}: {exc.strerror or exc}"
            ) from None

    def write(self, text: str) -> None:
        """Make the file appear, holding ``text`` and a newline (atomically: a rename).

        Raises:
            OSError: the file could not be written or renamed.
            ValueError: written already, or removed.
        """
        fp = self._fp
        if fp is None:
            raise ValueError(f"{self.option} {self.path} was written or removed already")
        self._fp = None
        with fp:
            fp.write(text + "\n")
        os.replace(self._tmp, self.path)
        self._written = _identity(self.path)

    def remove(self) -> None:
        """Remove the temporary file, and the ready file if it is still ours. Safe twice."""
        if self._fp is not None:
            fp, self._fp = self._fp, None
            fp.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)
        written, self._written = self._written, None
        if written is not None and _identity(self.path) == written:
            with contextlib.suppress(OSError):
                self.path.unlink()
