"""The reviewable tables behind the claims grammar, loaded once and indexed for matching.

The tables live in ``railwatch/data/claims/*.toml`` (taxonomy, number words, cue words, actors,
places, calendar words).  A user extends them without editing the package by pointing
``$RAILWATCH_CLAIMS_DATA`` at a directory holding any of ``actors.toml``, ``places.toml`` and
``taxonomy.toml`` in the same format: entries with a new id are added, entries with a known id
get the extra aliases or terms.  Every table is validated on load; a broken file raises
:class:`~railwatch.errors.InputFileError` naming the file and the entry.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from railwatch.claims.tokens import Token, fold, tokenize
from railwatch.errors import InputFileError

__all__ = [
    "DATA_ENV_VAR",
    "KIND_SPECIFICITY",
    "Actor",
    "Lexicon",
    "PhraseIndex",
    "Place",
    "load_lexicon",
]

DATA_ENV_VAR = "RAILWATCH_CLAIMS_DATA"
LANGUAGES = ("ar", "en", "ru", "ko")
ACTOR_KINDS = ("country", "body", "role", "person", "organisation", "outlet")
#: The more specific actor wins when several name the same speaker ("the minister Shin ...").
KIND_SPECIFICITY = {"person": 5, "role": 4, "body": 3, "organisation": 3, "outlet": 2, "country": 1}


def _phrase_words(phrase: str, *, strip_article: bool) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    words, exact = [], []
    for token in tokenize(phrase):
        if token.kind == "nl":
            continue
        key = token.key
        if strip_article and key.startswith("ال") and len(key) > 4:
            key = key[2:]
        words.append(key)
        # Short all-capital acronyms ("US", "ROK") must match case: "us" is a pronoun.
        is_acronym = token.text.isascii() and token.text.isupper() and len(token.text) <= 4
        exact.append(token.text if is_acronym else None)
    return tuple(words), tuple(exact)


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    exact: tuple[str | None, ...]
    payload: Any


class PhraseIndex:
    """Longest-match lookup of (multi-word) phrases in a token list, forwards or backwards."""

    def __init__(self, entries: Iterable[tuple[str, Any]], *, strip_article: bool = True) -> None:
        self._by_first: dict[str, list[_Phrase]] = {}
        self._by_last: dict[str, list[_Phrase]] = {}
        for text, payload in entries:
            words, exact = _phrase_words(text, strip_article=strip_article)
            if not words:
                continue
            phrase = _Phrase(words, exact, payload)
            self._by_first.setdefault(words[0], []).append(phrase)
            self._by_last.setdefault(words[-1], []).append(phrase)
        for table in (self._by_first, self._by_last):
            for phrases in table.values():
                phrases.sort(key=lambda p: -len(p.words))
        self._firsts = frozenset(self._by_first)

    def __bool__(self) -> bool:
        return bool(self._by_first)

    @staticmethod
    def _word_matches(token: Token, word: str, exact: str | None) -> bool:
        if exact is not None:
            return token.text == exact
        return word in token.variants

    def match_at(self, tokens: list[Token], index: int, last: int | None = None) -> tuple[int, Any] | None:
        """(index of the phrase's last token, payload) of the longest phrase starting at ``index``."""
        last = len(tokens) - 1 if last is None else last
        best: tuple[int, Any] | None = None
        for variant in tokens[index].variants:
            for phrase in self._by_first.get(variant, ()):
                end = index + len(phrase.words) - 1
                if end > last or (best is not None and end <= best[0]):
                    continue
                if all(
                    self._word_matches(tokens[index + n], phrase.words[n], phrase.exact[n])
                    for n in range(len(phrase.words))
                ):
                    best = (end, phrase.payload)
        return best

    def match_ending_at(self, tokens: list[Token], index: int, first: int = 0) -> tuple[int, Any] | None:
        """(index of the phrase's first token, payload) of the longest phrase ending at ``index``."""
        best: tuple[int, Any] | None = None
        for variant in tokens[index].variants:
            for phrase in self._by_last.get(variant, ()):
                start = index - len(phrase.words) + 1
                if start < first or (best is not None and start >= best[0]):
                    continue
                if all(
                    self._word_matches(tokens[start + n], phrase.words[n], phrase.exact[n])
                    for n in range(len(phrase.words))
                ):
                    best = (start, phrase.payload)
        return best

    @property
    def first_words(self) -> frozenset[str]:
        return self._firsts

    def starts(self, token: Token) -> bool:
        """Whether some phrase may start at this token (a cheap filter before :meth:`match_at`)."""
        return not self._firsts.isdisjoint(token.variants)

    def find_all(
        self, tokens: list[Token], first: int = 0, last: int | None = None
    ) -> Iterator[tuple[int, int, Any]]:
        """Non-overlapping (start, end, payload) matches, left to right, longest first."""
        last = len(tokens) - 1 if last is None else last
        index = first
        firsts = self._firsts
        while index <= last:
            if firsts.isdisjoint(tokens[index].variants):
                index += 1
                continue
            hit = self.match_at(tokens, index, last)
            if hit is None:
                index += 1
                continue
            yield index, hit[0], hit[1]
            index = hit[0] + 1


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    kind: str
    part_of: str | None
    holds: tuple[tuple[str, str, str], ...]  # (role id, from, to) as ISO dates; "" = open
    names: Mapping[str, str]


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    site: str | None
    metonym_for: str | None
    names: Mapping[str, str]


@dataclass(frozen=True)
class Lexicon:
    """Everything the grammar reads from the data tables, indexed."""

    items: PhraseIndex
    item_ids: tuple[str, ...]
    families: PhraseIndex
    refine_to: PhraseIndex
    refine_from: frozenset[str]
    refine_window: int
    classifiers: PhraseIndex
    units: PhraseIndex
    calibre_cues: PhraseIndex
    number_words: Mapping[str, tuple[str, float]]
    vague: PhraseIndex
    qualifiers_before: PhraseIndex
    qualifiers_after: PhraseIndex
    range_joiners: frozenset[str]
    negations: frozenset[str]
    negation_window: int
    delta_after: PhraseIndex
    delta_after_with_noun: PhraseIndex
    delta_before: frozenset[str]
    increase: PhraseIndex
    delta_window: int
    rates: PhraseIndex
    speech: PhraseIndex
    continuation: PhraseIndex
    source_nouns: PhraseIndex
    anonymous: frozenset[str]
    denial: PhraseIndex
    ellipsis_after: frozenset[str]
    ellipsis_before: frozenset[str]
    clause_breaks: frozenset[tuple[str, ...]]
    year_cues: frozenset[str]
    strong_year_cues: frozenset[str]
    publication: PhraseIndex
    actors: Mapping[str, Actor]
    actor_index: PhraseIndex
    places: Mapping[str, Place]
    place_index: PhraseIndex
    place_keys: Mapping[str, str]
    months: PhraseIndex
    weekdays: PhraseIndex
    relative: PhraseIndex

    def chain(self, actor_id: str) -> list[str]:
        """The actor and every body it belongs to, most specific first."""
        seen: list[str] = []
        current: str | None = actor_id
        while current and current not in seen:
            seen.append(current)
            actor = self.actors.get(current)
            current = actor.part_of if actor else None
        return seen

    def root(self, actor_id: str) -> str:
        return self.chain(actor_id)[-1]

    def specificity(self, actor_id: str) -> int:
        actor = self.actors.get(actor_id)
        return KIND_SPECIFICITY.get(actor.kind, 0) if actor else 0

    def resolve_name(self, name: str) -> str | None:
        """The id of the most specific actor named anywhere in ``name`` (for gold files)."""
        tokens = tokenize(name)
        found = [payload for _, _, payload in self.actor_index.find_all(tokens) if payload[1] == "alias"]
        ids = [actor_id for actor_id, _ in found]
        return max(ids, key=self.specificity) if ids else None


# --- loading -----------------------------------------------------------------------------------


def _read_toml(path: Path | Any) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputFileError(
            f"{path}: cannot read the claims table ({err})",
            hint="fix the TOML syntax or remove the file",
        ) from err


def _tables() -> dict[str, dict[str, Any]]:
    folder = resources.files("railwatch") / "data" / "claims"
    names = ("taxonomy", "numbers", "cues", "actors", "places", "dates")
    tables = {name: _read_toml(folder / f"{name}.toml") for name in names}
    extra = os.environ.get(DATA_ENV_VAR)
    if extra:
        for name in ("taxonomy", "actors", "places"):
            path = Path(extra).expanduser() / f"{name}.toml"
            if path.is_file():
                _merge(tables[name], _read_toml(path), path)
    return tables


def _merge(base: dict[str, Any], extra: dict[str, Any], path: Path) -> None:
    """Add the user's entries; an entry with a known id contributes its extra aliases/terms."""
    for section in ("item", "actor", "place"):
        known = {entry.get("id"): entry for entry in base.get(section, [])}
        for entry in extra.get(section, []):
            if not isinstance(entry, dict) or not entry.get("id"):
                raise InputFileError(
                    f"{path}: a [[{section}]] entry has no id", hint="give every entry an id"
                )
            target = known.get(entry["id"])
            if target is None:
                base.setdefault(section, []).append(entry)
                continue
            for field in ("aliases", "terms", "demonyms"):
                for lang, words in entry.get(field, {}).items():
                    target.setdefault(field, {}).setdefault(lang, [])
                    target[field][lang] = list(target[field][lang]) + list(words)


def _words(table: Mapping[str, Any], where: str) -> list[str]:
    if not isinstance(table, list) or not all(isinstance(w, str) and w.strip() for w in table):
        raise InputFileError(f"claims table {where}: expected a list of words", hint="fix the data file")
    return table


def _by_language(table: Mapping[str, Any], where: str) -> Iterator[str]:
    for lang, words in table.items():
        if lang in LANGUAGES:
            yield from _words(words, f"{where}.{lang}")


def _labelled(table: Mapping[str, Mapping[str, Any]], where: str) -> list[tuple[str, str]]:
    """{"ar": {"about": [...]}, "en": {...}} -> [(phrase, "about"), ...]"""
    pairs: list[tuple[str, str]] = []
    for lang, groups in table.items():
        for label, words in groups.items():
            pairs.extend((w, label) for w in _words(words, f"{where}.{lang}.{label}"))
    return pairs


def _keys(words: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


def _build(tables: dict[str, dict[str, Any]]) -> Lexicon:
    taxonomy, numbers, cues = tables["taxonomy"], tables["numbers"], tables["cues"]
    item_entries: list[tuple[str, str]] = []
    item_ids: list[str] = []
    for item in taxonomy.get("item", []):
        item_ids.append(item["id"])
        item_entries.extend((term, item["id"]) for term in _by_language(item.get("terms", {}), item["id"]))
    family_entries: list[tuple[str, tuple[str, ...]]] = []
    for family in taxonomy.get("family", []):
        unknown = set(family.get("items", [])) - set(item_ids)
        if unknown:
            raise InputFileError(
                f"taxonomy family {family.get('id')}: unknown items {sorted(unknown)}",
                hint="use item ids defined in taxonomy.toml",
            )
        members = tuple(family["items"])
        family_entries.extend((w, members) for w in _by_language(family, family["id"]))
    family_entries.extend((term, (item_id,)) for term, item_id in item_entries)
    refine = taxonomy.get("refine", {}).get("casualties", {})
    units = taxonomy.get("units", {})

    number_words: dict[str, tuple[str, float]] = {}
    for lang in ("ar", "en"):
        for category in (
            "units",
            "teen_markers",
            "tens",
            "hundreds",
            "scales",
            "duals",
            "fractions",
            "articles",
        ):
            for word, value in numbers.get(lang, {}).get(category, {}).items():
                number_words.setdefault(fold(word), (category, float(value)))
    vague = [
        (w, float(v)) for lang in ("ar", "en") for w, v in numbers.get(lang, {}).get("vague", {}).items()
    ]

    actors, actor_entries = _actors(tables["actors"])
    places, place_entries, place_keys = _places(tables["places"], actors)
    attribution = cues["attribution"]
    dates = tables["dates"]
    relative = [(w, label) for label, words in dates["relative"].items() for w in words]
    return Lexicon(
        items=PhraseIndex(item_entries),
        item_ids=tuple(item_ids),
        families=PhraseIndex(family_entries),
        refine_to=PhraseIndex((w, "casualties") for w in _by_language(refine, "refine.casualties")),
        refine_from=frozenset(refine.get("from", [])),
        refine_window=int(refine.get("window", 6)),
        classifiers=PhraseIndex(
            (w, True) for w in _by_language(taxonomy.get("classifiers", {}), "classifiers")
        ),
        units=PhraseIndex((w, True) for w in _by_language(units, "units")),
        calibre_cues=PhraseIndex(
            (w, True) for w in units.get("calibre_cues_ar", []) + units.get("calibre_cues_en", [])
        ),
        number_words=number_words,
        vague=PhraseIndex(vague),
        qualifiers_before=PhraseIndex(_labelled(cues["qualifiers"], "qualifiers")),
        qualifiers_after=PhraseIndex(_labelled(cues["qualifiers_after"], "qualifiers_after")),
        range_joiners=_keys(_by_language(cues["range_joiners"], "range_joiners")),
        negations=_keys(_by_language(cues["negations"], "negations")),
        negation_window=int(cues["negations"].get("window", 4)),
        delta_after=PhraseIndex((w, True) for w in cues["delta"]["after_ar"]),
        delta_after_with_noun=PhraseIndex((w, True) for w in cues["delta"]["after_with_noun_ar"]),
        delta_before=_keys(cues["delta"]["before_en"]),
        increase=PhraseIndex((w, True) for w in cues["delta"]["increase_ar"] + cues["delta"]["increase_en"]),
        delta_window=int(cues["delta"].get("window", 4)),
        rates=PhraseIndex(_labelled(cues["rates"], "rates")),
        speech=PhraseIndex(
            [(w, "speech") for lang in ("ar", "en") for w in attribution[lang]["speech"]]
            + [(w, "source") for lang in ("ar", "en") for w in attribution[lang]["source"]]
            + [(w, "relay") for lang in ("ar", "en") for w in attribution[lang]["relay"]]
        ),
        continuation=PhraseIndex(
            (w, True) for lang in ("ar", "en") for w in attribution[lang].get("continuation", [])
        ),
        source_nouns=PhraseIndex((w, True) for w in _by_language(cues["source_nouns"], "source_nouns")),
        anonymous=_keys(
            cues["source_nouns"].get("anonymous_ar", []) + cues["source_nouns"].get("anonymous_en", [])
        ),
        denial=PhraseIndex((w, True) for w in _by_language(cues["denial"], "denial")),
        ellipsis_after=_keys(cues["ellipsis"]["after_ar"] + cues["ellipsis"]["after_en"]),
        ellipsis_before=_keys(cues["ellipsis"]["before_en"]),
        clause_breaks=frozenset(
            _phrase_words(w, strip_article=False)[0]
            for w in _by_language(cues["clause_breaks"], "clause_breaks")
        ),
        year_cues=_keys(_by_language(cues["year_cues"], "year_cues")),
        strong_year_cues=_keys(_words(cues["year_cues"].get("strong", []), "year_cues.strong")),
        publication=PhraseIndex((w, True) for w in _by_language(cues["publication"], "publication")),
        actors=actors,
        actor_index=PhraseIndex(actor_entries),
        places=places,
        place_index=PhraseIndex(place_entries),
        place_keys=place_keys,
        months=PhraseIndex((w, int(m)) for m, words in dates["months"].items() for w in words),
        weekdays=PhraseIndex(
            ((w, int(d)) for d, words in dates["weekdays"].items() for w in words), strip_article=False
        ),
        relative=PhraseIndex(relative, strip_article=False),
    )


def _actors(table: dict[str, Any]) -> tuple[dict[str, Actor], list[tuple[str, tuple[str, str]]]]:
    actors: dict[str, Actor] = {}
    entries: list[tuple[str, tuple[str, str]]] = []
    for raw in table.get("actor", []):
        actor_id = raw.get("id")
        where = f"actors.toml actor {actor_id!r}"
        if not actor_id or raw.get("kind") not in ACTOR_KINDS or not raw.get("name"):
            raise InputFileError(
                f"{where}: needs id, name and a kind in {ACTOR_KINDS}",
                hint="fix src/railwatch/data/claims/actors.toml or your extension",
            )
        if actor_id in actors:
            raise InputFileError(f"{where}: id used twice", hint="merge the two entries")
        aliases = raw.get("aliases", {})
        names = {lang: words[0] for lang, words in aliases.items() if words}
        holds = tuple((h["role"], h.get("from", ""), h.get("to", "")) for h in raw.get("holds", []))
        actors[actor_id] = Actor(actor_id, raw["name"], raw["kind"], raw.get("part_of") or None, holds, names)
        entries.extend((alias, (actor_id, "alias")) for alias in _by_language(aliases, where))
        entries.extend(
            (alias, (actor_id, "demonym")) for alias in _by_language(raw.get("demonyms", {}), where)
        )
    for actor in actors.values():
        linked = [actor.part_of] if actor.part_of else []
        linked += [role for role, _, _ in actor.holds]
        for other in linked:
            if other not in actors:
                raise InputFileError(
                    f"actors.toml actor {actor.id!r}: unknown actor {other!r}",
                    hint="add that actor or fix the id",
                )
    return actors, entries


_PLACE_FOLD = str.maketrans("جگڤپ", "غغفب")


@lru_cache(maxsize=65536)
def place_key(text: str) -> str:
    """A spelling-tolerant key for places: folded, ج/گ -> غ, ڤ -> ف, پ -> ب, letters only."""
    key = fold(text).translate(_PLACE_FOLD)
    return "".join(ch for ch in key if ch.isalnum())


def _places(
    table: dict[str, Any], actors: Mapping[str, Actor]
) -> tuple[dict[str, Place], list[tuple[str, str]], dict[str, str]]:
    places: dict[str, Place] = {}
    entries: list[tuple[str, str]] = []
    keys: dict[str, str] = {}
    for raw in table.get("place", []):
        place_id = raw.get("id")
        if not place_id or not raw.get("name"):
            raise InputFileError(
                f"places.toml place {place_id!r}: needs id and name",
                hint="fix src/railwatch/data/claims/places.toml or your extension",
            )
        metonym = raw.get("metonym_for") or None
        if metonym and metonym not in actors:
            raise InputFileError(
                f"places.toml place {place_id!r}: unknown actor {metonym!r}",
                hint="metonym_for must be an actor id from actors.toml",
            )
        aliases = raw.get("aliases", {})
        names = {lang: words[0] for lang, words in aliases.items() if words}
        places[place_id] = Place(place_id, raw["name"], raw.get("site") or None, metonym, names)
        for alias in _by_language(aliases, f"places.toml place {place_id!r}"):
            entries.append((alias, place_id))
            keys[place_key(alias)] = place_id
    return places, entries, keys


@lru_cache(maxsize=4)
def _cached(extra: str | None) -> Lexicon:
    return _build(_tables())


def load_lexicon() -> Lexicon:
    """The lexicon, built once per value of ``$RAILWATCH_CLAIMS_DATA``."""
    return _cached(os.environ.get(DATA_ENV_VAR))
