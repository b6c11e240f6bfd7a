"""Where the sun stands: shadows in the simulator and the detector depend on it."""

from __future__ import annotations

import math
from datetime import datetime

__all__ = ["sun_position"]


def sun_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """(elevation, azimuth clockwise from north), degrees, at ``when`` (UTC) and ``lon``/``lat``.

    The NOAA general solar position equations (the Fourier series of Spencer 1971, Search 2(5):172,
    for the equation of time and declination, as used by the NOAA Solar Calculator); ~0.1 degree,
    far better than shadow lengths need.
    """
    day = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    gamma = 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24)
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    solar_minutes = hours * 60 + equation_of_time + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(declination) * math.cos(
        hour_angle
    )
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    azimuth = (
        math.degrees(
            math.atan2(
                math.sin(hour_angle),
                math.cos(hour_angle) * math.sin(phi) - math.tan(declination) * math.cos(phi),
            )
        )
        + 180.0
    )
    return 90.0 - math.degrees(zenith), azimuth % 360.0
