"""The store: migrations, idempotent upserts, concurrency and crash consistency on a real file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from railwatch.errors import StoreError, StoreUnavailableError
from railwatch.store import MIGRATIONS, ObservationRow, SceneRow, open_store

SRC = str(Path(__file__).resolve().parents[1] / "src")


def scene(scene_id: str, status: str = "ok", **fields: object) -> SceneRow:
    return SceneRow(
        site="tumangang", scene_id=scene_id, datetime="2023-10-05T02:10:00Z", status=status, **fields
    )


def observation(scene_id: str, cars: float) -> ObservationRow:
    return ObservationRow(
        site="tumangang",
        scene_id=scene_id,
        detector_version="1",
        datetime="2023-10-05T02:10:00Z",
        status="ok",
        car_equivalents=cars,
        car_equivalents_low=cars - 5,
        car_equivalents_high=cars + 5,
        visible_fraction=1.0,
        payload={"moving_trains": [], "tracks": []},
    )


def test_migrations_from_an_empty_file(db_path: Path) -> None:
    db_path.write_bytes(b"")
    with open_store(db_path) as store:
        assert store.schema_version == max(MIGRATIONS)
    raw = sqlite3.connect(db_path)
    tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"migrations", "sites", "scenes", "observations", "articles", "claims"} <= tables
    recorded = raw.execute("SELECT version, name FROM migrations ORDER BY version").fetchall()
    assert [v for v, _ in recorded] == sorted(MIGRATIONS)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    open_store(db_path).close()
    open_store(db_path).close()
    raw = sqlite3.connect(db_path)
    assert raw.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    raw.close()


def test_upserts_are_idempotent(db_path: Path) -> None:
    with open_store(db_path) as store:
        for _ in range(3):
            store.put_scene(scene("S2A_1", status="read_failed", reason="HTTP 500"))
            store.put_observation(observation("S2A_1", 10))
        store.put_scene(scene("S2A_1", status="ok"))
        store.put_observation(observation("S2A_1", 12))
        store.put_site("x", {"type": "FeatureCollection"}, origin="a")
        store.put_site("x", {"type": "FeatureCollection", "v": 2}, origin="b")
        scenes = store.scenes("tumangang")
        observations = store.observations("tumangang")
        assert [(s.scene_id, s.status, s.reason) for s in scenes] == [("S2A_1", "ok", None)]
        assert [o.car_equivalents for o in observations] == [12]
        assert store.user_sites() == [("x", {"type": "FeatureCollection", "v": 2}, "b")]


def test_unknown_scene_status_is_refused(db_path: Path) -> None:
    with open_store(db_path) as store, pytest.raises(StoreError, match="scene status 'fine'"):
        store.put_scene(scene("S2A_1", status="fine"))


def test_a_failed_transaction_leaves_nothing(db_path: Path) -> None:
    with open_store(db_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.put_scene(scene("S2A_1"))
            store.put_observation(observation("S2A_1", 3))
            raise RuntimeError("killed half-way")
        assert store.scenes("tumangang") == [] and store.observations("tumangang") == []


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreUnavailableError, match="not a railwatch store"):
        open_store(path)
    assert path.read_text().startswith("this is a text file")


def test_a_directory_given_as_the_store(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="is a directory"):
        open_store(tmp_path)


def test_a_location_that_cannot_hold_a_store(tmp_path: Path) -> None:
    # A file where the store's directory should be: fails for root too, unlike permissions.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(StoreUnavailableError, match="cannot create the store's directory"):
        open_store(blocker / "sub" / "store.sqlite")


def test_a_store_written_by_a_newer_version(db_path: Path) -> None:
    open_store(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute("INSERT INTO migrations VALUES (999, 'from the future', '2030-01-01')")
    raw.commit()
    raw.close()
    with pytest.raises(StoreUnavailableError, match="schema version 999, written by a newer railwatch"):
        open_store(db_path)


def test_a_store_locked_by_another_process(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr("railwatch.store.BUSY_TIMEOUT_S", 0.2)
    try:
        with (
            open_store(db_path) as store,
            pytest.raises(StoreUnavailableError, match="locked by another process"),
        ):
            store.put_scene(scene("S2A_1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from railwatch.store import ObservationRow, SceneRow, open_store
    store = open_store(sys.argv[1])
    tag = sys.argv[2]
    when = "2023-01-01T00:00:00Z"
    for i in range(int(sys.argv[3])):
        key = dict(site="tumangang", scene_id=f"S{{i:04d}}")
        with store.transaction():
            store.put_scene(SceneRow(**key, datetime=when, status="ok", reason=tag))
            store.put_observation(ObservationRow(**key, detector_version="1", datetime=when, status="ok",
                car_equivalents=float(i), car_equivalents_low=None, car_equivalents_high=None,
                visible_fraction=1.0, payload={{"writer": tag}}))
        if sys.argv[4] == "signal" and i == 50:
            print("halfway", flush=True)
    """
).format(src=SRC)


def test_two_processes_writing_at_once(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [
        subprocess.Popen([sys.executable, str(script), str(db_path), tag, "150", "no"])
        for tag in ("first", "second")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with open_store(db_path) as store:
        scenes = store.scenes("tumangang")
        observations = store.observations("tumangang")
    assert len(scenes) == 150 and len(observations) == 150
    # Each scene row and its observation were written by the same transaction.
    writer_of = {s.scene_id: s.reason for s in scenes}
    assert all(o.payload["writer"] == writer_of[o.scene_id] for o in observations)


def test_a_process_killed_mid_write_leaves_the_store_consistent(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(db_path), "killed", "100000", "signal"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "halfway"
    time.sleep(0.2)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with open_store(db_path) as store:
        scene_ids = {s.scene_id for s in store.scenes("tumangang")}
        observation_ids = {o.scene_id for o in store.observations("tumangang")}
    assert len(scene_ids) > 50
    assert scene_ids == observation_ids
    # Written in order, so a kill leaves a prefix: no gaps.
    assert scene_ids == {f"S{i:04d}" for i in range(len(scene_ids))}
