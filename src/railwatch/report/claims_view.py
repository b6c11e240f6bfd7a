"""The claims timeline as the report shows it, beside the imagery.

The timeline itself comes from :func:`railwatch.claims.timeline` (claims clustered across
articles and languages, a new point when a figure changes, denials attached); here it is cut to
the report's period and each point gets one quoted sentence and its document, so a reader sees who
said what next to what the pixels show.  Every text here came from outside and is escaped by the
template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from railwatch.store import Store
from railwatch.timeseries import Period

__all__ = ["MAX_CLAIMS", "ClaimLine", "claims_timeline"]

MAX_CLAIMS = 300


@dataclass(frozen=True)
class ClaimLine:
    """One point of the claims timeline."""

    day: date
    precision: str  # "day", "month" or "year": how much of ``day`` the source gave
    item: str
    series: str
    value: float
    high: float | None
    qualifier: str
    asserted_by: str
    sources: int
    languages: tuple[str, ...]
    change: str
    denied_by: tuple[str, ...]
    quote: str
    quote_language: str
    document: str


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        if len(text) >= 10:
            return date.fromisoformat(text[:10])
        if len(text) == 7:
            return date.fromisoformat(text + "-01")
        return date(int(text[:4]), 1, 1)
    except ValueError:
        return None


def claims_timeline(store: Store, period: Period, lang: str = "en") -> list[ClaimLine]:
    """Timeline points dated inside ``period``, oldest first (empty when there are no claims).

    Actors are named in ``lang`` where the alias tables know a name in it (the Arabic report says
    "هيئة الأركان المشتركة", not "Joint Chiefs of Staff")."""
    from railwatch.claims import claims_from_store, denials_from_store, load_lexicon, timeline

    claims = claims_from_store(store)
    if not claims:
        return []
    lexicon = load_lexicon()
    local_names = {actor.name: actor.names.get(lang, actor.name) for actor in lexicon.actors.values()}

    def named(actor: str) -> str:
        return local_names.get(actor, actor)

    by_cluster: dict[str, Any] = {}
    for claim in claims:
        by_cluster.setdefault(claim.cluster_id, claim)
    lines = []
    for point in timeline(claims, denials_from_store(store), lexicon):
        day = _day(point.date)
        if day is None or day not in period:
            continue
        example = by_cluster.get(point.cluster_id)
        lines.append(ClaimLine(
            day=day,
            precision=point.date_precision or "day",
            item=point.item,
            series=point.series,
            value=point.value,
            high=example.high if example is not None and point.qualifier == "range" else None,
            qualifier=point.qualifier,
            asserted_by=named(point.asserted_by or ""),
            sources=point.sources,
            languages=tuple(point.languages),
            change=point.change,
            denied_by=tuple(named(actor) for actor in point.denied_by),
            quote=(example.quote if example else "")[:400],
            quote_language=(example.language or "") if example else "",
            document=example.doc if example else "",
        ))
    lines.sort(key=lambda line: (line.day, line.item, line.value))
    return lines[:MAX_CLAIMS]
