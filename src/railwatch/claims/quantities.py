"""Numbers as news writes them, in Arabic and English, with their spans.

The grammar covers what LANGUAGE.md found the libraries miss:

* digits (Western, Eastern Arabic, Persian) with thousands and decimal separators;
* digits followed by a scale word, the commonest news form: "7 آلاف", "11 ألفا", "2.5 مليون",
  "1.5 million", "2 مليون ونصف";
* number words, with clitics: "بسبعة آلاف", "مائتين وعشرين", "أحد عشر ألفا", "نصف مليون",
  "seven thousand", "two hundred and twenty", "half a million", "a million";
* duals ("ألفين" = 2000) and fractions before or after a scale;
* ranges: "11,000-12,000", "between 11 and 12 thousand", "ما بين 11 و12 ألفا";
* vague plurals as lower bounds ("آلاف", "عشرات الآلاف", "dozens", "tens of thousands").

:func:`exclusion` then says why a number is not a count at all: a year, a date, a calibre or
another measure, a time, a model designation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from railwatch.claims.lexicon import Lexicon
from railwatch.claims.tokens import Token

__all__ = ["Quantity", "exclusion", "find_quantities", "parse_digits"]

_THOUSANDS_GROUP = re.compile(r"^\d{1,3}(?:,\d{3})+$")


@dataclass(frozen=True)
class Quantity:
    """A number phrase: its value (the low end for a range or a vague plural) and its span."""

    value: float
    low: float
    high: float | None  # None: open-ended (a vague plural)
    vague: bool
    is_range: bool
    first: int  # token indexes, inclusive
    last: int
    has_digits: bool


def parse_digits(text: str) -> float | None:
    """A digit string with separators ("7,000", "2.5", "٧٬٠٠٠", "2,5") as a number.

    A comma followed by groups of exactly three digits separates thousands; any other single
    separator is a decimal point ("2,5 مليون" is 2.5 million, as Arabic outlets write it).
    """
    text = text.replace("\u066c", ",").replace("\u066b", ".")
    digits = "".join(str(int(ch)) if ch.isdigit() else ch for ch in text)
    if _THOUSANDS_GROUP.match(digits):
        return float(digits.replace(",", ""))
    if digits.count(".") > 1 and re.match(r"^\d{1,3}(?:\.\d{3})+$", digits):
        return float(digits.replace(".", ""))
    if digits.count(",") + digits.count(".") > 1:
        return None
    try:
        return float(digits.replace(",", "."))
    except ValueError:
        return None


def _word(lex: Lexicon, token: Token) -> tuple[str, float] | None:
    if token.kind != "word":
        return None
    for variant in token.variants:
        found = lex.number_words.get(variant)
        if found is not None:
            return found
    if "-" in token.key:  # "twenty-five"
        parts = [lex.number_words.get(part) for part in token.key.split("-")]
        if len(parts) == 2 and parts[0] and parts[1] and parts[0][0] == "tens" and parts[1][0] == "units":
            return ("units", parts[0][1] + parts[1][1])
    return None


def _parse_simple(
    tokens: list[Token], index: int, last: int, lex: Lexicon
) -> tuple[float, int, bool, float] | None:
    """(value, index of its last token, has digits, the last scale) of the number at ``index``.

    Values add up until a scale multiplies them ("ثلاثة آلاف", "two hundred thousand"); a scale
    closes a group into the total ("ألف ومئتان" = 1200).
    """
    total = 0.0
    current: float | None = None
    has_digits = False
    last_scale = 1.0
    used = index - 1
    position = index
    previous = ""
    while position <= last:
        token = tokens[position]
        if token.kind == "num":
            if current is not None or total:
                break
            value = parse_digits(token.text)
            if value is None:
                break
            current, has_digits, previous, used = value, True, "digits", position
            position += 1
            continue
        if token.key in ("and", "و"):
            following = _word(lex, tokens[position + 1]) if position < last else None
            if current is None and not total or following is None or following[0] == "articles":
                break
            position += 1
            continue
        word = _word(lex, token)
        if word is None:
            break
        category, value = word
        if category == "articles":
            following = _word(lex, tokens[position + 1]) if position < last else None
            if following is None or following[0] not in ("scales", "hundreds", "units", "fractions"):
                break
            if previous == "fractions":  # "half a million"
                position += 1
                continue
            if current is not None or total:
                break
        elif category == "units" or category == "teen_markers":
            if previous == "units" and value == 10 and current is not None and current < 10:
                current += value  # "أحد عشر", "ثلاثة عشر"
            elif previous == "articles":
                current = value  # "a dozen"
            elif previous in ("", "scales", "hundreds") or (
                previous == "tens" and current and current % 10 == 0
            ):
                current = (current or 0.0) + value
            else:
                break
        elif category == "tens":
            if previous not in ("", "units", "scales", "hundreds") or (
                previous == "units" and current and current >= 10
            ):
                break
            current = (current or 0.0) + value
        elif category == "hundreds":
            if previous == "digits":
                break
            if value == 100 and current and previous in ("units", "articles"):
                current *= value  # "ثلاث مئة", "two hundred", "a hundred"
            else:
                current = (current or 0.0) + (value if previous != "articles" else value - 1)
        elif category == "fractions":
            if previous == "scales":
                total += value * last_scale  # "مليون ونصف": half of the scale just closed
            elif previous in ("", "articles"):
                current = value
            else:
                break
        elif category == "scales":
            if previous == "scales":
                break
            total += (current if current is not None else 1.0) * value
            current, last_scale = None, value
        elif category == "duals":
            if current is not None or total:
                break
            total, last_scale = value, value / 2
        previous, used = category, position
        position += 1
    if used < index or previous == "articles":
        return None
    value = total + (current or 0.0)
    if value <= 0 and not has_digits:
        return None
    return value, used, has_digits, last_scale


def _range_end(
    tokens: list[Token], after: int, last: int, lex: Lexicon, opened: bool
) -> tuple[float, int, bool, float] | None:
    if after > last:
        return None
    joiner = tokens[after]
    if joiner.key not in lex.range_joiners:
        return None
    if joiner.key in ("and", "و") and not opened:
        return None
    if after + 1 > last:
        return None
    return _parse_simple(tokens, after + 1, last, lex)


def find_quantities(
    tokens: list[Token], lex: Lexicon, first: int = 0, last: int | None = None
) -> list[Quantity]:
    """Every number phrase in ``tokens[first:last + 1]``, left to right, not overlapping."""
    last = len(tokens) - 1 if last is None else last
    found: list[Quantity] = []
    index = first
    while index <= last:
        token = tokens[index]
        if token.kind not in ("num", "word"):
            index += 1
            continue
        if token.kind == "word":
            word = _word(lex, token)
            vague = lex.vague.match_at(tokens, index, last) if lex.vague.starts(token) else None
            # A plural scale with no number before it ("آلاف الجنود", "thousands") is a bound.
            if vague is not None and (word is None or word[0] == "scales"):
                end, bound = vague
                found.append(Quantity(bound, bound, None, True, False, index, end, False))
                index = end + 1
                continue
            if word is None:
                index += 1
                continue
        parsed = _parse_simple(tokens, index, last, lex)
        if parsed is None:
            index += 1
            continue
        value, end, has_digits, _ = parsed
        opener = lex.qualifiers_before.match_ending_at(tokens, index - 1, first) if index > first else None
        high_end = _range_end(tokens, end + 1, last, lex, opener is not None and opener[1] == "range_open")
        if high_end is not None:
            high, high_last, high_digits, high_scale = high_end
            low = value
            if low < high_scale <= high and low * high_scale <= high:
                low *= high_scale  # "11-12 ألفا", "between 11 and 12 thousand": the scale is shared
            if low < high and not _years_pair(low, high, has_digits and high_digits):
                found.append(
                    Quantity(low, low, high, False, True, index, high_last, has_digits or high_digits)
                )
                index = high_last + 1
                continue
        found.append(Quantity(value, value, value, False, False, index, end, has_digits))
        index = end + 1
    return found


def _years_pair(low: float, high: float, both_digits: bool) -> bool:
    return both_digits and 1800 <= low <= 2100 and 1800 <= high <= 2100 and low == int(low)


def exclusion(tokens: list[Token], quantity: Quantity, lex: Lexicon, masked: frozenset[int]) -> str | None:
    """Why this number is not a count of anything (None: it may be one)."""
    if any(i in masked for i in range(quantity.first, quantity.last + 1)):
        return "name"  # part of an organisation or outlet name: "38 North", "موقع 24"
    first, last = tokens[quantity.first], tokens[quantity.last]
    after = quantity.last + 1
    if after < len(tokens) and tokens[after].kind == "punct" and tokens[after].text in "%٪":
        return "percent"
    unit_at = after + 1 if after < len(tokens) and tokens[after].text in "-‐" else after
    if unit_at < len(tokens) and lex.units.match_at(tokens, unit_at) is not None:
        return "measure"  # a duration, a calibre, a share: "170 مليمترا", "4 سنوات", "5 minutes"
    for back in (quantity.first - 1, quantity.first - 2, quantity.first - 3):
        if back >= 0 and tokens[back].kind == "word" and lex.calibre_cues.match_at(tokens, back) is not None:
            return "calibre"
    if _glued_to_latin(tokens, quantity):
        return "designation"  # "KN-23", "Su-27", "9M723"
    if quantity.value == 1 and not quantity.has_digits:
        return "one-of"  # "أحد القطارات", "one of the trains": a partitive, not a count
    if (
        quantity.has_digits
        and not quantity.is_range
        and first is last
        and _is_year(tokens, quantity.first, lex)
    ):
        return "year"
    if _next_to_month(tokens, quantity, lex):
        return "date"
    return None


def _glued_to_latin(tokens: list[Token], quantity: Quantity) -> bool:
    first, last = tokens[quantity.first], tokens[quantity.last]
    if first.kind != "num":
        return False
    before = tokens[quantity.first - 1] if quantity.first else None
    if before is not None and before.end == first.start and before.text in "-‐" and quantity.first >= 2:
        word = tokens[quantity.first - 2]
        if (
            word.end == before.start
            and word.kind == "word"
            and word.text.isascii()
            and word.text[:1].isupper()
        ):
            return True
    if before is not None and before.end == first.start and before.kind == "word" and before.text.isascii():
        return True
    after = tokens[quantity.last + 1] if quantity.last + 1 < len(tokens) else None
    return bool(
        after is not None
        and after.start == last.end
        and after.kind == "word"
        and after.text.isascii()
        and after.text[:1].isupper()
        and len(after.text) <= 3
    )


def _is_year(tokens: list[Token], index: int, lex: Lexicon) -> bool:
    token = tokens[index]
    if not re.fullmatch(r"\d{4}", token.key):
        return False
    if not 1800 <= int(token.key) <= 2100:
        return False
    previous = tokens[index - 1] if index else None
    if previous is not None and not lex.strong_year_cues.isdisjoint(previous.variants):
        return True  # "عام 2024", "since 2019"
    if index + 1 < len(tokens) and lex.items.match_at(tokens, index + 1) is not None:
        return False  # "في 2000 حاوية": a count that happens to look like a year
    if previous is None:
        return True
    if any(v in lex.year_cues for v in previous.variants):
        return True
    return previous.kind == "punct" or previous.kind == "nl"


def _next_to_month(tokens: list[Token], quantity: Quantity, lex: Lexicon) -> bool:
    """A day or a year written beside a month name ("4 نوفمبر", "September 11", "March 2024")."""
    before = quantity.first - 1
    while before >= 0 and tokens[before].text in (",", "،", "/"):
        before -= 1
    if (
        before >= 0
        and lex.months.match_ending_at(tokens, before) is not None
        and tokens[before].kind == "word"
    ):
        return True
    after = quantity.last + 1
    while after < len(tokens) and (
        tokens[after].text in (",", "،", "/") or tokens[after].key in ("th", "st", "nd", "rd", "of")
    ):
        after += 1
    return (
        after < len(tokens)
        and tokens[after].kind == "word"
        and lex.months.match_at(tokens, after) is not None
    )
