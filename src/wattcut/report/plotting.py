"""Matplotlib set up once for every figure module (headless backend, wattcut's style), and the statistics they read."""

from __future__ import annotations

from typing import Any

from wattcut.store.records import Results


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend, with wattcut's style (user text never mathtext)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.size": 9,
            "figure.dpi": 110,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "text.parse_math": False,  # user strings ("$x$" in a variant name) are text, never mathtext
        }
    )
    return plt


def statistics_of(results: Results) -> dict[str, Any]:
    """The ``statistics`` block of a results document ({} before any statistics exist)."""
    return results.statistics
