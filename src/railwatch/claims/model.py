"""The plain values that pass between the stages of the claims pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ARTICLE_STATUSES", "QUALIFIERS", "Article", "Claim", "Denial", "Extraction", "Mention"]

#: Every article ends with one of these; only ``ok`` articles are searched for claims.
ARTICLE_STATUSES = (
    "ok",  # text extracted, language supported, claims searched
    "unsupported_language",
    "no_text",  # empty, whitespace, or HTML without a main text
    "decode_failed",  # not text in UTF-8/UTF-16/windows-1256, or binary
    "too_large",  # over the size limit (read.MAX_BYTES)
    "fetch_failed",  # a URL that could not be fetched
    "unreadable",  # a file the operating system would not let us read
)
QUALIFIERS = ("exact", "about", "at_least", "more_than", "at_most", "less_than", "up_to", "range")


@dataclass(frozen=True)
class Article:
    """One input document and what became of it."""

    doc: str  # file name or URL, as shown to the user
    doc_id: str  # content hash: the same article twice is one article
    source: str  # full path or URL
    status: str
    reason: str | None = None
    title: str | None = None
    published: str | None = None  # ISO date, as precise as known
    published_precision: str | None = None
    language: str | None = None
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mention:
    """One sighting of a figure in one sentence, before mentions of the same figure merge."""

    item: str
    value: float
    low: float
    high: float | None
    qualifier: str
    estimate: bool
    per: str | None
    delta: bool
    vague: bool
    actor_id: str | None
    via_ids: tuple[str, ...]
    place_id: str | None
    event_date: str | None
    event_date_precision: str | None
    event_date_text: str | None
    start: int
    end: int
    quote_start: int
    quote_end: int


@dataclass(frozen=True)
class Claim:
    """A figure asserted in one article: all its mentions there merged (CONTRACTS.md fields)."""

    claim_id: str
    cluster_id: str
    doc: str
    doc_id: str
    value: float
    low: float
    high: float | None
    qualifier: str
    item: str
    per: str | None
    delta: bool
    estimate: bool
    asserted_by: str | None
    asserted_by_id: str | None
    via: tuple[str, ...]
    via_ids: tuple[str, ...]
    place: str | None
    place_id: str | None
    event_date: str | None
    event_date_precision: str | None
    event_date_text: str | None
    published: str | None
    language: str | None
    quote: str  # the sentence
    span: str  # the figure as written: "حوالي 7 آلاف حاوية"
    start: int  # offsets of ``span`` in the article's stored text
    end: int
    mentions: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "low", "high"):
            number = data[key]
            if isinstance(number, float) and number.is_integer():
                data[key] = int(number)
        data["via"] = list(self.via)
        data["via_ids"] = list(self.via_ids)
        data["mentions"] = [list(span) for span in self.mentions]
        return data


@dataclass(frozen=True)
class Denial:
    """An actor denying something, with the claims of the article it bears on."""

    denial_id: str
    doc: str
    doc_id: str
    by: tuple[str, ...]
    by_ids: tuple[str, ...]
    topic: str
    items: tuple[str, ...]
    claim_ids: tuple[str, ...]
    quote: str
    start: int
    end: int
    published: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("by", "by_ids", "items", "claim_ids"):
            data[key] = list(data[key])
        return data


@dataclass(frozen=True)
class Extraction:
    article: Article
    claims: tuple[Claim, ...] = ()
    denials: tuple[Denial, ...] = ()
