"""The physics the detector counts with: what rail car roofs look like, and where their shadows fall.

A car is seen from above as a ~3 m wide strip of roof (paint, rust, a load, snow) standing on the
ballast, next to the shadow it casts.  Both change the 10 m pixels linearly in the area they cover
(the point spread function and pixel integration are linear and conserve area), so the sum of
"scene minus empty ground" over the pixels around a car is

    length x [ width x (roof - ballast) + shadow width x (light - 1) x ground ]

in reflectance x m^2 / pixel area.  ``occupancy`` inverts that per block of pixels for one or two
roof types from :data:`ROOFS`.

Roof reflectances (B02, B03, B04, B08 band averages, read off published spectra and rounded to
two digits; what matters is their contrast with ballast, not the third digit):

* ``PAINT``  Levinson, Berdahl & Akbari 2005, "Solar spectral optical properties of pigments",
  Solar Energy Materials & Solar Cells 89:319-349 and 351-389: carbon-black coatings stay
  near 0.05 into the NIR; iron-oxide red is dark in blue and green, ~0.1-0.2 in red and
  ~0.2-0.3 in the NIR; chromium-oxide green rises strongly in the NIR; titanium-white ~0.6-0.8.
* ``USGS7``  Kokaly et al. 2017, USGS Spectral Library Version 7 (Data Series 1035): hematite- and
  goethite-rich iron ore and rust (dark, rising from ~0.05 in blue to ~0.1-0.25 in the NIR),
  coal (~0.04 flat), aged snow.
* ``ECO``    Meerdink et al. 2019, ECOSTRESS spectral library 1.0 (Remote Sensing of Environment
  230:111196): weathered galvanised / aluminium-painted steel ~0.3 flat; weathered timber.
* ``SNOW``   Warren 1982, Reviews of Geophysics 20(1):67-89: aged snow ~0.75-0.8 visible, ~0.6 NIR.

The simulator (``railwatch.simulate.spectra``) draws its car colours from the same published
libraries, so the benchmark is optimistic about the spectral part of the problem; the library
here is deliberately coarser (one spectrum per material family, no per-car brightness spread).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROOFS", "ROOF_NAMES", "SHADOW_LIGHT", "car_width_m"]

Spectrum = tuple[float, float, float, float]  # blue, green, red, nir (BAND_KEYS order)

ROOF_LIBRARY: tuple[tuple[str, Spectrum, str], ...] = (
    ("black paint, coal, oil tanks", (0.04, 0.04, 0.04, 0.05), "PAINT, USGS7 coal"),
    ("iron-oxide red/brown paint (box cars)", (0.05, 0.05, 0.10, 0.22), "PAINT red oxide"),
    ("iron ore load, rusty steel", (0.05, 0.06, 0.09, 0.13), "USGS7 hematite/goethite"),
    ("rust, empty ore car floor", (0.05, 0.07, 0.12, 0.24), "USGS7 goethite"),
    ("green paint / canvas", (0.05, 0.08, 0.06, 0.30), "PAINT chromium-oxide green"),
    ("grey / aluminium / galvanised steel", (0.30, 0.31, 0.31, 0.33), "ECO galvanised steel"),
    ("white container / tank", (0.55, 0.56, 0.56, 0.58), "PAINT titanium white, weathered"),
    ("blue container", (0.10, 0.09, 0.06, 0.10), "PAINT phthalocyanine blue"),
    ("snow on roofs", (0.78, 0.76, 0.73, 0.62), "SNOW aged"),
)
ROOF_NAMES: tuple[str, ...] = tuple(name for name, _, _ in ROOF_LIBRARY)
ROOFS = np.array([spectrum for _, spectrum, _ in ROOF_LIBRARY], dtype=np.float64)  # (K, 4)

# Share of the irradiance left in a car's shadow: diffuse skylight only, relative to global
# irradiance under a clear sky at 25-60 degree sun elevation, higher in blue (Rayleigh scattering).
# Read off SMARTS2 spectra (Gueymard 2001, Solar Energy 71(5):325-346); the simulator uses the
# same source.
SHADOW_LIGHT = np.array([0.35, 0.28, 0.22, 0.18])


def car_width_m(gauges_mm: tuple[int, ...]) -> float:
    """Roof width of the stock a site's gauges carry.

    1520 mm freight cars are 3.1-3.3 m wide (SENSOR.md, Russian car specifications); standard-gauge
    stock is narrower: the 503 cars outlined in the Muttenz yard have a median width of 2.7 m
    (SENSOR.md), UIC freight cars up to ~3.1 m.  A site that carries 1520 mm stock (also a dual-
    gauge one) gets the broad figure.
    """
    if gauges_mm and all(g < 1500 for g in gauges_mm):
        return 2.8
    return 3.15


