"""A synthetic marshalling yard laid out after the real Muttenz yard (near Basel).

The ``yard`` scenario needs many parallel tracks densely filled with cars, which none of the
border sites has.  ``synthetic-yard`` is a site built in code at Muttenz's own place (so it lies on
a real Sentinel-2 tile, 32TLT, EPSG:32632) from the ``[layout]`` table of ``yard.toml``: the number,
length, spacing and heading of the tracks, and the car length quantiles, width and coupled gap
measured on the 503 labelled Muttenz outlines (H. Reichel's train-detection project, MIT licence,
labelled on swisstopo SWISSIMAGE 10 cm).  :func:`muttenz_statistics` recomputes those numbers from
the outlines file, so the stored summary can be checked against its source.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, shape

from railwatch.errors import InputFileError
from railwatch.sites import Border, Site, Track

__all__ = ["SYNTHETIC_SITES", "YardStatistics", "muttenz_statistics", "synthetic_site"]

SYNTHETIC_SITES = {"synthetic-yard": "yard"}
MUTTENZ_SOURCE = ("Muttenz marshalling yard outlines (503 cars), H. Reichel train-detection "
                  "project, MIT licence; labelled on swisstopo SWISSIMAGE 10 cm")


@dataclass(frozen=True)
class YardStatistics:
    """Car sizes and spacing measured on a labelled yard."""

    cars: int
    length_quantiles: tuple[float, ...]  # 0, 10, ..., 100 %
    width_median: float
    gap_median: float
    heading_deg: float


def muttenz_statistics(path: Path) -> YardStatistics:
    """Measure the outlines file: each polygon's minimum rotated rectangle gives a car's length,
    width and axis; cars on one track (same lateral offset) give the coupled gaps."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read the yard outlines ({err})",
                             hint="give the Muttenz rail-car-outlines.geojson") from err
    rows = []
    for feature in document["features"]:
        geometry = shape(feature["geometry"])
        corners = np.array(geometry.minimum_rotated_rectangle.exterior.coords)[:4]
        edge_a, edge_b = corners[1] - corners[0], corners[2] - corners[1]
        la, lb = float(np.hypot(*edge_a)), float(np.hypot(*edge_b))
        axis = edge_a / la if la >= lb else edge_b / lb
        if axis[0] < 0:
            axis = -axis
        centre = geometry.centroid
        rows.append((centre.x, centre.y, max(la, lb), min(la, lb),
                     math.degrees(math.atan2(axis[0], axis[1]))))
    data = np.array(rows)
    heading = float(np.median(data[:, 4]))
    ux, uy = math.sin(math.radians(heading)), math.cos(math.radians(heading))
    along = data[:, 0] * ux + data[:, 1] * uy
    across = -data[:, 0] * uy + data[:, 1] * ux
    aligned = np.abs(data[:, 4] - heading) < 8.0
    gaps = []
    order = np.argsort(across)
    groups: list[list[int]] = []
    for index in order[aligned[order]]:
        if groups and across[index] - across[groups[-1][-1]] < 1.2:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])
    for group in groups:
        members = sorted(group, key=lambda i: along[i])
        for a, b in zip(members, members[1:], strict=False):
            gap = along[b] - along[a] - (data[a, 2] + data[b, 2]) / 2
            if 0.0 < gap < 3.0:  # coupled neighbours; larger gaps separate cuts
                gaps.append(gap)
    quantiles = tuple(round(float(q), 2) for q in np.percentile(data[:, 2], range(0, 101, 10)))
    return YardStatistics(cars=len(rows), length_quantiles=quantiles,
                          width_median=round(float(np.median(data[:, 3])), 2),
                          gap_median=round(float(np.median(gaps)), 2),
                          heading_deg=round(heading, 1))


@lru_cache(maxsize=4)
def _layout(scenario: str) -> dict:
    entry = resources.files("railwatch") / "data" / "scenarios" / f"{scenario}.toml"
    return tomllib.loads(entry.read_text(encoding="utf-8"))["layout"]


@lru_cache(maxsize=4)
def synthetic_site(site_id: str) -> Site:
    """Build the synthetic site ``site_id`` from its scenario's ``[layout]``."""
    layout = _layout(SYNTHETIC_SITES[site_id])
    lon, lat = float(layout["centre_lon"]), float(layout["centre_lat"])
    epsg = int(layout["epsg"])
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    cx, cy = to_utm.transform(lon, lat)
    heading = math.radians(float(layout["heading_deg"]))
    ux, uy = math.sin(heading), math.cos(heading)
    nx, ny = -uy, ux
    n_tracks = int(layout["tracks"])
    length = float(layout["track_length_m"])
    spacing = float(layout["track_spacing_m"])

    def line(offset: float, half: float) -> LineString:
        ox, oy = cx + nx * offset, cy + ny * offset
        return LineString([(ox - ux * half, oy - uy * half), (ox + ux * half, oy + uy * half)])

    tracks_utm = {"main": line(-(n_tracks / 2 + 3) * spacing, length / 2 + 250.0)}
    for k in range(n_tracks):
        tracks_utm[f"yard-{k + 1}"] = line((k - (n_tracks - 1) / 2) * spacing, length / 2)
    margin = 120.0
    half_across = (n_tracks / 2 + 4) * spacing + margin
    half_along = length / 2 + 250.0 + margin
    corners = [(cx + ux * a * half_along + nx * b * half_across,
                cy + uy * a * half_along + ny * b * half_across)
               for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    aoi = Polygon([to_wgs84.transform(x, y) for x, y in corners])

    def wgs(geometry: LineString) -> LineString:
        return LineString([to_wgs84.transform(x, y) for x, y in geometry.coords])

    tracks = tuple(Track(id=track_id, line=wgs(geom), kind="main" if track_id == "main" else
                         "yard", approximate=True, source="synthetic, after " + MUTTENZ_SOURCE,
                         gauge_mm=(1435,)) for track_id, geom in tracks_utm.items())
    border_line = LineString([tuple(p) for p in layout["border_line"]])
    return Site(
        id=site_id,
        names={"en": "Synthetic marshalling yard (after Muttenz)", "ar": "ساحة فرز اصطناعية"},
        aoi=aoi, tracks=tracks,
        border=Border(line=border_line, left=str(layout["border_left"]),
                      right=str(layout["border_right"]),
                      crossing=Point(border_line.interpolate(0.5, normalized=True)),
                      source=str(layout["border_source"])),
        epsg=epsg, gauges_mm=(1435,), mgrs_tiles=(str(layout["mgrs_tile"]),), kind="yard",
        notes="built in code by railwatch.simulate.yard for the 'yard' scenario",
        sources={"layout": MUTTENZ_SOURCE}, builtin=False,
    )
