"""Detection on Sentinel-2: rolling stock on the tracks, and moving trains with speed and heading.

``detect_scene(scene, site)`` turns one 10 m scene of a site into an :class:`Observation`: the
occupied length and car-equivalents of every track and of the whole site, the fraction of the
tracks that could be seen, and every train caught moving, with speed, heading and direction across
the border.  ``docs/detect.md`` explains the method and its accuracy.
"""

from railwatch.detect.background import Background, build_background, load_background
from railwatch.detect.core import detect_scene, moving_along_lines
from railwatch.detect.model import (
    BAND_LAGS_S,
    DETECTOR_VERSION,
    DetectSettings,
    MovingTrain,
    Observation,
    TrackObservation,
)
from railwatch.detect.stepfit import VelocityFit, fit_velocity

__all__ = [
    "BAND_LAGS_S",
    "DETECTOR_VERSION",
    "Background",
    "DetectSettings",
    "MovingTrain",
    "Observation",
    "TrackObservation",
    "VelocityFit",
    "build_background",
    "detect_scene",
    "fit_velocity",
    "load_background",
    "moving_along_lines",
]
