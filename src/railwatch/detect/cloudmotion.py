"""The scene's clouds and how far they move between the bands: a step on a track whose ground
moves with them is a cloud's, not a train's (``motion``).

A cloud at height h is seen ~h x 6.7 km/s / 786 km farther along the satellite's ground track per
second (its parallax), plus its wind: between B02 and B04 (1.005 s) some tens of metres, in one
direction for the whole scene.  Its edge crossing a track at an angle seems to move along the
track at any speed, so a speed cannot tell it from a train; its 2-D displacement can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from affine import Affine
from scipy import ndimage

from railwatch.detect.geometry import TrackGeometry
from railwatch.detect.model import BAND_LAGS_S, DetectSettings
from railwatch.imagery import BAND_KEYS

__all__ = ["CloudMotion"]

# Each band's lag after B02 as a share of B04's: a displacement moves each band in proportion.
_RELATIVE_LAG = np.array([BAND_LAGS_S[k] for k in BAND_KEYS]) / BAND_LAGS_S["red"]

# A cloud is brighter than the ground's history in every band by at least this much (reflectance):
# a thick cloud's top is ~0.6 in every band after L2A processing (simulate.atmosphere.CLOUD_TOP),
# ground 0.03-0.3, so this holds where its opacity is above ~1/3.
_CLOUD_BRIGHTER = 0.1
# A step moves with the clouds when the ground beside it, between these distances from the
# track's centre, is explained better by the clouds' displacement than by standing still, by a
# chi-square gain of 3 sd.  Inside 10 m: the track's own corridor and a train's shadow (4 m
# wagons at 20 degrees sun elevation throw 11 m, blurred into the same pixels); beyond 25 m: a
# cloud that does not reach the track cannot make a step on it.
_CLOUD_RING_M = (10.0, 25.0)
_CLOUD_MOTION_GAIN = 9.0
_CLOUD_SAMPLES = 4000


class CloudMotion:
    """The scene's clouds and their displacement between the bands, measured once per scene,
    when a step first asks.  A cloud at height h is seen ~h x 6.7 km/s / 786 km farther along
    the ground track per second (its parallax: ~17 m between B02 and B04 at 2 km; ground speed
    and orbit altitude from the ESA Sentinel-2 User Handbook, 2015), plus its wind; one
    displacement for the scene (one cloud layer).  A train moves along its track only, and the ground
    beside it stands still: where the ground beside a step moves with the clouds, the step is a
    cloud's (its soft edge, or a small cloud the SCL missed), whatever speed its crossing point
    seems to move at along the track."""

    def __init__(self, delta: np.ndarray, hidden: np.ndarray, transform: Affine,
                 shape: tuple[int, int]) -> None:
        self._delta, self._hidden, self._shape = delta, hidden, shape
        self.transform = transform

    @cached_property
    def _measured(self) -> _CloudShift | None:
        """The clouds' displacement, measured when a step first asks (most steps are far from
        clouds); None when the scene shows no cloud to measure it on."""
        return self._displacement()

    def _displacement(self) -> _CloudShift | None:
        bands = np.nan_to_num(self._delta.reshape(4, *self._shape)).astype(np.float64)
        bright = (bands > _CLOUD_BRIGHTER).all(axis=0)
        if bright.sum() < 20:
            return None
        usable = ~self._hidden.reshape(self._shape) & np.isfinite(self._delta).all(
            axis=0).reshape(self._shape)
        rows, cols = np.nonzero(ndimage.binary_dilation(bright, iterations=2))
        # Evenly thinned: a few thousand pixels of cloud and rim measure one displacement.
        every = max(1, rows.size // _CLOUD_SAMPLES)
        at = np.stack([rows[::every], cols[::every]]).astype(np.float64)
        blue = bands[0]
        red = bands[BAND_KEYS.index("red")][rows[::every], cols[::every]]
        slopes = np.gradient(blue)
        # Lucas-Kanade on the cloud and its rim: red = gain x blue moved by d + level.
        moved = np.zeros(2)
        for _ in range(5):
            source = at - moved[:, None]
            blue_there, *slope_there = (ndimage.map_coordinates(a, source, order=1,
                                                                mode="nearest")
                                        for a in (blue, *slopes))
            design = np.column_stack([blue_there, np.ones(blue_there.size), -slope_there[0],
                                      -slope_there[1]])
            coef = np.linalg.lstsq(design, red, rcond=None)[0]
            if abs(coef[0]) < 1e-6:
                return None
            update = coef[2:] / coef[0]
            moved = moved + update
            if np.abs(update).max() < 0.01:
                break
        if not np.isfinite(moved).all():
            return None
        # Per-pixel noise of each band: neighbours' differences, both seen.
        pairs = usable[:, 1:] & usable[:, :-1]
        if not pairs.any():
            return None
        noise = np.array([1.4826 * float(np.median(np.abs(np.diff(band, axis=1))[pairs]))
                          / math.sqrt(2) for band in bands])
        return _CloudShift(bands, usable, _RELATIVE_LAG[:, None] * moved[None, :],
                           np.maximum(noise, 1e-6))

    def moves_with(self, geometry: TrackGeometry, indices: np.ndarray,
                   settings: DetectSettings) -> np.ndarray:
        """Whether the ground beside each station of ``indices`` (within +- ``motion_margin_m``
        along, ``_CLOUD_RING_M`` across) moves with the clouds between B02 and the other bands:
        each later band is fitted as a level plus a gain times B02, read where the clouds were
        at the B02 time or where the ground is, and the chi-square gains of the first are
        summed over the three bands."""
        measured = self._measured
        if measured is None or not len(indices):
            return np.zeros(len(indices), dtype=bool)
        centre = geometry.points.shape[1] // 2
        east, north = geometry.points[indices, centre].T  # (k,)
        azimuth = np.radians(geometry.azimuth_deg[indices])
        col, row = ~self.transform @ (east, north)
        pixel_m = math.hypot(self.transform.a, self.transform.d)
        reach = int(math.ceil((settings.motion_margin_m + _CLOUD_RING_M[1]) / pixel_m))
        offsets = np.arange(-reach, reach + 1)  # a square of pixels around each station
        rr = np.floor(row).astype(int)[:, None] + np.repeat(offsets, offsets.size)[None, :]
        cc = np.floor(col).astype(int)[:, None] + np.tile(offsets, offsets.size)[None, :]
        height, width = measured.usable.shape
        inside = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
        rr, cc = np.clip(rr, 0, height - 1), np.clip(cc, 0, width - 1)
        x, y = self.transform @ (cc + 0.5, rr + 0.5)
        sin, cos = np.sin(azimuth)[:, None], np.cos(azimuth)[:, None]
        along = (x - east[:, None]) * sin + (y - north[:, None]) * cos
        across = np.abs((y - north[:, None]) * sin - (x - east[:, None]) * cos)
        ring = (inside & measured.usable[rr, cc] & (np.abs(along) <= settings.motion_margin_m)
                & (across > _CLOUD_RING_M[0]) & (across <= _CLOUD_RING_M[1])).astype(float)
        count = ring.sum(axis=1)  # (k,)
        blue = measured.bands[0]
        later = measured.shifts[1:]  # (3, 2)
        where = np.stack([rr[None] - later[:, 0, None, None], cc[None] - later[:, 1, None, None]])
        moved = ndimage.map_coordinates(blue, where, order=1, mode="nearest")  # (3, k, P)
        still = np.broadcast_to(blue[rr, cc], moved.shape)
        many = np.maximum(count, 1.0)

        def centred(values: np.ndarray) -> np.ndarray:
            return (values - (values * ring).sum(axis=-1, keepdims=True)
                    / many[:, None]) * ring

        seen = centred(measured.bands[1:, rr, cc])  # (3, k, P)
        residual = []
        slope = np.zeros(seen.shape[:2])
        for reference in (still, moved):
            # Least squares of a level plus a gain times the reference, per band and step.
            reference = centred(reference)
            size = (reference * reference).sum(axis=-1)
            fit = (reference * seen).sum(axis=-1)
            slope = np.divide(fit, size, out=np.zeros_like(fit), where=size > 0)
            residual.append((seen * seen).sum(axis=-1) - slope * fit)
        variance = measured.noise[1:, None] ** 2 + slope**2 * measured.noise[0] ** 2
        gain = ((residual[0] - residual[1]) / variance).sum(axis=0)
        # Too few ground pixels beside the step (the raster's edge, hidden ones): no test.
        return (count >= 8) & (gain > _CLOUD_MOTION_GAIN)


@dataclass(frozen=True)
class _CloudShift:
    """What ``CloudMotion`` measured: the scene (4, H, W) with what of it is seen, each band's
    displacement from B02 ((4, 2): rows, columns; in proportion to its lag) and noise per
    pixel."""

    bands: np.ndarray
    usable: np.ndarray
    shifts: np.ndarray
    noise: np.ndarray
