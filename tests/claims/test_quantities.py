"""The number grammar: one sentence of our own per rule, Arabic and English."""

from __future__ import annotations

import pytest

from railwatch.claims.quantities import exclusion, find_quantities, parse_digits
from railwatch.claims.tokens import tokenize


def quantities(text, lex):
    tokens = tokenize(text)
    return [(q, exclusion(tokens, q, lex, frozenset())) for q in find_quantities(tokens, lex)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("أرسلت 7 آلاف حاوية", 7000),  # digits + plural scale
        ("أرسلت 11 ألفا آخرين", 11000),  # digits + accusative scale
        ("قرابة 2.5 مليون قذيفة", 2_500_000),  # decimal + scale
        ("نحو ٢٫٥ مليون قذيفة", 2_500_000),  # Eastern digits, Arabic decimal separator
        ("نحو ٧٬٠٠٠ جندي", 7000),  # Eastern digits, Arabic thousands separator
        ("نحو ۷۰ عربة", 70),  # Persian digits
        ("زودتها بسبعة آلاف من الحاويات", 7000),  # number word with the clitic ب
        ("أحد عشر ألفا", 11000),  # teen + scale
        ("مائتين وعشرين مدفعا", 220),  # hundreds + و + tens
        ("خمسة وعشرون ألف جندي", 25000),
        ("ألفين من الجنود", 2000),  # dual
        ("مليون ونصف قذيفة", 1_500_000),  # fraction after the scale
        ("نصف مليون قذيفة", 500_000),  # fraction before the scale
        ("ألف ومئتان جندي", 1200),
        ("3 ملايين طلقة", 3_000_000),
        ("2,5 مليون قذيفة", 2_500_000),  # comma as a decimal point
        ("seven thousand troops", 7000),
        ("two hundred and twenty guns", 220),
        ("twenty-five wagons", 25),
        ("half a million shells", 500_000),
        ("a million shells", 1_000_000),
        ("1.5 million rounds", 1_500_000),
        ("7,000 containers", 7000),
    ],
)
def test_values(text, value, lex):
    found = [q for q, why in quantities(text, lex) if why is None]
    assert [q.value for q in found] == [value]


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("11,000-12,000 troops", 11000, 12000),
        ("between 11 and 12 thousand troops", 11000, 12000),  # the scale is shared
        ("ما بين 11 و12 ألف جندي", 11000, 12000),
        ("من 300 إلى 400 حاوية", 300, 400),
    ],
)
def test_ranges(text, low, high, lex):
    ((q, why),) = quantities(text, lex)
    assert (q.is_range, q.low, q.high, why) == (True, low, high, None)


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("dozens of trains", 12),
        ("thousands of troops", 1000),
        ("tens of thousands of shells", 10000),
        ("آلاف الجنود", 1000),
        ("عشرات الآلاف من القذائف", 10000),
        ("مئات الحاويات", 100),
    ],
)
def test_vague_plurals_are_lower_bounds(text, bound, lex):
    ((q, _),) = quantities(text, lex)
    assert (q.vague, q.low, q.high) == (True, bound, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("مدافع من عيار 170 مليمترا", "measure"),
        ("howitzers of 152 mm", "measure"),
        ("بعد 4 سنوات من التوقف", "measure"),
        ("5 دقائق", "measure"),
        ("في عام 2022", "year"),
        ("since 2019", "year"),
        ("الجمعة، 4 نوفمبر 2022", "date"),
        ("September 11, 2023", "date"),
        ("a KN-23 missile", "designation"),
        ("ارتفعت 15% عن العام الماضي", "percent"),
        ("أحد القطارات", "one-of"),
    ],
)
def test_numbers_that_are_not_counts(text, reason, lex):
    reasons = [why for _, why in quantities(text, lex)]
    assert reason in reasons


def test_a_year_shaped_count_before_its_noun_is_a_count(lex):
    ((q, why),) = quantities("في 2000 حاوية", lex)
    assert (q.value, why) == (2000, None)


@pytest.mark.parametrize(
    ("text", "value"),
    [("7,000", 7000), ("1,234,567", 1234567), ("2.5", 2.5), ("٣٠٠", 300), ("1.000.000", 1000000)],
)
def test_parse_digits(text, value):
    assert parse_digits(text) == value


def test_time_and_numeric_dates_are_not_numbers(lex):
    assert quantities("الساعة 11:19 بتاريخ 2022/11/05", lex) == []
