"""Imagery: find and read the pixels of a site.

This module turns STAC items (from an API, a static catalog, or a user's GeoTIFF) into
:class:`Scene` values: the AOI window of each band on the native UTM grid, as surface reflectance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from affine import Affine

__all__ = ["BAND_KEYS", "Scene"]

# Earth Search asset keys of the 10 m bands, in the order the MSI senses them is B02, B08, B03, B04.
BAND_KEYS = ("blue", "green", "red", "nir")


@dataclass(frozen=True)
class Scene:
    """One acquisition over one site, read and harmonised.

    ``bands`` maps Earth Search asset keys (``blue``, ``green``, ``red``, ``nir``) to float32
    surface reflectance (0..1, the baseline-04.00 offset removed), NaN where there is no data, all
    on the same 10 m grid given by ``transform`` in ``epsg``.  ``scl`` is the scene classification
    on that same grid (nearest neighbour from 20 m); 0 means no data.
    """

    scene_id: str
    datetime: datetime
    epsg: int
    transform: Affine
    bands: Mapping[str, np.ndarray]
    scl: np.ndarray | None
    platform: str | None = None
    processing_baseline: str | None = None
    simulated: bool = False
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.bands.values())).shape  # type: ignore[return-value]

    @property
    def pixel_size(self) -> float:
        return float(abs(self.transform.a))
