"""A small site built in code, so simulator tests render a few hundred metres, not kilometres."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from railwatch.simulate import Acquisition, SceneState, Weather, site_model
from railwatch.sites import Border, Site, Track


def _small_site() -> Site:
    """An 800 x 500 m patch west of Tumangang (tile 52TFM): a main line and three yard tracks."""
    to_wgs84 = Transformer.from_crs(32652, 4326, always_xy=True)
    x0, y0 = 631_000.0, 4_697_600.0

    def wgs(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [to_wgs84.transform(x, y) for x, y in coords]

    aoi = Polygon(wgs([(x0, y0), (x0 + 800, y0), (x0 + 800, y0 + 500), (x0, y0 + 500)]))
    # The main line runs slightly north of east so that motion is not along a pixel axis.
    main = LineString(wgs([(x0 + 20, y0 + 200), (x0 + 780, y0 + 260)]))
    tracks = [Track("main", main, "main")]
    for k in range(3):
        y = y0 + 320 + 5 * k
        tracks.append(Track(f"yard-{k + 1}", LineString(wgs([(x0 + 150, y), (x0 + 650, y)])), "yard"))
    border = LineString(wgs([(x0 + 4000, y0 - 2000), (x0 + 4000, y0 + 2000)]))
    return Site(id="test-line", names={"en": "test line"}, aoi=aoi, tracks=tuple(tracks),
                border=Border(border, "RU", "KP", Point(to_wgs84.transform(x0 + 4000, y0 + 230))),
                epsg=32652, mgrs_tiles=("52TFM",))


@pytest.fixture(scope="session")
def small_site() -> Site:
    return _small_site()


@pytest.fixture(scope="session")
def small_model(small_site: Site):
    return site_model(small_site, land_seed=3)


def clear_state(site: Site, cars=(), trains=(), *, when: datetime | None = None,
                weather: Weather | None = None, seed: int = 5) -> SceneState:
    when = when or datetime(2023, 10, 5, 2, 10, 30, tzinfo=UTC)
    return SceneState(site_id=site.id, acquisition=Acquisition(when, "sentinel-2b", "52TFM"),
                      cars=tuple(cars), trains=tuple(trains), weather=weather or Weather(),
                      seed=seed)
