"""Who asserts a figure, the source chain, places, denials; Arabic and English sentences."""

from __future__ import annotations

from railwatch.claims import extract_text


def test_arabic_verb_subject_order(claims_of, only):
    claim = only(claims_of("أعلنت الولايات المتحدة أن كوريا الشمالية سلمت أكثر من 500 حاوية."))
    assert claim.asserted_by_id == "united-states"


def test_english_subject_verb_order_and_possessive_role(claims_of, only):
    claim = only(
        claims_of("South Korea's defence minister Shin Won-sik said about 7,000 containers were shipped.")
    )
    assert claim.asserted_by_id == "shin-won-sik"


def test_complementiser_stops_the_search(claims_of, only):
    # "كوريا الشمالية" after "أن" is the reported subject, not the speaker
    claim = only(claims_of("قال مسؤول إن كوريا الشمالية أرسلت 600 حاوية."))
    assert claim.asserted_by_id is None


def test_trailing_according_to_applies_to_its_clause_only(claims_of):
    claims = claims_of(
        "زادت روسيا الإنتاج إلى 2 مليون قذيفة، ولكن القوات تطلق حوالي 40 ألف طلقة يوميًا "
        "وفقًا للأرقام الأوكرانية."
    )
    by_value = {c.value: c.asserted_by_id for c in claims}
    assert by_value == {2_000_000: None, 40000: "ukraine"}


def test_demonym_needs_a_source_noun(claims_of, only):
    assert (
        only(claims_of("According to US officials, 900 containers crossed.")).asserted_by_id
        == "united-states"
    )
    assert only(claims_of("نقلت سفن أمريكية 900 حاوية.")).asserted_by_id is None


def test_capital_stands_for_its_government(claims_of, only):
    assert only(claims_of("وأعلنت سول أن بيونغ يانغ أرسلت 3 آلاف جندي.")).asserted_by_id == "south-korea"


def test_headline_colon_attribution(claims_of, only):
    assert only(claims_of("كوريا الجنوبية: بيونغ يانغ أرسلت 2000 جندي")).asserted_by_id == "south-korea"


def test_continuation_verb_keeps_the_last_speaker(claims_of):
    text = (
        "وقالت هيئة الأركان المشتركة الكورية الجنوبية في بيان إن الوضع خطير.\nوأضافت أنّ نحو 500 جندي قتلوا."
    )
    (claim,) = claims_of(text)
    assert (claim.item, claim.asserted_by_id) == ("casualties", "kr-jcs")


def test_role_binds_to_the_holder_named_in_the_article(claims_of):
    text = (
        "زودتها بنحو 900 حاوية، هذا ما أعلنه وزير الدفاع الكوري الجنوبي.\n"
        "وقال وزير الدفاع الكوري الجنوبي شين وون سيك إن التعاون مستمر."
    )
    (claim,) = claims_of(text)
    assert claim.asserted_by_id == "shin-won-sik"


def test_role_resolves_by_publication_date(claims_of):
    (inside,) = claims_of(
        "The South Korean defence minister said 900 containers were sent.", published="2024-03-04"
    )
    (outside,) = claims_of(
        "The South Korean defence minister said 900 containers were sent.", published="2025-03-04"
    )
    assert (inside.asserted_by_id, outside.asserted_by_id) == ("shin-won-sik", "kr-defence-minister")


def test_source_chain_outlet_citing_analyst(claims_of, only):
    claim = only(claims_of("ذكرت وكالة بلومبرغ، نقلاً عن موقع 38 North، أن 80 عربة شوهدت في تومانغانغ."))
    assert (claim.asserted_by_id, claim.via_ids, claim.place_id) == ("38-north", ("bloomberg",), "tumangang")


def test_english_citing_chain(claims_of, only):
    claim = only(claims_of("Reuters, citing Yonhap, reported that 40 trains crossed at Khasan."))
    assert (claim.asserted_by_id, claim.via_ids, claim.place_id) == ("yonhap", ("reuters",), "khasan")


def test_fuzzy_place_spelling(claims_of, only):
    assert only(claims_of("شوهدت 30 عربة في محطة تومانجانغ.")).place_id == "tumangang"


def test_denial_with_coordinated_actors_and_topic(lex):
    extraction = extract_text(
        "أرسلت 200 صاروخ.\nوقد نفت كل من موسكو وبيونغ يانغ وجود صفقة أسلحة بين البلدين.", lex=lex
    )
    (denial,) = extraction.denials
    assert denial.by_ids == ("russia", "north-korea")
    assert "صفقة أسلحة" in denial.topic and "missiles" in denial.items
    assert denial.claim_ids == tuple(c.claim_id for c in extraction.claims)


def test_relative_denial_takes_the_previous_clause(lex):
    extraction = extract_text("اتهمت كوريا الشمالية سول بإرسال مسيرات فوق عاصمتها، وهو ما نفته سول.", lex=lex)
    (denial,) = extraction.denials
    assert denial.by_ids == ("south-korea",) and "مسيرات" in denial.topic and denial.items == ("drones",)


def test_english_denial(lex):
    (denial,) = extract_text("Moscow denied any arms deal with Pyongyang.", lex=lex).denials
    assert denial.by_ids == ("russia",) and "missiles" in denial.items


def test_gold_names_resolve_through_the_alias_table(lex):
    assert lex.resolve_name("South Korean defence minister Shin Won-sik") == "shin-won-sik"
    assert lex.resolve_name("CSIS Beyond Parallel") == "csis-beyond-parallel"
    assert lex.resolve_name("South Korean Joint Chiefs of Staff") == "kr-jcs"
    assert lex.resolve_name("us") is None  # acronyms match case: "us" is a pronoun
