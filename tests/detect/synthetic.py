"""Tiny scenes made by code for the detector's unit tests (the simulator is for the benchmark).

A 1.2 x 0.6 km site with a main line and two yard tracks 5 m apart; the ground is drawn at 1 m
(grass, a 3.6 m track bed), cars are 3.2 m wide strips, a moving train is drawn in each band at
its position at that band's sensing time; then a Gaussian PSF, 10 m pixel integration and noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from affine import Affine
from rasterio import features
from scipy.ndimage import gaussian_filter
from shapely.geometry import LineString

from railwatch.detect.model import BAND_LAGS_S
from railwatch.imagery import BAND_KEYS, Scene
from railwatch.sites import Site, parse_site

GRASS = (0.04, 0.08, 0.05, 0.40)
BED = (0.11, 0.13, 0.15, 0.19)
BOX_CAR = (0.05, 0.05, 0.10, 0.22)
GREY_TANK = (0.32, 0.33, 0.33, 0.34)

# West-south-west to east-north-east across a patch near Tumangang, in lon/lat.
_LON0, _LAT0 = 130.600, 42.410


def small_site() -> Site:
    """The test site: 'main' and, 20 m north of it, 'yard-1' and 'yard-2' 5 m apart."""
    dlon = 1 / (111_320 * np.cos(np.radians(_LAT0)))  # degrees per metre
    dlat = 1 / 110_950

    def line(north_m: float) -> list[list[float]]:
        return [[_LON0 + 100 * dlon, _LAT0 + north_m * dlat],
                [_LON0 + 1100 * dlon, _LAT0 + (north_m + 80) * dlat]]

    aoi = [[_LON0, _LAT0 - 200 * dlat], [_LON0 + 1200 * dlon, _LAT0 - 200 * dlat],
           [_LON0 + 1200 * dlon, _LAT0 + 400 * dlat], [_LON0, _LAT0 + 400 * dlat],
           [_LON0, _LAT0 - 200 * dlat]]
    feature = [{"type": "Feature", "properties": {"role": "aoi"},
                "geometry": {"type": "Polygon", "coordinates": [aoi]}}]
    for name, north in (("main", 0.0), ("yard-1", 20.0), ("yard-2", 25.0)):
        feature.append({"type": "Feature", "properties": {"role": "track", "id": name},
                        "geometry": {"type": "LineString", "coordinates": line(north)}})
    # The border runs north-south at the east end: east of it is "RU".
    feature.append({"type": "Feature", "properties": {"role": "border", "left": "RU", "right": "KP"},
                    "geometry": {"type": "LineString", "coordinates": [
                        [_LON0 + 1150 * dlon, _LAT0 - 200 * dlat],
                        [_LON0 + 1150 * dlon, _LAT0 + 400 * dlat]]}})
    document = {"type": "FeatureCollection", "features": feature,
                "site": {"id": "test-site", "names": {"en": "Test site"}, "epsg": 32652}}
    return parse_site(json.loads(json.dumps(document)), origin="test")


@dataclass(frozen=True)
class Cut:
    """Cars standing or moving on a track: from ``start_m`` (rear at the B02 time) for
    ``length_m``; ``speed_mps`` positive along the track's vertex order."""

    track: str
    start_m: float
    length_m: float
    spectrum: tuple[float, float, float, float] = BOX_CAR
    speed_mps: float = 0.0


@dataclass(frozen=True)
class Weather:
    haze: float = 0.0
    cloud_box_m: tuple[float, float, float, float] | None = None  # west, south, east, north
    # A thin cloud (opacity, box) the SCL leaves visible: the soft edge of a cloud.
    thin_cloud: tuple[float, tuple[float, float, float, float]] | None = None
    # Wet ballast after rain: the track bed's reflectance times this, the fields unchanged.
    wet_bed: float = 1.0
    snow: bool = False


def make_scene(site: Site, cuts: list[Cut], *, seed: int = 0, noise: float = 0.004,
               weather: Weather | None = None, scene_id: str = "synthetic") -> Scene:
    weather = weather or Weather()
    rng = np.random.default_rng(seed)
    west, south, east, north = site.aoi_utm.bounds
    west, north = np.floor(west / 10) * 10, np.ceil(north / 10) * 10
    cols, rows = int(np.ceil((east - west) / 10)), int(np.ceil((north - south) / 10))
    fine_transform = Affine(1.0, 0, west, 0, -1.0, north)
    shape = (rows * 10, cols * 10)
    ground_code = np.zeros(shape, dtype=np.uint8)
    features.rasterize([(line.buffer(1.8), 1) for line in site.tracks_utm.values()],
                       out=ground_code, transform=fine_transform)
    texture = 1 + 0.05 * gaussian_filter(np.random.default_rng(99).standard_normal(shape), 3) * 3
    bands = {}
    for index, key in enumerate(BAND_KEYS):
        base = np.where(ground_code == 1, BED[_i(key)] * weather.wet_bed, GRASS[_i(key)])
        if weather.snow:
            base = np.where(ground_code == 1, 0.5 + 0.1 * base, 0.85 - 0.05 * index)
        layer = (base * texture).astype(np.float32)
        for cut in cuts:
            line = site.tracks_utm[cut.track]
            start = cut.start_m + cut.speed_mps * BAND_LAGS_S[key]
            body = _substring(line, start, start + cut.length_m).buffer(1.6, cap_style=2)
            mask = features.rasterize([(body, 1)], out_shape=shape, transform=fine_transform)
            value = cut.spectrum[_i(key)] if not weather.snow else 0.8
            layer[mask == 1] = value
        blurred = gaussian_filter(layer, 4.5)
        coarse = blurred.reshape(rows, 10, cols, 10).mean(axis=(1, 3))
        coarse = coarse + weather.haze * (1.0 - 0.2 * index) + rng.normal(0, noise, coarse.shape)
        bands[key] = coarse.astype(np.float32)
    scl = np.full((rows, cols), 11 if weather.snow else 4, dtype=np.uint8)
    xs = west + 10 * (np.arange(cols) + 0.5)
    ys = north - 10 * (np.arange(rows) + 0.5)

    def inside(box: tuple[float, float, float, float]) -> np.ndarray:
        bw, bs, be, bn = box
        return (xs[None, :] >= bw) & (xs[None, :] <= be) & (ys[:, None] >= bs) & (ys[:, None] <= bn)

    if weather.thin_cloud is not None:
        opacity, box = weather.thin_cloud
        for key in BAND_KEYS:
            bands[key] = np.where(inside(box), (1 - opacity) * bands[key] + opacity * 0.6,
                                  bands[key]).astype(np.float32)
    if weather.cloud_box_m is not None:
        cloud = inside(weather.cloud_box_m)
        for key in BAND_KEYS:
            bands[key] = np.where(cloud, 0.6, bands[key]).astype(np.float32)
        scl[cloud] = 9
    return Scene(scene_id=scene_id, datetime=datetime(2024, 6, 1, 2, 30, tzinfo=UTC),
                 epsg=site.epsg, transform=Affine(10.0, 0, west, 0, -10.0, north), bands=bands,
                 scl=scl, simulated=True)


def _i(key: str) -> int:
    return ("blue", "green", "red", "nir").index(key)


def _substring(line: LineString, start: float, end: float) -> LineString:
    from shapely.ops import substring

    return substring(line, max(0.0, start), min(line.length, end))
