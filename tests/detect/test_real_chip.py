"""Moving trucks on the real Sentinel-2 chip of the S2TD project (Fisser et al. 2022).

There is no track geometry: the motorway's two carriageways were digitised once from an enlarged
rendering of the chip, by reading the asphalt band's centre off pixel columns 0, 40, 80 and 120
(rows ~3.5, 17.3, 31.2, 45.0: a straight line) and offsetting it 1.5 pixels to either side, where
the truck triplets sit.  The road runs at ~109 degrees (east-south-east).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import rasterio
from shapely.geometry import LineString

from railwatch.detect import DetectSettings, moving_along_lines
from railwatch.imagery import Scene

ROAD_AZIMUTH_DEG = 109.1


def test_trucks_have_motorway_speeds_and_headings_along_the_road(shared_dir) -> None:
    with rasterio.open(shared_dir / "data" / "s2td" / "S2_test_data.tif") as source:
        data = source.read().astype(np.float32)
        transform = source.transform
    # Band order B04, B03, B02, B08 (data/README.md); an 8-bit style rendering: only contrasts
    # matter to the detector, so a common scale is enough.
    bands = {"red": data[0] / 1000, "green": data[1] / 1000, "blue": data[2] / 1000,
             "nir": data[3] / 1000}
    scene = Scene("s2td", datetime(2018, 1, 1, tzinfo=UTC), 32632, transform, bands, None)

    def pixel(col: float, row: float) -> tuple[float, float]:
        return transform @ (col + 0.5, row + 0.5)

    lines = {side: LineString([pixel(0, 3.5 + shift), pixel(132, 49.2 + shift)])
             for side, shift in (("north", -1.5), ("south", 1.5))}
    # Motorway speeds stay under 50 m/s; trucks are separate objects, not the cars of one train:
    # moving steps more than 60 m apart are not one vehicle.
    settings = replace(DetectSettings(), max_speed_mps=50.0, motion_group_gap_m=60.0)
    found = moving_along_lines(scene, lines, settings=settings)
    confident = [m for m in found if m.confidence >= 0.8]
    assert len(confident) >= 2
    # Both carriageways: eastbound (109 degrees) on the southern, westbound on the northern.
    assert {m.track for m in confident} == {"north", "south"}
    for vehicle in confident:
        assert 15.0 <= vehicle.speed_mps <= 45.0, vehicle
        assert vehicle.speed_sd_mps <= 5.0, vehicle
        off_axis = abs((vehicle.heading_deg - ROAD_AZIMUTH_DEG + 90) % 180 - 90)
        assert off_axis <= 15.0, vehicle
        # No vehicle on a motorway is a train: the old detector reported 90-100 m.
        assert vehicle.length_m <= 30.0, vehicle
