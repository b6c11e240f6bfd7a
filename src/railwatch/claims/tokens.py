"""Tokens with character offsets, matching keys and sentence/clause boundaries.

The original text is never changed: every token keeps its offsets so a claim can quote and point
at the exact characters (as GDELT keeps offsets).  Matching happens on *keys*: Arabic folded the
way LANGUAGE.md describes (أ/إ/آ/ٱ -> ا, ى -> ي, ة -> ه, ؤ/ئ -> ء, no diacritics or tatweel,
NFKC for presentation forms; Eastern and Persian digits and the Arabic separators mapped to
Western ones), Latin case-folded.  Arabic words also get *variants* with their clitics removed
(و ف + ب ل ك + ال), so one lexicon entry finds "والحاويات", "بالحاويات" and "للحاويات".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "Token",
    "arabic_letter_share",
    "clause_spans",
    "fold",
    "sentence_spans",
    "tokenize",
    "variants",
]

_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640"
_LETTER = rf"(?:[^\W\d_]|[{_MARKS}])"
_TOKEN_RE = re.compile(
    rf"""
    (?P<url>(?:https?://|www\.)\S+|\b[A-Za-z0-9.-]+\.(?:com|org|net|ae|kr|ru|io|co|gov|int|uk|info)\b(?:/\S*)?)
    |(?P<email>[A-Za-z0-9.+_-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+)
    |(?P<tag>[#@][\w\u0600-\u06ff]+)
    |(?P<time>\d{{1,2}}:\d{{2}}(?::\d{{2}})?)
    |(?P<date>\d{{1,4}}[/.\-]\d{{1,2}}[/.\-]\d{{1,4}}(?!\d))
    |(?P<num>\d+(?:[.,\u066b\u066c]\d+)*)
    |(?P<word>{_LETTER}+(?:['\u2019\-]{_LETTER}+)*)
    |(?P<nl>\n\s*)
    |(?P<punct>[^\s])
    """,
    re.VERBOSE,
)

#: Token kinds that never hold a quantity: links, hashtags/handles, clock times.
MASKED_KINDS = frozenset({"url", "email", "tag", "time"})

_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "ء",
        "ئ": "ء",
        "ی": "ي",
        "ک": "ك",
        "ە": "ه",
        "ۀ": "ه",
        "٠": "0",
        "١": "1",
        "٢": "2",
        "٣": "3",
        "٤": "4",
        "٥": "5",
        "٦": "6",
        "٧": "7",
        "٨": "8",
        "٩": "9",
        "۰": "0",
        "۱": "1",
        "۲": "2",
        "۳": "3",
        "۴": "4",
        "۵": "5",
        "۶": "6",
        "۷": "7",
        "۸": "8",
        "۹": "9",
        "\u066c": ",",
        "\u066b": ".",
        "’": "'",
    }
)
_MARKS_RE = re.compile(f"[{_MARKS}]")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")


class Token(NamedTuple):
    """One token of the original text: ``text[start:end]``, its kind and its matching key.

    A named tuple rather than a frozen dataclass: an article has thousands of tokens and a frozen
    dataclass's constructor is several times slower."""

    text: str
    kind: str  # word | num | punct | nl | url | email | tag | time | date
    start: int
    end: int
    key: str
    variants: tuple[str, ...]  # the key and its clitic-free forms (see :func:`variants`)

    @property
    def is_arabic(self) -> bool:
        return bool(_ARABIC_RE.search(self.text))


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """The matching key of a word or phrase (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _MARKS_RE.sub("", text).translate(_ARABIC_FOLD)
    return text.casefold()


_CONJ = ("", "و", "ف")
_PREP = ("", "ب", "ل", "ك")


@lru_cache(maxsize=65536)
def variants(key: str) -> tuple[str, ...]:
    """The key and the forms it takes without its proclitics (Arabic) or possessive (English)."""
    found = [key]
    if not _ARABIC_RE.search(key):
        for suffix in ("'s", "s'"):
            if key.endswith(suffix) and len(key) > 3:
                found.append(key[: -len(suffix) + (1 if suffix == "s'" else 0)])
        return tuple(found)
    for conj in _CONJ:
        if conj and not key.startswith(conj):
            continue
        after_conj = key[len(conj) :]
        for prep in _PREP:
            if prep and not after_conj.startswith(prep):
                continue
            stem = after_conj[len(prep) :]
            if len(stem) < 2:
                continue
            if stem != key:
                found.append(stem)
            if stem.startswith("ال") and len(stem) > 4:
                found.append(stem[2:])
            if prep == "ل" and stem.startswith("ل") and len(stem) > 3:
                # "لل" is the preposition ل with the article's alef dropped: "للحاويات".
                found.extend((stem[1:], "ال" + stem[1:]))
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=65536)
def _keys(raw: str, kind: str) -> tuple[str, tuple[str, ...]]:
    """The folded key and its variants; cached because news text repeats its words."""
    key = "\n" if kind == "nl" else fold(raw)
    return key, variants(key) if kind == "word" else (key,)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; whitespace is dropped, newlines are kept as ``nl`` tokens."""
    tokens = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "punct"
        raw = match.group()
        key, keys = _keys(raw, kind)
        tokens.append(Token(raw, kind, match.start(), match.end(), key, keys))
    return tokens


_SENTENCE_END = frozenset({".", "!", "?", "؟", "…", "۔"})
_CLAUSE_END = frozenset({"،", ",", ";", "؛", ":"})


def sentence_spans(tokens: list[Token], text: str) -> list[tuple[int, int]]:
    """(first, last) token indexes of each sentence; a line break always ends one.

    A full stop inside an abbreviation ("أ.ف.ب", "U.S.", "واي.تي.إن") is not a boundary: the
    boundary needs whitespace after it and more than one letter before it.
    """
    spans = []
    first = 0
    for index, token in enumerate(tokens):
        boundary = token.kind == "nl"
        if token.kind == "punct" and token.text in _SENTENCE_END:
            after = text[token.end : token.end + 1]
            before = tokens[index - 1] if index else None
            abbreviation = before is not None and before.kind == "word" and len(before.text) == 1
            boundary = (after == "" or after.isspace()) and not abbreviation
        if boundary:
            if index > first or token.kind != "nl":
                spans.append((first, index))
            first = index + 1
    if first < len(tokens):
        spans.append((first, len(tokens) - 1))
    return spans


def clause_spans(
    tokens: list[Token], sentence: tuple[int, int], breaks: frozenset[tuple[str, ...]]
) -> list[tuple[int, int]]:
    """Split a sentence at a comma/semicolon followed by a clause-opening conjunction
    (``breaks`` holds folded phrases as tuples of words: ("في", "حين"))."""
    first, last = sentence
    spans = []
    start = first
    openers = {phrase[0] for phrase in breaks}
    for index in range(first, last):
        token = tokens[index]
        if (
            token.kind == "punct"
            and token.text in _CLAUSE_END
            and not openers.isdisjoint(tokens[index + 1].variants)
            and any(_starts_with(tokens, index + 1, last, phrase) for phrase in breaks)
        ):
            spans.append((start, index))
            start = index + 1
    spans.append((start, last))
    return spans


def _starts_with(tokens: list[Token], index: int, last: int, phrase: tuple[str, ...]) -> bool:
    if index + len(phrase) - 1 > last:
        return False
    return all(word in tokens[index + n].variants for n, word in enumerate(phrase))


def arabic_letter_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _ARABIC_RE.match(c)) / len(letters)
