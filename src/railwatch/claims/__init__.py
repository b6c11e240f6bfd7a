"""Claims from reporting: Arabic and English articles to dated, attributed, quantitative claims.

Stages, one module each: ``read`` (inputs, decoding, main text, language) -> ``tokens`` (offsets
and matching keys) -> ``quantities`` (the number grammar) -> ``extract`` (items, qualifiers,
deltas, rates) with ``attribution`` (actors, source chains, denials) and ``dates`` -> ``cluster``
(one claim per figure per article; clusters and the timeline across articles) -> ``pipeline``
(store in and out).  The tables the grammar reads live in ``railwatch/data/claims/`` and are
loaded by ``lexicon``.  See docs/claims.md.
"""

from __future__ import annotations

from railwatch.claims.cluster import ClaimCluster, TimelinePoint, cluster_claims, figure_text, timeline
from railwatch.claims.lexicon import DATA_ENV_VAR, Lexicon, load_lexicon
from railwatch.claims.model import ARTICLE_STATUSES, QUALIFIERS, Article, Claim, Denial, Extraction
from railwatch.claims.pipeline import (
    EXTRACTOR_VERSION,
    claims_from_store,
    denials_from_store,
    extract_article,
    extract_sources,
    extract_text,
    ingest_sources,
    store_extraction,
)
from railwatch.claims.read import (
    MAX_BYTES,
    SUPPORTED_LANGUAGES,
    Source,
    detect_language,
    expand_inputs,
    read_source,
)

__all__ = [
    "ARTICLE_STATUSES",
    "DATA_ENV_VAR",
    "EXTRACTOR_VERSION",
    "MAX_BYTES",
    "QUALIFIERS",
    "SUPPORTED_LANGUAGES",
    "Article",
    "Claim",
    "ClaimCluster",
    "Denial",
    "Extraction",
    "Lexicon",
    "Source",
    "TimelinePoint",
    "claims_from_store",
    "cluster_claims",
    "denials_from_store",
    "detect_language",
    "expand_inputs",
    "extract_article",
    "extract_sources",
    "extract_text",
    "ingest_sources",
    "figure_text",
    "load_lexicon",
    "read_source",
    "store_extraction",
    "timeline",
]
