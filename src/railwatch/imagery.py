"""Imagery: find and read the pixels of a site.

This module turns STAC items (from an API, a static catalog, or a user's GeoTIFF) into
:class:`Scene` values: the AOI window of each band on the native UTM grid, as surface reflectance.

Reading.  Only the window that covers the site's AOI is read, on the raster's own grid (no
resampling of the 10 m bands); the 20 m scene classification (SCL) is mapped onto the 10 m grid by
nearest neighbour.  Local files are opened directly; ``http(s)`` assets are opened by the same
rasterio code through :class:`RangeFile`, a file object whose byte-range requests go through
:class:`railwatch.http.HttpClient` — the project's one HTTP seam — so remote pixel reads share its
timeouts, retries with backoff, user agent, redacted logging and byte counting (GDAL's own curl
reader, ``/vsicurl``, is not used).  Read windows are kept in a :class:`WindowCache` so a re-run
reads nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import pystac
import rasterio
import rasterio.features
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.abc import MultiByteRangeResourceContainer
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window
from shapely.geometry import shape

from railwatch.errors import InputFileError, NetworkError, RailwatchError
from railwatch.http import HttpClient, redact
from railwatch.sites import Site, reproject

__all__ = [
    "ASSET_ALIASES",
    "BAND_KEYS",
    "GDAL_OPTIONS",
    "SCL_KEY",
    "RangeFile",
    "RasterWindow",
    "Scene",
    "SceneReadError",
    "SclAssessment",
    "WindowCache",
    "assess_scl",
    "boa_offset",
    "default_cache_dir",
    "item_footprint_covers",
    "load_item",
    "processing_baseline",
    "read_item",
    "read_geotiff",
    "read_scl",
    "track_mask",
]

# Earth Search asset keys of the 10 m bands, in the order the MSI senses them is B02, B08, B03, B04.
BAND_KEYS = ("blue", "green", "red", "nir")
SCL_KEY = "scl"
# Earth Search keys first, then Planetary Computer's (SENSOR.md, "Sentinel-2 L2A access").
ASSET_ALIASES: Mapping[str, tuple[str, ...]] = {
    "blue": ("blue", "B02"),
    "green": ("green", "B03"),
    "red": ("red", "B04"),
    "nir": ("nir", "B08"),
    "scl": ("scl", "SCL"),
}

# Settings used by TiTiler/stackstac for remote COG windows (SENSOR.md).  Most matter to
# /vsicurl; READDIR and the sidecar switches also stop GDAL from probing .ovr/.aux.xml/.msk
# files that Sentinel-2 COGs never have, which would each cost a round trip through RangeFile.
GDAL_OPTIONS: Mapping[str, str] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "AWS_NO_SIGN_REQUEST": "YES",
    "GDAL_PAM_ENABLED": "NO",
}

# Processing baseline 04.00 (from 25 January 2022) adds +1000 to L2A digital numbers; reflectance
# is (DN - 1000) / 10000 (ESA, "Sentinel-2 L2A processing baseline 04.00"; SENSOR.md).
BOA_OFFSET_DN = 1000
REFLECTANCE_SCALE = 10000.0
OFFSET_BASELINE = (4, 0)
# With the offset in place a DN below 1000 is a negative reflectance, which L2A keeps only for a
# handful of pixels; when the darkest percentile of a window is below 1000 the offset is absent
# whatever the metadata says.  Clear land and water always hold dark pixels (vegetation and water
# in blue and red reflect under 0.1), so when the darkest percentile of the pixels SCL calls clear
# surface lies between 1000 and 2000 the offset is there.  Without SCL only a darkest percentile
# under 1200 counts, since cloud or snow could make an offset-free window that bright.
DARK_PERCENTILE = 1.0
CLEAR_SURFACE_CLASSES = (2, 4, 5, 6, 7)  # dark area, vegetation, not vegetated, water, unclassified
OFFSET_PRESENT_CEILING_DN = {True: BOA_OFFSET_DN + 1000, False: BOA_OFFSET_DN + 200}
MIN_PIXELS_TO_JUDGE = 100

# SCL classes (ESA L2A product definition; SENSOR.md): 0 no data, 3 cloud shadow, 8/9 cloud
# medium/high probability, 10 thin cirrus.  Snow (11) is not an obstruction.
SCL_NODATA = 0
SCL_OBSCURED = (3, 8, 9, 10)
# A scene is "cloudy" when more than this share of the visible track pixels is obscured: beyond
# it the few visible metres of track cannot be scaled up to a yard count.
CLOUDY_TRACK_FRACTION = 0.7
# A scene is "no_data" when less than this share of the track pixels holds data at all.
NO_DATA_TRACK_FRACTION = 0.05
TRACK_BUFFER_M = 10.0

# Bytes fetched by the first read of a remote file: the COG header and tile index fit in it
# (same figure as GDAL_INGESTED_BYTES_AT_OPEN above); later small reads fetch MIN_FETCH.
FIRST_FETCH = 32768
MIN_FETCH = 16384
# Tile ranges of one window closer than this are fetched as one request: a round trip costs more
# than a few kilobytes of unwanted bytes.
MERGE_GAP = 16384


class SceneReadError(RailwatchError, OSError):
    """An asset could not be read: HTTP failure after retries, truncated file, missing asset."""


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
        rows, cols = next(iter(self.bands.values())).shape
        return (rows, cols)

    @property
    def pixel_size(self) -> float:
        return float(abs(self.transform.a))


@dataclass(frozen=True)
class RasterWindow:
    """The AOI window of one asset on the asset's own grid, raw values, nodata outside the file."""

    data: np.ndarray
    transform: Affine
    epsg: int
    nodata: float

    @property
    def valid(self) -> np.ndarray:
        return self.data != self.nodata


@dataclass(frozen=True)
class SclAssessment:
    """What the scene classification says about a site's tracks."""

    status: str  # "ok", "cloudy" or "no_data"
    data_fraction: float  # share of track pixels holding data
    cloud_fraction: float  # share of the track pixels with data that clouds or shadows hide
    snow_fraction: float


# --- the window cache ---------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("railwatch", appauthor=False)) / "windows"


class WindowCache:
    """Read windows kept on disk (one ``.npz`` each) and in memory for the life of the object.

    With ``directory=None`` only the memory layer is used: a run still reads each window once.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memory: dict[str, RasterWindow] = {}
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(item_id: str, asset: str, href: str, site: Site) -> str:
        parts = [item_id, asset, redact(href), [round(v, 7) for v in site.aoi.bounds]]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]

    def get(self, key: str) -> RasterWindow | None:
        with self._lock:
            found = self._memory.get(key)
        if found is None and self.directory is not None:
            path = self.directory / key[:2] / f"{key}.npz"
            try:
                with np.load(path) as saved:
                    found = RasterWindow(
                        data=saved["data"],
                        transform=Affine(*saved["transform"].tolist()),
                        epsg=int(saved["epsg"]),
                        nodata=float(saved["nodata"]),
                    )
            except (OSError, KeyError, ValueError):
                found = None  # absent or half-written by a killed run: read it again
        if found is not None:
            with self._lock:
                self._memory[key] = found
                self.hits += 1
        return found

    def put(self, key: str, window: RasterWindow) -> None:
        with self._lock:
            self._memory[key] = window
        if self.directory is None:
            return
        folder = self.directory / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.npz"
        np.savez(
            temporary,
            data=window.data,
            transform=np.array(tuple(window.transform)[:6]),
            epsg=window.epsg,
            nodata=window.nodata,
        )
        os.replace(temporary, folder / f"{key}.npz")


# --- remote files through the HTTP seam ---------------------------------------------------------


class RangeFile:
    """A read-only file object over HTTP range requests, for rasterio's ``opener``.

    Fetched ranges are kept for the life of the object, so GDAL's many small header reads cost
    one request.  A failure is kept in ``error`` because GDAL replaces it with a generic message.
    """

    def __init__(self, client: HttpClient, url: str) -> None:
        self.client = client
        self.url = url
        self.size: int | None = None
        self.error: Exception | None = None
        self._chunks: list[tuple[int, bytes]] = []
        self._position = 0

    def _fetch(self, start: int, stop: int) -> None:
        try:
            data, total = self.client.get_range(self.url, start, stop)
        except NetworkError as err:
            self.error = err
            raise
        if total is not None:
            self.size = total
        self._chunks.append((start, data))

    def _ensure_size(self) -> int:
        if self.size is None:
            self._fetch(0, FIRST_FETCH)
        if self.size is None:
            self.error = SceneReadError(f"{redact(self.url)}: the server does not tell its size")
            raise self.error
        return self.size

    def _cached(self, start: int, stop: int) -> bytes | None:
        for first, data in self._chunks:
            if first <= start and stop <= first + len(data):
                return data[start - first : stop - first]
        return None

    # GDAL calls read() and get_byte_ranges() from C: an exception escaping them is reported as
    # an "unraisable" error or worse, so they keep it in ``error`` and return short data instead,
    # which GDAL turns into a failed read that _read_window replaces with ``error``.

    def get_byte_ranges(self, offsets: list[int], sizes: list[int]) -> list[bytes]:
        """GDAL's multi-range read: all tiles of a window, near neighbours merged into one GET."""
        try:
            return self._byte_ranges(offsets, sizes)
        except (OSError, RailwatchError) as err:
            self.error = self.error or err
            return [b"" for _ in offsets]

    def read(self, size: int = -1) -> bytes:
        try:
            return self._read(size)
        except (OSError, RailwatchError) as err:
            self.error = self.error or err
            return b""

    def _byte_ranges(self, offsets: list[int], sizes: list[int]) -> list[bytes]:
        total = self._ensure_size()
        wanted = sorted(
            (start, min(total, start + size))
            for start, size in zip(offsets, sizes, strict=True)
            if size > 0 and self._cached(start, min(total, start + size)) is None
        )
        merged: list[list[int]] = []
        for start, stop in wanted:
            if merged and start - merged[-1][1] <= MERGE_GAP:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        for start, stop in merged:
            self._fetch(start, stop)
        out = []
        for start, size in zip(offsets, sizes, strict=True):
            self._position = start
            out.append(self._read(size))
        return out

    def _read(self, size: int = -1) -> bytes:
        total = self._ensure_size()
        start = self._position
        stop = total if size is None or size < 0 else min(total, start + size)
        if start >= stop:
            return b""
        data = self._cached(start, stop)
        if data is None:
            self._fetch(start, min(total, max(stop, start + MIN_FETCH)))
            data = self._cached(start, stop)
        if data is None or len(data) != stop - start:
            got = 0 if data is None else len(data)
            self.error = SceneReadError(
                f"{redact(self.url)}: truncated file (asked for bytes {start}-{stop - 1} "
                f"of {total}, got {got})"
            )
            raise self.error
        self._position = stop
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._ensure_size() + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        """Kept open: GDAL closes and reopens; the fetched bytes stay until the object goes."""

    def __enter__(self) -> RangeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


class _RemoteFile(MultiByteRangeResourceContainer):
    """rasterio's view of one remote file: a single :class:`RangeFile` and no sidecars, so GDAL
    never spends a request looking for ``.ovr``/``.aux.xml``/``.msk`` files that are not there."""

    def __init__(self, client: HttpClient, url: str) -> None:
        self.file = RangeFile(client, url)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> RangeFile:
        self.file.seek(0)
        return self.file

    def isfile(self, path: str) -> bool:
        return path == self.file.url

    def isdir(self, path: str) -> bool:
        return False

    def ls(self, path: str) -> list[str]:
        return []

    def mtime(self, path: str) -> int:
        return 0

    def size(self, path: str) -> int:
        return self.file._ensure_size()

    def rm(self, path: str) -> None:
        raise SceneReadError(f"{redact(path)}: remote imagery is read-only")


def _is_remote(href: str) -> bool:
    return href.startswith(("http://", "https://"))


def _read_window(
    href: str,
    site: Site,
    *,
    client: HttpClient,
    what: str,
) -> RasterWindow:
    """The AOI window of ``href`` on its own grid; nodata fills what lies outside the file."""
    remote = _RemoteFile(client, href) if _is_remote(href) else None
    try:
        if remote is not None:
            # Fetch the header here, not inside GDAL's open callbacks: an exception raised in
            # those can abort the process instead of failing the open.
            remote.file._ensure_size()
        with ExitStack() as stack:
            stack.enter_context(rasterio.Env(**GDAL_OPTIONS))
            source = stack.enter_context(rasterio.open(href, opener=remote))
            return _window_of(source, site, href)
    except RasterioError as err:
        reason = remote.file.error if remote is not None else None
        detail = str(reason) if reason is not None else str(err).splitlines()[0]
        raise SceneReadError(f"{what}: {detail}") from (reason or err)
    except (NetworkError, SceneReadError) as err:
        raise SceneReadError(f"{what}: {err.message}") from err


def _window_of(source: Any, site: Site, href: str) -> RasterWindow:
    if source.crs is None:
        raise InputFileError(
            f"{redact(href)}: the raster has no coordinate reference system",
            hint="georeference the file (for example with gdal_edit.py -a_srs) and try again",
        )
    grid = source.transform
    if grid.b != 0 or grid.d != 0 or grid.e >= 0:
        raise InputFileError(
            f"{redact(href)}: the raster grid is rotated or not north-up",
            hint="warp it to a north-up grid first (gdalwarp)",
        )
    epsg = source.crs.to_epsg() or 0
    to_raster = Transformer.from_crs(4326, source.crs, always_xy=True)
    west, south, east, north = reproject(site.aoi, to_raster).bounds
    col0 = math.floor((west - grid.c) / grid.a)
    col1 = math.ceil((east - grid.c) / grid.a)
    row0 = math.floor((north - grid.f) / grid.e)
    row1 = math.ceil((south - grid.f) / grid.e)
    nodata = source.nodata if source.nodata is not None else 0
    dtype = source.dtypes[0]
    out = np.full((source.count, row1 - row0, col1 - col0), nodata, dtype=dtype)
    inner_c0, inner_c1 = max(col0, 0), min(col1, source.width)
    inner_r0, inner_r1 = max(row0, 0), min(row1, source.height)
    if inner_c0 < inner_c1 and inner_r0 < inner_r1:
        window = Window(inner_c0, inner_r0, inner_c1 - inner_c0, inner_r1 - inner_r0)
        out[:, inner_r0 - row0 : inner_r1 - row0, inner_c0 - col0 : inner_c1 - col0] = (
            source.read(window=window)
        )
    return RasterWindow(
        data=out, transform=grid @ Affine.translation(col0, row0), epsg=epsg, nodata=nodata
    )


# --- items --------------------------------------------------------------------------------------

ItemLike = pystac.Item | str | Path


def load_item(item: ItemLike, *, client: HttpClient | None = None) -> pystac.Item:
    """A pystac Item from an Item, a local item JSON path, or an http(s) URL of one."""
    if isinstance(item, pystac.Item):
        return item
    text = str(item)
    if _is_remote(text):
        document = (client or HttpClient()).get_json(text)
        loaded = pystac.Item.from_dict(document)
        loaded.set_self_href(text)
        return loaded
    path = Path(text)
    if not path.is_file():
        raise InputFileError(f"{path}: no such STAC item file", hint="check the path")
    try:
        return pystac.Item.from_file(str(path.resolve()))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
        raise InputFileError(
            f"{path}: not a STAC item ({err.__class__.__name__}: {err})",
            hint="give the JSON file of one STAC item",
        ) from err


def asset_href(item: pystac.Item, key: str) -> str | None:
    """The absolute href of the asset playing role ``key`` (Earth Search or PC naming)."""
    for name in ASSET_ALIASES.get(key, (key,)):
        asset = item.assets.get(name)
        if asset is not None:
            return asset.get_absolute_href() or asset.href
    return None


def _asset_window(
    item: pystac.Item,
    key: str,
    site: Site,
    *,
    client: HttpClient,
    cache: WindowCache | None,
) -> RasterWindow:
    href = asset_href(item, key)
    if href is None:
        raise SceneReadError(f"item {item.id}: no {key!r} asset")
    cache_key = WindowCache.key(item.id, key, href, site)
    if cache is not None:
        found = cache.get(cache_key)
        if found is not None:
            return found
    window = _read_window(href, site, client=client, what=f"item {item.id} asset {key}")
    if window.data.shape[0] != 1:
        raise SceneReadError(f"item {item.id} asset {key}: expected 1 band, found {window.data.shape[0]}")
    window = RasterWindow(window.data[0], window.transform, window.epsg, window.nodata)
    if cache is not None:
        cache.put(cache_key, window)
    return window


def read_scl(
    item: ItemLike,
    site: Site,
    *,
    cache: WindowCache | None = None,
    client: HttpClient | None = None,
) -> RasterWindow | None:
    """The SCL window of the AOI on its native 20 m grid, or None when the item has no SCL."""
    client = client or HttpClient()
    item = load_item(item, client=client)
    if asset_href(item, SCL_KEY) is None:
        return None
    return _asset_window(item, SCL_KEY, site, client=client, cache=cache)


def read_item(
    item: ItemLike,
    site: Site,
    *,
    cache: WindowCache | None = None,
    client: HttpClient | None = None,
) -> Scene:
    """Read the site's AOI from one Sentinel-2 L2A item as a harmonised :class:`Scene`.

    Raises :class:`SceneReadError` when an asset is missing or cannot be read after retries.
    """
    client = client or HttpClient()
    item = load_item(item, client=client)
    raw = {key: _asset_window(item, key, site, client=client, cache=cache) for key in BAND_KEYS}
    reference = raw[BAND_KEYS[0]]
    for key, window in raw.items():
        if window.transform != reference.transform or window.data.shape != reference.data.shape:
            raise SceneReadError(f"item {item.id}: asset {key} is not on the grid of {BAND_KEYS[0]}")
    baseline = processing_baseline(item)
    valid = np.logical_and.reduce([w.valid for w in raw.values()])
    scl = None
    judged = valid
    if asset_href(item, SCL_KEY) is not None:
        scl_window = _asset_window(item, SCL_KEY, site, client=client, cache=cache)
        scl = _nearest_on_grid(scl_window, reference.transform, reference.data.shape)
        scl[~valid] = SCL_NODATA
        judged = np.isin(scl, CLEAR_SURFACE_CLASSES)
    offset, offset_reason = boa_offset(
        baseline,
        item.properties.get("earthsearch:boa_offset_applied"),
        [w.data[judged] for w in raw.values()],
        clear_surface=scl is not None,
    )
    bands = {}
    for key, window in raw.items():
        reflectance = (window.data.astype(np.float32) - offset) / np.float32(REFLECTANCE_SCALE)
        reflectance[~valid] = np.nan
        bands[key] = reflectance
    return Scene(
        scene_id=item.id,
        datetime=_item_datetime(item),
        epsg=reference.epsg,
        transform=reference.transform,
        bands=bands,
        scl=scl,
        platform=item.properties.get("platform"),
        processing_baseline=baseline,
        simulated=bool(item.properties.get("railwatch:simulated", False)),
        provenance={
            "item": item.id,
            "collection": item.collection_id,
            "assets": {key: redact(asset_href(item, key) or "") for key in (*BAND_KEYS, SCL_KEY)},
            "grid": item.properties.get("grid:code"),
            "boa_offset_dn": offset,
            "boa_offset_reason": offset_reason,
            "reader": "rasterio windowed read, native grid; scl nearest neighbour 20 m -> 10 m",
        },
    )


def _item_datetime(item: pystac.Item) -> datetime:
    if item.datetime is not None:
        return item.datetime
    start = item.common_metadata.start_datetime
    if start is None:
        raise SceneReadError(f"item {item.id}: no datetime")
    return start


_BASELINE_IN_PRODUCT = re.compile(r"_N(\d{2})(\d{2})_")


def processing_baseline(item: pystac.Item) -> str | None:
    """``s2:processing_baseline`` ("04.00"), or the one named in the product id ("N0400")."""
    value = item.properties.get("s2:processing_baseline")
    if value:
        return str(value)
    for name in ("s2:product_uri", "s2:granule_id"):
        match = _BASELINE_IN_PRODUCT.search(str(item.properties.get(name, "")))
        if match:
            return f"{match[1]}.{match[2]}"
    return None


def _baseline_tuple(baseline: str | None) -> tuple[int, int] | None:
    if baseline is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", baseline)
    return (int(match[1]), int(match[2])) if match else None


def boa_offset(
    baseline: str | None,
    offset_applied_flag: Any,
    valid_values: Iterable[np.ndarray],
    *,
    clear_surface: bool = False,
) -> tuple[int, str]:
    """The DN offset to subtract, and why.

    Metadata gives a first answer (baseline >= 04.00 and no ``earthsearch:boa_offset_applied``
    flag set means +1000); the window's darkest percentile then confirms or overrules it, because
    the flag is known to be wrong on some items (SENSOR.md; Element84/earth-search issues 9, 66
    and 71).  ``clear_surface`` says the values are only pixels SCL calls clear land or water.
    """
    version = _baseline_tuple(baseline)
    if version is None or version < OFFSET_BASELINE:
        return 0, f"baseline {baseline or 'unknown'} predates the offset"
    by_metadata = 0 if offset_applied_flag is True else BOA_OFFSET_DN
    pooled = [np.asarray(values).ravel() for values in valid_values]
    pooled = [values for values in pooled if values.size]
    if sum(values.size for values in pooled) < MIN_PIXELS_TO_JUDGE:
        return by_metadata, "metadata (too few clear pixels to check)"
    dark = float(np.percentile(np.concatenate(pooled), DARK_PERCENTILE))
    if dark < BOA_OFFSET_DN:
        reason = "values: darkest percentile below 1000, offset already removed"
        return 0, reason if by_metadata else "metadata and values agree: offset removed"
    if dark < OFFSET_PRESENT_CEILING_DN[clear_surface]:
        reason = "values: darkest percentile just above 1000, offset present"
        return BOA_OFFSET_DN, reason if not by_metadata else "metadata and values agree: offset present"
    return by_metadata, "metadata (window too bright for the values to tell)"


def _nearest_on_grid(
    window: RasterWindow, transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Sample ``window`` at the centres of the pixels of the grid (transform, shape)."""
    rows, cols = shape
    xs = transform.c + transform.a * (np.arange(cols) + 0.5)
    ys = transform.f + transform.e * (np.arange(rows) + 0.5)
    source = window.transform
    src_cols = np.floor((xs - source.c) / source.a).astype(np.int64)
    src_rows = np.floor((ys - source.f) / source.e).astype(np.int64)
    height, width = window.data.shape
    inside = (src_rows[:, None] >= 0) & (src_rows[:, None] < height)
    inside = inside & (src_cols[None, :] >= 0) & (src_cols[None, :] < width)
    sampled = window.data[np.clip(src_rows, 0, height - 1)[:, None], np.clip(src_cols, 0, width - 1)]
    out = np.where(inside, sampled, SCL_NODATA).astype(np.uint8)
    out[sampled == window.nodata] = SCL_NODATA
    return out


# --- cloud and data over the tracks -------------------------------------------------------------


# rasterio burns shapes into an in-memory dataset that it georeferences only after opening it,
# and warns on the way (NotGeoreferencedWarning) though the transform is applied.  Set once here:
# ``warnings.catch_warnings`` is not thread-safe, and the scan reads items in threads (the demo
# printed the warning now and then).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.features")


def track_mask(site: Site, transform: Affine, shape: tuple[int, int], epsg: int) -> np.ndarray:
    """Pixels of the grid within TRACK_BUFFER_M of a track (the whole AOI if no track falls in)."""
    to_grid = Transformer.from_crs(4326, CRS.from_epsg(epsg), always_xy=True)
    shapes = [reproject(track.line, to_grid).buffer(TRACK_BUFFER_M) for track in site.tracks]
    mask = np.zeros(shape, dtype=bool)
    if shapes:
        mask = rasterio.features.geometry_mask(
            shapes, out_shape=shape, transform=transform, invert=True, all_touched=True
        )
    if not mask.any():
        mask = rasterio.features.geometry_mask(
            [reproject(site.aoi, to_grid)], out_shape=shape, transform=transform,
            invert=True, all_touched=True,
        )
    return mask


def assess_scl(scl: np.ndarray, transform: Affine, epsg: int, site: Site) -> SclAssessment:
    """Decide ``ok``/``cloudy``/``no_data`` from the SCL over the site's tracks (any grid)."""
    on_tracks = scl[track_mask(site, transform, scl.shape, epsg)]
    if on_tracks.size == 0:
        return SclAssessment("no_data", 0.0, 0.0, 0.0)
    with_data = on_tracks[on_tracks != SCL_NODATA]
    data_fraction = with_data.size / on_tracks.size
    if with_data.size == 0:
        return SclAssessment("no_data", 0.0, 0.0, 0.0)
    cloud_fraction = float(np.isin(with_data, SCL_OBSCURED).mean())
    snow_fraction = float((with_data == 11).mean())
    if data_fraction < NO_DATA_TRACK_FRACTION:
        status = "no_data"
    elif cloud_fraction > CLOUDY_TRACK_FRACTION:
        status = "cloudy"
    else:
        status = "ok"
    return SclAssessment(status, data_fraction, cloud_fraction, snow_fraction)


def item_footprint_covers(item: pystac.Item, site: Site) -> float:
    """Share of the site's AOI that the item's footprint covers (0 when it has no geometry)."""
    if not item.geometry:
        return 0.0
    footprint = shape(item.geometry)
    return float(footprint.intersection(site.aoi).area / site.aoi.area)


# --- a user's own GeoTIFF -----------------------------------------------------------------------

# Band order assumed when a file names neither its bands nor their colours: the order of the
# 4-band analytic products of Planet and Maxar (blue, green, red, near-infrared), and plain RGB.
DEFAULT_BAND_ORDER = {4: ("blue", "green", "red", "nir"), 3: ("red", "green", "blue")}
_COLOUR_NAMES = {"blue": "blue", "green": "green", "red": "red", "nir": "nir", "b02": "blue",
                 "b03": "green", "b04": "red", "b08": "nir", "near-infrared": "nir",
                 "nearinfrared": "nir", "near infrared": "nir"}


def read_geotiff(path: Path, site: Site, when: datetime) -> Scene:
    """The AOI window of a user's GeoTIFF (any CRS, any resolution) on the file's own grid.

    Bands are named from the file's band descriptions or colour interpretation, else by
    :data:`DEFAULT_BAND_ORDER`.  Integer values are scaled to 0..1 (8-bit by 255, 16-bit by
    10000); such numbers are relative brightness, not calibrated reflectance.  There is no SCL.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such GeoTIFF", hint="check the path")
    try:
        with rasterio.Env(**GDAL_OPTIONS), rasterio.open(path) as source:
            names = _band_names(source, path)
            window = _window_of(source, site, str(path))
            dtype = source.dtypes[0]
            epsg = source.crs.to_epsg()
    except RasterioError as err:
        raise InputFileError(
            f"{path}: not a readable GeoTIFF ({str(err).splitlines()[0]})",
            hint="give a GeoTIFF file",
        ) from err
    if epsg is None:
        raise InputFileError(
            f"{path}: its coordinate reference system has no EPSG code",
            hint="warp it to a UTM zone (gdalwarp -t_srs EPSG:326xx)",
        )
    valid = (window.data != window.nodata).all(axis=0)
    if not valid.any():
        raise InputFileError(
            f"{path}: the image does not cover site {site.id!r}",
            hint="check the site and the file, or reproject a file that covers the AOI",
        )
    scale = {"uint8": 255.0, "uint16": REFLECTANCE_SCALE}.get(dtype, 1.0)
    bands = {}
    for index, name in enumerate(names):
        if name is None:
            continue
        values = window.data[index].astype(np.float32) / np.float32(scale)
        values[~valid] = np.nan
        bands[name] = values
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Scene(
        scene_id=f"geotiff-{path.stem}-{digest}",
        datetime=when,
        epsg=epsg,
        transform=window.transform,
        bands=bands,
        scl=None,
        provenance={
            "file": path.name,
            "sha256_12": digest,
            "bands": [n for n in names if n],
            "scale": f"{dtype} / {scale:g}",
            "reader": "rasterio windowed read, native grid",
        },
    )


def _band_names(source: Any, path: Path) -> list[str | None]:
    described = [_COLOUR_NAMES.get((d or "").strip().lower()) for d in source.descriptions]
    if {"red", "green", "blue"} <= set(described):
        return described
    interpretations = [c.name.lower() for c in source.colorinterp]
    colours = [_COLOUR_NAMES.get(name) for name in interpretations]
    if {"red", "green", "blue"} <= set(colours):
        if source.count == 4 and interpretations.count("undefined") == 1:
            colours[interpretations.index("undefined")] = "nir"  # an RGB file with one more band
        return colours
    if source.count in DEFAULT_BAND_ORDER:
        return list(DEFAULT_BAND_ORDER[source.count])
    raise InputFileError(
        f"{path}: {source.count} bands without names; cannot tell red, green and blue apart",
        hint="set band descriptions (gdal_edit.py) or give a 3-band RGB or 4-band BGRN file",
    )
