"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the repository; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared is not present at {SHARED}: real-data tests need it")
    return SHARED


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store path; also set as $RAILWATCH_DB so no test touches the user's store."""
    path = tmp_path / "store.sqlite"
    monkeypatch.setenv("RAILWATCH_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test write into the real user data directory."""
    monkeypatch.setenv("RAILWATCH_DB", str(tmp_path_factory.mktemp("default-store") / "railwatch.sqlite"))
