"""Sites: the places railwatch watches.

A site is an area of interest (AOI) with the track centrelines inside it, the border it relates
to (so that a train's direction can be named "towards RU"), its local UTM zone, gauges and the
source of every coordinate.  Sites are read from GeoJSON files: the built-in catalogue in
``railwatch/data/sites/`` and a user's own files use the same format (see ``docs`` in the
README).  Everything that enters here is validated once, at the boundary; the rest of the program
trusts a :class:`Site`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon, mapping, shape

from railwatch.errors import InputFileError, SiteError

__all__ = [
    "Border",
    "Site",
    "Track",
    "builtin_sites",
    "catalogue",
    "overpass_query",
    "parse_site",
    "read_site_file",
    "reproject",
    "resolve_site",
    "site_from_geojson_text",
    "site_to_geojson",
    "tracks_from_overpass",
    "utm_epsg_for",
]

MAX_AOI_EXTENT_M = 50_000.0
TRACK_TOLERANCE_M = 5.0
SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NAMESAKE_DISTANCE_KM = 100.0
GENERIC_PLACE_WORDS = frozenset(
    {"station", "yard", "bridge", "river", "port", "friendship", "border", "crossing", "sino", "korean"}
)
TRACK_KINDS = ("main", "siding", "yard", "bridge", "spur", "port")


@dataclass(frozen=True)
class Track:
    """One track centreline (WGS84 lon/lat), with where its coordinates came from."""

    id: str
    line: LineString
    kind: str = "main"
    approximate: bool = True
    source: str = ""
    gauge_mm: tuple[int, ...] = ()


@dataclass(frozen=True)
class Border:
    """The border a site relates to: a line, the countries on each side, the crossing point.

    ``left`` and ``right`` are ISO 3166-1 alpha-2 codes of the countries lying to the left and
    right of the line when walking along it in the order of its coordinates.
    """

    line: LineString
    left: str
    right: str
    crossing: Point
    source: str = ""


@dataclass(frozen=True)
class Site:
    """A watched place, validated.  Geometries are WGS84; ``*_utm`` properties are metres."""

    id: str
    names: Mapping[str, str]
    aoi: Polygon
    tracks: tuple[Track, ...]
    border: Border
    epsg: int
    gauges_mm: tuple[int, ...] = ()
    mgrs_tiles: tuple[str, ...] = ()
    kind: str = "station"
    notes: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False

    @property
    def name(self) -> str:
        return self.names.get("en") or self.id

    @property
    def countries(self) -> list[str]:
        return sorted({self.border.left, self.border.right})

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        west, south, east, north = self.aoi.bounds
        return (west, south, east, north)

    @cached_property
    def _to_utm(self) -> Transformer:
        return Transformer.from_crs(4326, self.epsg, always_xy=True)

    def to_utm(self, geometry: Any) -> Any:
        """Project a WGS84 geometry onto the site's UTM grid (metres)."""
        return reproject(geometry, self._to_utm)

    @cached_property
    def aoi_utm(self) -> Polygon:
        return self.to_utm(self.aoi)

    @cached_property
    def tracks_utm(self) -> dict[str, LineString]:
        return {track.id: self.to_utm(track.line) for track in self.tracks}

    @cached_property
    def _border_utm(self) -> tuple[LineString, Point]:
        return self.to_utm(self.border.line), self.to_utm(self.border.crossing)

    def country_at(self, x: float, y: float) -> str:
        """The country on whose side of the border line the UTM point (x, y) lies."""
        line, _ = self._border_utm
        return self.border.left if _side_of(line, x, y) > 0 else self.border.right

    def direction(self, x: float, y: float, heading_deg: float) -> str:
        """Name where a train at UTM (x, y) moving on ``heading_deg`` (clockwise from north) goes.

        A train that closes on the crossing goes "towards" the country beyond it; one that moves
        away goes "towards" the country it is in (inland).  Near the crossing the heading's side of
        the border line decides.
        """
        line, crossing = self._border_utm
        heading = math.radians(heading_deg)
        dx, dy = math.sin(heading), math.cos(heading)
        to_crossing = (crossing.x - x, crossing.y - y)
        distance = math.hypot(*to_crossing)
        here = self.country_at(x, y)
        other = self.border.right if here == self.border.left else self.border.left
        if distance < 100.0:
            ahead = self.country_at(x + 200.0 * dx, y + 200.0 * dy)
            return f"towards {ahead}"
        closing = (dx * to_crossing[0] + dy * to_crossing[1]) / distance > 0
        return f"towards {other if closing else here}"


def _side_of(line: LineString, x: float, y: float) -> float:
    """Positive when (x, y) lies left of ``line`` (walking along it), negative when right."""
    along = line.project(Point(x, y))
    step = min(1.0, line.length / 2)
    a = line.interpolate(max(0.0, along - step))
    b = line.interpolate(min(line.length, along + step))
    cross = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x)
    if cross == 0.0:
        return 1.0
    return cross


def reproject(geometry: Any, transformer: Transformer) -> Any:
    """Apply a pyproj transformer to every coordinate of a shapely geometry."""
    return shapely.transform(geometry, transformer.transform, interleaved=False)


def utm_epsg_for(lon: float, lat: float) -> int:
    """The EPSG code of the WGS84 UTM zone holding (lon, lat)."""
    zone = int((lon + 180.0) // 6.0) + 1
    return (32600 if lat >= 0 else 32700) + zone


# --- parsing and validation ---------------------------------------------------------------------


def read_site_file(path: Path) -> Site:
    """Read and validate one site from a GeoJSON file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: no such file", hint="check the path") from err
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(
            f"{path}: cannot be read as UTF-8 text ({err.__class__.__name__})",
            hint="save the file as UTF-8 GeoJSON",
        ) from err
    return site_from_geojson_text(text, origin=str(path))


def site_from_geojson_text(text: str, *, origin: str, builtin: bool = False) -> Site:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(
            f"{origin}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
            hint="a site file is a GeoJSON FeatureCollection; check it with a JSON validator",
        ) from err
    return parse_site(document, origin=origin, builtin=builtin)


def parse_site(document: Any, *, origin: str, builtin: bool = False) -> Site:
    """Validate a site GeoJSON document and build a :class:`Site`.

    Raises :class:`SiteError` naming ``origin`` and the offending field for anything a user could
    have got wrong.
    """
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise SiteError(
            f"{origin}: top level must be a GeoJSON FeatureCollection",
            hint='start the file with {"type": "FeatureCollection", "site": {...}, "features": [...]}',
        )
    meta = document.get("site")
    if not isinstance(meta, dict):
        raise SiteError(
            f"{origin}: field 'site' is missing",
            hint="add a 'site' object with at least 'id' and 'names' (see the README)",
        )
    site_id = meta.get("id")
    if not isinstance(site_id, str) or not SITE_ID_PATTERN.match(site_id):
        raise SiteError(
            f"{origin}: field 'site.id' must be lower-case letters, digits and '-' (got {site_id!r})",
            hint='for example "id": "my-crossing"',
        )
    names = meta.get("names")
    if (
        not isinstance(names, dict)
        or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in names.items())
        or "en" not in names
    ):
        raise SiteError(
            f"{origin}: field 'site.names' must map language codes to names and include 'en'",
            hint='for example "names": {"en": "Tumangang", "ar": "تومانغانغ"}',
        )
    to_wgs84 = _declared_crs_transformer(document, origin)
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise SiteError(f"{origin}: field 'features' must be a non-empty list")

    aoi: Polygon | None = None
    tracks: list[Track] = []
    border_line: LineString | None = None
    border_props: dict[str, Any] = {}
    crossing: Point | None = None
    for index, feature in enumerate(features):
        where = f"{origin}: features[{index}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise SiteError(f"{where} is not a GeoJSON Feature")
        props = feature.get("properties") or {}
        role = props.get("role")
        geometry = _read_geometry(feature.get("geometry"), where, to_wgs84)
        if role == "aoi":
            if aoi is not None:
                raise SiteError(f"{where}: a second 'aoi' feature", hint="a site has one AOI polygon")
            aoi = _expect(geometry, Polygon, where, "aoi", "Polygon")
        elif role == "track":
            tracks.extend(_read_tracks(geometry, props, where, len(tracks)))
        elif role == "border":
            border_line = _expect(geometry, LineString, where, "border", "LineString")
            border_props = props
        elif role == "crossing":
            crossing = _expect(geometry, Point, where, "crossing", "Point")
        else:
            raise SiteError(
                f"{where}: properties.role is {role!r}",
                hint="use one of 'aoi', 'track', 'border', 'crossing'",
            )
    if aoi is None:
        raise SiteError(f"{origin}: no feature with role 'aoi'", hint="add the AOI polygon")
    _check_coordinates(aoi, origin, names.get("en", site_id), site_id, compare_builtin=not builtin)
    _check_polygon(aoi, origin)
    epsg = _read_epsg(meta, aoi, origin)
    _check_extent(aoi, epsg, origin)
    if border_line is None:
        raise SiteError(
            f"{origin}: no feature with role 'border'",
            hint="add the border line with properties 'left' and 'right' (ISO country codes)",
        )
    left, right = border_props.get("left"), border_props.get("right")
    if not all(isinstance(c, str) and re.fullmatch(r"[A-Z]{2}", c) for c in (left, right)) or left == right:
        raise SiteError(
            f"{origin}: the border feature needs properties 'left' and 'right', two different "
            "ISO 3166-1 alpha-2 codes",
            hint='for example "left": "RU", "right": "KP" (sides when walking along the line)',
        )
    if crossing is None:
        crossing = border_line.interpolate(0.5, normalized=True)
    border = Border(border_line, str(left), str(right), crossing, str(border_props.get("source", "")))
    ids = [t.id for t in tracks]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise SiteError(f"{origin}: two tracks have the id {duplicate!r}", hint="give each track its own id")

    site = Site(
        id=site_id,
        names=dict(names),
        aoi=aoi,
        tracks=tuple(tracks),
        border=border,
        epsg=epsg,
        gauges_mm=tuple(int(g) for g in meta.get("gauges_mm", ())),
        mgrs_tiles=tuple(str(t) for t in meta.get("mgrs_tiles", ())),
        kind=str(meta.get("kind", "station")),
        notes=str(meta.get("notes", "")),
        sources={str(k): str(v) for k, v in (meta.get("sources") or {}).items()},
        builtin=builtin,
    )
    _check_tracks_inside(site, origin)
    return site


def _declared_crs_transformer(document: dict[str, Any], origin: str) -> Transformer | None:
    """Honour a legacy GeoJSON ``crs`` member by reprojecting to WGS84."""
    declared = document.get("crs")
    if declared is None:
        return None
    try:
        name = declared["properties"]["name"]
        crs = CRS.from_user_input(name)
    except Exception as err:
        raise SiteError(
            f"{origin}: field 'crs' is not a CRS name pyproj knows",
            hint='use {"type": "name", "properties": {"name": "EPSG:32652"}} or drop it for WGS84',
        ) from err
    if crs.to_epsg() == 4326 or crs.name == "WGS 84 (CRS84)":
        return None
    return Transformer.from_crs(crs, 4326, always_xy=True)


def _read_geometry(raw: Any, where: str, to_wgs84: Transformer | None) -> Any:
    if not isinstance(raw, dict):
        raise SiteError(f"{where}: geometry is missing")
    try:
        geometry = shape(raw)
    except Exception as err:
        raise SiteError(f"{where}: geometry cannot be read ({err})") from err
    if geometry.is_empty:
        raise SiteError(f"{where}: geometry is empty", hint="give it coordinates")
    if to_wgs84 is not None:
        geometry = reproject(geometry, to_wgs84)
    return geometry


def _expect(geometry: Any, kind: type, where: str, role: str, name: str) -> Any:
    if not isinstance(geometry, kind):
        raise SiteError(
            f"{where}: the {role!r} geometry is a {geometry.geom_type}",
            hint=f"a {role} must be a {name}",
        )
    return geometry


def _read_tracks(geometry: Any, props: dict[str, Any], where: str, count: int) -> list[Track]:
    if geometry.geom_type == "LineString":
        lines = [geometry]
    elif geometry.geom_type == "MultiLineString":
        lines = list(geometry.geoms)
    else:
        raise SiteError(
            f"{where}: the 'track' geometry is a {geometry.geom_type}",
            hint="a track must be a LineString or MultiLineString (centrelines)",
        )
    base_id = str(props.get("id") or f"track-{count + 1}")
    kind = str(props.get("kind", "main"))
    if kind not in TRACK_KINDS:
        raise SiteError(f"{where}: properties.kind is {kind!r}", hint=f"use one of {', '.join(TRACK_KINDS)}")
    gauge = props.get("gauge_mm", ())
    gauge = tuple(int(g) for g in (gauge if isinstance(gauge, list) else [gauge])) if gauge else ()
    tracks = []
    for part, line in enumerate(lines):
        if line.length == 0:
            raise SiteError(f"{where}: a track has zero length", hint="give it at least two distinct points")
        tracks.append(
            Track(
                id=base_id if len(lines) == 1 else f"{base_id}-{part + 1}",
                line=line,
                kind=kind,
                approximate=bool(props.get("approximate", True)),
                source=str(props.get("source", "")),
                gauge_mm=gauge,
            )
        )
    return tracks


def _check_coordinates(aoi: Polygon, origin: str, name: str, site_id: str, *, compare_builtin: bool) -> None:
    """Catch projected coordinates without a CRS and latitude/longitude given the wrong way round."""
    west, south, east, north = aoi.bounds
    if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 180:
        raise SiteError(
            f"{origin}: the AOI coordinates ({west:.0f}, {south:.0f}) look projected (metres), "
            "not longitude/latitude",
            hint='reproject to WGS84, or declare the CRS: "crs": {"type": "name", '
            '"properties": {"name": "EPSG:32652"}}',
        )
    if abs(south) > 90 or abs(north) > 90:
        raise SiteError(
            f"{origin}: the AOI has latitudes beyond 90 degrees ({south:.4f}..{north:.4f})",
            hint="latitude and longitude look swapped: GeoJSON wants [longitude, latitude]",
        )
    if not compare_builtin:
        return
    centre = aoi.centroid
    for known in _builtin_by_name_or_id(name, site_id):
        known_centre = known.aoi.centroid
        distance = _km_between(centre, known_centre)
        if distance <= NAMESAKE_DISTANCE_KM:
            continue
        if _km_between(Point(centre.y, centre.x), known_centre) < NAMESAKE_DISTANCE_KM:
            hint = "latitude and longitude look swapped: GeoJSON wants [longitude, latitude]"
        else:
            hint = "check the coordinates (a misplaced decimal point or a swapped pair is common)"
        raise SiteError(
            f"{origin}: the AOI lies at {centre.y:.3f} N {centre.x:.3f} E, {distance:.0f} km from "
            f"{known.name} ({known_centre.y:.3f} N {known_centre.x:.3f} E) that its name refers to",
            hint=hint,
        )


def _distinctive_words(text: str) -> set[str]:
    words = re.split(r"[^a-z]+", text.lower())
    return {w for w in words if len(w) > 3 and w not in GENERIC_PLACE_WORDS}


def _builtin_by_name_or_id(name: str, site_id: str) -> list[Site]:
    words = _distinctive_words(f"{name} {site_id}")
    return [
        site
        for site in builtin_sites().values()
        if words & _distinctive_words(f"{site.names.get('en', '')} {site.id}")
    ]


def _km_between(a: Point, b: Point) -> float:
    lat = math.radians((a.y + b.y) / 2)
    return math.hypot((a.x - b.x) * math.cos(lat), a.y - b.y) * 111.32


def _check_polygon(aoi: Polygon, origin: str) -> None:
    if not aoi.is_valid:
        reason = shapely.is_valid_reason(aoi)
        raise SiteError(
            f"{origin}: the AOI polygon is not valid ({reason})",
            hint="make the outline a simple ring that does not cross itself",
        )
    if aoi.area == 0:
        raise SiteError(
            f"{origin}: the AOI polygon has no area", hint="give it at least three distinct corners"
        )


def _read_epsg(meta: dict[str, Any], aoi: Polygon, origin: str) -> int:
    centre = aoi.centroid
    expected = utm_epsg_for(centre.x, centre.y)
    declared = meta.get("epsg")
    if declared is None:
        return expected
    if not isinstance(declared, int):
        raise SiteError(f"{origin}: field 'site.epsg' must be an integer EPSG code (got {declared!r})")
    if declared != expected:
        swapped = utm_epsg_for(centre.y, centre.x) if abs(centre.x) <= 90 else None
        hint = (
            "latitude and longitude look swapped: GeoJSON wants [longitude, latitude]"
            if swapped == declared
            else f"use EPSG:{expected}, the UTM zone of the AOI, or drop the field"
        )
        raise SiteError(
            f"{origin}: field 'site.epsg' is {declared} but the AOI lies in EPSG:{expected}",
            hint=hint,
        )
    return declared


def _check_extent(aoi: Polygon, epsg: int, origin: str) -> None:
    projected = reproject(aoi, Transformer.from_crs(4326, epsg, always_xy=True))
    west, south, east, north = projected.bounds
    extent = max(east - west, north - south)
    if extent > MAX_AOI_EXTENT_M:
        raise SiteError(
            f"{origin}: the AOI is {extent / 1000:.0f} km across (limit {MAX_AOI_EXTENT_M / 1000:.0f} km)",
            hint="split it into several sites around the yards and crossings you want to watch",
        )


def _check_tracks_inside(site: Site, origin: str) -> None:
    area = site.aoi_utm.buffer(TRACK_TOLERANCE_M)
    for track_id, line in site.tracks_utm.items():
        if not area.contains(line):
            outside = line.difference(area).length
            raise SiteError(
                f"{origin}: track {track_id!r} runs {outside:.0f} m outside the AOI",
                hint="clip the track to the AOI or enlarge the AOI polygon",
            )


# --- writing ------------------------------------------------------------------------------------


def site_to_geojson(site: Site) -> dict[str, Any]:
    """The site as the same GeoJSON document it can be read from."""
    features: list[dict[str, Any]] = [
        {"type": "Feature", "properties": {"role": "aoi"}, "geometry": mapping(site.aoi)},
    ]
    for track in site.tracks:
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "role": "track",
                    "id": track.id,
                    "kind": track.kind,
                    "approximate": track.approximate,
                    "source": track.source,
                    "gauge_mm": list(track.gauge_mm),
                },
                "geometry": mapping(track.line),
            }
        )
    features.append(
        {
            "type": "Feature",
            "properties": {
                "role": "border",
                "left": site.border.left,
                "right": site.border.right,
                "source": site.border.source,
            },
            "geometry": mapping(site.border.line),
        }
    )
    features.append(
        {"type": "Feature", "properties": {"role": "crossing"}, "geometry": mapping(site.border.crossing)}
    )
    return {
        "type": "FeatureCollection",
        "site": {
            "id": site.id,
            "names": dict(site.names),
            "kind": site.kind,
            "epsg": site.epsg,
            "countries": site.countries,
            "gauges_mm": list(site.gauges_mm),
            "mgrs_tiles": list(site.mgrs_tiles),
            "notes": site.notes,
            "sources": dict(site.sources),
        },
        "features": features,
    }


# --- the built-in catalogue ---------------------------------------------------------------------

_BUILTIN: dict[str, Site] | None = None


def builtin_sites() -> dict[str, Site]:
    """The sites shipped with railwatch, by id (read once per process)."""
    global _BUILTIN
    if _BUILTIN is None:
        catalogue: dict[str, Site] = {}
        folder = resources.files("railwatch") / "data" / "sites"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".geojson"):
                site = site_from_geojson_text(
                    entry.read_text(encoding="utf-8"), origin=f"builtin:{entry.name}", builtin=True
                )
                catalogue[site.id] = site
        _BUILTIN = catalogue
    return _BUILTIN


def catalogue(user_documents: Iterable[tuple[str, dict[str, Any], str]] = ()) -> dict[str, Site]:
    """Built-in sites, overlaid by the user's (from the store: id, GeoJSON document, origin)."""
    sites = dict(builtin_sites())
    for _site_id, document, origin in user_documents:
        site = parse_site(document, origin=origin)
        sites[site.id] = site
    return dict(sorted(sites.items()))


def resolve_site(site_id: str, sites: Mapping[str, Site] | None = None) -> Site:
    """The site called ``site_id``, or a :class:`SiteError` listing the known ids."""
    sites = builtin_sites() if sites is None else sites
    try:
        return sites[site_id]
    except KeyError:
        raise SiteError(
            f"unknown site {site_id!r}",
            hint=f"known sites: {', '.join(sorted(sites))}; add your own with 'railwatch sites add'",
        ) from None


# --- OpenStreetMap ------------------------------------------------------------------------------


def tracks_from_overpass(site: Site, response: Any, *, origin: str) -> Site:
    """Replace the site's tracks with the ``railway=rail`` ways of an Overpass JSON response.

    Ways are clipped to the AOI; each keeps its OSM way id in its source so it can be traced.
    """
    if not isinstance(response, dict) or not isinstance(response.get("elements"), list):
        raise InputFileError(
            f"{origin}: not an Overpass API JSON response (no 'elements' list)",
            hint="ask Overpass with [out:json] and 'out geom;', or use --online",
        )
    nodes = {
        e["id"]: (e["lon"], e["lat"])
        for e in response["elements"]
        if e.get("type") == "node" and "lon" in e and "lat" in e
    }
    tracks: list[Track] = []
    for element in response["elements"]:
        if element.get("type") != "way" or (element.get("tags") or {}).get("railway") != "rail":
            continue
        if "geometry" in element:
            points = [(p["lon"], p["lat"]) for p in element["geometry"] if p]
        else:
            points = [nodes[n] for n in element.get("nodes", []) if n in nodes]
        if len(points) < 2:
            continue
        clipped = LineString(points).intersection(site.aoi)
        for part_index, part in enumerate(_line_parts(clipped)):
            tags = element.get("tags") or {}
            kind = {"siding": "siding", "yard": "yard", "spur": "spur"}.get(tags.get("service", ""), "main")
            if tags.get("bridge") == "yes":
                kind = "bridge"
            suffix = f"-{part_index + 1}" if part_index else ""
            tracks.append(
                Track(
                    id=f"osm-{element['id']}{suffix}",
                    line=part,
                    kind=kind,
                    approximate=False,
                    source=f"OpenStreetMap way {element['id']} (ODbL), via {origin}",
                    gauge_mm=_osm_gauges(tags.get("gauge", "")),
                )
            )
    if not tracks:
        raise InputFileError(
            f"{origin}: no railway=rail way crosses the AOI of {site.id!r}",
            hint="check that the Overpass query covered the site's bbox",
        )
    return replace(site, tracks=tuple(tracks), builtin=False)


def _line_parts(geometry: Any) -> Iterable[LineString]:
    if geometry.is_empty:
        return []
    if geometry.geom_type == "LineString":
        return [geometry] if geometry.length > 0 else []
    if hasattr(geometry, "geoms"):
        return [g for g in geometry.geoms if g.geom_type == "LineString" and g.length > 0]
    return []


def _osm_gauges(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d{3,4}", value))


def overpass_query(site: Site) -> str:
    """The Overpass QL that asks for the rail ways in the site's bbox."""
    west, south, east, north = site.bbox
    return f'[out:json][timeout:60];way["railway"="rail"]({south},{west},{north},{east});out geom;'
