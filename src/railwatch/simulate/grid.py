"""The real Sentinel-2 tile grid: where a site's pixels lie in its MGRS tile.

A Sentinel-2 L1C/L2A tile is a 109.8 km square on the UTM grid of its zone.  Its upper-left corner
is the corner of the MGRS 100 km square it is named after, moved outwards (west and north)
onto the 60 m lattice so that the 10, 20 and 60 m rasters of a tile share one corner.  Published examples,
read from Earth Search ``proj:transform`` values: 39QTA (200 000 E, 2 100 000 N square) starts at
(199980, 2100000); 36SXJ at (600000, 4400040); 10SEG at (499980, 4200000); 33UUP-like squares at
(600000, 5300040); 53HNA in the south at (499980, 6100000).  For railwatch's 52TFM the square
is 600 000 E / 4 600 000-4 700 000 N, so the tile's corner is (600000, 4700040).

The simulator writes either the whole tile or a window of it around the site; either way every
pixel stays on the tile's own lattice, so a reader cannot tell the window from a crop of a real
file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from affine import Affine
from pyproj import Transformer

from railwatch.errors import SiteError

__all__ = ["TILE_SIZE_M", "TileGrid", "Window", "tile_grid"]

TILE_SIZE_M = 109_800.0
# The 60 m lattice that all Sentinel-2 resolutions share.
LATTICE_M = 60.0

_COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"
_BAND_LETTERS = "CDEFGHJKLMNPQRSTUVWX"
_MGRS_PATTERN = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])$")


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels of one resolution on a tile's grid."""

    col_off: int
    row_off: int
    width: int
    height: int
    resolution: float
    transform: Affine

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in metres."""
        west, north = self.transform.c, self.transform.f
        return (west, north - self.height * self.resolution,
                west + self.width * self.resolution, north)


@dataclass(frozen=True)
class TileGrid:
    """One Sentinel-2 tile: its name, UTM zone (EPSG code) and upper-left corner."""

    tile: str
    epsg: int
    west: float
    north: float

    def transform(self, resolution: float) -> Affine:
        return Affine(resolution, 0.0, self.west, 0.0, -resolution, self.north)

    def size(self, resolution: float) -> int:
        return int(round(TILE_SIZE_M / resolution))

    def contains(self, bounds: tuple[float, float, float, float]) -> bool:
        west, south, east, north = bounds
        return (self.west <= west and east <= self.west + TILE_SIZE_M
                and self.north - TILE_SIZE_M <= south and north <= self.north)

    def window(self, bounds: tuple[float, float, float, float], resolution: float) -> Window:
        """The smallest window on the 60 m lattice that covers ``bounds``, clipped to the tile.

        Snapping to 60 m keeps the 10 m and 20 m windows of the same place exactly nested.
        """
        west, south, east, north = bounds
        col0 = math.floor((west - self.west) / LATTICE_M) * LATTICE_M
        col1 = math.ceil((east - self.west) / LATTICE_M) * LATTICE_M
        row0 = math.floor((self.north - north) / LATTICE_M) * LATTICE_M
        row1 = math.ceil((self.north - south) / LATTICE_M) * LATTICE_M
        col0, row0 = max(col0, 0.0), max(row0, 0.0)
        col1, row1 = min(col1, TILE_SIZE_M), min(row1, TILE_SIZE_M)
        if col1 <= col0 or row1 <= row0:
            raise SiteError(f"the area {bounds} lies outside tile {self.tile}",
                            hint="use a site inside the tile's 109.8 km square")
        col_off, row_off = int(round(col0 / resolution)), int(round(row0 / resolution))
        width = int(round((col1 - col0) / resolution))
        height = int(round((row1 - row0) / resolution))
        transform = Affine(resolution, 0.0, self.west + col0, 0.0, -resolution, self.north - row0)
        return Window(col_off, row_off, width, height, resolution, transform)


@lru_cache(maxsize=64)
def tile_grid(tile: str) -> TileGrid:
    """The grid of the Sentinel-2 tile named like ``52TFM`` (MGRS zone, band, 100 km square)."""
    match = _MGRS_PATTERN.match(tile.upper())
    if not match:
        raise SiteError(f"MGRS tile {tile!r} is not a tile name",
                        hint="write it as zone, latitude band and square, e.g. 52TFM")
    zone, band, column, row = int(match[1]), match[2], match[3], match[4]
    if not 1 <= zone <= 60:
        raise SiteError(f"MGRS tile {tile!r} has zone {zone}", hint="UTM zones run from 1 to 60")
    column_set = _COLUMN_SETS[(zone - 1) % 3]
    if column not in column_set:
        raise SiteError(f"MGRS tile {tile!r}: column letter {column} is not used in zone {zone}",
                        hint=f"zone {zone} uses {column_set}")
    easting = (column_set.index(column) + 1) * 100_000.0
    # Row letters cycle every 2 000 km; even zones start the cycle five letters later (at F).
    row_index = (_ROW_LETTERS.index(row) - (5 if zone % 2 == 0 else 0)) % 20
    northern = band >= "N"
    epsg = (32600 if northern else 32700) + zone
    south_lat = -80.0 + 8.0 * _BAND_LETTERS.index(band)
    north_lat = 84.0 if band == "X" else south_lat + 8.0
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    central_lon = -183.0 + 6.0 * zone
    _, band_south = to_utm.transform(central_lon, south_lat)
    _, band_north = to_utm.transform(central_lon, north_lat)
    band_middle = (band_south + band_north) / 2
    cycle = 2_000_000.0
    base = row_index * 100_000.0
    southing = base + cycle * round((band_middle - 50_000.0 - base) / cycle)
    west = math.floor(easting / LATTICE_M) * LATTICE_M
    # The lattice is anchored at the equator in true northing (negative in the south), which is
    # why 53HNA (a southern tile) starts at 6 100 000 N without a 60 m shift.
    false_northing = 0.0 if northern else 10_000_000.0
    top = southing + 100_000.0 - false_northing
    north = math.ceil(top / LATTICE_M) * LATTICE_M + false_northing
    return TileGrid(tile=f"{zone:02d}{band}{column}{row}", epsg=epsg, west=west, north=north)
