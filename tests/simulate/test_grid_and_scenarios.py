"""The tile grid, scenarios and their states."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from railwatch.errors import SiteError, UserInputError
from railwatch.simulate import (
    acquisitions,
    load_scenario,
    plan,
    resolve_simulation_site,
    scene_state_for,
    tile_grid,
)


@pytest.mark.parametrize(
    ("tile", "west", "north", "epsg"),
    [
        # Published Earth Search proj:transform corners.
        ("39QTA", 199980.0, 2100000.0, 32639),
        ("36SXJ", 600000.0, 4400040.0, 32636),
        ("10SEG", 499980.0, 4200000.0, 32610),
        ("53HNA", 499980.0, 6100000.0, 32753),
        ("52TFM", 600000.0, 4700040.0, 32652),
    ],
)
def test_tile_corners_match_published_grids(tile, west, north, epsg):
    grid = tile_grid(tile)
    assert (grid.west, grid.north, grid.epsg) == (west, north, epsg)


def test_windows_are_on_the_tile_lattice_and_nested():
    grid = tile_grid("52TFM")
    bounds = (630797.3, 4696857.1, 633953.9, 4698527.2)
    w10, w20 = grid.window(bounds, 10.0), grid.window(bounds, 20.0)
    assert w10.bounds == w20.bounds
    assert (w10.transform.c - grid.west) % 60 == 0 and (grid.north - w10.transform.f) % 60 == 0
    west, south, east, north = w10.bounds
    assert west <= bounds[0] and south <= bounds[1] and east >= bounds[2] and north >= bounds[3]
    assert (w10.width, w10.height) == (2 * w20.width, 2 * w20.height)


@pytest.mark.parametrize("bad", ["52TIM", "61TFM", "52T", "52TJM"])
def test_bad_tile_names_are_refused(bad):
    with pytest.raises(SiteError):
        tile_grid(bad)


def test_acquisitions_follow_the_five_day_alternating_revisit():
    scenario = load_scenario("tumangang-2023")
    acqs = acquisitions(scenario, "52TFM", date(2023, 9, 1), date(2023, 10, 31))
    days = [a.datetime.date() for a in acqs]
    assert all((b - a).days == 5 for a, b in zip(days, days[1:], strict=False))
    platforms = [a.platform for a in acqs]
    assert all(p != q for p, q in zip(platforms, platforms[1:], strict=False))
    assert all(a.datetime.hour == 2 for a in acqs)
    assert acqs[0].item_id.endswith(f"_52TFM_{days[0]:%Y%m%d}_0_L2A")


def test_tumangang_build_up_follows_the_published_counts():
    site = resolve_simulation_site("tumangang")
    scenario = load_scenario("tumangang-2023")
    before = acquisitions(scenario, "52TFM", date(2023, 3, 1), date(2023, 8, 31))
    after = acquisitions(scenario, "52TFM", date(2023, 10, 5), date(2023, 11, 30))

    def standing(acqs):
        return [sum(c.train is None for c in scene_state_for(scenario, site, a, 1).cars)
                for a in acqs]

    assert max(standing(before)) <= 20
    assert np.mean(standing(after)) >= 60


def test_states_are_deterministic_for_a_seed():
    site = resolve_simulation_site("tumangang")
    scenario = load_scenario("tumangang-2023")
    acq = acquisitions(scenario, "52TFM", date(2023, 10, 5), date(2023, 10, 5))[0]
    a = scene_state_for(scenario, site, acq, 7)
    b = scene_state_for(scenario, site, acq, 7)
    c = scene_state_for(scenario, site, acq, 8)
    assert a == b
    assert a != c


def test_yard_site_is_built_after_the_muttenz_layout():
    site = resolve_simulation_site("synthetic-yard")
    yards = [t for t in site.tracks_utm if t.startswith("yard")]
    assert len(yards) == 24 and site.epsg == 32632 and site.mgrs_tiles == ("32TLT",)
    assert tile_grid("32TLT").contains(site.aoi_utm.bounds)


def test_muttenz_statistics_match_the_stored_layout(shared_dir):
    from railwatch.simulate.yard import muttenz_statistics

    stats = muttenz_statistics(shared_dir / "data" / "muttenz" / "rail-car-outlines.geojson")
    scenario = load_scenario("yard")
    assert stats.cars == 503
    assert list(stats.length_quantiles[1:-1]) == list(scenario.car_length_quantiles_m)
    assert stats.width_median == scenario.car_width_m
    assert stats.gap_median == scenario.coupled_gap_m


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"site": "atlantis", "scenario": "quiet"}, "unknown site 'atlantis'"),
        ({"site": None, "scenario": "nope"}, "unknown scenario 'nope'"),
        ({"site": None, "scenario": "quiet", "start": "2023-05-01", "end": "2023-04-01"},
         "is before --start"),
        ({"site": None, "scenario": "tumangang-2023", "start": "2000-01-01", "end": "2005-01-01"},
         "more than 200"),
        ({"site": None, "scenario": "quiet", "start": "2023-13-01"}, "is not a date"),
    ],
)
def test_bad_requests_are_one_line_user_errors(kwargs, message):
    site = kwargs.pop("site")
    scenario = kwargs.pop("scenario")
    with pytest.raises(UserInputError) as caught:
        plan(site, scenario, kwargs.get("start"), kwargs.get("end"))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and caught.value.hint
