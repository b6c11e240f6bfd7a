"""Time series of a site: what every pass saw, a baseline, and what stands out against it.

Stored scenes and observations become one :class:`Pass` per acquisition (clear, cloudy, no data,
failed: a failed read is never a zero).  Clear passes give the car-equivalents series; a baseline
period gives its reference (median, spread, maximum); later passes are flagged in the terms
analysts use — above the baseline maximum, robust z-score — and change points in the level are
found with ruptures (PELT).  Months without a clear pass and snow-covered passes are kept, so a
seasonal gap shows as a gap and not as a quiet yard.
"""

from __future__ import annotations

import calendar
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from railwatch.errors import UserInputError
from railwatch.store import ObservationRow, SceneRow, Store

__all__ = [
    "ANOMALY_Z",
    "MIN_BASELINE_PASSES",
    "Anomaly",
    "Baseline",
    "ChangePoint",
    "MonthSummary",
    "MovingTrain",
    "Pass",
    "Period",
    "SiteSeries",
    "analyse",
    "build_series",
    "default_baseline",
    "parse_date",
    "parse_period",
    "passes_from_rows",
]

# Iglewicz & Hoaglin (1993), "How to Detect and Handle Outliers": a modified z-score above 3.5
# marks a potential outlier; 1.4826 scales the median absolute deviation to a normal sigma.
ANOMALY_Z = 3.5
MAD_TO_SIGMA = 1.4826
# Counts are of whole cars: a spread below one car-equivalent says nothing about the yard, only
# that the baseline was quiet, so the robust sigma never goes below it.
MIN_SIGMA_CARS = 1.0
MIN_BASELINE_PASSES = 3
PASS_STATUSES = ("clear", "cloudy", "no_data", "failed", "pending")


@dataclass(frozen=True)
class Period:
    """A closed range of days, both ends included."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def label(self) -> str:
        start = "" if self.start == date.min else self.start.isoformat()
        end = "" if self.end == date.max else self.end.isoformat()
        return f"{start}..{end}"


@dataclass(frozen=True)
class MovingTrain:
    """One moving train seen on one pass (CONTRACTS.md ``moving_trains``)."""

    direction: str
    speed_mps: float | None
    heading_deg: float | None
    length_m: float | None
    confidence: float | None
    x: float | None = None  # UTM metres on the site's grid, where the detector placed it
    y: float | None = None


@dataclass(frozen=True)
class Pass:
    """One acquisition over a site and what was seen on it."""

    site: str
    scene_id: str
    when: datetime
    status: str
    reason: str | None
    car_equivalents: float | None
    low: float | None
    high: float | None
    visible_fraction: float | None
    moving_trains: tuple[MovingTrain, ...]
    snow: bool
    detector_version: str | None
    platform: str | None
    processing_baseline: str | None
    simulated: bool
    tracks: Mapping[str, float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.when.date()

    @property
    def clear(self) -> bool:
        return self.status == "clear" and self.car_equivalents is not None


@dataclass(frozen=True)
class Baseline:
    """The reference level: clear passes inside ``period``."""

    period: Period
    chosen_by: str  # "user" or the default rule's name
    passes: int
    median: float
    sigma: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class Anomaly:
    """A clear pass after the baseline that stands out against it."""

    scene_id: str
    when: datetime
    car_equivalents: float
    low: float | None
    high: float | None
    robust_z: float
    above_max: bool
    interval_above_max: bool


@dataclass(frozen=True)
class ChangePoint:
    """A shift in the level of the clear-pass series, dated at the first pass of the new level."""

    when: datetime
    mean_before: float
    mean_after: float

    @property
    def upward(self) -> bool:
        return self.mean_after > self.mean_before


@dataclass(frozen=True)
class MonthSummary:
    """Data availability, crossings and counts for one calendar month."""

    month: date  # the first day of the month
    statuses: Mapping[str, int]
    crossings: Mapping[str, int]
    snow_passes: int
    max_car_equivalents: float | None

    @property
    def clear_passes(self) -> int:
        return self.statuses.get("clear", 0)


@dataclass(frozen=True)
class SiteSeries:
    """Everything the report and the exports need about one site over one period."""

    site: str
    period: Period
    passes: tuple[Pass, ...]
    baseline: Baseline | None
    baseline_period: Period
    baseline_rule: str  # "user", "full_years" or "first_half"
    anomalies: tuple[Anomaly, ...]
    change_points: tuple[ChangePoint, ...]
    months: tuple[MonthSummary, ...]
    detector_versions: tuple[str, ...]

    @property
    def clear_passes(self) -> tuple[Pass, ...]:
        return tuple(p for p in self.passes if p.clear)

    @property
    def simulated(self) -> bool:
        return any(p.simulated for p in self.passes)

    @property
    def baseline_clear_passes(self) -> int:
        return sum(1 for p in self.passes if p.clear and p.day in self.baseline_period)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(sorted({t.direction for p in self.passes for t in p.moving_trains}))

    def status_counts(self) -> dict[str, int]:
        counts = Counter(p.status for p in self.passes)
        return {status: counts.get(status, 0) for status in PASS_STATUSES}

    def crossings_since(self, day: date) -> dict[str, int]:
        counts: Counter[str] = Counter(
            t.direction for p in self.passes if p.day >= day for t in p.moving_trains
        )
        return dict(sorted(counts.items()))


# --- boundary: dates and periods ----------------------------------------------------------------

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_YEAR = re.compile(r"^\d{4}$")


def parse_date(text: str, *, field_name: str, end: bool = False) -> date:
    """Read YYYY-MM-DD, YYYY-MM or YYYY; a month or year means its first day, or its last if
    ``end``."""
    text = text.strip()
    try:
        if _DAY.match(text):
            return date.fromisoformat(text)
        if _MONTH.match(text):
            year, month = int(text[:4]), int(text[5:])
            day = calendar.monthrange(year, month)[1] if end else 1
            return date(year, month, day)
        if _YEAR.match(text):
            return date(int(text), 12, 31) if end else date(int(text), 1, 1)
    except ValueError as err:
        raise UserInputError(f"{field_name} {text!r} is not a calendar date",
                             hint="use YYYY-MM-DD, YYYY-MM or YYYY") from err
    raise UserInputError(f"{field_name} {text!r} is not a date",
                         hint="use YYYY-MM-DD, YYYY-MM or YYYY")


def parse_period(text: str, *, field_name: str = "--baseline") -> Period:
    """Read ``START:END`` (each YYYY-MM-DD, YYYY-MM or YYYY; END is included)."""
    start_text, colon, end_text = text.partition(":")
    if not colon or not start_text.strip() or not end_text.strip():
        raise UserInputError(f"{field_name} {text!r} is not START:END",
                             hint="for example --baseline 2023-01:2023-08")
    return checked_period(parse_date(start_text, field_name=field_name),
                          parse_date(end_text, field_name=field_name, end=True),
                          field_name=field_name)


def checked_period(start: date, end: date, *, field_name: str) -> Period:
    if end < start:
        raise UserInputError(
            f"{field_name}: the range {start.isoformat()}..{end.isoformat()} ends before it starts",
            hint="give the earlier date first",
        )
    return Period(start, end)


# --- rows to passes -----------------------------------------------------------------------------


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _moving_trains(payload: Mapping[str, Any]) -> tuple[MovingTrain, ...]:
    trains = []
    for raw in payload.get("moving_trains") or ():
        if not isinstance(raw, Mapping):
            continue
        trains.append(MovingTrain(
            direction=str(raw.get("direction") or "unknown"),
            speed_mps=_number(raw.get("speed_mps")),
            heading_deg=_number(raw.get("heading_deg")),
            length_m=_number(raw.get("length_m")),
            confidence=_number(raw.get("confidence")),
            x=_number(raw.get("x")),
            y=_number(raw.get("y")),
        ))
    return tuple(trains)


def _mentions_snow(flags: str | list[Any] | tuple[Any, ...]) -> bool:
    if isinstance(flags, str):
        return "snow" in flags
    return any("snow" in str(flag) for flag in flags)


def _snow(payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """Whether the detector or the scan flagged snow on the tracks."""
    for source in (payload, payload.get("quality"), payload.get("flags"), metadata):
        if isinstance(source, Mapping):
            if source.get("snow") is True:
                return True
            fraction = _number(source.get("snow_fraction", source.get("snow_fraction_tracks")))
            if fraction is not None and fraction >= 0.5:
                return True
        elif isinstance(source, str | list | tuple) and _mentions_snow(source):
            return True
    return False


def _pass_status(scene: SceneRow | None, observation: ObservationRow | None) -> tuple[str, str | None]:
    if scene is not None and scene.status != "ok":
        mapping = {"cloudy": "cloudy", "no_data": "no_data", "read_failed": "failed"}
        return mapping.get(scene.status, "pending"), scene.reason
    if observation is None:
        return "pending", "no observation stored for this scene yet"
    reason = observation.payload.get("reason")
    reason = str(reason) if reason else None
    if observation.status == "ok":
        if observation.car_equivalents is None:
            return "failed", reason or "the detector gave no count"
        return "clear", reason
    if observation.status in ("cloudy", "no_data"):
        return observation.status, reason
    return "failed", reason or observation.status


def _chosen_version(observations: Sequence[ObservationRow]) -> str | None:
    """The detector version covering the most scenes; ties go to the highest version string."""
    counts = Counter(o.detector_version for o in observations)
    if not counts:
        return None
    return max(counts, key=lambda version: (counts[version], version))


def passes_from_rows(scenes: Sequence[SceneRow], observations: Sequence[ObservationRow],
                     *, detector_version: str | None = None) -> tuple[list[Pass], str | None]:
    """Join scene and observation rows of one site into passes, one detector version only."""
    version = detector_version or _chosen_version(observations)
    by_scene = {o.scene_id: o for o in observations if o.detector_version == version}
    scene_ids = {s.scene_id: s for s in scenes}
    passes = []
    for scene_id in sorted(set(scene_ids) | set(by_scene)):
        scene, observation = scene_ids.get(scene_id), by_scene.get(scene_id)
        status, reason = _pass_status(scene, observation)
        payload = observation.payload if observation else {}
        metadata = (scene.metadata or {}) if scene else {}
        counted = observation if status == "clear" else None
        tracks = {
            str(t.get("track")): float(t["car_equivalents"])
            for t in payload.get("tracks") or ()
            if isinstance(t, Mapping) and _number(t.get("car_equivalents")) is not None
        }
        passes.append(Pass(
            site=(scene or observation).site,  # type: ignore[union-attr]
            scene_id=scene_id,
            when=_when((scene or observation).datetime),  # type: ignore[union-attr]
            status=status,
            reason=reason,
            car_equivalents=counted.car_equivalents if counted else None,
            low=counted.car_equivalents_low if counted else None,
            high=counted.car_equivalents_high if counted else None,
            visible_fraction=observation.visible_fraction if observation else None,
            moving_trains=_moving_trains(payload),
            snow=_snow(payload, metadata),
            detector_version=observation.detector_version if observation else None,
            platform=scene.platform if scene else None,
            processing_baseline=scene.processing_baseline if scene else None,
            simulated=bool(scene.simulated) if scene else bool(payload.get("simulated")),
            tracks=tracks,
            metadata=metadata,
        ))
    passes.sort(key=lambda p: (p.when, p.scene_id))
    return passes, version


# --- analysis -----------------------------------------------------------------------------------


def default_baseline(passes: Sequence[Pass]) -> tuple[Period, str]:
    """The first full calendar years of data, leaving the last year to compare; if less than
    that, the first half of the observed span (in whole months)."""
    first, last = passes[0].day, passes[-1].day
    full_years = [
        year for year in range(first.year, last.year)
        if first <= date(year, 1, 31) and last >= date(year, 12, 1)
    ]
    if full_years:
        return Period(date(full_years[0], 1, 1), date(full_years[-1], 12, 31)), "full_years"
    middle = first + (last - first) / 2
    month_end = date(middle.year, middle.month, calendar.monthrange(middle.year, middle.month)[1])
    if month_end >= last:
        month_end = middle
    return Period(first, month_end), "first_half"


def _baseline(passes: Sequence[Pass], period: Period, chosen_by: str) -> Baseline | None:
    values = np.array([p.car_equivalents for p in passes if p.clear and p.day in period])
    if values.size < MIN_BASELINE_PASSES:
        return None
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return Baseline(
        period=period,
        chosen_by=chosen_by,
        passes=int(values.size),
        median=median,
        sigma=max(MAD_TO_SIGMA * mad, MIN_SIGMA_CARS),
        minimum=float(values.min()),
        maximum=float(values.max()),
    )


def _anomalies(passes: Sequence[Pass], baseline: Baseline) -> list[Anomaly]:
    found = []
    for p in passes:
        if not p.clear or p.day <= baseline.period.end:
            continue
        value = float(p.car_equivalents)  # type: ignore[arg-type]
        z = (value - baseline.median) / baseline.sigma
        above = value > baseline.maximum
        if above or z >= ANOMALY_Z:
            found.append(Anomaly(
                scene_id=p.scene_id, when=p.when, car_equivalents=value, low=p.low, high=p.high,
                robust_z=z, above_max=above,
                interval_above_max=p.low is not None and p.low > baseline.maximum,
            ))
    return found


def _change_points(passes: Sequence[Pass]) -> list[ChangePoint]:
    """Shifts in the mean level (ruptures PELT, least-squares cost, BIC-like penalty)."""
    clear = [p for p in passes if p.clear]
    values = np.array([p.car_equivalents for p in clear], dtype=float)
    min_size = 2
    if values.size < 2 * min_size + 1:
        return []
    import ruptures

    # Noise from successive differences, robust to the level shifts being looked for.
    sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(np.diff(values)))) / math.sqrt(2),
                MIN_SIGMA_CARS)
    penalty = 3.0 * sigma**2 * math.log(values.size)
    breaks = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(values).predict(pen=penalty)
    points, start = [], 0
    edges = [b for b in breaks if b < values.size]
    for index, edge in enumerate(edges):
        stop = edges[index + 1] if index + 1 < len(edges) else values.size
        points.append(ChangePoint(
            when=clear[edge].when,
            mean_before=float(values[start:edge].mean()),
            mean_after=float(values[edge:stop].mean()),
        ))
        start = edge
    return points


def _months(passes: Sequence[Pass], period: Period) -> list[MonthSummary]:
    summaries = []
    month = date(period.start.year, period.start.month, 1)
    while month <= period.end:
        inside = [p for p in passes if (p.day.year, p.day.month) == (month.year, month.month)]
        counted = [p.car_equivalents for p in inside if p.clear]
        summaries.append(MonthSummary(
            month=month,
            statuses=dict(Counter(p.status for p in inside)),
            crossings=dict(Counter(t.direction for p in inside for t in p.moving_trains)),
            snow_passes=sum(p.snow for p in inside),
            max_car_equivalents=max(counted) if counted else None,  # type: ignore[type-var]
        ))
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return summaries


def analyse(site: str, passes: Iterable[Pass], *, period: Period | None = None,
            baseline: Period | None = None) -> SiteSeries:
    """Baseline, anomalies, change points and monthly summaries of one site's passes."""
    ordered = sorted(passes, key=lambda p: (p.when, p.scene_id))
    if period is not None:
        ordered = [p for p in ordered if p.day in period]
    if not ordered:
        raise UserInputError(
            f"site {site!r} has no passes"
            + (f" in {period.label()}" if period else ""),
            hint="widen --from/--to, or run `railwatch scan` for this site and period first",
        )
    span = Period(
        ordered[0].day if period is None or period.start == date.min else period.start,
        ordered[-1].day if period is None or period.end == date.max else period.end,
    )
    chosen_by = "user"
    if baseline is None:
        baseline, chosen_by = default_baseline(ordered)
    reference = _baseline(ordered, baseline, chosen_by)
    user_baseline_empty = chosen_by == "user" and not any(
        p.clear and p.day in baseline for p in ordered)
    if user_baseline_empty:
        raise UserInputError(
            f"--baseline {baseline.label()}: no clear pass of site {site!r} in that range",
            hint="choose a baseline period that the scanned passes cover",
        )
    return SiteSeries(
        site=site,
        period=span,
        passes=tuple(ordered),
        baseline=reference,
        baseline_period=baseline,
        baseline_rule=chosen_by,
        anomalies=tuple(_anomalies(ordered, reference)) if reference else (),
        change_points=tuple(_change_points(ordered)),
        months=tuple(_months(ordered, span)),
        detector_versions=tuple(sorted({p.detector_version for p in ordered if p.detector_version})),
    )


def build_series(store: Store, site: str, *, period: Period | None = None,
                 baseline: Period | None = None,
                 detector_version: str | None = None) -> SiteSeries:
    """Read a site's scenes and observations from the store and analyse them."""
    scenes = store.scenes(site)
    observations = store.observations(site)
    if not scenes and not observations:
        raise UserInputError(
            f"site {site!r} has no observations in the store",
            hint=f"run `railwatch scan --site {site} ...` first (or pass --db with the right store)",
        )
    if detector_version is not None and not any(
        o.detector_version == detector_version for o in observations
    ):
        known = ", ".join(sorted({o.detector_version for o in observations})) or "none"
        raise UserInputError(
            f"--detector-version {detector_version!r}: no observation of site {site!r} by it",
            hint=f"versions in the store: {known}",
        )
    passes, _ = passes_from_rows(scenes, observations, detector_version=detector_version)
    return analyse(site, passes, period=period, baseline=baseline)
