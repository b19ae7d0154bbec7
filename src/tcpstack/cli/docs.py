"""Generate documentation pages that derive from code (the state diagram)."""

from __future__ import annotations

from pathlib import Path

from ..state import TRANSITIONS, mermaid_diagram

STATES_PAGE = Path("docs/states.md")


def states_page() -> str:
    """The text of ``docs/states.md``: a Mermaid diagram and a table of transitions."""
    rows = "\n".join(f"| {o} | {n} | {r} |" for (o, n), r in TRANSITIONS.items())
    return (
        "# TCP states and transitions\n\n"
        "The eleven states of RFC 9293 §3.3.2 and every transition the implementation\n"
        "allows. This page is generated from `tcpstack.state.TRANSITIONS`, the same\n"
        "table `Connection._set_state` checks each state change against; a test fails\n"
        "if the two drift apart (regenerate with\n"
        "`python -m tcpstack.cli.docs`).\n\n"
        f"```mermaid\n{mermaid_diagram()}```\n\n"
        "| from | to | rule |\n|---|---|---|\n"
        f"{rows}\n"
    )


def write(root: Path = Path()) -> None:
    """Regenerate the generated pages under ``root``."""
    (root / STATES_PAGE).write_text(states_page(), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write()
