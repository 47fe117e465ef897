"""Shared helper of the lessons in this folder (imported by their setup cells; marimo puts
the notebook's folder on the import path, and so does ``python demos/NN_name.py``)."""
import io

import marimo as mo
from matplotlib import ticker


def show(fig, dpi=96):
    """A matplotlib figure as a PNG image, rendered once at its own size.

    Log axes get plain-text labels at the decades and no minor ticks: mathtext tick labels
    and minor ticks would double the drawing time, and a slider move has 0.5 s.  (marimo's
    own rendering of a figure draws it twice, at twice the resolution.)
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_locator(ticker.NullLocator())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return mo.image(buf.getvalue())
