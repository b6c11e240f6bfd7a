"""Rolling stock on the site's tracks: sizes, placement, and drawing at <= 1 m.

Dimensions (length over couplers; the body is ~1 m shorter, which is the visible gap between
coupled cars):

* 1520 mm freight cars are ~13.9-14.7 m over couplers for box and gondola cars, ~12-17 m for
  tank cars, 3.1-3.3 m wide (SENSOR.md, from Russian car specifications: box car 11-280
  14.73 m, gondola 12-132 13.92 m, tank car 15-150 12.02 m, container flat 13-470 19.62 m).
* Passenger coaches ~24.5 m (RZD 61-4440 family); a diesel locomotive section ~18-21 m
  (2TE116: 2 x 18.15 m).
* European yard stock: the 503 Muttenz outlines have a median of 14.5 x 2.7 m (SENSOR.md).

Heights set the length of a car's shadow (box/tank ~4.7 m, gondola ~3.5 m, flat ~1.3 m above the
rail head; Russian loading gauge Tc reaches 5.3 m).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, MultiPoint

from railwatch.simulate.model import Car, Train
from railwatch.simulate.spectra import Spectrum, pick_palette

__all__ = [
    "CAR_TYPES",
    "CarType",
    "car_pose",
    "make_cut",
    "make_train",
    "paint_cars",
]


@dataclass(frozen=True)
class CarType:
    name: str
    length_m: tuple[float, float]  # range over couplers
    width_m: float
    height_m: float
    load: str | None = None  # palette of a load drawn on the deck
    load_fraction: float = 0.0  # share of the car length the load covers


CAR_TYPES: dict[str, CarType] = {
    "box": CarType("box", (13.9, 14.7), 3.2, 4.7),
    "gondola": CarType("gondola", (13.9, 14.0), 3.2, 3.5),
    "tank": CarType("tank", (12.0, 17.0), 3.0, 4.6),
    "flat": CarType("flat", (14.6, 19.6), 2.9, 1.3),
    "container": CarType("container", (19.6, 19.6), 2.9, 4.0, "container", 0.63),
    "tarpaulin": CarType("tarpaulin", (14.6, 19.6), 2.9, 3.2, "tarpaulin", 0.8),
    "passenger": CarType("passenger", (24.0, 25.0), 3.1, 4.3),
    "locomotive": CarType("locomotive", (18.0, 21.0), 3.2, 5.0),
}
COUPLED_GAP_M = 1.0  # body-to-body gap of coupled cars (over-couplers minus body length)


def car_pose(line: LineString, s: float) -> tuple[float, float, float]:
    """(x, y, heading clockwise from north) of the point ``s`` metres along ``line``."""
    s = min(max(s, 0.0), line.length)
    p = line.interpolate(s)
    a = line.interpolate(max(0.0, s - 2.0))
    b = line.interpolate(min(line.length, s + 2.0))
    heading = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360.0
    return p.x, p.y, heading


def _draw_car(track: str, line: LineString, s_centre: float, car_type: str, length: float,
              rng: np.random.Generator, width_m: float | None, train: int | None) -> Car:
    spec = CAR_TYPES[car_type]
    x, y, heading = car_pose(line, s_centre)
    body = car_type if car_type not in ("container", "tarpaulin") else "flat"
    load = pick_palette(spec.load, rng) if spec.load else None
    return Car(track=track, type=car_type, length_m=round(length, 2),
               width_m=width_m or spec.width_m, height_m=spec.height_m, s=s_centre, x=x, y=y,
               heading_deg=heading, spectrum=pick_palette(body, rng), load_spectrum=load,
               load_length_m=round(length * spec.load_fraction, 2), train=train)


def make_cut(track: str, line: LineString, start_s: float, types: Sequence[str],
             rng: np.random.Generator, *, sign: int = 1, width_m: float | None = None,
             gap_m: float = COUPLED_GAP_M, lengths: Sequence[float] | None = None,
             train: int | None = None) -> list[Car]:
    """A string of coupled cars starting at ``start_s`` and running in direction ``sign``.

    Cars that would leave the line are dropped, so a cut never hangs off a track's end.
    """
    cars: list[Car] = []
    s = start_s
    for index, car_type in enumerate(types):
        low, high = CAR_TYPES[car_type].length_m
        over_couplers = lengths[index] if lengths is not None else float(rng.uniform(low, high))
        body = over_couplers - gap_m
        centre = s + sign * over_couplers / 2
        if not (over_couplers / 2 <= centre <= line.length - over_couplers / 2):
            break
        cars.append(_draw_car(track, line, centre, car_type, body, rng, width_m, train))
        s += sign * over_couplers
    return cars


def make_train(train_id: int, track: str, line: LineString, head_s: float, sign: int,
               speed_mps: float, wagon_types: Sequence[str], rng: np.random.Generator,
               *, locomotives: int = 1, kind: str = "through") -> tuple[Train, list[Car]]:
    """A train whose front is at ``head_s`` and which moves in direction ``sign`` along ``line``.

    The locomotive(s) lead; the wagons follow behind (towards ``-sign``).
    """
    types = ["locomotive"] * locomotives + list(wagon_types)
    cars = make_cut(track, line, head_s, types, rng, sign=-sign, train=train_id)
    length = sum(c.length_m + COUPLED_GAP_M for c in cars)
    train = Train(id=train_id, track=track, speed_mps=round(speed_mps, 2), sign=sign,
                  head_s=head_s, length_m=round(length, 1), cars=len(cars), kind=kind)
    return train, cars


def free_spans(line_length: float, taken: Iterable[tuple[float, float]], margin: float
               ) -> list[tuple[float, float]]:
    """The stretches of a track not yet occupied (``taken`` are (start, end) intervals)."""
    spans = []
    cursor = margin
    for start, end in sorted(taken):
        if start - margin > cursor:
            spans.append((cursor, start - margin))
        cursor = max(cursor, end + margin)
    if line_length - margin > cursor:
        spans.append((cursor, line_length - margin))
    return spans


# --- drawing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineGrid:
    """The <= 1 m truth raster: ``shape`` pixels of ``resolution`` m from (west, north)."""

    west: float
    north: float
    resolution: float
    shape: tuple[int, int]


def _bbox(grid: FineGrid, cx: float, cy: float, reach: float) -> tuple[int, int, int, int] | None:
    r = grid.resolution
    j0 = max(int((cx - reach - grid.west) / r), 0)
    j1 = min(int((cx + reach - grid.west) / r) + 1, grid.shape[1])
    i0 = max(int((grid.north - (cy + reach)) / r), 0)
    i1 = min(int((grid.north - (cy - reach)) / r) + 1, grid.shape[0])
    if j0 >= j1 or i0 >= i1:
        return None
    return i0, i1, j0, j1


def _coverage(grid: FineGrid, box: tuple[int, int, int, int], cx: float, cy: float, ux: float,
              uy: float, half_length: float, half_width: float) -> np.ndarray:
    """Area fraction of each pixel of ``box`` covered by a rotated rectangle (an edge-distance
    estimate, exact for edges parallel to the pixel grid)."""
    i0, i1, j0, j1 = box
    r = grid.resolution
    xs = grid.west + (np.arange(j0, j1) + 0.5) * r - cx
    ys = grid.north - (np.arange(i0, i1) + 0.5) * r - cy
    u = xs[None, :] * ux + ys[:, None] * uy
    v = -xs[None, :] * uy + ys[:, None] * ux
    fu = np.clip((half_length - np.abs(u)) / r + 0.5, 0.0, 1.0)
    fv = np.clip((half_width - np.abs(v)) / r + 0.5, 0.0, 1.0)
    return (fu * fv).astype(np.float32)


def paint_cars(bands: np.ndarray, grid: FineGrid, cars: Sequence[Car],
               shifts: Sequence[float], lines: dict[str, LineString],
               signs: dict[int, int], sun: tuple[float, float],
               shadow_light: Sequence[float]) -> None:
    """Draw shadows, then car bodies and loads, into ``bands`` (n, H, W) in place.

    ``shifts[b]`` is how far (metres) a moving car has travelled along its track at band ``b``'s
    sensing time; stationary cars (``train is None``) never move.  ``sun`` is (elevation,
    azimuth) in degrees; a car of height h casts a shadow h / tan(elevation) long away from the
    sun, in which only diffuse skylight (``shadow_light[b]`` of the full irradiance) remains.
    Masks are computed once per pose, so stationary cars cost the same for one band or four.
    """
    elevation, azimuth = sun
    shadow_per_m = 1.0 / math.tan(math.radians(max(elevation, 3.0)))
    away = math.radians(azimuth + 180.0)
    toward_shadow = (math.sin(away), math.cos(away))
    masks: dict[tuple[int, float], _CarMasks | None] = {}
    for band, shift in enumerate(shifts):
        drawn = []
        for index, car in enumerate(cars):
            moved = 0.0 if car.train is None else shift
            key = (index, moved)
            if key not in masks:
                if car.train is None or moved == 0.0:
                    pose = (car.x, car.y, car.heading_deg)
                else:
                    pose = car_pose(lines[car.track], car.s + signs[car.train] * moved)
                masks[key] = _car_masks(grid, car, pose, shadow_per_m * car.height_m,
                                        toward_shadow)
            drawn.append((car, masks[key]))
        target = bands[band]
        light = shadow_light[band]
        for _, mask in drawn:
            if mask is not None and mask.shadow is not None:
                i0, i1, j0, j1 = mask.shadow_box
                target[i0:i1, j0:j1] *= 1.0 - mask.shadow * (1.0 - light)
        for car, mask in drawn:
            if mask is None:
                continue
            i0, i1, j0, j1 = mask.box
            patch = target[i0:i1, j0:j1]
            patch += mask.body * (car.spectrum[band] - patch)
            if mask.load is not None and car.load_spectrum is not None:
                patch += mask.load * (car.load_spectrum[band] - patch)


@dataclass(frozen=True)
class _CarMasks:
    box: tuple[int, int, int, int]
    body: np.ndarray
    load: np.ndarray | None
    shadow_box: tuple[int, int, int, int]
    shadow: np.ndarray | None


def _car_masks(grid: FineGrid, car: Car, pose: tuple[float, float, float], shadow_m: float,
               toward_shadow: tuple[float, float]) -> _CarMasks | None:
    x, y, heading = pose
    ux, uy = math.sin(math.radians(heading)), math.cos(math.radians(heading))
    half_l, half_w = car.length_m / 2, car.width_m / 2
    box = _bbox(grid, x, y, math.hypot(half_l, half_w) + grid.resolution)
    if box is None:
        return None
    body = _coverage(grid, box, x, y, ux, uy, half_l, half_w)
    load = None
    if car.load_spectrum is not None and car.load_length_m > 0:
        load = _coverage(grid, box, x, y, ux, uy, car.load_length_m / 2, half_w - 0.2)
    sx, sy = toward_shadow[0] * shadow_m, toward_shadow[1] * shadow_m
    corners = [(x + a * ux * half_l - b * uy * half_w, y + a * uy * half_l + b * ux * half_w)
               for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    hull = MultiPoint(corners + [(cx + sx, cy + sy) for cx, cy in corners]).convex_hull
    shadow_box = _bbox(grid, x + sx / 2, y + sy / 2,
                       math.hypot(half_l, half_w) + shadow_m / 2 + grid.resolution)
    shadow = None
    if shadow_box is not None and hull.geom_type == "Polygon":
        shadow = _convex_coverage(grid, shadow_box, list(hull.exterior.coords)[:-1])
    return _CarMasks(box, body, load, shadow_box or box, shadow)


def _convex_coverage(grid: FineGrid, box: tuple[int, int, int, int],
                     vertices: list[tuple[float, float]]) -> np.ndarray:
    """Area fraction of each pixel inside a convex polygon (distance to the nearest edge)."""
    i0, i1, j0, j1 = box
    r = grid.resolution
    xs = (grid.west + (np.arange(j0, j1) + 0.5) * r)[None, :]
    ys = (grid.north - (np.arange(i0, i1) + 0.5) * r)[:, None]
    signed_area = sum(ax * by - bx * ay for (ax, ay), (bx, by)
                      in zip(vertices, vertices[1:] + vertices[:1], strict=True))
    orientation = 1.0 if signed_area > 0 else -1.0
    inside = np.full((i1 - i0, j1 - j0), np.inf, dtype=np.float32)
    for (ax, ay), (bx, by) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        ex, ey = bx - ax, by - ay
        norm = math.hypot(ex, ey)
        if norm == 0:
            continue
        # Inward normal for a counter-clockwise ring is (-ey, ex).
        nx, ny = -ey / norm * orientation, ex / norm * orientation
        np.minimum(inside, (xs - ax) * nx + (ys - ay) * ny, out=inside)
    return np.clip(inside / r + 0.5, 0.0, 1.0)


def car_spectrum_mean(car: Car) -> Spectrum:
    """The car's footprint-averaged spectrum (body and load), for quick checks."""
    if car.load_spectrum is None or car.load_length_m <= 0:
        return car.spectrum
    share = car.load_length_m / car.length_m
    return tuple((1 - share) * a + share * b for a, b in zip(car.spectrum, car.load_spectrum,
                                                             strict=True))  # type: ignore[return-value]
