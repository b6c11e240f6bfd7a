"""The history policy the scan and the benchmark share (``railwatch.pipeline.Histories.ranked``)."""

from __future__ import annotations

from datetime import date, timedelta

from railwatch.pipeline import HISTORY_SEASON_DAYS, Histories


def test_history_comes_from_the_same_season_of_the_whole_record() -> None:
    record = [date(2023, 1, 3) + timedelta(days=5 * k) for k in range(110)]  # Jan 2023 - Jun 2024
    scene = date(2024, 6, 15)
    picked = [record[i] for i in Histories.ranked(scene, record)]
    assert scene not in picked
    # Every pick is within the season window of the scene's day of the year, whatever its year.
    for day in picked:
        gap = abs(day.timetuple().tm_yday - scene.timetuple().tm_yday)
        assert min(gap, 365 - gap) <= HISTORY_SEASON_DAYS
    # The empty season of the year before is used, and comes first at equal season distance.
    assert any(day.year == 2023 for day in picked[:4])
    assert {day.year for day in picked} == {2023, 2024}
    # Nothing from mid-winter for a June scene.
    assert not any(day.month in (12, 1, 2) for day in picked)


def test_history_of_a_winter_scene_wraps_over_the_new_year() -> None:
    record = [date(2023, 1, 3) + timedelta(days=5 * k) for k in range(110)]
    picked = [record[i] for i in Histories.ranked(date(2023, 12, 30), record)]
    assert any(day.month == 1 for day in picked) and any(day.month == 12 for day in picked)
