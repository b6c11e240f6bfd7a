"""Inputs: encodings, HTML, languages and bad files each end with a status, never a crash."""

from __future__ import annotations

import os

import pytest

from railwatch.claims import expand_inputs, read_source
from railwatch.claims.read import MAX_BYTES, decode, detect_language
from railwatch.errors import InputFileError

ARABIC = "أعلنت كوريا الجنوبية أن بيونغ يانغ أرسلت نحو 7 آلاف حاوية إلى روسيا.\n"


def read(path, lex):
    (source,) = expand_inputs([str(path)])
    return read_source(source, lex)


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (ARABIC.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + ARABIC.encode("utf-8"), "utf-8"),
        (ARABIC.encode("utf-16"), "utf-16"),
        (ARABIC.encode("utf-16-le"), "utf-16-le"),
        (ARABIC.encode("cp1256"), "windows-1256"),
    ],
)
def test_encodings_decode_to_the_same_article(tmp_path, lex, encoded, encoding):
    path = tmp_path / "a.txt"
    path.write_bytes(encoded)
    article = read(path, lex)
    assert (article.status, article.language, article.metadata["encoding"]) == ("ok", "ar", encoding)
    assert article.text == ARABIC.strip()
    reference = tmp_path / "b.txt"
    reference.write_text(ARABIC, encoding="utf-8")
    assert article.doc_id == read(reference, lex).doc_id  # the content hash ignores the encoding


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"", "no_text"),
        (b"   \n\t  \n", "no_text"),
        (bytes(range(256)) * 40, "decode_failed"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "decode_failed"),
        ("Гибридная война продолжается, поезда идут на восток каждый день.".encode(), "unsupported_language"),
        ("북한은 러시아에 컨테이너 7천 개를 보냈다고 국방부가 밝혔다.".encode(), "unsupported_language"),
        ("Die Züge fahren jeden Tag über die Grenze nach Osten.".encode(), "unsupported_language"),
        ("؟؟؟ ☃☃☃ ЖЖЖ ♫♫ qqq zzz ￼￼ ✈✈✈ ".encode() * 30, "unsupported_language"),
    ],
)
def test_bad_inputs_get_a_status(tmp_path, lex, payload, status):
    path = tmp_path / "x.txt"
    path.write_bytes(payload)
    article = read(path, lex)
    assert article.status == status
    assert article.reason


def test_oversized_file_is_not_read(tmp_path, lex):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.seek(MAX_BYTES + 1)
        handle.write(b"x")
    article = read(path, lex)
    assert article.status == "too_large" and article.text == ""


def test_html_main_text_title_and_date(tmp_path, lex):
    html = (
        '<html lang="ar" dir="rtl"><head><title>عنوان</title>'
        '<meta property="article:published_time" content="2024-03-04T10:00:00Z">'
        + "<script>var counter = 7000; document.write('1000 containers');</script>"
        * 50
        + "</head><body><nav>الرئيسية اتصل بنا</nav><article><h1>عنوان الخبر</h1>"
        "<p>قال وزير الدفاع الكوري الجنوبي إن نحو 7 آلاف حاوية نقلت إلى روسيا حتى الآن "
        "عبر البحر والسكك الحديدية.</p>"
        "</article></body></html>"
    )
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    article = read(path, lex)
    assert (article.status, article.published, article.language) == ("ok", "2024-03-04", "ar")
    assert "7 آلاف حاوية" in article.text and "document.write" not in article.text


def test_html_of_scripts_only_has_no_text(tmp_path, lex):
    path = tmp_path / "scripts.html"
    path.write_text("<html><body>" + "<script>var x = 1;</script>" * 500 + "</body></html>", encoding="utf-8")
    assert read(path, lex).status == "no_text"


def test_language_by_script_per_paragraph():
    assert detect_language("Bloomberg, citing 38 North, said that the train crossed.")[0] == "en"
    language, shares = detect_language(ARABIC + "JUST IN: the leader has departed for Russia, YTN said.\n")
    assert language == "ar" and set(shares) == {"ar", "en"}
    assert detect_language("این یک متن فارسی است که درباره قطارها نوشته شده")[0] == "fa"


def test_missing_path_is_a_user_error(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.txt")])


def test_directory_walk_skips_hidden_and_keeps_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("b/2.txt", "a.txt", ".hidden.txt", ".git/x.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [s.name for s in expand_inputs([str(tmp_path)])] == ["a.txt", "2.txt"]


def test_decode_reports_why():
    assert decode(b"\x00\x01\x02binary") == (None, "binary content (NUL bytes)")
