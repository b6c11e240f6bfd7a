"""Surface reflectance of everything the simulator draws, in the four 10 m Sentinel-2 bands.

Values are hemispherical-directional reflectance (0..1) averaged over the MSI spectral response of
B02 (490 nm), B03 (560 nm), B04 (665 nm) and B08 (842 nm).  They are typical values read off
library spectra, rounded to two digits; what matters for railwatch is the contrast between rolling
stock, ballast and the land around it, and its change with the seasons, not the third digit.

Sources (cited per row below by key):

* ``USGS7``   Kokaly et al. 2017, USGS Spectral Library Version 7, USGS Data Series 1035
  (vegetation, soils, water, snow, rocks, iron oxides).
* ``ECO``     Meerdink et al. 2019, "The ECOSTRESS spectral library version 1.0", Remote Sensing
  of Environment 230:111196 (man-made materials: asphalt, concrete, roofing, paints, steel),
  which carries the earlier ASTER library (Baldridge et al. 2009, RSE 113:711-715).
* ``SNOW``    Warren 1982, "Optical properties of snow", Reviews of Geophysics 20(1):67-89; Dozier
  et al. 2009 (fresh snow ~0.95 visible, ~0.8-0.9 at 840 nm; aged snow lower).
* ``PAINT``   Levinson et al. 2005, "Methods of creating solar-reflective nonwhite surfaces and
  their application to residential roofing materials", Solar Energy Materials & Solar Cells
  89:351-389 (spectra of conventional dark, red-oxide, green and white coatings: carbon-black
  paints stay near 0.05 into the NIR; iron-oxide red is dark in blue, ~0.15-0.2 in red and
  brighter in the NIR; chromium-oxide green rises strongly in the NIR).
* ``OLIVE``   US Army camouflage requirements (MIL-DTL-53072 chemical-agent-resistant coatings
  and olive-drab textiles are specified to mimic vegetation's NIR plateau, ~0.3-0.4 at 850 nm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

__all__ = [
    "BANDS",
    "CAR_PALETTES",
    "LANDCOVER",
    "LAND_BY_NAME",
    "WETTING",
    "WET_DARKENING",
    "LandClass",
    "Spectrum",
    "greenness",
    "landcover_table",
    "pick_palette",
    "snow_cover_by_code",
    "snow_spectrum",
]

BANDS = ("blue", "green", "red", "nir")
Spectrum = tuple[float, float, float, float]


@dataclass(frozen=True)
class LandClass:
    """One land-cover class of the truth raster."""

    code: int
    name: str
    summer: Spectrum
    winter: Spectrum
    # Fraction of the ground that snow covers in a snowy scene (trees and cleared surfaces less).
    snow_cover: float
    # Whether Sentinel-2's scene classification would call it vegetation (SCL 4).
    vegetation: bool = False


LANDCOVER: tuple[LandClass, ...] = (
    # Grass and weeds: green-up in May, senescent from October (USGS7 "Lawn_Grass", dry grass).
    LandClass(1, "grass", (0.04, 0.08, 0.05, 0.40), (0.07, 0.10, 0.13, 0.22), 0.95, True),
    # Broadleaf trees: summer canopy (USGS7 "Aspen_Leaf", "Maple"), leaf-off twigs over litter.
    LandClass(2, "deciduous", (0.03, 0.06, 0.03, 0.35), (0.05, 0.07, 0.08, 0.16), 0.55, True),
    # Conifers stay dark and green all year (USGS7 "Pinon_Pine", "Fir").
    LandClass(3, "conifer", (0.02, 0.04, 0.02, 0.24), (0.02, 0.04, 0.03, 0.18), 0.30, True),
    # Bare and ploughed loam (USGS7 soils, brown loam).
    LandClass(4, "soil", (0.08, 0.11, 0.15, 0.22), (0.08, 0.11, 0.15, 0.21), 0.95),
    # Turbid river water (USGS7 "Water+Montmor", coastal/turbid): NIR absorbed.
    LandClass(5, "water", (0.06, 0.07, 0.05, 0.02), (0.06, 0.07, 0.05, 0.02), 0.0),
    # Asphalt roads (ECO asphalt, aged): flat and dark.
    LandClass(6, "asphalt", (0.08, 0.09, 0.10, 0.12), (0.08, 0.09, 0.10, 0.12), 0.35),
    # Unpaved gravel roads and yards (USGS7 gravel/soil mixtures).
    LandClass(7, "gravel", (0.14, 0.16, 0.19, 0.24), (0.14, 0.16, 0.19, 0.24), 0.60),
    # Roofs: grey concrete, asbestos-cement and metal sheeting (ECO concrete, galvanized steel).
    LandClass(8, "roof", (0.20, 0.21, 0.22, 0.24), (0.20, 0.21, 0.22, 0.24), 0.85),
    # Track bed: crushed-rock ballast (USGS7 granite/basalt, ~0.1-0.2) with ~10 % concrete
    # sleepers (ECO concrete ~0.3) and ~5 % rusty rail steel (USGS7 goethite-like rust:
    # 0.04 blue rising to ~0.2 NIR), area-weighted per metre of track.
    LandClass(9, "track", (0.11, 0.13, 0.15, 0.19), (0.11, 0.13, 0.15, 0.19), 0.70),
    # Concrete platforms and the station apron (ECO concrete).
    LandClass(10, "concrete", (0.25, 0.27, 0.28, 0.30), (0.25, 0.27, 0.28, 0.30), 0.60),
)
LAND_BY_NAME = {c.name: c for c in LANDCOVER}
# Bare mineral surfaces darken when wet: water filling the pores cuts the light scattered back,
# soil reflectance falling with moisture to about half when saturated (Lobell and Asner 2002,
# Soil Sci. Soc. Am. J. 66:722-727); coarse rock and ballast hold less water, taken as a third.
WETTING = frozenset({"soil", "asphalt", "gravel", "track", "concrete"})
WET_DARKENING = 0.3

# Snow, fresh and a few days old (SNOW).
SNOW_FRESH: Spectrum = (0.95, 0.94, 0.92, 0.84)
SNOW_AGED: Spectrum = (0.80, 0.78, 0.75, 0.62)

# Rolling stock: body colours by type, each a (weight, spectrum) palette.  Flat and gondola cars
# show their load from above, so their palettes include it.
CAR_PALETTES: dict[str, tuple[tuple[float, Spectrum], ...]] = {
    # Box cars: iron-oxide brown/red (most 1520 mm box cars) or dark green / grey (PAINT).
    "box": ((0.6, (0.05, 0.05, 0.10, 0.22)), (0.25, (0.04, 0.07, 0.05, 0.25)),
            (0.15, (0.18, 0.19, 0.20, 0.22))),
    # Gondolas / ore cars seen from above: iron ore or coal load (USGS7 hematite-rich ore ~0.05
    # blue to 0.12 NIR; coal flat ~0.04), empty rusty floors (USGS7 goethite-like rust).
    "gondola": ((0.45, (0.05, 0.06, 0.09, 0.12)), (0.3, (0.04, 0.04, 0.04, 0.05)),
                (0.25, (0.05, 0.07, 0.12, 0.24))),
    # Tank cars: black oil tanks (carbon-black paint, PAINT) and light grey chemical tanks.
    "tank": ((0.6, (0.04, 0.04, 0.04, 0.05)), (0.4, (0.32, 0.33, 0.33, 0.34))),
    # Flat cars, empty deck (weathered timber/steel, ECO).
    "flat": ((1.0, (0.09, 0.10, 0.11, 0.16)),),
    # Flat cars with containers: the common liveries, red, blue, green, white, grey (PAINT).
    "container": ((0.25, (0.06, 0.06, 0.18, 0.30)), (0.2, (0.10, 0.09, 0.06, 0.10)),
                  (0.15, (0.05, 0.10, 0.06, 0.30)), (0.2, (0.55, 0.56, 0.56, 0.58)),
                  (0.2, (0.25, 0.26, 0.27, 0.28))),
    # Tarpaulin-covered loads: olive-drab or green canvas, NIR near vegetation (OLIVE, PAINT).
    "tarpaulin": ((0.7, (0.05, 0.07, 0.06, 0.32)), (0.3, (0.06, 0.10, 0.07, 0.35))),
    # Passenger cars: green (DPRK stock) or grey/red (RZD) roofs (PAINT).
    "passenger": ((0.5, (0.05, 0.09, 0.06, 0.28)), (0.5, (0.16, 0.17, 0.18, 0.20))),
    # Diesel locomotives: green, red-and-grey liveries, dark roofs with exhaust soot (PAINT).
    "locomotive": ((0.5, (0.05, 0.08, 0.06, 0.22)), (0.5, (0.07, 0.06, 0.09, 0.15))),
}


def greenness(day: date, latitude: float = 42.4) -> float:
    """Vegetation phenology 0 (dormant) .. 1 (full canopy) for a mid-latitude monsoon climate.

    Green-up around day 135 (mid-May) and senescence around day 285 (mid-October) follow MODIS
    land-surface phenology for north-east Asia at ~42 N (Zhang et al. 2003, RSE 84:471-475 give
    green-up ~ day 120-140 and dormancy onset ~ day 280-300 at these latitudes); a logistic of
    ~10 days width on each side.  Latitude moves both dates by ~3 days per degree (Hopkins'
    bioclimatic law, ~4 days per degree of latitude).
    """
    shift = (latitude - 42.4) * 3.0
    doy = day.timetuple().tm_yday
    rise = 1.0 / (1.0 + math.exp(-(doy - (135 + shift)) / 10.0))
    fall = 1.0 / (1.0 + math.exp((doy - (285 - shift)) / 10.0))
    return rise * fall


def landcover_table(day: date, latitude: float, snow: float, snow_age_days: float = 3.0,
                    wet: float = 0.0) -> np.ndarray:
    """Reflectance per land-cover code and band on ``day``: shape (max_code + 1, 4).

    ``snow`` (0..1) scales each class's own snow cover; ``wet`` (0..1) darkens the bare mineral
    classes; row 0 (unused code) stays zero.
    """
    green = greenness(day, latitude)
    age = min(1.0, snow_age_days / 10.0)
    snow_spectrum = (1 - age) * np.array(SNOW_FRESH) + age * np.array(SNOW_AGED)
    table = np.zeros((max(c.code for c in LANDCOVER) + 1, 4), dtype=np.float32)
    for land in LANDCOVER:
        spectrum = green * np.array(land.summer) + (1 - green) * np.array(land.winter)
        if land.name in WETTING:
            spectrum = spectrum * (1.0 - WET_DARKENING * wet)
        cover = snow * land.snow_cover
        table[land.code] = (1 - cover) * spectrum + cover * snow_spectrum
    return table


def snow_cover_by_code() -> np.ndarray:
    """Each land-cover code's own snow cover (0 for unused codes), indexable by code."""
    cover = np.zeros(max(c.code for c in LANDCOVER) + 1, dtype=np.float32)
    for land in LANDCOVER:
        cover[land.code] = land.snow_cover
    return cover


def pick_palette(car_type: str, rng: np.random.Generator) -> Spectrum:
    """Draw one body colour for a car of ``car_type``, with +-12 % brightness between cars
    (weathering, dirt, fading)."""
    palette = CAR_PALETTES[car_type]
    weights = np.array([w for w, _ in palette])
    choice = palette[int(rng.choice(len(palette), p=weights / weights.sum()))][1]
    scale = float(np.clip(rng.normal(1.0, 0.12), 0.7, 1.3))
    return tuple(float(np.clip(v * scale, 0.01, 0.95)) for v in choice)  # type: ignore[return-value]


def snow_spectrum(snow_age_days: float) -> np.ndarray:
    age = min(1.0, snow_age_days / 10.0)
    return ((1 - age) * np.array(SNOW_FRESH) + age * np.array(SNOW_AGED)).astype(np.float32)
