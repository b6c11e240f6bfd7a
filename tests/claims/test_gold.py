"""Floors on the real seed articles (gold: corpus/gold/seeds.jsonl) and the gold loader."""

from __future__ import annotations

import json

import pytest

from railwatch.claims import expand_inputs, extract_article, read_source
from railwatch.claims.evaluate import load_gold, predictions_by_doc, score
from railwatch.errors import InputFileError


@pytest.fixture(scope="module")
def seeds(request):
    shared = request.getfixturevalue("shared_dir")
    return shared


def _extract_seeds(shared, lex):
    sources = expand_inputs([str(shared / "corpus" / "seeds")])
    return {s.name: extract_article(read_source(s, lex), lex) for s in sources}


def test_every_gold_claim_found_and_no_trap(shared_dir, lex):
    gold = load_gold(shared_dir / "corpus" / "gold" / "seeds.jsonl", lex)
    extractions = _extract_seeds(shared_dir, lex)
    assert all(e.article.status == "ok" for e in extractions.values())
    result = score(gold, predictions_by_doc({d: e.claims for d, e in extractions.items()}), lex)
    assert result.crashes == 0
    assert result.false_negatives == 0, "a gold claim was missed"
    assert result.traps == 0, "a trap number was extracted"
    assert result.precision >= 0.9
    assert result.actor_accuracy >= 0.9


def test_each_gold_claim_with_its_item_value_and_actor(shared_dir, lex):
    gold = load_gold(shared_dir / "corpus" / "gold" / "seeds.jsonl", lex)
    extractions = _extract_seeds(shared_dir, lex)
    for doc in gold:
        found = {(c.item, c.value): c for c in extractions[doc.doc].claims}
        for claim in doc.claims:
            assert (claim.item, claim.value) in found, (doc.doc, claim)
            extracted = found[(claim.item, claim.value)]
            assert extracted.per == claim.per and extracted.delta == claim.delta, (doc.doc, claim)


def test_seed_denials_and_publication_dates(shared_dir, lex):
    extractions = _extract_seeds(shared_dir, lex)
    arms = extractions["002_5e54b4b3d5a2e7fd.txt"].denials
    assert any(set(d.by_ids) == {"russia", "north-korea"} and "containers" in d.items for d in arms)
    assert any(d.by_ids == ("russia",) for d in extractions["001_30faa5a6c006aab4.txt"].denials)
    assert extractions["000_48fc4618c90f807c.txt"].article.published == "2022-11-05"
    assert extractions["004_b164f27a6da00b7c.txt"].article.published == "2023-09-11"


def test_a_crash_counts_as_a_miss(shared_dir, lex):
    gold = load_gold(shared_dir / "corpus" / "gold" / "seeds.jsonl", lex)

    def crash(doc):
        raise RuntimeError("boom")

    result = score(gold, crash, lex)
    assert (result.crashes, result.true_positives, result.false_negatives) == (5, 0, 12)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"doc": "x"}', "needs a string 'doc'"),
        ('{"doc": "x", "claims": [{"value": "7", "qualifier": "about", "item": "containers"}]}', "numeric"),
        ('{"doc": "x", "claims": [{"value": 7, "qualifier": "roughly", "item": "containers"}]}', "qualifier"),
        ('{"doc": "x", "claims": [{"value": 7, "qualifier": "about", "item": "tanks"}]}', "taxonomy"),
        (
            '{"doc": "x", "claims": [{"value": 7, "qualifier": "about", "item": "containers", '
            '"asserted_by": "Nobody Known"}]}',
            "alias tables",
        ),
    ],
)
def test_gold_files_are_validated_on_load(tmp_path, lex, line, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        load_gold(path, lex)


def test_trap_values_come_from_the_notes(tmp_path, lex):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        json.dumps(
            {
                "doc": "d",
                "claims": [{"value": 7000, "qualifier": "about", "item": "containers"}],
                "traps": ["170 mm is a calibre", "7,000 appears twice"],
            }
        ),
        encoding="utf-8",
    )
    (doc,) = load_gold(path, lex)
    assert doc.trap_values == {170.0}
