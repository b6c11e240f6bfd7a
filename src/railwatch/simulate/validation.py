"""Checks of the simulator against real Sentinel-2 data: the moving-truck colour fringe.

The real chip ``s2td/S2_test_data.tif`` (Fisser et al. 2022 test data: B04, B03, B02, B08 as
8-bit-style values, 10 m, a German motorway) shows trucks as blue-green-red pixel runs.  We
simulate the same situation with the simulator's own physics (trucks drawn at <= 1 m at their
per-band positions, PSF, 10 m integration, noise) and compare the spectral signature of the
fringe pixels.  Because the chip is not in reflectance units, both are compared as robust
z-scores against their road's own median and spread (scale- and offset-free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from shapely.geometry import LineString

from railwatch.simulate.model import Car
from railwatch.simulate.sensor import BAND_LAGS_S, BANDS, MTF_NYQUIST, Integrator, add_noise, psf_sigma_m
from railwatch.simulate.truth import FineGrid, paint_cars

__all__ = ["FringeSignature", "fringe_signature", "real_chip_signature", "simulated_truck_signature"]

# The motorway in the real chip: row = 5 + 0.357 x column (fitted by eye to the asphalt's low
# NIR), carriageways within rows -2..+1 of that line (~40 m).
REAL_ROAD = (5.0, 0.357, -2.0, 1.0)
# Heavy goods vehicles: articulated (EU maximum 16.5 m, a 13.6 m semi-trailer) or rigid (~8-12 m
# box body), 2.55 m wide (Directive 96/53/EC), ~4 m high; roofs mostly white or light grey; the
# cab is a coloured 2-3 m block.  80-90 km/h (EU truck limit 80 km/h, limiters at 90 km/h,
# Directive 92/6/EEC).
TRUCK_SHAPES = ((0.6, 16.5, 13.6), (0.4, 10.0, 7.5))  # (share, length, roof length)
TRUCK_WIDTH_M, TRUCK_HEIGHT_M = 2.55, 4.0
CAB = (0.10, 0.10, 0.14, 0.22)
TRUCK_ROOFS = ((0.6, (0.50, 0.52, 0.53, 0.55)), (0.25, (0.30, 0.31, 0.32, 0.34)),
               (0.15, (0.08, 0.10, 0.22, 0.30)))
TRUCK_SPEED_MPS = (22.0, 25.0)
ASPHALT = (0.08, 0.09, 0.10, 0.12)
VERGE = (0.04, 0.08, 0.05, 0.35)
Z_THRESHOLD = 2.5


@dataclass(frozen=True)
class FringeSignature:
    """Mean robust z-scores (B02, B03, B04, B08) at blue- and red-dominant road pixels, their
    counts, and the median distance (pixels) from a blue pixel to the nearest red pixel ahead."""

    blue_pixels: int
    red_pixels: int
    at_blue: tuple[float, float, float, float]
    at_red: tuple[float, float, float, float]
    blue_to_red_px: float

    def shape(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The signatures divided by their dominant band (blue at blue pixels, red at red
        pixels): comparable across chips whose noise and clutter differ."""
        blue = tuple(round(v / self.at_blue[0], 2) for v in self.at_blue)
        red = tuple(round(v / self.at_red[2], 2) for v in self.at_red)
        return blue, red


def fringe_signature(bands: dict[str, np.ndarray], road: np.ndarray,
                     direction: tuple[float, float]) -> FringeSignature:
    """Find blue- and red-dominant pixels on the ``road`` mask and summarise them.

    ``direction`` (column, row) is the road's axis; a blue pixel is matched with the nearest red
    pixel within 4 pixels along either sense of it.
    """
    z = {}
    for band in BANDS:
        values = bands[band][road]
        median = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - median))) or 1.0
        z[band] = (bands[band] - median) / spread
    blue = road & (z["blue"] > Z_THRESHOLD) & (z["blue"] - np.maximum(z["green"], z["red"]) > 1.0)
    red = road & (z["red"] > Z_THRESHOLD) & (z["red"] - np.maximum(z["green"], z["blue"]) > 1.0)

    def mean_at(mask: np.ndarray) -> tuple[float, float, float, float]:
        if not mask.any():
            return (math.nan, math.nan, math.nan, math.nan)
        blue, green, red, nir = (round(float(z[b][mask].mean()), 2)
                                 for b in ("blue", "green", "red", "nir"))
        return blue, green, red, nir

    blue_rc = np.argwhere(blue)
    red_rc = np.argwhere(red)
    distances = []
    dc, dr = direction
    norm = math.hypot(dc, dr)
    for r0, c0 in blue_rc:
        if red_rc.size == 0:
            break
        d_rows = red_rc[:, 0] - r0
        d_cols = red_rc[:, 1] - c0
        along = (d_cols * dc + d_rows * dr) / norm
        across = np.abs(-d_cols * dr + d_rows * dc) / norm
        near = (across <= 1.0) & (np.abs(along) <= 4.0) & (np.abs(along) > 0.0)
        if near.any():
            distances.append(float(np.min(np.hypot(d_rows[near], d_cols[near]))))
    return FringeSignature(int(blue.sum()), int(red.sum()), mean_at(blue), mean_at(red),
                           round(float(np.median(distances)), 2) if distances else math.nan)


def real_chip_signature(path: Path) -> FringeSignature:
    """The fringe signature of the real S2TD chip (bands stored B04, B03, B02, B08)."""
    with rasterio.open(path) as src:
        data = src.read().astype(np.float32)
    bands = {"red": data[0], "green": data[1], "blue": data[2], "nir": data[3]}
    rows, cols = np.mgrid[0:data.shape[1], 0:data.shape[2]]
    intercept, slope, low, high = REAL_ROAD
    offset = rows - (intercept + slope * cols)
    road = (offset >= low - 0.5) & (offset <= high + 0.5)
    return fringe_signature(bands, road, (1.0, slope))


def simulated_truck_signature(seed: int = 0, trucks: int = 14, *,
                              speed_mps: tuple[float, float] = TRUCK_SPEED_MPS,
                              shape_px: tuple[int, int] = (66, 133)) -> FringeSignature:
    """Simulate a motorway like the real chip's with trucks at motorway speed, through the
    simulator's drawing, PSF, integration and noise, and return its fringe signature."""
    rng = np.random.default_rng(seed)
    fine_m = 1.0
    height, width = shape_px[0] * 10, shape_px[1] * 10
    grid = FineGrid(west=0.0, north=float(height), resolution=fine_m, shape=(height, width))
    slope = REAL_ROAD[1]
    # Road axis in map coordinates: one column right, ``slope`` rows down.
    ux, uy = 1.0 / math.hypot(1.0, slope), -slope / math.hypot(1.0, slope)
    # The carriageways' centre: midway between the mask's first and last rows.
    centre_row = REAL_ROAD[0] + (REAL_ROAD[2] + REAL_ROAD[3]) / 2
    y0 = height - (centre_row + 0.5) * 10.0
    xs = (np.arange(width) + 0.5) * fine_m
    ys = height - (np.arange(height) + 0.5) * fine_m
    across = (xs[None, :] - 0.0) * (-uy) + (ys[:, None] - y0) * ux
    on_road = np.abs(across) < 19.0
    fine = np.empty((4, height, width), dtype=np.float32)
    texture = 1.0 + 0.05 * rng.standard_normal((height, width)).astype(np.float32)
    for index in range(4):
        fine[index] = np.where(on_road, ASPHALT[index], VERGE[index]) * texture
    # Two carriageways of three 3.75 m lanes; each lane's line runs in its direction of travel.
    lanes = {}
    nx, ny = -uy, ux
    length = width * 1.2
    for lane, offset in enumerate((-12.0, -8.25, -4.5, 4.5, 8.25, 12.0)):
        start = (nx * offset, y0 + ny * offset)
        end = (start[0] + ux * length, start[1] + uy * length)
        lanes[f"lane-{lane}"] = LineString([start, end] if offset < 0 else [end, start])
    lags = [BAND_LAGS_S[b] for b in BANDS]
    roofs = [spectrum for _, spectrum in TRUCK_ROOFS]
    weights = np.array([w for w, _ in TRUCK_ROOFS])
    for train_id in range(1, trucks + 1):
        lane_id = f"lane-{int(rng.integers(len(lanes)))}"
        line = lanes[lane_id]
        along = float(rng.uniform(40.0, line.length * 0.8))
        p = line.interpolate(along)
        a, b = line.interpolate(along - 2.0), line.interpolate(along + 2.0)
        heading = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360.0
        speed = float(rng.uniform(*speed_mps))
        roof = roofs[int(rng.choice(len(roofs), p=weights / weights.sum()))]
        _, length, roof_length = TRUCK_SHAPES[0] if rng.random() < TRUCK_SHAPES[0][0] else \
            TRUCK_SHAPES[1]
        truck = Car(track=lane_id, type="truck", length_m=length, width_m=TRUCK_WIDTH_M,
                    height_m=TRUCK_HEIGHT_M, s=along, x=p.x, y=p.y, heading_deg=heading,
                    spectrum=CAB, load_spectrum=roof, load_length_m=roof_length,
                    train=train_id)
        paint_cars(fine, grid, [truck], [speed * lag for lag in lags], lanes, {train_id: 1},
                   (55.0, 160.0), (0.35, 0.28, 0.22, 0.18))
    bands = {}
    for index, band in enumerate(BANDS):
        integrator = Integrator((height, width), fine_m, 10.0, psf_sigma_m(MTF_NYQUIST[band]))
        bands[band] = add_noise(integrator.apply(fine[index]), band, rng, 55.0)
    rows, cols = np.mgrid[0:shape_px[0], 0:shape_px[1]]
    offset = rows - (REAL_ROAD[0] + slope * cols)
    road = (offset >= REAL_ROAD[2] - 0.5) & (offset <= REAL_ROAD[3] + 0.5)
    return fringe_signature(bands, road, (1.0, slope))
