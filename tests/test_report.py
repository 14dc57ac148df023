"""The WIT report's content without QGIS: page order, the run's summary, a page's words and tables."""

from datetime import date

import pytest
from wit_dispatcher.wit_provider.results.report import (
    ANNUAL_COLUMNS,
    EVENT_COLUMNS,
    cells,
    key_statistics,
    longest_events,
    page_order,
    recent_years,
    run_summary,
)


def wetland(ident, **values):
    return {"wit_id": ident, "wit_load_status": "loaded", **values}


def test_pages_by_id_compare_the_digits_as_numbers():
    rows = [wetland("site 10"), wetland("site 2"), wetland("Site 1"), wetland("b"), wetland("a 3x")]
    assert [rows[i]["wit_id"] for i in page_order(rows, "id")] == ["a 3x", "b", "Site 1", "site 2", "site 10"]


def test_pages_by_rank_put_the_highest_first_and_the_unranked_last_by_id():
    rows = [wetland("a", wit_latest_rank_pct=40.0), wetland("b"), wetland("c", wit_latest_rank_pct=95.0),
            wetland("d", wit_latest_rank_pct=40.0), wetland("e", wit_latest_rank_pct=0.0), wetland("A")]
    assert [rows[i]["wit_id"] for i in page_order(rows, "rank")] == ["c", "a", "d", "e", "A", "b"]


def test_pages_by_trend_put_the_driest_first():
    rows = [wetland("wet", wit_trend_slope=3.5), wetland("none"), wetland("dry", wit_trend_slope=-2.0),
            wetland("flat", wit_trend_slope=0.0)]
    assert [rows[i]["wit_id"] for i in page_order(rows, "trend")] == ["dry", "flat", "wet", "none"]


def test_an_unknown_order_is_refused():
    with pytest.raises(ValueError, match="order must be one of id, rank, trend"):
        page_order([], "size")


def test_the_summary_counts_every_wetland_once_per_table_and_spans_their_dates():
    rows = [wetland("a", wit_regime="permanent", wit_trend="drier", wit_first=date(1990, 1, 2),
                    wit_last=date(2020, 5, 1)),
            wetland("b", wit_regime="episodic", wit_trend="no trend", wit_first=date(1987, 3, 1),
                    wit_last=date(2019, 1, 1)),
            wetland("c", wit_regime="permanent"),
            {"wit_id": "d", "wit_load_status": "failed"}, {"wit_id": "e", "wit_load_status": "no result"}]
    summary = run_summary(rows)
    assert summary.wetlands == 5
    assert summary.statuses == [("loaded", 3), ("no result", 1), ("failed", 1)]
    assert summary.regimes == [("permanent", 2), ("seasonal", 0), ("intermittent", 0), ("episodic", 1), ("dry", 0),
                               ("not classified", 2)]
    assert summary.trends == [("wetter", 0), ("drier", 1), ("no trend", 1), ("not computed", 3)]
    assert (summary.first, summary.last) == (date(1987, 3, 1), date(2020, 5, 1))
    for table in (summary.statuses, summary.regimes, summary.trends):
        assert sum(count for _, count in table) == len(rows)


def test_a_wetland_without_a_result_says_why():
    assert key_statistics({"wit_id": "x", "wit_load_status": "failed", "wit_load_error": "404 Not Found"}) == [
        ("Result", "failed: 404 Not Found")]
    assert key_statistics({"wit_id": "x", "wit_load_status": "no result"}) == [("Result", "no result: no WIT result")]


def test_key_statistics_print_the_layer_values_and_the_comparison():
    row = wetland("x", wit_obs=510, wit_first=date(1987, 7, 16), wit_last=date(2020, 12, 1), wit_wet_pct=9.8039,
                  wit_water_pct=2.35, wit_max_wet=0.759, wit_max_wet_ha=0.6123, wit_mean_water=0.001,
                  wit_mean_wet=0.013, wit_mean_pv=0.403, wit_mean_npv=0.456, wit_mean_bs=0.114, wit_events=33,
                  wit_longest_event_days=129, wit_last_wet=date(2020, 2, 1), wit_regime="intermittent",
                  wit_trend="no trend", wit_trend_slope=0.0, wit_trend_p=0.349)
    lines = dict(key_statistics(row))
    assert lines["Observations"] == "510, 1987-07-16 to 2020-12-01"
    assert lines["Wet observations"] == "9.8 % (open water in 2.4 %)"
    assert lines["Largest wet extent"] == "75.9 % of the wetland, 0.6 ha"
    assert lines["Mean cover"] == "water 0.1 %, wet 1.3 %, green veg. 40.3 %, dry veg. 45.6 %, bare soil 11.4 %"
    assert lines["Inundation events"] == "33; the longest 129 days; last wet 2020-02-01"
    assert lines["Against its past"].startswith("regime intermittent; no trend (Sen's slope 0 pp/decade, p 0.349)")
    assert "Against its past" not in dict(key_statistics(wetland("y", wit_obs=3)))


def test_the_last_ten_years_oldest_first():
    annual = [{"year": year} for year in (2003, 1999, 2010, 2001, 2000, 2004, 2002, 2008, 2006, 2005, 2007, 2009)]
    assert [row["year"] for row in recent_years(annual)] == list(range(2001, 2011))
    assert recent_years([]) == []


def test_the_five_longest_events_the_earlier_of_equal_ones_first():
    events = [{"start": date(2000, 1, d), "duration_days": days} for d, days in
              ((1, 5), (2, 30), (3, 30), (4, 1), (5, 12), (6, 12), (7, 40))]
    assert [(row["start"].day, row["duration_days"]) for row in longest_events(events)] == [
        (7, 40), (2, 30), (3, 30), (5, 12), (6, 12)]


def test_cells_print_fractions_as_percentages_and_flags_as_words():
    annual = {"year": 2020, "obs": 19, "valid": 1, "wetw_max": 0.20689, "wetw_mean": 0.0113, "water_mean": 0.0,
              "pv_mean": 0.4932, "npv_mean": None, "bs_mean": 0.062}
    assert cells(annual, ANNUAL_COLUMNS) == ["2020", "19", "yes", "20.7", "1.1", "0.0", "49.3", "–", "6.2"]
    event = {"start": date(1999, 1, 22), "end": date(1999, 5, 30), "duration_days": 129, "max_wet": 0.31,
             "max_wet_ha": 0.1875}
    assert cells(event, EVENT_COLUMNS) == ["1999-01-22", "1999-05-30", "129", "31.0", "0.2"]
