"""Dates in news text: find the span, keep its precision, resolve it against the publication date.

dateparser reads a date once the span is found and normalised, but on Arabic news it turns
quantities into years, loses paired month names ("5 سبتمبر/أيلول 2022") and invents a day and a
year for a bare month (LANGUAGE.md).  The spans here are found with the calendar words of
``dates.toml`` instead, and a date keeps what the text actually says: a day, a month or a year.
Relative expressions ("الإثنين", "منتصف أكتوبر الماضي", "الشهر التالي", "last week") are resolved
against the publication date, or against the last date mentioned before them (an *anchor*).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from railwatch.claims.lexicon import Lexicon
from railwatch.claims.tokens import Token, tokenize

__all__ = ["DateMention", "PartialDate", "find_dates", "publication_date", "resolve"]

_MONTH_CONTEXT = frozenset(
    {
        "في",
        "منذ",
        "خلال",
        "منتصف",
        "اواخر",
        "اواسط",
        "مطلع",
        "بدايه",
        "نهايه",
        "اوائل",
        "حتي",
        "بين",
        "شهر",
        "in",
        "since",
        "during",
        "mid",
        "early",
        "late",
        "by",
        "of",
        "until",
        "last",
        "next",
        "this",
        "between",
        "from",
        "end",
        "beginning",
        "and",
        "و",
    }
)
_MID = frozenset({"منتصف", "اواسط", "mid", "middle"})
_PAST = frozenset({"الماضي", "الماضيه", "ماضي", "last", "прошлого"})
_NEXT = frozenset({"المقبل", "القادم", "المقبله", "القادمه", "next", "coming"})
_CURRENT = frozenset({"الجاري", "الحالي", "this"})
_SKIP = frozenset({",", "،", "th", "st", "nd", "rd", "of", "-"})


@dataclass(frozen=True)
class PartialDate:
    """A date known to the day, the month or the year; the year may be unknown."""

    year: int | None
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> str:
        return "day" if self.day else "month" if self.month else "year"

    def iso(self) -> str | None:
        if self.year is None:
            return None
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class DateMention:
    first: int
    last: int
    year: int | None = None
    month: int | None = None
    day: int | None = None
    weekday: int | None = None
    relative: str | None = None  # a label of dates.toml [relative]
    modifier: str | None = None  # past | next | current
    mid: bool = False


def _number(token: Token) -> int | None:
    return int(token.key) if token.kind == "num" and token.key.isdigit() else None


def _year_at(tokens: list[Token], index: int) -> int | None:
    if 0 <= index < len(tokens):
        value = _number(tokens[index])
        if value is not None and len(tokens[index].key) == 4 and 1800 <= value <= 2100:
            return value
    return None


def _numeric_date(token: Token) -> tuple[int, int, int] | None:
    parts = [int(p) for p in re.split(r"[/.\-]", token.key) if p.isdigit()]
    if len(parts) != 3:
        return None
    if parts[0] > 31:  # 2022/11/05
        year, month, day = parts
    else:  # 05/11/2022: day first, as Arabic and European outlets write it
        day, month, year = parts
        if month > 12 >= day:
            day, month = month, day
    if year < 100:
        year += 2000
    try:
        date(year, month, day)
    except ValueError:
        return None
    return year, month, day


def _month_at(tokens: list[Token], index: int, lex: Lexicon) -> tuple[int, int] | None:
    """(last token index, month) of a month name at ``index``, paired names included."""
    token = tokens[index]
    if token.kind != "word":
        return None
    hit = lex.months.match_at(tokens, index)
    if hit is None and token.key.startswith("mid-"):
        inner = tokenize(token.text[4:])
        hit = lex.months.match_at(inner, 0) if inner else None
        hit = (index, hit[1]) if hit else None
    if hit is None:
        return None
    end, month = hit
    if token.text.isascii() and not token.text[:1].isupper() and not token.key.startswith("mid-"):
        return None  # "may", "march" as words
    # "نوفمبر/تشرين الثاني": the paired name of the same month
    if end + 2 < len(tokens) and tokens[end + 1].text == "/":
        paired = lex.months.match_at(tokens, end + 2)
        if paired is not None and paired[1] == month:
            end = paired[0]
    return end, month


_TRIGGERS: dict[int, frozenset[str]] = {}


def _triggers(lex: Lexicon) -> frozenset[str]:
    """Words that may start a date expression (one set test per token instead of three)."""
    if id(lex) not in _TRIGGERS:
        words = {"يوم"}
        for index in (lex.months, lex.relative, lex.weekdays):
            words |= index.first_words
        _TRIGGERS[id(lex)] = frozenset(words)
    return _TRIGGERS[id(lex)]


def find_dates(
    tokens: list[Token], lex: Lexicon, first: int = 0, last: int | None = None
) -> list[DateMention]:
    """Date expressions in ``tokens[first:last + 1]``, left to right."""
    last = len(tokens) - 1 if last is None else last
    found: list[DateMention] = []
    triggers = _triggers(lex)
    index = first
    while index <= last:
        token = tokens[index]
        mention = None
        if token.kind == "date":
            parsed = _numeric_date(token)
            if parsed:
                mention = DateMention(index, index, *parsed)
        elif token.kind == "word" and (
            not triggers.isdisjoint(token.variants) or token.key.startswith("mid-")
        ):
            mention = _word_date(tokens, index, last, lex)
        elif token.kind == "num":
            year = _year_at(tokens, index)
            before = tokens[index - 1] if index > first else None
            cued = before is not None and not lex.year_cues.isdisjoint(before.variants)
            counted = index + 1 < len(tokens) and lex.items.match_at(tokens, index + 1) is not None
            if year is not None and cued and not counted:
                mention = DateMention(index, index, year=year)
        if mention is None:
            index += 1
            continue
        found.append(mention)
        index = mention.last + 1
    return found


def _word_date(tokens: list[Token], index: int, last: int, lex: Lexicon) -> DateMention | None:
    month = _month_at(tokens, index, lex)
    if month is not None:
        return _month_date(tokens, index, month, last)
    relative = lex.relative.match_at(tokens, index, last)
    label = None
    weekday_at = index
    if relative is not None and relative[1] in ("today", "yesterday", "tomorrow"):
        label, weekday_at = relative[1], relative[0] + 1  # "اليوم الخميس", "غداً الثلاثاء"
    if weekday_at <= last and tokens[weekday_at].key == "يوم":
        weekday_at += 1  # "يوم الاثنين"
    weekday = lex.weekdays.match_at(tokens, weekday_at, last) if weekday_at <= last else None
    if weekday is not None:
        end, day = weekday
        following = end + 1
        while following <= last and tokens[following].key in _SKIP:
            following += 1
        if (
            following + 1 <= last
            and _number(tokens[following]) is not None
            and _month_at(tokens, following + 1, lex) is not None
        ):
            return None  # "الجمعة، 4 نوفمبر 2022": the full date that follows says it all
        modifier = _modifier(tokens, end + 1, last)
        return DateMention(
            index,
            end + (modifier is not None),
            weekday=day,
            relative=label,
            modifier=modifier[0] if modifier else None,
        )
    if relative is not None and relative[1] in ("past_marker", "next_marker", "current_marker", "mid"):
        return None
    if relative is not None:
        return DateMention(index, relative[0], relative=relative[1])
    return None


def _modifier(tokens: list[Token], index: int, last: int) -> tuple[str] | None:
    if index > last:
        return None
    variants = set(tokens[index].variants)
    for name, words in (("past", _PAST), ("next", _NEXT), ("current", _CURRENT)):
        if variants & words:
            return (name,)
    return None


def _month_date(tokens: list[Token], index: int, month_hit: tuple[int, int], last: int) -> DateMention | None:
    end, month = month_hit
    start = index
    day = year = None
    before = index - 1
    while before >= 0 and tokens[before].key in _SKIP:
        before -= 1
    if (
        before >= 0
        and (value := _number(tokens[before])) is not None
        and 1 <= value <= 31
        and len(tokens[before].key) <= 2
    ):
        day, start = value, before
    after = end + 1
    while after <= last and tokens[after].key in _SKIP:
        after += 1
    if (
        day is None
        and after <= last
        and (value := _number(tokens[after])) is not None
        and 1 <= value <= 31
        and len(tokens[after].key) <= 2
    ):
        day, end = value, after  # "September 11, 2023"
        after += 1
        while after <= last and tokens[after].key in _SKIP:
            after += 1
    if (year := _year_at(tokens, after)) is not None and after <= last:
        end = after
    context = tokens[start - 1].key if start > 0 else ""
    has_context = (
        day is not None
        or year is not None
        or context in _MONTH_CONTEXT
        or any(v in _MONTH_CONTEXT for v in (tokens[start - 1].variants if start > 0 else ()))
    )
    modifier = _modifier(tokens, end + 1, last)
    if not has_context and modifier is None and not tokens[index].key.startswith("mid-"):
        return None  # "مارس" is also a verb ("practised")
    mid = tokens[index].key.startswith("mid-") or (start > 0 and bool(set(tokens[start - 1].variants) & _MID))
    if mid and start > 0 and not tokens[index].key.startswith("mid-"):
        start -= 1
    return DateMention(
        start,
        end + (modifier is not None),
        year=year,
        month=month,
        day=day,
        modifier=modifier[0] if modifier else None,
        mid=mid,
    )


def _shift_month(year: int | None, month: int, delta: int) -> tuple[int | None, int]:
    total = month - 1 + delta
    return (None if year is None else year + total // 12), total % 12 + 1


def resolve(
    mention: DateMention, published: date | None, anchor: PartialDate | None = None
) -> PartialDate | None:
    """The date a mention stands for, as precise as the text allows (None: cannot tell)."""
    if mention.month is not None:
        year = mention.year
        if year is None and published is not None:
            if mention.modifier == "next":
                year = published.year if mention.month > published.month else published.year + 1
            elif mention.modifier == "current":
                year = published.year
            elif mention.modifier == "past":
                year = published.year if mention.month < published.month else published.year - 1
            else:
                year = published.year if mention.month <= published.month else published.year - 1
        return PartialDate(year, mention.month, mention.day)
    if mention.year is not None:
        return PartialDate(mention.year)
    if mention.weekday is not None or mention.relative in ("today", "yesterday", "tomorrow"):
        if published is None:
            return None
        shift = {"today": 0, "yesterday": -1, "tomorrow": 1}.get(mention.relative or "")
        if shift is not None:
            day = published + timedelta(days=shift)
            if mention.weekday is not None and mention.weekday != day.weekday():
                return None  # "اليوم الخميس" in an article dated a Monday: quoted from elsewhere
            return _day(day)
        assert mention.weekday is not None
        if mention.modifier == "next":
            ahead = (mention.weekday - published.weekday()) % 7 or 7
            return _day(published + timedelta(days=ahead))
        back = (published.weekday() - mention.weekday) % 7
        if mention.modifier == "past" and back == 0:
            back = 7
        return _day(published - timedelta(days=back))
    return _relative(mention.relative, published, anchor)


def _relative(label: str | None, published: date | None, anchor: PartialDate | None) -> PartialDate | None:
    if label == "following_month":
        if anchor is None or anchor.month is None:
            return None
        year, month = _shift_month(anchor.year, anchor.month, 1)
        return PartialDate(year, month)
    if published is None:
        return None
    if label == "last_week":
        week = published - timedelta(days=7)
        return PartialDate(week.year, week.month)
    if label in ("last_month", "next_month"):
        year, month = _shift_month(published.year, published.month, -1 if label == "last_month" else 1)
        return PartialDate(year, month)
    if label == "this_year":
        return PartialDate(published.year)
    if label == "last_year":
        return PartialDate(published.year - 1)
    return None


def _day(value: date) -> PartialDate:
    return PartialDate(value.year, value.month, value.day)


def publication_date(tokens: list[Token], lex: Lexicon, *, lines: int = 20) -> PartialDate | None:
    """The date on a "published"/"تم النشر" line near the top of the text, if any."""
    line_start = 0
    seen_lines = 0
    for index, token in enumerate(tokens + [Token("\n", "nl", 0, 0, "\n", ("\n",))]):
        if token.kind != "nl":
            continue
        line = range(line_start, index)
        line_start = index + 1
        seen_lines += 1
        if seen_lines > lines:
            break
        if not any(lex.publication.match_at(tokens, i, index - 1) for i in line):
            continue
        for mention in find_dates(tokens, lex, line.start, index - 1):
            resolved = resolve(mention, None)
            if resolved is not None and resolved.year is not None:
                return resolved
    return None
