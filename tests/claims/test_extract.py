"""Claims from sentences of our own: items, qualifiers, deltas, rates, traps; English and Arabic."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("text", "item", "value", "qualifier"),
    [
        ("Officials counted about 7,000 containers so far.", "containers", 7000, "about"),
        ("It delivered more than one million shells.", "artillery_shells", 1_000_000, "more_than"),
        ("Imagery showed at least 70 freight cars at the yard.", "freight_cars", 70, "at_least"),
        ("Pyongyang sent 11,000-12,000 troops.", "troops", 11000, "range"),
        ("The yard held no more than 20 wagons.", "freight_cars", 20, "at_most"),
        ("Up to 300 rail cars were seen.", "freight_cars", 300, "up_to"),
        ("Fewer than 50 trains crossed.", "trains", 50, "less_than"),
        ("Satellites saw 12 ships in the port.", "ships", 12, "exact"),
        ("It received roughly 220 self-propelled guns.", "artillery_systems", 220, "about"),
        ("Russia fired some 5 million rounds or more.", "artillery_shells", 5_000_000, "about"),
        ("They sent 1,200 drones.", "drones", 1200, "exact"),
    ],
)
def test_english(only, claims_of, text, item, value, qualifier):
    claim = only(claims_of(text))
    assert (claim.item, claim.value, claim.qualifier) == (item, value, qualifier)


def test_english_range_keeps_both_ends(only, claims_of):
    claim = only(claims_of("Pyongyang sent 11,000-12,000 troops."))
    assert (claim.low, claim.high) == (11000, 12000)


def test_english_vague_plural(only, claims_of):
    claim = only(claims_of("Witnesses saw dozens of trains heading north."))
    assert (claim.item, claim.value, claim.qualifier, claim.high) == ("trains", 12, "at_least", None)


def test_english_delta_and_rate(only, claims_of):
    extra = only(claims_of("North Korea sent 3,000 additional troops."))
    assert (extra.item, extra.value, extra.delta) == ("troops", 3000, True)
    daily = only(claims_of("Russian forces fire 60,000 shells a day."))
    assert (daily.item, daily.value, daily.per, daily.delta) == ("artillery_shells", 60000, "day", False)
    increase = only(claims_of("Deliveries increased by 300 containers."))
    assert (increase.value, increase.delta) == (300, True)
    another = only(claims_of("Then another 2,000 soldiers arrived."))
    assert (another.value, another.delta, another.item) == (2000, True, "troops")


def test_english_adjectives_and_calibre_between_number_and_noun(only, claims_of):
    claim = only(claims_of("Seoul said it counted about 220 170-mm self-propelled guns."))
    assert (claim.item, claim.value) == ("artillery_systems", 220)


def test_english_estimate_is_about(only, claims_of):
    claim = only(claims_of("An estimated 4,000 soldiers were killed or wounded."))
    assert (claim.item, claim.value, claim.qualifier, claim.estimate) == ("casualties", 4000, "about", True)


@pytest.mark.parametrize(
    ("text", "item", "value", "qualifier"),
    [
        ("رصدت الصور ما لا يقل عن 45 عربة في المحطة.", "freight_cars", 45, "at_least"),
        ("نقلت روسيا أكثر من 500 حاوية.", "containers", 500, "more_than"),
        ("أرسلت بيونغ يانغ قرابة 8 آلاف جندي.", "troops", 8000, "about"),
        ("شوهدت زهاء 30 سفينة في الميناء.", "ships", 30, "about"),
        ("لم تتجاوز 15 قطارا في الشهر.", "trains", 15, "at_most"),
        ("سلمت ما يصل إلى 100 صاروخ باليستي.", "missiles", 100, "up_to"),
        ("أرسلت أقل من 40 راجمة صواريخ.", "artillery_systems", 40, "less_than"),
        ("وصلت 12 ناقلة إلى الميناء.", "ships", 12, "exact"),
    ],
)
def test_arabic_qualifiers_and_items(only, claims_of, text, item, value, qualifier):
    claim = only(claims_of(text))
    assert (claim.item, claim.value, claim.qualifier) == (item, value, qualifier)


def test_arabic_negated_more_than_is_at_most(only, claims_of):
    claim = only(claims_of("ولم تسجل المحطة أكثر من 25 عربة خلال العام."))
    assert (claim.value, claim.qualifier) == (25, "at_most")


def test_arabic_chained_estimate_and_about(only, claims_of):
    claim = only(claims_of("تم إرسال ما يقدر بنحو 5 آلاف جندي إضافي."))
    assert (claim.value, claim.qualifier, claim.estimate, claim.delta) == (5000, "about", True, True)


def test_arabic_estimate_alone_reads_as_about(only, claims_of):
    claim = only(claims_of("ارتفع الإنتاج إلى ما يقدر بـ 3 ملايين قذيفة."))
    assert (claim.value, claim.qualifier, claim.estimate, claim.delta) == (3_000_000, "about", True, False)


def test_arabic_increase_with_bi_is_a_delta_and_increase_to_is_a_total(only, claims_of):
    delta = only(claims_of("وازداد عدد الحاويات بنحو 400 حاوية."))
    assert (delta.value, delta.qualifier, delta.delta) == (400, "about", True)
    total = only(claims_of("وارتفع العدد إلى 900 حاوية."))
    assert (total.value, total.delta) == (900, False)


def test_arabic_rate_per_day(only, claims_of):
    claim = only(claims_of("تطلق القوات نحو 20 ألف قذيفة يوميًا."))
    assert (claim.value, claim.per) == (20000, "day")


def test_arabic_classifier_and_partitive(only, claims_of):
    claim = only(claims_of("سلمت حوالى 150 قطعة من المدافع الذاتية الحركة."))
    assert (claim.item, claim.value) == ("artillery_systems", 150)


def test_arabic_ellipsis_inherits_the_item(only, claims_of):
    claims = claims_of("أرسلت ألفي جندي إضافي بعدما أرسلت 9 آلاف آخرين.")
    assert [(c.item, c.value, c.delta) for c in claims] == [("troops", 2000, True), ("troops", 9000, False)]


def test_troops_killed_or_wounded_are_casualties(only, claims_of):
    claim = only(claims_of("وقتل نحو ألف جندي أو أصيبوا بجروح في المعارك."))
    assert claim.item == "troops" or claim.item == "casualties"
    claim = only(claims_of("وأفادت بأن نحو ألف جندي قتلوا أو أصيبوا."))
    assert (claim.item, claim.value) == ("casualties", 1000)


def test_vague_arabic_plural(only, claims_of):
    claim = only(claims_of("نقلت القطارات آلاف الحاويات."))
    assert (claim.item, claim.value, claim.qualifier) == ("containers", 1000, "at_least")


@pytest.mark.parametrize(
    "text",
    [
        "time reading iconدقائق القراءة - 5",  # reading time
        "مدافع ذاتية الحركة من عيار 170 مليمترا",  # calibre
        "نقلاً عن موقع 38 North المحلي",  # organisation with digits
        "أغلقت الطريق منذ فبراير/شباط 2020",  # date
        "بعد 4 سنوات من التوقف.. روسيا تستأنف حركة قطارات الركاب",  # duration before an item
        "#NorthKorean leader heads to #Russia pic.twitter.com/HCq416a @War_6 September 11, 2023",
        "وكانت آخر زيارة عام 2019 إلى فلاديفوستوك",  # year
        "أطلقت صواريخ في يوم واحد",  # a count with no item after it
        "وفي العام 2024 صواريخ جديدة",  # a strong year cue wins over the noun
    ],
)
def test_traps_are_never_claims(only, claims_of, text):
    assert [(c.item, c.value) for c in claims_of(text)] == []


def test_same_figure_three_times_is_one_claim_with_the_hedge_kept(only, claims_of):
    text = (
        "تعاون كوريا الشمالية مع روسيا بتوريد 7 آلاف حاوية\n"
        "زودتها بسبعة آلاف من الحاويات.\n"
        "وصل العدد الإجمالي إلى حوالي 7 آلاف حاوية."
    )
    claim = only(claims_of(text))
    assert (claim.value, claim.qualifier, len(claim.mentions)) == (7000, "about", 3)


def test_claim_offsets_point_at_the_figure(only, claims_of):
    text = "Introduction.\nOfficials counted about 7,000 containers so far."
    claim = only(claims_of(text))
    assert text[claim.start : claim.end] == "about 7,000 containers"
    assert claim.span == "about 7,000 containers"
