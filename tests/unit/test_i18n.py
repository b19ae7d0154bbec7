"""The two-language texts and the choice of language."""

from __future__ import annotations

import pytest

from tcpstack.tools.i18n import Text, default_lang, parse_lang


def test_text_picks_a_language_and_falls_back_to_english() -> None:
    t = Text("three-way handshake", "三次握手")
    assert (t.get("en"), t.get("zh"), t.get("fr")) == ("three-way handshake", "三次握手",
                                                        "three-way handshake")
    assert t.to_dict() == {"en": "three-way handshake", "zh": "三次握手"}
    assert Text("ack = {n}", "确认号 = {n}").format(n=1) == Text("ack = 1", "确认号 = 1")


def test_text_needs_both_languages() -> None:
    with pytest.raises(ValueError):
        Text("only English", "")


@pytest.mark.parametrize(("env", "lang"), [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"}, "en"),
    ({"LC_ALL": "", "LANG": "zh_CN"}, "zh"),
])
def test_default_lang_follows_the_locale(env: dict[str, str], lang: str) -> None:
    assert default_lang(env) == lang


def test_parse_lang() -> None:
    assert [parse_lang(v) for v in ("en", "EN", "zh", "zh_CN", "zh-Hans", "中文")] == \
        ["en", "en", "zh", "zh", "zh", "zh"]
    with pytest.raises(ValueError, match="en or zh"):
        parse_lang("fr")
