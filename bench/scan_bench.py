"""Speed of railwatch's scan reads against odc-stac ``load``, on one site-year from a loopback server.

The site-year: 73 passes over Tumangang in 2023 (every 5 days, Sentinel-2A and 2B alternating),
each published by the two overlapping MGRS tiles 52TFM and 52TFN: 146 items.  Assets are
full-size synthetic COGs (10980 x 10980 at 10 m, 5490 x 5490 SCL at 20 m, 1024-pixel DEFLATE tiles,
no overviews), generated once into ``--data-dir``: noisy (compressing like real imagery) in the
blocks near the AOI, constant elsewhere.  One file per tile and kind is served under a distinct URL
per item and asset, so no reader can share a cache across items.  Every third pass is cloudy over
the site.  The server adds ``--latency`` seconds to every request.

Both readers get the same STAC search, AOI, bands (blue, green, red, nir, scl) and dates; odc-stac
loads on the native 10 m UTM grid, grouped by solar day, SCL by nearest neighbour, with the GDAL
settings of SENSOR.md — once with its default (sequential) and once with the same thread pool as
railwatch.  railwatch runs ``pipeline.scan`` with a detector that does nothing, so only search and
reads are timed.  The table reports wall time, requests and bytes served, and the compressed size
of the COG tiles that intersect the AOI (over the 73 scenes, five assets each).

Run: ``.venv/bin/python bench/scan_bench.py`` (first run writes ~0.5 GB of COGs, a minute or two).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely import transform as shapely_transform
from shapely.geometry import box, mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stac_server import StacServer  # noqa: E402

from railwatch.http import HttpClient  # noqa: E402
from railwatch.imagery import GDAL_OPTIONS, WindowCache  # noqa: E402
from railwatch.pipeline import scan  # noqa: E402
from railwatch.sites import builtin_sites  # noqa: E402
from railwatch.stac import find_acquisitions  # noqa: E402
from railwatch.store import open_store  # noqa: E402

SIZE_10M, SIZE_20M, BLOCK = 10980, 5490, 1024
# Upper-left corners of the Sentinel-2 tiles in UTM 52N (100 km MGRS squares, 109.8 km tiles).
TILES = {"52TFM": (600000.0, 4700040.0), "52TFN": (600000.0, 4800040.0)}
BANDS = ("blue", "green", "red", "nir")
START, END = date(2023, 1, 1), date(2023, 12, 31)


def write_cog(path: Path, origin: tuple[float, float], pixel: int, size: int, dtype: str,
              aoi_utm: Any, fill: int, noise: tuple[int, int] | None, seed: int) -> None:
    """A full-size tile COG: constant ``fill``, random values in the blocks around the AOI."""
    data = np.full((size, size), fill, dtype=dtype)
    west, south, east, north = aoi_utm.bounds
    block = BLOCK
    c0 = max(0, int((west - origin[0]) / pixel) // block - 1) * block
    c1 = min(size, (int((east - origin[0]) / pixel) // block + 2) * block)
    r0 = max(0, int((origin[1] - north) / pixel) // block - 1) * block
    r1 = min(size, (int((origin[1] - south) / pixel) // block + 2) * block)
    if noise is not None:
        rng = np.random.default_rng(seed)
        data[r0:r1, c0:c1] = rng.integers(noise[0], noise[1], size=(r1 - r0, c1 - c0), dtype=dtype)
    with rasterio.open(
        path, "w", driver="COG", width=size, height=size, count=1, dtype=dtype, nodata=0,
        crs="EPSG:32652", transform=from_origin(origin[0], origin[1], pixel, pixel),
        blocksize=block, compress="deflate", predictor=2, overviews="NONE", bigtiff="NO",
    ) as sink:
        sink.write(data, 1)


def cloudy_scl(path: Path, origin: tuple[float, float], aoi_utm: Any, clear: Path) -> None:
    with rasterio.open(clear) as source:
        data = source.read(1)
    west, south, east, north = aoi_utm.buffer(200).bounds
    rows = slice(int((origin[1] - north) / 20), int((origin[1] - south) / 20) + 1)
    cols = slice(int((west - origin[0]) / 20), int((east - origin[0]) / 20) + 1)
    data[rows, cols] = 9
    with rasterio.open(
        path, "w", driver="COG", width=SIZE_20M, height=SIZE_20M, count=1, dtype="uint8",
        nodata=0, crs="EPSG:32652", transform=from_origin(origin[0], origin[1], 20, 20),
        blocksize=BLOCK, compress="deflate", overviews="NONE",
    ) as sink:
        sink.write(data, 1)


def make_files(folder: Path, aoi_utm: Any) -> dict[str, dict[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Path]] = {}
    for number, (tile, origin) in enumerate(TILES.items()):
        paths = {"band": folder / f"{tile}_band.tif", "scl": folder / f"{tile}_scl.tif",
                 "scl_cloudy": folder / f"{tile}_scl_cloudy.tif"}
        if not paths["band"].exists():
            print(f"writing {paths['band'].name} ...", file=sys.stderr, flush=True)
            write_cog(paths["band"], origin, 10, SIZE_10M, "uint16", aoi_utm, 1200, (1100, 4000),
                      number)
        if not paths["scl"].exists():
            # SCL: classes 4-6 near the AOI (vegetation, bare, water) like a real classification.
            write_cog(paths["scl"], origin, 20, SIZE_20M, "uint8", aoi_utm, 4, (4, 7), number)
        if not paths["scl_cloudy"].exists():
            cloudy_scl(paths["scl_cloudy"], origin, aoi_utm, paths["scl"])
        files[tile] = paths
    return files


def publish(server: StacServer, files: dict[str, dict[str, Path]]) -> int:
    """146 items: 73 passes x 2 tiles, asset URLs distinct per item."""
    to_wgs84 = Transformer.from_crs(32652, 4326, always_xy=True)
    first = datetime(2023, 1, 3, 2, 17, 30, tzinfo=UTC)
    count = 0
    for number in range(73):
        when = first + timedelta(days=5 * number)
        platform = "sentinel-2a" if number % 2 == 0 else "sentinel-2b"
        cloudy = number % 3 == 2
        for tile, (x0, y0) in TILES.items():
            item_id = f"S2{platform[-1].upper()}_{tile}_{when:%Y%m%d}_0_L2A"
            footprint = shapely_transform(
                box(x0, y0 - SIZE_10M * 10, x0 + SIZE_10M * 10, y0), to_wgs84.transform,
                interleaved=False,
            )
            assets = {}
            for key in (*BANDS, "scl"):
                kind = ("scl_cloudy" if cloudy else "scl") if key == "scl" else "band"
                source = files[tile][kind]
                pixel, size = (20, SIZE_20M) if key == "scl" else (10, SIZE_10M)
                assets[key] = {
                    "href": server.alias(f"{item_id}/{key}.tif", source),
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "roles": ["data"],
                    "proj:epsg": 32652,
                    "proj:shape": [size, size],
                    "proj:transform": [pixel, 0, x0, 0, -pixel, y0],
                    "raster:bands": [{"nodata": 0, "data_type": "uint16" if key != "scl" else "uint8"}],
                }
            server.add_item_dict({
                "type": "Feature", "stac_version": "1.0.0", "id": item_id,
                "stac_extensions": [
                    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                ],
                "collection": "sentinel-2-l2a", "geometry": mapping(footprint),
                "bbox": list(footprint.bounds),
                "properties": {
                    "datetime": when.isoformat().replace("+00:00", "Z"), "platform": platform,
                    "eo:cloud_cover": 80.0 if cloudy else 5.0, "s2:processing_baseline": "05.09",
                    "grid:code": f"MGRS-{tile}", "proj:epsg": 32652,
                },
                "links": [], "assets": assets,
            })
            count += 1
    return count


def intersecting_tile_bytes(
    files: dict[str, dict[str, Path]], aoi_utm: Any, scenes: list[Any], *, bands: bool = True
) -> int:
    """Compressed bytes of the COG tiles that intersect the AOI, summed over scenes and assets
    (the SCL only when ``bands`` is false)."""

    def tiles(path: Path) -> int:
        with rasterio.open(path) as source:
            grid = source.transform
            west, south, east, north = aoi_utm.bounds
            c0, c1 = int((west - grid.c) / grid.a), math.ceil((east - grid.c) / grid.a)
            r0, r1 = int((north - grid.f) / grid.e), math.ceil((south - grid.f) / grid.e)
            window = Window(c0, r0, c1 - c0, r1 - r0)
            total = 0
            for (i, j), block in source.block_windows(1):
                if _overlaps(block, window):
                    total += source.block_size(1, i, j)
            return total

    per_file = {path: tiles(path) for paths in files.values() for path in paths.values()}
    total = 0
    for acquisition in scenes:
        tile = acquisition.item.properties["grid:code"].removeprefix("MGRS-")
        cloudy = acquisition.item.properties["eo:cloud_cover"] > 50
        total += 4 * per_file[files[tile]["band"]] if bands else 0
        total += per_file[files[tile]["scl_cloudy" if cloudy else "scl"]]
    return total


def _overlaps(a: Window, b: Window) -> bool:
    return (a.col_off < b.col_off + b.width and b.col_off < a.col_off + a.width
            and a.row_off < b.row_off + b.height and b.row_off < a.row_off + a.height)


@dataclass
class Run:
    name: str
    seconds: float
    requests: int
    bytes: int
    note: str


class _Nothing:
    status, car_equivalents, car_equivalents_interval = "ok", None, None
    visible_fraction, detector_version = None, "bench-no-detector"

    def to_json(self) -> dict[str, Any]:
        return {}


def run_railwatch(server: StacServer, site: Any, workers: int, tmp: Path) -> tuple[Run, list[Any]]:
    server.reset_log()
    started = time.perf_counter()
    client = HttpClient(pool_size=workers * 2)
    acquisitions = find_acquisitions(site, START, END, client=client, stac_url=server.url)
    with open_store(tmp / "bench.sqlite") as store:
        summary = scan(site, acquisitions, store=store, client=client, cache=WindowCache(),
                       detector=lambda scene, site, history=None: _Nothing(), workers=workers,
                       history=False)
    seconds = time.perf_counter() - started
    note = ", ".join(f"{v} {k}" for k, v in sorted(summary.statuses.items()))
    return Run(f"railwatch scan (workers={workers})", seconds, len(server.log),
               server.bytes_served(), f"{len(acquisitions)} scenes: {note}"), acquisitions


def run_odc(server: StacServer, site: Any, pool: int | None) -> Run:
    import odc.stac
    from pystac_client import Client

    odc.stac.configure_rio(**GDAL_OPTIONS)
    server.reset_log()
    started = time.perf_counter()
    items = list(Client.open(server.url).search(
        collections=["sentinel-2-l2a"], bbox=site.bbox, datetime="2023-01-01/2023-12-31",
    ).items())
    data = odc.stac.load(
        items, bands=[*BANDS, "scl"], bbox=site.bbox, crs="EPSG:32652", resolution=10,
        groupby="solar_day", resampling={"scl": "nearest", "*": "nearest"}, pool=pool,
    )
    data.load()
    seconds = time.perf_counter() - started
    return Run(f"odc-stac load (pool={pool or 'none'})", seconds, len(server.log),
               server.bytes_served(), f"{len(items)} items -> {data.sizes.get('time')} days")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "railwatch-scan-bench")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--skip-sequential-odc", action="store_true")
    args = parser.parse_args()

    site = builtin_sites()["tumangang"]
    aoi_utm = site.to_utm(site.aoi)
    files = make_files(args.data_dir, aoi_utm)
    runs: list[Run] = []
    server = StacServer(args.data_dir, latency_s=args.latency)
    with tempfile.TemporaryDirectory() as scratch, server:
        server.add_collection("sentinel-2-l2a")
        count = publish(server, files)
        ours, acquisitions = run_railwatch(server, site, args.workers, Path(scratch))
        runs.append(ours)
        runs.append(run_odc(server, site, args.workers))
        if not args.skip_sequential_odc:
            runs.append(run_odc(server, site, None))
    reference = intersecting_tile_bytes(files, aoi_utm, acquisitions)
    clear = [a for a in acquisitions if a.item.properties["eo:cloud_cover"] <= 50]
    cloudy = [a for a in acquisitions if a.item.properties["eo:cloud_cover"] > 50]
    # What railwatch needs: every asset of the clear scenes, only the SCL of the cloudy ones.
    needed = intersecting_tile_bytes(files, aoi_utm, clear) + intersecting_tile_bytes(
        files, aoi_utm, cloudy, bands=False
    )
    import odc.stac
    import pystac_client

    print(f"\nsite-year: {count} items, {len(acquisitions)} solar days, AOI "
          f"{aoi_utm.bounds[2] - aoi_utm.bounds[0]:.0f} x {aoi_utm.bounds[3] - aoi_utm.bounds[1]:.0f} m; "
          f"latency {args.latency * 1000:.0f} ms per request; rasterio {rasterio.__version__} "
          f"(GDAL {rasterio.__gdal_version__}), odc-stac {odc.stac.__version__}, "
          f"pystac-client {pystac_client.__version__}")
    print(f"COG tiles intersecting the AOI (73 scenes x 5 assets): {reference / 1e6:.1f} MB; "
          f"of those needed once cloudy scenes stop at SCL: {needed / 1e6:.1f} MB "
          f"(railwatch read {ours.bytes / needed:.2f}x that)\n")
    header = (f"{'reader':34} {'wall s':>8} {'requests':>9} {'MB':>8} {'MB/tiles':>9} "
              f"{'vs railwatch':>13}  note")
    print(header)
    print("-" * len(header))
    for run in runs:
        print(f"{run.name:34} {run.seconds:8.1f} {run.requests:9d} {run.bytes / 1e6:8.1f} "
              f"{run.bytes / reference:9.2f} {run.seconds / ours.seconds:12.1f}x  {run.note}")


if __name__ == "__main__":
    main()
