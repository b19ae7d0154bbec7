"""tcpstack.tools.viewer.render_page: the page's parts, its modes, its packaging."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from tcpstack.tools.viewer import build_document, render_page
from tcpstack.tools.viewer.page import SCRIPTS, script_json, static_text

ROOT = Path(__file__).resolve().parents[2]


def test_every_static_file_is_package_data() -> None:
    """A non-editable install carries the page: pyproject's globs match every file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["tcpstack.tools.viewer"]
    static = files("tcpstack.tools.viewer").joinpath("static")
    names = sorted(p.name for p in static.iterdir() if p.is_file())
    assert {"page.html", "viewer.css", *SCRIPTS} <= set(names)
    for name in names:
        assert any(fnmatch.fnmatch(f"static/{name}", g) for g in globs), name


def test_the_parts_cannot_close_their_elements() -> None:
    assert "</style" not in static_text("viewer.css")
    for name in SCRIPTS:
        assert "</script" not in static_text(name).lower(), name
    slots = set(re.findall(r"\{\{([A-Z]+)\}\}", static_text("page.html")))
    assert slots == {"LANG", "CSP", "TITLE", "CSS", "CATALOG", "CONFIG", "DOC", "SCRIPT"}


def test_modes() -> None:
    ui = render_page(None, mode="ui", scenarios=[{"name": "x", "summary": {"en": "y"}}],
                     defaults={"seed": 1})
    assert "connect-src 'self'" in ui and '"mode": "ui"' in ui
    assert 'id="tv-doc">null</script>' in ui
    page = render_page(build_document([]), lang="zh")
    assert "connect-src 'none'" in page and '<html lang="zh-Hans">' in page
    with pytest.raises(ValueError, match="unknown page mode"):
        render_page(None, mode="web")


def test_script_json_is_inert_in_a_script_element() -> None:
    text = script_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})
