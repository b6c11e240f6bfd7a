"""The instrument: when each band looks, how it blurs, integrates, adds noise and encodes.

Figures and their sources:

* Inter-band time lags after B02 (s): B08 0.264, B03 0.527, B04 1.005 (Fisser et al. 2022,
  Remote Sensing 14(7):1595, parallax table; B02-B04 1.005 s also P. Markuse 2017; see SENSOR.md).
* Modulation transfer function at Nyquist of the 10 m bands: required 0.15-0.30 (ESA SP-1322/2,
  2012, "Sentinel-2: ESA's Optical High-Resolution Mission for GMES Operational Services",
  radiometric/geometric requirements table); we use 0.25.  The system MTF is the product of
  the detector's 10 m box (sinc, 0.637 at Nyquist) and the optics + motion blur, which we model
  as a Gaussian of width sigma with exp(-2 pi^2 sigma^2 f^2) = 0.25 / 0.637 at f = 1/20 m^-1,
  i.e. sigma ~ 4.4 m.
* Signal-to-noise ratio at the reference radiance Lref (W m^-2 sr^-1 um^-1): B02 154 at 128,
  B03 168 at 128, B04 142 at 108, B08 174 at 103 (same ESA SP-1322/2 table, the mission
  requirement; in-flight performance exceeds it by a margin, Gascon et al. 2017, Remote Sensing
  9(6):584, so these are conservative).  With the exo-atmospheric irradiance E0 (W m^-2 um^-1:
  1959, 1824, 1512, 1036; Thuillier 2003 spectrum as in the L1C metadata) Lref is a reflectance
  of pi Lref / E0 ~ 0.21, 0.22, 0.22, 0.31 at overhead sun.  Noise variance = read + shot terms,
  30 % read noise at Lref.
* L2A encoding from processing baseline 04.00 (25 January 2022): DN = 10000 x reflectance + 1000
  (BOA_ADD_OFFSET), uint16, 0 = no data (ESA Sentinel-2 L2A Product Specification, PSD 14.x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse
from scipy.special import erf

__all__ = [
    "BAND_LAGS_S",
    "BOA_ADD_OFFSET",
    "MTF_NYQUIST",
    "Integrator",
    "add_noise",
    "decode_l2a",
    "encode_l2a",
    "psf_sigma_m",
]

BANDS = ("blue", "green", "red", "nir")
BAND_LAGS_S = {"blue": 0.0, "nir": 0.264, "green": 0.527, "red": 1.005}
MTF_NYQUIST = {"blue": 0.25, "green": 0.25, "red": 0.25, "nir": 0.25}
SNR_AT_LREF = {"blue": 154.0, "green": 168.0, "red": 142.0, "nir": 174.0}
LREF = {"blue": 128.0, "green": 128.0, "red": 108.0, "nir": 103.0}
E0 = {"blue": 1959.0, "green": 1824.0, "red": 1512.0, "nir": 1036.0}
READ_NOISE_SHARE = 0.3
BOA_ADD_OFFSET = 1000
QUANTIFICATION = 10_000.0


def psf_sigma_m(mtf_at_nyquist: float, pixel_m: float = 10.0) -> float:
    """Width of the Gaussian optics/motion PSF that, with the detector's box, gives the MTF."""
    detector = math.sin(math.pi / 2) / (math.pi / 2)  # sinc at Nyquist = 2/pi
    optics = mtf_at_nyquist / detector
    if not 0.0 < optics < 1.0:
        raise ValueError(f"MTF at Nyquist {mtf_at_nyquist} is not achievable with a {pixel_m} m box")
    nyquist = 1.0 / (2.0 * pixel_m)
    return math.sqrt(-math.log(optics) / (2.0 * math.pi**2 * nyquist**2))


def _primitive(t: np.ndarray, sigma: float) -> np.ndarray:
    """Integral of the unit-area Gaussian CDF: d/dt of the result is Phi(t / sigma)."""
    if sigma == 0.0:
        return np.maximum(t, 0.0)
    u = t / sigma
    cdf = 0.5 * (1.0 + erf(u / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return sigma * (u * cdf + pdf)


@lru_cache(maxsize=32)
def _weights(n_fine: int, fine_m: float, n_pixels: int, pixel_m: float, sigma: float
             ) -> sparse.csr_matrix:
    """Weights (n_pixels x n_fine) of fine samples in each coarse pixel: the exact integral over
    each fine cell of the detector box convolved with the Gaussian PSF; rows sum to 1."""
    ratio = pixel_m / fine_m
    reach = int(math.ceil((pixel_m / 2 + 4.0 * sigma) / fine_m)) + 1
    rows, cols, values = [], [], []
    offsets = np.arange(-reach, reach + 1)
    for m in range(n_pixels):
        centre = (m + 0.5) * ratio  # in fine cells
        first = int(math.floor(centre))
        n = first + offsets
        n = n[(n >= 0) & (n < n_fine)]
        t_hi = ((n + 1) - centre) * fine_m
        t_lo = (n - centre) * fine_m
        half = pixel_m / 2
        w = ((_primitive(t_hi + half, sigma) - _primitive(t_hi - half, sigma))
             - (_primitive(t_lo + half, sigma) - _primitive(t_lo - half, sigma))) / pixel_m
        w = w / w.sum()
        rows.append(np.full(n.size, m))
        cols.append(n)
        values.append(w)
    return sparse.csr_matrix((np.concatenate(values).astype(np.float32),
                              (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_pixels, n_fine))


@dataclass(frozen=True)
class Integrator:
    """Point-spread function and pixel integration from a fine grid to the sensor's pixels.

    The fine grid must cover exactly the pixel window (``pixel_m / fine_m`` fine cells per
    pixel).  ``apply`` is linear, so a scene can be integrated as a background plus a sparse
    change.
    """

    fine_shape: tuple[int, int]
    fine_m: float
    pixel_m: float
    sigma_m: float

    @property
    def shape(self) -> tuple[int, int]:
        ratio = self.pixel_m / self.fine_m
        return (int(round(self.fine_shape[0] / ratio)), int(round(self.fine_shape[1] / ratio)))

    @property
    def rows(self) -> sparse.csr_matrix:
        return _weights(self.fine_shape[0], self.fine_m, self.shape[0], self.pixel_m, self.sigma_m)

    @property
    def cols(self) -> sparse.csr_matrix:
        return _weights(self.fine_shape[1], self.fine_m, self.shape[1], self.pixel_m, self.sigma_m)

    def apply(self, fine: np.ndarray, row0: int = 0, col0: int = 0) -> np.ndarray:
        """Pixels of a fine array that starts at fine cell (row0, col0) of the full grid."""
        height, width = fine.shape
        wy = self.rows[:, row0:row0 + height]
        wx = self.cols[:, col0:col0 + width]
        # Rows first: the fine array is C-ordered, so the big product needs no copy.
        partial = np.asarray(wy @ fine)  # (n_rows, width)
        return np.asarray((wx @ partial.T).T, dtype=np.float32)


def add_noise(reflectance: np.ndarray, band: str, rng: np.random.Generator,
              sun_elevation_deg: float = 90.0) -> np.ndarray:
    """Sensor noise with the band's SNR at Lref: variance = read + shot (~ signal) terms.

    A lower sun collects less light for the same reflectance, so the noise in reflectance
    units grows with 1 / sqrt(cos(zenith)) for the shot term and 1 / cos(zenith) for the read term.
    """
    rho_ref = math.pi * LREF[band] / E0[band]
    sigma_ref = rho_ref / SNR_AT_LREF[band]
    cos_zenith = max(math.sin(math.radians(sun_elevation_deg)), 0.1)
    read_var = READ_NOISE_SHARE * sigma_ref**2 / cos_zenith**2
    shot_var = (1.0 - READ_NOISE_SHARE) * sigma_ref**2 / rho_ref / cos_zenith
    sigma = np.sqrt(read_var + shot_var * np.clip(reflectance, 0.0, None))
    return (reflectance + sigma * rng.standard_normal(reflectance.shape, dtype=np.float32)
            ).astype(np.float32)


def encode_l2a(reflectance: np.ndarray) -> np.ndarray:
    """Reflectance -> L2A uint16 digital numbers with the +1000 offset; 0 stays no-data."""
    dn = np.rint(reflectance.astype(np.float64) * QUANTIFICATION) + BOA_ADD_OFFSET
    return np.clip(dn, 1, 65535).astype(np.uint16)


def decode_l2a(dn: np.ndarray) -> np.ndarray:
    """L2A digital numbers -> reflectance (NaN for no-data 0)."""
    out = (dn.astype(np.float32) - BOA_ADD_OFFSET) / np.float32(QUANTIFICATION)
    out[dn == 0] = np.nan
    return out
