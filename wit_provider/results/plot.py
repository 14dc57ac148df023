"""DEA's WIT plot (as GeoscienceAustralia/wit_tooling draws it) for one polygon, written as a PNG.

Drawn on a ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot, so it
keeps no global figure state and touches no GUI: safe from Processing's worker threads.
Rendering is serialised by a lock because matplotlib's text and font caches are shared.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .metrics import years_of
from .table import Series

LAYERS = (("water", "open water", "#030aa7"), ("wet", "wet", "#04d9ff"), ("pv", "green vegetation", "#3f9b0b"),
          ("npv", "dry vegetation", "#e6daa6"), ("bs", "bare soil", "#60460f"))
LANDSAT_GAP = (datetime(2011, 11, 1), datetime(2013, 4, 1))
ATTRIBUTION = "Wetlands Insight Tool, Digital Earth Australia"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_LOCK = threading.Lock()


def plot_name(identifier: str) -> str:
    """``<id>.png`` with every character other than letters, digits, ``_``, ``-`` and ``.`` as ``_``."""
    return _UNSAFE.sub("_", identifier) + ".png"


def write_plot(series: Series, title_id: str, path: str, subtitle: str = "") -> None:
    """Stacked fractions in percent, hatched where data are thin, saved to ``path``; ``subtitle``
    (the comparison with the past) under the title."""
    with _LOCK:
        plot_figure(series, title_id, subtitle).savefig(path, format="png")


def write_print_plot(series: Series, title_id: str, path: str, size: tuple[float, float], dpi: int = 300) -> None:
    """The plot for a printed page: ``size`` in inches, at ``dpi``."""
    with _LOCK:
        plot_figure(series, title_id, "", size).savefig(path, format="png", dpi=dpi)


def plot_figure(series: Series, title_id: str, subtitle: str = "", size: tuple[float, float] = (12, 4)) -> Figure:
    """The PNG's figure (call under the plot lock from worker threads)."""
    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    lines = subtitle.count("\n") + 1 if subtitle else 0
    axes = figure.add_axes((0.06, 0.14, 0.74, 0.76 - 0.04 * lines))
    draw_series(axes, series, title_id)
    if subtitle:  # between the title and the plot, a line each
        axes.set_title(axes.get_title(), pad=6 + 14 * lines)
        axes.text(0.5, 1.02, subtitle, transform=axes.transAxes, ha="center", va="bottom", fontsize=9,
                  color="#333333")
    figure.text(0.99, 0.02, ATTRIBUTION, ha="right", va="bottom", fontsize=8, color="#555555")
    return figure


def draw_series(axes, series: Series, title_id: str, legend: bool = True, compact: bool = False) -> list:
    """DEA's plot of ``series`` on ``axes``: the PNG's Agg figure and the explorer's Qt canvas alike.
    ``compact`` for a small canvas (smaller text). Returns the stacked areas, water first."""
    times = (series.time // 1000).astype("datetime64[us]").astype(datetime)
    stacks = axes.stackplot(times, *(100 * getattr(series, name) for name, _, _ in LAYERS),
                            labels=[label for _, label, _ in LAYERS], colors=[c for _, _, c in LAYERS], alpha=0.6)
    start, end = times[0], times[-1]
    if end <= start:  # one observation: show its year
        end = start + timedelta(days=365)
    for first, last in _thin_spans(series, start, end):
        axes.axvspan(first, last, facecolor="none", edgecolor="white", hatch="//", linewidth=0, zorder=3)
    axes.set_xlim(start, end)
    axes.set_ylim(0, 100)
    axes.set_ylabel("percent of area", fontsize=8 if compact else None)
    axes.set_title("Wetlands Insight Tool: %s" % title_id, fontsize=9 if compact else None)
    if compact:
        axes.tick_params(labelsize=7)
    if legend:
        axes.legend(stacks[::-1], [label for _, label, _ in LAYERS][::-1], loc="center left",
                    bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8 if compact else None)
    axes.xaxis.set_major_locator(mdates.YearLocator(_year_step(start, end)))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    return stacks


def _year_step(start: datetime, end: datetime) -> int:
    years = max(1, end.year - start.year)
    return 1 if years <= 15 else 2 if years <= 30 else 5


def _thin_spans(series: Series, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The Landsat 7/8 gap and every year with fewer than four observations, clipped to the axis."""
    spans = [LANDSAT_GAP]
    years = years_of(series, 0.0)  # which years are thin does not depend on the wet threshold
    valid = dict(zip(years.years.tolist(), years.valid().tolist()))
    for year in range(start.year, end.year + 1):
        if not valid.get(year, False):
            spans.append((datetime(year, 1, 1), datetime(year + 1, 1, 1)))
    clipped = []
    for first, last in spans:
        first, last = max(first, start), min(last, end)
        if first < last:
            clipped.append((first, last))
    return clipped
