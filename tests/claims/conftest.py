"""Helpers for the claims tests: extract from a sentence and look claims up."""

from __future__ import annotations

import pytest

from railwatch.claims import Claim, extract_text, load_lexicon


@pytest.fixture(scope="session")
def lex():
    return load_lexicon()


@pytest.fixture
def claims_of(lex):
    def run(text: str, published: str | None = None) -> list[Claim]:
        return list(extract_text(text, published=published, lex=lex).claims)

    return run


@pytest.fixture
def only():
    """The one claim of a list (fails showing what was found otherwise)."""

    def pick(claims: list[Claim]) -> Claim:
        assert len(claims) == 1, [(c.item, c.value, c.qualifier) for c in claims]
        return claims[0]

    return pick
