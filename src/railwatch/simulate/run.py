"""``simulate()``: a scenario over a date range -> a static STAC catalog on disk.

Everything is checked before the first pixel is drawn, written into a temporary directory beside
the output, and moved into place only when complete, so an error or an interrupt never leaves a
half-written catalog.  Re-running the same command replaces the catalog with an identical one; a
directory holding another catalog is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pystac

from railwatch.errors import InputFileError, SiteError, UserInputError
from railwatch.simulate.grid import tile_grid
from railwatch.simulate.groundtruth import truth_record
from railwatch.simulate.model import Acquisition
from railwatch.simulate.render import render_scene, scene_grid, site_model
from railwatch.simulate.scenarios import Scenario, acquisitions, load_scenario, scene_state_for
from railwatch.simulate.writer import item_for, write_item_files, write_truth
from railwatch.simulate.yard import SYNTHETIC_SITES, synthetic_site
from railwatch.sites import Site, builtin_sites, resolve_site

__all__ = ["MAX_HIRES_SCENES", "MAX_SCENES", "Plan", "plan", "resolve_simulation_site",
           "simulate"]

MAX_SCENES = 200
MAX_HIRES_SCENES = 24
CATALOG_KEY = "railwatch:simulation"


@dataclass(frozen=True)
class Plan:
    """A checked simulation request."""

    site: Site
    scenario: Scenario
    start: date
    end: date
    seed: int
    full_tile: bool
    hires: bool
    acquisitions: tuple[Acquisition, ...]

    @property
    def signature(self) -> dict[str, Any]:
        """What identifies the catalog this plan writes (stored in catalog.json)."""
        return {"site": self.site.id, "scenario": self.scenario.name, "seed": self.seed,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "full_tile": self.full_tile, "hires": self.hires}


def resolve_simulation_site(site: str | Site) -> Site:
    """A built-in site, or one of the simulator's synthetic sites (e.g. ``synthetic-yard``)."""
    if isinstance(site, Site):
        return site
    if site in SYNTHETIC_SITES:
        return synthetic_site(site)
    try:
        return resolve_site(site)
    except SiteError as err:
        known = sorted(builtin_sites()) + sorted(SYNTHETIC_SITES)
        raise SiteError(f"unknown site {site!r}", hint=f"known sites: {', '.join(known)}") from err


def _date(value: date | str | None, default: date, name: str) -> date:
    if value is None:
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise UserInputError(f"{name} {value!r} is not a date",
                             hint="write dates as YYYY-MM-DD") from err


def plan(site: str | Site | None, scenario: str | Scenario, start: date | str | None = None,
         end: date | str | None = None, *, seed: int = 0, full_tile: bool = False,
         hires: bool = False, yes: bool = False) -> Plan:
    """Check a request and list its acquisitions; raises :class:`UserInputError` on bad input."""
    chosen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    resolved = resolve_simulation_site(site if site is not None else chosen.site)
    first = _date(start, chosen.start, "--start")
    last = _date(end, chosen.end, "--end")
    if last < first:
        raise UserInputError(f"--end {last} is before --start {first}",
                             hint="give an end date on or after the start date")
    if not resolved.mgrs_tiles:
        raise SiteError(f"site {resolved.id!r} names no MGRS tile",
                        hint="add 'mgrs_tiles' to the site file")
    tile = resolved.mgrs_tiles[0]
    grid = tile_grid(tile)
    window = scene_grid(resolved).window10
    if grid.epsg != resolved.epsg or window.width < 4 or window.height < 4:
        raise SiteError(f"site {resolved.id!r} does not lie in its first MGRS tile {tile}",
                        hint="put the tile that contains the AOI first in 'mgrs_tiles'")
    acqs = tuple(acquisitions(chosen, grid.tile, first, last))
    if not acqs:
        raise UserInputError(f"no Sentinel-2 acquisition between {first} and {last}",
                             hint=f"the revisit is {chosen.revisit_days} days; widen the window")
    limit = MAX_HIRES_SCENES if hires else MAX_SCENES
    if len(acqs) > limit and not yes:
        raise UserInputError(
            f"{len(acqs)} scenes between {first} and {last} is more than {limit}"
            + (" with --hires" if hires else ""),
            hint="narrow --start/--end, or pass --yes to write them all")
    return Plan(resolved, chosen, first, last, seed, full_tile, hires, acqs)


def _check_out_dir(out_dir: Path, signature: dict[str, Any]) -> bool:
    """True when ``out_dir`` holds this very catalog (it will be replaced)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"--out {out_dir} is a file", hint="give a directory path")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return False
    catalog = out_dir / "catalog.json"
    if not catalog.is_file():
        raise InputFileError(f"--out {out_dir} is not empty and holds no railwatch catalog",
                             hint="choose a new or empty directory")
    try:
        existing = json.loads(catalog.read_text(encoding="utf-8")).get(CATALOG_KEY)
    except (OSError, ValueError) as err:
        raise InputFileError(f"{catalog} cannot be read ({err.__class__.__name__})",
                             hint="choose a new or empty directory") from err
    if existing != signature:
        described = (", ".join(f"{k} {v}" for k, v in existing.items())
                     if isinstance(existing, dict) else "not a railwatch simulation")
        raise InputFileError(f"--out {out_dir} already holds a different catalog ({described})",
                             hint="choose another --out directory or delete that one")
    return True


def simulate(site: str | Site | None, scenario: str | Scenario,
             start: date | str | None = None, end: date | str | None = None,
             out_dir: Path | str = Path("railwatch-sim"), *, seed: int = 0,
             full_tile: bool = False, hires: bool = False, yes: bool = False,
             progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Simulate ``scenario`` at ``site`` and write a static STAC catalog into ``out_dir``.

    Returns the paths of the written item JSON files (inside ``out_dir``).
    """
    request = plan(site, scenario, start, end, seed=seed, full_tile=full_tile, hires=hires,
                   yes=yes)
    out_dir = Path(out_dir)
    replace = _check_out_dir(out_dir, request.signature)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A hidden sibling holds the work; its inner folder name has no dot, so pystac takes it for
    # a directory.
    workspace = out_dir.parent / f".railwatch-simulate-{os.getpid()}-{out_dir.name}"
    if workspace.exists():
        shutil.rmtree(workspace)
    staging = workspace / "catalog"
    staging.mkdir(parents=True)
    try:
        item_ids = _write_catalog(request, staging, progress)
        if replace:
            retired = workspace / "replaced"
            out_dir.rename(retired)
        elif out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return [out_dir / item_id / f"{item_id}.json" for item_id in item_ids]


def _write_catalog(request: Plan, folder: Path, progress: Callable[[int, int], None] | None
                   ) -> list[str]:
    site, scenario = request.site, request.scenario
    catalog = pystac.Catalog(
        id=f"railwatch-sim-{site.id}-{scenario.name}-{request.seed}",
        description=(f"railwatch simulation of scenario {scenario.name} at {site.id} "
                     f"({request.start} to {request.end}, seed {request.seed}): simulated "
                     "Sentinel-2 L2A-like scenes with ground truth"),
        title=f"railwatch simulation: {scenario.name} at {site.id}",
        extra_fields={CATALOG_KEY: request.signature},
    )
    model = site_model(site, land_seed=request.seed, river_width_m=scenario.river_width_m)
    extra = {"railwatch:scenario": scenario.name, "railwatch:seed": request.seed,
             "railwatch:site": site.id}
    written = []
    total = len(request.acquisitions)
    for index, acq in enumerate(request.acquisitions):
        state = scene_state_for(scenario, site, acq, request.seed)
        scene = render_scene(site, state, model=model, hires=request.hires)
        item_folder = folder / acq.item_id
        files = write_item_files(item_folder, scene, full_tile=request.full_tile,
                                 hires=request.hires)
        write_truth(item_folder / "truth.json",
                    truth_record(site, scene, scenario=scenario.name, seed=request.seed))
        item = item_for(scene, files, full_tile=request.full_tile, extra=extra)
        catalog.add_item(item)
        written.append(acq.item_id)
        if progress is not None:
            progress(index + 1, total)
    catalog.normalize_hrefs(str(folder))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return written
