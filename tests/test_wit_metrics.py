"""DEA's WIT metrics in the engine (no QGIS): annual metrics and inundation events, checked against an
independent pandas computation written here from the documented definitions, on the real sample."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import WIT_SAMPLE
from test_load_results import two_increments
from wit_server.s3 import sample_uids, wit_parquet

from wit_provider.results.fetch import Fetcher
from wit_provider.results.loader import LOADED, LoadJob, ResultLoader
from wit_provider.results.metrics import ANNUAL_NAMES, EVENT_NAMES, annual_metrics, inundation_events, years_of
from wit_provider.results.table import Series, merge, read_series, statistics

THRESHOLD = 0.01
ROW_NAMES = ("year", "obs", "wet_obs", "valid") + ANNUAL_NAMES  # an ANNUAL row after its id
AREA_HA = 12.5
MEMBERS = {"water": ["water"], "wet": ["wet"], "pv": ["pv"], "npv": ["npv"], "bs": ["bs"], "wetw": ["water", "wet"],
           "pv_wet": ["pv", "wet"], "veg_wet": ["npv", "pv", "wet"]}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_parquet(WIT_SAMPLE)


def merged(frame: pd.DataFrame) -> pd.DataFrame:
    """Time order, a repeated timestamp keeps its first row; times in UTC."""
    frame = frame.sort_values("time", kind="stable").drop_duplicates("time", keep="first").reset_index(drop=True)
    if frame.time.dt.tz is not None:
        frame = frame.assign(time=frame.time.dt.tz_convert("UTC").dt.tz_localize(None))
    return frame


def pandas_annual(frame: pd.DataFrame) -> list[dict]:
    """One dict per UTC calendar year: year, obs, wet_obs (water + wet >= THRESHOLD), valid (1 with at least 4
    observations), and for each member max, min, mean, median, n25, n75."""
    frame = merged(frame)
    years = frame.time.dt.year.rename("year")
    obs = frame.groupby(years).size()
    columns = {"obs": obs, "wet_obs": ((frame.water + frame.wet) >= THRESHOLD).groupby(years).sum(),
               "valid": (obs >= 4).astype(int)}
    for member, parts in MEMBERS.items():
        values = frame[parts].sum(axis=1)
        for statistic in ("max", "min", "mean", "median"):
            columns[member + "_" + statistic] = values.groupby(years).agg(statistic)
        for share in (25, 75):
            columns["%s_n%d" % (member, share)] = (values >= share / 100).groupby(years).sum()
    counts = {name for name in columns if name in ("obs", "wet_obs", "valid") or name.endswith(("_n25", "_n75"))}
    return [{"year": int(year), **{name: int(value) if name in counts else float(value) for name, value in row.items()}}
            for year, row in pd.DataFrame(columns).iterrows()]


def pandas_events(frame: pd.DataFrame, threshold: float, area_ha: float) -> list[dict]:
    """Maximal runs of consecutive observations with water + wet >= threshold, on UTC dates."""
    frame = merged(frame)
    wetw = frame.water + frame.wet
    wet = wetw >= threshold
    run = (wet != wet.shift()).cumsum()
    events, previous_end = [], None
    for number, (_, group) in enumerate(frame[wet].groupby(run[wet]), 1):
        start, end = group.time.iloc[0].date(), group.time.iloc[-1].date()
        values = wetw[group.index]
        events.append({"event": number, "start": start, "end": end, "duration_days": (end - start).days + 1,
                       "gap_days": 0 if previous_end is None else (start - previous_end).days - 1,
                       "max_wet": values.max(), "mean_wet": values.mean(), "max_wet_ha": values.max() * area_ha,
                       "mean_wet_ha": values.mean() * area_ha})
        previous_end = end
    return events


def assert_rows_equal(ours: list[dict], expected: list[dict]) -> None:
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected):
        assert mine.keys() == theirs.keys()
        for name, value in theirs.items():
            if isinstance(value, float):
                assert mine[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
            else:
                assert mine[name] == value and type(mine[name]) is type(value), name


def annual_dicts(series: Series) -> list[dict]:
    return [dict(zip(ROW_NAMES, row)) for row in annual_metrics(series, years_of(series, THRESHOLD)).rows()]


def event_dicts(series: Series, threshold: float = THRESHOLD, area_ha: float = AREA_HA) -> list[dict]:
    return [dict(zip(EVENT_NAMES, event)) for event in inundation_events(series, threshold, area_ha)]


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["int96", "int64"])
def test_annual_metrics_and_events_of_every_sample_polygon_match_pandas(sample, encoding):
    events_seen = 0
    for uid in sample_uids():
        series = merge([read_series(wit_parquet(uid, encoding), "pyarrow")])
        frame = sample[sample.XXX_UID == uid]
        assert_rows_equal(annual_dicts(series), pandas_annual(frame))
        events = event_dicts(series)
        assert_rows_equal(events, pandas_events(frame, THRESHOLD, AREA_HA))
        stats = statistics(series, THRESHOLD, AREA_HA)
        assert stats["wit_events"] == len(events)  # one definition of an event
        assert stats["wit_longest_event_days"] == max((e["duration_days"] for e in events), default=0)
        assert stats["wit_last_wet"] == (events[-1]["end"] if events else None)
        events_seen += len(events)
    assert events_seen > 1000  # the sample's wetlands do get wet


def test_two_increments_are_merged_before_the_metrics(tmp_path, sample):
    frame, location = two_increments(tmp_path, sample)
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, annual=True, events=True)
    loaded = loader.load(LoadJob("150", location, AREA_HA))
    assert loaded.status == LOADED, loaded.error
    assert_rows_equal([dict(zip(ROW_NAMES, row)) for row in loaded.annual], pandas_annual(frame))
    assert_rows_equal([dict(zip(EVENT_NAMES, e)) for e in loaded.events], pandas_events(frame, THRESHOLD, AREA_HA))


def test_the_loader_computes_only_what_is_asked_for(tmp_path):
    path = tmp_path / "r.parquet"
    path.write_bytes(wit_parquet("16"))
    plain = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("16", str(path), AREA_HA))
    assert plain.status == LOADED and plain.annual == [] and plain.events == []
    both = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, annual=True, events=True).load(
        LoadJob("16", str(path), AREA_HA))
    assert len(both.annual) == 34 and len(both.events) == both.stats["wit_events"] > 0


def hand_series(rows: list[tuple[str, float, float]]) -> Series:
    """(UTC time, water, wet) rows; the other fractions share what is left."""
    time = np.array([np.datetime64(moment, "ns").astype(np.int64) for moment, _, _ in rows])
    water = np.array([r[1] for r in rows])
    wet = np.array([r[2] for r in rows])
    rest = (1 - water - wet) / 3
    return Series(time, water, wet, rest.copy(), rest.copy(), rest.copy())


def test_a_hand_worked_series_with_boundary_values():
    series = hand_series([
        ("2000-01-01T23:50", 0.00, 0.01),   # exactly T: wet; an event at the very start
        ("2000-03-05T00:10", 0.25, 0.00),   # water exactly 0.25: counted in water_n25
        ("2000-06-01T10:00", 0.00, 0.00),   # dry
        ("2000-12-31T23:59", 0.75, 0.00),   # exactly 0.75; 2000's last observation, UTC
        ("2001-01-01T00:01", 0.00, 0.0099),  # just under T: dry; 2001's only observation
        ("2002-07-01T12:00", 0.50, 0.50),   # 2002: one observation, wet; an event at the very end
    ])
    annual = annual_dicts(series)
    assert [row["year"] for row in annual] == [2000, 2001, 2002]
    assert [row["obs"] for row in annual] == [4, 1, 1]
    assert [row["wet_obs"] for row in annual] == [3, 0, 1] and [row["valid"] for row in annual] == [1, 0, 0]
    y2000 = annual[0]
    assert (y2000["water_max"], y2000["water_min"], y2000["water_median"]) == (0.75, 0.0, 0.125)
    assert y2000["water_mean"] == pytest.approx(0.25)
    assert (y2000["water_n25"], y2000["water_n75"]) == (2, 1)  # >= 0.25 and >= 0.75
    assert (y2000["wetw_n25"], y2000["wetw_max"]) == (2, 0.75)
    assert annual[1]["wetw_max"] == annual[1]["wetw_min"] == annual[1]["wetw_median"] == 0.0099
    assert annual[2]["wetw_median"] == 1.0 and annual[2]["wetw_n75"] == 1

    events = event_dicts(series, area_ha=10.0)
    assert [(e["event"], e["start"], e["end"], e["duration_days"], e["gap_days"]) for e in events] == [
        (1, date(2000, 1, 1), date(2000, 3, 5), 65, 0),
        (2, date(2000, 12, 31), date(2000, 12, 31), 1, 300),
        (3, date(2002, 7, 1), date(2002, 7, 1), 1, 546)]
    assert (events[0]["max_wet"], events[0]["mean_wet"]) == (0.25, pytest.approx(0.13))
    assert (events[0]["max_wet_ha"], events[0]["mean_wet_ha"]) == (2.5, pytest.approx(1.3))
    stats = statistics(series, THRESHOLD, 10.0)
    assert (stats["wit_events"], stats["wit_longest_event_days"], stats["wit_last_wet"]) == (3, 65, date(2002, 7, 1))
    assert stats["wit_wet_pct"] == pytest.approx(100 * 4 / 6)  # the observation at exactly T is wet
    assert stats["wit_water_pct"] == pytest.approx(100 * 3 / 6)  # water >= T


def test_an_observation_missing_a_fraction_is_dropped_everywhere():
    series = hand_series([("2000-01-01T00:00", 0.5, 0.0), ("2000-01-02T00:00", 0.2, 0.0),
                          ("2000-01-03T00:00", np.nan, 0.0), ("2000-01-04T00:00", 0.0, 0.0)])
    merged_series = merge([series])
    assert len(merged_series) == 3
    (event,) = event_dicts(merged_series)
    assert (event["max_wet"], event["mean_wet"]) == (0.5, pytest.approx(0.35))
    (year,) = annual_dicts(merged_series)
    assert (year["obs"], year["water_max"], year["water_median"]) == (3, 0.5, 0.2)
    assert statistics(merged_series, THRESHOLD, None)["wit_obs"] == 3


def test_threshold_zero_makes_every_observation_wet():
    series = hand_series([("2000-01-01T00:00", 0.0, 0.0), ("2000-02-01T00:00", 0.0, 0.0)])
    (event,) = event_dicts(series, threshold=0.0)
    assert (event["start"], event["end"], event["duration_days"]) == (date(2000, 1, 1), date(2000, 2, 1), 32)


def test_duration_counts_dates_where_wit_tooling_floors_the_time_difference():
    late_then_early = hand_series([("2010-05-01T23:00", 0.5, 0.0), ("2010-05-03T01:00", 0.5, 0.0)])
    (event,) = event_dicts(late_then_early)
    assert event["duration_days"] == 3  # 1, 2 and 3 May
    floored = (pd.Timestamp("2010-05-03T01:00") - pd.Timestamp("2010-05-01T23:00") + pd.Timedelta(days=1)).days
    assert floored == 2  # wit_tooling's duration of the same event


def test_how_many_sample_events_wit_tooling_makes_a_day_shorter(sample):
    """The documented figure: 118 of the sample's 1,601 events, every one by exactly one day."""
    shorter = total = 0
    for uid in sample_uids():
        frame = merged(sample[sample.XXX_UID == uid])
        times = frame.time.to_numpy()
        series = merge([read_series(wit_parquet(uid), "pyarrow")])
        for event in event_dicts(series):
            run = times[(frame.time.dt.date >= event["start"]) & (frame.time.dt.date <= event["end"])]
            floored = (pd.Timestamp(run[-1]) - pd.Timestamp(run[0]) + pd.Timedelta(days=1)).days
            assert event["duration_days"] - floored in (0, 1)
            shorter += event["duration_days"] != floored
            total += 1
    assert (shorter, total) == (118, 1601)


def test_a_dry_polygon_has_annual_rows_and_no_events():
    series = merge([read_series(wit_parquet("2", dry=True), "pyarrow")])
    assert event_dicts(series) == []
    annual = annual_dicts(series)
    assert len(annual) == 34 and all(row["wetw_max"] == 0 and row["wetw_n25"] == 0 for row in annual)
    assert statistics(series, THRESHOLD, AREA_HA)["wit_events"] == 0


def test_an_empty_series_has_no_rows():
    empty = Series(*(np.array([], dtype=dtype) for dtype in (np.int64,) + (np.float64,) * 5))
    assert annual_metrics(empty, years_of(empty, THRESHOLD)).rows() == []
    assert inundation_events(empty, THRESHOLD, AREA_HA) == []


def test_without_an_area_the_hectares_are_null():
    series = hand_series([("2000-01-01T00:00", 0.5, 0.0)])
    (event,) = event_dicts(series, area_ha=None)
    assert event["max_wet_ha"] is None and event["mean_wet_ha"] is None and event["max_wet"] == 0.5


def test_yearly_peaks_are_percent_rounded_down_to_a_hundredth():
    from wit_provider.results.metrics import Years, yearly_peaks

    peaks = np.array([0.0, 0.0099999, 0.01, 0.10005, 0.29, 1.0])
    years = Years(np.arange(2000, 2006), np.arange(6), np.ones(6, dtype=np.int64), np.zeros(6, dtype=np.int64), peaks)
    assert yearly_peaks(years) == '{"2000":0.0,"2001":0.99,"2002":1.0,"2003":10.0,"2004":29.0,"2005":100.0}'
    empty = np.empty(0, dtype=np.int64)
    assert yearly_peaks(Years(empty, empty, empty, empty, np.empty(0))) is None
