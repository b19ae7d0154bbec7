"""Every scenario explains itself in English and in Simplified Chinese, with the field's terms."""

from __future__ import annotations

import re

import pytest

from tcpstack.scenarios import SCENARIOS, Scenario
from tcpstack.tools.i18n import Text

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # ideographs, CJK punctuation
IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")

FIELDS = ("summary", "question", "answer")

# English term -> the standard Chinese term a learner finds in textbooks.
GLOSSARY = {
    "three-way handshake": "三次握手",
    "four-way close": "四次挥手",
    "half-close": "半关闭",
    "keep-alive": "保活",
    "sequence number": "序列号",
    "retransmi": "重传",
    "congestion window": "拥塞窗口",
    "receive window": "接收窗口",
    "ssthresh": "慢启动阈值",
    "MSL": "MSL",
}


def texts(scenario: Scenario) -> list[tuple[str, Text]]:
    return [(f, getattr(scenario, f)) for f in FIELDS]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_both_languages_present(name: str) -> None:
    for field, text in texts(SCENARIOS[name]):
        assert isinstance(text, Text), field
        assert text.en.strip() and text.zh.strip(), field


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_english_is_english_and_chinese_is_chinese(name: str) -> None:
    for field, text in texts(SCENARIOS[name]):
        assert not CJK.search(text.en), (field, CJK.findall(text.en))
        ideographs = len(IDEOGRAPH.findall(text.zh))
        latin = len(LATIN.findall(text.zh))
        # Chinese prose around RFC state names and option names: mostly ideographs.
        assert ideographs >= 0.4 * (ideographs + latin), (field, text.zh)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_question_is_a_question(name: str) -> None:
    q = SCENARIOS[name].question
    assert q.en.rstrip().endswith("?"), q.en
    assert q.zh.rstrip().endswith("？"), q.zh


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_chinese_uses_the_standard_terms(name: str) -> None:
    for field, text in texts(SCENARIOS[name]):
        for en, zh in GLOSSARY.items():
            if en.lower() in text.en.lower():
                assert zh in text.zh, (field, en, zh)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_state_names_keep_the_rfc_spelling(name: str) -> None:
    for field, text in texts(SCENARIOS[name]):
        for lang in (text.en, text.zh):
            assert not re.search(r"\b(TIME|CLOSE|FIN|SYN|LAST)_[A-Z]", lang), (field, lang)


def test_summaries_fit_one_line_and_questions_differ() -> None:
    for sc in SCENARIOS.values():
        assert "\n" not in sc.summary.en + sc.summary.zh
    questions = [sc.question.en for sc in SCENARIOS.values()]
    assert len(set(questions)) == len(questions)


def test_the_classic_questions_are_all_answered() -> None:
    asked = " ".join(sc.question.zh for sc in SCENARIOS.values())
    for topic in ("三次握手", "四次挥手", "2MSL", "CLOSE-WAIT", "FIN-WAIT-2", "保活",
                  "SYN 和 FIN", "recv()", "close()", "Ctrl-C", "TIME-WAIT", "半关闭"):
        assert topic in asked, topic
