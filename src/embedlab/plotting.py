"""One figure style for the whole book, and the plots several chapters share.

Used from chapter 1 on. Functions take an optional ``ax`` and return the figure, so a chapter can
compose panels. The style is applied with a context manager (:func:`style`) or by the helpers
themselves; nothing changes matplotlib's global state at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.9; an annotation only

__all__ = ["STYLE", "style", "subplots", "similarity_heatmap", "loss_curve", "bar"]

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "font.size": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}

DIVERGING = "RdBu_r"  # similarity in [-1, 1]: blue negative, red positive, white zero


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the course's figure style inside a ``with`` block."""
    with plt.rc_context(STYLE):
        yield


def subplots(nrows: int = 1, ncols: int = 1, **kwargs) -> tuple[Figure, np.ndarray | Axes]:
    """``plt.subplots`` in the course style (``figsize`` scales with the grid by default)."""
    kwargs.setdefault("figsize", (3.6 * ncols + 0.8, 3.2 * nrows + 0.4))
    with style():
        return plt.subplots(nrows, ncols, **kwargs)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def similarity_heatmap(
    S,
    labels: Sequence[str] | None = None,
    *,
    col_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str = "",
    vmin: float | None = -1.0,
    vmax: float | None = 1.0,
    annotate: bool | None = None,
    cmap: str = DIVERGING,
    colorbar: bool = True,
) -> Figure | SubFigure:
    """Heat map of a similarity matrix.

    S: (n, m). ``labels`` name the rows (and the columns unless ``col_labels`` is given).
    ``vmin``/``vmax`` default to [-1, 1] for cosines; pass ``None`` for dot products.
    Cells are annotated with their values when the matrix is small (≤ 12 × 12) by default.
    """
    S = _to_numpy(S)
    if S.ndim != 2:
        raise ValueError(f"S must be a matrix (n, m), got shape {S.shape}")
    n, m = S.shape
    col_labels = col_labels if col_labels is not None else (labels if n == m else None)
    for name, lab, size in (("labels", labels, n), ("col_labels", col_labels, m)):
        if lab is not None and len(lab) != size:
            raise ValueError(f"{name} has {len(lab)} entries for {size} rows/columns")
    with style():
        fig: Figure | SubFigure  # ax.figure is a SubFigure when ax lives in one
        if ax is None:
            side = min(0.45 * max(n, m) + 2.0, 7.5)
            fig, ax = plt.subplots(figsize=(side + 1.0, side))
        else:
            fig = ax.figure
        if vmin is None and vmax is None:
            lim = float(np.abs(S).max()) or 1.0
            vmin, vmax = -lim, lim
        im = ax.imshow(S, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.grid(False)
        if labels is not None:
            ax.set_yticks(range(n), labels)
        if col_labels is not None:
            ax.set_xticks(range(m), col_labels, rotation=45, ha="right")
        if annotate is None:
            annotate = n <= 12 and m <= 12
        if annotate:
            if vmin is None or vmax is None:  # was a TypeError from the arithmetic below
                raise ValueError("annotate needs both vmin and vmax, or neither (None, None: the data's range)")
            span = (vmax - vmin) or 1.0
            for i in range(n):
                for j in range(m):
                    dark = abs((S[i, j] - (vmin + vmax) / 2) / span) > 0.3
                    ax.text(j, i, f"{S[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if dark else "black")
        if title:
            ax.set_title(title)
        if colorbar:
            fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def loss_curve(
    curves: dict[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str = "",
    logy: bool = False,
    steps: dict[str, Sequence[float]] | None = None,
) -> Figure | SubFigure:
    """Plot one or more named curves (e.g. ``{"train": [...], "val": [...]}``) on one axis."""
    if not curves:
        raise ValueError("curves is empty")
    with style():
        fig: Figure | SubFigure  # ax.figure is a SubFigure when ax lives in one
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        for name, curve in curves.items():
            ys = _to_numpy(curve)
            xs = _to_numpy(steps[name]) if steps and name in steps else np.arange(len(ys))
            ax.plot(xs, ys, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        if len(curves) > 1:
            ax.legend()
    return fig


def bar(values: dict[str, float], *, ax: Axes | None = None, title: str = "", ylabel: str = "",
        fmt: str = "{:.2f}") -> Figure | SubFigure:
    """A labelled bar chart of named values (each bar annotated with ``fmt``)."""
    with style():
        fig: Figure | SubFigure  # ax.figure is a SubFigure when ax lives in one
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        names, ys = list(values), [float(v) for v in values.values()]
        bars = ax.bar(names, ys, color="C0")
        for b, y in zip(bars, ys):
            ax.annotate(fmt.format(y), (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom",
                        fontsize=9, xytext=(0, 2), textcoords="offset points")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.grid(axis="x", visible=False)
    return fig
