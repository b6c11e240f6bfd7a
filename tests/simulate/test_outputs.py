"""What the simulator writes: COGs on the tile grid, STAC items, truth, SCL; CLI behaviour."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio

from railwatch.cli import main
from railwatch.simulate import (
    Weather,
    decode_l2a,
    load_scenario,
    render_scene,
    scene_state_for,
    simulate,
    tile_grid,
)
from railwatch.simulate.landcover import CODE
from railwatch.simulate.scenarios import acquisitions
from railwatch.simulate.scl import SCL
from tests.simulate.conftest import clear_state


@pytest.fixture(scope="module")
def catalog(small_site, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "catalog"
    paths = simulate(small_site, "tumangang-2023", "2023-10-01", "2023-10-12", out, seed=2,
                     hires=True)
    assert [p.parent.name for p in paths] == [p.stem for p in paths]
    return out


def test_catalog_reads_with_pystac_and_items_look_like_earth_search(catalog):
    root = pystac.Catalog.from_file(str(catalog / "catalog.json"))
    items = sorted(root.get_items(), key=lambda i: i.datetime)
    assert [i.id for i in items] == ["S2B_52TFM_20231005_0_L2A", "S2A_52TFM_20231010_0_L2A"]
    item = items[0]
    assert (catalog / item.id / f"{item.id}.json").is_file()
    props = item.properties
    assert props["grid:code"] == "MGRS-52TFM"
    # pystac migrates proj:epsg (projection v1.1, as Earth Search v1 writes) to proj:code.
    assert props.get("proj:code", f"EPSG:{props.get('proj:epsg')}") == "EPSG:32652"
    raw = json.loads((catalog / item.id / f"{item.id}.json").read_text())
    assert raw["properties"]["proj:epsg"] == 32652
    assert props["earthsearch:boa_offset_applied"] is True and props["railwatch:simulated"] is True
    assert props["platform"] == "sentinel-2b" and props["s2:processing_baseline"] >= "04.00"
    assert 0.0 <= props["eo:cloud_cover"] <= 100.0
    assert {"blue", "green", "red", "nir", "scl", "truth", "hires"} <= set(item.assets)
    band = item.assets["red"].extra_fields["raster:bands"][0]
    assert (band["scale"], band["offset"], band["nodata"]) == (0.0001, -0.1, 0)
    links = json.loads((catalog / "catalog.json").read_text())["links"]
    assert all(not link["href"].startswith("/") for link in links)


def test_cogs_are_on_the_tile_grid_and_decode_to_the_rendered_reflectance(catalog, small_site,
                                                                           small_model):
    item_dir = catalog / "S2B_52TFM_20231005_0_L2A"
    grid = tile_grid("52TFM")
    with rasterio.open(item_dir / "B04.tif") as src:
        assert src.profile["blockxsize"] == 1024 and src.profile["compress"] == "deflate"
        assert src.dtypes[0] == "uint16" and src.nodata == 0 and src.crs.to_epsg() == 32652
        assert (src.transform.c - grid.west) % 10 == 0 and (grid.north - src.transform.f) % 10 == 0
        red = decode_l2a(src.read(1))
    with rasterio.open(item_dir / "SCL.tif") as src:
        assert src.res == (20.0, 20.0) and src.dtypes[0] == "uint8"
        assert set(np.unique(src.read(1))) <= set(SCL.values()) - {0}
    scenario = load_scenario("tumangang-2023")
    acq = acquisitions(scenario, "52TFM", datetime(2023, 10, 5).date(), datetime(2023, 10, 5).date())[0]
    from railwatch.simulate import site_model

    model = site_model(small_site, land_seed=2, river_width_m=scenario.river_width_m)
    scene = render_scene(small_site, scene_state_for(scenario, small_site, acq, 2), model=model)
    np.testing.assert_allclose(red, scene.bands["red"], atol=0.6e-4)


def test_truth_has_the_contract_fields_and_counts_the_cars(catalog):
    truth = json.loads((catalog / "S2B_52TFM_20231005_0_L2A" / "truth.json").read_text())
    for key in ("item", "site", "datetime", "cars_total", "cars_stationary",
                "cloud_fraction_tracks", "snow", "moving_trains", "cars"):
        assert key in truth
    assert truth["item"] == "S2B_52TFM_20231005_0_L2A" and truth["site"] == "test-line"
    inside = [c for c in truth["cars"] if c["inside_aoi"]]
    assert truth["cars_total"] == len(inside)
    assert truth["cars_stationary"] == sum(not c["moving"] for c in inside)
    for car in truth["cars"]:
        assert {"track", "type", "length_m", "x", "y", "heading_deg", "moving"} <= set(car)
        assert 5.0 < car["length_m"] < 26.0


def test_hires_product_is_one_metre_rgbn(catalog):
    with rasterio.open(catalog / "S2B_52TFM_20231005_0_L2A" / "hires.tif") as src:
        assert src.count == 4 and src.res == (1.0, 1.0)
        assert [src.descriptions[i] for i in range(4)] == ["red", "green", "blue", "nir"]
        with rasterio.open(catalog / "S2B_52TFM_20231005_0_L2A" / "B04.tif") as s2:
            assert (src.transform.c, src.transform.f) == (s2.transform.c, s2.transform.f)


def test_same_seed_gives_identical_files(small_site, catalog, tmp_path):
    again = tmp_path / "again"
    simulate(small_site, "tumangang-2023", "2023-10-01", "2023-10-06", again, seed=2)
    for name in ("B02.tif", "B08.tif", "SCL.tif", "truth.json"):
        first = (catalog / "S2B_52TFM_20231005_0_L2A" / name).read_bytes()
        second = (again / "S2B_52TFM_20231005_0_L2A" / name).read_bytes()
        assert first == second, name


def test_scl_agrees_with_clouds_and_snow(small_site, small_model):
    cloudy = render_scene(small_site, clear_state(small_site, weather=Weather(cloud_cover=0.5)),
                          model=small_model)
    thick = cloudy.sky.cloud[::2, ::2] > 0.8
    assert thick.any() and (cloudy.scl[thick[: cloudy.scl.shape[0], : cloudy.scl.shape[1]]]
                            >= SCL["cloud_medium"]).mean() > 0.95
    winter = clear_state(small_site, when=datetime(2023, 1, 20, 2, 10, tzinfo=UTC),
                         weather=Weather(snow=1.0))
    snowy = render_scene(small_site, winter, model=small_model)
    grass = small_model.class_share20[CODE["grass"]] > 0.9
    assert (snowy.scl[grass] == SCL["snow"]).mean() > 0.9
    assert snowy.bands["blue"].mean() > 0.5


def test_fringe_of_a_simulated_truck_resembles_the_real_chip(shared_dir):
    from railwatch.simulate.validation import real_chip_signature, simulated_truck_signature

    real = real_chip_signature(shared_dir / "data" / "s2td" / "S2_test_data.tif")
    simulated = simulated_truck_signature(seed=0)
    for signature in (real, simulated):
        blue_shape, red_shape = signature.shape()
        # Blue pixels: blue dominant, green weaker, red absent; red pixels the mirror image.
        assert blue_shape[1] < 0.6 and abs(blue_shape[2]) < 0.2
        assert red_shape[1] < 0.6 and abs(red_shape[0]) < 0.3
        assert 1.5 <= signature.blue_to_red_px <= 3.5
        assert signature.blue_pixels >= 5 and signature.red_pixels >= 5


def _run(args: list[str]) -> int:
    return main(["simulate", *args])


def test_cli_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(["--scenario", "nope", "--out", str(out)]) == 2
    assert _run(["--site", "atlantis", "--scenario", "quiet", "--out", str(out)]) == 2
    assert _run(["--scenario", "quiet", "--start", "2023-05-02", "--end", "2023-05-01",
                 "--out", str(out)]) == 2
    assert _run(["--scenario", "tumangang-2023", "--start", "2000-01-01", "--end", "2010-01-01",
                 "--out", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("railwatch: error:") for e in errors)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_refuses_a_directory_holding_another_catalog(small_site, catalog, tmp_path, capsys):
    before = sorted(p.name for p in catalog.iterdir())
    code = _run(["--scenario", "quiet", "--start", "2023-03-01", "--end", "2023-03-06",
                 "--out", str(catalog)])
    assert code == 2
    assert "already holds a different catalog" in capsys.readouterr().err
    assert sorted(p.name for p in catalog.iterdir()) == before
    assert not list(catalog.parent.glob(".railwatch-simulate-*"))


def test_cli_writes_a_catalog(tmp_path, capsys):
    out = tmp_path / "sim"
    assert _run(["--scenario", "tumangang-2023", "--start", "2023-10-05", "--end", "2023-10-05",
                 "--out", str(out), "--seed", "1"]) == 0
    assert "wrote 1 scenes" in capsys.readouterr().out
    assert (out / "S2B_52TFM_20231005_0_L2A" / "B08.tif").is_file()
    # The same command again replaces the catalog in place.
    assert _run(["--scenario", "tumangang-2023", "--start", "2023-10-05", "--end", "2023-10-05",
                 "--out", str(out), "--seed", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]
