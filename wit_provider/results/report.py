"""What each page of the WIT report says, as plain data: the order of the pages, the run's summary,
a wetland's key statistics, its last ten years and its longest inundation events.

Rows are Load WIT results' features as dicts of plain Python values (None for NULL). No QGIS:
Create WIT report puts these into its print layout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from .history import REGIME_COLOURS, TREND_COLOURS, summary

ORDERS = ("id", "rank", "trend")  # by wit_id; by the latest year's rank, highest first; by trend, driest first
RECENT_YEARS = 10
LONGEST_EVENTS = 5
# ANNUAL's columns in the report: (field, heading, scale); fractions are printed as percentages,
# a 1/0 flag as yes/no.
ANNUAL_COLUMNS = (("year", "Year", None), ("obs", "Obs.", None), ("valid", "Valid", "yes/no"),
                  ("wetw_max", "Peak wet %", 100), ("wetw_mean", "Mean wet %", 100),
                  ("water_mean", "Mean water %", 100), ("pv_mean", "Green veg. %", 100),
                  ("npv_mean", "Dry veg. %", 100), ("bs_mean", "Bare soil %", 100))
EVENT_COLUMNS = (("start", "Start", None), ("end", "End", None), ("duration_days", "Days", None),
                 ("max_wet", "Peak wet %", 100), ("max_wet_ha", "Peak wet ha", None))


def page_order(rows: list[dict], order: str) -> list[int]:
    """The rows' positions in page order; rows without the value ordered by go last, by id."""
    if order not in ORDERS:
        raise ValueError("order must be one of %s" % ", ".join(ORDERS))

    def ident(index: int) -> tuple:
        return _natural(str(rows[index].get("wit_id") or ""))

    def key(index: int) -> tuple:
        row = rows[index]
        if order == "rank":
            value = row.get("wit_latest_rank_pct")
            return (value is None, -(value or 0.0), ident(index))
        if order == "trend":
            value = row.get("wit_trend_slope")
            return (value is None, value or 0.0, ident(index))
        return (ident(index),)

    return sorted(range(len(rows)), key=key)


def _natural(text: str) -> tuple:
    """'site 2' before 'site 10': digits compared as numbers."""
    parts, digits, letters = [], "", ""
    for character in text:
        if character.isdigit():
            if letters:
                parts.append((1, letters, 0))
                letters = ""
            digits += character
        else:
            if digits:
                parts.append((0, "", int(digits)))
                digits = ""
            letters += character.lower()
    if digits:
        parts.append((0, "", int(digits)))
    if letters:
        parts.append((1, letters, 0))
    return tuple(parts)


@dataclass
class RunSummary:
    """The first page: how many wetlands, per load status, regime and trend, and the dates covered."""

    wetlands: int
    statuses: list[tuple[str, int]]
    regimes: list[tuple[str, int]]
    trends: list[tuple[str, int]]
    first: date | None
    last: date | None


def run_summary(rows: list[dict]) -> RunSummary:
    """Counts in a fixed order (the styles' classes, then any other value, then 'not classified')."""
    statuses = Counter(row.get("wit_load_status") or "unknown" for row in rows)
    regimes = Counter(row.get("wit_regime") or "not classified" for row in rows)
    trends = Counter(row.get("wit_trend") or "not computed" for row in rows)
    firsts = [row["wit_first"] for row in rows if row.get("wit_first") is not None]
    lasts = [row["wit_last"] for row in rows if row.get("wit_last") is not None]
    return RunSummary(len(rows), _ordered(statuses, ("loaded", "no result", "failed")),
                      _ordered(regimes, [name for name, _ in REGIME_COLOURS] + ["not classified"]),
                      _ordered(trends, [name for name, _ in TREND_COLOURS] + ["not computed"]),
                      min(firsts) if firsts else None, max(lasts) if lasts else None)


def _ordered(counts: Counter, known: list) -> list[tuple[str, int]]:
    """``known`` first (even at 0), then the others by name."""
    return [(name, counts.get(name, 0)) for name in known] + sorted(
        (name, count) for name, count in counts.items() if name not in known)


def key_statistics(row: dict) -> list[tuple[str, str]]:
    """(label, text) lines of one wetland's statistics, as the page prints them; a wetland without a
    result says why instead."""
    status = row.get("wit_load_status")
    if status != "loaded":
        reason = row.get("wit_load_error") or ("no WIT result" if status == "no result" else "not loaded")
        return [("Result", "%s: %s" % (status or "unknown", reason))]
    lines = [("Observations", "%s, %s to %s" % (_integer(row.get("wit_obs")), _day(row.get("wit_first")),
                                                 _day(row.get("wit_last")))),
             ("Wet observations", "%s %% (open water in %s %%)" % (_number(row.get("wit_wet_pct")),
                                                                  _number(row.get("wit_water_pct")))),
             ("Largest wet extent", "%s %% of the wetland, %s ha" % (_number(_percent(row.get("wit_max_wet"))),
                                                                     _number(row.get("wit_max_wet_ha")))),
             ("Mean cover", "water %s %%, wet %s %%, green veg. %s %%, dry veg. %s %%, bare soil %s %%" % tuple(
                 _number(_percent(row.get("wit_mean_%s" % name))) for name in ("water", "wet", "pv", "npv", "bs"))),
             ("Inundation events", "%s; the longest %s days; last wet %s" % (
                 _integer(row.get("wit_events")), _integer(row.get("wit_longest_event_days")),
                 _day(row.get("wit_last_wet"))))]
    if any(row.get(name) is not None for name in ("wit_regime", "wit_trend", "wit_latest_year")):
        lines.append(("Against its past", summary(row)))
    return lines


def recent_years(annual: list[dict], years: int = RECENT_YEARS) -> list[dict]:
    """A wetland's last ``years`` ANNUAL rows, oldest first."""
    return sorted(annual, key=lambda row: row["year"])[-years:]


def longest_events(events: list[dict], count: int = LONGEST_EVENTS) -> list[dict]:
    """A wetland's ``count`` longest EVENTS rows, longest first (the earlier of equal ones first)."""
    return sorted(events, key=lambda row: (-(row.get("duration_days") or 0), row.get("start") or date.max))[:count]


def cells(row: dict, columns: tuple) -> list[str]:
    """A table row's texts: fractions as percentages, dates as ISO days, NULL as '–'."""
    return [_text(row.get(name), scale) for name, _, scale in columns]


def _text(value, scale) -> str:
    if value is None:
        return "–"
    if scale == "yes/no":
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return _number(value * scale if scale else value)
    return str(value)


def _percent(value):
    return None if value is None else 100 * value


def _number(value) -> str:
    """One decimal, as the layer's values print in the report (NULL as '–')."""
    return "–" if value is None else "%.1f" % value


def _integer(value) -> str:
    return "–" if value is None else "%d" % value


def _day(value) -> str:
    return "–" if value is None else value.isoformat()[:10]
