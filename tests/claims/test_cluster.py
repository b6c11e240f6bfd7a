"""Deduplication across articles and languages, and the timeline's change points."""

from __future__ import annotations

from railwatch.claims import cluster_claims, extract_text, figure_text, timeline


def test_same_figure_same_actor_across_languages_is_one_cluster(lex):
    arabic = extract_text(
        "وقال وزير الدفاع الكوري الجنوبي شين وون سيك إن نحو 7 آلاف حاوية أرسلت.", doc="ar", lex=lex
    )
    english = extract_text("Shin Won-sik said about 7,000 containers were sent.", doc="en", lex=lex)
    other_actor = extract_text("The United States said about 7,000 containers were sent.", doc="us", lex=lex)
    claims = [*arabic.claims, *english.claims, *other_actor.claims]
    clusters = cluster_claims(claims, lex)
    assert len(clusters) == 2
    shared = next(c for c in clusters if c.asserted_by_id == "shin-won-sik")
    assert shared.docs == ("ar", "en") and set(shared.languages) == {"ar", "en"}


def test_actors_on_one_chain_merge_to_the_most_specific(lex):
    text = (
        "كوريا الجنوبية: بيونغ يانغ أرسلت 3 آلاف جندي إضافي\n"
        "وقالت هيئة الأركان المشتركة الكورية الجنوبية إنه تم إرسال نحو 3 آلاف جندي إضافي."
    )
    (claim,) = extract_text(text, lex=lex).claims
    assert (claim.asserted_by_id, claim.qualifier, len(claim.mentions)) == ("kr-jcs", "about", 2)


def test_different_actors_do_not_merge_within_an_article(lex):
    text = "أعلنت الولايات المتحدة أن 500 حاوية نقلت.\nوأعلنت اليابان أن 500 حاوية نقلت."
    claims = extract_text(text, lex=lex).claims
    assert sorted(c.asserted_by_id for c in claims) == ["japan", "united-states"]


def test_timeline_orders_by_date_and_marks_changes(lex):
    early = extract_text(
        "The United States said more than 1,000 containers were sent in October 2023.", doc="a", lex=lex
    )
    late = extract_text("Shin Won-sik said about 7,000 containers were sent in March 2024.", doc="b", lex=lex)
    repeat = extract_text(
        "Shin Won-sik said about 7,000 containers were sent in March 2024.", doc="c", lex=lex
    )
    points = timeline([*late.claims, *repeat.claims, *early.claims], [], lex, item="containers")
    assert [(p.date, p.figure, p.change, p.sources) for p in points] == [
        ("2023-10", "more than 1,000", "first", 1),
        ("2024-03", "about 7,000", "up", 2),
    ]


def test_figure_text():
    assert figure_text(11000, "range", 12000) == "11,000-12,000"
    assert figure_text(60000, "about", per="day") == "about 60,000 a day"
    assert figure_text(3000, "exact", delta=True) == "+3,000"
