"""The demo end to end on a short window: simulate, scan, detect, store, claims, reports — and
the reports opened in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from railwatch.cli import main
from railwatch.store import open_store

from .browser import chromium_path, visit
from .storedata import ARTIFACTS, HOSTILE


@pytest.mark.slow
def test_demo_short_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "report.txt").write_text(
        f"Border rail traffic {HOSTILE}\n\nPublished 6 October 2023.\n\nOn 5 October 2023, CSIS "
        f"Beyond Parallel said about 73 freight cars stood in the Tumangang yard {HOSTILE}, where the "
        "previous five years had shown approximately 20 at most. The analysts said the trains "
        "were moving across the Friendship Bridge towards Khasan in Russia.\n",
        encoding="utf-8")
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--start", "2023-09-01", "--end", "2023-10-31",
                 "--articles", str(articles)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"English report: {out / 'report-en.html'}" in printed.out
    assert f"Arabic report:  {out / 'report-ar.html'}" in printed.out
    with open_store(out / "railwatch.sqlite") as store:
        scenes = store.scenes("tumangang")
        assert len(scenes) == len(list((out / "catalog").glob("S2*/S2*.json"))) >= 10
        assert all(s.simulated for s in scenes)
        ok = {s.scene_id for s in scenes if s.status == "ok"}
        assert ok and ok <= {o.scene_id for o in store.observations("tumangang")}
        assert store.articles(status="ok")
    english = (out / "report-en.html").read_text(encoding="utf-8")
    assert "SIMULATED DATA" in english and "What was claimed" in english
    assert "&lt;script&gt;" in english and "<script>window" not in english
    if chromium_path() is None:
        pytest.skip("Chromium is not installed: the reports were written but not opened")
    for lang in ("en", "ar"):
        page = out / f"report-{lang}.html"
        seen = visit(page, screenshot=ARTIFACTS / f"demo-{lang}.png")
        assert seen.console_errors == []
        assert [r for r in seen.requests if not r.startswith("data:")] == [page.resolve().as_uri()]
        assert seen.facts["charts_drawn"] == 2 and seen.facts["pwned"] is False
        assert seen.facts["images_drawn"] == seen.facts["images"]
        assert seen.facts["computed_direction"] == ("rtl" if lang == "ar" else "ltr")
    # Running it again resumes: nothing is scanned twice, the reports are rewritten.
    assert main(["demo", "--out", str(out), "--start", "2023-09-01", "--end", "2023-10-31"]) == 0
    with open_store(out / "railwatch.sqlite") as store:
        assert len(store.scenes("tumangang")) == len(scenes)
