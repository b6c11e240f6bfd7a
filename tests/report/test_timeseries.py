"""Time series from stored rows: passes, baseline, anomalies, change points, seasonal gaps."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from railwatch.errors import UserInputError
from railwatch.store import ObservationRow, open_store
from railwatch.timeseries import (
    ANOMALY_Z,
    Period,
    build_series,
    parse_date,
    parse_period,
)

from .storedata import DETECTOR, SITE_ID, SURGE_FROM, fill_store, pass_days


@pytest.fixture
def series_and_truth(tmp_path: Path):
    with open_store(tmp_path / "ts.sqlite") as store:
        counts = fill_store(store)
        yield store, counts


def test_passes_keep_every_status_and_never_count_a_failure_as_zero(series_and_truth) -> None:
    store, counts = series_and_truth
    series = build_series(store, SITE_ID)
    assert len(series.passes) == len(pass_days())
    statuses = series.status_counts()
    assert statuses["clear"] == len(counts)
    assert statuses["failed"] == 1
    assert statuses["cloudy"] == sum(1 for d in pass_days() if d.month == 7)
    failed = next(p for p in series.passes if p.status == "failed")
    assert failed.car_equivalents is None and "HTTP 500" in (failed.reason or "")
    for p in series.passes:
        if p.status != "clear":
            assert p.car_equivalents is None
        else:
            assert p.car_equivalents == counts[p.scene_id]


def test_default_baseline_is_first_half_when_under_a_year_and_anomalies_are_the_surge(
        series_and_truth) -> None:
    store, counts = series_and_truth
    series = build_series(store, SITE_ID)
    baseline = series.baseline
    assert baseline is not None and series.baseline_rule == "first_half"
    inside = [v for sid, v in counts.items() if baseline.period.start
              <= date(int(sid[10:14]), int(sid[14:16]), int(sid[16:18])) <= baseline.period.end]
    assert baseline.maximum == max(inside) and baseline.passes == len(inside)
    assert baseline.median == pytest.approx(float(np.median(inside)))
    flagged = {a.scene_id for a in series.anomalies}
    surge = {sid for sid in counts
             if date(int(sid[10:14]), int(sid[14:16]), int(sid[16:18])) >= SURGE_FROM}
    assert flagged == surge
    mad = float(np.median(np.abs(np.array(inside) - np.median(inside))))
    for anomaly in series.anomalies:
        expected_z = (anomaly.car_equivalents - np.median(inside)) / max(1.4826 * mad, 1.0)
        assert anomaly.robust_z == pytest.approx(expected_z)
        assert anomaly.robust_z > ANOMALY_Z and anomaly.above_max and anomaly.interval_above_max


def test_user_baseline_and_full_year_default(tmp_path: Path) -> None:
    with open_store(tmp_path / "two-years.sqlite") as store:
        days = [date(2022, 1, 3)] + [date(2022, m, 15) for m in range(1, 13)] + \
               [date(2023, m, 15) for m in range(1, 11)]
        fill_store(store, days=days)
        series = build_series(store, SITE_ID)
        assert series.baseline_rule == "full_years"
        assert series.baseline.period == Period(date(2022, 1, 1), date(2022, 12, 31))
        chosen = build_series(store, SITE_ID, baseline=parse_period("2022-03:2022-06"))
        assert chosen.baseline.chosen_by == "user"
        assert chosen.baseline.period == Period(date(2022, 3, 1), date(2022, 6, 30))
        assert chosen.baseline.passes == 4


def test_change_point_found_at_the_surge(series_and_truth) -> None:
    store, _ = series_and_truth
    series = build_series(store, SITE_ID)
    upward = [c for c in series.change_points if c.upward]
    assert len(upward) == 1
    change = upward[0]
    assert abs((change.when.date() - SURGE_FROM).days) <= 5
    assert change.mean_after > 3 * change.mean_before
    assert len(series.change_points) <= 2


def test_seasonal_context_is_shown_not_hidden(series_and_truth) -> None:
    store, _ = series_and_truth
    series = build_series(store, SITE_ID)
    months = {m.month.month: m for m in series.months}
    assert len(series.months) == 12
    assert months[7].clear_passes == 0 and months[7].max_car_equivalents is None
    assert months[7].statuses["cloudy"] >= 5
    assert months[1].snow_passes == months[1].clear_passes > 0
    assert months[4].snow_passes == 0
    assert sum(m.crossings.get("towards RU", 0) for m in series.months) == \
        sum(1 for p in series.passes for t in p.moving_trains if t.direction == "towards RU")


def test_period_filter_and_errors(series_and_truth) -> None:
    store, _ = series_and_truth
    series = build_series(store, SITE_ID, period=Period(date(2023, 3, 1), date(2023, 3, 31)),
                          baseline=Period(date(2023, 3, 1), date(2023, 3, 31)))
    assert series.passes and all(p.day.month == 3 for p in series.passes)
    with pytest.raises(UserInputError, match="no passes"):
        build_series(store, SITE_ID, period=Period(date(2024, 1, 1), date(2024, 2, 1)))
    with pytest.raises(UserInputError, match="no clear pass"):
        build_series(store, SITE_ID, baseline=Period(date(2023, 7, 1), date(2023, 7, 31)))
    with pytest.raises(UserInputError, match="scan"):
        build_series(store, "khasan")


def test_detector_version_choice(series_and_truth) -> None:
    store, _ = series_and_truth
    first = build_series(store, SITE_ID).passes[0]
    store.put_observation(ObservationRow(
        site=SITE_ID, scene_id=first.scene_id, detector_version="railwatch-detect 0.9.0",
        datetime=first.when.isoformat(), status="ok", car_equivalents=99.0,
        car_equivalents_low=90.0, car_equivalents_high=108.0, visible_fraction=1.0, payload={}))
    default = build_series(store, SITE_ID)
    assert default.detector_versions == (DETECTOR,)
    assert default.passes[0].car_equivalents == first.car_equivalents
    old = build_series(store, SITE_ID, detector_version="railwatch-detect 0.9.0")
    assert old.clear_passes[0].car_equivalents == 99.0 and len(old.clear_passes) == 1
    with pytest.raises(UserInputError, match="versions in the store"):
        build_series(store, SITE_ID, detector_version="nope")


@pytest.mark.parametrize(("text", "end", "expected"), [
    ("2023-10-05", False, date(2023, 10, 5)),
    ("2023-02", True, date(2023, 2, 28)),
    ("2024-02", True, date(2024, 2, 29)),
    ("2023", False, date(2023, 1, 1)),
    ("2023", True, date(2023, 12, 31)),
])
def test_parse_date(text: str, end: bool, expected: date) -> None:
    assert parse_date(text, field_name="--from", end=end) == expected


@pytest.mark.parametrize("text", ["2023-13", "yesterday", "2023-02-30", "2023/01/01"])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(UserInputError, match="--to"):
        parse_date(text, field_name="--to")


@pytest.mark.parametrize("text", ["2023-08:2023-01", "2023-01", ":2023-01", "2023-01:"])
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(UserInputError, match="--baseline"):
        parse_period(text)
