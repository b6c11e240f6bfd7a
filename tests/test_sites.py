"""The site model, the built-in catalogue and the validation of user site files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, Point, shape

from railwatch.errors import SiteError, UserInputError
from railwatch.sites import (
    builtin_sites,
    parse_site,
    read_site_file,
    resolve_site,
    site_to_geojson,
    tracks_from_overpass,
)

NK_RU_SITES = {"tumangang", "khasan", "tumen-bridge", "rajin"}


def user_site(**site_overrides: Any) -> dict[str, Any]:
    """A small valid user site near Tumangang, as a GeoJSON document."""
    aoi = [[130.600, 42.415], [130.615, 42.415], [130.615, 42.425], [130.600, 42.425], [130.600, 42.415]]
    return {
        "type": "FeatureCollection",
        "site": {"id": "my-yard", "names": {"en": "My yard", "ar": "ساحتي"}, **site_overrides},
        "features": [
            {
                "type": "Feature",
                "properties": {"role": "aoi"},
                "geometry": {"type": "Polygon", "coordinates": [aoi]},
            },
            {
                "type": "Feature",
                "properties": {"role": "track", "id": "t1", "approximate": False},
                "geometry": {"type": "LineString", "coordinates": [[130.602, 42.420], [130.613, 42.419]]},
            },
            {
                "type": "Feature",
                "properties": {"role": "border", "left": "RU", "right": "KP"},
                "geometry": {"type": "LineString", "coordinates": [[130.638, 42.432], [130.644, 42.405]]},
            },
        ],
    }


def features_by_role(document: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [f for f in document["features"] if f["properties"]["role"] == role]


def test_catalogue_has_the_nk_ru_link_and_two_other_crossings() -> None:
    sites = builtin_sites()
    assert set(sites) >= NK_RU_SITES
    others = [s for s in sites.values() if set(s.countries) != {"KP", "RU"}]
    assert len(others) >= 2
    for site in sites.values():
        assert site.names["en"] and site.names["ar"] and site.names["ru"] and site.names["ko"]
        assert site.tracks, site.id
        assert all(t.source for t in site.tracks), site.id
        assert site.sources, site.id
        assert 32601 <= site.epsg <= 32660
        assert site.gauges_mm


def test_builtin_tracks_lie_inside_their_aoi_and_are_flagged_approximate() -> None:
    for site in builtin_sites().values():
        area = site.aoi_utm.buffer(5.0)
        for track in site.tracks:
            assert area.contains(site.tracks_utm[track.id]), (site.id, track.id)
            assert track.approximate, "digitised tracks must say so until refined from OSM"


def test_tumangang_station_lies_in_the_tumangang_aoi() -> None:
    # Wikipedia's coordinates of Tumangang station (SENSOR.md).
    assert builtin_sites()["tumangang"].aoi.contains(Point(130.6081, 42.4214))
    assert builtin_sites()["tumen-bridge"].aoi.contains(Point(130.6411, 42.4152))


@pytest.mark.parametrize(
    ("site_id", "lon", "lat", "heading", "expected"),
    [
        # In the Tumangang yard (KP), heading east towards the bridge, then west inland.
        ("tumangang", 130.6081, 42.4214, 100.0, "towards RU"),
        ("tumangang", 130.6081, 42.4214, 280.0, "towards KP"),
        # At Khasan (RU), heading south towards the bridge, then north inland.
        ("khasan", 130.6449, 42.4301, 180.0, "towards KP"),
        ("khasan", 130.6449, 42.4301, 0.0, "towards RU"),
        # On the bridge itself the heading's side of the river decides.
        ("tumen-bridge", 130.6411, 42.4152, 95.0, "towards RU"),
        ("tumen-bridge", 130.6411, 42.4152, 275.0, "towards KP"),
    ],
)
def test_direction_is_named_by_country(
    site_id: str, lon: float, lat: float, heading: float, expected: str
) -> None:
    site = builtin_sites()[site_id]
    point = site.to_utm(Point(lon, lat))
    assert site.direction(point.x, point.y, heading) == expected


def test_site_round_trips_through_geojson() -> None:
    for site in builtin_sites().values():
        again = parse_site(json.loads(json.dumps(site_to_geojson(site))), origin="round-trip")
        assert again.id == site.id
        assert again.aoi.equals(site.aoi)
        assert [t.id for t in again.tracks] == [t.id for t in site.tracks]
        assert again.border.left == site.border.left and again.epsg == site.epsg


def test_a_valid_user_site_parses() -> None:
    site = parse_site(user_site(), origin="mine.geojson")
    assert site.id == "my-yard" and site.countries == ["KP", "RU"] and site.epsg == 32652
    assert not site.tracks[0].approximate


def test_resolve_unknown_site_lists_the_known_ones() -> None:
    with pytest.raises(SiteError, match="unknown site 'atlantis'") as caught:
        resolve_site("atlantis")
    assert "tumangang" in str(caught.value)


# --- bad input: one clear error naming the file and field ---------------------------------------


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", ', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"broken\.geojson: not valid JSON \(line 1"):
        read_site_file(path)


def test_wrong_geometry_type_for_the_aoi() -> None:
    document = user_site()
    features_by_role(document, "aoi")[0]["geometry"] = {"type": "Point", "coordinates": [130.6, 42.42]}
    with pytest.raises(SiteError, match=r"features\[0\]: the 'aoi' geometry is a Point.*must be a Polygon"):
        parse_site(document, origin="f.geojson")


def test_wrong_geometry_type_for_a_track() -> None:
    document = user_site()
    features_by_role(document, "track")[0]["geometry"] = {"type": "Point", "coordinates": [130.6, 42.42]}
    with pytest.raises(SiteError, match="'track' geometry is a Point"):
        parse_site(document, origin="f.geojson")


def swap(coordinates: Any) -> Any:
    if isinstance(coordinates[0], (int, float)):
        return [coordinates[1], coordinates[0]]
    return [swap(c) for c in coordinates]


def test_latitude_longitude_swapped_beyond_90_degrees() -> None:
    document = user_site()
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = swap(feature["geometry"]["coordinates"])
    with pytest.raises(SiteError, match="latitude and longitude look swapped"):
        parse_site(document, origin="f.geojson")


def shifted(coordinates: Any, factor: float) -> Any:
    if isinstance(coordinates[0], (int, float)):
        return [coordinates[0] * factor, coordinates[1] * factor]
    return [shifted(c, factor) for c in coordinates]


def test_a_site_named_tumangang_in_the_sea_off_africa() -> None:
    # A misplaced decimal point puts "Tumangang" (130.6 E, 42.4 N) in the Gulf of Guinea.
    document = user_site()
    document["site"]["names"]["en"] = "Tumangang south sidings"
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = shifted(feature["geometry"]["coordinates"], 0.1)
    with pytest.raises(SiteError, match=r"4\.2\d\d N 13\.06\d E, \d+ km from Tumangang") as caught:
        parse_site(document, origin="f.geojson")
    assert "check the coordinates" in str(caught.value)


def test_a_site_with_a_generic_name_far_from_the_catalogue_is_fine() -> None:
    document = user_site()
    document["site"]["names"]["en"] = "Brest freight yard and border station"
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = shifted(feature["geometry"]["coordinates"], 0.4)
    assert parse_site(document, origin="f.geojson").names["en"].startswith("Brest")


def test_declared_utm_zone_that_fits_only_swapped_coordinates() -> None:
    with pytest.raises(SiteError, match="field 'site.epsg' is 32607 but the AOI lies in EPSG:32652"):
        parse_site(user_site(epsg=32607), origin="f.geojson")


def test_self_intersecting_polygon() -> None:
    document = user_site()
    bowtie = [[130.600, 42.415], [130.615, 42.425], [130.615, 42.415], [130.600, 42.425], [130.600, 42.415]]
    features_by_role(document, "aoi")[0]["geometry"]["coordinates"] = [bowtie]
    with pytest.raises(SiteError, match="not valid.*Self-intersection"):
        parse_site(document, origin="f.geojson")


def test_empty_polygon() -> None:
    document = user_site()
    features_by_role(document, "aoi")[0]["geometry"]["coordinates"] = []
    with pytest.raises(SiteError, match="geometry is empty"):
        parse_site(document, origin="f.geojson")


def test_track_outside_the_aoi() -> None:
    document = user_site()
    features_by_role(document, "track")[0]["geometry"]["coordinates"] = [[130.602, 42.420], [130.640, 42.419]]
    with pytest.raises(SiteError, match=r"track 't1' runs \d+ m outside the AOI"):
        parse_site(document, origin="f.geojson")


def test_aoi_larger_than_the_limit() -> None:
    document = user_site()
    huge = [[130.0, 42.0], [131.0, 42.0], [131.0, 42.8], [130.0, 42.8], [130.0, 42.0]]
    features_by_role(document, "aoi")[0]["geometry"]["coordinates"] = [huge]
    with pytest.raises(SiteError, match=r"the AOI is \d+ km across \(limit 50 km\)"):
        parse_site(document, origin="f.geojson")


def test_projected_coordinates_without_a_crs() -> None:
    site = builtin_sites()["tumangang"]
    document = site_to_geojson(site)
    document["site"]["id"] = "projected"
    for feature in document["features"]:
        feature["geometry"] = json.loads(
            json.dumps(site.to_utm(shape(feature["geometry"])).__geo_interface__)
        )
    with pytest.raises(SiteError, match="look projected"):
        parse_site(document, origin="f.geojson")
    declared = copy.deepcopy(document)
    declared["crs"] = {"type": "name", "properties": {"name": "EPSG:32652"}}
    reprojected = parse_site(declared, origin="f.geojson")
    assert reprojected.aoi.centroid.distance(site.aoi.centroid) < 1e-6


def test_duplicate_track_ids() -> None:
    document = user_site()
    document["features"].append(copy.deepcopy(features_by_role(document, "track")[0]))
    with pytest.raises(SiteError, match="two tracks have the id 't1'"):
        parse_site(document, origin="f.geojson")


def test_missing_border_sides() -> None:
    document = user_site()
    features_by_role(document, "border")[0]["properties"] = {"role": "border", "left": "RU", "right": "RU"}
    with pytest.raises(SiteError, match="'left' and 'right'"):
        parse_site(document, origin="f.geojson")


# --- OpenStreetMap ------------------------------------------------------------------------------


def overpass_response(site_geometry: LineString) -> dict[str, Any]:
    nodes = [
        {"type": "node", "id": 100 + i, "lon": x, "lat": y} for i, (x, y) in enumerate(site_geometry.coords)
    ]
    return {
        "version": 0.6,
        "elements": nodes
        + [
            {
                "type": "way",
                "id": 42,
                "nodes": [n["id"] for n in nodes],
                "tags": {"railway": "rail", "gauge": "1435;1520", "service": "yard"},
            },
            {"type": "way", "id": 43, "nodes": [n["id"] for n in nodes], "tags": {"highway": "primary"}},
            {
                "type": "way",
                "id": 44,
                "tags": {"railway": "rail", "bridge": "yes"},
                "geometry": [{"lon": 130.55, "lat": 42.42}, {"lon": 130.56, "lat": 42.42}],
            },
        ],
    }


def test_overpass_ways_become_tracks_clipped_to_the_aoi() -> None:
    site = builtin_sites()["tumangang"]
    # A way that runs past the AOI on both sides.
    way = LineString([(130.57, 42.4225), (130.6081, 42.4214), (130.65, 42.416)])
    refined = tracks_from_overpass(site, overpass_response(way), origin="answer.json")
    assert [t.id for t in refined.tracks] == ["osm-42"]
    track = refined.tracks[0]
    assert track.kind == "yard" and track.gauge_mm == (1435, 1520) and not track.approximate
    assert "OpenStreetMap way 42" in track.source
    assert site.aoi.buffer(1e-9).contains(track.line)
    assert track.line.length < way.length


def test_overpass_answer_without_rail_in_the_aoi() -> None:
    site = builtin_sites()["tumangang"]
    with pytest.raises(UserInputError, match="no railway=rail way crosses the AOI"):
        tracks_from_overpass(site, {"elements": []}, origin="answer.json")
    with pytest.raises(UserInputError, match="not an Overpass API JSON response"):
        tracks_from_overpass(site, {"features": []}, origin="answer.json")
