"""Options shared by every command family, so each flag means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from railwatch.sites import Site, catalogue
from railwatch.store import DB_ENV_VAR, Store, open_store

F = TypeVar("F", bound=Callable[..., Any])


def db_option(function: F) -> F:
    """``--db PATH``: the store file (default: $RAILWATCH_DB or the user data directory)."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help=f"Store file (SQLite). Default: ${DB_ENV_VAR} or railwatch.sqlite in the user data directory.",
    )(function)


def json_option(function: F) -> F:
    """``--json``: machine-readable output (fields in CONTRACTS.md)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(function)


def store_at(db_path: Path | None) -> Store:
    return open_store(db_path)


def sites_in(store: Store) -> dict[str, Site]:
    """Built-in sites with the user's own from the store laid over them."""
    return catalogue(store.user_sites())
