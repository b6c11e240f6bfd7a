"""``railwatch simulate``: write simulated Sentinel-2 scenes with ground truth as a STAC catalog."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from railwatch.simulate import available_scenarios
from railwatch.simulate import simulate as run_simulation
from railwatch.simulate.run import plan

__all__ = ["simulate"]


@click.command()
@click.option("--site", "site_id", default=None,
              help="Site id (default: the scenario's own site). Also: synthetic-yard.")
@click.option("--scenario", "scenario_name", required=True,
              help=f"Scenario name ({', '.join(available_scenarios())}).")
@click.option("--start", default=None, help="First date, YYYY-MM-DD (default: the scenario's).")
@click.option("--end", default=None, help="Last date, YYYY-MM-DD (default: the scenario's).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              required=True, help="Output directory for the static STAC catalog.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed gives the same scenes.")
@click.option("--full-tile", is_flag=True,
              help="Write whole 109.8 km MGRS tiles (big files) instead of a window around the site.")
@click.option("--hires", is_flag=True, help="Also write the <= 1 m RGBN product per scene.")
@click.option("--yes", is_flag=True, help="Write even when the window holds many scenes.")
def simulate(site_id: str | None, scenario_name: str, start: str | None, end: str | None,
             out_dir: Path, seed: int, full_tile: bool, hires: bool, yes: bool) -> None:
    """Simulate Sentinel-2 L2A scenes (and ground truth) of a site for a scenario."""
    request = plan(site_id, scenario_name, start, end, seed=seed, full_tile=full_tile,
                   hires=hires, yes=yes)
    console = Console(stderr=True)
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("scenes", total=len(request.acquisitions))
        paths = run_simulation(request.site, request.scenario, request.start, request.end,
                               out_dir, seed=seed, full_tile=full_tile, hires=hires, yes=yes,
                               progress=lambda done, _total: bar.update(task, completed=done))
    click.echo(f"wrote {len(paths)} scenes of {request.site.id} ({request.scenario.name}, "
               f"{request.start} to {request.end}, seed {seed}) to {out_dir / 'catalog.json'}")
