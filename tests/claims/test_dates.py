"""Event and publication dates: spans found, precision kept, relative dates resolved."""

from __future__ import annotations

from datetime import date

import pytest

from railwatch.claims.dates import PartialDate, find_dates, publication_date, resolve
from railwatch.claims.tokens import tokenize

PUBLISHED = date(2024, 3, 5)  # a Tuesday


def one(text, lex, anchor=None):
    (mention,) = find_dates(tokenize(text), lex)
    return resolve(mention, PUBLISHED, anchor)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("الجمعة، 4 نوفمبر/تشرين الثاني 2022", PartialDate(2022, 11, 4)),  # paired month names
        ("في 5 سبتمبر/أيلول 2022", PartialDate(2022, 9, 5)),
        ("منذ فبراير/شباط 2020", PartialDate(2020, 2)),
        ("on September 11, 2023", PartialDate(2023, 9, 11)),
        ("11th, September 2023", PartialDate(2023, 9, 11)),
        ("في منتصف أكتوبر الماضي", PartialDate(2023, 10)),  # month kept as month
        ("in mid-October", PartialDate(2023, 10)),
        ("في يوليو المقبل", PartialDate(2024, 7)),
        ("يوم الاثنين", PartialDate(2024, 3, 4)),  # the past Monday
        ("الإثنين الماضي", PartialDate(2024, 3, 4)),
        ("on Tuesday", PartialDate(2024, 3, 5)),
        ("أمس", PartialDate(2024, 3, 4)),
        ("غداً الأربعاء", PartialDate(2024, 3, 6)),
        ("هذا العام", PartialDate(2024)),
        ("العام الماضي", PartialDate(2023)),
        ("عام 2022", PartialDate(2022)),
        ("2022/11/05", PartialDate(2022, 11, 5)),
    ],
)
def test_resolution(text, expected, lex):
    value = one(text, lex)
    assert value == expected
    assert value.precision == ("day" if expected.day else "month" if expected.month else "year")


def test_following_month_chains_on_the_last_date(lex):
    assert one("وفي الشهر التالي", lex, anchor=PartialDate(2023, 10)) == PartialDate(2023, 11)
    assert one("the following month", lex, anchor=PartialDate(None, 12)) == PartialDate(None, 1)


def test_contradicting_weekday_is_not_resolved(lex):
    assert one("اليوم الخميس", lex) is None  # published on a Tuesday: the sentence is quoted


def test_month_words_need_context(lex):
    assert find_dates(tokenize("مارس ضغوطا كبيرة"), lex) == []  # مارس: "he practised"
    assert find_dates(tokenize("they may go home"), lex) == []


def test_publication_line(lex):
    text = "عنوان\nعربي بوست\nتم النشر: 2022/11/05 الساعة 11:19 بتوقيت غرينتش\nنص الخبر"
    assert publication_date(tokenize(text), lex) == PartialDate(2022, 11, 5)
    assert publication_date(tokenize("Title\nPublished: 4 March 2024\nBody"), lex) == PartialDate(2024, 3, 4)
    assert publication_date(tokenize("16 سبتمبر 2023 - AFP\nصورة"), lex) is None  # a caption is no dateline


def test_claim_event_date_from_relative_weekday(claims_of):
    (claim,) = claims_of(
        "قال وزير الدفاع الكوري الجنوبي يوم الاثنين إن 900 حاوية أرسلت.", published="2024-03-05"
    )
    assert (claim.event_date, claim.event_date_precision, claim.event_date_text) == (
        "2024-03-04",
        "day",
        "يوم الاثنين",
    )
