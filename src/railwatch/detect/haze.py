"""Thin haze between two looks at the same ground, measured where no rolling stock can stand.

Residual haze after atmospheric correction adds path reflectance that falls with wavelength,
``h x (wavelength / 490 nm) ** -1.3`` (Angstrom 1929, a typical continental aerosol), and
dims the ground below by the matching loss of transmittance, ``1 - 0.5 h`` (thin aerosol layer;
the simulator's haze uses the same figures).  It varies over a few hundred metres, so a single
gain and offset per scene leaves up to a hundredth of reflectance here and there: summed over
a yard's thousand pixels that is tens of phantom or missing cars.

``haze_field`` measures ``h`` per pixel from the smoothed difference of two looks on the pixels
that carry no stock (the fields around the tracks), separating it from fields that greened up or
browned off in between (``GREEN_UP``: the two change the four bands in different proportions).
The history uses it to bring every date to the same air before comparing dates; a scene uses it
to bring the history's ground into its own air.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["GREEN_UP", "HAZE_ATTENUATION", "HAZE_SHAPE", "add_haze", "haze_field", "remove_haze"]

# Aerosol path reflectance relative to blue in BAND_KEYS order (490, 560, 665, 842 nm).
HAZE_SHAPE = np.array([(wl / 490.0) ** -1.3 for wl in (490.0, 560.0, 665.0, 842.0)])
HAZE_ATTENUATION = 0.5
# Green minus dormant grass (USGS splib07 lawn grass and dry grass; the simulator reads the same
# library): the change of a verge between two dates, up to its sign and size.
GREEN_UP = np.array([-0.03, -0.02, -0.08, 0.18])
# Haze varies over hundreds of metres; the smoothing reaches across a yard from the fields
# beside it (pixels).
SMOOTHING_PX = 6.0
_MIN_REFERENCE_PIXELS = 50


def haze_field(values: np.ndarray, ground: np.ndarray, reference: np.ndarray,
               shape: tuple[int, int]) -> np.ndarray:
    """Haze of ``values`` relative to ``ground`` per pixel (N,), both (4, N) on a ``shape`` grid.

    Measured on the ``reference`` pixels (N,) bool (no stock, both looks valid) and smoothed into
    the rest; 0 everywhere when too few reference pixels are seen.
    """
    rows, cols = shape
    reference = reference & np.isfinite(values).all(axis=0) & np.isfinite(ground).all(axis=0)
    if reference.sum() < _MIN_REFERENCE_PIXELS:
        return np.zeros(values.shape[1], dtype=np.float32)
    weight = gaussian_filter(reference.reshape(rows, cols).astype(np.float32), SMOOTHING_PX)
    change = np.empty(values.shape, dtype=np.float32)
    level = np.empty(values.shape, dtype=np.float32)
    for b in range(values.shape[0]):
        for target, band in ((change, values[b] - ground[b]), (level, ground[b])):
            masked = np.where(reference, band, 0.0).reshape(rows, cols).astype(np.float32)
            smooth = gaussian_filter(masked, SMOOTHING_PX)
            target[b] = np.where(weight > 0.02, smooth / np.maximum(weight, 1e-6), np.nan).ravel()
    for target, band in ((change, values - ground), (level, ground)):
        fallback = np.median(band[:, reference], axis=1)
        target[:] = np.where(np.isfinite(target), target, fallback[:, None])
    # The change is h x (path shape - attenuation x the local ground) plus greener or browner
    # fields; per pixel the haze column carries the local ground (bright fields lose more to
    # attenuation than dark ones), so haze is not mistaken for browning.
    haze_column = HAZE_SHAPE[:, None] - HAZE_ATTENUATION * level
    g11 = (haze_column**2).sum(axis=0)
    g12 = (haze_column * GREEN_UP[:, None]).sum(axis=0)
    g22 = float((GREEN_UP**2).sum())
    b1 = (haze_column * change).sum(axis=0)
    b2 = (GREEN_UP[:, None] * change).sum(axis=0)
    det = np.maximum(g11 * g22 - g12**2, 1e-9)
    return ((g22 * b1 - g12 * b2) / det).astype(np.float32)


def add_haze(ground: np.ndarray, haze: np.ndarray) -> np.ndarray:
    """``ground`` (4, N) seen through ``haze`` (N,)."""
    return ground * (1.0 - HAZE_ATTENUATION * haze)[None, :] + haze[None, :] * HAZE_SHAPE[:, None]


def remove_haze(values: np.ndarray, haze: np.ndarray) -> np.ndarray:
    """The ground under ``values`` (4, N) seen through ``haze`` (N,): ``add_haze`` inverted."""
    return (values - haze[None, :] * HAZE_SHAPE[:, None]) / (1.0 - HAZE_ATTENUATION * haze)[None, :]
