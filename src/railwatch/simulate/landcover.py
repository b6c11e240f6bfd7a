"""The land around the tracks at <= 1 m: fields, woods, the river, roads, buildings, track beds.

No open land-cover map of the North Korean sites exists at this resolution, so the land is drawn
from the site's own geometry (tracks, the border river) and smooth random fields, fixed per site
and seed: the same place looks the same in every scene of a run, only seasons, snow and weather
change it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio import features
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from railwatch.simulate.fields import fractal_field, upsample
from railwatch.simulate.spectra import LAND_BY_NAME
from railwatch.simulate.truth import FineGrid
from railwatch.sites import Site

__all__ = ["LandCover", "TRACK_BED_HALF_WIDTH_M", "draw_landcover"]

# Ballast bed of one track: ~3.2-4 m across the shoulders (standard single-track formation).
TRACK_BED_HALF_WIDTH_M = 1.8
CODE = {name: land.code for name, land in LAND_BY_NAME.items()}


@dataclass(frozen=True)
class LandCover:
    """Land-cover codes and a brightness texture (multiplier ~1) on a :class:`FineGrid`."""

    grid: FineGrid
    codes: np.ndarray
    texture: np.ndarray


def draw_landcover(site: Site, grid: FineGrid, seed: int, *, river_width_m: float = 0.0,
                   tracks: dict[str, LineString] | None = None) -> LandCover:
    """Draw the land cover of ``site`` on ``grid`` (deterministic for ``seed``)."""
    rng = np.random.default_rng([seed, _stable_hash(site.id)])
    tracks = site.tracks_utm if tracks is None else tracks
    height, width = grid.shape
    coarse = (max(8, math.ceil(height * grid.resolution / 8)),
              max(8, math.ceil(width * grid.resolution / 8)))
    fields_large = upsample(fractal_field(coarse, rng, outer_scale_px=40), grid.shape)
    fields_small = upsample(fractal_field(coarse, rng, outer_scale_px=6), grid.shape)
    woods_kind = upsample(fractal_field(coarse, rng, outer_scale_px=20), grid.shape)

    codes = np.full(grid.shape, CODE["grass"], dtype=np.uint8)
    codes[fields_large > 0.45] = CODE["soil"]
    trees = fields_large < -0.55
    codes[trees & (woods_kind > 0.3)] = CODE["conifer"]
    codes[trees & (woods_kind <= 0.3)] = CODE["deciduous"]
    codes[(fields_small > 1.6) & ~trees] = CODE["deciduous"]  # hedgerows and single trees

    transform = Affine(grid.resolution, 0, grid.west, 0, -grid.resolution, grid.north)
    frame = box(grid.west, grid.north - height * grid.resolution,
                grid.west + width * grid.resolution, grid.north)
    shapes: list[tuple[BaseGeometry, int]] = []
    if river_width_m > 0:
        river_line = site.to_utm(site.border.line)
        banks = river_line.buffer(river_width_m / 2 + 25.0)
        shapes.append((banks, CODE["soil"]))
        shapes.append((river_line.buffer(river_width_m / 2), CODE["water"]))
    lines = list(tracks.values())
    if lines:
        corridor = unary_union([line.buffer(12.0) for line in lines])
        shapes.append((corridor, CODE["grass"]))
        shapes.extend(_yard_ground(tracks))
        shapes.extend(_roads_and_buildings(tracks, rng))
        shapes.append((unary_union([line.buffer(TRACK_BED_HALF_WIDTH_M) for line in lines]),
                       CODE["track"]))
    shapes = [(geom.intersection(frame), code) for geom, code in shapes]
    shapes = [(geom, code) for geom, code in shapes if not geom.is_empty]
    if shapes:
        features.rasterize(shapes, out=codes, transform=transform)
    texture = (1.0 + 0.07 * fields_small + 0.04 * rng.standard_normal(grid.shape,
                                                                      dtype=np.float32))
    water = codes == CODE["water"]
    texture[water] = 1.0 + 0.01 * fields_small[water]
    return LandCover(grid=grid, codes=codes, texture=texture.astype(np.float32))


def _yard_ground(tracks: dict[str, LineString]) -> list[tuple[BaseGeometry, int]]:
    """Yards sit on a levelled gravel apron a few metres wider than their outer tracks."""
    yard_lines = [line for track_id, line in tracks.items() if not track_id.startswith("main")
                  and not track_id.startswith("bridge")]
    if len(yard_lines) < 2:
        return []
    apron = unary_union([line.buffer(6.0) for line in yard_lines]).convex_hull
    return [(apron, CODE["gravel"])]


def _roads_and_buildings(tracks: dict[str, LineString], rng: np.random.Generator
                         ) -> list[tuple[BaseGeometry, int]]:
    """A service road beside the main line, a station building and platform beside the yard,
    and a village of small houses within a few hundred metres."""
    shapes: list[tuple[BaseGeometry, int]] = []
    main = max(tracks.values(), key=lambda line: line.length)
    side = 1 if rng.random() < 0.5 else -1
    road = main.parallel_offset(35.0 * side, join_style=2)
    if not road.is_empty:
        shapes.append((road.buffer(3.5), CODE["gravel"]))
    yard = [line for track_id, line in tracks.items() if track_id.startswith("yard")]
    if yard:
        centroid = unary_union(yard).centroid
        outer = max(yard, key=lambda line: side * _signed_offset(main, line))
        s = outer.project(centroid)
        p = outer.interpolate(s)
        a, b = outer.interpolate(max(0.0, s - 5)), outer.interpolate(min(outer.length, s + 5))
        ux, uy = (b.x - a.x), (b.y - a.y)
        norm = math.hypot(ux, uy) or 1.0
        ux, uy = ux / norm, uy / norm
        nx, ny = -uy * side, ux * side
        shapes.append((_oriented_box(p.x + nx * 9, p.y + ny * 9, ux, uy, 220.0, 6.0),
                       CODE["concrete"]))
        shapes.append((_oriented_box(p.x + nx * 30, p.y + ny * 30, ux, uy, 60.0, 16.0),
                       CODE["roof"]))
        for _ in range(int(rng.integers(25, 45))):
            along = rng.uniform(-500, 500)
            across = side * rng.uniform(70, 380)
            cx = p.x + ux * along + nx * across
            cy = p.y + uy * along + ny * across
            w, h = rng.uniform(7, 14), rng.uniform(6, 10)
            shapes.append((_oriented_box(cx, cy, ux, uy, w, h), CODE["roof"]))
        street = LineString([(p.x + nx * 60 - ux * 500, p.y + ny * 60 - uy * 500),
                             (p.x + nx * 60 + ux * 500, p.y + ny * 60 + uy * 500)])
        shapes.insert(0, (street.buffer(3.0), CODE["gravel"]))
    return shapes


def _signed_offset(main: LineString, line: LineString) -> float:
    mid = line.interpolate(0.5, normalized=True)
    s = main.project(mid)
    a, b = main.interpolate(max(0.0, s - 5)), main.interpolate(min(main.length, s + 5))
    return (b.x - a.x) * (mid.y - a.y) - (b.y - a.y) * (mid.x - a.x)


def _oriented_box(cx: float, cy: float, ux: float, uy: float, length: float, width: float
                  ) -> Polygon:
    hx, hy = ux * length / 2, uy * length / 2
    wx, wy = -uy * width / 2, ux * width / 2
    return Polygon([(cx - hx - wx, cy - hy - wy), (cx + hx - wx, cy + hy - wy),
                    (cx + hx + wx, cy + hy + wy), (cx - hx + wx, cy - hy + wy)])


def _stable_hash(text: str) -> int:
    """A process-independent hash (Python's ``hash`` of str is salted per process)."""
    value = 0
    for char in text.encode():
        value = (value * 131 + char) % (2**31 - 1)
    return value
