"""Now against the past (regime, trend, the latest year's standing) in the engine, no QGIS: checked
against an independent computation written here from the documented definitions, and against
pymannkendall for Mann–Kendall's S, Z and p (and Sen's slope where the valid years have no gaps: it
assumes unit spacing), on every sample polygon, and on hand-worked series at each boundary."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from itertools import combinations
from statistics import median

import numpy as np
import pandas as pd
import pymannkendall
import pytest
from conftest import WIT_SAMPLE
from test_load_results import two_increments
from test_wit_metrics import merged
from wit_server.s3 import sample_uids, wit_parquet

from wit_provider.results.fetch import Fetcher
from wit_provider.results.history import HISTORY_FIELDS, TREND_YEARS, histories, history, mann_kendall, summary, trends
from wit_provider.results.loader import LOADED, LoadJob, ResultLoader
from wit_provider.results.metrics import years_of
from wit_provider.results.table import Series

THRESHOLD = 0.01


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_parquet(WIT_SAMPLE)


def valid_years(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per UTC calendar year with at least 4 observations: obs, wet_obs (water + wet >= T) and wetw_max."""
    frame = merged(frame)
    wetw = frame.water + frame.wet
    years = frame.time.dt.year.rename("year")
    table = pd.DataFrame({"obs": frame.groupby(years).size(), "wet_obs": (wetw >= threshold).groupby(years).sum(),
                          "wetw_max": wetw.groupby(years).max()})
    return table[table.obs >= 4]


def expected_history(frame: pd.DataFrame, threshold: float = THRESHOLD) -> dict:
    """Every HISTORY_FIELDS value from the definitions, pair by pair in plain Python."""
    table = valid_years(frame, threshold)
    years, x = list(table.index), list(table.wetw_max)
    out = dict.fromkeys(HISTORY_FIELDS)
    shares = [Fraction(int(wet), int(obs)) for wet, obs in zip(table.wet_obs, table.obs)]  # exactly
    if len(years) >= 5:
        wet_years = sum(1 for f in shares if f > 0) / len(shares)
        out["wit_regime"] = ("permanent" if median(shares) >= Fraction(9, 10) else "seasonal" if wet_years >= 0.8 else
                             "intermittent" if wet_years >= 0.2 else "episodic" if wet_years > 0 else "dry")
    if len(years) >= 8:
        n = len(x)
        s = sum((x[j] > x[i]) - (x[j] < x[i]) for i, j in combinations(range(n), 2))
        var_s = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in Counter(x).values())) / 18
        z = 0.0 if s == 0 else (s - 1 if s > 0 else s + 1) / math.sqrt(var_s)
        p = 2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2))))
        slope = float(np.median([(x[j] - x[i]) / (years[j] - years[i]) for i, j in combinations(range(n), 2)]))
        sign = slope if slope != 0 else s
        out.update(wit_trend_slope=slope * 100 * 10, wit_trend_p=p,
                   wit_trend=("wetter" if sign > 0 else "drier") if p < 0.05 else "no trend")
    if len(years) >= 6:
        earlier, latest = x[:-1], x[-1]
        out.update(wit_latest_year=years[-1], wit_latest_wet_max=100 * latest,
                   wit_latest_rank_pct=100 * (sum(v < latest for v in earlier) + 0.5 * sum(
                       v == latest for v in earlier)) / len(earlier),
                   wit_latest_anomaly=100 * (latest - float(np.median(earlier))))
    return out


def assert_same(ours: dict, expected: dict) -> None:
    assert set(ours) >= set(HISTORY_FIELDS)
    for name in HISTORY_FIELDS:
        value = expected[name]
        if isinstance(value, float):
            assert ours[name] == pytest.approx(value, rel=0, abs=1e-9), name
        else:
            assert ours[name] == value and type(ours[name]) is type(value), name


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["int96", "int64"])
def test_every_sample_polygon_matches_the_definitions_and_pymannkendall(sample, encoding, tmp_path):
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1)
    seen = Counter()
    for uid in sample_uids():
        path = tmp_path / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid, encoding))
        loaded = loader.load(LoadJob(uid, str(path), 1.0))
        assert loaded.status == LOADED, loaded.error
        frame = sample[sample.XXX_UID == uid]
        assert_same(loaded.stats, expected_history(frame))
        seen[loaded.stats["wit_regime"]] += 1
        seen[loaded.stats["wit_trend"]] += 1
        table = valid_years(frame, THRESHOLD)
        reference = pymannkendall.original_test(table.wetw_max.to_numpy())
        trend = mann_kendall(list(table.index), table.wetw_max.to_numpy())
        assert (trend.s, trend.var_s) == (reference.s, pytest.approx(reference.var_s, rel=1e-12))
        assert (trend.z, trend.p) == (pytest.approx(reference.z, abs=1e-9), pytest.approx(reference.p, abs=1e-9))
        gapless = table.index[-1] - table.index[0] == len(table) - 1
        if gapless:
            assert trend.slope == pytest.approx(reference.slope, abs=1e-12)
            assert trend.intercept == pytest.approx(reference.intercept - reference.slope * table.index[0], abs=1e-9)
        seen["gapless" if gapless else "with gaps"] += 1
    # The sample exercises every class but dry (hand-worked below) and both kinds of record.
    assert {name for name in seen if seen[name]} >= {"permanent", "seasonal", "intermittent", "episodic", "wetter",
                                                     "drier", "no trend", "gapless", "with gaps"}, seen


def test_two_increments_are_merged_before_the_comparison(tmp_path, sample):
    frame, location = two_increments(tmp_path, sample)
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("150", location, 1.0))
    assert loaded.status == LOADED, loaded.error
    assert_same(loaded.stats, expected_history(frame))
    assert loaded.stats["wit_regime"] is not None and loaded.stats["wit_trend"] is not None


def record(years: dict) -> Series:
    """A series from {year: (observations, wet observations, peak water + wet)}: the wet observations
    reach the peak, the others are dry (0), or all reach a peak below the threshold."""
    time, water = [], []
    for year, (obs, wet_obs, peak) in sorted(years.items()):
        for day in range(obs):
            time.append(np.datetime64("%d-03-01T00:00" % year, "ns") + np.timedelta64(day, "D"))
            water.append(peak if day < wet_obs or wet_obs == 0 and day == 0 else 0.0)
    water = np.array(water)
    rest = (1 - water) / 3
    return Series(np.array(time).astype(np.int64), water, np.zeros_like(water), rest, rest.copy(), rest.copy())


def fields(years: dict) -> dict:
    return history(years_of(record(years), THRESHOLD)).fields()


def frame_of(years: dict) -> pd.DataFrame:
    series = record(years)
    return pd.DataFrame({"time": pd.to_datetime(series.time), "water": series.water, "wet": series.wet,
                         "pv": series.pv, "npv": series.npv, "bs": series.bs})


def test_a_year_counts_from_exactly_four_observations():
    base = {year: (10, 5, 0.5) for year in range(2000, 2004)}  # 4 valid years: no regime
    assert fields({**base, 2004: (3, 3, 0.5)})["wit_regime"] is None
    assert fields({**base, 2004: (4, 4, 0.5)})["wit_regime"] == "seasonal"


@pytest.mark.parametrize("wet_counts, regime", [
    ((9, 9, 9, 8, 8), "permanent"),  # median share exactly 0.9
    ((17, 19, 20, 20, 10, 10), "permanent"),  # (17/20 + 19/20) / 2 is 0.9, though not in floats
    ((8, 8, 8, 9, 9), "seasonal"),  # median 0.8, every year wet
    ((1, 1, 1, 1, 0), "seasonal"),  # wet in exactly 0.8 of the years
    ((1, 1, 1, 0, 0), "intermittent"),
    ((1, 0, 0, 0, 0), "intermittent"),  # exactly 0.2
    ((1, 0, 0, 0, 0, 0, 0, 0, 0, 0), "episodic"),  # 0.1
    ((0, 0, 0, 0, 0), "dry"),
])
def test_regime_boundaries(wet_counts, regime):
    years = {2000 + i: (20 if len(wet_counts) == 6 else 10, wet, 0.5 if wet else 0.005)
             for i, wet in enumerate(wet_counts)}
    assert fields(years)["wit_regime"] == regime == expected_history(frame_of(years))["wit_regime"]


def test_a_trend_needs_eight_valid_years():
    seven = {2000 + i: (5, 5, 0.1 * (i + 1)) for i in range(7)}
    assert {fields(seven)[name] for name in ("wit_trend", "wit_trend_slope", "wit_trend_p")} == {None}
    eight = {**seven, 2007: (5, 5, 0.8)}
    assert fields(eight)["wit_trend"] == "wetter"
    assert fields(eight)["wit_trend_slope"] == pytest.approx(1000 * 0.1)  # 10 pp a year: 100 pp per decade


def test_ties_in_the_peaks_correct_the_variance():
    peaks = (0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4, 0.5)
    trend = mann_kendall(list(range(2000, 2008)), np.array(peaks))
    # 28 pairs, 4 of them tied; var = (8·7·21 − 2·1·9 − 3·2·11) / 18
    assert (trend.s, trend.var_s) == (24, pytest.approx(1092 / 18))
    assert trend.z == pytest.approx(23 / math.sqrt(1092 / 18))
    assert trend.p == pytest.approx(pymannkendall.original_test(np.array(peaks)).p, abs=1e-12)
    assert_same(fields({2000 + i: (5, 5, p) for i, p in enumerate(peaks)}),
                expected_history(frame_of({2000 + i: (5, 5, p) for i, p in enumerate(peaks)})))


def test_a_constant_record_has_no_trend():
    values = fields({2000 + i: (6, 3, 0.4) for i in range(10)})
    assert (values["wit_trend_p"], values["wit_trend_slope"], values["wit_trend"]) == (1.0, 0.0, "no trend")
    assert (values["wit_latest_rank_pct"], values["wit_latest_anomaly"]) == (50.0, 0.0)  # equal to every year


def test_a_zero_slope_takes_the_direction_of_s():
    # 14 dry-ish years then 6 wet ones: most pairs are ties, so Sen's slope is 0 while S is significant.
    years = {2000 + i: (5, 5, 0.1 if i < 14 else 0.9) for i in range(20)}
    values = fields(years)
    assert values["wit_trend_slope"] == 0.0 and values["wit_trend_p"] < 0.05 and values["wit_trend"] == "wetter"
    assert_same(values, expected_history(frame_of(years)))


def test_a_gap_of_years_spaces_sens_slope_by_the_years():
    years = {year: (5, 5, 0.01 * (year - 1999)) for year in (2000, 2001, 2002, 2003, 2006, 2007, 2008, 2009)}
    years[2004] = (3, 3, 1.0)  # too few observations: not in the record, however wet
    values = fields(years)
    assert values["wit_trend_slope"] == pytest.approx(10.0)  # 1 pp a year over the real years
    assert_same(values, expected_history(frame_of(years)))


def test_records_with_and_without_gaps_computed_together_keep_their_own_spans():
    """A record without gaps takes its pairs' spans from the number of years; one with gaps, of the
    same length and in the same call, in either order or all with gaps, from its own years."""
    peaks = [0.1, 0.4, 0.2, 0.5, 0.3, 0.7, 0.6, 0.9]
    plain, gapped, other = (list(range(2000, 2008)), [2000, 2001, 2002, 2003, 2006, 2007, 2008, 2009],
                            [1990, 1994, 1995, 1996, 2001, 2002, 2003, 2010])

    def sen(years):
        return float(np.median([(peaks[j] - peaks[i]) / (years[j] - years[i]) for i, j in combinations(range(8), 2)]))

    for batch in ([plain, gapped], [gapped, plain], [gapped, other], [other, plain, gapped]):
        together = trends(batch, [peaks] * len(batch))
        assert together == [trends([years], [peaks])[0] for years in batch]
        assert [trend.slope for trend in together] == pytest.approx([sen(years) for years in batch], abs=1e-12)
    assert len({sen(plain), sen(gapped), sen(other)}) == 3  # the same values over other years: other slopes


def test_the_latest_year_ranks_among_the_earlier_ones_with_ties_as_half():
    peaks = (0.1, 0.2, 0.3, 0.3, 0.5, 0.3)
    values = fields({2000 + i: (5, 5, p) for i, p in enumerate(peaks)})
    assert values["wit_latest_year"] == 2005
    assert values["wit_latest_wet_max"] == pytest.approx(30.0)
    assert values["wit_latest_rank_pct"] == pytest.approx(100 * (2 + 0.5 * 2) / 5)
    assert values["wit_latest_anomaly"] == pytest.approx(0.0, abs=1e-12)  # the earlier median is 0.3
    five = fields({2000 + i: (5, 5, p) for i, p in enumerate(peaks[:5])})  # 4 earlier years: too few
    assert five["wit_latest_year"] is None and five["wit_latest_rank_pct"] is None and five["wit_regime"]


def test_a_dry_polygon():
    series_years = {2000 + i: (6, 0, 0.0) for i in range(12)}
    values = fields(series_years)
    assert (values["wit_regime"], values["wit_trend"], values["wit_latest_wet_max"]) == ("dry", "no trend", 0.0)
    assert_same(values, expected_history(frame_of(series_years)))


def test_years_outside_1900_to_2200_are_found_too():
    times = ["1850-06-01T00:00", "1850-07-01T00:00", "1899-12-31T23:59", "2000-01-01T00:00", "2250-01-01T00:00",
             "2262-04-01T00:00"]
    series = Series(np.array([np.datetime64(t, "ns").astype(np.int64) for t in times]), *(np.full(6, 0.2),) * 5)
    years = years_of(series, THRESHOLD)
    assert years.years.tolist() == [1850, 1899, 2000, 2250, 2262] and years.obs.tolist() == [2, 1, 1, 1, 1]
    assert years.starts.tolist() == [0, 2, 3, 4, 5] and years.wet_obs.tolist() == [2, 1, 1, 1, 1]
    inside = Series(series.time[3:4], *(np.full(1, 0.2),) * 5)
    assert years_of(inside, THRESHOLD).years.tolist() == [2000]


def test_no_observations_give_nulls_not_zeros():
    empty = Series(*(np.array([], dtype=dtype) for dtype in (np.int64,) + (np.float64,) * 5))
    assert set(history(years_of(empty, THRESHOLD)).fields().values()) == {None}


def test_the_summary_line_says_what_the_fields_say():
    values = fields({2000 + i: (5, 5, 0.1 * (i + 1)) for i in range(8)})
    line = summary(values)
    assert line.startswith("regime permanent; wetter (Sen's slope +100.0 pp/decade, p < 0.001); ")
    assert "2007: peak 80 % wet, rank 100 % of earlier years, +40.0 pp on their median" in line
    assert summary(dict.fromkeys(HISTORY_FIELDS)) == ("regime not classified (under 5 valid years); "
                                                      "trend: under 8 valid years")
    short = summary(values, short=True)
    assert short == "permanent · wetter (+100.0 pp/decade, p < 0.001) · 2007: rank 100 %"
    zero = dict(values, wit_trend_slope=0.0, wit_trend="drier")  # a slope of 0: no sign to print
    assert "drier (0 pp/decade, p < 0.001)" in summary(zero, short=True)


def test_the_comparison_is_made_on_the_thread_that_takes_the_results(tmp_path, monkeypatch):
    """Its Python work stays out of the download workers, where it would hold the loading thread up."""
    import threading

    from wit_provider.results import loader as module

    threads = []

    def recorded(records):
        threads.append(threading.current_thread())
        return histories(records)

    monkeypatch.setattr(module, "histories", recorded)
    jobs = []
    for uid in sample_uids()[:6]:
        path = tmp_path / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid))
        jobs.append((uid, LoadJob(uid, str(path), 1.0)))
    results = list(ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 3).run(jobs, lambda: False))
    assert [uid for uid, _ in results] == sample_uids()[:6]
    assert all(loaded.stats["wit_regime"] is not None and loaded.years is None for _, loaded in results)
    assert threads and set(threads) == {threading.current_thread()}


@pytest.mark.parametrize("encoding", ["int96", "int64"])
def test_many_records_at_once_give_each_ones_own_comparison(tmp_path, encoding):
    """The trends of records of one length are computed together: no row may take another's."""
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1)
    records = []
    for uid in sample_uids():
        path = tmp_path / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid, encoding))
        records.append(loader._read(LoadJob(uid, str(path), 1.0)).years)
    lengths = Counter(int(years.valid().sum()) for years in records if years.valid().sum() >= TREND_YEARS)
    assert max(lengths.values()) > 1 and len(lengths) > 1  # trends of one length together, and several lengths
    together = [past.fields() for past in histories(records)]
    assert together == [history(years).fields() for years in records]


def test_a_failing_comparison_costs_only_its_polygon(tmp_path, monkeypatch):
    """Where the comparison of the results ready at once fails, each is compared alone: only the
    polygon it fails on loses its comparison, and says why."""
    from wit_provider.results import loader as module

    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1)
    batch = []
    for uid in sample_uids()[:8]:
        path = tmp_path / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid))
        batch.append(loader._read(LoadJob(uid, str(path), 1.0)))
    bad = batch[3].years

    def broken(records):
        if any(years is bad for years in records):
            raise ValueError("boom")
        return histories(records)

    monkeypatch.setattr(module, "histories", broken)
    assert module.compare_with_past(batch) == batch
    for number, loaded in enumerate(batch):
        assert loaded.status == LOADED and loaded.stats["wit_obs"] > 0 and loaded.years is None
        if number == 3:
            assert "wit_regime" not in loaded.stats
            assert loaded.error == "internal error in the comparison with the past: ValueError('boom')"
        else:
            assert loaded.stats["wit_regime"] is not None and not loaded.error, number


def test_a_failing_comparison_keeps_the_statistics(tmp_path, monkeypatch):
    from wit_provider.results import loader as module

    def broken(records):
        raise ValueError("boom")

    monkeypatch.setattr(module, "histories", broken)
    path = tmp_path / "16.parquet"
    path.write_bytes(wit_parquet("16"))
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("16", str(path), 1.0))
    assert loaded.status == LOADED and loaded.stats["wit_obs"] > 0 and "wit_regime" not in loaded.stats
    assert loaded.error == "internal error in the comparison with the past: ValueError('boom')"
