"""One figure style for every notebook, saving to FIGURES_DIR, and mean-with-band lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["PALETTE", "use_style", "savefig", "line_with_band", "log_percent_axis"]

PALETTE = "colorblind"


def use_style() -> None:
    """Seaborn 'whitegrid' with the colour-blind palette; readable sizes for notebooks and the README.

    Also makes pandas print tables whole: a claims table whose numbers are cut to "..." hides
    exactly what a reader came for.
    """
    import matplotlib as mpl
    import pandas as pd
    import seaborn as sns

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.width", 250)

    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    mpl.rcParams.update({
        "figure.dpi": 80,
        "savefig.dpi": 160,
        "savefig.bbox": "tight",
        "axes.titlesize": "medium",
        "figure.autolayout": False,
        "legend.frameon": False,
    })
    _retina_inline()


def _retina_inline() -> None:
    """Inline figures at twice the screen resolution (160 dpi stored), shown at their usual size,
    so that the small text of a multi-panel figure stays legible in the committed notebook."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def savefig(fig, name: str, figures_dir: str | Path) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (folders created) and return the path."""
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"name must be a bare file stem like 'accuracy_vs_density', got {name!r}")
    path = Path(figures_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def line_with_band(ax, x, ys, label: str | None = None, band: str = "std", **kw):
    """Mean over seeds as a line, with a band of +-1 std (``band='std'``) or min..max (``'range'``).

    ``ys`` has shape (seeds, len(x)); one seed draws the line alone; a single x (a control run at one
    round) draws its band as an error bar, which a zero-width band could not show.
    """
    ys = np.atleast_2d(np.asarray(ys, dtype=float))
    x = np.asarray(x)
    if ys.shape[1] != len(x):
        raise ValueError(f"ys has {ys.shape[1]} points per seed but x has {len(x)}")
    mean = np.nanmean(ys, axis=0)
    (line,) = ax.plot(x, mean, label=label, **kw)
    if ys.shape[0] > 1:
        if band == "std":
            sd = np.nanstd(ys, axis=0, ddof=1)
            lo, hi = mean - sd, mean + sd
        elif band == "range":
            lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
        else:
            raise ValueError(f"band must be 'std' or 'range', got {band!r}")
        if len(x) == 1:
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], color=line.get_color(), capsize=4, linewidth=1.2)
        else:
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def log_percent_axis(ax, ticks=(100, 50, 20, 10, 5, 2, 1), axis: str = "x", invert: bool = True) -> None:
    """A log-scale 'percent remaining' axis with plain tick labels (100, 50, 20, ...), largest first."""
    from matplotlib.ticker import FixedLocator, NullLocator

    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    target = ax.xaxis if axis == "x" else ax.yaxis
    set_scale("log")
    target.set_major_locator(FixedLocator(list(ticks)))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(lambda v, _pos: f"{v:g}")
    if invert and ((axis == "x" and not ax.xaxis_inverted()) or (axis == "y" and not ax.yaxis_inverted())):
        (ax.invert_xaxis if axis == "x" else ax.invert_yaxis)()
