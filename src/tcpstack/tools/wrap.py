"""Wrap text for a terminal, Chinese included.

Terminal wrappers (``textwrap``, rich) break lines only at spaces. Chinese
has none, so a Chinese sentence is one long "word" that jumps whole to the
next line or is cut anywhere. :func:`wrap` breaks between any two Chinese
characters, never inside a Latin word or a number, keeps closing punctuation
(，。）) off the start of a line and opening punctuation (（“) off its end, and
counts wide characters as two columns.
"""

from __future__ import annotations

import re
import unicodedata

NO_LINE_START = frozenset("，。、；：！？）》」』】〕”’,.;:!?)]}%")
"""Characters that must not begin a line (they stay with what precedes them)."""
NO_LINE_END = frozenset("（《「『【〔“‘([{")
"""Characters that must not end a line (they stay with what follows them)."""

_UNIT = re.compile(r"\s+|[A-Za-z0-9_.\-+/:=<>@#$%&*'\"|~^`\\]+|.", re.DOTALL)


def cell_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and full-width characters (CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _units(text: str) -> list[str]:
    """Unbreakable pieces: a run of spaces, a Latin word or number, or one other
    character; punctuation glued to its neighbour as :data:`NO_LINE_START` and
    :data:`NO_LINE_END` say."""
    units: list[str] = []
    glue_next = False
    for piece in _UNIT.findall(text):
        if units and not piece.isspace() and (glue_next or piece[0] in NO_LINE_START):
            units[-1] += piece
        else:
            units.append(piece)
        glue_next = not piece.isspace() and piece[-1] in NO_LINE_END
    return units


def wrap(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` columns (a piece wider than that,
    like a long URL, gets a line of its own and may be cut by the terminal).

    Newlines in ``text`` are kept; spaces at a break are dropped.

    Raises:
        ValueError: ``width`` < 1.
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        first = True  # the paragraph's first line keeps its indentation
        for unit in _units(paragraph):
            if unit.isspace():
                if (line or first) and cell_width(line) + cell_width(unit) <= width:
                    line += unit
                elif line:  # the break falls on the spaces: drop them
                    lines.append(line.rstrip())
                    line, first = "", False
                continue
            if line.strip() and cell_width(line) + cell_width(unit) > width:
                lines.append(line.rstrip())
                line, first = "", False
            line += unit
        lines.append(line.rstrip())
    return lines
