"""Two languages for everything a learner reads: English and Simplified Chinese.

Scenario explanations, per-step annotations, ladder labels and the viewer's
words are :class:`Text` values (one string per language). The terminal
picks the language with ``--lang``, by default from the locale
(:func:`default_lang`); the viewer switches at run time.

Chinese uses the field's standard terms: 三次握手 (three-way handshake),
四次挥手 (four-way close), 半关闭 (half-close), 保活 (keep-alive), 最大报文段生存时间
MSL, 序列号 (sequence number), 确认号 (acknowledgment number), 重传 (retransmission),
拥塞窗口 (congestion window), 滑动窗口 (sliding window). State names stay
in RFC spelling (TIME-WAIT, CLOSE-WAIT), as Chinese textbooks print them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
"""The languages, English first (the fallback)."""


@dataclass(frozen=True)
class Text:
    """One text in both languages.

    Attributes:
        en: English.
        zh: Simplified Chinese, written for learners (not machine output).
    """

    en: str
    zh: str

    def __post_init__(self) -> None:
        if not self.en.strip() or not self.zh.strip():
            raise ValueError(f"a Text needs both languages: {self!r}")

    def get(self, lang: str) -> str:
        """The text in ``lang`` (English for a language we do not have)."""
        return self.zh if lang == "zh" else self.en

    def format(self, **values: object) -> Text:
        """Both languages with ``{name}`` fields filled in."""
        return Text(self.en.format(**values), self.zh.format(**values))

    def to_dict(self) -> dict[str, str]:
        """``{"en": ..., "zh": ...}`` (for JSON, the viewer's catalog)."""
        return {"en": self.en, "zh": self.zh}


def parse_lang(value: str) -> Lang:
    """``"en"`` or ``"zh"`` from a user's spelling (``zh_CN``, ``zh-Hans``, ``EN``...).

    Raises:
        ValueError: not a language we have.
    """
    v = value.strip().lower().replace("_", "-")
    if v in ("en", "english") or v.startswith("en-"):
        return "en"
    if v in ("zh", "cn", "chinese", "中文") or v.startswith("zh-"):
        return "zh"
    raise ValueError(f"unknown language {value!r} (choose en or zh)")


def default_lang(environ: Mapping[str, str] | None = None) -> Lang:
    """The language of the locale: Chinese when ``LC_ALL``, ``LC_MESSAGES`` or
    ``LANG`` (the first one set, as POSIX orders them) starts with ``zh``,
    English otherwise."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
