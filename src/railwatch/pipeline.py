"""The scan: search -> read -> detect -> store, for any span of dates, resumable.

``scan`` takes the acquisitions found for a site (:func:`railwatch.stac.find_acquisitions`), skips
those already finished in the store, and works through the rest on a bounded thread pool.  Each
scene ends with a stored status — ``ok``, ``cloudy``, ``no_data`` or ``read_failed`` with the
reason — so a failed read never looks like an empty yard.  The scene row and its observation are
written in one transaction, by the calling thread only, so a run killed at any moment leaves
whole scenes or nothing; running it again finishes the job without duplicates (every write is an
upsert on the scene's natural key) and retries the scenes whose reads failed.

Per scene the SCL window is read first: a scene whose tracks are hidden by cloud, or that holds
no data over them, is settled without reading the four 10 m bands.

The detector compares a scene with the empty ground of the site (its ``history``), which is built
from the clear scenes of the same tile and season of any year (HISTORY_SEASON_DAYS): those scenes
are read through the same window cache, so each is still read from the network once, whichever needs it first.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from railwatch.errors import InputFileError
from railwatch.http import HttpClient, RetryPolicy
from railwatch.imagery import (
    Scene,
    SceneReadError,
    WindowCache,
    assess_scl,
    processing_baseline,
    read_item,
    read_scl,
)
from railwatch.sites import Site, parse_site, site_to_geojson
from railwatch.stac import Acquisition
from railwatch.store import ObservationRow, SceneRow, Store

__all__ = [
    "FINAL_STATUSES",
    "Detector",
    "Histories",
    "SceneOutcome",
    "ScanSummary",
    "add_scene",
    "pending",
    "WorkerSetup",
    "process",
    "process_on_worker",
    "scan",
]

# A scene with one of these statuses is finished; ``read_failed`` is retried by the next run.
FINAL_STATUSES = frozenset({"ok", "cloudy", "no_data"})
DEFAULT_WORKERS = 8
# The history of a scene: up to HISTORY_SCENES mostly clear scenes of the same tile from the
# whole record the scan was given, of any year, whose day of the year lies within
# HISTORY_SEASON_DAYS of the scene's (fields green up and brown off with the season; the ground
# under the tracks does not), the closest in season first; at least MIN_HISTORY of them.  The
# whole record and not only the months around the scene: a yard that fills up (Tumangang from
# September 2023) is full on every neighbour of a busy date, while its empty season shows the
# ground; analysts compare "with the empty yard" the same way.  One history serves every scene
# of a HISTORY_BUCKET_DAYS season slot, whatever its year.  ``bench/detect_bench.py`` picks its
# histories with ``Histories.ranked``, the same policy.
HISTORY_SEASON_DAYS = 60
HISTORY_SCENES = 20
MIN_HISTORY = 3
HISTORY_BUCKET_DAYS = 20
HISTORY_MAX_ITEM_CLOUD = 30.0


class ObservationLike(Protocol):
    """What the pipeline needs of a detector's result (``railwatch.detect.Observation``)."""

    @property
    def status(self) -> str: ...
    @property
    def car_equivalents(self) -> float | None: ...
    @property
    def car_equivalents_interval(self) -> tuple[float, float] | None: ...
    @property
    def visible_fraction(self) -> float | None: ...
    @property
    def detector_version(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


class Detector(Protocol):
    """``railwatch.detect.detect_scene`` or anything called like it."""

    def __call__(self, scene: Scene, site: Site, *, history: Any = None) -> ObservationLike: ...


def default_detector() -> Detector:
    from railwatch.detect import detect_scene

    return detect_scene


class Histories:
    """The empty-ground history of each scene, built lazily from its clear neighbours."""

    def __init__(
        self, acquisitions: Sequence[Acquisition], site: Site, *, client: HttpClient,
        cache: WindowCache,
    ) -> None:
        self.acquisitions = list(acquisitions)
        self.site = site
        self.client = client
        self.cache = cache
        self._built: dict[tuple[Any, int], Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def ranked(day: date, record: Sequence[date]) -> list[int]:
        """Indices of ``record`` usable as history for a scene of ``day``, best first: within
        HISTORY_SEASON_DAYS of its day of the year in any year, the closest in season first (in
        10-day steps) and, at about the same season, other years first: a busy spell of one
        year is then outvoted by the same season of another."""
        def season_gap(other: date) -> int:
            gap = abs(other.timetuple().tm_yday - day.timetuple().tm_yday)
            return min(gap, 365 - gap)

        usable = [i for i, other in enumerate(record)
                  if other != day and season_gap(other) <= HISTORY_SEASON_DAYS]
        return sorted(usable, key=lambda i: (season_gap(record[i]) // 10,
                                             -abs(record[i].year - day.year),
                                             season_gap(record[i])))

    def for_scene(self, acquisition: Acquisition) -> Any:
        from railwatch.detect import build_background

        tile = acquisition.item.properties.get("grid:code")
        day = acquisition.solar_day
        key = (tile, day.timetuple().tm_yday // HISTORY_BUCKET_DAYS)
        with self._lock:
            if key in self._built:
                return self._built[key]
        record = [
            other for other in self.acquisitions
            if other.item.properties.get("grid:code") == tile
            and other.scene_id != acquisition.scene_id
            and (other.item.properties.get("eo:cloud_cover") or 0.0) <= HISTORY_MAX_ITEM_CLOUD
        ]
        near = [record[i] for i in self.ranked(day, [other.solar_day for other in record])]
        scenes: list[Scene] = []
        for other in near:
            if len(scenes) >= HISTORY_SCENES:
                break
            try:
                # Judge the neighbour on its SCL first, as its own scan does: a cloudy
                # neighbour costs one small read and never its four bands.
                scl = read_scl(other.item, self.site, cache=self.cache, client=self.client)
                if scl is None or assess_scl(scl.data, scl.transform, scl.epsg, self.site).status != "ok":
                    continue
                scenes.append(read_item(other.item, self.site, cache=self.cache, client=self.client))
            except SceneReadError:
                continue  # the neighbour's own scan records why
        background = None
        if len(scenes) >= MIN_HISTORY:
            try:
                background = build_background(scenes, site=self.site)
            except InputFileError:
                background = None  # neighbours on different grids: detect without history
        with self._lock:
            self._built[key] = background
        return background


@dataclass(frozen=True)
class SceneOutcome:
    """What became of one scene: its row, and its observation when the detector ran."""

    scene: SceneRow
    observation: ObservationRow | None = None


@dataclass
class ScanSummary:
    """Counts of one run, for the progress bar and the final message."""

    planned: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def add(self, outcome: SceneOutcome) -> None:
        status = outcome.scene.status
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def done(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.statuses.get("read_failed", 0)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _scene_row(
    site: Site, acquisition: Acquisition, status: str, *, reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> SceneRow:
    item = acquisition.item
    when = item.datetime or item.common_metadata.start_datetime
    return SceneRow(
        site=site.id,
        scene_id=item.id,
        datetime=_iso(when) if when else "",
        status=status,
        reason=reason,
        platform=item.properties.get("platform"),
        cloud_cover=item.properties.get("eo:cloud_cover"),
        processing_baseline=processing_baseline(item),
        simulated=bool(item.properties.get("railwatch:simulated", False)),
        metadata={
            "solar_day": acquisition.solar_day.isoformat(),
            "coverage": round(acquisition.coverage, 4),
            "duplicates": list(acquisition.duplicates),
            "grid": item.properties.get("grid:code"),
            # Where the report finds the pixels again for its image chips.
            "item_href": item.get_self_href(),
            **(extra or {}),
        },
    )


def _observation_row(site: Site, scene: Scene, observation: ObservationLike) -> ObservationRow:
    low, high = observation.car_equivalents_interval or (None, None)
    return ObservationRow(
        site=site.id,
        scene_id=scene.scene_id,
        detector_version=observation.detector_version,
        datetime=_iso(scene.datetime),
        status=observation.status,
        car_equivalents=observation.car_equivalents,
        car_equivalents_low=low,
        car_equivalents_high=high,
        visible_fraction=observation.visible_fraction,
        payload=observation.to_json(),
    )


def process(
    acquisition: Acquisition,
    site: Site,
    *,
    client: HttpClient,
    cache: WindowCache,
    detector: Detector,
    histories: Histories | None = None,
) -> SceneOutcome:
    """Read, assess and detect one scene; a read failure becomes a ``read_failed`` outcome."""
    item = acquisition.item
    try:
        scl = read_scl(item, site, cache=cache, client=client)
        assessed = None
        if scl is not None:
            assessed = assess_scl(scl.data, scl.transform, scl.epsg, site)
            if assessed.status != "ok":
                row = _scene_row(site, acquisition, assessed.status, extra=_fractions(assessed))
                return SceneOutcome(row)
        scene = read_item(item, site, cache=cache, client=client)
    except SceneReadError as err:
        return SceneOutcome(_scene_row(site, acquisition, "read_failed", reason=err.message))
    history = histories.for_scene(acquisition) if histories is not None else None
    observation = detector(scene, site, history=history)
    status = observation.status if observation.status in ("cloudy", "no_data") else "ok"
    extra = {**(_fractions(assessed) if assessed else {}),
             "boa_offset_dn": scene.provenance.get("boa_offset_dn"),
             "history_scenes": len(history.scene_ids) if history is not None else 0}
    return SceneOutcome(
        _scene_row(site, acquisition, status, extra=extra),
        _observation_row(site, scene, observation),
    )


def _fractions(assessed: Any) -> dict[str, float]:
    return {
        "data_fraction_tracks": round(assessed.data_fraction, 4),
        "cloud_fraction_tracks": round(assessed.cloud_fraction, 4),
        "snow_fraction_tracks": round(assessed.snow_fraction, 4),
    }


def save(store: Store, outcome: SceneOutcome) -> None:
    """Store one scene and its observation together, or neither."""
    with store.transaction():
        store.put_scene(outcome.scene)
        if outcome.observation is not None:
            store.put_observation(outcome.observation)


def pending(
    store: Store, site: Site, acquisitions: Sequence[Acquisition], *, force: bool = False
) -> list[Acquisition]:
    """The acquisitions still to do: not stored with a final status (all of them with ``force``)."""
    if force:
        return list(acquisitions)
    observed = {row.scene_id for row in store.observations(site.id)}
    finished = {
        row.scene_id
        for row in store.scenes(site.id)
        if row.status in FINAL_STATUSES and (row.status != "ok" or row.scene_id in observed)
    }
    return [a for a in acquisitions if a.scene_id not in finished]


def scan(
    site: Site,
    acquisitions: Sequence[Acquisition],
    *,
    store: Store,
    client: HttpClient | None = None,
    cache: WindowCache | None = None,
    detector: Detector | None = None,
    workers: int = DEFAULT_WORKERS,
    force: bool = False,
    on_scene: Callable[[SceneOutcome, ScanSummary], None] | None = None,
    history: bool = True,
    dask_client: Any = None,
) -> ScanSummary:
    """Process every acquisition not yet finished, ``workers`` scenes at a time.

    ``on_scene`` is called in the calling thread after each scene is stored (for progress).
    Interrupting (Ctrl-C) cancels the scenes not yet started; the stored ones stay.
    ``history=False`` detects every scene on its own (no empty-ground reference).
    ``dask_client`` (a ``distributed.Client``) runs the scenes on a Dask cluster instead of local
    threads; the results still come back here and are stored by this process only.
    """
    started = time.perf_counter()
    client = client or HttpClient(pool_size=max(16, workers * 5))
    cache = cache or WindowCache()
    detector = detector or default_detector()
    todo = pending(store, site, acquisitions, force=force)
    summary = ScanSummary(planned=len(acquisitions), skipped=len(acquisitions) - len(todo))
    requests_before, bytes_before = client.traffic.requests, client.traffic.bytes
    hits_before = cache.hits
    if dask_client is not None:
        setup = WorkerSetup(
            token=uuid.uuid4().hex, site_document=site_to_geojson(site), acquisitions=tuple(acquisitions),
            policy=client.policy, cache_dir=cache.directory, history=history, detector=detector,
        )
        outcomes = _run_on_dask(dask_client, todo, setup)
    else:
        histories = Histories(acquisitions, site, client=client, cache=cache) if history else None
        outcomes = _run_on_threads(todo, workers, site, client, cache, detector, histories)
    for outcome in outcomes:
        save(store, outcome)
        summary.add(outcome)
        if on_scene is not None:
            on_scene(outcome, summary)
    summary.seconds = time.perf_counter() - started
    summary.requests = client.traffic.requests - requests_before
    summary.bytes = client.traffic.bytes - bytes_before
    summary.cache_hits = cache.hits - hits_before
    return summary


def _run_on_threads(
    todo: Sequence[Acquisition],
    workers: int,
    site: Site,
    client: HttpClient,
    cache: WindowCache,
    detector: Detector,
    histories: Histories | None,
) -> Iterator[SceneOutcome]:
    """Outcomes in completion order from a bounded local thread pool."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="railwatch-scan")
    try:
        queue = iter(todo)
        running: set[Future[SceneOutcome]] = set()
        _top_up(pool, running, queue, workers, site, client, cache, detector, histories)
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
            _top_up(pool, running, queue, workers, site, client, cache, detector, histories)
    finally:
        # Only a bounded number of scenes is ever submitted, so stopping here leaves at most
        # ``workers`` reads to finish; none of them writes.
        pool.shutdown(wait=False, cancel_futures=True)


def _top_up(
    pool: ThreadPoolExecutor,
    running: set[Future[SceneOutcome]],
    queue: Iterable[Acquisition],
    workers: int,
    site: Site,
    client: HttpClient,
    cache: WindowCache,
    detector: Detector,
    histories: Histories | None,
) -> None:
    """Keep at most ``workers`` scenes in flight, so an interrupt abandons little work."""
    iterator = iter(queue)
    while len(running) < max(1, workers):
        acquisition = next(iterator, None)
        if acquisition is None:
            return
        running.add(pool.submit(
            process, acquisition, site, client=client, cache=cache, detector=detector,
            histories=histories,
        ))


@dataclass(frozen=True)
class WorkerSetup:
    """What a Dask worker needs to rebuild the scan's parts on its side (all of it picklable)."""

    token: str
    site_document: dict[str, Any]
    acquisitions: tuple[Acquisition, ...]
    policy: RetryPolicy
    cache_dir: Path | None
    history: bool
    detector: Detector


# Per worker process: the parts built from one WorkerSetup, so its tasks share a client, the
# window cache and the histories as local threads do.
_WORKER_PARTS: dict[str, tuple[Site, HttpClient, WindowCache, Histories | None]] = {}
_WORKER_LOCK = threading.Lock()


def process_on_worker(acquisition: Acquisition, setup: WorkerSetup) -> SceneOutcome:
    """:func:`process` on a Dask worker."""
    with _WORKER_LOCK:
        parts = _WORKER_PARTS.get(setup.token)
        if parts is None:
            site = parse_site(setup.site_document, origin="scan")
            client = HttpClient(setup.policy)
            cache = WindowCache(setup.cache_dir)
            histories = (
                Histories(setup.acquisitions, site, client=client, cache=cache) if setup.history else None
            )
            parts = _WORKER_PARTS[setup.token] = (site, client, cache, histories)
    site, client, cache, histories = parts
    return process(
        acquisition, site, client=client, cache=cache, detector=setup.detector, histories=histories
    )


def _run_on_dask(
    dask_client: Any, todo: Sequence[Acquisition], setup: WorkerSetup
) -> Iterator[SceneOutcome]:
    """Outcomes in completion order from a Dask cluster; unfinished tasks are cancelled on exit."""
    from distributed import as_completed

    shared = dask_client.scatter(setup, broadcast=True)
    futures = [dask_client.submit(process_on_worker, a, shared, pure=False) for a in todo]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        dask_client.cancel(futures)


def add_scene(
    scene: Scene, site: Site, *, store: Store, detector: Detector | None = None
) -> SceneOutcome:
    """Detect and store one scene read outside a search (a user's GeoTIFF)."""
    detector = detector or default_detector()
    observation = detector(scene, site, history=None)
    status = observation.status if observation.status in ("cloudy", "no_data") else "ok"
    outcome = SceneOutcome(
        SceneRow(
            site=site.id,
            scene_id=scene.scene_id,
            datetime=_iso(scene.datetime),
            status=status,
            platform=scene.platform,
            metadata={"source": "geotiff", **dict(scene.provenance)},
        ),
        _observation_row(site, scene, observation),
    )
    save(store, outcome)
    return outcome
