"""Fixtures for the imagery and scan tests: a site, tiny Sentinel-2-like items, the loopback server
with a quick retry policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from railwatch.http import HttpClient, RetryPolicy
from railwatch.sites import Site, builtin_sites
from tests.stac_server import StacServer

# Short enough for a quick suite, long enough that a loaded CI machine does not time out honest
# replies: a stall fault sleeps 1.5 s against a 1 s read timeout.
QUICK_POLICY = RetryPolicy(
    attempts=3, base_delay_s=0.01, max_delay_s=1.0, connect_timeout_s=1.0, read_timeout_s=1.0
)


@pytest.fixture(scope="session")
def site() -> Site:
    return builtin_sites()["tumangang"]


@pytest.fixture
def client() -> HttpClient:
    return HttpClient(QUICK_POLICY)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StacServer]:
    with StacServer(tmp_path) as running:
        running.add_collection("sentinel-2-l2a")
        yield running
