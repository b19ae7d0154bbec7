"""Terminal wrapping that breaks Chinese between characters, never inside numbers or words."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpstack.tools.wrap import NO_LINE_END, NO_LINE_START, cell_width, wrap

ZH = ("等 2MSL（两倍的最大报文段生存时间 MSL），是因为最后的 ACK 可能丢失；"
      "对方重传的 FIN 序列号为 ISN+6，确认号是 4294967295。")


def test_cell_width() -> None:
    assert cell_width("abc") == 3
    assert cell_width("三次握手") == 8
    assert cell_width("（，）") == 6


@pytest.mark.parametrize("width", [12, 17, 24, 40, 80])  # "4294967295。" is 11 wide
def test_chinese_fills_lines_and_keeps_numbers_whole(width: int) -> None:
    lines = wrap(ZH, width)
    assert all(cell_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == ZH.replace(" ", "")
    words = set(re.findall(r"[A-Za-z0-9+.]+", ZH))
    for line in lines:
        assert line[:1] not in NO_LINE_START and line[-1:] not in NO_LINE_END
        for found in re.findall(r"[A-Za-z0-9+.]+", line):
            assert found in words  # never a piece of a number or word
    # Greedy: no line could have taken the next line's first piece (and a space).
    for a, b in itertools.pairwise(lines):
        piece = re.match(r"[（“]?(?:[A-Za-z0-9+.]+|.)[，。；）]*", b)
        assert piece is not None
        assert cell_width(a) + 1 + cell_width(piece.group()) > width, (a, b)


def test_english_breaks_at_spaces_and_newlines_are_kept() -> None:
    assert wrap("one two three four", 9) == ["one two", "three", "four"]
    assert wrap("a\n\n  b", 10) == ["a", "", "  b"]  # indentation of a paragraph stays
    assert wrap("x" * 12, 5) == ["x" * 12]  # too long to break: a line of its own
    with pytest.raises(ValueError):
        wrap("x", 0)


@given(st.text(alphabet=st.sampled_from(list("ab 1.三次握手，。（）\n")), max_size=60),
       st.integers(min_value=4, max_value=30))
def test_wrap_loses_nothing_but_spaces(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert len(lines) >= text.count("\n") + 1
