"""The store: the one place that reads and writes railwatch's database.

One SQLite file in WAL mode.  The schema grows by registered migrations, each applied in one
transaction together with its record in ``migrations``, so a store is always at a version it can
name.  Every write is an upsert on a natural key (a site id; site + scene id; site + scene id +
detector version; an article's content hash), so re-running a scan or an ingest never duplicates
and a run killed half-way leaves either all of a unit of work or none of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from railwatch.errors import StoreError, StoreUnavailableError

__all__ = [
    "DB_ENV_VAR",
    "ArticleRow",
    "ClaimRow",
    "ObservationRow",
    "SceneRow",
    "Store",
    "default_store_path",
    "open_store",
]

DB_ENV_VAR = "RAILWATCH_DB"
BUSY_TIMEOUT_S = 30.0
SCENE_STATUSES = ("ok", "cloudy", "no_data", "read_failed", "pending")


def default_store_path() -> Path:
    """``$RAILWATCH_DB`` if set, else ``railwatch.sqlite`` in the user's data directory."""
    override = os.environ.get(DB_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("railwatch", appauthor=False)) / "railwatch.sqlite"


# --- migrations ---------------------------------------------------------------------------------

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, tuple[str, Migration]] = {}


def migration(version: int, name: str) -> Callable[[Migration], Migration]:
    """Register a schema migration; versions are applied in order, each in its own transaction."""

    def register(function: Migration) -> Migration:
        if version in MIGRATIONS:
            raise RuntimeError(f"migration {version} registered twice")
        MIGRATIONS[version] = (name, function)
        return function

    return register


@migration(1, "initial schema: sites, scenes, observations, articles, claims")
def _initial_schema(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE sites (
            id TEXT PRIMARY KEY,
            geojson TEXT NOT NULL,
            origin TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE scenes (
            site TEXT NOT NULL,
            scene_id TEXT NOT NULL,
            datetime TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            platform TEXT,
            cloud_cover REAL,
            processing_baseline TEXT,
            simulated INTEGER NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (site, scene_id)
        );
        CREATE INDEX scenes_by_time ON scenes (site, datetime);
        CREATE TABLE observations (
            site TEXT NOT NULL,
            scene_id TEXT NOT NULL,
            detector_version TEXT NOT NULL,
            datetime TEXT NOT NULL,
            status TEXT NOT NULL,
            car_equivalents REAL,
            car_equivalents_low REAL,
            car_equivalents_high REAL,
            visible_fraction REAL,
            payload TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (site, scene_id, detector_version)
        );
        CREATE INDEX observations_by_time ON observations (site, datetime);
        CREATE TABLE articles (
            doc_id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            title TEXT,
            published TEXT,
            language TEXT,
            status TEXT NOT NULL,
            reason TEXT,
            text TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL
        );
        CREATE TABLE claims (
            claim_id TEXT PRIMARY KEY,
            doc_id TEXT NOT NULL REFERENCES articles (doc_id) ON DELETE CASCADE,
            item TEXT,
            value REAL,
            qualifier TEXT,
            asserted_by TEXT,
            event_date TEXT,
            published TEXT,
            cluster_id TEXT,
            payload TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX claims_by_item ON claims (item, event_date);
        CREATE INDEX claims_by_doc ON claims (doc_id);
        """,
    )


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run DDL statements one by one: ``executescript`` would commit the open transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneRow:
    """One acquisition over one site and what became of it."""

    site: str
    scene_id: str
    datetime: str
    status: str
    reason: str | None = None
    platform: str | None = None
    cloud_cover: float | None = None
    processing_baseline: str | None = None
    simulated: bool = False
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class ObservationRow:
    """What one detector version saw in one scene of one site; details live in ``payload``."""

    site: str
    scene_id: str
    detector_version: str
    datetime: str
    status: str
    car_equivalents: float | None
    car_equivalents_low: float | None
    car_equivalents_high: float | None
    visible_fraction: float | None
    payload: dict[str, Any]


# articles and claims --- rows (the Store methods are in the section of the same name) ---------


@dataclass(frozen=True)
class ArticleRow:
    """An ingested article; ``text`` is empty unless asked for."""

    doc_id: str
    source: str
    title: str | None
    published: str | None
    language: str | None
    status: str
    reason: str | None
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ClaimRow:
    """One claim of one article; the full claim (CONTRACTS.md fields) lives in ``payload``."""

    claim_id: str
    doc_id: str
    item: str | None
    value: float | None
    qualifier: str | None
    asserted_by: str | None
    event_date: str | None
    published: str | None
    cluster_id: str | None
    payload: dict[str, Any]


RowT = TypeVar("RowT")
# Columns stored as text or integers that the row dataclasses hold decoded.
_DECODE: dict[str, Callable[[Any], Any]] = {"metadata": json.loads, "payload": json.loads, "simulated": bool}


def _keep(value: Any) -> Any:
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the store ----------------------------------------------------------------------------------


class Store:
    """A railwatch database file.  Use :func:`open_store` to get one, migrated and ready."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self._db
            finally:
                self._depth -= 1
            return
        self._execute_guarded("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._execute_guarded("COMMIT")
        finally:
            self._depth = 0

    def _execute_guarded(self, sql: str) -> None:
        try:
            self._db.execute(sql)
        except sqlite3.OperationalError as err:
            raise _unavailable(self.path, err) from err

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM migrations").fetchone()
        return int(row[0] or 0)

    # sites -----------------------------------------------------------------------------------

    def put_site(self, site_id: str, geojson: dict[str, Any], *, origin: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sites (id, geojson, origin, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET geojson = excluded.geojson, "
                "origin = excluded.origin, updated_at = excluded.updated_at",
                (site_id, json.dumps(geojson, ensure_ascii=False), origin, _now()),
            )

    def has_site(self, site_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM sites WHERE id = ?", (site_id,)).fetchone() is not None

    def user_sites(self) -> list[tuple[str, dict[str, Any], str]]:
        """(id, GeoJSON document, origin) of every site added by the user, by id."""
        rows = self._db.execute("SELECT id, geojson, origin FROM sites ORDER BY id").fetchall()
        return [(row[0], json.loads(row[1]), row[2]) for row in rows]

    # scenes ----------------------------------------------------------------------------------

    def put_scene(self, row: SceneRow) -> None:
        if row.status not in SCENE_STATUSES:
            raise StoreError(f"scene status {row.status!r} is not one of {SCENE_STATUSES}")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO scenes (site, scene_id, datetime, status, reason, platform, "
                "cloud_cover, processing_baseline, simulated, metadata, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (site, scene_id) DO UPDATE SET datetime = excluded.datetime, "
                "status = excluded.status, reason = excluded.reason, platform = excluded.platform, "
                "cloud_cover = excluded.cloud_cover, "
                "processing_baseline = excluded.processing_baseline, "
                "simulated = excluded.simulated, metadata = excluded.metadata, "
                "updated_at = excluded.updated_at",
                (
                    row.site,
                    row.scene_id,
                    row.datetime,
                    row.status,
                    row.reason,
                    row.platform,
                    row.cloud_cover,
                    row.processing_baseline,
                    int(row.simulated),
                    json.dumps(row.metadata or {}, ensure_ascii=False),
                    _now(),
                ),
            )

    def scenes(self, site: str, *, status: str | None = None) -> list[SceneRow]:
        return self._select(SceneRow, "scenes", {"site": site, "status": status}, "datetime, scene_id")

    # observations ----------------------------------------------------------------------------

    def put_observation(self, row: ObservationRow) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO observations (site, scene_id, detector_version, datetime, status, "
                "car_equivalents, car_equivalents_low, car_equivalents_high, visible_fraction, "
                "payload, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (site, scene_id, detector_version) DO UPDATE SET "
                "datetime = excluded.datetime, status = excluded.status, "
                "car_equivalents = excluded.car_equivalents, "
                "car_equivalents_low = excluded.car_equivalents_low, "
                "car_equivalents_high = excluded.car_equivalents_high, "
                "visible_fraction = excluded.visible_fraction, payload = excluded.payload, "
                "updated_at = excluded.updated_at",
                (
                    row.site,
                    row.scene_id,
                    row.detector_version,
                    row.datetime,
                    row.status,
                    row.car_equivalents,
                    row.car_equivalents_low,
                    row.car_equivalents_high,
                    row.visible_fraction,
                    json.dumps(row.payload, ensure_ascii=False),
                    _now(),
                ),
            )

    def observations(self, site: str, *, detector_version: str | None = None) -> list[ObservationRow]:
        return self._select(
            ObservationRow,
            "observations",
            {"site": site, "detector_version": detector_version},
            "datetime, scene_id",
        )

    # articles and claims ---------------------------------------------------------------------
    # Owned by railwatch.claims (rows: ArticleRow, ClaimRow above).  An article row and all its
    # claims are written in one transaction; the article's content hash (doc_id) and
    # deterministic claim ids make an ingest idempotent.  Denials ride in the article's metadata
    # (``metadata["denials"]``), so no schema change is needed.

    def put_article(self, article: ArticleRow, claims: Sequence[ClaimRow]) -> bool:
        """Store an article and its claims atomically; False when this exact extraction is there.

        A stored article with the same ``doc_id`` and the same ``metadata["extractor"]`` is left
        as it is (the same article twice adds nothing); another extractor version replaces the
        article's claims.
        """
        with self.transaction() as db:
            row = db.execute("SELECT metadata FROM articles WHERE doc_id = ?", (article.doc_id,)).fetchone()
            if row is not None and json.loads(row[0]).get("extractor") == article.metadata.get("extractor"):
                return False
            db.execute(
                "INSERT INTO articles (doc_id, source, title, published, language, status, reason, text, "
                "metadata, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (doc_id) DO UPDATE SET source = excluded.source, title = excluded.title, "
                "published = excluded.published, language = excluded.language, status = excluded.status, "
                "reason = excluded.reason, text = excluded.text, metadata = excluded.metadata, "
                "updated_at = excluded.updated_at",
                (article.doc_id, article.source, article.title, article.published, article.language,
                 article.status, article.reason, article.text,
                 json.dumps(article.metadata, ensure_ascii=False), _now()),
            )
            db.execute("DELETE FROM claims WHERE doc_id = ?", (article.doc_id,))
            db.executemany(
                "INSERT INTO claims (claim_id, doc_id, item, value, qualifier, asserted_by, event_date, "
                "published, cluster_id, payload, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(c.claim_id, article.doc_id, c.item, c.value, c.qualifier, c.asserted_by, c.event_date,
                  c.published, c.cluster_id, json.dumps(c.payload, ensure_ascii=False), _now())
                 for c in claims],
            )
        return True

    def articles(self, *, status: str | None = None, with_text: bool = False) -> list[ArticleRow]:
        return self._select(
            ArticleRow,
            "articles",
            {"status": status},
            "published, doc_id",
            columns={} if with_text else {"text": "''"},
        )

    def article_extractor(self, doc_id: str) -> str | None:
        """The extractor version an article was stored with (None: not stored)."""
        row = self._db.execute("SELECT metadata FROM articles WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else json.loads(row[0]).get("extractor", "")

    def article_status_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM articles GROUP BY status ORDER BY status")
        return {status: count for status, count in rows.fetchall()}

    def claim_rows(self, *, item: str | None = None, doc_id: str | None = None) -> list[ClaimRow]:
        return self._select(
            ClaimRow,
            "claims",
            {"item": item, "doc_id": doc_id},
            "item, COALESCE(event_date, published), claim_id",
        )

    def _select(
        self,
        row_type: type[RowT],
        table: str,
        filters: dict[str, Any],
        order: str,
        *,
        columns: dict[str, str] | None = None,
    ) -> list[RowT]:
        """Rows of ``table`` as ``row_type``: one column per dataclass field (``columns`` swaps in
        another expression), equality ``filters`` that are not None, JSON and flag columns decoded."""
        names = [f.name for f in fields(row_type)]  # type: ignore[arg-type]
        selected = ", ".join((columns or {}).get(name, name) for name in names)
        wanted = {key: value for key, value in filters.items() if value is not None}
        sql = f"SELECT {selected} FROM {table}"
        if wanted:
            sql += " WHERE " + " AND ".join(f"{key} = ?" for key in wanted)
        rows = self._db.execute(f"{sql} ORDER BY {order}", list(wanted.values())).fetchall()
        decoders = [_DECODE.get(name, _keep) for name in names]
        return [
            row_type(**{n: decode(v) for n, decode, v in zip(names, decoders, row, strict=True)})
            for row in rows
        ]

    # raw access for the modules that own a table's meaning -----------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement inside a transaction and return its rows (for module-specific SQL)."""
        with self.transaction() as db:
            return db.execute(sql, params).fetchall()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query."""
        return self._db.execute(sql, params).fetchall()


def _unavailable(path: Path, err: sqlite3.Error) -> StoreUnavailableError:
    text = str(err).lower()
    if "locked" in text or "busy" in text:
        return StoreUnavailableError(
            f"{path}: the store is locked by another process",
            hint="wait for the other railwatch command to finish, or use --db for another file",
        )
    if "not a database" in text or "malformed" in text:
        return StoreUnavailableError(
            f"{path}: not a railwatch store (SQLite says: {err})",
            hint="point --db (or $RAILWATCH_DB) at a railwatch store or at a new file",
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnavailableError(
            f"{path}: the store is read-only",
            hint="make the file and its directory writable, or use --db for another file",
        )
    return StoreUnavailableError(
        f"{path}: cannot open the store ({err})",
        hint="check the path and its permissions, or use --db for another file",
    )


def _enable_wal(connection: sqlite3.Connection) -> str:
    """Switch to WAL, waiting out a concurrent opener: SQLite does not apply the busy timeout to
    the journal-mode change, so two processes creating one store at once would otherwise fail."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as err:
            if "locked" not in str(err).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_store(path: Path | None = None) -> Store:
    """Open (creating if needed) and migrate the store at ``path`` (default: see
    :func:`default_store_path`)."""
    path = Path(path) if path is not None else default_store_path()
    if path.exists() and path.is_dir():
        raise StoreUnavailableError(f"{path}: is a directory", hint="give --db a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreUnavailableError(
            f"{path.parent}: cannot create the store's directory ({err.strerror})",
            hint="use --db with a writable location",
        ) from err
    try:
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        mode = _enable_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as err:
        raise _unavailable(path, err) from err
    if str(mode).lower() != "wal":
        connection.close()
        raise StoreUnavailableError(
            f"{path}: SQLite refused WAL mode (got {mode!r})",
            hint="put the store on a local disk, not a network share",
        )
    store = Store(path, connection)
    try:
        _migrate(store)
    except sqlite3.DatabaseError as err:
        connection.close()
        raise _unavailable(path, err) from err
    except BaseException:
        connection.close()
        raise
    return store


def _migrate(store: Store) -> None:
    latest = max(MIGRATIONS)
    has_record = store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'")
    current = store.schema_version if has_record else 0
    if current > latest:
        raise StoreUnavailableError(
            f"{store.path}: the store is at schema version {current}, written by a newer "
            f"railwatch (this one knows up to {latest})",
            hint="upgrade railwatch, or use --db for another file",
        )
    if current == latest:
        return  # up to date: no write lock needed, so readers never wait on writers here
    with store.transaction() as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    for version in sorted(v for v in MIGRATIONS if v > current):
        name, apply = MIGRATIONS[version]
        with store.transaction() as db:
            # Another process may have migrated while we waited for the write lock.
            if db.execute("SELECT 1 FROM migrations WHERE version = ?", (version,)).fetchone():
                continue
            apply(db)
            db.execute(
                "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, _now()),
            )
