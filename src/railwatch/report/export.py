"""Exports of a site's series: GeoJSON (for GIS), CSV (for spreadsheets), Parquet (for code).

One row per pass, with the same fields in every format: status, car-equivalents and interval,
visibility, moving trains by direction, snow, baseline comparison, provenance.  GeoJSON adds one
Point feature per moving train (WGS84) beside the pass features (the site's AOI polygon).  CSV
cells that a spreadsheet would run as a formula are defused.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from pyproj import Transformer
from shapely.geometry import mapping

from railwatch.errors import UserInputError
from railwatch.sites import Site
from railwatch.timeseries import SiteSeries

__all__ = ["EXPORT_FORMATS", "default_export_path", "export_series", "pass_rows"]

EXPORT_FORMATS = ("geojson", "csv", "parquet")
BASE_COLUMNS = (
    "site", "scene_id", "datetime", "status", "reason", "car_equivalents", "car_equivalents_low",
    "car_equivalents_high", "visible_fraction", "moving_trains", "snow", "above_baseline_max",
    "robust_z", "anomaly", "baseline_median", "baseline_max", "detector_version", "platform",
    "processing_baseline", "simulated",
)
# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _direction_column(direction: str) -> str:
    return "trains_" + direction.replace(" ", "_")


def pass_rows(series: SiteSeries) -> list[dict[str, Any]]:
    """One flat dict per pass, columns in a fixed order (directions appended, sorted)."""
    anomalies = {a.scene_id: a for a in series.anomalies}
    baseline = series.baseline
    rows = []
    for p in series.passes:
        anomaly = anomalies.get(p.scene_id)
        z = None
        if baseline is not None and p.car_equivalents is not None:
            z = round((p.car_equivalents - baseline.median) / baseline.sigma, 3)
        row: dict[str, Any] = {
            "site": p.site,
            "scene_id": p.scene_id,
            "datetime": p.when.isoformat().replace("+00:00", "Z"),
            "status": p.status,
            "reason": p.reason,
            "car_equivalents": p.car_equivalents,
            "car_equivalents_low": p.low,
            "car_equivalents_high": p.high,
            "visible_fraction": p.visible_fraction,
            "moving_trains": len(p.moving_trains),
            "snow": p.snow,
            "above_baseline_max": (p.car_equivalents > baseline.maximum
                                   if baseline and p.car_equivalents is not None else None),
            "robust_z": z,
            "anomaly": anomaly is not None,
            "baseline_median": baseline.median if baseline else None,
            "baseline_max": baseline.maximum if baseline else None,
            "detector_version": p.detector_version,
            "platform": p.platform,
            "processing_baseline": p.processing_baseline,
            "simulated": p.simulated,
        }
        counts = Counter(t.direction for t in p.moving_trains)
        for direction in series.directions:
            row[_direction_column(direction)] = counts.get(direction, 0)
        rows.append(row)
    return rows


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _to_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def _to_geojson(series: SiteSeries, site: Site, rows: list[dict[str, Any]]) -> bytes:
    to_wgs84 = Transformer.from_crs(site.epsg, 4326, always_xy=True)
    aoi = mapping(site.aoi)
    features: list[dict[str, Any]] = []
    for p, row in zip(series.passes, rows, strict=True):
        features.append({"type": "Feature", "geometry": aoi,
                         "properties": {"kind": "pass", **row}})
        for train in p.moving_trains:
            if train.x is None or train.y is None:
                continue
            lon, lat = to_wgs84.transform(train.x, train.y)
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                "properties": {"kind": "moving_train", "site": p.site, "scene_id": p.scene_id,
                               "datetime": row["datetime"], "direction": train.direction,
                               "speed_mps": train.speed_mps, "heading_deg": train.heading_deg,
                               "length_m": train.length_m, "confidence": train.confidence},
            })
    document = {"type": "FeatureCollection", "name": f"railwatch-{site.id}",
                "features": features}
    return (json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _to_parquet(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"site": pa.string(), "scene_id": pa.string(), "datetime": pa.timestamp("s", tz="UTC"),
             "status": pa.string(), "reason": pa.string(), "moving_trains": pa.int32(),
             "snow": pa.bool_(), "above_baseline_max": pa.bool_(), "anomaly": pa.bool_(),
             "detector_version": pa.string(), "platform": pa.string(),
             "processing_baseline": pa.string(), "simulated": pa.bool_()}
    fields = [pa.field(c, types.get(c, pa.int32() if c.startswith("trains_") else pa.float64()))
              for c in columns]
    data = {c: [row[c] for row in rows] for c in columns}
    data["datetime"] = [datetime.fromisoformat(v.replace("Z", "+00:00")) for v in data["datetime"]]
    table = pa.table(data, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def export_series(series: SiteSeries, site: Site, fmt: str) -> bytes:
    """The series as the bytes of a file in ``fmt`` (one of :data:`EXPORT_FORMATS`)."""
    if fmt not in EXPORT_FORMATS:
        raise UserInputError(f"--format {fmt!r} is not supported",
                             hint=f"use one of {', '.join(EXPORT_FORMATS)}")
    rows = pass_rows(series)
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                row[key] = None
    columns = list(BASE_COLUMNS) + [_direction_column(d) for d in series.directions]
    if fmt == "csv":
        return _to_csv(rows, columns)
    if fmt == "geojson":
        return _to_geojson(series, site, rows)
    return _to_parquet(rows, columns)


def default_export_path(site_id: str, fmt: str) -> Path:
    return Path(f"{site_id}-passes.{fmt}")
