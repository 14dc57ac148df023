"""Time increments: where an interval is cut, and how a polygon's increments become one result."""

import json
from datetime import datetime

from wit_dispatcher.wit_provider.common.job_states import CANCELLED, FAILED, SKIPPED, SUCCEEDED
from wit_dispatcher.wit_provider.dispatch.increments import Increment, by_polygon, periods, polygon_result
from wit_dispatcher.wit_provider.dispatch.jobs import Outcome

D = datetime


def test_cuts_fall_on_years_divisible_by_k_whatever_start_and_end():
    cut = periods(D(1987, 1, 1), D(2026, 11, 29), 5)
    assert cut[0] == (D(1987, 1, 1), D(1990, 1, 1))
    assert cut[1] == (D(1990, 1, 1), D(1995, 1, 1))
    assert cut[-2] == (D(2020, 1, 1), D(2025, 1, 1))
    assert cut[-1] == (D(2025, 1, 1), D(2026, 11, 29))
    assert len(cut) == 9 and all(a[1] == b[0] for a, b in zip(cut, cut[1:]))


def test_a_later_end_within_the_last_increment_changes_only_it():
    before = periods(D(2010, 1, 1), D(2015, 1, 1), 2)
    assert before == [(D(2010, 1, 1), D(2012, 1, 1)), (D(2012, 1, 1), D(2014, 1, 1)), (D(2014, 1, 1), D(2015, 1, 1))]
    later = periods(D(2010, 1, 1), D(2015, 6, 1), 2)
    assert later[:2] == before[:2] and later[2:] == [(D(2014, 1, 1), D(2015, 6, 1))]


def test_no_cut_without_k_and_boundaries_are_not_cut_twice():
    assert periods(D(2010, 3, 1), D(2011, 1, 1), 0) == [(D(2010, 3, 1), D(2011, 1, 1))]
    assert periods(D(2010, 1, 1), D(2012, 1, 1), 1) == [(D(2010, 1, 1), D(2011, 1, 1)), (D(2011, 1, 1), D(2012, 1, 1))]
    assert periods(D(2010, 6, 1), D(2010, 9, 1), 1) == [(D(2010, 6, 1), D(2010, 9, 1))]


def outcome(feature, part, parts, status=SUCCEEDED, url="", error="", year=2010):
    return Outcome(part, status, url, error, label=Increment(feature, part, parts, D(year + part, 1, 1),
                                                             D(year + part + 1, 1, 1)))


def test_one_job_keeps_todays_fields():
    result = polygon_result([outcome(0, 0, 1, url="s3://b/a.parquet")])
    assert (result.status, result.url, result.error) == (SUCCEEDED, "s3://b/a.parquet", "")


def test_increments_become_a_json_array_in_time_order():
    parts = [outcome(0, i, 3, url="s3://b/%d.parquet" % i) for i in range(3)]
    result = polygon_result(parts)
    assert result.status == SUCCEEDED and json.loads(result.url) == ["s3://b/0.parquet", "s3://b/1.parquet",
                                                                      "s3://b/2.parquet"]


def test_a_failed_increment_fails_the_polygon_and_is_named_by_its_dates():
    parts = [outcome(0, 0, 3, url="s3://b/0"), outcome(0, 1, 3, FAILED, error="no data"),
             outcome(0, 2, 3, CANCELLED, error="cancelled")]
    result = polygon_result(parts)
    assert result.status == FAILED
    assert result.error == "2011-01-01 to 2012-01-01 failed: no data; 2012-01-01 to 2013-01-01 cancelled: cancelled"
    assert json.loads(result.url) == ["s3://b/0"]


def test_outcomes_are_grouped_per_polygon_and_what_was_not_reached_is_cancelled():
    cut = [(D(2010, 1, 1), D(2011, 1, 1)), (D(2011, 1, 1), D(2012, 1, 1))]
    stream = iter([outcome(0, 0, 2), outcome(0, 1, 2), Outcome(2, SKIPPED, error="no geometry",
                                                              label=Increment(1, 0, 1, *cut[0])),
                   outcome(2, 0, 2)])
    groups = by_polygon(stream, cut, lambda: "stopped")
    first, second, third, fourth = (next(groups) for _ in range(4))
    assert [o.status for o in first] == [SUCCEEDED, SUCCEEDED]
    assert [o.status for o in second] == [SKIPPED]
    assert [o.status for o in third] == [SUCCEEDED, CANCELLED] and third[1].label.start == D(2011, 1, 1)
    assert [(o.status, o.error, o.label.feature) for o in fourth] == [(CANCELLED, "stopped", 3)] * 2
