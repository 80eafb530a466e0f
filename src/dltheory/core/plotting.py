"""The one plotting style. Every figure in dltheory is made through :func:`figure`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to PNG files and the HTML report

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PALETTE = ["#1f5aa6", "#d1495b", "#2a9d8f", "#e9a03b", "#6d597a", "#8d99ae", "#264653", "#f4a261"]
THEORY = dict(color="#444444", linestyle="--", linewidth=1.2)  # style for theory/oracle lines

_RC = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
}


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2, squeeze: bool = True, **kwargs):
    """A new ``(fig, axes)`` in the dltheory style; each panel ``width`` x ``height`` inches."""
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=squeeze, **kwargs)
    for ax in fig.axes:
        _style_axes(ax)
    return fig, axes


def _style_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.set_prop_cycle(color=PALETTE)


def save(fig: Figure, path) -> None:
    """Save ``fig`` as PNG and close it (legends made after :func:`figure` get the style too)."""
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    for leg in legends:
        if leg is not None:
            leg.set_frame_on(False)
    with matplotlib.rc_context(_RC):
        fig.tight_layout()
        fig.savefig(path)
    plt.close(fig)
