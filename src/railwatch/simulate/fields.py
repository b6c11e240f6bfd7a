"""Smooth random fields: the texture of fields and forests, and the shapes of clouds.

Natural scenes and cloud fields have power spectra close to a power law (cloud radiance fields:
spectral slope ~ -5/3 over 0.1-10 km, Cahalan & Snider 1989, Remote Sensing of Environment
28:95-107; land-cover texture similar).  We make such fields by filtering white noise in the
Fourier domain at a coarse resolution and interpolating up, which is cheap and smooth.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["fractal_field", "upsample"]


def fractal_field(shape: tuple[int, int], rng: np.random.Generator, *, slope: float = 5.0 / 3.0,
                  outer_scale_px: float = 64.0) -> np.ndarray:
    """A zero-mean, unit-variance field whose power spectrum falls as ``k**-(slope + 1)``
    (isotropic 2-D form of a 1-D slope), flattened beyond ``outer_scale_px``."""
    noise = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k0 = 1.0 / outer_scale_px
    amplitude = (k * k + k0 * k0) ** (-(slope + 1.0) / 4.0)
    amplitude[0, 0] = 0.0
    field = np.fft.irfft2(np.fft.rfft2(noise) * amplitude, s=shape)
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


def upsample(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of ``field`` onto ``shape`` (same extent, finer cells)."""
    zoom = (shape[0] / field.shape[0], shape[1] / field.shape[1])
    out = ndimage.zoom(field, zoom, order=1, mode="nearest", grid_mode=True)
    return out[: shape[0], : shape[1]].astype(np.float32)
