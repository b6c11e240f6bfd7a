"""``railwatch report`` and ``railwatch export``: what the analyst reads, and the data behind it.

Both check every option (dates, baseline, output path) before reading the store, and neither
creates a store: a missing one is a user mistake with a hint to run ``scan`` first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from railwatch.cli.options import db_option, sites_in
from railwatch.errors import UserInputError
from railwatch.report import (
    EXPORT_FORMATS,
    LANGUAGES,
    ReportRequest,
    check_output_path,
    default_export_path,
    export_series,
    write_report,
)
from railwatch.sites import Site, resolve_site
from railwatch.store import Store, default_store_path, open_store
from railwatch.timeseries import Period, build_series, checked_period, parse_date, parse_period

__all__ = ["export", "report"]


def _period(date_from: str | None, date_to: str | None) -> Period | None:
    if date_from is None and date_to is None:
        return None
    start = parse_date(date_from, field_name="--from") if date_from else None
    end = parse_date(date_to, field_name="--to", end=True) if date_to else None
    # An open end reaches the first or last pass (analyse clips unbounded ends to the data).
    return checked_period(start or date.min, end or date.max, field_name="--from/--to")


def _existing_store(db_path: Path | None, site_id: str) -> Store:
    path = db_path or default_store_path()
    if not path.is_file():
        raise UserInputError(
            f"no railwatch store at {path}",
            hint=f"run `railwatch scan --site {site_id} ...` first, or pass --db with your store",
        )
    return open_store(path)


def _site(store: Store, site_id: str) -> Site:
    return resolve_site(site_id, sites_in(store))


def _common_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
        click.option("--site", "site_id", required=True, help="Site id (see 'railwatch sites list')."),
        click.option("--from", "date_from", metavar="DATE",
                     help="First day (YYYY-MM-DD, YYYY-MM or YYYY)."),
        click.option("--to", "date_to", metavar="DATE", help="Last day, included."),
        click.option("--baseline", "baseline_text", metavar="START:END",
                     help="Baseline period, e.g. 2023-01:2023-08 (default: the first full years "
                          "of data, else the first half of the period)."),
        click.option("--detector-version", default=None,
                     help="Use this detector version's observations (default: the one covering "
                          "most scenes)."),
        db_option,
    )):
        function = option(function)
    return function


@click.command()
@_common_options
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="The HTML file to write.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
              help="Language of the whole report.")
def report(site_id: str, date_from: str | None, date_to: str | None, baseline_text: str | None,
           detector_version: str | None, db_path: Path | None, out: Path, lang: str) -> None:
    """Write one self-contained HTML report of a site (opens offline, prints well)."""
    period = _period(date_from, date_to)
    baseline = parse_period(baseline_text) if baseline_text else None
    check_output_path(out)
    console = Console(stderr=True)
    with _existing_store(db_path, site_id) as store:
        site = _site(store, site_id)
        with console.status(f"writing the {lang} report of {site.id}"):
            write_report(store, ReportRequest(site=site, lang=lang, period=period,
                                              baseline=baseline,
                                              detector_version=detector_version), out)
    click.echo(str(out))


@click.command()
@_common_options
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="geojson (GIS), csv (spreadsheets) or parquet (code).")
@click.option("--out", "out", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="File to write (default: SITE-passes.FORMAT here; '-' for standard output, "
                   "not for parquet).")
def export(site_id: str, date_from: str | None, date_to: str | None, baseline_text: str | None,
           detector_version: str | None, db_path: Path | None, fmt: str,
           out: Path | None) -> None:
    """Export a site's passes: status, counts, intervals, trains, baseline comparison."""
    period = _period(date_from, date_to)
    baseline = parse_period(baseline_text) if baseline_text else None
    to_stdout = out is not None and str(out) == "-"
    if to_stdout and fmt == "parquet":
        raise UserInputError("--out -: Parquet is binary and cannot go to the terminal",
                             hint="give a file name, e.g. --out passes.parquet")
    target = None if to_stdout else check_output_path(out or default_export_path(site_id, fmt))
    with _existing_store(db_path, site_id) as store:
        site = _site(store, site_id)
        series = build_series(store, site.id, period=period, baseline=baseline,
                              detector_version=detector_version)
    data = export_series(series, site, fmt)
    if target is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        target.write_bytes(data)
    except OSError as err:
        raise UserInputError(f"--out {target}: cannot write ({err.strerror})",
                             hint="choose a path in a directory you can write to") from err
    click.echo(f"{target} ({len(series.passes)} passes)")
