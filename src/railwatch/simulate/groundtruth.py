"""The ground-truth record of a rendered scene (the ``truth.json`` of CONTRACTS.md, and more).

Positions are UTM metres in the site's EPSG at the B02 sensing time (the item's ``datetime``);
headings are degrees clockwise from north in the direction of travel (for standing cars, along
the track line's vertex order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from shapely.geometry import Point

from railwatch.simulate.model import Train
from railwatch.simulate.render import RenderedScene
from railwatch.simulate.sensor import BAND_LAGS_S
from railwatch.simulate.truth import car_pose
from railwatch.sites import Site

__all__ = ["CLOUD_OPACITY_THRESHOLD", "truth_record"]

# A track pixel counts as clouded where the cloud hides more than a third of the ground, the
# SCL medium-probability threshold of the simulator.
CLOUD_OPACITY_THRESHOLD = 0.35


def truth_record(site: Site, scene: RenderedScene, *, scenario: str | None = None,
                 seed: int | None = None) -> dict[str, Any]:
    """The ground truth of ``scene`` as a JSON-ready dict."""
    state = scene.state
    aoi = site.aoi_utm
    lines = site.tracks_utm
    cars = []
    inside_total = inside_standing = 0
    for car in state.cars:
        inside = aoi.contains(Point(car.x, car.y))
        moving = car.train is not None
        if inside:
            inside_total += 1
            inside_standing += 0 if moving else 1
        heading = car.heading_deg
        if moving:
            train = next(t for t in state.trains if t.id == car.train)
            heading = (heading + (0.0 if train.sign > 0 else 180.0)) % 360.0
        cars.append({
            "track": car.track, "type": car.type, "length_m": car.length_m,
            "width_m": car.width_m, "x": round(car.x, 2), "y": round(car.y, 2),
            "heading_deg": round(heading, 2), "moving": moving, "train": car.train,
            "s_m": round(car.s, 2), "inside_aoi": inside,
        })
    trains = [_train_record(site, train, lines[train.track]) for train in state.trains]
    cloud = scene.sky.cloud
    union = np.zeros(cloud.shape, dtype=bool)
    by_track = {}
    for track_id, mask in scene.track_masks.items():
        union |= mask
        by_track[track_id] = _fraction(cloud, mask)
    weather = state.weather
    return {
        "item": state.acquisition.item_id,
        "site": site.id,
        "datetime": state.acquisition.datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "simulated": True,
        "scenario": scenario,
        "seed": seed,
        "platform": state.acquisition.platform,
        "cars_total": inside_total,
        "cars_stationary": inside_standing,
        "cloud_fraction_tracks": _fraction(cloud, union),
        "cloud_fraction_by_track": by_track,
        "cloud_cover": round(float((cloud > CLOUD_OPACITY_THRESHOLD).mean()), 4),
        "haze": weather.haze,
        "snow": weather.snow >= 0.3,
        "wet": weather.wet,
        "snow_fraction": weather.snow,
        "sun_elevation_deg": round(scene.sun[0], 3),
        "sun_azimuth_deg": round(scene.sun[1], 3),
        "band_lags_s": dict(BAND_LAGS_S),
        "epsg": scene.epsg,
        "moving_trains": trains,
        "cars": cars,
    }


def _train_record(site: Site, train: Train, line: Any) -> dict[str, Any]:
    hx, hy, heading = car_pose(line, train.head_s)
    heading = (heading + (0.0 if train.sign > 0 else 180.0)) % 360.0
    tx, ty, _ = car_pose(line, train.head_s - train.sign * train.length_m)
    return {
        "id": train.id, "track": train.track, "kind": train.kind,
        "speed_mps": train.speed_mps, "heading_deg": round(heading, 2),
        "direction": site.direction(hx, hy, heading), "length_m": train.length_m,
        "cars": train.cars, "head_s_m": round(train.head_s, 2), "sign": train.sign,
        "head_x": round(hx, 2), "head_y": round(hy, 2), "tail_x": round(tx, 2),
        "tail_y": round(ty, 2),
    }


def _fraction(cloud: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return 0.0
    return round(float((cloud[mask] > CLOUD_OPACITY_THRESHOLD).mean()), 4)
