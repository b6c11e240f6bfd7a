"""Files as Earth Search publishes them: COGs per band, a STAC item per acquisition, a catalog.

Real Earth Search v1 ``sentinel-2-l2a`` COGs are 1024 x 1024 tiled, DEFLATE-compressed with the
horizontal-differencing predictor, uint16 with nodata 0 (SCL uint8), with internal overviews;
their items carry ``raster:bands`` scale 0.0001 and offset -0.1 and the asset keys ``blue``,
``green``, ``red``, ``nir``, ``scl``.  The simulator writes the same, plus ``truth`` (the ground
truth JSON) and, when asked, ``hires`` (the <= 1 m RGBN GeoTIFF).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from pyproj import Transformer

from railwatch.simulate.fields import fractal_field
from railwatch.simulate.grid import TILE_SIZE_M, TileGrid, Window
from railwatch.simulate.render import RenderedScene
from railwatch.simulate.scl import SCL
from railwatch.simulate.sensor import encode_l2a

__all__ = ["BAND_FILES", "PROCESSING_BASELINE", "item_for", "write_item_files"]

PROCESSING_BASELINE = "05.09"
BAND_FILES = {"blue": "B02.tif", "green": "B03.tif", "red": "B04.tif", "nir": "B08.tif"}
BAND_META = {
    "blue": ("B02", "Blue (band 2) - 10m", 0.49, 0.098),
    "green": ("B03", "Green (band 3) - 10m", 0.56, 0.045),
    "red": ("B04", "Red (band 4) - 10m", 0.665, 0.038),
    "nir": ("B08", "NIR 1 (band 8) - 10m", 0.842, 0.145),
}
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
COG_OPTIONS = {"BLOCKSIZE": 1024, "COMPRESS": "DEFLATE", "PREDICTOR": 2, "OVERVIEWS": "AUTO",
               "RESAMPLING": "AVERAGE"}
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]


@dataclass(frozen=True)
class WrittenFiles:
    folder: Path
    window10: Window
    window20: Window
    hires: bool


def write_cog(path: Path, array: np.ndarray, transform: Affine, epsg: int, nodata: int,
              *, resampling: str = "AVERAGE") -> None:
    """One single-band COG laid out like the Earth Search ones."""
    options = dict(COG_OPTIONS, RESAMPLING=resampling)
    with rasterio.open(path, "w", driver="COG", width=array.shape[1], height=array.shape[0],
                       count=1, dtype=array.dtype, crs=f"EPSG:{epsg}", transform=transform,
                       nodata=nodata, **options) as dst:
        dst.write(array, 1)


def _full_tile(tile: TileGrid, resolution: float, window: Window, values: np.ndarray,
               fill: np.ndarray) -> tuple[np.ndarray, Affine]:
    """Paste a window into a whole tile filled with ``fill`` (already tile-sized)."""
    out = fill
    out[window.row_off:window.row_off + window.height,
        window.col_off:window.col_off + window.width] = values
    return out, tile.transform(resolution)


def _tile_background(tile: TileGrid, resolution: float, level: float, seed: int,
                     dtype: type) -> np.ndarray:
    """A land-like field of constant 600 m blocks for the tile outside the site: cheap to make
    and to compress; it exists so that window reads can be timed on real-size files."""
    size = tile.size(resolution)
    blocks = 183  # 109.8 km / 600 m
    rng = np.random.default_rng([seed, int(resolution)])
    coarse = fractal_field((blocks, blocks), rng, outer_scale_px=40)
    if dtype == np.uint8:
        values = np.where(coarse > 0.3, SCL["not_vegetated"], SCL["vegetation"]).astype(np.uint8)
    else:
        values = encode_l2a(np.clip(level * (1.0 + 0.25 * coarse), 0.01, 1.0))
    step = size // blocks
    return np.repeat(np.repeat(values, step, axis=0), step, axis=1)


def write_item_files(folder: Path, scene: RenderedScene, *, full_tile: bool = False,
                     hires: bool = False) -> WrittenFiles:
    """Write the band COGs, SCL, truth JSON and optional high-res GeoTIFF into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    grid = scene.grid
    epsg = grid.epsg
    for band, name in BAND_FILES.items():
        dn = encode_l2a(scene.bands[band])
        transform = grid.window10.transform
        if full_tile:
            level = float(np.nanmedian(scene.bands[band]))
            dn, transform = _full_tile(grid.tile, 10.0, grid.window10, dn,
                                       _tile_background(grid.tile, 10.0, level,
                                                        scene.state.seed, np.uint16))
        write_cog(folder / name, dn, transform, epsg, 0)
    scl, transform = scene.scl, grid.window20.transform
    if full_tile:
        scl, transform = _full_tile(grid.tile, 20.0, grid.window20, scl,
                                    _tile_background(grid.tile, 20.0, 0.0, scene.state.seed,
                                                     np.uint8))
    write_cog(folder / "SCL.tif", scl, transform, epsg, 0, resampling="NEAREST")
    if hires and scene.hires is not None:
        write_hires(folder / "hires.tif", scene)
    return WrittenFiles(folder, grid.window10, grid.window20, hires and scene.hires is not None)


def write_hires(path: Path, scene: RenderedScene) -> None:
    """The <= 1 m product: 4-band uint16 GeoTIFF (red, green, blue, nir), reflectance x 10000."""
    if scene.hires is None:
        raise ValueError("the scene was rendered without hires=True")
    fine = scene.grid.fine
    data = np.clip(np.rint(scene.hires * 10_000.0), 1, 65535).astype(np.uint16)
    transform = Affine(fine.resolution, 0, fine.west, 0, -fine.resolution, fine.north)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=4, dtype="uint16", crs=f"EPSG:{scene.epsg}", transform=transform,
                       nodata=0, tiled=True, blockxsize=512, blockysize=512, compress="DEFLATE",
                       predictor=2, interleave="pixel", photometric="RGB") as dst:
        dst.write(data)
        for index, name in enumerate(("red", "green", "blue", "nir"), start=1):
            dst.set_band_description(index, name)


def _footprint(bounds: tuple[float, float, float, float], epsg: int) -> dict[str, Any]:
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    west, south, east, north = bounds
    ring = [to_wgs84.transform(x, y) for x, y in
            ((west, south), (east, south), (east, north), (west, north), (west, south))]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def _scl_percentages(scl: np.ndarray) -> dict[str, float]:
    total = max(scl.size, 1)

    def pct(*codes: int) -> float:
        return round(100.0 * float(np.isin(scl, codes).sum()) / total, 6)

    return {
        "s2:nodata_pixel_percentage": pct(SCL["no_data"]),
        "s2:saturated_defective_pixel_percentage": pct(SCL["saturated"]),
        "s2:dark_features_percentage": pct(SCL["dark"]),
        "s2:cloud_shadow_percentage": pct(SCL["cloud_shadow"]),
        "s2:vegetation_percentage": pct(SCL["vegetation"]),
        "s2:not_vegetated_percentage": pct(SCL["not_vegetated"]),
        "s2:water_percentage": pct(SCL["water"]),
        "s2:unclassified_percentage": pct(SCL["unclassified"]),
        "s2:medium_proba_clouds_percentage": pct(SCL["cloud_medium"]),
        "s2:high_proba_clouds_percentage": pct(SCL["cloud_high"]),
        "s2:thin_cirrus_percentage": pct(SCL["thin_cirrus"]),
        "s2:snow_ice_percentage": pct(SCL["snow"]),
    }


def item_for(scene: RenderedScene, files: WrittenFiles, *, full_tile: bool,
             extra: dict[str, Any]) -> pystac.Item:
    """The STAC item of a written scene, shaped like an Earth Search v1 L2A item."""
    acq = scene.state.acquisition
    grid = scene.grid
    tile = grid.tile
    item_id = acq.item_id
    if full_tile:
        bounds = (tile.west, tile.north - TILE_SIZE_M, tile.west + TILE_SIZE_M, tile.north)
    else:
        bounds = grid.window10.bounds
    geometry = _footprint(bounds, grid.epsg)
    lons = [p[0] for p in geometry["coordinates"][0]]
    lats = [p[1] for p in geometry["coordinates"][0]]
    scl_pct = _scl_percentages(scene.scl)
    cloud = scl_pct["s2:medium_proba_clouds_percentage"] + scl_pct[
        "s2:high_proba_clouds_percentage"] + scl_pct["s2:thin_cirrus_percentage"]
    sat = item_id[:3]
    stamp = acq.datetime.strftime("%Y%m%dT%H%M%S")
    generated = acq.datetime + timedelta(hours=2)
    props: dict[str, Any] = {
        # Real items are created a few hours after sensing; a fixed offset keeps runs identical.
        "created": (acq.datetime + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": acq.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": round(cloud, 6),
        "proj:epsg": grid.epsg,
        "mgrs:utm_zone": int(tile.tile[:2]),
        "mgrs:latitude_band": tile.tile[2],
        "mgrs:grid_square": tile.tile[3:],
        "grid:code": f"MGRS-{tile.tile}",
        "view:sun_azimuth": round(scene.sun[1], 6),
        "view:sun_elevation": round(scene.sun[0], 6),
        **scl_pct,
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": PROCESSING_BASELINE,
        "s2:product_uri": f"{sat}_MSIL2A_{stamp}_N{PROCESSING_BASELINE.replace('.', '')}"
                          f"_R{acq.relative_orbit:03d}_T{tile.tile}_{generated:%Y%m%dT%H%M%S}.SAFE",
        "s2:mgrs_tile": tile.tile,
        "s2:datatake_id": f"G{sat}_{stamp}_000000_N{PROCESSING_BASELINE}",
        "s2:sequence": "0",
        "earthsearch:boa_offset_applied": True,
        "railwatch:simulated": True,
        **extra,
    }
    item = pystac.Item(id=item_id, geometry=geometry,
                       bbox=[min(lons), min(lats), max(lons), max(lats)],
                       datetime=acq.datetime, properties=props, stac_extensions=list(EXTENSIONS))
    shape10 = [tile.size(10.0), tile.size(10.0)] if full_tile else [grid.window10.height,
                                                                     grid.window10.width]
    t10 = tile.transform(10.0) if full_tile else grid.window10.transform
    for band, filename in BAND_FILES.items():
        code, title, centre, fwhm = BAND_META[band]
        item.add_asset(band, pystac.Asset(
            href=f"./{filename}", media_type=COG_TYPE, title=title, roles=["data", "reflectance"],
            extra_fields={
                "eo:bands": [{"name": band, "common_name": band, "description": title[:-6],
                              "center_wavelength": centre, "full_width_half_max": fwhm}],
                "gsd": 10, "proj:shape": shape10, "proj:transform": list(t10)[:6],
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                  "spatial_resolution": 10, "scale": 0.0001, "offset": -0.1}],
            }))
    shape20 = [tile.size(20.0), tile.size(20.0)] if full_tile else [grid.window20.height,
                                                                     grid.window20.width]
    t20 = tile.transform(20.0) if full_tile else grid.window20.transform
    item.add_asset("scl", pystac.Asset(
        href="./SCL.tif", media_type=COG_TYPE, title="Scene classification map (SCL)",
        roles=["data", "reflectance"],
        extra_fields={"gsd": 20, "proj:shape": shape20, "proj:transform": list(t20)[:6],
                      "raster:bands": [{"nodata": 0, "data_type": "uint8",
                                        "spatial_resolution": 20}]}))
    item.add_asset("truth", pystac.Asset(href="./truth.json", media_type="application/json",
                                         title="Simulator ground truth", roles=["metadata"]))
    if files.hires:
        fine = grid.fine
        item.add_asset("hires", pystac.Asset(
            href="./hires.tif", media_type="image/tiff; application=geotiff",
            title=f"High-resolution RGBN ({fine.resolution:g} m)", roles=["data"],
            extra_fields={"gsd": fine.resolution, "proj:shape": list(fine.shape),
                          "proj:transform": [fine.resolution, 0.0, fine.west, 0.0,
                                             -fine.resolution, fine.north],
                          "eo:bands": [{"name": n, "common_name": n}
                                       for n in ("red", "green", "blue", "nir")],
                          "raster:bands": [{"nodata": 0, "data_type": "uint16",
                                            "scale": 0.0001, "offset": 0.0}] * 4}))
    return item


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
