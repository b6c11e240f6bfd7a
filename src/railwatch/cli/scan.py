"""``railwatch scan``: find every Sentinel-2 pass over a site, read it, detect, store — resumable.

Every input is checked before the store is opened, so a mistake (exit code 2) leaves it untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from railwatch import pipeline
from railwatch.cli.options import db_option, json_option
from railwatch.errors import UserInputError
from railwatch.http import HttpClient, RetryPolicy
from railwatch.imagery import WindowCache, default_cache_dir, read_geotiff
from railwatch.sites import Site, builtin_sites, catalogue, resolve_site
from railwatch.stac import DEFAULT_COLLECTION, PROVIDERS, find_acquisitions
from railwatch.store import default_store_path, open_store


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserInputError(
            f"{option} {value!r} is not a date", hint="write dates as YYYY-MM-DD"
        ) from None


def _site(site_id: str, db_path: Path | None) -> Site:
    """Resolve the site without creating a store: read user sites only from an existing one."""
    path = db_path or default_store_path()
    if not path.is_file():
        return resolve_site(site_id, builtin_sites())
    with open_store(path) as store:
        return resolve_site(site_id, catalogue(store.user_sites()))


def _check_dates(start: date | None, end: date | None) -> tuple[date, date]:
    if start is None or end is None:
        raise UserInputError(
            "--start and --end are needed to scan", hint="for example --start 2023-01-01 --end 2023-12-31"
        )
    today = datetime.now(UTC).date()
    if start > end:
        raise UserInputError(
            f"--start {start} is after --end {end}", hint="swap the dates"
        )
    if start > today:
        raise UserInputError(f"--start {start} is in the future", hint=f"use a date up to {today}")
    if end > today:
        raise UserInputError(f"--end {end} is in the future", hint=f"use a date up to {today}")
    return start, end


@click.command()
@click.option("--site", "site_id", required=True, help="Site id (see 'railwatch sites list').")
@click.option("--start", help="First day, YYYY-MM-DD.")
@click.option("--end", help="Last day, YYYY-MM-DD (inclusive).")
@click.option(
    "--stac-url",
    default=None,
    help=f"STAC API root URL, or a name: {', '.join(PROVIDERS)} (default earth-search).",
)
@click.option("--collection", default=DEFAULT_COLLECTION, show_default=True, help="STAC collection.")
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(path_type=Path),
    help="A static STAC catalog on disk (catalog.json or its folder) instead of an API.",
)
@click.option(
    "--max-cloud",
    type=click.FloatRange(0, 100),
    default=None,
    help="Skip items whose scene-wide cloud cover is above this percentage.",
)
@click.option("--geotiff", "geotiff", type=click.Path(path_type=Path),
              help="Add your own GeoTIFF (any CRS) to the site instead of searching.")
@click.option("--date", "geotiff_date", help="Acquisition date of --geotiff, YYYY-MM-DD.")
@click.option("--workers", type=click.IntRange(1, 64), default=pipeline.DEFAULT_WORKERS,
              show_default=True, help="Scenes read at the same time.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=RetryPolicy.read_timeout_s,
              show_default=True, help="Seconds to wait for a server before retrying.")
@click.option("--retries", type=click.IntRange(0, 20), default=RetryPolicy.attempts - 1,
              show_default=True, help="Retries of a failed request (429, 5xx, dropped, stalled).")
@click.option("--force", is_flag=True, help="Redo scenes already finished in the store.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where read windows are cached (default: the user cache directory).")
@click.option("--no-cache", is_flag=True, help="Keep read windows in memory only.")
@click.option("--dask", "dask_scheduler", metavar="ADDRESS",
              help="Run scenes on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' "
                   "for a cluster of local processes. Needs railwatch[dask].")
@db_option
@json_option
def scan(
    site_id: str,
    start: str | None,
    end: str | None,
    stac_url: str | None,
    collection: str,
    catalog_path: Path | None,
    max_cloud: float | None,
    geotiff: Path | None,
    geotiff_date: str | None,
    workers: int,
    timeout: float,
    retries: int,
    force: bool,
    cache_dir: Path | None,
    no_cache: bool,
    dask_scheduler: str | None,
    db_path: Path | None,
    as_json: bool,
) -> None:
    """Scan a site: every Sentinel-2 pass between two dates, or one GeoTIFF of your own.

    Each scene is stored with a status (ok, cloudy, no_data, read_failed); run the same command
    again to finish an interrupted scan or retry failed reads.
    """
    site = _site(site_id, db_path)
    if geotiff is not None:
        _scan_geotiff(site, geotiff, _parse_date(geotiff_date, "--date"), db_path, as_json)
        return
    first, last = _check_dates(_parse_date(start, "--start"), _parse_date(end, "--end"))
    if catalog_path is not None and stac_url is not None:
        raise UserInputError("give either --catalog or --stac-url, not both", hint="drop one")
    policy = RetryPolicy(attempts=retries + 1, read_timeout_s=timeout,
                         connect_timeout_s=min(timeout, RetryPolicy.connect_timeout_s))
    client = HttpClient(policy, pool_size=max(16, workers * 5))
    acquisitions = find_acquisitions(
        site, first, last, client=client, stac_url=stac_url, collection=collection,
        max_cloud=max_cloud, catalog=catalog_path,
    )
    cache = WindowCache(None if no_cache else (cache_dir or default_cache_dir()))
    console = Console(stderr=True)
    with _dask_client(dask_scheduler, workers) as dask_client, open_store(db_path) as store:
        todo = len(pipeline.pending(store, site, acquisitions, force=force))
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
            console=console, transient=as_json, disable=as_json,
        )
        with progress:
            task = progress.add_task(
                f"scan {site.id}", total=todo,
                counts=f"skipped {len(acquisitions) - todo} (done before)",
            )

            def advance(outcome: pipeline.SceneOutcome, summary: pipeline.ScanSummary) -> None:
                counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items()))
                progress.update(
                    task, advance=1,
                    counts=f"{counts}; failed {summary.failed}; skipped {summary.skipped}",
                )

            summary = pipeline.scan(
                site, acquisitions, store=store, client=client, cache=cache,
                workers=workers, force=force, on_scene=advance, dask_client=dask_client,
            )
    result = {
        "site": site.id, "start": first.isoformat(), "end": last.isoformat(),
        "acquisitions": summary.planned, "skipped": summary.skipped,
        "statuses": summary.statuses, "requests": summary.requests, "bytes": summary.bytes,
        "cache_hits": summary.cache_hits, "seconds": round(summary.seconds, 2),
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    statuses = ", ".join(f"{v} {k}" for k, v in sorted(summary.statuses.items())) or "nothing new"
    console.print(
        f"{site.id}: {summary.planned} acquisitions, {summary.skipped} already done; "
        f"this run: {statuses} ({summary.requests} requests, {summary.bytes / 1e6:.1f} MB, "
        f"{summary.seconds:.1f} s)",
        highlight=False,
    )
    if summary.failed:
        console.print(
            f"{summary.failed} scenes could not be read (stored as read_failed with the reason); "
            "run the same command again to retry them",
            highlight=False,
        )


DASK_CONNECT_TIMEOUT = "10s"


@contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` for ``--dask``, or None: Dask enters the scan only here."""
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise UserInputError(
            "--dask needs the Dask distributed scheduler", hint="pip install 'railwatch[dask]'"
        ) from err
    if scheduler == "local":
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, Client(
            cluster
        ) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise UserInputError(
            f"--dask {scheduler}: no Dask scheduler answered ({err.__class__.__name__})",
            hint="start 'dask scheduler' and 'dask worker ADDRESS', or use --dask local",
        ) from err
    with client:
        yield client


def _scan_geotiff(
    site: Site, path: Path, when: date | None, db_path: Path | None, as_json: bool
) -> None:
    if when is None:
        raise UserInputError("--geotiff needs --date", hint="give the acquisition date, YYYY-MM-DD")
    if when > datetime.now(UTC).date():
        raise UserInputError(f"--date {when} is in the future", hint="give the acquisition date")
    # Read and check the file before the store is opened, so a bad file leaves it untouched.
    scene = read_geotiff(path, site, datetime.combine(when, time(), tzinfo=UTC))
    with open_store(db_path) as store:
        outcome = pipeline.add_scene(scene, site, store=store)
    row = outcome.scene
    if as_json:
        click.echo(json.dumps({"site": row.site, "scene_id": row.scene_id, "status": row.status}))
    else:
        Console(stderr=True).print(
            f"{site.id}: added {row.scene_id} ({row.status})", highlight=False
        )
