"""The values the detector hands to the rest of railwatch: settings in, observations out.

Everything here is a frozen dataclass so that an observation can be stored, compared and passed
between stages without anyone changing it on the way.  ``Observation.to_json`` gives the shape
promised in CONTRACTS.md (``railwatch detect --json``) plus a few extra fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BAND_LAGS_S",
    "DETECTOR_VERSION",
    "DetectSettings",
    "MovingTrain",
    "Observation",
    "TrackObservation",
]

# Bump whenever a change can alter any number the detector reports: the store keys observations
# by (site, scene, detector version), so old and new results never mix.
DETECTOR_VERSION = "railwatch-detect 3.4.0"

# Time each 10 m band is sensed after B02 (seconds).  Fisser et al. 2022, Remote Sensing
# 14(7):1595, parallax table; B02-B04 1.005 s also in Markuse 2017 (see SENSOR.md).  The lags vary
# by up to +-2 % across the swath (Binet et al. 2022), small next to our shift noise.
BAND_LAGS_S: dict[str, float] = {"blue": 0.0, "nir": 0.264, "green": 0.527, "red": 1.005}


@dataclass(frozen=True)
class DetectSettings:
    """Knobs of the detector, grouped by what they control.  Defaults were tuned on simulator
    seeds 0-4 only (see ``bench/detect_bench.py``)."""

    # --- car-equivalents
    # 14.5 m: median outline of 503 real rail cars labelled in the Muttenz yard (SENSOR.md,
    # shared/data/muttenz); 1520 mm box and gondola cars are 13.9-14.7 m over couplers.
    car_length_m: float = 14.5
    # Roofs are seen, the gaps between coupled cars are not, yet they are occupied track: the
    # median body-to-body gap of coupled cars among the 503 Muttenz outlines is 1.27 m
    # (``data/scenarios/yard.toml``), buffers and couplers of 1520 mm stock ~1 m.
    coupled_gap_m: float = 1.27
    # Model error of the unmixing as a relative sd (roof colours vary ~+-12 % between cars,
    # roof width ~+-5 %, car height and shadow), folded into the interval.
    model_rel_sd: float = 0.12
    # --- the physics of a car seen from above
    # Roof width; None = from the site's gauges (``spectra.car_width_m``).
    roof_width_m: float | None = None
    # Height of the roof above the ground that casts the shadow: box and tank cars ~4.6-4.7 m,
    # gondolas ~3.5 m, flat cars ~1.3 m above rail (Russian loading gauge Tc, 1520 mm stock);
    # a typical freight mix averages ~4.2 m.
    car_height_m: float = 4.2
    # A shadow falling towards the next track is covered by a car there this share of the time
    # (the first fit; the second uses each block's own measured density).
    neighbour_occupied_share: float = 0.5
    # --- visibility
    # Pixels within this many 10 m pixels of a cloud or cloud shadow are not trusted.
    cloud_margin_px: int = 3
    # Stock is not counted this close to a cloud, its shadow, or a cloud fringe found on the
    # ground ring (``core``).
    fringe_margin_px: int = 5
    # Below these visible shares a track is unknown and the site is "cloudy".
    min_visible_fraction: float = 0.3
    min_track_visible_fraction: float = 0.3
    # --- occupancy (in units of the block's noise)
    occupied_threshold: float = 4.0
    # A block next to a block with stock needs only this much (stock stands in cuts).
    neighbour_threshold: float = 2.5
    extra_type_penalty: float = 4.0
    # Error of the ground reference shared by a block's pixels (reflectance): residual haze,
    # phenology between the history's dates and the scene, a yard's texture.
    # (The fixed value, used without a history or when too little of the ground ring is seen.)
    reference_bias: float = 0.0015
    # Measure it per scene, band and neighbourhood on the ground ring instead (haze carried from
    # its far part into its near part, ``core._reference_error``), never below
    # ``min_reference_bias``.
    reference_from_ring: bool = True
    min_reference_bias: float = 0.0005
    # Fit each block's darker and brighter pixels apart (``occupancy.BlockFitter``).
    split_contrast: bool = True
    # --- motion: steps along a track (ends of trains, boundaries between wagons)
    # A step is a change of the profile over this span (a pixel and its PSF blur a step ~10 m).
    edge_span_m: float = 10.0
    # Steps stand this far above noise (root of the four bands' summed squares of the change).
    edge_threshold: float = 2.0
    # One velocity fit per this much track: the strongest step first.
    edge_spacing_m: float = 25.0
    # The fit reads +-this around a step (plus the largest band shift beyond it).  35 m gained 2
    # trains of 75 on the tuning seeds and lost 1 of 52 held out: not a measurable difference.
    motion_margin_m: float = 30.0
    # Stations this close to a cloud, its shadow or the raster's edge give no steps.
    motion_cloud_margin_m: float = 60.0
    # A step as strong in the ground beside the track (>= 12.5 m off its centre, where a car's
    # blurred signal is down to ~7 %; its shadow reaches a little farther) as on it is no car.
    max_beside_ratio: float = 0.5
    # --- motion: trains made of steps
    # A train's signal reaches tracks this close (a 10 m pixel and its PSF); a moving step seen
    # on tracks farther apart at once is wider than a train (a cloud's edge).
    max_bleed_m: float = 15.0
    min_speed_mps: float = 4.0
    max_speed_mps: float = 36.0
    # A step joins a train when moving explains it better than standing by more than this
    # (chi-square): noise steps must not add up to a train.
    edge_penalty: float = 4.0
    # Steps of one train lie no farther apart than this (a train's middle may be faint).
    motion_group_gap_m: float = 400.0
    # Root of the chi-square gain of the train's steps over standing still, for a train seen at
    # two or more steps, and at one.
    min_speed_significance: float = 6.0
    single_edge_significance: float = 7.0
    # ... and a train seen at one step only must be this far from any cloud or shadow.
    single_edge_cloud_margin_m: float = 500.0


@dataclass(frozen=True)
class MovingTrain:
    """One train (or road vehicle on the real chip) seen moving during the ~1 s of sensing."""

    track: str
    position_m: float
    length_m: float
    speed_mps: float
    speed_sd_mps: float
    heading_deg: float
    direction: str
    confidence: float
    x: float
    y: float
    band_shifts_m: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "position_m": round(self.position_m, 1),
            "x": round(self.x, 1),
            "y": round(self.y, 1),
            "speed_mps": round(self.speed_mps, 2),
            "speed_sd_mps": round(self.speed_sd_mps, 2),
            "heading_deg": round(self.heading_deg, 1),
            "direction": self.direction,
            "length_m": round(self.length_m, 1),
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True)
class TrackObservation:
    """Occupancy of one track.  ``status`` is ``ok`` or ``unknown`` (then the numbers are None)."""

    track: str
    status: str
    length_m: float
    visible_fraction: float
    occupied_m: float | None
    car_equivalents: float | None
    car_equivalents_interval: tuple[float, float] | None
    runs: tuple[tuple[float, float], ...] = ()
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "status": self.status,
            "length_m": round(self.length_m, 1),
            "occupied_m": _round(self.occupied_m, 1),
            "car_equivalents": _round(self.car_equivalents, 2),
            "car_equivalents_interval": _interval(self.car_equivalents_interval),
            "visible_fraction": round(self.visible_fraction, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Observation:
    """What one scene says about one site.

    ``status``: ``ok`` (measured), ``cloudy`` (too little of the tracks visible), ``no_data``
    (the scene has no valid pixels over the tracks) or ``unknown`` (the input cannot be used;
    ``reason`` says why).  ``quality``: ``good``, ``fair`` or ``poor``; ``flags`` say what lowered
    it.  Counts are None whenever they were not measured — never 0 for "could not see".
    """

    site: str
    item: str
    datetime: datetime | None
    status: str
    quality: str
    detector_version: str
    visible_fraction: float
    car_equivalents: float | None
    car_equivalents_interval: tuple[float, float] | None
    occupied_m: float | None
    tracks: tuple[TrackObservation, ...] = ()
    moving_trains: tuple[MovingTrain, ...] = ()
    flags: tuple[str, ...] = ()
    reason: str | None = None
    background: str = "none"
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        when = self.datetime
        if when is not None and when.tzinfo is not None:
            when = when.astimezone(UTC)
        return {
            "site": self.site,
            "item": self.item,
            "datetime": when.isoformat().replace("+00:00", "Z") if when else None,
            "status": self.status,
            "quality": self.quality,
            "flags": list(self.flags),
            "reason": self.reason,
            "detector_version": self.detector_version,
            "background": self.background,
            "car_equivalents": _round(self.car_equivalents, 2),
            "car_equivalents_interval": _interval(self.car_equivalents_interval),
            "occupied_m": _round(self.occupied_m, 1),
            "visible_fraction": round(self.visible_fraction, 3),
            "tracks": [t.to_json() for t in self.tracks],
            "moving_trains": [m.to_json() for m in self.moving_trains],
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _interval(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 2), round(interval[1], 2)]
