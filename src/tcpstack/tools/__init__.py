"""Tools that read the trace: the ladder diagram (terminal, SVG, HTML) and pcap files.

- :mod:`tcpstack.tools.ladder` -- :func:`render_ladder`, :func:`print_ladder` (``rich``).
- :mod:`tcpstack.tools.html` -- :func:`render_svg`, :func:`render_html`.
- :mod:`tcpstack.tools.annotate` -- :func:`~tcpstack.tools.annotate.annotate`: per-step
  explanations computed from the run, in English and Chinese.
- :mod:`tcpstack.tools.drops` -- what each drop reason means, in words.
- :mod:`tcpstack.tools.pcap` -- :func:`write_pcap`, :func:`read_pcap`.

All of them take trace records (:class:`tcpstack.trace.TraceRecord`, see
DESIGN.md "The trace"); times are seconds.
"""

from __future__ import annotations

from tcpstack.tools.html import render_html, render_svg
from tcpstack.tools.ladder import print_ladder, render_ladder
from tcpstack.tools.pcap import read_pcap, write_pcap

__all__ = [
    "print_ladder",
    "read_pcap",
    "render_html",
    "render_ladder",
    "render_svg",
    "write_pcap",
]
