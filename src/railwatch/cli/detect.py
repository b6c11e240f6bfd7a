"""``railwatch detect``: measure rolling stock and moving trains in one scene of a site."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from railwatch.cli.options import db_option, json_option, sites_in, store_at
from railwatch.errors import InputFileError
from railwatch.sites import Site, resolve_site

__all__ = ["detect"]


@click.command("detect")
@click.option("--site", "site_id", required=True, help="Site id (see 'railwatch sites list').")
@click.argument("item", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--history", "history_path", type=click.Path(path_type=Path),
              help="What the empty tracks look like: a background .npz, or a folder of STAC item "
                   "JSON files of the site to build it from (saved as background.npz inside).")
@click.option("--car-length", type=float, default=None,
              help="Metres per car-equivalent (default 14.5, the Muttenz median).")
@db_option
@json_option
def detect(site_id: str, item: Path, history_path: Path | None, car_length: float | None,
           db_path: Path | None, as_json: bool) -> None:
    """Count car-equivalents per track and find moving trains in one Sentinel-2 ITEM (STAC JSON)."""
    from dataclasses import replace

    from railwatch.detect import DetectSettings, detect_scene
    from railwatch.imagery import read_item

    with store_at(db_path) as store:
        site = resolve_site(site_id, sites_in(store))
    settings = DetectSettings()
    if car_length is not None:
        if not 5.0 <= car_length <= 40.0:
            raise InputFileError(f"--car-length {car_length}: not a rail car length",
                                 hint="give metres per car, e.g. 14.5")
        settings = replace(settings, car_length_m=car_length)
    history = _history(history_path, site) if history_path is not None else None
    scene = read_item(str(item), site)
    observation = detect_scene(scene, site, history=history, settings=settings)
    if as_json:
        click.echo(json.dumps(observation.to_json(), ensure_ascii=False, indent=1))
        return
    _print(observation)


def _history(path: Path, site: Site):
    from railwatch.detect import build_background, load_background
    from railwatch.imagery import read_item

    if path.is_file():
        return load_background(path)
    if not path.is_dir():
        raise InputFileError(f"{path}: no such background file or folder",
                             hint="give a background .npz or a folder of STAC item JSON files")
    saved = path / "background.npz"
    if saved.is_file():
        return load_background(saved)
    items = sorted(p for p in path.rglob("*.json") if p.name != "truth.json"
                   and _is_item(p))
    if not items:
        raise InputFileError(f"{path}: no STAC item JSON files in this folder",
                             hint="put the items of clear dates of the site there")
    background = build_background((read_item(str(p), site) for p in items), site=site)
    background.save(saved)
    return background


def _is_item(path: Path) -> bool:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(document, dict) and document.get("type") == "Feature"


def _print(observation) -> None:
    console = Console()
    ce = observation.car_equivalents
    interval = observation.car_equivalents_interval
    headline = (f"{observation.site} {observation.item}: {observation.status}, "
                f"{observation.visible_fraction:.0%} of the tracks visible")
    if ce is not None and interval is not None:
        headline += f"; {ce:.1f} car-equivalents ({interval[0]:.1f}-{interval[1]:.1f})"
    if observation.reason:
        headline += f" — {observation.reason}"
    console.print(headline, markup=False, highlight=False)
    table = Table(title="tracks")
    for column in ("track", "status", "visible", "occupied m", "car-equivalents"):
        table.add_column(column)
    for track in observation.tracks:
        table.add_row(track.track, track.status, f"{track.visible_fraction:.0%}",
                      "-" if track.occupied_m is None else f"{track.occupied_m:.0f}",
                      "-" if track.car_equivalents is None else f"{track.car_equivalents:.1f}")
    console.print(table)
    if observation.moving_trains:
        moving = Table(title="moving trains")
        for column in ("track", "at m", "length m", "speed m/s", "heading", "direction", "conf."):
            moving.add_column(column)
        for m in observation.moving_trains:
            moving.add_row(m.track, f"{m.position_m:.0f}", f"{m.length_m:.0f}",
                           f"{m.speed_mps:.1f} ± {m.speed_sd_mps:.1f}", f"{m.heading_deg:.0f}°",
                           m.direction, f"{m.confidence:.2f}")
        console.print(moving)
    console.print(f"detector {observation.detector_version}; flags: "
                  f"{', '.join(observation.flags) or 'none'}", markup=False, highlight=False)
