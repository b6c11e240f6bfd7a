"""The sun and the sky: solar position, clouds, their shadows, thin haze.

* Solar position: the NOAA general solar position equations (Spencer 1971, "Fourier series
  representation of the position of the sun", Search 2(5):172; as used by the NOAA Solar
  Calculator), accurate to ~0.1 degree, plenty for shadow lengths.
* Sentinel-2 passes at ~10:30 local mean solar time (descending node); over Tumangang (130.6 E)
  that is ~02:10 UTC.  Orbit altitude 786 km, ground speed ~6.7 km/s, ground-track heading
  ~193 degrees (south-south-west) at 42 N for the 98.62 degree inclination (ESA Sentinel-2 User
  Handbook, 2015).
* A cloud at height h seen in two bands sensed dt apart moves by h x (ground speed / altitude)
  x dt along the ground track: ~17 m between B02 and B04 for h = 2 km.  Real S2 images show
  these coloured cloud edges; we reproduce them.  Wind adds its own displacement.
* A cloud at height h shades the ground h x tan(solar zenith) away from itself, away from the
  sun.  In a shadow only diffuse skylight remains: ~15-35 % of global irradiance under clear skies
  at 20-45 degree sun elevation, more in blue (Rayleigh scattering ~ lambda^-4), less under thick
  cloud (e.g. Gueymard 2001, "Parameterized transmittance model for direct beam and circumsolar
  spectral irradiance", Solar Energy 71(5):325-346, SMARTS2).
* Residual haze after atmospheric correction adds path reflectance falling with wavelength with
  an Angstrom exponent ~1.3 (Angstrom 1929; typical continental aerosol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from railwatch.simulate.fields import fractal_field
from railwatch.simulate.model import Weather

__all__ = [
    "CLOUD_SHADOW_LIGHT",
    "GROUND_TRACK_HEADING_DEG",
    "OBJECT_SHADOW_LIGHT",
    "Sky",
    "apply_sky",
    "make_sky",
]

GROUND_SPEED_MPS = 6_700.0
ORBIT_ALTITUDE_M = 786_000.0
GROUND_TRACK_HEADING_DEG = 193.0
# Share of irradiance left in the shadow of a car (diffuse skylight, clear sky) and of a cloud.
OBJECT_SHADOW_LIGHT = (0.35, 0.28, 0.22, 0.18)
CLOUD_SHADOW_LIGHT = (0.30, 0.25, 0.22, 0.20)
# Thick-cloud top reflectance after L2A processing: bright and nearly flat (~0.5-0.8).
CLOUD_TOP = (0.62, 0.61, 0.61, 0.63)
# Haze path reflectance per unit of haze, relative to blue: (lambda / 490 nm) ** -1.3.
HAZE_SHAPE = tuple((wl / 490.0) ** -1.3 for wl in (490.0, 560.0, 665.0, 842.0))
CLOUD_FIELD_RES_M = 20.0




@dataclass(frozen=True)
class Sky:
    """Cloud opacity per band (its own sensing time), cloud shadow and haze, on a pixel grid."""

    opacity: tuple[np.ndarray, ...]
    shadow: np.ndarray
    haze: np.ndarray
    cloud_top: np.ndarray

    @property
    def cloud(self) -> np.ndarray:
        return self.opacity[0]


def make_sky(weather: Weather, shape: tuple[int, int], pixel_m: float,
             origin: tuple[float, float], sun: tuple[float, float],
             lags_s: tuple[float, ...], rng: np.random.Generator) -> Sky:
    """Clouds, shadows and haze over a ``shape`` grid of ``pixel_m`` pixels whose upper-left
    corner is ``origin`` (x, y), for bands sensed ``lags_s`` after B02."""
    elevation, azimuth = sun
    height_px, width_px = shape
    zero = np.zeros(shape, dtype=np.float32)
    haze = _haze(weather.haze, shape, rng)
    if weather.cloud_cover <= 0.0:
        return Sky(tuple(zero for _ in lags_s), zero, haze, zero)
    h = weather.cloud_height_m
    offset = h * math.tan(math.radians(90.0 - max(elevation, 5.0)))
    toward_sun = (math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth)))
    margin = offset + 1_500.0
    # The cloud field covers the scene and the place its shadows come from.
    cells_x = int(math.ceil((width_px * pixel_m + 2 * margin) / CLOUD_FIELD_RES_M))
    cells_y = int(math.ceil((height_px * pixel_m + 2 * margin) / CLOUD_FIELD_RES_M))
    field = fractal_field((cells_y, cells_x), rng, outer_scale_px=80)
    threshold = float(np.quantile(field, 1.0 - weather.cloud_cover))
    # A soft edge: opacity ramps from 0 to 1 over ~0.5 standard deviations of the field.
    opacity_field = np.clip((field - threshold) / 0.5 + 0.15, 0.0, 1.0).astype(np.float32)
    opacity_field[field < threshold] *= 0.0
    texture = 1.0 + 0.12 * fractal_field((cells_y, cells_x), rng, outer_scale_px=10)

    cols = (np.arange(width_px) + 0.5) * pixel_m + margin
    rows = (np.arange(height_px) + 0.5) * pixel_m + margin

    def sample(values: np.ndarray, dx: float, dy: float) -> np.ndarray:
        grid_rows = (rows[:, None] - dy) / CLOUD_FIELD_RES_M - 0.5
        grid_cols = (cols[None, :] + dx) / CLOUD_FIELD_RES_M - 0.5
        coords = np.broadcast_arrays(grid_rows, grid_cols)
        return ndimage.map_coordinates(values, coords, order=1, mode="nearest").astype(np.float32)

    heading = math.radians(GROUND_TRACK_HEADING_DEG)
    parallax_per_s = h * GROUND_SPEED_MPS / ORBIT_ALTITUDE_M
    opacities = []
    for lag in lags_s:
        # The cloud appears displaced opposite to the platform's motion for later bands, plus
        # whatever the wind carried it.  (Sign: features at height lead along the track.)
        dx = -parallax_per_s * lag * math.sin(heading) + weather.wind_mps[0] * lag
        dy = -parallax_per_s * lag * math.cos(heading) + weather.wind_mps[1] * lag
        opacities.append(sample(opacity_field, -dx, -dy))
    shadow = sample(opacity_field, toward_sun[0] * offset, toward_sun[1] * offset)
    top = sample(texture.astype(np.float32), 0.0, 0.0)
    return Sky(tuple(opacities), shadow, haze, top)


def _haze(level: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if level <= 0.0:
        return np.zeros(shape, dtype=np.float32)
    coarse = (max(4, shape[0] // 8), max(4, shape[1] // 8))
    field = fractal_field(coarse, rng, outer_scale_px=max(coarse) / 2)
    smooth = ndimage.zoom(field, (shape[0] / coarse[0], shape[1] / coarse[1]), order=1)
    smooth = smooth[: shape[0], : shape[1]]
    return (level * np.clip(1.0 + 0.35 * smooth, 0.2, 2.0)).astype(np.float32)


def apply_sky(band: np.ndarray, band_index: int, sky: Sky) -> np.ndarray:
    """Surface reflectance of one band -> what the L2A product shows through this sky."""
    light = CLOUD_SHADOW_LIGHT[band_index]
    shaded = band * (1.0 - sky.shadow * (1.0 - light))
    hazy = shaded * (1.0 - 0.5 * sky.haze) + sky.haze * HAZE_SHAPE[band_index]
    alpha = sky.opacity[band_index]
    return (1.0 - alpha) * hazy + alpha * CLOUD_TOP[band_index] * sky.cloud_top
