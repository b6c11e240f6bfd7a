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

from functools import lru_cache

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, uniform_filter

__all__ = ["GREEN_UP", "HAZE_ATTENUATION", "HAZE_SHAPE", "add_haze", "cloud_fringe", "haze_field",
           "near", "remove_haze", "smooth_coarse"]

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
# Cloud fringes: the change of stock-free ground beyond haze and season, averaged over a few
# pixels, above which the air or the ground changed there (reflectance, RMS of the bands).
# Clear and hazy bench scenes stay under 0.013 at every ring pixel; fringes reach 0.02-0.08.
FRINGE_CHANGE = 0.015
_FRINGE_PX = 3
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def haze_field(values: np.ndarray, ground: np.ndarray, reference: np.ndarray,
               shape: tuple[int, int], *, at: np.ndarray | None = None) -> np.ndarray:
    """Haze of ``values`` relative to ``ground`` per pixel (N,), both (4, N) on a ``shape`` grid.

    Measured on the ``reference`` pixels (N,) bool (no stock, both looks valid) and smoothed into
    the rest; 0 everywhere when too few reference pixels are seen.  With ``at`` (flat pixel
    indices) only the haze at those pixels is worked out and returned, (len(at),).
    """
    rows, cols = shape
    reference = reference & np.isfinite(values).all(axis=0) & np.isfinite(ground).all(axis=0)
    if reference.sum() < _MIN_REFERENCE_PIXELS:
        return np.zeros(values.shape[1] if at is None else len(at), dtype=np.float32)
    # The difference, the ground and a weight of one on the reference pixels, 0 elsewhere.
    layers = np.zeros((9, values.shape[1]), dtype=np.float32)
    np.subtract(values, ground, out=layers[:4], where=reference)
    np.copyto(layers[4:8], ground, where=reference)
    layers[8] = reference
    smooth = smooth_coarse(layers.reshape(-1, rows, cols), SMOOTHING_PX, at=at).reshape(
        len(layers), -1)
    weight = smooth[-1]
    covered = weight > 0.02
    change = smooth[:4] / np.maximum(weight, 1e-6)
    level = smooth[4:8] / np.maximum(weight, 1e-6)
    if not covered.all():
        # Beyond the smoothing's reach of any reference pixel, the reference pixels' median.
        seen = ground[:, reference]
        for target, band in ((change, values[:, reference] - seen), (level, seen)):
            fallback = np.median(band, axis=1)
            target[:] = np.where(covered, target, fallback[:, None])
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


def smooth_coarse(layers: np.ndarray, sigma_px: float, *, at: np.ndarray | None = None
                  ) -> np.ndarray:
    """Gaussian smoothing of (k, rows, cols) layers over ``sigma_px`` pixels, on a grid a few
    times coarser: the fields smoothed here (haze, its error) vary over hundreds of metres, and
    block means, a smaller kernel and bilinear interpolation back cost a tenth of smoothing every
    10 m pixel.  With ``at`` (flat pixel indices) only those pixels are interpolated and
    returned, (k, len(at))."""
    k, rows, cols = layers.shape
    factor = max(1, int(sigma_px // 2))
    padded_rows, padded_cols = -(-rows // factor) * factor, -(-cols // factor) * factor
    padded = np.zeros((k, padded_rows, padded_cols), dtype=np.float32)
    padded[:, :rows, :cols] = layers
    # Block means: each row of a block summed, then the rows (the order in which numpy's
    # ``mean(axis=(2, 4))`` adds them, at a fraction of its time).
    blocks = padded.reshape(k, padded_rows // factor, factor, padded_cols // factor, factor)
    across = blocks[..., 0].copy()
    for step in range(1, factor):
        across += blocks[..., step]
    coarse = across[:, :, 0].copy()
    for step in range(1, factor):
        coarse += across[:, :, step]
    coarse /= factor * factor
    coarse = gaussian_filter(coarse, (0.0, sigma_px / factor, sigma_px / factor), mode="constant")
    row_below, row_above, row_share = _coarse_neighbours(rows, factor, coarse.shape[1])
    col_below, col_above, col_share = _coarse_neighbours(cols, factor, coarse.shape[2])
    if at is None:
        # Bilinear, first along the rows and then along the columns.
        for axis, below, above, share in ((1, row_below, row_above, row_share[:, None]),
                                          (2, col_below, col_above, col_share)):
            low = np.take(coarse, below, axis=axis)
            low *= 1 - share
            high = np.take(coarse, above, axis=axis)
            high *= share
            low += high
            coarse = low
        return coarse
    row, col = np.divmod(at, cols)
    below, above, share = row_below[row], row_above[row], row_share[row]

    def along_rows(coarse_col: np.ndarray) -> np.ndarray:
        return (coarse[:, below, coarse_col] * (1 - share)
                + coarse[:, above, coarse_col] * share)

    return (along_rows(col_below[col]) * (1 - col_share[col])
            + along_rows(col_above[col]) * col_share[col])


@lru_cache(maxsize=64)
def _coarse_neighbours(size: int, factor: int, coarse_size: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For fine pixels 0..size-1: the coarse pixels either side of their centre and the share
    of the second (memoised, as a site's window comes back in every scene: read only)."""
    where = (np.arange(size) + 0.5) / factor - 0.5
    below = np.clip(np.floor(where).astype(int), 0, coarse_size - 1)
    above = np.clip(below + 1, 0, coarse_size - 1)
    share = np.clip(where - below, 0.0, 1.0).astype(np.float32)
    for shared in (below, above, share):
        shared.flags.writeable = False
    return below, above, share


def add_haze(ground: np.ndarray, haze: np.ndarray) -> np.ndarray:
    """``ground`` (4, N) seen through ``haze`` (N,)."""
    return ground * (1.0 - HAZE_ATTENUATION * haze)[None, :] + haze[None, :] * HAZE_SHAPE[:, None]


def remove_haze(values: np.ndarray, haze: np.ndarray) -> np.ndarray:
    """The ground under ``values`` (4, N) seen through ``haze`` (N,): ``add_haze`` inverted."""
    return (values - haze[None, :] * HAZE_SHAPE[:, None]) / (1.0 - HAZE_ATTENUATION * haze)[None, :]


def cloud_fringe(change: np.ndarray, reference: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which ``reference`` pixels (N,) bool changed beyond haze and the season: ``change`` (4, N)
    is what is left of two looks at them once haze is taken out.

    The soft edges of clouds and their shadows that the SCL (20 m, thresholds on opacity) leaves
    visible: on partly cloudy bench scenes, opacity 0.1-0.5 and shadows of 0.4-0.9 lay 50-240 m
    from the nearest SCL cloud.  The reference pixels carry no stock, so a change there is the air
    or the ground; the greening of fields is projected out."""
    rows, cols = shape
    unit = GREEN_UP / np.linalg.norm(GREEN_UP)
    change = np.nan_to_num(change)
    left = change - unit[:, None] * (unit @ change)[None, :]
    layers = np.zeros((5, len(reference)), dtype=left.dtype)
    np.copyto(layers[:4], left, where=reference)
    layers[4] = reference
    local = uniform_filter(layers.reshape(5, rows, cols), size=(1, _FRINGE_PX, _FRINGE_PX)
                           ).reshape(5, -1)
    candidates = np.flatnonzero(reference & (local[4] > 0.3))
    mean = local[:4, candidates] / np.maximum(local[4, candidates], 1e-6)
    found = np.zeros(len(reference), dtype=bool)
    found[candidates] = np.sqrt((mean**2).mean(axis=0)) > FRINGE_CHANGE
    return found


def near(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` (rows, cols) grown by ``pixels`` steps to the four neighbours."""
    return binary_dilation(mask, structure=_CROSS, iterations=pixels) if pixels > 0 else mask
