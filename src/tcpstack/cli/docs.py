"""Generate documentation pages that derive from code (the state diagram)."""

from __future__ import annotations

from pathlib import Path

from ..state import RULES, mermaid_diagram

STATES_PAGE = Path("docs/states.md")


def states_page() -> str:
    """The text of ``docs/states.md``: a Mermaid diagram and the table of transitions."""
    rows = "\n".join(
        f"| {old} | {new} | {cause} | {rule} |" for (old, new, cause), rule in RULES.items()
    )
    return (
        "# TCP states and transitions\n\n"
        "The eleven states of RFC 9293 §3.3.2 and every transition the implementation\n"
        "makes, with what causes it and the rule behind it. This page is generated from\n"
        "`tcpstack.state.RULES`, the table `Connection._set_state` checks every state\n"
        "change against; each `state_updated` trace record carries its cause. The test\n"
        "suite fails if a transition happens that is not in the table, or if the whole\n"
        "suite never takes one that is (regenerate with `python -m tcpstack.cli.docs`).\n\n"
        "A listener is not a connection: `Stack.listen` records the passive OPEN, and each\n"
        "SYN to it creates a TCB already in LISTEN, which the SYN moves on to\n"
        "SYN-RECEIVED. `Connection.open_passive` is the RFC's passive OPEN on one TCB.\n\n"
        f"```mermaid\n{mermaid_diagram()}```\n\n"
        "| from | to | cause | rule |\n|---|---|---|---|\n"
        f"{rows}\n"
    )


def write(root: Path = Path()) -> None:
    """Regenerate the generated pages under ``root``."""
    (root / STATES_PAGE).write_text(states_page(), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write()
