"""Exports: the same rows in CSV, GeoJSON and Parquet, read back with their own readers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point, shape

from railwatch.errors import UserInputError
from railwatch.report import export_series
from railwatch.store import ObservationRow, Store
from railwatch.timeseries import build_series

from .storedata import SITE_ID, tumangang


def test_csv_has_one_row_per_pass_with_stored_values(filled_store: Store) -> None:
    series = build_series(filled_store, SITE_ID)
    rows = list(csv.DictReader(io.StringIO(export_series(series, tumangang(), "csv").decode())))
    assert [r["scene_id"] for r in rows] == [p.scene_id for p in series.passes]
    flagged = {a.scene_id for a in series.anomalies}
    for row, p in zip(rows, series.passes, strict=True):
        assert row["status"] == p.status
        assert row["car_equivalents"] == ("" if p.car_equivalents is None else str(p.car_equivalents))
        assert (row["anomaly"] == "True") == (p.scene_id in flagged)
        assert int(row["trains_towards_RU"]) == sum(t.direction == "towards RU"
                                                    for t in p.moving_trains)


def test_csv_defuses_spreadsheet_formulas(filled_store: Store) -> None:
    scene = filled_store.scenes(SITE_ID, status="read_failed")[0]
    filled_store.put_scene(replace(scene, reason='=HYPERLINK("http://evil.example","x")'))
    series = build_series(filled_store, SITE_ID)
    text = export_series(series, tumangang(), "csv").decode()
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["scene_id"] == scene.scene_id)
    assert row["reason"].startswith("'=HYPERLINK")


def test_geojson_passes_and_trains(filled_store: Store) -> None:
    site = tumangang()
    first = build_series(filled_store, SITE_ID).clear_passes[-1]
    crossing = site.to_utm(site.border.crossing)
    filled_store.put_observation(ObservationRow(
        site=SITE_ID, scene_id=first.scene_id, detector_version=first.detector_version,
        datetime=first.when.isoformat(), status="ok", car_equivalents=first.car_equivalents,
        car_equivalents_low=first.low, car_equivalents_high=first.high, visible_fraction=1.0,
        payload={"moving_trains": [{"direction": "towards RU", "speed_mps": 12.0,
                                    "heading_deg": 70.0, "length_m": 200.0, "confidence": 0.9,
                                    "x": crossing.x - 300.0, "y": crossing.y}]}))
    series = build_series(filled_store, SITE_ID)
    document = json.loads(export_series(series, site, "geojson"))
    passes = [f for f in document["features"] if f["properties"]["kind"] == "pass"]
    trains = [f for f in document["features"] if f["properties"]["kind"] == "moving_train"]
    assert len(passes) == len(series.passes)
    assert shape(passes[0]["geometry"]).equals(site.aoi)
    assert len(trains) == 1 and trains[0]["properties"]["scene_id"] == first.scene_id
    where = Point(trains[0]["geometry"]["coordinates"])
    assert where.distance(site.border.crossing) < 0.01  # ~300 m, in degrees


def test_parquet_round_trip(filled_store: Store, tmp_path) -> None:
    series = build_series(filled_store, SITE_ID)
    path = tmp_path / "passes.parquet"
    path.write_bytes(export_series(series, tumangang(), "parquet"))
    table = pq.read_table(path)
    assert table.num_rows == len(series.passes)
    assert table.schema.field("datetime").type.tz == "UTC"
    assert table.column("datetime").to_pylist() == [p.when for p in series.passes]
    values = table.column("car_equivalents").to_pylist()
    assert values == [p.car_equivalents for p in series.passes]
    assert sum(table.column("anomaly").to_pylist()) == len(series.anomalies)


def test_unknown_format(filled_store: Store) -> None:
    with pytest.raises(UserInputError, match="--format"):
        export_series(build_series(filled_store, SITE_ID), tumangang(), "xlsx")
