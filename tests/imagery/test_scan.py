"""railwatch scan: statuses, resume, cache, the killed run, bad input, GeoTIFFs, catalogs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.transform import from_origin

from railwatch.cli import main
from railwatch.detect import DETECTOR_VERSION
from railwatch.imagery import WindowCache
from railwatch.pipeline import scan
from railwatch.stac import find_acquisitions
from railwatch.store import open_store
from tests.stac_server import StacServer, write_s2_item

WHEN = datetime(2023, 10, 5, 2, 10, tzinfo=UTC)
START, END = date(2023, 10, 1), date(2023, 12, 31)


def _mixed_passes(server, site):
    """Six passes: three clear, one cloudy, one snowy (still ok), one with no data on the site."""
    kinds = {0: {}, 1: {"cloud_over_aoi": 9}, 2: {}, 3: {"cloud_over_aoi": 11},
             4: {"cloud_over_aoi": 0}, 5: {}}
    ids = []
    for number, options in kinds.items():
        when = WHEN + timedelta(days=5 * number)
        item_id = f"S2B_52TFM_{when:%Y%m%d}_0_L2A"
        server.add_item_file(write_s2_item(server.root, site, item_id=item_id, when=when, **options))
        ids.append(item_id)
    return ids


def _statuses(db_path, site_id="tumangang"):
    with open_store(db_path) as store:
        return {row.scene_id: row for row in store.scenes(site_id)}, store.observations(site_id)


def test_scan_stores_a_status_for_every_scene_and_resumes(server, site, client, db_path, tmp_path):
    ids = _mixed_passes(server, site)
    server.fault(f"*/{ids[2]}/nir.tif", "status", status=500, times=None)
    acquisitions = find_acquisitions(site, START, END, client=client, stac_url=server.url)
    with open_store(db_path) as store:
        summary = scan(site, acquisitions, store=store, client=client, workers=3,
                       cache=WindowCache(tmp_path / "cache"))
    assert summary.statuses == {"ok": 3, "cloudy": 1, "no_data": 1, "read_failed": 1}
    scenes, observations = _statuses(db_path)
    assert [scenes[i].status for i in ids] == ["ok", "cloudy", "read_failed", "ok", "no_data", "ok"]
    assert "HTTP 500" in scenes[ids[2]].reason and "nir" in scenes[ids[2]].reason
    assert {o.scene_id for o in observations} == {ids[0], ids[3], ids[5]}
    assert all(o.detector_version == DETECTOR_VERSION for o in observations)
    assert scenes[ids[3]].metadata["snow_fraction_tracks"] == 1.0
    # The cloudy and empty scenes were settled on the SCL alone: no 10 m band was fetched.
    assert server.requests_to(f"*/{ids[1]}/blue.tif") == []
    assert server.requests_to(f"*/{ids[4]}/red.tif") == []

    # The server recovers; a re-run skips the finished scenes, retries the failed one only.
    server.faults.clear()
    server.reset_log()
    with open_store(db_path) as store:
        again = scan(site, acquisitions, store=store, client=client,
                     cache=WindowCache(tmp_path / "cache"))
    assert again.skipped == 5 and again.statuses == {"ok": 1}
    touched = {r.path.split("/")[2] for r in server.requests_to("/files/*")}
    assert touched == {ids[2]}
    scenes, observations = _statuses(db_path)
    assert len(scenes) == 6 and scenes[ids[2]].status == "ok" and scenes[ids[2]].reason is None
    assert len(observations) == 4

    # --force redoes everything, from the window cache: no file is read again.
    server.reset_log()
    with open_store(db_path) as store:
        forced = scan(site, acquisitions, store=store, client=client, force=True,
                      cache=WindowCache(tmp_path / "cache"))
    assert forced.skipped == 0 and forced.done == 6
    assert server.requests_to("/files/*") == []
    assert len(_statuses(db_path)[0]) == 6


@pytest.mark.slow
def test_a_killed_scan_rerun_finishes_without_duplicates_or_gaps(tmp_path, site, db_path, capsys):
    with StacServer(tmp_path / "srv", latency_s=0.03) as server:
        server.root.mkdir(exist_ok=True)
        expected = []
        for number in range(16):
            when = WHEN + timedelta(days=5 * number)
            item_id = f"S2A_52TFM_{when:%Y%m%d}_0_L2A"
            server.add_item_file(write_s2_item(server.root, site, item_id=item_id, when=when))
            expected.append(item_id)
        args = ["scan", "--site", "tumangang", "--start", "2023-10-01", "--end", "2024-01-31",
                "--stac-url", server.url, "--db", str(db_path), "--workers", "2",
                "--cache-dir", str(tmp_path / "cache"), "--json"]
        process = subprocess.Popen(
            [sys.executable, "-m", "railwatch", *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        deadline = time.monotonic() + 60
        stored = 0
        while stored < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            if db_path.exists():
                with open_store(db_path) as store:
                    stored = len(store.scenes("tumangang"))
        process.send_signal(signal.SIGKILL)
        process.wait()
        scenes, observations = _statuses(db_path)
        assert 3 <= len(scenes) < 16, "the kill should land mid-run"
        # Whole scenes only: every stored scene has its observation and vice versa.
        assert {o.scene_id for o in observations} == set(scenes)

        assert main(args) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["skipped"] == len(scenes) and report["statuses"] == {"ok": 16 - len(scenes)}
    scenes, observations = _statuses(db_path)
    assert sorted(scenes) == sorted(expected)
    # Every scene was detected against a history of its clear neighbours.
    assert all(row.metadata["history_scenes"] >= 3 for row in scenes.values())
    assert sorted(o.scene_id for o in observations) == sorted(expected)
    with open_store(db_path) as store:
        assert store.query("PRAGMA integrity_check") == [("ok",)]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _geotiff(path: Path, site, *, crs: str | None = "EPSG:3857", inside: bool = True) -> Path:
    """A 4-band uint16 GeoTIFF around the site in Web Mercator (or with no CRS at all)."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(*site.aoi.centroid.coords[0])
    if not inside:
        x += 50_000
    size, pixel = 1200, 5.0
    data = np.full((4, size, size), 800, dtype=np.uint16)
    data[3] = 3000
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint16", nodata=0,
        crs=crs, transform=from_origin(x - size * pixel / 2, y + size * pixel / 2, pixel, pixel),
    ) as sink:
        sink.write(data)
    return path


def test_geotiff_in_another_crs_is_added_as_a_scene(tmp_path, site, db_path):
    path = _geotiff(tmp_path / "purchased.tif", site)
    code = main(["scan", "--site", "tumangang", "--geotiff", str(path), "--date", "2024-06-17",
                 "--db", str(db_path)])
    assert code == 0
    scenes, observations = _statuses(db_path)
    (row,) = scenes.values()
    assert row.datetime.startswith("2024-06-17") and row.metadata["source"] == "geotiff"
    assert row.metadata["bands"] == ["blue", "green", "red", "nir"]
    assert [o.scene_id for o in observations] == [row.scene_id]


def test_static_catalog_goes_through_the_same_path(tmp_path, site, db_path):
    catalog = pystac.Catalog(id="sim", description="simulated passes")
    for number in range(3):
        when = WHEN + timedelta(days=5 * number)
        path = write_s2_item(tmp_path / "sim", site, item_id=f"SIM_{number}", when=when,
                             cloud_over_aoi=9 if number == 1 else None)
        catalog.add_item(pystac.Item.from_file(str(path)))
    catalog.normalize_and_save(str(tmp_path / "catalog"), pystac.CatalogType.SELF_CONTAINED)
    # Asset hrefs stay relative to the item files written above: copy the COGs beside them.
    for number in range(3):
        source, target = tmp_path / "sim" / f"SIM_{number}", tmp_path / "catalog" / f"SIM_{number}"
        for cog in source.glob("*.tif"):
            (target / cog.name).write_bytes(cog.read_bytes())
    code = main(["scan", "--site", "tumangang", "--start", "2023-10-01", "--end", "2023-10-31",
                 "--catalog", str(tmp_path / "catalog"), "--db", str(db_path), "--no-cache"])
    assert code == 0
    scenes, observations = _statuses(db_path)
    assert {k: v.status for k, v in scenes.items()} == {"SIM_0": "ok", "SIM_1": "cloudy", "SIM_2": "ok"}
    assert len(observations) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "atlantis", "--start", "2023-01-01", "--end", "2023-02-01"], "unknown site"),
        (["--site", "tumangang", "--start", "2023-03-01", "--end", "2023-02-01"], "after --end"),
        (["--site", "tumangang", "--start", "2023-03-01", "--end", "2999-01-01"], "future"),
        (["--site", "tumangang", "--start", "2023-03-01", "--end", "March"], "not a date"),
        (["--site", "tumangang", "--start", "2023-01-01", "--end", "2023-02-01",
          "--catalog", "/nonexistent/catalog.json"], "no such STAC catalog"),
        (["--site", "tumangang", "--start", "2023-01-01", "--end", "2023-02-01",
          "--stac-url", "{url}/files/readme"], "is not a STAC API"),
        (["--site", "tumangang", "--start", "2023-01-01", "--end", "2023-02-01",
          "--stac-url", "{url}", "--collection", "rgb-only"], "no blue, green, red, nir, scl"),
        (["--site", "tumangang", "--geotiff", "{nocrs}", "--date", "2024-01-01"], "no coordinate"),
        (["--site", "tumangang", "--geotiff", "{outside}", "--date", "2024-01-01"],
         "does not cover site"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_the_store_untouched(
    server, site, tmp_path, db_path, capsys, args, message
):
    server.add_collection("rgb-only", asset_keys=("visual",))
    nocrs = _geotiff(tmp_path / "nocrs.tif", site, crs=None)
    outside = _geotiff(tmp_path / "outside.tif", site, inside=False)
    filled = [a.format(url=server.url, nocrs=nocrs, outside=outside) for a in args]
    # One store that does not exist yet, one that does: neither may change.
    for existing in (False, True):
        if existing:
            with open_store(db_path):
                pass
        before = _digest(db_path)
        code = main(["scan", *filled, "--db", str(db_path)])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert message in err and len(err.splitlines()) == 1
        assert _digest(db_path) == before
