"""The per-site sampling plan, computed once per site and raster grid and reused for every scene.

Two views of the same tracks:

* **Pixels, for counting.**  Every 10 m pixel whose centre lies within ``CORRIDOR_M`` of a track
  centreline belongs to the corridor.  Tracks closer than ``BUNDLE_GAP_M`` (yard tracks lie
  4.5-5 m apart, half a pixel) form a *bundle*, and the corridor of a bundle is cut into
  ``CELL_M`` long blocks across its whole width: a car's light spreads over the neighbouring
  tracks' pixels, but never out of its block's neighbourhood, so the block sums are what the
  unmixing (``occupancy``) inverts.  Each corridor pixel also carries its share of track bed
  (ballast) and its distance to every track of its bundle, for the per-track split.
* **Stations, for motion.**  A ladder of points every 2.5 m along each track with a short row
  across it (``geometry``), read by bilinear interpolation: band shifts of a few metres are
  measured on these profiles.

The cross-track footprint of a strip of width ``w`` is the strip blurred by the MSI point spread
function (a Gaussian of sigma 0.45 pixel: the 10 m bands' MTF at Nyquist is ~0.15-0.3, ESA
Sentinel-2 Data Quality Reports; Gascon et al. 2017, Remote Sensing 9(6):584) and integrated over
a 10 m pixel.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import LineString, Polygon

from railwatch.detect.geometry import TrackGeometry, track_geometry

__all__ = ["CORRIDOR_M", "PixelPlan", "TrackPlan", "Window", "footprint", "pixel_plan"]

# A car on the centreline still changes pixels whose centres are this far away: half a pixel
# diagonal (7 m) plus three PSF sigmas (13 m) would be 20 m, but beyond ~16 m the share is < 2 %.
CORRIDOR_M = 17.5
# Tracks closer than this are unmixed together (yard tracks 4.5-5 m apart; a main line beside a
# yard ~5-16 m).
BUNDLE_GAP_M = 9.0
CELL_M = 20.0
# Ground between this far and RING_OUTER_M from every track carries no rolling stock: it tells
# the haze and illumination of the scene near the tracks.
RING_INNER_M = 30.0
RING_OUTER_M = 150.0
# The ring's outer part, from which the haze is carried into its inner part to measure how well
# it carries over the corridor's distances (``core._reference_error``).
RING_FAR_M = 60.0
BED_WIDTH_M = 3.6  # ballast shoulders of one track (standard single-track formation ~3.2-4 m)
PSF_SIGMA_M = 4.5
PIXEL_M = 10.0
STEP_M = 2.5
STATION_HALF_WIDTH_M = 12.5


def footprint(offset_m: np.ndarray, width_m: float = 3.2) -> np.ndarray:
    """Share of a ``width_m`` strip at offset 0 seen by a pixel centred at ``offset_m`` across it,
    per metre of pixel width (the PSF and the 10 m box, 1-D; integrates to ``width_m``/10)."""
    fine = np.arange(-40.0, 40.0 + 1e-9, 0.25)
    shape = (np.abs(fine) <= width_m / 2).astype(float)
    for kernel in (np.exp(-0.5 * (fine / PSF_SIGMA_M) ** 2), (np.abs(fine) <= PIXEL_M / 2) * 1.0):
        shape = np.convolve(shape, kernel / kernel.sum(), mode="same")
    return np.interp(offset_m, fine, shape, left=0.0, right=0.0)


@dataclass(frozen=True)
class TrackPlan:
    """One track: its stations (motion, visibility) and where it sits among the pixels."""

    geometry: TrackGeometry
    station_pixel: np.ndarray  # (n,) flat index of the pixel under each station, -1 outside
    bundle: int

    @property
    def id(self) -> str:
        return self.geometry.track

    @property
    def length_m(self) -> float:
        return self.geometry.length_m


@dataclass(frozen=True)
class Window:
    """The rows and columns of the grid holding the corridor and the ring: the only part of a
    scene the ground and its haze are needed in (a third of the scene or less on the bench
    sites).  ``pixels``, ``ring`` and ``ring_far`` are the plan's, as flat indices inside it."""

    rows: tuple[int, int]  # start, stop
    cols: tuple[int, int]
    grid: tuple[int, int]  # shape of the whole grid
    pixels: np.ndarray
    ring: np.ndarray
    ring_far: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]

    def cut(self, values: np.ndarray) -> np.ndarray:
        """The window's part of ``values`` (..., grid pixels), (..., window pixels), a copy."""
        lead = values.shape[:-1]
        inside = values.reshape(*lead, *self.grid)[..., slice(*self.rows), slice(*self.cols)]
        return inside.reshape(*lead, -1)

    def paste(self, values: np.ndarray, into: np.ndarray) -> None:
        """Write ``values`` (..., window pixels) into their place in ``into`` (..., grid pixels),
        a contiguous array."""
        lead = into.shape[:-1]
        into.reshape(*lead, *self.grid)[..., slice(*self.rows), slice(*self.cols)] = (
            values.reshape(*lead, *self.shape))


@dataclass(frozen=True)
class PixelPlan:
    """The corridor pixels of a site on one grid, grouped into blocks."""

    key: tuple
    shape: tuple[int, int]
    tracks: tuple[TrackPlan, ...]
    pixels: np.ndarray  # (N,) flat indices of corridor pixels
    cell: np.ndarray  # (N,) block of each pixel
    bed_share: np.ndarray  # (N,) share of the pixel that is track bed (0..1)
    track_weight: np.ndarray  # (N, T) footprint of a car on each track at this pixel
    cell_azimuth: np.ndarray  # (C,) track direction in the block, degrees from north
    cell_gap: np.ndarray  # (C, 2) free width beside a car to the next track (left, right), m
    cell_length: np.ndarray  # (C,) track length the block holds, summed over its tracks, m
    cell_track_length: np.ndarray  # (C, T) track length of each track in the block, m
    cell_neighbours: np.ndarray  # (C, 2) the blocks before and after along the bundle, -1 none
    ring: np.ndarray  # flat indices of pixels near, but off, the tracks
    ring_far: np.ndarray  # the ring pixels at least RING_FAR_M from every track
    window: Window


_CACHE: OrderedDict[tuple, PixelPlan] = OrderedDict()


def pixel_plan(tracks_utm: dict[str, LineString], aoi: Polygon | None, transform: Affine,
               shape: tuple[int, int], *, site_id: str) -> PixelPlan:
    """The plan of ``tracks_utm`` on the grid (memoised: a site is seen on one grid for years)."""
    key = (site_id, tuple(transform)[:6], tuple(shape),
           tuple((k, v.wkb) for k, v in sorted(tracks_utm.items())),
           None if aoi is None else aoi.wkb)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    plan = _build(tracks_utm, aoi, transform, shape, key)
    _CACHE[key] = plan
    if len(_CACHE) > 16:
        _CACHE.popitem(last=False)
    return plan


def _bundles(lines: list[LineString]) -> list[int]:
    """Tracks closer than BUNDLE_GAP_M, transitively, share a bundle id."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if lines[i].distance(lines[j]) < BUNDLE_GAP_M:
                parent[root(i)] = root(j)
    roots = sorted({root(i) for i in range(len(lines))})
    return [roots.index(root(i)) for i in range(len(lines))]


def _build(tracks_utm: dict[str, LineString], aoi: Polygon | None, transform: Affine,
           shape: tuple[int, int], key: tuple) -> PixelPlan:
    rows, cols = shape
    names = list(tracks_utm)
    lines = [tracks_utm[n] for n in names]
    bundle_of = _bundles(lines)
    count = len(lines)
    # Pixel centres.
    jj, ii = np.meshgrid(np.arange(cols), np.arange(rows))
    xs = transform.c + (jj + 0.5) * transform.a + (ii + 0.5) * transform.b
    ys = transform.f + (jj + 0.5) * transform.d + (ii + 0.5) * transform.e
    points = shapely.points(xs.ravel(), ys.ravel())
    union = shapely.union_all(lines) if lines else None
    if union is None or rows < 2 or cols < 2:
        return _empty(key, shape)
    nearest_any = shapely.distance(points, union)
    inside_aoi = np.ones(rows * cols, dtype=bool) if aoi is None else shapely.contains_xy(
        aoi, xs.ravel(), ys.ravel())
    corridor = np.flatnonzero((nearest_any <= CORRIDOR_M) & inside_aoi)
    ring = np.flatnonzero((nearest_any >= RING_INNER_M) & (nearest_any <= RING_OUTER_M))
    ring_far = np.flatnonzero((nearest_any >= RING_FAR_M) & (nearest_any <= RING_OUTER_M))
    corridor_points = points[corridor]
    distance = np.stack([shapely.distance(corridor_points, line) for line in lines], axis=1)
    nearest = np.argmin(distance, axis=1)
    bed = np.clip(footprint(distance, BED_WIDTH_M).sum(axis=1), 0.0, 1.0)
    weight = footprint(distance, 3.0)
    # Blocks: along the longest track of each bundle.
    bundle_px = np.array(bundle_of)[nearest]
    reference = {}
    for b in set(bundle_of):
        members = [t for t in range(count) if bundle_of[t] == b]
        reference[b] = max(members, key=lambda t: lines[t].length)
    station = np.empty(len(corridor))
    for b, t in reference.items():
        mine = bundle_px == b
        station[mine] = shapely.line_locate_point(lines[t], corridor_points[mine])
    along = np.floor(station / CELL_M).astype(np.int64)
    keys = bundle_px * 1_000_000 + along
    unique, cell = np.unique(keys, return_inverse=True)
    cells = len(unique)
    # Azimuth, gaps and track length per block, from stations of its tracks.
    azimuth = np.zeros(cells)
    gap = np.full((cells, 2), np.inf)
    cell_track_length = np.zeros((cells, count))
    plans = []
    lookup = {k: i for i, k in enumerate(unique)}
    for t, (name, line) in enumerate(zip(names, lines, strict=True)):
        others = [lines[o] for o in range(count) if o != t]
        geometry = track_geometry(name, line, others, step_m=STEP_M,
                                  half_width_m=STATION_HALF_WIDTH_M)
        centre = geometry.points[:, len(geometry.offsets_m) // 2]
        inverse = ~transform
        col = np.floor(inverse.a * centre[:, 0] + inverse.b * centre[:, 1] + inverse.c
                       ).astype(np.int64)
        row = np.floor(inverse.d * centre[:, 0] + inverse.e * centre[:, 1] + inverse.f
                       ).astype(np.int64)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        if aoi is not None:
            inside &= shapely.contains_xy(aoi, centre[:, 0], centre[:, 1])
        station_pixel = np.where(inside, row * cols + col, -1)
        b = bundle_of[t]
        ref_station = shapely.line_locate_point(lines[reference[b]], shapely.points(centre))
        bins = np.floor(ref_station / CELL_M).astype(np.int64)
        step = geometry.stations_m[1] - geometry.stations_m[0] if len(centre) > 1 else 0.0
        normal = (geometry.points[:, -1] - geometry.points[:, 0])
        normal /= np.maximum(np.hypot(normal[:, 0], normal[:, 1]), 1e-9)[:, None]
        for index in np.unique(bins):
            c = lookup.get(int(b) * 1_000_000 + int(index))
            if c is None:
                continue
            here = (bins == index) & inside
            cell_track_length[c, t] += here.sum() * step
            if t == reference[b] or azimuth[c] == 0.0:
                azimuth[c] = float(np.median(geometry.azimuth_deg[bins == index]))
        # Free width beside this track to its neighbours, per side, at each station.
        for o in range(count):
            if o == t or lines[o].distance(line) > CORRIDOR_M:
                continue
            nearest_pt = shapely.line_interpolate_point(
                lines[o], shapely.line_locate_point(lines[o], shapely.points(centre)))
            delta = shapely.get_coordinates(nearest_pt) - centre
            across = (delta * normal).sum(axis=1)
            along_off = np.abs(delta[:, 0] * normal[:, 1] - delta[:, 1] * normal[:, 0])
            beside = (along_off < 2.0) & inside
            for side, sign in ((0, 1.0), (1, -1.0)):
                ok = beside & (sign * across > 0)
                for index in np.unique(bins[ok]):
                    c = lookup.get(int(b) * 1_000_000 + int(index))
                    if c is not None:
                        gap[c, side] = min(gap[c, side],
                                           float(np.median(np.abs(across[ok & (bins == index)]))))
        plans.append(TrackPlan(geometry, station_pixel, b))
    return PixelPlan(key=key, shape=shape, tracks=tuple(plans), pixels=corridor,
                     cell=cell.astype(np.int64), bed_share=bed.astype(np.float32),
                     track_weight=weight.astype(np.float32), cell_azimuth=azimuth,
                     cell_gap=gap, cell_length=cell_track_length.sum(axis=1),
                     cell_track_length=cell_track_length,
                     cell_neighbours=np.array([[lookup.get(int(k) - 1, -1), lookup.get(int(k) + 1, -1)]
                                               for k in unique], dtype=np.int64).reshape(-1, 2),
                     ring=ring, ring_far=ring_far, window=_window(corridor, ring, ring_far, shape))


def _window(corridor: np.ndarray, ring: np.ndarray, ring_far: np.ndarray,
            shape: tuple[int, int]) -> Window:
    cols = shape[1]
    row, col = np.divmod(np.union1d(corridor, ring), cols)
    if not len(row):
        return Window((0, 0), (0, 0), shape, corridor, ring, ring_far)
    rows, columns = (int(row.min()), int(row.max()) + 1), (int(col.min()), int(col.max()) + 1)

    def inside(pixels: np.ndarray) -> np.ndarray:
        row, col = np.divmod(pixels, cols)
        return (row - rows[0]) * (columns[1] - columns[0]) + (col - columns[0])

    return Window(rows, columns, shape, inside(corridor), inside(ring), inside(ring_far))


def _empty(key: tuple, shape: tuple[int, int]) -> PixelPlan:
    none = np.zeros(0, dtype=np.int64)
    return PixelPlan(key, shape, (), none, none, np.zeros(0, np.float32),
                     np.zeros((0, 0), np.float32), np.zeros(0), np.zeros((0, 2)), np.zeros(0),
                     np.zeros((0, 0)), np.zeros((0, 2), np.int64), none, none,
                     _window(none, none, none, shape))
