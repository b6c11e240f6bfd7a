"""Assemble one site's report: read the store, analyse, draw, and render one HTML file.

The file stands alone: charts are SVG and chips PNG data URIs, styles are inline, there is no
script, and a Content-Security-Policy forbids anything else, so the report opens offline and a
hostile article title can neither run code nor fetch a URL.  Jinja2 escapes everything put into
the template.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from railwatch import __version__
from railwatch.errors import UserInputError
from railwatch.imagery import Scene
from railwatch.report.charts import PublishedPoint, crossings_chart, series_chart
from railwatch.report.chips import Chip, make_chip
from railwatch.report.claims_view import ClaimLine, claims_timeline
from railwatch.report.i18n import LANGUAGES, Localizer
from railwatch.sites import Site
from railwatch.store import Store
from railwatch.timeseries import ANOMALY_Z, MIN_BASELINE_PASSES, Pass, Period, SiteSeries, build_series

__all__ = [
    "PublishedCount",
    "ReportRequest",
    "check_output_path",
    "published_counts",
    "render_report",
    "write_report",
]

MAX_KEY_CHIPS = 3


@dataclass(frozen=True)
class PublishedCount:
    """A dated figure someone published about a site (``data/published_counts.toml``)."""

    day: date
    day_end: date | None
    site: str
    observation: str
    cars: float | None
    imagery: str
    source: str
    url: str | None
    note: str | None
    date_precision: str = "day"


@dataclass(frozen=True)
class ReportRequest:
    """What to report on: a site, a language, optional date range, baseline and detector."""

    site: Site
    lang: str = "en"
    period: Period | None = None
    baseline: Period | None = None
    detector_version: str | None = None
    scenes: Mapping[str, Scene] = field(default_factory=dict)  # scenes already in memory
    generated: datetime | None = None


def published_counts(site_id: str) -> list[PublishedCount]:
    """The published figures recorded for ``site_id``, oldest first."""
    text = resources.files("railwatch").joinpath("data/published_counts.toml").read_text("utf-8")
    counts = []
    for raw in tomllib.loads(text)["count"]:
        if site_id != raw["site"] and site_id not in raw.get("sites_also", ()):
            continue
        counts.append(PublishedCount(
            day=date.fromisoformat(raw["date"]),
            day_end=date.fromisoformat(raw["date_end"]) if "date_end" in raw else None,
            site=raw["site"],
            observation=raw["observation"],
            cars=float(raw["cars"]) if "cars" in raw else None,
            imagery=raw["imagery"],
            source=raw["source"],
            url=raw.get("url"),
            note=raw.get("note"),
            date_precision=raw.get("date_precision", "day"),
        ))
    return sorted(counts, key=lambda c: c.day)


def check_output_path(out: Path) -> Path:
    """Refuse, before any work, an output path that cannot be written."""
    if out.is_dir():
        raise UserInputError(f"--out {out}: is a directory", hint="give a file name, e.g. report.html")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserInputError(f"--out {out}: the directory {parent} does not exist",
                             hint="create it first or choose another path")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UserInputError(f"--out {out}: not writable",
                             hint="choose a path in a directory you can write to")
    return out


def _write_atomically(out: Path, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a report."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, out)
    except OSError as err:
        raise UserInputError(f"--out {out}: cannot write ({err.strerror})",
                             hint="choose a path in a directory you can write to") from err


# --- the headline ----------------------------------------------------------------------------


def _headline(series: SiteSeries, loc: Localizer, site_name: str) -> Markup:
    clear = series.clear_passes
    baseline = series.baseline
    period = series.period
    if not clear:
        return loc.html("headline_noclear", site=site_name, start=loc.day(period.start),
                        end=loc.day(period.end), passes=loc.number(len(series.passes)))
    base_period = loc.period(baseline.period.start, baseline.period.end) if baseline else ""
    if series.anomalies and baseline is not None:  # anomalies exist only against a baseline
        peak = max(series.anomalies, key=lambda a: a.car_equivalents)
        if peak.above_max and peak.low is not None and peak.high is not None:
            sentence = loc.html("headline_anomaly", date=loc.day(peak.when.date()),
                                value=loc.count(peak.car_equivalents), low=loc.count(peak.low),
                                high=loc.count(peak.high), site=site_name,
                                max=loc.count(baseline.maximum), period=base_period)
        elif peak.above_max:
            sentence = loc.html("headline_anomaly_noint", date=loc.day(peak.when.date()),
                                value=loc.count(peak.car_equivalents), site=site_name,
                                max=loc.count(baseline.maximum), period=base_period)
        else:
            sentence = loc.html("headline_z_only", date=loc.day(peak.when.date()),
                                value=loc.count(peak.car_equivalents), site=site_name,
                                z=loc.number(peak.robust_z, 1),
                                median=loc.count(baseline.median), period=base_period)
        since = min(a.when.date() for a in series.anomalies)
    else:
        values = [float(p.car_equivalents or 0.0) for p in clear]
        numbers = {"clear": loc.number(len(clear)), "start": loc.day(period.start),
                   "end": loc.day(period.end), "min": loc.count(min(values)),
                   "max": loc.count(max(values)), "site": site_name}
        if baseline is None:
            return loc.html("headline_nobaseline", **numbers)
        sentence = loc.html("headline_quiet", period=base_period, **numbers)
        since = baseline.period.end + timedelta(days=1)
    crossings = series.crossings_since(since)
    if not crossings:
        return sentence + loc.html("headline_trains_none", date=loc.day(since))
    parts = [loc.t("trains_towards", count=loc.number(n), country=_country_of(d, loc))
             for d, n in crossings.items()]
    return sentence + loc.html("headline_trains", date=loc.day(since), list=loc.join(parts))


def _country_of(direction: str, loc: Localizer) -> str:
    prefix = "towards "
    return loc.country(direction[len(prefix):]) if direction.startswith(prefix) else direction


# --- chips -------------------------------------------------------------------------------------


def _chip_passes(series: SiteSeries) -> list[tuple[Pass, str]]:
    """Key dates (the peak and the first pass that stood out, or the highest count), then the
    clearest baseline pass closest to the baseline median."""
    by_id = {p.scene_id: p for p in series.passes}
    chosen: list[tuple[Pass, str]] = []
    if series.anomalies:
        ordered = [max(series.anomalies, key=lambda a: a.car_equivalents), series.anomalies[0]]
        ordered += sorted(series.anomalies, key=lambda a: -a.car_equivalents)
        for anomaly in ordered:
            if len(chosen) == MAX_KEY_CHIPS - 1:
                break
            if all(anomaly.scene_id != p.scene_id for p, _ in chosen):
                chosen.append((by_id[anomaly.scene_id], "key"))
    elif series.clear_passes:
        chosen.append((max(series.clear_passes,
                           key=lambda p: (p.car_equivalents or 0, not p.snow)), "key"))
    baseline = series.baseline
    if baseline is not None:
        candidates = [p for p in series.clear_passes if p.day in baseline.period]
        best = max(candidates, key=lambda p: (not p.snow, (p.visible_fraction or 0.0) >= 0.95,
                                              -abs((p.car_equivalents or 0) - baseline.median),
                                              p.when))
        chosen.append((best, "baseline"))
    return chosen


# --- rendering ---------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("railwatch.report", "templates"),
        autoescape=True,  # every value from the store or a user file is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment


def _site_name(site: Site, lang: str) -> str:
    return site.names.get(lang) or site.names.get("en") or site.id


def render_report(store: Store, request: ReportRequest) -> str:
    """The report of one site as one self-contained HTML document."""
    if request.lang not in LANGUAGES:
        raise UserInputError(f"--lang {request.lang!r} is not supported",
                             hint=f"use one of {', '.join(LANGUAGES)}")
    loc = Localizer(request.lang)
    site = request.site
    series = build_series(store, site.id, period=request.period, baseline=request.baseline,
                          detector_version=request.detector_version)
    name = _site_name(site, request.lang)
    published = published_counts(site.id)
    points = [PublishedPoint(p.day, p.cars, p.source) for p in published
              if p.cars is not None and p.site == site.id and p.date_precision == "day"]
    chips: list[Chip] = [make_chip(p, site, role, loc, scenes=request.scenes)
                         for p, role in _chip_passes(series)]
    claims: Sequence[ClaimLine] = claims_timeline(store, series.period, request.lang)
    generated = request.generated or datetime.now(UTC)
    context: dict[str, Any] = {
        "loc": loc,
        "t": loc.t,
        "site": site,
        "site_name": name,
        "series": series,
        "headline": _headline(series, loc, name),
        "series_chart": series_chart(series, loc, name, points),
        "crossings_chart": crossings_chart(series, loc, name),
        "chips": chips,
        "published": published,
        "claims": claims,
        "anomaly_z": ANOMALY_Z,
        "min_baseline": MIN_BASELINE_PASSES,
        "generated": loc.moment(generated.astimezone(UTC)),
        "version": __version__,
        "store_path": str(store.path),
        "provenance": _provenance(series),
    }
    return _environment().get_template("report.html.j2").render(context)


def _provenance(series: SiteSeries) -> dict[str, list[str]]:
    def distinct(values: Sequence[str | None]) -> list[str]:
        return sorted({v for v in values if v})

    return {
        "platforms": distinct([p.platform for p in series.passes]),
        "baselines": distinct([p.processing_baseline for p in series.passes]),
        "detectors": list(series.detector_versions),
    }


def write_report(store: Store, request: ReportRequest, out: Path) -> Path:
    """Render the report and write it to ``out`` (checked first, replaced atomically)."""
    check_output_path(out)
    _write_atomically(out, render_report(store, request))
    return out
