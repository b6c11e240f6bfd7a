"""``railwatch claims``: extract, ingest, list and lay out claims from reporting."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from railwatch.claims import (
    Extraction,
    Source,
    claims_from_store,
    denials_from_store,
    expand_inputs,
    extract_sources,
    figure_text,
    ingest_sources,
    load_lexicon,
    timeline,
)
from railwatch.cli.options import db_option, json_option, store_at
from railwatch.errors import UserInputError

T = TypeVar("T")
PROGRESS_FROM = 2  # show a progress bar from this many inputs on
FAILED_SHOWN = 20


@click.group()
def claims() -> None:
    """Claims from reporting: figures, who asserted them, when; deduplicated into a timeline."""
    # trafilatura logs a warning for every page without a main text; the status says it already
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


def _with_progress(sources: Sequence[Source], stream: Iterator[T]) -> Iterator[T]:
    if len(sources) < PROGRESS_FROM:
        yield from stream
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("reading articles", total=len(sources))
        for extraction in stream:
            yield extraction
            progress.advance(task)


def _cell(value: object) -> Text:
    """Untrusted text (article content, file names) never goes through rich markup."""
    return Text("" if value is None else str(value))


def _failed_table(failed: list[Extraction]) -> Table:
    table = Table(title="inputs without claims", title_justify="left")
    for column in ("file", "status", "reason"):
        table.add_column(column)
    for extraction in failed[:FAILED_SHOWN]:
        article = extraction.article
        table.add_row(_cell(article.doc), _cell(article.status), _cell(article.reason))
    if len(failed) > FAILED_SHOWN:
        table.add_row(_cell(f"... and {len(failed) - FAILED_SHOWN} more"), _cell(""), _cell(""))
    return table


@claims.command("extract")
@click.argument("paths", nargs=-1, required=True)
@json_option
def extract_command(paths: tuple[str, ...], as_json: bool) -> None:
    """Print the claims in PATHS (files, directories, URLs) without storing them."""
    sources = expand_inputs(paths)
    lex = load_lexicon()
    console = Console()
    statuses: Counter[str] = Counter()
    failed: list[Extraction] = []
    table = Table(title="claims", title_justify="left")
    for column in ("doc", "item", "figure", "asserted by", "via", "date", "as written"):
        table.add_column(column, overflow="fold")
    for extraction in _with_progress(sources, extract_sources(sources, lex=lex)):
        statuses[extraction.article.status] += 1
        if extraction.article.status != "ok":
            failed.append(extraction)
        for claim in extraction.claims:
            if as_json:
                click.echo(json.dumps(claim.to_dict(), ensure_ascii=False))
                continue
            table.add_row(
                _cell(claim.doc),
                _cell(claim.item),
                _cell(figure_text(claim.value, claim.qualifier, claim.high, claim.per, claim.delta)),
                _cell(claim.asserted_by or "-"),
                _cell(", ".join(claim.via) or "-"),
                _cell(claim.event_date or claim.event_date_text or claim.published or "-"),
                _cell(claim.span),
            )
    err = Console(stderr=True)
    if not as_json:
        console.print(table)
    if failed:
        err.print(_failed_table(failed))
    err.print(Text(_status_line(statuses)))


def _status_line(statuses: Counter[str]) -> str:
    return "articles: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))


@claims.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@db_option
@json_option
def ingest_command(paths: tuple[str, ...], db_path: Path | None, as_json: bool) -> None:
    """Store the articles in PATHS and their claims (the same article twice adds nothing)."""
    sources = expand_inputs(paths)
    lex = load_lexicon()
    statuses: Counter[str] = Counter()
    failed: list[Extraction] = []
    added = unchanged = claims_added = 0
    with store_at(db_path) as store:
        for extraction, stored in _with_progress(sources, ingest_sources(store, sources, lex=lex)):
            statuses[extraction.article.status] += 1
            if extraction.article.status != "ok":
                failed.append(extraction)
            if stored:
                added += 1
                claims_added += len(extraction.claims)
            else:
                unchanged += 1
    summary = {
        "inputs": len(sources),
        "articles_added": added,
        "already_stored": unchanged,
        "claims_added": claims_added,
        "statuses": dict(sorted(statuses.items())),
        "failed": [
            {
                "doc": e.article.doc,
                "source": e.article.source,
                "status": e.article.status,
                "reason": e.article.reason,
            }
            for e in failed
        ],
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    console = Console()
    if failed:
        console.print(_failed_table(failed))
    console.print(
        Text(
            f"{len(sources)} inputs: {added} articles stored, {unchanged} already stored, "
            f"{claims_added} claims added; {_status_line(statuses)}"
        )
    )


def _check_item(item: str | None) -> None:
    known = load_lexicon().item_ids
    if item is not None and item not in known:
        raise UserInputError(
            f"--item {item}: not an item of the taxonomy", hint=f"use one of {', '.join(known)}"
        )


@claims.command("list")
@click.option("--item", default=None, help="Only this item (e.g. containers, troops).")
@db_option
@json_option
def list_command(item: str | None, db_path: Path | None, as_json: bool) -> None:
    """List stored claims, one per article and figure."""
    _check_item(item)
    with store_at(db_path) as store:
        stored = claims_from_store(store, item=item)
    if as_json:
        for claim in stored:
            click.echo(json.dumps(claim.to_dict(), ensure_ascii=False))
        return
    table = Table(title=f"claims ({len(stored)})", title_justify="left")
    for column in ("item", "figure", "asserted by", "via", "date", "published", "lang", "doc"):
        table.add_column(column, overflow="fold")
    for claim in stored:
        table.add_row(
            _cell(claim.item),
            _cell(figure_text(claim.value, claim.qualifier, claim.high, claim.per, claim.delta)),
            _cell(claim.asserted_by or "-"),
            _cell(", ".join(claim.via) or "-"),
            _cell(claim.event_date or claim.event_date_text or "-"),
            _cell(claim.published or "-"),
            _cell(claim.language),
            _cell(claim.doc),
        )
    Console().print(table)


@claims.command("timeline")
@click.option("--item", default=None, help="Only this item (e.g. containers, troops).")
@db_option
@json_option
def timeline_command(item: str | None, db_path: Path | None, as_json: bool) -> None:
    """Each item's figures over time: one row per distinct figure and actor, with its sources."""
    _check_item(item)
    lex = load_lexicon()
    with store_at(db_path) as store:
        points = timeline(claims_from_store(store, item=item), denials_from_store(store), lex, item=item)
    if as_json:
        for point in points:
            click.echo(
                json.dumps(
                    {
                        "item": point.item,
                        "series": point.series,
                        "date": point.date,
                        "date_precision": point.date_precision,
                        "figure": point.figure,
                        "value": point.value,
                        "qualifier": point.qualifier,
                        "asserted_by": point.asserted_by,
                        "sources": point.sources,
                        "docs": list(point.docs),
                        "languages": list(point.languages),
                        "change": point.change,
                        "denied_by": list(point.denied_by),
                        "cluster_id": point.cluster_id,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(title="claims timeline", title_justify="left")
    for column in ("item", "series", "date", "figure", "asserted by", "sources", "change", "denied by"):
        table.add_column(column, overflow="fold")
    for point in points:
        table.add_row(
            _cell(point.item),
            _cell(point.series),
            _cell(point.date or "undated"),
            _cell(point.figure),
            _cell(point.asserted_by or "-"),
            _cell(f"{point.sources} ({', '.join(point.languages)})"),
            _cell(point.change),
            _cell(", ".join(point.denied_by) or "-"),
        )
    Console().print(table)
