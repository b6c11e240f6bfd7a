"""Accuracy and speed of the claims pipeline.

    .venv/bin/python bench/claims_bench.py [--shared ../shared] [--articles 300]

Accuracy: precision, recall and F1 on (item, value, qualifier) against the gold file
``corpus/gold/seeds.jsonl``, the accuracy of ``asserted_by`` on matched claims, and the count of
trap extractions, beside the trivial baseline "every number is a claim" (matched on value alone,
which favours the baseline).  Speed: ~1,000-word articles synthesised in memory from the seed
paragraphs (shuffled, with their numbers perturbed), read from bytes and extracted on one core.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import trafilatura

from railwatch.claims import Source, extract_article, load_lexicon
from railwatch.claims.evaluate import Prediction, load_gold, predictions_by_doc, score
from railwatch.claims.quantities import find_quantities
from railwatch.claims.read import article_from_bytes, expand_inputs, read_source
from railwatch.claims.tokens import tokenize

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared"


def accuracy(shared: Path) -> None:
    lex = load_lexicon()
    gold = load_gold(shared / "corpus" / "gold" / "seeds.jsonl", lex)
    seeds = {s.name: s for s in expand_inputs([str(shared / "corpus" / "seeds")])}
    extracted = {
        name: extract_article(read_source(source, lex), lex).claims for name, source in seeds.items()
    }
    ours = score(gold, predictions_by_doc(extracted), lex)

    def every_number(doc: str) -> list[Prediction]:
        text = seeds[doc].path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        return [Prediction(None, q.value, None) for q in find_quantities(tokenize(text), lex)]

    baseline = score(gold, every_number, lex, match_on_value_only=True)
    gold_claims = sum(len(d.claims) for d in gold)
    print(f"gold: {len(gold)} documents, {gold_claims} claims ({shared / 'corpus/gold/seeds.jsonl'})\n")
    header = ("system", "found", "P", "R", "F1", "asserted_by", "traps", "crashes")
    widths = (36, 5, 5, 5, 5, 11, 5, 7)
    cells = [
        f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, widths, strict=True))
    ]
    print("| " + " | ".join(cells) + " |")
    print(f"|{'-' * 38}|{'-' * 7}|{'-' * 7}|{'-' * 7}|{'-' * 7}|{'-' * 13}|{'-' * 7}|{'-' * 9}|")
    for name, result in (("railwatch claims", ours), ("baseline: every number (value only)", baseline)):
        found = result.true_positives + result.false_positives
        actor = f"{result.actor_accuracy:.2f}" if name.startswith("railwatch") else "n/a"
        print(
            f"| {name:<36} | {found:>5} | {result.precision:>5.2f} | {result.recall:>5.2f} "
            f"| {result.f1:>5.2f} | {actor:>11} | {result.traps:>5} | {result.crashes:>7} |"
        )
    print()


def synthetic_articles(shared: Path, count: int, words: int, seed: int = 7) -> list[bytes]:
    paragraphs = []
    for path in sorted((shared / "corpus" / "seeds").iterdir()):
        paragraphs += [p.strip() for p in path.read_text(encoding="utf-8").split("\n") if len(p.split()) > 5]
    rng = random.Random(seed)

    def perturb(paragraph: str) -> str:
        return re.sub(r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(-3, 3))), paragraph)

    articles = []
    for _ in range(count):
        body, size = [], 0
        while size < words:
            paragraph = perturb(rng.choice(paragraphs))
            body.append(paragraph)
            size += len(paragraph.split())
        articles.append("\n\n".join(body).encode("utf-8"))
    return articles


def throughput(shared: Path, count: int) -> None:
    lex = load_lexicon()
    articles = synthetic_articles(shared, count, 1000)
    words = sum(len(a.decode().split()) for a in articles) / len(articles)
    source = Source("synthetic.txt", "synthetic.txt")
    extract_article(article_from_bytes(articles[0], source, lex, html=False), lex)  # warm caches

    def run(documents: list[bytes], html: bool) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.process_time()
        found = sum(
            len(extract_article(article_from_bytes(raw, source, lex, html=html), lex).claims)
            for raw in documents
        )
        return (
            len(documents) / (time.perf_counter() - wall),
            len(documents) / (time.process_time() - cpu),
            found,
        )

    text_wall, text_cpu, claims = run(articles, False)
    html_docs = [
        b"<html><head><title>t</title></head><body><article>"
        + b"".join(b"<p>" + p.encode() + b"</p>" for p in a.decode().split("\n\n"))
        + b"</article></body></html>"
        for a in articles[: max(20, count // 5)]
    ]
    html_wall, html_cpu, _ = run(html_docs, True)
    print(
        f"| {'throughput (one process, one core)':<40} | {'articles':>8} | {'words/article':>13} "
        f"| {'articles/CPU-s':>14} | {'articles/wall-s':>15} |"
    )
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 15}|{'-' * 16}|{'-' * 17}|")
    name = ".txt bytes -> claims"
    print(f"| {name:<40} | {len(articles):>8} | {words:>13.0f} | {text_cpu:>14.1f} | {text_wall:>15.1f} |")
    print(
        f"| {'.html bytes -> trafilatura -> claims':<40} | {len(html_docs):>8} | {words:>13.0f} "
        f"| {html_cpu:>14.1f} | {html_wall:>15.1f} |"
    )
    print(
        f"\n{claims} claims from the synthetic text articles; trafilatura {trafilatura.__version__}; "
        "wall-clock rates drop when other processes share the core"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--articles", type=int, default=300)
    args = parser.parse_args()
    if not (args.shared / "corpus" / "gold" / "seeds.jsonl").is_file():
        print(f"no gold file under {args.shared}: pass --shared", file=sys.stderr)
        return 2
    accuracy(args.shared)
    throughput(args.shared, args.articles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
