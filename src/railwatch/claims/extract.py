"""From an article's text to its claims: a figure, of what, how hedged, by whom, when and where.

For each number phrase (``quantities``) that is not a year, a date, a measure or part of a name:

1. the item: the noun right after it, possibly behind a classifier and a partitive ("220 قطعة من
   المدافع", "dozens of trains"; English also allows adjectives: "3,000 North Korean troops");
   with the noun left out, "آخرين"/"others"/"another" take the item of the sentence's previous
   figure; a troops count followed by killed/wounded becomes casualties;
2. the qualifier: cue phrases that end right before it (they chain: "ما يقدر بنحو"), a negation
   turning "more than" into "at most" ("لم تشهد أكثر من 20"), cues after it ("or more");
3. delta ("إضافي", "additional", "increased by"), rate ("يوميًا", "a day");
4. the source chain, place and event date of its sentence.

No figure without a taxonomy item becomes a claim: that is what keeps reading times, durations
and page furniture out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from railwatch.claims.attribution import (
    EntityIndex,
    Frame,
    RoleBindings,
    denials_in,
    find_entities,
    frames_in,
    place_for,
    source_chain,
)
from railwatch.claims.dates import DateMention, PartialDate, find_dates, resolve
from railwatch.claims.lexicon import Lexicon
from railwatch.claims.model import Mention
from railwatch.claims.quantities import Quantity, exclusion, find_quantities
from railwatch.claims.tokens import Token, clause_spans, sentence_spans, tokenize

__all__ = ["DenialMention", "TextAnalysis", "analyse_text"]

_QUALIFIER_PRIORITY = ("at_least", "more_than", "at_most", "less_than", "up_to", "about")
_EN_STOP = frozenset(
    {
        "in",
        "on",
        "at",
        "to",
        "from",
        "by",
        "for",
        "with",
        "and",
        "or",
        "were",
        "was",
        "are",
        "is",
        "be",
        "been",
        "had",
        "have",
        "has",
        "said",
        "per",
        "a",
        "an",
        "than",
        "that",
        "which",
        "who",
        "this",
        "these",
        "those",
        "it",
        "its",
        "their",
        "his",
        "her",
        "as",
        "into",
        "since",
        "over",
        "after",
        "before",
        "during",
        "while",
        "not",
        "no",
    }
)
_ARABIC_SKIP = frozenset({"من"})


@dataclass(frozen=True)
class DenialMention:
    by_ids: tuple[str, ...]
    topic: str
    topic_items: tuple[str, ...]
    start: int
    end: int
    quote_start: int
    quote_end: int


@dataclass(frozen=True)
class TextAnalysis:
    mentions: tuple[Mention, ...]
    denials: tuple[DenialMention, ...]
    masked_numbers: int  # numbers kept out as names, years, dates, measures


def analyse_text(text: str, lex: Lexicon, *, published: str | None = None) -> TextAnalysis:
    """Every figure mention and denial in ``text`` (one article)."""
    tokens = tokenize(text)
    entities = find_entities(tokens, lex)
    index = EntityIndex(entities)
    masked = frozenset(
        i
        for e in entities
        if e.kind != "place"
        for i in range(e.first, e.last + 1)
        if tokens[i].kind == "num"
    )
    roles = RoleBindings(lex, entities, published)
    published_day = _as_date(published)
    discourse: str | None = None
    anchor: PartialDate | None = None
    mentions: list[Mention] = []
    denials: list[DenialMention] = []
    kept_out = 0
    for sentence in sentence_spans(tokens, text):
        clauses = clause_spans(tokens, sentence, lex.clause_breaks)
        frames = frames_in(tokens, sentence, index, lex, discourse)
        dates = find_dates(tokens, lex, *sentence)
        resolved: list[tuple[DateMention, PartialDate | None]] = []
        for date_mention in dates:
            value = resolve(date_mention, published_day, anchor)
            resolved.append((date_mention, value))
            if value is not None and value.month is not None:
                anchor = value
        previous_item: str | None = None
        for quantity in find_quantities(tokens, lex, *sentence):
            if exclusion(tokens, quantity, lex, masked) is not None:
                kept_out += 1
                continue
            mention = _mention(
                tokens,
                text,
                quantity,
                sentence,
                clauses,
                frames,
                resolved,
                entities,
                lex,
                roles,
                previous_item,
            )
            if mention is not None:
                mentions.append(mention)
                previous_item = mention.item
        for by, cue_first, cue_last, topic_first, topic_last in denials_in(
            tokens, sentence, clauses, index, lex
        ):
            topic_text = (
                text[tokens[topic_first].start : tokens[topic_last].end] if topic_last >= topic_first else ""
            )
            items = sorted(
                {i for _, _, family in lex.families.find_all(tokens, topic_first, topic_last) for i in family}
            )
            denials.append(
                DenialMention(
                    tuple(roles.resolve(a) or a for a in by),
                    topic_text.strip(),
                    tuple(items),
                    tokens[cue_first].start,
                    tokens[max(cue_last, topic_last)].end,
                    tokens[sentence[0]].start,
                    tokens[sentence[1]].end,
                )
            )
        named = [f.actor_id for f in frames if f.actor_id is not None]
        if named:
            discourse = named[-1]
    return TextAnalysis(tuple(mentions), tuple(denials), kept_out)


def _as_date(published: str | None) -> date | None:
    if not published or len(published) < 10:
        return None
    try:
        return date.fromisoformat(published[:10])
    except ValueError:
        return None


def _mention(
    tokens: list[Token],
    text: str,
    quantity: Quantity,
    sentence: tuple[int, int],
    clauses: list[tuple[int, int]],
    frames: list[Frame],
    dates: list[tuple[DateMention, PartialDate | None]],
    entities: list,
    lex: Lexicon,
    roles: RoleBindings,
    previous_item: str | None,
) -> Mention | None:
    first, last = sentence
    item_hit = _item_after(tokens, quantity, lex, last)
    if item_hit is None:
        if previous_item is None or not _elided(tokens, quantity, lex, last):
            return None
        item, item_first, item_last = previous_item, quantity.last + 1, quantity.last
        noun_present = False
    else:
        item, item_first, item_last = item_hit
        noun_present = True
    item = _refine(tokens, item, item_last, lex, last)
    labels, qualifier_first = _qualifiers_before(tokens, quantity, lex, first)
    tail = max(item_last, quantity.last)
    after_label = None
    for probe in (quantity.last + 1, tail + 1):
        if probe <= last and (hit := lex.qualifiers_after.match_at(tokens, probe, last)) is not None:
            after_label = hit[1]
            tail = max(tail, hit[0])
            break
    qualifier = _qualifier(labels, after_label, quantity, tokens, qualifier_first, lex, first)
    delta = _is_delta(
        tokens, quantity, item_first, item_last, noun_present, qualifier_first, lex, first, last
    )
    per = None
    for probe in range(tail + 1, min(last, tail + 3) + 1):
        if (hit := lex.rates.match_at(tokens, probe, last)) is not None:
            per, tail = hit[1], hit[0]
            break
    clause = next((c for c in clauses if c[0] <= quantity.first <= c[1]), sentence)
    chain = [roles.resolve(actor) for actor in source_chain(frames, quantity.first, clause)]
    named_chain = [a for a in chain if a is not None]
    actor = chain[-1] if chain else None
    via = tuple(dict.fromkeys(a for a in named_chain[:-1] if a != actor)) if actor is not None else ()
    event = _event_date(dates, quantity.first, tokens, text)
    span_start = tokens[qualifier_first].start
    span_end = tokens[tail].end
    return Mention(
        item=item,
        value=quantity.value,
        low=quantity.low,
        high=quantity.high,
        qualifier=qualifier,
        estimate="estimate" in labels,
        per=per,
        delta=delta,
        vague=quantity.vague,
        actor_id=actor,
        via_ids=via,
        place_id=place_for(tokens, entities, lex, quantity.first, clause)
        or place_for(tokens, entities, lex, quantity.first, sentence),
        event_date=event[0],
        event_date_precision=event[1],
        event_date_text=event[2],
        start=span_start,
        end=span_end,
        quote_start=tokens[first].start,
        quote_end=tokens[last].end,
    )


def _item_after(
    tokens: list[Token], quantity: Quantity, lex: Lexicon, last: int
) -> tuple[str, int, int] | None:
    index = quantity.last + 1
    steps = 0
    while index <= last and steps <= 4:
        token = tokens[index]
        english = token.text.isascii()
        if (
            token.kind == "num"
            and english
            and index + 2 <= last
            and tokens[index + 1].text == "-"
            and lex.units.match_at(tokens, index + 2, last) is not None
        ):
            index += 3  # "220 170-mm self-propelled guns": a measure modifying the noun
            steps += 1
            continue
        if token.kind != "word":
            return None
        hit = lex.items.match_at(tokens, index, last)
        if hit is not None:
            return hit[1], index, hit[0]
        if lex.units.match_at(tokens, index, last) is not None:
            return None
        classifier = lex.classifiers.match_at(tokens, index, last)
        if classifier is not None:
            index, steps = classifier[0] + 1, steps + 1
            continue
        if token.key in _ARABIC_SKIP or token.key in ("of", "the"):
            index, steps = index + 1, steps + 1
            continue
        if english and token.key not in _EN_STOP and steps < 3 and not token.key.isdigit():
            index, steps = index + 1, steps + 1  # adjectives: "additional", "North Korean"
            continue
        return None
    return None


def _elided(tokens: list[Token], quantity: Quantity, lex: Lexicon, last: int) -> bool:
    after = quantity.last + 1
    if after <= last and any(v in lex.ellipsis_after for v in tokens[after].variants):
        return True
    before = quantity.first - 1
    return before >= 0 and tokens[before].key in lex.ellipsis_before


def _refine(tokens: list[Token], item: str, item_last: int, lex: Lexicon, last: int) -> str:
    if item not in lex.refine_from:
        return item
    for index in range(item_last + 1, min(last, item_last + lex.refine_window) + 1):
        if lex.refine_to.match_at(tokens, index, last) is not None:
            return "casualties"  # "4,000 soldiers were killed or wounded"
    return item


def _qualifiers_before(
    tokens: list[Token], quantity: Quantity, lex: Lexicon, first: int
) -> tuple[list[str], int]:
    """Cue labels ending right before the number, nearest first, and where the earliest starts."""
    labels: list[str] = []
    start = quantity.first
    index = quantity.first - 1
    while index >= first and len(labels) < 3:
        token = tokens[index]
        if token.key in ("ب", "بـ") or token.text in ("(", "«", '"'):
            index -= 1  # "ما يقدر بـ 2.5 مليون"
            continue
        hit = lex.qualifiers_before.match_ending_at(tokens, index, first)
        if hit is None:
            break
        labels.append(hit[1])
        start = index = hit[0]
        index -= 1
    return labels, start


def _qualifier(
    labels: list[str],
    after_label: str | None,
    quantity: Quantity,
    tokens: list[Token],
    qualifier_first: int,
    lex: Lexicon,
    first: int,
) -> str:
    if quantity.is_range:
        return "range"
    if quantity.vague:
        return "at_least"
    chosen = next((label for label in labels if label in _QUALIFIER_PRIORITY), None) or after_label
    if chosen in ("more_than", "at_least") and _negated(tokens, qualifier_first, lex, first):
        return "at_most"  # "لم تشهد أكثر من 20 عربة", "did not see more than 20"
    if chosen is None:
        return "about" if "estimate" in labels else "exact"
    return chosen


def _negated(tokens: list[Token], position: int, lex: Lexicon, first: int) -> bool:
    for index in range(max(first, position - lex.negation_window), position):
        if any(v in lex.negations for v in tokens[index].variants):
            return True
    return False


def _is_delta(
    tokens: list[Token],
    quantity: Quantity,
    item_first: int,
    item_last: int,
    noun_present: bool,
    qualifier_first: int,
    lex: Lexicon,
    first: int,
    last: int,
) -> bool:
    for index in range(item_last + 1, min(last, item_last + 3) + 1):
        if lex.delta_after.match_at(tokens, index, last) is not None:
            return True
        if (
            noun_present
            and index == item_last + 1
            and lex.delta_after_with_noun.match_at(tokens, index, last)
        ):
            return True
    between = range(quantity.last + 1, item_first)
    if any(tokens[i].key in lex.delta_before for i in between):
        return True  # "3,000 additional troops"
    start = qualifier_first
    if start - 1 >= first and tokens[start - 1].key in lex.delta_before:
        return True  # "another 3,000 troops"
    lead = tokens[start]
    carries_bi = lead.kind == "word" and lead.key.startswith("ب") and len(lead.variants) > 1
    carries_bi = carries_bi or (start - 1 >= first and tokens[start - 1].key in ("ب", "بـ"))
    for index in range(max(first, start - lex.delta_window), start):
        hit = lex.increase.match_at(tokens, index, start - 1)
        if hit is None:
            continue
        english = tokens[index].text.isascii()
        if english or carries_bi or hit[0] == start - 1:
            return True  # "increased by 300", "ازداد بحوالي 300", "بزيادة 300"
    return False


def _event_date(
    dates: list[tuple[DateMention, PartialDate | None]], position: int, tokens: list[Token], text: str
) -> tuple[str | None, str | None, str | None]:
    """(ISO date, precision, the words) of the sentence's date nearest before the figure, else
    of the first one after it."""
    before = [pair for pair in dates if pair[0].last < position]
    after = [pair for pair in dates if pair[0].first > position]
    pick = before[-1] if before else after[0] if after else None
    if pick is None:
        return None, None, None
    mention, value = pick
    words = text[tokens[mention.first].start : tokens[mention.last].end]
    if value is None or value.year is None:
        return None, (value.precision if value else None), words
    return value.iso(), value.precision, words
