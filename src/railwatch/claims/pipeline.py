"""The claims pipeline end to end: sources -> articles -> claims -> store, and back out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from railwatch.claims.cluster import merge_mentions
from railwatch.claims.extract import DenialMention, analyse_text
from railwatch.claims.lexicon import Lexicon, load_lexicon
from railwatch.claims.model import Article, Claim, Denial, Extraction
from railwatch.claims.read import Source, detect_language, read_source
from railwatch.store import ArticleRow, ClaimRow, Store

__all__ = [
    "EXTRACTOR_VERSION",
    "claims_from_store",
    "denials_from_store",
    "extract_article",
    "extract_sources",
    "extract_text",
    "ingest_sources",
    "store_extraction",
]

#: Bump when the grammar or the tables change what is extracted: a re-ingest then replaces the
#: stored claims instead of skipping the article.
EXTRACTOR_VERSION = "claims-1"


def extract_article(article: Article, lex: Lexicon | None = None) -> Extraction:
    """The claims and denials of one article (none unless its status is ``ok``)."""
    if article.status != "ok":
        return Extraction(article)
    lex = lex or load_lexicon()
    analysis = analyse_text(article.text, lex, published=article.published)
    claims = merge_mentions(analysis.mentions, article, lex)
    denials = tuple(_denial(d, article, claims, lex) for d in analysis.denials)
    metadata = {
        **article.metadata,
        "extractor": EXTRACTOR_VERSION,
        "numbers_kept_out": analysis.masked_numbers,
        "denials": [d.to_dict() for d in denials],
    }
    return Extraction(replace(article, metadata=metadata), tuple(claims), denials)


def _denial(found: DenialMention, article: Article, claims: Sequence[Claim], lex: Lexicon) -> Denial:
    linked = tuple(c.claim_id for c in claims if c.item in found.topic_items)
    digest = hashlib.sha256(f"{article.doc_id}|{found.start}|{','.join(found.by_ids)}".encode()).hexdigest()[
        :16
    ]
    return Denial(
        denial_id=digest,
        doc=article.doc,
        doc_id=article.doc_id,
        by=tuple(lex.actors[a].name for a in found.by_ids),
        by_ids=found.by_ids,
        topic=found.topic,
        items=found.topic_items,
        claim_ids=linked,
        quote=" ".join(article.text[found.quote_start : found.quote_end].split()),
        start=found.start,
        end=found.end,
        published=article.published,
    )


def extract_text(
    text: str, *, doc: str = "text", published: str | None = None, lex: Lexicon | None = None
) -> Extraction:
    """Claims from a string (the library entry point for text already in memory)."""
    language, shares = detect_language(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    article = Article(
        doc=doc,
        doc_id=digest,
        source=doc,
        status="ok",
        published=published,
        published_precision="day" if published else None,
        language=language,
        text=text,
        metadata={"languages": shares},
    )
    return extract_article(article, lex)


def extract_sources(
    sources: Iterable[Source], *, lex: Lexicon | None = None, client: object | None = None
) -> Iterator[Extraction]:
    """Read and extract each source in turn; a bad source yields an article with its status."""
    lex = lex or load_lexicon()
    for source in sources:
        yield extract_article(read_source(source, lex, client=client), lex)


def ingest_sources(
    store: Store, sources: Iterable[Source], *, lex: Lexicon | None = None, client: object | None = None
) -> Iterator[tuple[Extraction, bool]]:
    """Read, extract and store each source; yields (extraction, newly stored).

    An article already stored by this extractor version is not extracted again (its claims in
    the returned extraction are then empty: they are in the store)."""
    lex = lex or load_lexicon()
    for source in sources:
        article = read_source(source, lex, client=client)
        if store.article_extractor(article.doc_id) == EXTRACTOR_VERSION:
            yield Extraction(article), False
            continue
        extraction = extract_article(article, lex)
        yield extraction, store_extraction(store, extraction)


def store_extraction(store: Store, extraction: Extraction) -> bool:
    """Write one article with its claims in one transaction; False if already stored."""
    article = extraction.article
    metadata = {
        **article.metadata,
        "extractor": EXTRACTOR_VERSION,
        "doc": article.doc,
        "published_precision": article.published_precision,
    }
    row = ArticleRow(
        article.doc_id,
        article.source,
        article.title,
        article.published,
        article.language,
        article.status,
        article.reason,
        article.text,
        metadata,
    )
    claims = [
        ClaimRow(
            c.claim_id,
            c.doc_id,
            c.item,
            c.value,
            c.qualifier,
            c.asserted_by_id,
            c.event_date,
            c.published,
            c.cluster_id,
            c.to_dict(),
        )
        for c in extraction.claims
    ]
    return store.put_article(row, claims)


def _claim_of(payload: dict[str, Any]) -> Claim:
    fields: dict[str, Any] = dict(payload)
    for key in ("via", "via_ids"):
        fields[key] = tuple(fields.get(key) or ())
    fields["mentions"] = tuple(tuple(span) for span in fields.get("mentions") or ())
    for key in ("value", "low"):
        fields[key] = float(fields[key])
    if fields.get("high") is not None:
        fields["high"] = float(fields["high"])
    known: dict[str, Any] = {name: fields.get(name) for name in Claim.__dataclass_fields__}
    return Claim(**known)


def claims_from_store(store: Store, *, item: str | None = None) -> list[Claim]:
    return [_claim_of(row.payload) for row in store.claim_rows(item=item)]


def denials_from_store(store: Store) -> list[Denial]:
    denials = []
    for article in store.articles(status="ok"):
        for raw in article.metadata.get("denials", []):
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
            known: dict[str, Any] = {name: fields.get(name) for name in Denial.__dataclass_fields__}
            denials.append(Denial(**known))
    return denials
