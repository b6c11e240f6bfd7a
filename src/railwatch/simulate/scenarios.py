"""Scenarios: a few lines of data that say how a site's traffic and weather unfold.

A scenario file (``railwatch/data/scenarios/NAME.toml``) gives the yard occupancy over time
(linear between dated knots, each with its source), the car-type mix before and after a date,
train crossings per day by direction, shunting, the cloud climate per month and the snow months.
This module validates it once and turns it into one :class:`SceneState` per Sentinel-2
acquisition, deterministic for a seed (each scene's randomness depends only on the seed and its
date, so a shorter window reproduces the same scenes).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any

import numpy as np
from shapely.geometry import Point

from railwatch.errors import UserInputError
from railwatch.simulate.model import Acquisition, Car, SceneState, Train, Weather
from railwatch.simulate.truth import COUPLED_GAP_M, free_spans, make_cut, make_train
from railwatch.sites import Site

__all__ = ["Scenario", "acquisitions", "available_scenarios", "load_scenario", "scene_states"]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MOVING_TRACK_PREFIXES = ("main", "bridge")


class ScenarioError(UserInputError):
    """A scenario that is unknown or does not validate."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    site: str
    start: date
    end: date
    river_width_m: float
    overpass_utc: time
    first_acquisition: date
    first_platform: str
    revisit_days: int
    occupancy: tuple[tuple[date, float, float], ...]
    mix_before: Mapping[str, float]
    mix_after: Mapping[str, float]
    mix_change: date
    train_periods: tuple[tuple[date, float, float], ...]  # start, per day towards +, towards -
    train_speed_mps: tuple[float, float]
    train_wagons: tuple[int, int]
    train_mix: Mapping[str, float]
    shunting: tuple[tuple[date, float], ...]
    clouds: Mapping[int, tuple[float, float, float]]
    snow: Mapping[int, float]
    sites: tuple[str, ...] = ()
    # Optional measured car sizes (the yard scenario's Muttenz statistics).
    car_length_quantiles_m: tuple[float, ...] = ()
    car_width_m: float | None = None
    coupled_gap_m: float = COUPLED_GAP_M

    def occupancy_on(self, day: date) -> tuple[float, float]:
        """(mean, max) cars standing on the site's yard tracks on ``day``."""
        knots = self.occupancy
        if day <= knots[0][0]:
            return knots[0][1], knots[0][2]
        for (d0, m0, x0), (d1, m1, x1) in zip(knots, knots[1:], strict=False):
            if d0 <= day <= d1:
                f = (day - d0).days / max((d1 - d0).days, 1)
                return m0 + f * (m1 - m0), x0 + f * (x1 - x0)
        return knots[-1][1], knots[-1][2]

    def trains_per_day(self, day: date) -> tuple[float, float]:
        rate = (0.0, 0.0)
        for start, forward, backward in self.train_periods:
            if day >= start:
                rate = (forward, backward)
        return rate

    def shunting_probability(self, day: date) -> float:
        value = 0.0
        for start, probability in self.shunting:
            if day >= start:
                value = probability
        return value


def available_scenarios() -> list[str]:
    folder = resources.files("railwatch") / "data" / "scenarios"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".toml"))


def load_scenario(name: str) -> Scenario:
    """Read and validate the built-in scenario ``name``."""
    known = available_scenarios()
    if name not in known:
        raise ScenarioError(f"unknown scenario {name!r}", hint=f"known scenarios: {', '.join(known)}")
    entry = resources.files("railwatch") / "data" / "scenarios" / f"{name}.toml"
    origin = f"scenario {name}.toml"
    try:
        raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        return _parse(raw, origin)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise ScenarioError(f"{origin}: {err.__class__.__name__}: {err}",
                            hint="fix the scenario file (format in docs/simulate.md)") from err


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _parse(raw: dict[str, Any], origin: str) -> Scenario:
    occupancy = tuple(sorted((_day(k[0]), float(k[1]), float(k[2]))
                             for k in raw["occupancy"]["knots"]))
    mix = raw["mix"]
    trains = raw["trains"]
    clouds: dict[int, tuple[float, float, float]] = {}
    for month, shares in raw["clouds"].items():
        values = [float(v) for v in shares]
        if len(values) != 3 or abs(sum(values) - 1.0) > 1e-6:
            raise ValueError(f"clouds.{month} must be [clear, partly, overcast] summing to 1")
        clouds[MONTHS.index(month) + 1] = (values[0], values[1], values[2])
    if sorted(clouds) != list(range(1, 13)):
        raise ValueError("clouds must give [clear, partly, overcast] for every month jan..dec")
    snow = {MONTHS.index(m) + 1: float(p) for m, p in raw.get("snow", {}).items()}
    layout = raw.get("layout", {})
    scenario = Scenario(
        name=str(raw["name"]), description=str(raw.get("description", "")), site=str(raw["site"]),
        start=_day(raw["start"]), end=_day(raw["end"]),
        river_width_m=float(raw.get("river_width_m", 0.0)),
        overpass_utc=time.fromisoformat(str(raw["overpass_utc"])),
        first_acquisition=_day(raw["first_acquisition"]),
        first_platform=str(raw["first_platform"]), revisit_days=int(raw["revisit_days"]),
        occupancy=occupancy,
        mix_before=_fractions(mix["before"]), mix_after=_fractions(mix["after"]),
        mix_change=_day(mix["change"]),
        train_periods=tuple(sorted((_day(p["start"]), float(p["forward"]), float(p["backward"]))
                                   for p in trains["periods"])),
        train_speed_mps=(float(trains["speed_mps"][0]), float(trains["speed_mps"][1])),
        train_wagons=(int(trains["wagons"][0]), int(trains["wagons"][1])),
        train_mix=_fractions(trains["mix"]),
        shunting=tuple(sorted((_day(p["start"]), float(p["probability"]))
                              for p in raw.get("shunting", {}).get("periods", []))),
        clouds=clouds, snow=snow, sites=tuple(raw.get("sites", [raw["site"]])),
        car_length_quantiles_m=tuple(float(v) for v in layout.get("car_length_quantiles_m", ())),
        car_width_m=float(layout["car_width_m"]) if "car_width_m" in layout else None,
        coupled_gap_m=float(layout.get("coupled_gap_m", COUPLED_GAP_M)),
    )
    if scenario.end < scenario.start:
        raise ValueError("end is before start")
    return scenario


def _fractions(table: Mapping[str, Any]) -> dict[str, float]:
    from railwatch.simulate.truth import CAR_TYPES

    unknown = set(table) - set(CAR_TYPES)
    if unknown:
        raise ValueError(f"unknown car types {sorted(unknown)}; use {sorted(CAR_TYPES)}")
    total = sum(float(v) for v in table.values())
    return {k: float(v) / total for k, v in table.items()}


# --- acquisitions -------------------------------------------------------------------------------


def acquisitions(scenario: Scenario, tile: str, start: date, end: date) -> list[Acquisition]:
    """Sentinel-2 overpasses of ``tile`` between ``start`` and ``end`` (inclusive).

    Sentinel-2A and -2B fly the same orbit 180 degrees apart, each repeating every 10 days, so a
    tile is seen every 5 days by alternating satellites (ESA Sentinel-2 User Handbook).  The
    phase (``first_acquisition``) and the platform of that day come from the scenario.
    """
    step = scenario.revisit_days
    offset = (start - scenario.first_acquisition).days
    k = math.ceil(offset / step)
    out = []
    other = {"sentinel-2a": "sentinel-2b", "sentinel-2b": "sentinel-2a"}
    while True:
        day = scenario.first_acquisition + timedelta(days=k * step)
        if day > end:
            break
        platform = scenario.first_platform if k % 2 == 0 else other.get(
            scenario.first_platform, scenario.first_platform)
        rng = np.random.default_rng([day.toordinal(), 11])
        jitter = timedelta(seconds=float(rng.uniform(-25, 25)))
        when = datetime.combine(day, scenario.overpass_utc, tzinfo=UTC) + jitter
        out.append(Acquisition(datetime=when.replace(microsecond=when.microsecond // 1000 * 1000),
                               platform=platform, tile=tile))
        k += 1
    return out


# --- states -------------------------------------------------------------------------------------


def scene_states(scenario: Scenario, site: Site, acqs: list[Acquisition], seed: int
                 ) -> list[SceneState]:
    """One :class:`SceneState` per acquisition: cars, trains and weather drawn for its date."""
    return [scene_state_for(scenario, site, acq, seed) for acq in acqs]


def scene_state_for(scenario: Scenario, site: Site, acq: Acquisition, seed: int) -> SceneState:
    day = acq.datetime.date()
    rng = np.random.default_rng([seed, day.toordinal()])
    weather = _weather(scenario, day, rng)
    lines = site.tracks_utm
    # Standing stock belongs on yard tracks and sidings; a site that is only a running line (the
    # bridge) has none, rather than the yard's occupancy parked on its single track.
    yard_tracks = [t for t in lines if not t.startswith(MOVING_TRACK_PREFIXES)]
    mix = scenario.mix_after if day >= scenario.mix_change else scenario.mix_before
    mean, most = scenario.occupancy_on(day)
    wanted = int(np.clip(round(rng.normal(mean, 0.15 * mean + 1.0)), 0, most)) if yard_tracks else 0
    cars, taken = _stationary(scenario, lines, yard_tracks, wanted, mix, rng)
    trains: list[Train] = []
    moving_tracks = [t for t in lines if t.startswith(MOVING_TRACK_PREFIXES)]
    forward_rate, backward_rate = scenario.trains_per_day(day)
    for track_id in moving_tracks[:1]:
        line = lines[track_id]
        for sign, rate in ((1, forward_rate), (-1, backward_rate)):
            speed = float(rng.uniform(*scenario.train_speed_mps))
            wagons = int(rng.integers(scenario.train_wagons[0], scenario.train_wagons[1] + 1))
            length = wagons * 14.5 + 20.0
            # Expected trains in view = rate x time spent on the line's visible length.
            in_view_s = (line.length + length) / speed
            for _ in range(int(rng.poisson(rate * in_view_s / 86_400.0))):
                head = float(rng.uniform(0.0, line.length + length))
                head_s = head if sign > 0 else line.length - head
                types = _draw_types(scenario.train_mix, wagons, rng)
                train, train_cars = make_train(len(trains) + 1, track_id, line, head_s, sign,
                                               speed, types, rng)
                if train_cars:
                    trains.append(train)
                    cars.extend(train_cars)
    if yard_tracks and rng.random() < scenario.shunting_probability(day):
        track_id = yard_tracks[int(rng.integers(len(yard_tracks)))]
        line = lines[track_id]
        spans = free_spans(line.length, taken.get(track_id, []), 20.0)
        spans = [s for s in spans if s[1] - s[0] > 120.0]
        if spans:
            lo, hi = spans[int(rng.integers(len(spans)))]
            sign = 1 if rng.random() < 0.5 else -1
            cut = int(rng.integers(3, 16))
            types = _draw_types(mix, cut, rng)
            head_s = float(rng.uniform(lo + (hi - lo) * 0.6, hi)) if sign > 0 else float(
                rng.uniform(lo, lo + (hi - lo) * 0.4))
            train, train_cars = make_train(len(trains) + 1, track_id, line, head_s, sign,
                                           float(rng.uniform(1.0, 4.0)), types, rng,
                                           kind="shunting")
            if train_cars:
                trains.append(train)
                cars.extend(train_cars)
    return SceneState(site_id=site.id, acquisition=acq, cars=tuple(cars), trains=tuple(trains),
                      weather=weather, seed=int(rng.integers(2**31)))


def _draw_types(mix: Mapping[str, float], count: int, rng: np.random.Generator) -> list[str]:
    names = list(mix)
    weights = np.array([mix[n] for n in names])
    weights = weights / weights.sum()
    # Real cuts are runs of the same type (a block of tank cars, a block of ore cars).
    types: list[str] = []
    while len(types) < count:
        kind = names[int(rng.choice(len(names), p=weights))]
        types.extend([kind] * int(rng.integers(2, 12)))
    return types[:count]


def _stationary(scenario: Scenario, lines: Mapping[str, Any], yard_tracks: list[str],
                wanted: int, mix: Mapping[str, float], rng: np.random.Generator
                ) -> tuple[list[Car], dict[str, list[tuple[float, float]]]]:
    """Cuts of coupled cars on yard tracks, placed without overlap until ``wanted`` stand."""
    cars: list[Car] = []
    taken: dict[str, list[tuple[float, float]]] = {}
    attempts = 0
    stock = [t for t in mix if t != "locomotive"] or list(mix)
    while len(cars) < wanted and attempts < 200:
        attempts += 1
        track_id = yard_tracks[int(rng.integers(len(yard_tracks)))]
        line = lines[track_id]
        size = min(wanted - len(cars), int(rng.integers(4, 36)))
        types = _draw_types({k: mix[k] for k in stock}, size, rng)
        if "locomotive" in mix and rng.random() < mix["locomotive"] * 8:
            types = ["locomotive"] + types[:-1]
        need = size * 16.0
        spans = [s for s in free_spans(line.length, taken.get(track_id, []), 6.0)
                 if s[1] - s[0] > need]
        if not spans:
            continue
        lo, hi = spans[int(rng.integers(len(spans)))]
        start = float(rng.uniform(lo, hi - need))
        lengths = None
        if scenario.car_length_quantiles_m:
            quantiles = scenario.car_length_quantiles_m
            bodies = np.interp(rng.uniform(0, len(quantiles) - 1, size),
                               np.arange(len(quantiles)), quantiles)
            lengths = [float(b) + scenario.coupled_gap_m for b in bodies]
        cut = make_cut(track_id, line, start, types, rng, gap_m=scenario.coupled_gap_m,
                       lengths=lengths, width_m=scenario.car_width_m)
        if not cut:
            continue
        end = start + sum(c.length_m + scenario.coupled_gap_m for c in cut)
        taken.setdefault(track_id, []).append((start, end))
        cars.extend(cut)
    return cars, taken


def _weather(scenario: Scenario, day: date, rng: np.random.Generator) -> Weather:
    clear, partly, _ = scenario.clouds[day.month]
    draw = rng.random()
    if draw < clear:
        cover = 0.0
    elif draw < clear + partly:
        cover = float(rng.uniform(0.05, 0.6))
    else:
        cover = float(rng.uniform(0.85, 1.0))
    haze = float(rng.uniform(0.0, 0.06)) if rng.random() < 0.35 else 0.0
    snowy = rng.random() < scenario.snow.get(day.month, 0.0)
    angle = rng.uniform(0, 2 * math.pi)
    wind = float(rng.uniform(0, 15))
    return Weather(cloud_cover=round(cover, 3), cloud_height_m=float(rng.uniform(800, 4000)),
                   haze=round(haze, 3), snow=round(float(rng.uniform(0.5, 1.0)), 3) if snowy
                   else 0.0, snow_age_days=float(rng.uniform(1, 20)),
                   wind_mps=(wind * math.sin(angle), wind * math.cos(angle)))


def inside(site: Site, car: Car) -> bool:
    return site.aoi_utm.contains(Point(car.x, car.y))
