"""The L2A scene classification (SCL) at 20 m, consistent with the simulated sky and ground.

Class codes (ESA Sentinel-2 L2A Product Specification; SENSOR.md): 0 no data, 1 saturated or
defective, 2 dark area, 3 cloud shadow, 4 vegetation, 5 not vegetated, 6 water, 7 unclassified,
8 cloud medium probability, 9 cloud high probability, 10 thin cirrus, 11 snow or ice.

Sen2Cor decides from thresholds on reflectances and ratios; the simulator knows the truth, so it
classifies from the truth with Sen2Cor-like thresholds: cloud opacity for 8/9, the projected
cloud shadow for 3, haze for 10, the snow cover of the ground for 11, the water share for 6,
NDVI > 0.35 for 4, very dark pixels for 2, and the soft cloud edges Sen2Cor tends to leave as 7.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCL", "classify", "downsample2"]

SCL = {
    "no_data": 0, "saturated": 1, "dark": 2, "cloud_shadow": 3, "vegetation": 4,
    "not_vegetated": 5, "water": 6, "unclassified": 7, "cloud_medium": 8, "cloud_high": 9,
    "thin_cirrus": 10, "snow": 11,
}


def downsample2(values: np.ndarray) -> np.ndarray:
    """Mean of 2 x 2 blocks (10 m -> 20 m); the 10 m window is a whole number of 20 m pixels."""
    h, w = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    v = values[:h, :w]
    return 0.25 * (v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2])


def classify(bands20: dict[str, np.ndarray], cloud20: np.ndarray, shadow20: np.ndarray,
             haze20: np.ndarray, snow20: np.ndarray, water20: np.ndarray) -> np.ndarray:
    """SCL codes (uint8) from 20 m reflectances and the truth fields, highest priority last."""
    red, nir = bands20["red"], bands20["nir"]
    visible = (bands20["blue"] + bands20["green"] + red) / 3.0
    ndvi = (nir - red) / np.maximum(nir + red, 1e-4)
    scl = np.full(red.shape, SCL["not_vegetated"], dtype=np.uint8)
    scl[visible < 0.035] = SCL["dark"]
    scl[ndvi > 0.35] = SCL["vegetation"]
    scl[water20 > 0.5] = SCL["water"]
    scl[snow20 > 0.5] = SCL["snow"]
    scl[shadow20 > 0.4] = SCL["cloud_shadow"]
    scl[(cloud20 > 0.12) & (cloud20 <= 0.35)] = SCL["unclassified"]
    scl[(haze20 > 0.04) & (cloud20 <= 0.35)] = SCL["thin_cirrus"]
    scl[cloud20 > 0.35] = SCL["cloud_medium"]
    scl[cloud20 > 0.65] = SCL["cloud_high"]
    return scl
