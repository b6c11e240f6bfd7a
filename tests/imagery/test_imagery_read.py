"""read_item: AOI windows on the native grid, harmonised reflectance, SCL, nodata, cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer

from railwatch.imagery import (
    BOA_OFFSET_DN,
    SceneReadError,
    WindowCache,
    assess_scl,
    boa_offset,
    read_item,
)
from tests.stac_server import KNOWN_REFLECTANCE, known_dn, write_s2_item

WHEN = datetime(2023, 10, 5, 2, 10, tzinfo=UTC)


def _grid_indices(scene, band_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Row and column, in the band file, of every pixel of the scene."""
    with rasterio.open(band_path) as source:
        grid = source.transform
    col0 = round((scene.transform.c - grid.c) / grid.a)
    row0 = round((scene.transform.f - grid.f) / grid.e)
    rows, cols = np.indices(scene.shape)
    return rows + row0, cols + col0


@pytest.mark.parametrize(
    ("baseline", "flag", "offset_in_data"),
    [
        ("02.14", None, False),  # before the offset existed
        ("05.10", None, True),  # offset present, metadata says so
        ("04.00", True, True),  # the flag says removed, the numbers say present
        ("04.00", None, False),  # metadata implies present, the numbers say removed
        ("05.00", False, False),  # flag says not applied, yet the values are offset-free
    ],
)
def test_reflectance_is_harmonised_by_values(tmp_path, site, baseline, flag, offset_in_data):
    path = write_s2_item(
        tmp_path, site, item_id="S2B_TEST", when=WHEN, baseline=baseline,
        offset_applied_flag=flag, offset_in_data=offset_in_data,
    )
    scene = read_item(path, site)
    rows, cols = _grid_indices(scene, path.parent / "blue.tif")
    for key in KNOWN_REFLECTANCE:
        expected = known_dn(key, rows, cols) / 10000.0
        np.testing.assert_allclose(scene.bands[key], expected, atol=1e-6)
        assert scene.bands[key].dtype == np.float32
    assert scene.provenance["boa_offset_dn"] == (BOA_OFFSET_DN if offset_in_data else 0)
    assert scene.processing_baseline == baseline


def test_window_is_the_aoi_on_the_native_10m_grid(tmp_path, site):
    path = write_s2_item(tmp_path, site, item_id="S2A_GRID", when=WHEN, margin_m=900)
    scene = read_item(path, site)
    with rasterio.open(path.parent / "blue.tif") as source:
        grid = source.transform
    assert scene.epsg == 32652
    assert scene.transform.a == 10 and scene.transform.e == -10
    # Same pixel lattice as the file: no resampling, only a whole-pixel offset.
    assert (scene.transform.c - grid.c) % 10 == 0 and (scene.transform.f - grid.f) % 10 == 0
    to_utm = Transformer.from_crs(4326, 32652, always_xy=True)
    west, south, east, north = site.to_utm(site.aoi).bounds
    x0, y0 = scene.transform.c, scene.transform.f
    x1 = x0 + scene.shape[1] * 10
    y1 = y0 - scene.shape[0] * 10
    assert x0 <= west < x0 + 10 and x1 - 10 < east <= x1
    assert y0 - 10 < north <= y0 and y1 <= south < y1 + 10
    assert to_utm is not None
    assert not np.isnan(scene.bands["red"]).any()


def test_scl_is_nearest_neighbour_on_the_10m_grid(tmp_path, site):
    path = write_s2_item(tmp_path, site, item_id="S2A_SCL", when=WHEN, scl_checker=True)
    scene = read_item(path, site)
    rows, cols = _grid_indices(scene, path.parent / "blue.tif")
    # Each 20 m SCL pixel covers exactly 2 x 2 pixels of 10 m.
    expected = 4 + (rows // 2 + cols // 2) % 2
    np.testing.assert_array_equal(scene.scl, expected)
    assert scene.scl.shape == scene.shape


def test_outside_the_footprint_is_nan_and_scl_zero(tmp_path, site):
    half = write_s2_item(
        tmp_path, site, item_id="S2A_HALF", when=WHEN, margin_m=0, shift_m=(1500.0, 0.0)
    )
    scene = read_item(half, site)
    missing = np.isnan(scene.bands["nir"])
    assert 0.2 < missing.mean() < 0.8
    assert (scene.scl[missing] == 0).all() and (scene.scl[~missing] == 4).all()
    # Columns left of the raster's west edge are the missing ones.
    assert missing[:, 0].all() and not missing[:, -1].any()

    away = write_s2_item(tmp_path, site, item_id="S2A_AWAY", when=WHEN, shift_m=(40_000.0, 0.0))
    scene = read_item(away, site)
    assert np.isnan(scene.bands["blue"]).all()
    assert assess_scl(scene.scl, scene.transform, scene.epsg, site).status == "no_data"


def test_pystac_item_and_json_path_give_the_same_scene(tmp_path, site):
    path = write_s2_item(tmp_path, site, item_id="S2A_SAME", when=WHEN)
    from_path = read_item(path, site)
    from_item = read_item(pystac.Item.from_file(str(path)), site)
    assert from_path.scene_id == from_item.scene_id == "S2A_SAME"
    assert from_path.datetime == WHEN
    for key in from_path.bands:
        np.testing.assert_array_equal(from_path.bands[key], from_item.bands[key])


def test_missing_local_asset_is_a_read_error_naming_it(tmp_path, site):
    path = write_s2_item(tmp_path, site, item_id="S2A_GONE", when=WHEN)
    (path.parent / "nir.tif").unlink()
    with pytest.raises(SceneReadError, match="nir"):
        read_item(path, site)


def test_cache_on_disk_is_used_by_a_new_cache_object(tmp_path, site):
    path = write_s2_item(tmp_path / "items", site, item_id="S2A_CACHE", when=WHEN)
    first = read_item(path, site, cache=WindowCache(tmp_path / "cache"))
    for name in ("blue", "green", "red", "nir", "scl"):
        (path.parent / f"{name}.tif").unlink()  # a second read must not need the files
    again_cache = WindowCache(tmp_path / "cache")
    again = read_item(path, site, cache=again_cache)
    assert again_cache.hits == 5
    for key in first.bands:
        np.testing.assert_array_equal(first.bands[key], again.bands[key])
    np.testing.assert_array_equal(first.scl, again.scl)


def test_scl_assessment_cloud_snow_and_threshold(tmp_path, site):
    cloudy = read_item(
        write_s2_item(tmp_path, site, item_id="CLOUD", when=WHEN, cloud_over_aoi=9), site
    )
    assert assess_scl(cloudy.scl, cloudy.transform, cloudy.epsg, site).status == "cloudy"
    snowy = read_item(
        write_s2_item(tmp_path, site, item_id="SNOW", when=WHEN, cloud_over_aoi=11), site
    )
    verdict = assess_scl(snowy.scl, snowy.transform, snowy.epsg, site)
    assert verdict.status == "ok" and verdict.snow_fraction == 1.0


def test_offset_rule_on_values():
    def pixels(*values):
        return [np.repeat(np.array(values), 50)]

    dark_with_offset = pixels(1005, 1040, 1500, 3000)
    dark_without = pixels(5, 40, 500, 2000)
    bright = pixels(6000, 7000, 8000)
    vegetation_with_offset = pixels(1210, 1400, 1800, 4000)  # darkest reflectance 0.021
    assert boa_offset("04.00", True, dark_with_offset)[0] == 1000
    assert boa_offset("04.00", None, dark_without)[0] == 0
    assert boa_offset("04.00", None, bright)[0] == 1000
    assert boa_offset("04.00", True, bright)[0] == 0
    assert boa_offset("03.01", None, dark_with_offset)[0] == 0
    assert boa_offset(None, None, dark_with_offset)[0] == 0
    # Only pixels SCL calls clear surface can prove an offset from a darkest value of 0.02.
    assert boa_offset("05.09", True, vegetation_with_offset, clear_surface=True)[0] == 1000
    assert boa_offset("05.09", True, vegetation_with_offset, clear_surface=False)[0] == 0
    # Too few pixels to judge: the metadata stands.
    assert boa_offset("04.00", True, [np.array([1005, 1010])])[0] == 0
