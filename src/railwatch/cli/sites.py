"""``railwatch sites``: list, show, add and refine the watched sites."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from shapely.geometry import mapping

from railwatch.cli.options import db_option, json_option, sites_in, store_at
from railwatch.errors import InputFileError, SiteError
from railwatch.sites import (
    Site,
    overpass_query,
    read_site_file,
    resolve_site,
    site_to_geojson,
    tracks_from_overpass,
)

OVERPASS_URL = "https://overpass-api.de/api/interpreter"


@click.group()
def sites() -> None:
    """The site catalogue: built-in border crossings and yards, and your own."""


def site_summary(site: Site) -> dict[str, object]:
    """The JSON shape of ``sites list --json`` (CONTRACTS.md)."""
    return {
        "id": site.id,
        "names": dict(site.names),
        "kind": site.kind,
        "aoi": mapping(site.aoi),
        "tracks": [
            {
                "type": "Feature",
                "properties": {
                    "id": t.id,
                    "kind": t.kind,
                    "approximate": t.approximate,
                    "source": t.source,
                    "gauge_mm": list(t.gauge_mm),
                },
                "geometry": mapping(t.line),
            }
            for t in site.tracks
        ],
        "epsg": site.epsg,
        "countries": site.countries,
        "border": {
            "left": site.border.left,
            "right": site.border.right,
            "crossing": mapping(site.border.crossing),
        },
        "gauges_mm": list(site.gauges_mm),
        "mgrs_tiles": list(site.mgrs_tiles),
        "builtin": site.builtin,
        "sources": dict(site.sources),
    }


@sites.command("list")
@db_option
@json_option
def list_sites(db_path: Path | None, as_json: bool) -> None:
    """List every site: built-in and added."""
    with store_at(db_path) as store:
        catalogue = sites_in(store)
    if as_json:
        click.echo(json.dumps([site_summary(s) for s in catalogue.values()], ensure_ascii=False, indent=1))
        return
    table = Table(title="railwatch sites")
    for column in ("id", "name", "countries", "tracks", "track km", "EPSG", "origin"):
        table.add_column(column)
    for site in catalogue.values():
        km = sum(line.length for line in site.tracks_utm.values()) / 1000
        approximate = sum(t.approximate for t in site.tracks)
        table.add_row(
            site.id,
            site.name,
            "-".join(site.countries),
            f"{len(site.tracks)} ({approximate} approx.)",
            f"{km:.1f}",
            str(site.epsg),
            "built-in" if site.builtin else "user",
        )
    Console().print(table)


@sites.command("show")
@click.argument("site_id")
@click.option("--geojson", "as_geojson", is_flag=True, help="Print the site as a GeoJSON FeatureCollection.")
@db_option
def show_site(site_id: str, as_geojson: bool, db_path: Path | None) -> None:
    """Show one site: names, tracks, border, sources."""
    with store_at(db_path) as store:
        site = resolve_site(site_id, sites_in(store))
    if as_geojson:
        click.echo(json.dumps(site_to_geojson(site), ensure_ascii=False, indent=1))
        return
    console = Console()
    console.print(
        f"[bold]{site.id}[/bold]  " + "  ".join(f"{k}: {v}" for k, v in site.names.items()),
        markup=True,
        highlight=False,
    )
    west, south, east, north = site.bbox
    console.print(
        f"AOI {south:.4f}..{north:.4f} N, {west:.4f}..{east:.4f} E; EPSG:{site.epsg}; "
        f"border {site.border.left} (left) / {site.border.right} (right)",
        highlight=False,
    )
    table = Table()
    for column in ("track", "kind", "length m", "approximate", "source"):
        table.add_column(column)
    for track in site.tracks:
        table.add_row(
            track.id,
            track.kind,
            f"{site.tracks_utm[track.id].length:.0f}",
            "yes" if track.approximate else "no",
            track.source,
        )
    console.print(table)
    for key, source in site.sources.items():
        console.print(f"source of {key}: {source}", highlight=False, markup=False)


@sites.command("add")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True, help="Replace a user site with the same id.")
@db_option
def add_site(file: Path, replace: bool, db_path: Path | None) -> None:
    """Add your own site from a GeoJSON file (format in the README)."""
    site = read_site_file(file)
    with store_at(db_path) as store:
        known = sites_in(store)
        if site.id in known and (known[site.id].builtin or not replace):
            what = "a built-in site" if known[site.id].builtin else "a site you added"
            raise SiteError(
                f"{file}: field 'site.id' is {site.id!r}, which is already {what}",
                hint="choose another id" + ("" if known[site.id].builtin else ", or pass --replace"),
            )
        store.put_site(site.id, site_to_geojson(site), origin=str(file))
    click.echo(f"added site {site.id} ({len(site.tracks)} tracks)")


@sites.command("import-osm")
@click.argument("site_id")
@click.option(
    "--overpass",
    "overpass_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An Overpass API JSON response saved to a file.",
)
@click.option("--online", is_flag=True, help="Ask the Overpass API (needs the internet).")
@click.option(
    "--overpass-url", default=OVERPASS_URL, show_default=True, help="Overpass API endpoint for --online."
)
@click.option("--print-query", is_flag=True, help="Print the Overpass query for this site and exit.")
@db_option
def import_osm(
    site_id: str,
    overpass_file: Path | None,
    online: bool,
    overpass_url: str,
    print_query: bool,
    db_path: Path | None,
) -> None:
    """Replace a site's track centrelines with OpenStreetMap railway=rail ways."""
    with store_at(db_path) as store:
        site = resolve_site(site_id, sites_in(store))
        if print_query:
            click.echo(overpass_query(site))
            return
        if bool(overpass_file) == online:
            raise click.UsageError("give exactly one of --overpass FILE or --online")
        if overpass_file is not None:
            origin = str(overpass_file)
            try:
                response = json.loads(overpass_file.read_text(encoding="utf-8-sig"))
            except FileNotFoundError as err:
                raise InputFileError(f"{overpass_file}: no such file", hint="check the path") from err
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise InputFileError(
                    f"{overpass_file}: not a JSON file ({err})",
                    hint="save the Overpass answer with [out:json]",
                ) from err
        else:
            from railwatch.http import HttpClient

            origin = "Overpass API"
            response = HttpClient().post_json(overpass_url, data={"data": overpass_query(site)})
        refined = tracks_from_overpass(site, response, origin=origin)
        store.put_site(refined.id, site_to_geojson(refined), origin=origin)
    click.echo(
        f"{site_id}: {len(refined.tracks)} tracks from OpenStreetMap "
        f"({sum(line.length for line in refined.tracks_utm.values()) / 1000:.1f} km)"
    )
