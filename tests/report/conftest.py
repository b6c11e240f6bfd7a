"""Fixtures of the report tests: a filled store, and Chromium when it is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from railwatch.store import Store, open_store

from .browser import chromium_path
from .storedata import fill_store


@pytest.fixture
def filled_store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "report.sqlite") as store:
        fill_store(store)
        yield store


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; tests that open reports skip with the reason when it is absent."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (scripts/test.sh installs Debian's chromium "
                    "package when run as root)")
    return path
