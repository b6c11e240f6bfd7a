"""A loopback STAC API + COG server for tests and benchmarks, and tiny Sentinel-2-like items.

``StacServer`` listens on 127.0.0.1 only.  It serves a subset of the STAC API (landing page,
conformance, ``/collections``, ``/search`` by GET and POST with paging) and files with HTTP Range
support (single and multiple ranges), counts every request and body byte, can add latency to
every request, and injects faults on request: HTTP errors (500, 429 with Retry-After), stalls past
a client's timeout, truncated bodies and missing files.

``write_s2_item`` writes one Sentinel-2 L2A-like item by code: four uint16 10 m COGs (``blue``,
``green``, ``red``, ``nir``) and a uint8 20 m ``scl`` COG in the Earth Search layout, with known
reflectances so tests can check harmonisation.

Import from any test as ``from tests.stac_server import StacServer, write_s2_item``.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely import transform as _shapely_transform
from shapely.geometry import box, mapping, shape

__all__ = ["KNOWN_REFLECTANCE", "Fault", "StacServer", "known_dn", "write_s2_item"]

# Surface reflectance written into every simulated pixel (plus the row/column ramp below), so a
# test can check that the reader returns it after removing the baseline-04.00 offset.
# Blue is as dark as water so that the darkest percentile of a window tells whether the
# baseline-04.00 offset is in the numbers.
KNOWN_REFLECTANCE = {"blue": 0.012, "green": 0.058, "red": 0.042, "nir": 0.305}


def known_dn(key: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The offset-free DN written at (row, col) of a 10 m band: a base value plus a small ramp."""
    return round(KNOWN_REFLECTANCE[key] * 10000) + (rows + cols) % 16 * 3


def shapely_transform(function: Any, geometry: Any) -> Any:
    return _shapely_transform(geometry, function, interleaved=False)


def write_s2_item(
    folder: Path,
    site: Any,
    *,
    item_id: str,
    when: datetime,
    baseline: str = "05.10",
    offset_in_data: bool | None = None,
    offset_applied_flag: bool | None = None,
    scl_class: int = 4,
    cloud_over_aoi: int | None = None,
    scl_checker: bool = False,
    noise_dn: int = 0,
    margin_m: float = 600.0,
    shift_m: tuple[float, float] = (0.0, 0.0),
    blocksize: int = 128,
    platform: str = "sentinel-2b",
    grid_code: str = "MGRS-52TFM",
    cloud_cover: float = 10.0,
    epsg: int | None = None,
) -> Path:
    """Write one item's COGs and JSON under ``folder / item_id``; return the JSON path.

    ``offset_in_data`` defaults to "baseline >= 04.00"; ``offset_applied_flag`` sets
    ``earthsearch:boa_offset_applied`` (omitted when None).  ``cloud_over_aoi`` puts that SCL
    class over the whole AOI (e.g. 9 for cloud).  ``shift_m`` moves the raster away from the site
    (far enough and the AOI falls outside the footprint).  ``scl_checker`` writes SCL classes
    4 and 5 as a checkerboard of 20 m pixels; ``noise_dn`` adds seeded noise so that the COGs
    compress like real imagery.
    """
    epsg = epsg or site.epsg
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    west, south, east, north = shapely_transform(to_utm.transform, site.aoi).bounds
    x0 = (west - margin_m) // 20 * 20
    y1 = -((-(north + margin_m)) // 20) * 20
    width = int(-((-(east + margin_m - x0)) // 20)) * 2
    height = int(-((-(y1 - south + margin_m)) // 20)) * 2
    x0, y1 = x0 + shift_m[0], y1 + shift_m[1]
    if offset_in_data is None:
        offset_in_data = tuple(int(p) for p in baseline.split(".")) >= (4, 0)
    offset = 1000 if offset_in_data else 0
    directory = folder / item_id
    directory.mkdir(parents=True, exist_ok=True)
    rows, cols = np.indices((height, width))
    noise = np.random.default_rng(7).integers(0, noise_dn + 1, size=(height, width)) if noise_dn else 0
    profile = {
        "driver": "COG",
        "compress": "deflate",
        "blocksize": blocksize,
        "crs": f"EPSG:{epsg}",
        "count": 1,
        "overviews": "NONE",
    }
    assets: dict[str, Any] = {}
    for key in KNOWN_REFLECTANCE:
        values = (known_dn(key, rows, cols) + offset + noise).astype(np.uint16)
        path = directory / f"{key}.tif"
        with rasterio.open(
            path, "w", width=width, height=height, dtype="uint16", nodata=0,
            transform=from_origin(x0, y1, 10, 10), **profile,
        ) as sink:
            sink.write(values, 1)
        assets[key] = _asset(path, "image/tiff; application=geotiff; profile=cloud-optimized")
    scl = np.full((height // 2, width // 2), scl_class, dtype=np.uint8)
    scl_transform = from_origin(x0, y1, 20, 20)
    if scl_checker:
        scl = (4 + np.indices(scl.shape).sum(axis=0) % 2).astype(np.uint8)
    if cloud_over_aoi is not None:
        cols = ((np.array([west, east]) - x0) / 20).astype(int)
        rows = ((y1 - np.array([north, south])) / 20).astype(int)
        scl[max(rows[0], 0) : rows[1] + 1, max(cols[0], 0) : cols[1] + 1] = cloud_over_aoi
    path = directory / "scl.tif"
    with rasterio.open(
        path, "w", width=width // 2, height=height // 2, dtype="uint8", nodata=0,
        transform=scl_transform, **profile,
    ) as sink:
        sink.write(scl, 1)
    assets["scl"] = _asset(path, "image/tiff; application=geotiff; profile=cloud-optimized")
    footprint_utm = box(x0, y1 - height * 10, x0 + width * 10, y1)
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    footprint = shapely_transform(to_wgs84.transform, footprint_utm)
    properties: dict[str, Any] = {
        "datetime": when.isoformat().replace("+00:00", "Z"),
        "platform": platform,
        "constellation": "sentinel-2",
        "eo:cloud_cover": cloud_cover,
        "s2:processing_baseline": baseline,
        "grid:code": grid_code,
        "proj:epsg": epsg,
    }
    if offset_applied_flag is not None:
        properties["earthsearch:boa_offset_applied"] = offset_applied_flag
    document = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item_id,
        "collection": "sentinel-2-l2a",
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": properties,
        "links": [],
        "assets": assets,
    }
    path = directory / f"{item_id}.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def _asset(path: Path, media_type: str) -> dict[str, Any]:
    return {"href": f"./{path.name}", "type": media_type, "roles": ["data"]}


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do to requests whose path matches ``pattern`` (fnmatch), ``times`` times
    (None: always).  ``kind``: "status" (``status``, optional ``retry_after``), "stall"
    (sleep ``seconds`` before answering), "truncate" (send ``fraction`` of the body, then close),
    "missing" (404).  The first ``after`` matching requests are let through."""

    pattern: str
    kind: str
    times: int | None = 1
    status: int = 500
    retry_after: float | None = None
    seconds: float = 5.0
    fraction: float = 0.5
    after: int = 0
    hits: int = 0
    seen: int = 0


@dataclass
class ServedRequest:
    method: str
    path: str
    status: int
    body_bytes: int
    range: str | None
    time: float = field(default_factory=time.monotonic)


CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


class StacServer:
    """The loopback server; use as a context manager.  ``url`` is its base URL."""

    def __init__(self, root: Path, *, latency_s: float = 0.0, page_size: int = 10) -> None:
        self.root = Path(root).resolve()
        self.latency_s = latency_s
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.log: list[ServedRequest] = []
        self.collections: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.aliases: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StacServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # content -------------------------------------------------------------------------------

    def file_url(self, path: Path) -> str:
        return f"{self.url}/files/{Path(path).resolve().relative_to(self.root).as_posix()}"

    def alias(self, name: str, path: Path) -> str:
        """Serve ``path`` also as ``/files/<name>`` (one file under many URLs); return the URL."""
        self.aliases[name] = Path(path).resolve()
        return f"{self.url}/files/{name}"

    def add_item_dict(self, document: dict[str, Any], collection_id: str = "sentinel-2-l2a") -> None:
        """Serve an item document as it is (asset hrefs already URLs)."""
        if collection_id not in self.collections:
            self.add_collection(collection_id)
        self.items[collection_id].append(document)

    def add_collection(
        self, collection_id: str, *, asset_keys: Iterable[str] = ("blue", "green", "red", "nir", "scl")
    ) -> None:
        self.collections[collection_id] = {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": collection_id,
            "description": "loopback test collection",
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2015-06-27T00:00:00Z", None]]},
            },
            "item_assets": {key: {"type": "image/tiff", "roles": ["data"]} for key in asset_keys},
            "links": [],
        }
        self.items.setdefault(collection_id, [])

    def add_item_file(self, item_json: Path, collection_id: str = "sentinel-2-l2a") -> dict[str, Any]:
        """Serve a local item JSON (assets made absolute URLs under ``/files``)."""
        if collection_id not in self.collections:
            self.add_collection(collection_id)
        document = json.loads(Path(item_json).read_text())
        document["collection"] = collection_id
        for asset in document["assets"].values():
            href = asset["href"]
            if not href.startswith("http"):
                asset["href"] = self.file_url(Path(item_json).parent / href)
        document["links"] = [
            {"rel": "self", "href": f"{self.url}/collections/{collection_id}/items/{document['id']}"}
        ]
        self.items[collection_id].append(document)
        return document

    def fault(self, pattern: str, kind: str, **options: Any) -> Fault:
        fault = Fault(pattern, kind, **options)
        self.faults.append(fault)
        return fault

    # what happened --------------------------------------------------------------------------

    def requests_to(self, pattern: str) -> list[ServedRequest]:
        with self._lock:
            return [r for r in self.log if fnmatch.fnmatch(r.path, pattern)]

    def bytes_served(self, pattern: str = "*") -> int:
        return sum(r.body_bytes for r in self.requests_to(pattern))

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _replace(self, old: ServedRequest, new: ServedRequest) -> None:
        with self._lock:
            self.log[self.log.index(old)] = new

    def _record(self, entry: ServedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if not fnmatch.fnmatch(path, fault.pattern):
                    continue
                fault.seen += 1
                if fault.seen > fault.after and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None

    # search --------------------------------------------------------------------------------

    def search(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        collections = params.get("collections") or list(self.items)
        if isinstance(collections, str):
            collections = collections.split(",")
        found = [item for c in collections for item in self.items.get(c, [])]
        bbox = params.get("bbox")
        if bbox:
            if isinstance(bbox, str):
                bbox = [float(v) for v in bbox.split(",")]
            area = box(*bbox)
            found = [item for item in found if shape(item["geometry"]).intersects(area)]
        interval = params.get("datetime")
        if interval:
            start, _, end = interval.partition("/")
            start = _parse_time(start) if start not in ("", "..") else None
            end = _parse_time(end or start) if end != ".." else None
            found = [
                item for item in found
                if (start is None or _parse_time(item["properties"]["datetime"]) >= start)
                and (end is None or _parse_time(item["properties"]["datetime"]) <= end)
            ]
        query = params.get("query") or {}
        if isinstance(query, str):
            query = json.loads(query)
        for name, ops in query.items():
            for op, limit in ops.items():
                compare = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__,
                           "gte": float.__ge__, "eq": float.__eq__}[op]
                found = [i for i in found if compare(float(i["properties"].get(name, 0)), float(limit))]
        return sorted(found, key=lambda item: (item["properties"]["datetime"], item["id"]))


def _parse_time(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if "T" not in text:
        text += "T00:00:00+00:00"
    return datetime.fromisoformat(text)


def _handler_for(server: StacServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every keep-alive reply
        wbufsize = 1 << 16  # headers and body leave in one segment

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            if server.latency_s:
                time.sleep(server.latency_s)
            parts = urlsplit(self.path)
            body = b""
            if method == "POST":
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fault = server._take_fault(parts.path)
            if fault is not None and fault.kind == "stall":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                return self._send(method, parts.path, fault.status, b'{"code": "fault"}', headers)
            if fault is not None and fault.kind == "missing":
                return self._send(method, parts.path, 404, b'{"code": "NotFound"}', {})
            try:
                status, payload, headers = self._route(method, parts.path, parts.query, body)
            except (ValueError, KeyError) as err:
                status, payload, headers = 400, json.dumps({"code": str(err)}).encode(), {}
            truncate = fault.fraction if fault is not None and fault.kind == "truncate" else None
            self._send(method, parts.path, status, payload, headers, truncate=truncate)

        def _send(
            self, method: str, path: str, status: int, payload: bytes, headers: dict[str, str],
            *, truncate: float | None = None,
        ) -> None:
            self.send_response(status)
            headers.setdefault("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if truncate is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"" if method == "HEAD" else (
                payload if truncate is None else payload[: int(len(payload) * truncate)])
            # Logged before the body goes out: a client that has its answer may look at the log
            # at once, and must find this request in it.
            entry = ServedRequest(method, path, status, len(chunk), self.headers.get("Range"))
            server._record(entry)
            if chunk:
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server._replace(entry, ServedRequest(method, path, status, 0, entry.range))
            if truncate is not None:
                self.close_connection = True

        def _route(
            self, method: str, path: str, query: str, body: bytes
        ) -> tuple[int, bytes, dict[str, str]]:
            base = server.url
            if path.startswith("/files/"):
                return self._file(path[len("/files/"):])
            if path in ("", "/"):
                return 200, _json({
                    "type": "Catalog", "stac_version": "1.0.0", "id": "loopback",
                    "description": "railwatch loopback STAC API", "conformsTo": CONFORMANCE,
                    "links": [
                        {"rel": "self", "href": f"{base}/"},
                        {"rel": "root", "href": f"{base}/"},
                        {"rel": "conformance", "href": f"{base}/conformance"},
                        {"rel": "data", "href": f"{base}/collections"},
                        {"rel": "search", "href": f"{base}/search", "method": "GET",
                         "type": "application/geo+json"},
                        {"rel": "search", "href": f"{base}/search", "method": "POST",
                         "type": "application/geo+json"},
                    ],
                }), {}
            if path == "/conformance":
                return 200, _json({"conformsTo": CONFORMANCE}), {}
            if path == "/collections":
                return 200, _json({"collections": list(server.collections.values()), "links": []}), {}
            if path.startswith("/collections/"):
                name = path.split("/")[2]
                if name not in server.collections:
                    return 404, b'{"code": "NotFound"}', {}
                return 200, _json(server.collections[name]), {}
            if path == "/search":
                if method == "POST":
                    params = json.loads(body or b"{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(query).items()}
                return 200, _json(self._search_page(method, params)), {"Content-Type": "application/geo+json"}
            return 404, b'{"code": "NotFound"}', {}

        def _search_page(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
            found = server.search(params)
            limit = min(int(params.get("limit") or server.page_size), server.page_size)
            start = int(params.get("token") or 0)
            page = found[start : start + limit]
            links: list[dict[str, Any]] = []
            if start + limit < len(found):
                following = {**params, "token": str(start + limit)}
                if method == "POST":
                    links.append({"rel": "next", "href": f"{server.url}/search", "method": "POST",
                                  "body": following, "merge": False})
                else:
                    links.append({"rel": "next", "href": f"{server.url}/search?{urlencode(following)}",
                                  "method": "GET"})
            return {"type": "FeatureCollection", "features": page, "links": links,
                    "numberMatched": len(found), "numberReturned": len(page)}

        def _file(self, relative: str) -> tuple[int, bytes, dict[str, str]]:
            path = server.aliases.get(relative) or (server.root / relative).resolve()
            if relative not in server.aliases and server.root not in path.parents:
                path = server.root / "missing"
            if not path.is_file():
                return 404, b"not found", {"Content-Type": "text/plain"}
            size = path.stat().st_size
            ranges = self.headers.get("Range")
            headers = {"Content-Type": "image/tiff", "Accept-Ranges": "bytes"}
            if not ranges:
                return 200, path.read_bytes(), headers
            spans = []
            for spec in ranges.removeprefix("bytes=").split(","):
                first, _, last = spec.strip().partition("-")
                if first == "":
                    a, b = max(0, size - int(last)), size - 1
                else:
                    a, b = int(first), min(int(last) if last else size - 1, size - 1)
                if a >= size:
                    return 416, b"", {"Content-Range": f"bytes */{size}"}
                spans.append((a, b))

            def span(a: int, b: int) -> bytes:
                with path.open("rb") as handle:
                    handle.seek(a)
                    return handle.read(b - a + 1)

            if len(spans) == 1:
                a, b = spans[0]
                headers["Content-Range"] = f"bytes {a}-{b}/{size}"
                return 206, span(a, b), headers
            boundary = "railwatch-loopback-boundary"
            parts = []
            for a, b in spans:
                parts.append(
                    f"--{boundary}\r\nContent-Type: image/tiff\r\n"
                    f"Content-Range: bytes {a}-{b}/{size}\r\n\r\n".encode()
                    + span(a, b) + b"\r\n"
                )
            payload = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
            return 206, payload, headers

    return Handler


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()

