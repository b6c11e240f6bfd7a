"""Scoring against gold files: one function for the tests' floors and the bench's table.

A gold file is JSON Lines, one document per line: ``{"doc": "...", "claims": [{"value": 7000,
"qualifier": "about", "item": "containers", "asserted_by": "..."}], "traps": ["..."]}``.  It is
validated on load (a malformed line is an :class:`InputFileError` naming the line).  A claim
matches gold on (item, value, qualifier); ``asserted_by`` is compared through the alias table's
ids, not as strings.  A *trap* is an extraction of a number the gold file warns about (every
number written in its ``traps`` notes that is not itself a gold value) or a second claim for a
gold figure (the same figure counted twice).  An extractor crash counts every claim of that
document as missed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from railwatch.claims.lexicon import Lexicon
from railwatch.claims.model import QUALIFIERS
from railwatch.errors import InputFileError

__all__ = ["GoldClaim", "GoldDoc", "Prediction", "Score", "load_gold", "predictions_by_doc", "score"]


@dataclass(frozen=True)
class GoldClaim:
    item: str
    value: float
    qualifier: str
    asserted_by: str | None
    per: str | None = None
    delta: bool = False


@dataclass(frozen=True)
class GoldDoc:
    doc: str
    claims: tuple[GoldClaim, ...]
    trap_values: frozenset[float]


@dataclass(frozen=True)
class Prediction:
    item: str | None
    value: float
    qualifier: str | None
    asserted_by_id: str | None = None


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int
    actor_correct: int
    traps: int
    crashes: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def actor_accuracy(self) -> float:
        return self.actor_correct / self.true_positives if self.true_positives else 0.0


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def load_gold(path: Path, lex: Lexicon) -> list[GoldDoc]:
    """Read and validate a gold file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: cannot read the gold file ({err})", hint="check the path") from err
    docs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(f"{where}: not JSON ({err.msg})", hint="one JSON object per line") from err
        docs.append(_gold_doc(raw, where, lex))
    if not docs:
        raise InputFileError(f"{path}: no gold documents", hint="one JSON object per line")
    return docs


def _gold_doc(raw: Any, where: str, lex: Lexicon) -> GoldDoc:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("doc"), str)
        or not isinstance(raw.get("claims"), list)
    ):
        raise InputFileError(
            f"{where}: needs a string 'doc' and a list 'claims'", hint="see railwatch.claims.evaluate"
        )
    claims = []
    for index, claim in enumerate(raw["claims"]):
        here = f"{where} claim {index + 1}"
        if (
            not isinstance(claim, dict)
            or not isinstance(claim.get("value"), int | float)
            or isinstance(claim.get("value"), bool)
        ):
            raise InputFileError(f"{here}: needs a numeric 'value'", hint="fix the gold file")
        if claim.get("qualifier") not in QUALIFIERS:
            raise InputFileError(
                f"{here}: qualifier {claim.get('qualifier')!r} is not one of {QUALIFIERS}",
                hint="fix the gold file",
            )
        if claim.get("item") not in lex.item_ids:
            raise InputFileError(
                f"{here}: item {claim.get('item')!r} is not in the taxonomy", hint="fix the gold file"
            )
        actor = claim.get("asserted_by")
        if actor is not None and lex.resolve_name(actor) is None:
            raise InputFileError(
                f"{here}: asserted_by {actor!r} is not in the alias tables",
                hint="add the actor to actors.toml or fix the name",
            )
        claims.append(
            GoldClaim(
                claim["item"],
                float(claim["value"]),
                claim["qualifier"],
                actor,
                claim.get("per"),
                bool(claim.get("delta", False)),
            )
        )
    notes = raw.get("traps", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise InputFileError(f"{where}: 'traps' must be a list of strings", hint="fix the gold file")
    gold_values = {c.value for c in claims}
    trap_values = {float(m.replace(",", "")) for note in notes for m in _NUMBER.findall(note)} - gold_values
    return GoldDoc(raw["doc"], tuple(claims), frozenset(trap_values))


def score(
    gold: Sequence[GoldDoc],
    predict: Callable[[str], Sequence[Prediction]],
    lex: Lexicon,
    *,
    match_on_value_only: bool = False,
) -> Score:
    """Score ``predict`` (doc name -> predictions) on the gold documents."""
    tp = fp = fn = actors = traps = crashes = 0
    for doc in gold:
        try:
            predictions = list(predict(doc.doc))
        except Exception:  # noqa: BLE001 - a crash is scored as missing every claim
            crashes += 1
            fn += len(doc.claims)
            continue
        unmatched = list(doc.claims)
        matched: list[GoldClaim] = []
        for prediction in predictions:
            hit = next((g for g in unmatched if _matches(g, prediction, match_on_value_only)), None)
            if hit is not None:
                unmatched.remove(hit)
                matched.append(hit)
                tp += 1
                if (
                    not match_on_value_only
                    and lex.resolve_name(hit.asserted_by or "") == prediction.asserted_by_id
                ):
                    actors += 1
                continue
            fp += 1
            repeated = any(_matches(g, prediction, match_on_value_only) for g in matched)
            if repeated or prediction.value in doc.trap_values:
                traps += 1
        fn += len(unmatched)
    return Score(tp, fp, fn, actors, traps, crashes)


def _matches(gold: GoldClaim, prediction: Prediction, value_only: bool) -> bool:
    if abs(gold.value - prediction.value) > 1e-6 * max(1.0, gold.value):
        return False
    return value_only or (gold.item == prediction.item and gold.qualifier == prediction.qualifier)


def predictions_by_doc(claims_by_doc: Mapping[str, Sequence[Any]]) -> Callable[[str], list[Prediction]]:
    """Adapt extracted claims (anything with item/value/qualifier/asserted_by_id) to ``score``."""

    def predict(doc: str) -> list[Prediction]:
        return [Prediction(c.item, c.value, c.qualifier, c.asserted_by_id) for c in claims_by_doc[doc]]

    return predict
