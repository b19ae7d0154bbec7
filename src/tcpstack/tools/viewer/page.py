"""The viewer's page: one HTML document with its CSS, script and data inline.

The page's parts are package data in ``static/``: ``page.html`` (the
skeleton, with ``{{NAME}}`` slots), ``viewer.css`` and the scripts
``*.js`` (concatenated in :data:`SCRIPTS` order into one ``<script>``).
:func:`render_page` fills the slots: the title, the language, the word
catalog (:func:`tcpstack.tools.viewer.words.catalog`), the page's
configuration and the document of :func:`~tcpstack.tools.viewer.build_document`.

A page made for a file (``mode="file"``) fetches nothing: its content
security policy allows no connection at all, so it works from ``file://``
with the network off. The page of ``tcpstack ui`` (``mode="ui"``) may only
talk to the server that served it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from xml.sax.saxutils import escape

from tcpstack.tools.i18n import Lang
from tcpstack.tools.viewer.words import catalog

__all__ = ["SCRIPTS", "render_page", "script_json", "static_text"]

SCRIPTS = ("util.js", "ladder.js", "panels.js", "diagram.js", "plots.js", "main.js")
"""The page's scripts, in the order they run."""

_CSP = {
    "file": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
            "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'",
    "ui": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
          "img-src data:; connect-src 'self'; form-action 'none'; base-uri 'none'",
}
_SLOT = re.compile(r"\{\{([A-Z]+)\}\}")


@cache
def static_text(name: str) -> str:
    """The text of one file of the page (``page.html``, ``viewer.css``, ``main.js``...).

    Raises:
        FileNotFoundError: no such file in the package (a broken install).
    """
    return files("tcpstack.tools.viewer").joinpath("static", name).read_text(encoding="utf-8")


def script_json(obj: object) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&``, U+2028/9)."""
    text = json.dumps(obj, ensure_ascii=False, default=str, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_page(
    document: Mapping[str, Any] | None,
    *,
    mode: str = "file",
    lang: Lang = "en",
    title: str | None = None,
    scenarios: Sequence[Mapping[str, Any]] = (),
    defaults: Mapping[str, Any] | None = None,
) -> str:
    """The viewer page as one HTML document (UTF-8 text).

    Args:
        document: the run to show (:func:`~tcpstack.tools.viewer.build_document`),
            or None (the ``ui`` page before its first run).
        mode: ``"file"`` (self-contained, no network at all) or ``"ui"``
            (the page of ``tcpstack ui``: a scenario picker, fault settings
            and a Run button that asks the server at ``api/run``).
        lang: the language the page starts in (the reader can switch).
        title: the page title (default: the document's).
        scenarios: for ``ui``: ``[{"name", "summary": {"en", "zh"}}]``.
        defaults: for ``ui``: the initial values of the run form
            (``scenario``, ``seed``, ``loss``, ``delay`` in seconds...).

    Raises:
        ValueError: ``mode`` is neither ``"file"`` nor ``"ui"``, or the
            document holds a value JSON cannot carry (NaN, infinity).
    """
    if mode not in _CSP:
        raise ValueError(f"unknown page mode {mode!r} (file or ui)")
    heading = title or (str(document.get("title")) if document else None) or "tcpstack"
    config = {"mode": mode, "lang": lang, "scenarios": list(scenarios),
              "defaults": dict(defaults or {})}
    values = {
        "LANG": "zh-Hans" if lang == "zh" else "en",
        "CSP": _CSP[mode],
        "TITLE": escape(heading),
        "CSS": static_text("viewer.css"),
        "CATALOG": script_json(catalog()),
        "CONFIG": script_json(config),
        "DOC": script_json(document),
        "SCRIPT": "\n".join(static_text(name) for name in SCRIPTS),
    }
    return _SLOT.sub(lambda m: values[m.group(1)], static_text("page.html"))
