"""The CLI over a real SQLite store: ingest is idempotent and transactional, list/timeline read it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from railwatch.claims import claims_from_store, extract_text, store_extraction
from railwatch.cli import cli, main
from railwatch.store import open_store

AR = (
    "تم النشر: 2023/11/20\n"
    "وأعلنت الولايات المتحدة في منتصف أكتوبر أن كوريا الشمالية سلمت أكثر من ألف حاوية إلى روسيا.\n"
    "وقالت هيئة الأركان المشتركة الكورية الجنوبية إن نحو 11 ألف جندي أرسلوا.\n"
)
EN = (
    "Published: 5 March 2024\nSouth Korea's defence minister Shin Won-sik said on Monday that about 7,000 "
    "containers had been shipped to Russia.\nMoscow denied any arms deal.\n"
)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "ar.txt").write_text(AR, encoding="utf-8")
    (folder / "en.txt").write_text(EN, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.bin").write_bytes(b"\x00\x01\x02" * 100)
    return folder


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    return result


def test_ingest_is_idempotent_and_records_every_file(corpus, db_path):
    first = run("claims", "ingest", str(corpus), "--db", str(db_path), "--json")
    summary = json.loads(first.output)
    assert summary["articles_added"] == 4 and summary["claims_added"] == 3
    assert summary["statuses"] == {"decode_failed": 1, "no_text": 1, "ok": 2}
    second = json.loads(run("claims", "ingest", str(corpus), "--db", str(db_path), "--json").output)
    assert (second["articles_added"], second["already_stored"], second["claims_added"]) == (0, 4, 0)
    with open_store(db_path) as store:
        assert store.article_status_counts() == {"decode_failed": 1, "no_text": 1, "ok": 2}
        stored = claims_from_store(store)
    assert sorted((c.item, c.value, c.qualifier) for c in stored) == [
        ("containers", 1000, "more_than"),
        ("containers", 7000, "about"),
        ("troops", 11000, "about"),
    ]
    shin = next(c for c in stored if c.value == 7000)
    assert (shin.asserted_by_id, shin.event_date, shin.published, shin.language) == (
        "shin-won-sik",
        "2024-03-04",
        "2024-03-05",
        "en",
    )
    us = next(c for c in stored if c.value == 1000)
    assert (us.asserted_by_id, us.event_date, us.event_date_precision) == (
        "united-states",
        "2023-10",
        "month",
    )


def test_ingest_of_an_article_is_all_or_nothing(db_path, lex, monkeypatch):
    extraction = extract_text(AR, doc="ar.txt", lex=lex)
    with open_store(db_path) as store:
        calls = {"n": 0}

        class Boom(Exception):
            pass

        def failing(*args, **kwargs):
            calls["n"] += 1
            raise Boom("disk full")

        monkeypatch.setattr(store, "_db", _Proxy(store._db, executemany=failing))
        with pytest.raises(Boom):
            store_extraction(store, extraction)
        monkeypatch.undo()
        assert store.articles() == [] and store.claim_rows() == []
        assert calls["n"] == 1
        assert store_extraction(store, extraction) is True
        assert len(store.claim_rows()) == 2


class _Proxy:
    """A connection that fails on one method, to interrupt an ingest half-way."""

    def __init__(self, inner, **overrides):
        self._inner = inner
        self._overrides = overrides

    def __getattr__(self, name):
        return self._overrides.get(name) or getattr(self._inner, name)


def test_list_and_timeline(corpus, db_path):
    run("claims", "ingest", str(corpus), "--db", str(db_path))
    listed = [
        json.loads(line)
        for line in run(
            "claims", "list", "--item", "containers", "--db", str(db_path), "--json"
        ).output.splitlines()
        if line.startswith("{")
    ]
    assert {c["value"] for c in listed} == {1000, 7000}
    assert {
        "doc",
        "value",
        "low",
        "high",
        "qualifier",
        "item",
        "per",
        "delta",
        "asserted_by",
        "via",
        "place",
        "event_date",
        "published",
        "quote",
        "start",
        "end",
    } <= set(listed[0])
    points = [
        json.loads(line)
        for line in run(
            "claims", "timeline", "--item", "containers", "--db", str(db_path), "--json"
        ).output.splitlines()
        if line.startswith("{")
    ]
    assert [(p["figure"], p["change"]) for p in points] == [
        ("more than 1,000", "first"),
        ("about 7,000", "up"),
    ]
    assert "Russia" in points[0]["denied_by"]
    table = run("claims", "timeline", "--db", str(db_path)).output
    assert "about 7,000" in table and "troops" in table


def test_extract_prints_json_lines_and_stores_nothing(corpus, db_path):
    result = run("claims", "extract", str(corpus / "en.txt"), "--json")
    (line,) = [row for row in result.output.splitlines() if row.startswith("{")]
    claim = json.loads(line)
    assert (claim["item"], claim["value"], claim["asserted_by_id"]) == ("containers", 7000, "shin-won-sik")
    assert not db_path.exists()


def test_user_errors_exit_2(tmp_path, capsys):
    assert main(["claims", "extract", str(tmp_path / "nope.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["claims", "list", "--item", "tanks", "--db", str(tmp_path / "s.sqlite")]) == 2
    assert "not an item" in capsys.readouterr().err


def test_many_files_with_bad_ones_never_crash(tmp_path, db_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(300):
        (folder / f"{n:04d}.txt").write_bytes(
            EN.replace("7,000", f"{7000 + n:,}").encode() if n % 3 else b"\xff\xfe\x00"
        )
    result = json.loads(run("claims", "ingest", str(folder), "--db", str(db_path), "--json").output)
    assert result["inputs"] == 300 and sum(result["statuses"].values()) == 300
    assert result["statuses"]["ok"] == 200


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/article":
            body = (
                "<html><body><article><p>" + EN.replace("\n", "</p><p>") + "</p></article></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body = b"gone"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_urls_are_fetched_from_a_real_server(db_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        summary = json.loads(
            run(
                "claims", "ingest", f"{base}/article", f"{base}/missing", "--db", str(db_path), "--json"
            ).output
        )
    finally:
        server.shutdown()
    assert summary["statuses"] == {"fetch_failed": 1, "ok": 1} and summary["claims_added"] == 1
