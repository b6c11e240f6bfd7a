"""Where to look: sample points along each track, computed once per site and raster grid.

Every track becomes a ladder of stations every ``step_m`` metres (sub-pixel, so that band shifts
of a few metres can be measured), each with a short row of points across the track (the corridor:
the digitised centreline may be off by a few metres) and points on the ballast beside the track,
outside every other track of the site (the background when no history of the site exists).
For each point we keep the four pixel indices and bilinear weights, so that sampling a scene is a
gather and a weighted sum: no geometry work per scene.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import LineString

__all__ = ["GridSampler", "TrackGeometry", "track_geometry", "sampler_for"]

# Ballast "beside" a track must be this far from the centre of every track: half a 10 m pixel,
# plus the ~3.2 m car width (SENSOR.md) and the point spread, so no car bleeds into it.
_BESIDE_CLEARANCE_M = 12.5
_BESIDE_SEARCH_M = np.arange(12.5, 62.5, 2.5)


@dataclass(frozen=True)
class TrackGeometry:
    """Sample points of one track in world coordinates (metres, the site's UTM zone)."""

    track: str
    line: LineString
    stations_m: np.ndarray  # (n,)
    offsets_m: np.ndarray  # (m,) across the track, positive to the left
    points: np.ndarray  # (n, m, 2) corridor points
    beside: np.ndarray  # (n, 2, 2) two ballast points per station, one per side (NaN if none)
    azimuth_deg: np.ndarray  # (n,) heading of increasing station, clockwise from north
    neighbour_m: float  # distance to the nearest other track (inf when alone)

    @property
    def length_m(self) -> float:
        return float(self.line.length)


@dataclass(frozen=True)
class GridSampler:
    """Bilinear gather indices of a set of points on one raster grid."""

    index: np.ndarray  # (..., 4) flat pixel indices
    weight: np.ndarray  # (..., 4)
    inside: np.ndarray  # (...) all four neighbours inside the raster
    nearest: np.ndarray  # (...) flat index of the nearest pixel (for the SCL class)

    def sample(self, stack: np.ndarray) -> np.ndarray:
        """``stack`` (bands, rows*cols) -> (bands, ...) bilinear values, NaN outside."""
        values = np.einsum("b...k,...k->b...", stack[:, self.index], self.weight)
        values[:, ~self.inside] = np.nan
        return values


def track_geometry(track_id: str, line: LineString, others: list[LineString], *, step_m: float,
                   half_width_m: float) -> TrackGeometry:
    """Stations, corridor and ballast points of one track."""
    count = max(2, int(math.floor(line.length / step_m)) + 1)
    stations = np.linspace(0.0, line.length, count)
    centre = np.array([(p.x, p.y) for p in shapely.line_interpolate_point(line, stations)])
    ahead = np.array([(p.x, p.y) for p in shapely.line_interpolate_point(
        line, np.clip(stations + step_m, 0, line.length))])
    behind = np.array([(p.x, p.y) for p in shapely.line_interpolate_point(
        line, np.clip(stations - step_m, 0, line.length))])
    tangent = ahead - behind
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)  # left of the direction of travel
    offsets = np.arange(-half_width_m, half_width_m + 1e-9, step_m)
    points = centre[:, None, :] + offsets[None, :, None] * normal[:, None, :]
    azimuth = np.degrees(np.arctan2(tangent[:, 0], tangent[:, 1])) % 360.0

    beside = np.full((count, 2, 2), np.nan)
    neighbour = math.inf
    if others:
        union = shapely.union_all(others)
        neighbour = float(min(o.distance(line.interpolate(0.5, normalized=True)) for o in others))
    for side, sign in enumerate((1.0, -1.0)):
        candidates = centre[:, None, :] + sign * _BESIDE_SEARCH_M[None, :, None] * normal[:, None, :]
        if others:
            clearance = shapely.distance(shapely.points(candidates), union)
            usable = clearance >= _BESIDE_CLEARANCE_M
        else:
            usable = np.ones(candidates.shape[:2], dtype=bool)
        first = np.argmax(usable, axis=1)
        found = usable[np.arange(count), first]
        beside[found, side] = candidates[np.arange(count), first][found]
    return TrackGeometry(track_id, line, stations, offsets, points, beside, azimuth, neighbour)


def _bilinear(points: np.ndarray, transform: Affine, shape: tuple[int, int]) -> GridSampler:
    rows, cols = shape
    inverse = ~transform
    x, y = points[..., 0], points[..., 1]
    col = inverse.a * x + inverse.b * y + inverse.c - 0.5  # pixel centres sit at +0.5
    row = inverse.d * x + inverse.e * y + inverse.f - 0.5
    finite = np.isfinite(col) & np.isfinite(row)
    col = np.where(finite, col, -10.0)
    row = np.where(finite, row, -10.0)
    c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    fc, fr = col - c0, row - r0
    inside = finite & (c0 >= 0) & (r0 >= 0) & (c0 + 1 < cols) & (r0 + 1 < rows)
    c0c, r0c = np.clip(c0, 0, cols - 2), np.clip(r0, 0, rows - 2)
    base = r0c * cols + c0c
    index = np.stack([base, base + 1, base + cols, base + cols + 1], axis=-1)
    weight = np.stack([(1 - fc) * (1 - fr), fc * (1 - fr), (1 - fc) * fr, fc * fr], axis=-1)
    near_c = np.clip(np.rint(col).astype(np.int64), 0, cols - 1)
    near_r = np.clip(np.rint(row).astype(np.int64), 0, rows - 1)
    return GridSampler(index, weight.astype(np.float32), inside, near_r * cols + near_c)


_CACHE: OrderedDict[tuple, tuple[GridSampler, GridSampler]] = OrderedDict()
_CACHE_SIZE = 64


def sampler_for(geometry: TrackGeometry, transform: Affine, shape: tuple[int, int], *,
                site_key: tuple) -> tuple[GridSampler, GridSampler]:
    """Gather indices of a track's corridor and ballast points on one grid.

    Memoised on (site geometry, track, grid): a site is watched through many scenes on the same
    tile grid, and this is the only costly step of sampling.
    """
    key = (site_key, geometry.track, tuple(transform)[:6], tuple(shape))
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    rows, cols = shape
    if rows < 2 or cols < 2:
        empty = np.zeros(geometry.points.shape[:2] + (4,), dtype=np.int64)
        none = GridSampler(empty, empty.astype(np.float32), np.zeros(empty.shape[:2], bool),
                           empty[..., 0])
        empty_b = np.zeros(geometry.beside.shape[:2] + (4,), dtype=np.int64)
        none_b = GridSampler(empty_b, empty_b.astype(np.float32),
                             np.zeros(empty_b.shape[:2], bool), empty_b[..., 0])
        return none, none_b
    result = (_bilinear(geometry.points, transform, shape),
              _bilinear(geometry.beside, transform, shape))
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result
