"""A store holding a realistic year of Tumangang passes, written through the Store API.

2023, a pass every five days.  January to August the yard holds at most 19 car-equivalents
(quiet, as "approximately 20 at most" in CSIS's five-year record); from late September the yard
fills to about 70.  July is monsoon-cloudy (no clear pass); January and February passes carry
snow; one read fails; moving trains towards RU appear with the surge.  The numbers come from a
seeded generator, not from the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from affine import Affine

from railwatch.imagery import Scene
from railwatch.sites import Site, builtin_sites
from railwatch.store import ObservationRow, SceneRow, Store

SITE_ID = "tumangang"
DETECTOR = "railwatch-detect 1.0.0"
SURGE_FROM = date(2023, 9, 20)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def tumangang() -> Site:
    return builtin_sites()[SITE_ID]


def pass_days() -> list[date]:
    start = date(2023, 1, 2)
    return [start + timedelta(days=5 * i) for i in range(73)]


def fill_store(store: Store, site_id: str = SITE_ID, *, seed: int = 7,
               days: list[date] | None = None) -> dict[str, float]:
    """Write scenes and observations; return the clear passes' true counts by scene id."""
    rng = np.random.default_rng(seed)
    counts: dict[str, float] = {}
    for day in days or pass_days():
        scene_id = f"S2B_52TFM_{day:%Y%m%d}_0_L2A"
        when = datetime(day.year, day.month, day.day, 2, 17, tzinfo=UTC).isoformat().replace(
            "+00:00", "Z")
        status, reason = "ok", None
        if day.month == 7:
            status, reason = "cloudy", "clouds cover 94% of the tracks"
        elif day == date(2023, 5, 12):
            status, reason = "read_failed", "HTTP 500 after 4 retries"
        store.put_scene(SceneRow(
            site=site_id, scene_id=scene_id, datetime=when, status=status, reason=reason,
            platform="sentinel-2b", cloud_cover=10.0, processing_baseline="05.09",
            simulated=False, metadata={},
        ))
        if status != "ok":
            if status == "cloudy":
                store.put_observation(ObservationRow(
                    site=site_id, scene_id=scene_id, detector_version=DETECTOR, datetime=when,
                    status="cloudy", car_equivalents=None, car_equivalents_low=None,
                    car_equivalents_high=None, visible_fraction=0.06,
                    payload={"status": "cloudy", "reason": reason, "tracks": [],
                             "moving_trains": []}))
            continue
        surge = day >= SURGE_FROM
        value = float(rng.uniform(62, 76) if surge else rng.integers(4, 20))
        half = max(3.0, 0.1 * value)
        trains = []
        if surge and rng.random() < 0.6:
            trains.append({"speed_mps": 11.5, "speed_sd_mps": 1.6, "heading_deg": 70.0,
                           "direction": "towards RU", "length_m": 210.0, "confidence": 0.9})
        if surge and rng.random() < 0.3:
            trains.append({"speed_mps": 9.0, "speed_sd_mps": 2.0, "heading_deg": 250.0,
                           "direction": "towards KP", "length_m": 120.0, "confidence": 0.8})
        flags = ["snow"] if day.month in (1, 2) else []
        store.put_observation(ObservationRow(
            site=site_id, scene_id=scene_id, detector_version=DETECTOR, datetime=when,
            status="ok", car_equivalents=round(value, 1),
            car_equivalents_low=round(value - half, 1), car_equivalents_high=round(value + half, 1),
            visible_fraction=0.97, payload={
                "status": "ok", "quality": "good", "flags": flags,
                "tracks": [{"track": "yard-1", "car_equivalents": round(value * 0.6, 2)},
                           {"track": "yard-2", "car_equivalents": round(value * 0.4, 2)}],
                "moving_trains": trains}))
        counts[scene_id] = round(value, 1)
    return counts


HOSTILE = '<script>window.__pwned=true</script><img src=x onerror="window.__pwned=true">'


def ingest_hostile_article(store: Store, folder: Path) -> None:
    """Store, through the claims pipeline, an article whose text carries markup that must
    never run: the claim's quote holds it verbatim."""
    from railwatch.claims import expand_inputs, extract_sources, load_lexicon, store_extraction

    article = folder / "hostile-article.txt"
    article.write_text(
        f"Rail traffic at the border {HOSTILE}\n\nPublished 6 October 2023.\n\n"
        f"On 5 October 2023, CSIS Beyond Parallel said about 73 freight cars stood in the "
        f"Tumangang yard {HOSTILE}.\n", encoding="utf-8")
    for extraction in extract_sources(expand_inputs([str(article)]), lex=load_lexicon()):
        assert extraction.claims, "the hostile article gave no claim to show"
        store_extraction(store, extraction)


def synthetic_scene(site: Site, scene_id: str, when: datetime, *, cars_m: float,
                    seed: int = 0) -> Scene:
    """A 10 m reflectance scene over the site with bright rolling stock along its tracks."""
    west, south, east, north = site.aoi_utm.bounds
    transform = Affine(10.0, 0.0, np.floor(west / 10) * 10, 0.0, -10.0, np.ceil(north / 10) * 10)
    rows = int(np.ceil((north - south) / 10)) + 1
    cols = int(np.ceil((east - west) / 10)) + 1
    rng = np.random.default_rng(seed)
    base = {"blue": 0.05, "green": 0.08, "red": 0.07, "nir": 0.25}
    bands = {k: (v + rng.normal(0, 0.008, (rows, cols))).astype(np.float32) for k, v in base.items()}
    remaining = cars_m
    inverse = ~transform
    for line in site.tracks_utm.values():
        along = 0.0
        while along < line.length and remaining > 0:
            point = line.interpolate(along)
            col, row = inverse @ (point.x, point.y)
            r, c = int(row), int(col)
            if 0 <= r < rows and 0 <= c < cols:
                for key, value in {"blue": 0.22, "green": 0.24, "red": 0.26, "nir": 0.30}.items():
                    bands[key][r, c] = value
            along += 10.0
            remaining -= 10.0
    return Scene(scene_id=scene_id, datetime=when, epsg=site.epsg, transform=transform,
                 bands=bands, scl=None, simulated=True)


class SyntheticScenes(Mapping[str, Scene]):
    """Scenes for the clear passes of a series, rendered only when a chip asks for one."""

    def __init__(self, site: Site, passes: list) -> None:
        self._site = site
        self._passes = {p.scene_id: p for p in passes if p.clear}

    def __getitem__(self, scene_id: str) -> Scene:
        p = self._passes[scene_id]
        return synthetic_scene(self._site, scene_id, p.when, cars_m=p.car_equivalents * 14.5)

    def __iter__(self) -> Iterator[str]:
        return iter(self._passes)

    def __len__(self) -> int:
        return len(self._passes)
