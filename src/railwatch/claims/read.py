"""Inputs to articles: find the files, decode them, pull the main text, tell the language.

Every input ends as an :class:`~railwatch.claims.model.Article` with a status, never as an
exception: a bad file inside a directory must not stop the other thousand.  Only a path that does
not exist at all is the user's mistake (:class:`~railwatch.errors.InputFileError`, exit code 2).

Decoding tries, in order: a byte-order mark (UTF-8, UTF-16), strict UTF-8, UTF-16 without a mark
(NUL bytes in every other position), windows-1256 (the legacy Arabic code page) when the result
reads as Arabic, then charset-normalizer's best guess when it reads as text.  NUL bytes or
control characters anywhere else mean binary content.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from railwatch.claims.dates import publication_date
from railwatch.claims.lexicon import Lexicon
from railwatch.claims.model import Article
from railwatch.claims.tokens import tokenize
from railwatch.errors import InputFileError, NetworkError

__all__ = [
    "MAX_BYTES",
    "SUPPORTED_LANGUAGES",
    "Source",
    "article_from_bytes",
    "decode",
    "detect_language",
    "expand_inputs",
    "read_source",
]

#: Larger inputs are recorded as ``too_large`` without being read: a news article's HTML is well
#: under this, and a 50 MB "article" is a mistake that must not stall a batch.
MAX_BYTES = 8 * 1024 * 1024
SUPPORTED_LANGUAGES = frozenset({"ar", "en"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ""})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".php", ".aspx"})

_ENGLISH_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "on",
        "with",
        "as",
        "by",
        "was",
        "were",
        "said",
        "has",
        "have",
        "from",
        "at",
        "it",
        "its",
        "are",
        "be",
        "this",
        "which",
        "an",
        "or",
        "not",
        "but",
        "their",
        "they",
        "he",
        "she",
        "been",
        "after",
        "more",
        "than",
    ]
)


@dataclass(frozen=True)
class Source:
    """One input: a file (``path``) or a URL."""

    name: str
    location: str
    path: Path | None = None

    @property
    def is_url(self) -> bool:
        return self.path is None


def expand_inputs(inputs: Sequence[str]) -> list[Source]:
    """Files, directories (walked recursively, hidden entries skipped, sorted) and URLs.

    Raises :class:`InputFileError` for a path that does not exist, before anything is read.
    """
    sources: list[Source] = []
    for raw in inputs:
        if raw.startswith(("http://", "https://")):
            sources.append(Source(raw, raw))
            continue
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputFileError(
                f"{raw}: no such file or directory",
                hint="give article files (.txt, .html), directories of them, or URLs",
            )
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        file_path = Path(folder) / name
                        sources.append(Source(name, str(file_path), file_path))
        else:
            sources.append(Source(path.name, str(path), path))
    return sources


def _failed(source: Source, status: str, reason: str, raw: bytes | None = None) -> Article:
    digest = hashlib.sha256(b"failed\0" + source.location.encode() + b"\0" + (raw or b"")).hexdigest()
    return Article(doc=source.name, doc_id=digest[:32], source=source.location, status=status, reason=reason)


def read_source(source: Source, lex: Lexicon, *, client: object | None = None) -> Article:
    """Read one input into an article with a status (never raises for a bad input)."""
    if source.is_url:
        return _read_url(source, lex, client)
    assert source.path is not None
    try:
        size = source.path.stat().st_size
        if size > MAX_BYTES:
            return _failed(
                source, "too_large", f"{size} bytes, over the {MAX_BYTES}-byte limit for one article"
            )
        raw = source.path.read_bytes()
    except OSError as err:
        return _failed(source, "unreadable", err.strerror or str(err))
    suffix = source.path.suffix.lower()
    html = True if suffix in HTML_SUFFIXES else False if suffix in TEXT_SUFFIXES else None
    return article_from_bytes(raw, source, lex, html=html)


def _read_url(source: Source, lex: Lexicon, client: object | None) -> Article:
    from railwatch.http import HttpClient

    http = client if client is not None else HttpClient()
    try:
        response = http.request("GET", source.location)  # type: ignore[attr-defined]
    except NetworkError as err:
        return _failed(source, "fetch_failed", err.message)
    if response.status_code >= 400:
        return _failed(source, "fetch_failed", f"HTTP {response.status_code}")
    raw = response.content
    if len(raw) > MAX_BYTES:
        return _failed(source, "too_large", f"{len(raw)} bytes, over the {MAX_BYTES}-byte limit")
    html = "html" in response.headers.get("Content-Type", "").lower() or None
    return article_from_bytes(raw, source, lex, html=html)


def decode(raw: bytes) -> tuple[str | None, str]:
    """(text, encoding) or (None, why not)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return _strict(raw[3:], "utf-8")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(raw, "utf-16")
    if b"\x00" in raw:
        even, odd = raw[0::2].count(0), raw[1::2].count(0)
        # UTF-16 without a mark: the NULs of ASCII characters (spaces, digits) all fall on one side
        if len(raw) % 2 == 0 and max(even, odd) >= len(raw) // 40 and min(even, odd) <= max(even, odd) // 10:
            text, encoding = _strict(raw, "utf-16-le" if odd > even else "utf-16-be")
            if text is not None and _looks_like_text(text):
                return text, encoding
        return None, "binary content (NUL bytes)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return (text, "utf-8") if _looks_like_text(text) else (None, "binary content (control characters)")
    legacy = raw.decode("cp1256", errors="replace")
    if _looks_like_text(legacy) and _arabic_share(legacy) >= 0.3:
        return legacy, "windows-1256"
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None:
        guess = str(best)
        if _looks_like_text(guess):
            return guess, str(best.encoding)
    return None, "not UTF-8, UTF-16 or windows-1256 text"


def _strict(raw: bytes, encoding: str) -> tuple[str | None, str]:
    try:
        return raw.decode(encoding), encoding
    except UnicodeDecodeError:
        return None, f"invalid {encoding}"


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    sample = text[:200_000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    replaced = sample.count("\ufffd")
    return controls <= len(sample) * 0.01 and replaced <= len(sample) * 0.02


def _arabic_share(text: str) -> float:
    letters = [ch for ch in text[:200_000] if ch.isalpha()]
    return sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff") / len(letters) if letters else 0.0


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lower()
    return any(marker in head for marker in ("<html", "<!doctype html", "<body", "<head", "<article"))


def detect_language(text: str) -> tuple[str, dict[str, float]]:
    """The language of the text by its letters' scripts, paragraph by paragraph.

    Arabic, Cyrillic and Hangul letters name a script that our inputs use for one language each
    (Persian, Urdu and Ukrainian are told apart by their own letters); Latin text counts as
    English when English function words make up a visible share of its words.  Returns the
    language with the most letters and each language's share of the letters.
    """
    letters: dict[str, int] = {}
    for paragraph in text.split("\n"):
        language, count = _paragraph_language(paragraph)
        if count:
            letters[language] = letters.get(language, 0) + count
    total = sum(letters.values())
    if not total:
        return "und", {}
    shares = {lang: round(count / total, 3) for lang, count in sorted(letters.items(), key=lambda kv: -kv[1])}
    return next(iter(shares)), shares


_SCRIPTS = {
    "arabic": re.compile(
        "[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]"
    ),
    "cyrillic": re.compile("[\u0400-\u04ff]"),
    "hangul": re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "latin": re.compile("[A-Za-z\u00c0-\u024f]"),
    "cjk": re.compile("[\u4e00-\u9fff\u3040-\u30ff]"),
}
_SPECIAL = {"fa": re.compile("[پچژگکی]"), "ur": re.compile("[ٹڈڑںےہ]"), "uk": re.compile("[іїєґІЇЄҐ]")}


def _paragraph_language(paragraph: str) -> tuple[str, int]:
    counts = {script: len(pattern.findall(paragraph)) for script, pattern in _SCRIPTS.items()}
    script, count = max(counts.items(), key=lambda kv: kv[1])
    if not count:
        return "und", 0
    if script == "arabic":
        if len(_SPECIAL["ur"].findall(paragraph)) > count * 0.02:
            return "ur", count
        return ("fa" if len(_SPECIAL["fa"].findall(paragraph)) > count * 0.03 else "ar"), count
    if script == "cyrillic":
        return ("uk" if len(_SPECIAL["uk"].findall(paragraph)) > count * 0.01 else "ru"), count
    if script == "hangul":
        return "ko", count
    if script == "latin":
        words = [w.strip(".,;:!?\"'()").lower() for w in paragraph.split()]
        words = [w for w in words if w.isalpha()]
        english = sum(1 for w in words if w in _ENGLISH_WORDS)
        return ("en" if words and english >= max(1, len(words) * 0.08) else "und-Latn"), count
    return ("zh-ja" if script == "cjk" else "und"), count


def article_from_bytes(raw: bytes, source: Source, lex: Lexicon, *, html: bool | None = None) -> Article:
    """Decode, extract and classify one document's bytes (see the module docstring)."""
    decoded, encoding = decode(raw)
    if decoded is None:
        return _failed(source, "decode_failed", encoding, raw)
    decoded = decoded.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not decoded.strip():
        return _failed(source, "no_text", "empty or whitespace only", raw)
    title = published = None
    is_html = _looks_like_html(decoded) if html is None else html
    if is_html:
        text, title, published = _html_main_text(decoded)
        if not text.strip():
            return _failed(source, "no_text", "no main text found in the HTML", raw)
    else:
        text = decoded
    text = unicodedata.normalize("NFC", text).strip()
    if title is None:
        title = next((line.strip() for line in text.split("\n") if line.strip()), "")[:300] or None
    precision = "day" if published else None
    if published is None:
        found = publication_date(tokenize(text[:1500]), lex)
        if found is not None and found.year is not None:
            published, precision = found.iso(), found.precision
    language, shares = detect_language(text)
    doc_id = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    metadata = {"encoding": encoding, "languages": shares, "html": is_html, "bytes": len(raw)}
    status, reason = "ok", None
    if language not in SUPPORTED_LANGUAGES:
        status = "unsupported_language"
        reason = f"{language} text: railwatch reads claims in {', '.join(sorted(SUPPORTED_LANGUAGES))}"
    return Article(
        doc=source.name,
        doc_id=doc_id,
        source=source.location,
        status=status,
        reason=reason,
        title=title,
        published=published,
        published_precision=precision,
        language=language,
        text=text,
        metadata=metadata,
    )


def _html_main_text(html: str) -> tuple[str, str | None, str | None]:
    import trafilatura

    try:
        document = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=True
        )
    except (ValueError, TypeError, RecursionError):  # malformed trees trafilatura cannot walk
        document = None
    if document is None:
        return "", None, None
    text = getattr(document, "text", None) or ""
    title = getattr(document, "title", None) or None
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}"
    return text, title, getattr(document, "date", None) or None
