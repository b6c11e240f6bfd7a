"""The plain values that pass between the simulator's stages.

A :class:`SceneState` says what is on the ground and in the sky at one acquisition: rolling stock
(:class:`Car`, grouped into moving :class:`Train` objects), the weather (:class:`Weather`) and the
acquisition itself (:class:`Acquisition`).  Scenarios produce states; the renderer turns a state
into pixels; the writer turns pixels and state into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from railwatch.simulate.spectra import Spectrum

__all__ = ["Acquisition", "Car", "SceneState", "Train", "Weather"]


@dataclass(frozen=True)
class Acquisition:
    """One Sentinel-2 overpass: when (the B02 sensing time, UTC), which satellite, which tile."""

    datetime: datetime
    platform: str
    tile: str
    relative_orbit: int = 0

    @property
    def item_id(self) -> str:
        """The Earth Search item id, e.g. ``S2B_52TFM_20231005_0_L2A``."""
        sat = "S2A" if self.platform.endswith("a") else "S2B" if self.platform.endswith("b") else "S2C"
        return f"{sat}_{self.tile}_{self.datetime:%Y%m%d}_0_L2A"


@dataclass(frozen=True)
class Car:
    """One unit of rolling stock, at its position at the B02 sensing time.

    ``s`` is the distance of the car's centre along its track's line (metres from the line's first
    vertex); ``x``/``y`` and ``heading_deg`` follow from it.  A moving car belongs to a train and
    moves along the track at the train's speed (``sign`` +1 along the line's vertex order, -1
    against it).
    """

    track: str
    type: str
    length_m: float
    width_m: float
    height_m: float
    s: float
    x: float
    y: float
    heading_deg: float
    spectrum: Spectrum
    load_spectrum: Spectrum | None = None
    load_length_m: float = 0.0
    train: int | None = None


@dataclass(frozen=True)
class Train:
    """A moving train (or a shunting cut): the cars it hauls are the :class:`Car` values with
    ``train == id``.  ``head_s`` is the front's along-track position at the B02 time."""

    id: int
    track: str
    speed_mps: float
    sign: int
    head_s: float
    length_m: float
    cars: int
    kind: str = "through"


@dataclass(frozen=True)
class Weather:
    """The sky and the ground's cover at the acquisition.

    ``cloud_cover`` is the fraction of the scene under cloud (0..1), ``haze`` the optical strength
    of a thin, spatially smooth haze/cirrus layer (0..~0.15 reflectance added in blue), ``snow``
    the fraction of each land class's own snow cover that is present (0..1), ``snow_age_days``
    how old the snow is (fresh snow is brighter), ``wet`` how wet the bare mineral ground is
    after rain (0 dry .. 1 soaked: ballast, gravel, soil, asphalt and concrete darker).
    """

    cloud_cover: float = 0.0
    cloud_height_m: float = 2000.0
    haze: float = 0.0
    snow: float = 0.0
    snow_age_days: float = 3.0
    wind_mps: tuple[float, float] = (0.0, 0.0)
    wet: float = 0.0


@dataclass(frozen=True)
class SceneState:
    """Everything the renderer needs for one scene of one site."""

    site_id: str
    acquisition: Acquisition
    cars: tuple[Car, ...]
    trains: tuple[Train, ...] = ()
    weather: Weather = field(default_factory=Weather)
    seed: int = 0
