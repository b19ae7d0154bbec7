"""Tools that read the trace: the ladder diagram (terminal, SVG, HTML, Mermaid), captures, plots.

- :mod:`tcpstack.tools.ladder` -- :func:`render_ladder`, :func:`print_ladder` (``rich``).
- :mod:`tcpstack.tools.html` -- :func:`render_svg`, :func:`render_html`.
- :mod:`tcpstack.tools.annotate` -- :func:`~tcpstack.tools.annotate.annotate`: per-step
  explanations computed from the run, in English and Chinese.
- :mod:`tcpstack.tools.reasons` -- what each drop reason means, in words.
- :mod:`tcpstack.tools.mermaid` -- :func:`render_mermaid` (a Mermaid ``sequenceDiagram``).
- :mod:`tcpstack.tools.pcap` -- :func:`write_pcapng` (with packet comments),
  :func:`write_pcap` (classic), :func:`read_pcap`, :func:`read_packets`.
- :mod:`tcpstack.tools.fates` -- what became of each packet of a simulated run
  (lost, dropped by TCP, processed), the comments of ``demo --pcap``.

All of them take trace records (:class:`tcpstack.trace.TraceRecord`, see
DESIGN.md "The trace"); times are seconds.
"""

from __future__ import annotations

from tcpstack.tools.html import render_html, render_svg
from tcpstack.tools.ladder import print_ladder, render_ladder
from tcpstack.tools.mermaid import render_mermaid
from tcpstack.tools.pcap import read_packets, read_pcap, write_pcap, write_pcapng

__all__ = [
    "print_ladder",
    "read_packets",
    "read_pcap",
    "render_html",
    "render_ladder",
    "render_mermaid",
    "render_svg",
    "write_pcap",
    "write_pcapng",
]
