"""The drawing shared by ``tcpstack plot``'s kinds: file formats, a figure with
matplotlib's non-interactive backends (no display, no pyplot state), step lines,
one legend for every axes, and reproducible files (no date, fixed SVG ids).

Labels are in English: matplotlib's default font has no Chinese glyphs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_SIZE", "FORMATS", "FORMATS_HINT", "Size", "draw_figure", "draw_steps",
           "file_format"]

#: File formats by extension.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: What to say when the extension is not one of :data:`FORMATS`.
FORMATS_HINT = "choose a .png or .svg picture, or a .pdf"
#: Figure size in inches (width, height) unless the caller gives one.
DEFAULT_SIZE = (10.0, 6.0)

#: A figure size in inches, (width, height).
Size = tuple[float, float]


def file_format(path: Path) -> str:
    """matplotlib's format name for ``path``'s extension (:data:`FORMATS`).

    Raises:
        ValueError: another extension.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name!r}: {FORMATS_HINT}")
    return fmt


def _figure(size: Size | None) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size or DEFAULT_SIZE, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    import matplotlib

    fmt = file_format(path)
    # Reproducible files: no date, fixed SVG ids.
    metadata: dict[str, Any] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(
        fmt, {"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "tcpstack", "svg.fonttype": "none"}):
        fig.savefig(path, format=fmt, metadata=metadata)


def draw_steps(ax: Axes, points: Sequence[tuple[float, float]], end: float,
               **kw: Any) -> None:
    """A step line through ``(time, value)`` points, each value holding until the next
    point and the last until ``end`` (seconds); nothing for no points. ``kw`` goes to
    matplotlib's ``Axes.step``."""
    if points:
        xs = [t for t, _ in points] + [end]
        ys = [v for _, v in points] + [points[-1][1]]
        ax.step(xs, ys, where="post", **kw)


def draw_figure(path: Path | str, draw: Callable[[Axes], None], *, title: str, xlabel: str,
                ylabel: str, size: Size | None = None) -> None:
    """A figure with one axes that ``draw`` fills (it may add a twin axes), titled,
    labelled, with one legend of every axes, saved to ``path``.

    Args:
        path: ``.png``, ``.svg`` or ``.pdf``.
        size: (width, height) in inches, :data:`DEFAULT_SIZE` by default.

    Raises:
        ValueError: another extension (checked before drawing).
        OSError: the file cannot be written.
    """
    path = Path(path)
    file_format(path)
    fig = _figure(size)
    ax = fig.add_subplot()
    draw(ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    handles: list[Any] = []
    labels: list[str] = []
    for each in fig.axes:
        h, lab = each.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:  # on the top axes, so that a twin's lines do not cover it
        fig.axes[-1].legend(handles, labels, loc="best")
    _save(fig, path)
