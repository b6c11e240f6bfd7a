"""Who asserts a figure, through whom, and who denies what.

Actors are found only through the curated alias tables (``actors.toml``, ``places.toml``): no
offline Arabic NER exists.  Around each cue word (قال، أعلنت، بحسب، نقلاً عن، said, according
to, citing) the nearest actor is taken -- after the cue first for Arabic (verb-subject order),
before it first for English -- up to a complementiser ("أن", "إن", "that") that opens the
reported content.  Adjacent names (a role and its holder) collapse to the most specific one.

A sentence's *source chain* runs outward in: the first attributing frame before the figure,
then every relay ("نقلاً عن X", "citing X") and every trailing source in the figure's clause
("... وفقًا للأرقام الأوكرانية").  The deepest link is ``asserted_by``, the rest is ``via``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from railwatch.claims.lexicon import Lexicon, place_key
from railwatch.claims.tokens import Token

__all__ = [
    "Entity",
    "EntityIndex",
    "Frame",
    "RoleBindings",
    "denials_in",
    "find_entities",
    "frames_in",
    "source_chain",
]

COMPLEMENTISERS = frozenset({"ان", "انه", "انها", "بان", "بانه", "that", "انّ"})
WINDOW = 8
_FUZZY_MIN_LENGTH = 5
_FUZZY_CUTOFF = 88.0
_LOCATIVES = frozenset({"في", "قرب", "بالقرب", "عند", "in", "at", "near", "inside"})


@dataclass(frozen=True)
class Entity:
    first: int
    last: int
    id: str
    kind: str  # alias | demonym | place


class EntityIndex:
    """Entities by the token they start and end at."""

    def __init__(self, entities: Sequence[Entity]) -> None:
        self.entities = list(entities)
        self.starts = {e.first: e for e in entities}
        self.ends = {e.last: e for e in entities}


@dataclass(frozen=True)
class Frame:
    first: int  # cue position
    last: int
    kind: str  # speech | source | relay | headline
    actor_id: str | None
    anonymous: bool = False
    relayer: str | None = None  # for a relay: who cites ("Reuters, citing Yonhap")


def find_entities(tokens: list[Token], lex: Lexicon) -> list[Entity]:
    """Actor and place names, longest match first, left to right, not overlapping."""
    found: list[Entity] = []
    fuzzy = _fuzzy_places(lex)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind not in ("word", "num"):
            index += 1
            continue
        actor = lex.actor_index.match_at(tokens, index) if lex.actor_index.starts(token) else None
        place = lex.place_index.match_at(tokens, index) if lex.place_index.starts(token) else None
        best: Entity | None = None
        if actor is not None:
            best = Entity(index, actor[0], actor[1][0], actor[1][1])
        if place is not None and (best is None or place[0] > best.last):
            best = Entity(index, place[0], place[1], "place")
        if best is None and token.kind == "word":
            best = fuzzy.find(tokens, index)
        if best is None:
            index += 1
            continue
        found.append(best)
        index = best.last + 1
    return found


class _FuzzyPlaces:
    """Transliteration variants of place names ("بيونح يانج" for "بيونغ يانغ"), memoised: the
    same words recur across articles, and rapidfuzz on every token would dominate run time."""

    def __init__(self, lex: Lexicon) -> None:
        self._keys = dict(lex.place_keys)
        self._prefixes: dict[str, list[str]] = {}
        for key in self._keys:
            self._prefixes.setdefault(key[:2], []).append(key)
        self._memo: dict[str, str | None] = {}
        self._pairs: dict[tuple[str, str | None], tuple[str, int] | None] = {}

    def _lookup(self, joined: str) -> str | None:
        if joined in self._memo:
            return self._memo[joined]
        place = self._keys.get(joined)
        candidates = self._prefixes.get(joined[:2])
        if place is None and candidates and len(joined) >= _FUZZY_MIN_LENGTH:
            hit = process.extractOne(joined, candidates, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
            if hit is not None and abs(len(hit[0]) - len(joined)) <= 2:
                place = self._keys[hit[0]]
        if len(self._memo) < 200_000:
            self._memo[joined] = place
        return place

    def find(self, tokens: list[Token], index: int) -> Entity | None:
        head = tokens[index]
        following = (
            tokens[index + 1] if index + 1 < len(tokens) and tokens[index + 1].kind == "word" else None
        )
        pair = (head.key, following.key if following is not None else None)
        hit = self._pairs[pair] if pair in self._pairs else self._find(head, following)
        if len(self._pairs) < 200_000:
            self._pairs[pair] = hit
        return Entity(index, index + hit[1] - 1, hit[0], "place") if hit else None

    def _find(self, head: Token, following: Token | None) -> tuple[str, int] | None:
        if not any(place_key(v)[:2] in self._prefixes for v in head.variants[:2]):
            return None
        for width in (2, 1):
            if width == 2 and following is None:
                continue
            for variant in head.variants[:2]:
                place = self._lookup(place_key(variant + (following.key if width == 2 and following else "")))
                if place is not None:
                    return place, width
        return None


_FUZZY: dict[int, _FuzzyPlaces] = {}


def _fuzzy_places(lex: Lexicon) -> _FuzzyPlaces:
    if id(lex) not in _FUZZY:
        _FUZZY[id(lex)] = _FuzzyPlaces(lex)
    return _FUZZY[id(lex)]


class RoleBindings:
    """Resolve an office ("the South Korean defence minister") to the person holding it.

    An article that names a holder of the office anywhere binds the office to that holder;
    otherwise the publication date picks the holder whose term covers it.
    """

    def __init__(self, lex: Lexicon, entities: Sequence[Entity], published: str | None) -> None:
        self._lex = lex
        self._published = published
        self._bound: dict[str, str] = {}
        for entity in entities:
            actor = lex.actors.get(entity.id)
            if actor is None or actor.kind != "person":
                continue
            for role, start, end in actor.holds:
                if self._in_term(start, end):
                    self._bound.setdefault(role, actor.id)

    def _in_term(self, start: str, end: str) -> bool:
        if self._published is None:
            return True
        day = self._published[:10]
        return (not start or start[: len(day)] <= day) and (not end or day <= end)

    def resolve(self, actor_id: str | None) -> str | None:
        if actor_id is None:
            return None
        actor = self._lex.actors.get(actor_id)
        if actor is None or actor.kind != "role":
            return actor_id
        if actor_id in self._bound:
            return self._bound[actor_id]
        if self._published is not None:
            for person in self._lex.actors.values():
                if any(
                    role == actor_id and start and self._in_term(start, end)
                    for role, start, end in person.holds
                ):
                    return person.id
        return actor_id


def _actor_of(entity: Entity, tokens: list[Token], lex: Lexicon) -> str | None:
    """The actor an entity stands for here, or None (a demonym needs a source noun beside it)."""
    if entity.kind == "alias":
        return entity.id
    if entity.kind == "place":
        return lex.places[entity.id].metonym_for
    for back in range(max(0, entity.first - 3), entity.first):
        if lex.source_nouns.match_at(tokens, back, entity.first - 1) is not None:
            return entity.id  # "الأرقام الأوكرانية", "مصادر حكومية كورية جنوبية"
    ahead = entity.last + 1
    if ahead < len(tokens) and lex.source_nouns.match_at(tokens, ahead) is not None:
        return entity.id  # "US officials", "Ukrainian figures"
    return None


def _search(
    tokens: list[Token],
    entities_at: EntityIndex,
    lex: Lexicon,
    start: int,
    stop: int,
    step: int,
    *,
    halt_at_complementiser: bool,
) -> tuple[str | None, bool]:
    """(actor, anonymous) nearest to ``start`` walking by ``step`` up to ``stop`` (inclusive)."""
    anonymous = False
    index = start
    while (step > 0 and index <= stop) or (step < 0 and index >= stop):
        token = tokens[index]
        if halt_at_complementiser and token.kind == "word" and token.key in COMPLEMENTISERS:
            break
        entity = entities_at.starts.get(index) if step > 0 else entities_at.ends.get(index)
        if entity is not None:
            actor = _actor_of(entity, tokens, lex)
            if actor is not None:
                return _most_specific(tokens, entities_at, lex, entity, actor), False
        if token.kind == "word" and any(v in lex.anonymous for v in token.variants):
            anonymous = True
        index += step
    return None, anonymous


def _most_specific(
    tokens: list[Token], entities_at: EntityIndex, lex: Lexicon, entity: Entity, actor: str
) -> str:
    """Among names standing side by side ("وزير الدفاع ... شين وون سيك"), the most specific."""
    best = actor
    group = [entity]
    for direction in (1, -1):
        current = entity
        while True:
            probe = current.last + 1 if direction > 0 else current.first - 1
            neighbour = entities_at.starts.get(probe) if direction > 0 else entities_at.ends.get(probe)
            if neighbour is None:
                break
            group.append(neighbour)
            current = neighbour
    for member in group:
        member_actor = _actor_of(member, tokens, lex)
        if member_actor is not None and lex.specificity(member_actor) > lex.specificity(best):
            best = member_actor
    return best


def frames_in(
    tokens: list[Token],
    sentence: tuple[int, int],
    entities_at: EntityIndex,
    lex: Lexicon,
    discourse: str | None,
) -> list[Frame]:
    """The attribution frames of one sentence, in order."""
    first, last = sentence
    frames: list[Frame] = []
    headline = entities_at.starts.get(first)
    if headline is not None and headline.last + 1 <= last and tokens[headline.last + 1].text == ":":
        speaker = _actor_of(headline, tokens, lex)
        if speaker is not None:
            frames.append(Frame(first, headline.last + 1, "headline", speaker))
    index = first
    while index <= last:
        hit = lex.speech.match_at(tokens, index, last) if lex.speech.starts(tokens[index]) else None
        if hit is None:
            index += 1
            continue
        end, kind = hit
        arabic = tokens[index].is_arabic
        actor: str | None
        relayer = None
        if kind in ("source", "relay"):
            actor, anonymous = _search(
                tokens, entities_at, lex, end + 1, min(last, end + WINDOW), 1, halt_at_complementiser=False
            )
            if kind == "relay" and index > first:
                relayer, _ = _search(
                    tokens,
                    entities_at,
                    lex,
                    index - 1,
                    max(first, index - WINDOW),
                    -1,
                    halt_at_complementiser=True,
                )
        else:
            order = ((1, end + 1, min(last, end + WINDOW)), (-1, index - 1, max(first, index - WINDOW)))
            if not arabic:
                order = order[::-1]
            actor, anonymous = None, False
            for step, start, stop in order:
                actor, anonymous_here = _search(
                    tokens, entities_at, lex, start, stop, step, halt_at_complementiser=True
                )
                anonymous = anonymous or anonymous_here
                if actor is not None or anonymous:
                    break
            if actor is None and not anonymous and lex.continuation.match_at(tokens, index, last) is not None:
                actor = discourse  # "وأضافت أنّ ..." continues the last speaker
        if actor is not None or anonymous:
            frames.append(Frame(index, end, kind, actor, anonymous, relayer))
        index = end + 1
    return frames


def source_chain(frames: Sequence[Frame], position: int, clause: tuple[int, int]) -> list[str | None]:
    """Actors from the outermost source to the deepest one for a figure at ``position``."""
    before = [f for f in frames if f.last < position]
    trailing = [
        f
        for f in frames
        if f.first > position and clause[0] <= f.first <= clause[1] and f.kind in ("source", "relay")
    ]
    chain: list[Frame] = []
    if before:
        outer = before[0]
        chain.append(outer)
        chain.extend(f for f in before[1:] if f.kind == "relay")
    chain.extend(trailing)
    if not chain:
        after = [f for f in frames if f.first > position and f.kind == "speech"]
        chain = after[:1]
    actors: list[str | None] = []
    for frame in chain:
        if frame.relayer is not None and frame.relayer not in actors:
            actors.append(frame.relayer)
        actors.append(frame.actor_id)
    return actors


def denials_in(
    tokens: list[Token],
    sentence: tuple[int, int],
    clauses: Sequence[tuple[int, int]],
    entities_at: EntityIndex,
    lex: Lexicon,
) -> list[tuple[tuple[str, ...], int, int, int, int]]:
    """(actors, cue first, cue last, topic first, topic last) of each denial in a sentence."""
    first, last = sentence
    found = []
    index = first
    while index <= last:
        hit = lex.denial.match_at(tokens, index, last) if lex.denial.starts(tokens[index]) else None
        if hit is None:
            index += 1
            continue
        end = hit[0]
        clause = next((c for c in clauses if c[0] <= index <= c[1]), sentence)
        actors, after_actors = _coordinated(tokens, entities_at, lex, end + 1, clause[1])
        if not actors:
            actor, _ = _search(
                tokens,
                entities_at,
                lex,
                index - 1,
                max(clause[0], index - WINDOW),
                -1,
                halt_at_complementiser=True,
            )
            actors = [actor] if actor else []
            after_actors = end + 1
        if actors:
            relative = index > first and any(v in ("ما", "which", "what") for v in tokens[index - 1].variants)
            if relative:  # "... وهو ما نفته سول": the denied topic is what came before
                topic_first, topic_last = clause[0], max(clause[0], index - 2)
                while topic_last > topic_first and tokens[topic_last].key in ("هو", "وهو", ",", "،"):
                    topic_last -= 1
            else:
                topic_first, topic_last = after_actors, _topic_end(tokens, after_actors, clause[1], lex)
            found.append((tuple(dict.fromkeys(actors)), index, end, topic_first, topic_last))
        index = end + 1
    return found


def _coordinated(
    tokens: list[Token], entities_at: EntityIndex, lex: Lexicon, start: int, stop: int
) -> tuple[list[str], int]:
    """Actors right after a denial cue, with those joined by "و"/"and" ("كل من موسكو وبيونغ يانغ")."""
    actors: list[str] = []
    index = start
    skipped = 0
    while index <= stop and skipped <= 2:
        entity = entities_at.starts.get(index)
        if entity is not None and (actor := _actor_of(entity, tokens, lex)) is not None:
            actors.append(actor)
            index = entity.last + 1
            skipped = 0
            continue
        token = tokens[index]
        if actors and token.key not in ("و", "and", ",", "،"):
            break
        if token.key in COMPLEMENTISERS:
            break
        skipped += 1
        index += 1
    return actors, index


def _topic_end(tokens: list[Token], start: int, stop: int, lex: Lexicon) -> int:
    """The topic runs to the clause end or to the next attribution cue ("... أشار بوتين")."""
    for index in range(start, stop + 1):
        if index > start and lex.speech.match_at(tokens, index, stop) is not None:
            return index - 1
    return stop


def place_for(
    tokens: list[Token], entities: Sequence[Entity], lex: Lexicon, position: int, span: tuple[int, int]
) -> str | None:
    """The place nearest to a figure inside ``span``; a capital counts only after "في"/"in"."""
    best: tuple[int, str] | None = None
    for entity in entities:
        if entity.kind != "place" or not span[0] <= entity.first <= span[1]:
            continue
        place = lex.places[entity.id]
        if place.metonym_for is not None:
            before = tokens[entity.first - 1] if entity.first else None
            if before is None or not any(v in _LOCATIVES for v in before.variants):
                continue
        distance = abs(entity.first - position) + (0 if entity.first > position else 2)
        if best is None or distance < best[0]:
            best = (distance, entity.id)
    return best[1] if best else None
