"""One figure, one claim: merge mentions within an article, cluster claims across articles, and
lay the clusters out as a timeline.

Within an article, mentions of the same figure (item, value, rate, delta, qualifier family) merge
when their actors agree: the same actor, no actor (a headline), or actors on one ``part_of`` chain
("Seoul" and "the South Korean Joint Chiefs of Staff").  A headline usually drops the hedge its
body keeps, so "exact" and "about" merge into "about"; the most specific actor is kept.

Across articles and languages the same rule makes the ``cluster_id``: item, value, rate, delta,
qualifier family and the root of the asserting actor.  A figure that changes is a new point on
the item's timeline ("containers: more than 1,000 (US) -> about 7,000 (ROK defence minister)").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from railwatch.claims.lexicon import Lexicon
from railwatch.claims.model import Article, Claim, Denial, Mention

__all__ = ["ClaimCluster", "TimelinePoint", "cluster_claims", "figure_text", "merge_mentions", "timeline"]

QUALIFIER_FAMILY = {
    "exact": "point",
    "about": "point",
    "range": "range",
    "at_least": "lower",
    "more_than": "lower",
    "at_most": "upper",
    "less_than": "upper",
    "up_to": "upper",
}
_PRECISION_RANK = {"day": 3, "month": 2, "year": 1, None: 0}
_QUOTE_LIMIT = 400


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:16]


def _compatible(actors: set[str], actor: str | None, lex: Lexicon) -> bool:
    if actor is None:
        return True
    return all(a == actor or a in lex.chain(actor) or actor in lex.chain(a) for a in actors)


def _figure_key(mention: Mention) -> tuple[object, ...]:
    return (
        mention.item,
        mention.value,
        mention.low,
        mention.high,
        mention.per,
        mention.delta,
        QUALIFIER_FAMILY[mention.qualifier],
    )


def merge_mentions(mentions: Sequence[Mention], article: Article, lex: Lexicon) -> list[Claim]:
    """The article's claims: its mentions merged figure by figure (see the module docstring)."""
    groups: list[tuple[list[Mention], set[str]]] = []
    for mention in mentions:
        for members, actors in groups:
            if _figure_key(members[0]) == _figure_key(mention) and _compatible(actors, mention.actor_id, lex):
                members.append(mention)
                if mention.actor_id:
                    actors.add(mention.actor_id)
                break
        else:
            groups.append(([mention], {mention.actor_id} if mention.actor_id else set()))
    return [_claim(members, article, lex) for members, _ in groups]


def _claim(members: list[Mention], article: Article, lex: Lexicon) -> Claim:
    actors = [m.actor_id for m in members if m.actor_id]
    actor = max(actors, key=lex.specificity) if actors else None
    primary = next((m for m in members if m.actor_id == actor), members[0])
    qualifiers = {m.qualifier for m in members}
    qualifier = primary.qualifier
    if QUALIFIER_FAMILY[qualifier] == "point":
        qualifier = "about" if "about" in qualifiers else "exact"
    dated = sorted(members, key=lambda m: -_PRECISION_RANK[m.event_date_precision if m.event_date else None])
    date_source = primary if primary.event_date or primary.event_date_text else dated[0]
    via_ids = tuple(dict.fromkeys(v for m in members for v in m.via_ids if v != actor))
    place_id = next((m.place_id for m in members if m.place_id), None)
    root = lex.root(actor) if actor else None
    family = QUALIFIER_FAMILY[qualifier]
    quote = article.text[primary.quote_start : primary.quote_end]
    if len(quote) > _QUOTE_LIMIT:
        offset = max(0, primary.start - primary.quote_start - _QUOTE_LIMIT // 2)
        quote = quote[offset : offset + _QUOTE_LIMIT]
    return Claim(
        claim_id=_digest(
            article.doc_id,
            primary.item,
            primary.value,
            primary.low,
            primary.high,
            primary.per,
            primary.delta,
            qualifier,
            root,
        ),
        cluster_id=_digest(
            primary.item, primary.value, primary.low, primary.high, primary.per, primary.delta, family, root
        ),
        doc=article.doc,
        doc_id=article.doc_id,
        value=primary.value,
        low=primary.low,
        high=primary.high,
        qualifier=qualifier,
        item=primary.item,
        per=primary.per,
        delta=primary.delta,
        estimate=any(m.estimate for m in members),
        asserted_by=lex.actors[actor].name if actor else None,
        asserted_by_id=actor,
        via=tuple(lex.actors[v].name for v in via_ids),
        via_ids=via_ids,
        place=lex.places[place_id].name if place_id else None,
        place_id=place_id,
        event_date=date_source.event_date,
        event_date_precision=date_source.event_date_precision,
        event_date_text=date_source.event_date_text,
        published=article.published,
        language=article.language,
        quote=" ".join(quote.split()),
        span=" ".join(article.text[primary.start : primary.end].split()),
        start=primary.start,
        end=primary.end,
        mentions=tuple((m.start, m.end) for m in members),
    )


@dataclass(frozen=True)
class ClaimCluster:
    """The same figure from the same actor across articles and languages."""

    cluster_id: str
    item: str
    value: float
    low: float
    high: float | None
    qualifier: str
    per: str | None
    delta: bool
    asserted_by_id: str | None
    asserted_by: str | None
    date: str | None
    date_precision: str | None
    docs: tuple[str, ...]
    languages: tuple[str, ...]
    claim_ids: tuple[str, ...]


def cluster_claims(claims: Iterable[Claim], lex: Lexicon) -> list[ClaimCluster]:
    by_cluster: dict[str, list[Claim]] = {}
    for claim in claims:
        by_cluster.setdefault(claim.cluster_id, []).append(claim)
    clusters = []
    for cluster_id, members in by_cluster.items():
        actors = [c.asserted_by_id for c in members if c.asserted_by_id]
        actor = max(actors, key=lex.specificity) if actors else None
        dates = sorted(
            (
                (
                    c.event_date or c.published,
                    c.event_date_precision if c.event_date else "day" if c.published else None,
                )
                for c in members
                if c.event_date or c.published
            ),
            key=lambda pair: pair[0] or "",
        )
        qualifiers = {c.qualifier for c in members}
        qualifier = members[0].qualifier
        if QUALIFIER_FAMILY[qualifier] == "point":
            qualifier = "about" if "about" in qualifiers else "exact"
        first = members[0]
        clusters.append(
            ClaimCluster(
                cluster_id,
                first.item,
                first.value,
                first.low,
                first.high,
                qualifier,
                first.per,
                first.delta,
                actor,
                lex.actors[actor].name if actor else None,
                dates[0][0] if dates else None,
                dates[0][1] if dates else None,
                tuple(dict.fromkeys(c.doc for c in members)),
                tuple(dict.fromkeys(c.language for c in members if c.language)),
                tuple(c.claim_id for c in members),
            )
        )
    return clusters


@dataclass(frozen=True)
class TimelinePoint:
    item: str
    series: str  # "total", "per day", "increment", ...
    date: str | None
    date_precision: str | None
    figure: str
    value: float
    qualifier: str
    asserted_by: str | None
    sources: int
    docs: tuple[str, ...]
    languages: tuple[str, ...]
    change: str  # first | up | down | same
    denied_by: tuple[str, ...]
    cluster_id: str


def figure_text(
    value: float, qualifier: str, high: float | None = None, per: str | None = None, delta: bool = False
) -> str:
    """ "about 7,000", "more than 1,000", "11,000-12,000", "+3,000", "60,000 a day"."""

    def number(x: float) -> str:
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}".rstrip("0").rstrip(".")

    words = {
        "exact": "",
        "about": "about ",
        "at_least": "at least ",
        "more_than": "more than ",
        "at_most": "at most ",
        "less_than": "less than ",
        "up_to": "up to ",
        "range": "",
    }
    core = f"{number(value)}-{number(high)}" if qualifier == "range" and high is not None else number(value)
    text = f"{words.get(qualifier, '')}{'+' if delta else ''}{core}"
    return f"{text} a {per}" if per else text


def timeline(
    claims: Sequence[Claim], denials: Sequence[Denial], lex: Lexicon, *, item: str | None = None
) -> list[TimelinePoint]:
    """Clusters ordered by date within each item's series; a changed figure is a new point."""
    points: list[TimelinePoint] = []
    clusters = [c for c in cluster_claims(claims, lex) if item is None or c.item == item]
    series_of: dict[tuple[str, str], list[ClaimCluster]] = {}
    for cluster in clusters:
        name = "increment" if cluster.delta else f"per {cluster.per}" if cluster.per else "total"
        series_of.setdefault((cluster.item, name), []).append(cluster)
    for (item_id, name), members in sorted(series_of.items()):
        members.sort(key=lambda c: (c.date is None, c.date or "", c.value))
        denied = tuple(dict.fromkeys(name_ for d in denials if item_id in d.items for name_ in d.by))
        previous: float | None = None
        for cluster in members:
            change = (
                "first"
                if previous is None
                else "up"
                if cluster.value > previous
                else "down"
                if cluster.value < previous
                else "same"
            )
            previous = cluster.value
            points.append(
                TimelinePoint(
                    item_id,
                    name,
                    cluster.date,
                    cluster.date_precision,
                    figure_text(cluster.value, cluster.qualifier, cluster.high, cluster.per, cluster.delta),
                    cluster.value,
                    cluster.qualifier,
                    cluster.asserted_by,
                    len(cluster.docs),
                    cluster.docs,
                    cluster.languages,
                    change,
                    denied,
                    cluster.cluster_id,
                )
            )
    return points
