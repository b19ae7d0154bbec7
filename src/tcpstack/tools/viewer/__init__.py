"""The interactive viewer: one page that steps through a TCP connection.

- :func:`build_document` turns trace records into the page's data (steps,
  both ends' TCB at each step, segments, the state table, plot series).
- :func:`render_page` makes the self-contained page (HTML, CSS and script
  inline; it fetches nothing) for one document, or the page of
  ``tcpstack ui``, which asks its server for documents.

The page's HTML, CSS and JavaScript are package data in ``static/``; the
words it shows are in :mod:`tcpstack.tools.viewer.words`, in English and
Simplified Chinese.
"""

from __future__ import annotations

from tcpstack.tools.viewer.document import About, build_document
from tcpstack.tools.viewer.page import render_page

__all__ = ["About", "build_document", "render_page"]
