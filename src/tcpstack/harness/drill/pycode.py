"""Running a script's ``%{ }%`` blocks, as packetdrill does.

packetdrill (``code.c``) takes a ``TCP_INFO`` snapshot of the socket under
test when the script reaches a ``%{ }%`` line, and writes the ``tcpi_*``
values followed by the block's code into one Python program, which runs after
the script's last event. So the blocks share one namespace (a block may
define a name a later one uses), each sees the snapshot taken at its own
line, and an exception (an ``assert`` that fails) fails the script with the
block's line.

drill evaluates the blocks in-process, in a restricted namespace: only the
builtins of :data:`SAFE_BUILTINS` (no ``import``, no ``open``), the
``tcpi_*`` values as ints, and the constants packetdrill defines
(:data:`CONSTANTS`: ``TCP_ESTABLISHED``..., ``TCP_CA_*``, ``TCPI_OPT_*``).
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .symbols import SYMBOLS

__all__ = ["CONSTANTS", "SAFE_BUILTINS", "CodeFailure", "Snapshot", "run_blocks"]

SAFE_BUILTINS: dict[str, object] = {
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "float", "hex", "int",
        "isinstance", "len", "list", "max", "min", "pow", "print", "range", "repr", "reversed",
        "round", "set", "sorted", "str", "sum", "tuple", "zip",
        "True", "False", "None",
        "AssertionError", "Exception", "ValueError", "TypeError", "ZeroDivisionError",
    )
}
"""The only builtins a ``%{ }%`` block sees."""

CONSTANTS: dict[str, int] = {
    **{name: value for name, value in SYMBOLS.items()
       if name.startswith("TCP_CA_") or name in (
           "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
           "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN",
           "TCP_CLOSING")},
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4, "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16, "TCPI_OPT_SYN_DATA": 32, "TCPI_OPT_USEC_TS": 64,
    "TCPI_OPT_TFO_CHILD": 128,
}
"""Names packetdrill defines for the code (Linux values)."""


@dataclass(frozen=True)
class Snapshot:
    """One block to run: its script ``line``, ``code`` and the ``tcpi_*`` values taken
    when the script reached it (``info``; times in microseconds)."""

    line: int
    code: str
    info: Mapping[str, int]


@dataclass(frozen=True)
class CodeFailure:
    """A block that raised: its script ``line`` and a one-line ``message``
    (``"AssertionError: 3 (code line 2: assert tcpi_unacked == 2, tcpi_unacked)"``)."""

    line: int
    message: str


def run_blocks(blocks: Sequence[Snapshot], path: str) -> CodeFailure | None:
    """Run the blocks in order in one restricted namespace; the first exception stops.

    Returns None when every block ran, else the failure (an AssertionError, a
    NameError for a ``tcpi_*`` field the target does not provide, a SyntaxError...).
    """
    namespace: dict[str, object] = {"__builtins__": SAFE_BUILTINS, **CONSTANTS}
    for block in blocks:
        namespace.update({key: int(value) for key, value in block.info.items()})
        filename = f"{path}:{block.line}"
        try:
            compiled = compile(block.code, filename, "exec")
            exec(compiled, namespace)  # restricted namespace: see the module docstring
        except Exception as exc:  # any error of the script's code fails the script
            return CodeFailure(block.line, _describe(exc, block.code, filename))
    return None


def _describe(exc: Exception, code: str, filename: str) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    lineno = None
    if isinstance(exc, SyntaxError):
        lineno = exc.lineno
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == filename:
                lineno = frame.lineno
    lines = code.splitlines()
    if lineno is not None and 1 <= lineno <= len(lines):
        text += f" (code line {lineno}: {lines[lineno - 1].strip()})"
    return text
