"""``railwatch demo``: the offline end-to-end run of the README's first command."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from railwatch.cli.options import sites_in
from railwatch.store import open_store


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("railwatch-demo"),
    show_default=True,
    help="Where the demo writes.",
)
def demo(out_dir: Path) -> None:
    """Run railwatch offline end to end on the built-in Tumangang case."""
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "railwatch.sqlite"
    with open_store(db_path) as store:
        catalogue = sites_in(store)
        schema = store.schema_version
    console = Console()
    table = Table(title=f"railwatch catalogue ({len(catalogue)} sites)")
    for column in ("id", "name", "countries", "tracks", "track km"):
        table.add_column(column)
    for site in catalogue.values():
        km = sum(line.length for line in site.tracks_utm.values()) / 1000
        table.add_row(site.id, site.name, "-".join(site.countries), str(len(site.tracks)), f"{km:.1f}")
    console.print(table)
    console.print(f"store ready at {db_path} (schema version {schema})", highlight=False)
