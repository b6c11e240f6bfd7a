"""The HTML report: headline from the data, self-contained, Arabic, escaped, chips, provenance."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.textpath import TextToPath

from railwatch.errors import UserInputError
from railwatch.report import ReportRequest, published_counts, render_report, write_report
from railwatch.report.charts import SIMULATED_GID
from railwatch.sites import catalogue, site_to_geojson
from railwatch.store import Store, open_store
from railwatch.timeseries import Period, build_series

from .storedata import (
    HOSTILE,
    SITE_ID,
    SURGE_FROM,
    SyntheticScenes,
    fill_store,
    ingest_hostile_article,
    tumangang,
)

WHEN = datetime(2024, 1, 2, 3, 4, tzinfo=UTC)


def _render(store: Store, lang: str = "en", **options) -> str:
    return render_report(store, ReportRequest(site=tumangang(), lang=lang, generated=WHEN,
                                              **options))


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _headline(html: str) -> str:
    match = re.search(r'<p class="headline">(.*?)</p>', html, re.S)
    assert match, "the report has no headline"
    return " ".join(_text(match.group(1)).split())


def test_headline_states_the_peak_and_the_baseline_from_the_data(filled_store: Store) -> None:
    series = build_series(filled_store, SITE_ID)
    peak = max(series.anomalies, key=lambda a: a.car_equivalents)
    headline = _headline(_render(filled_store))
    day = peak.when.date()
    assert f"On {day.day} " in headline and str(day.year) in headline
    assert f"counted {round(peak.car_equivalents)} car-equivalents" in headline
    assert f"interval {round(peak.low)}–{round(peak.high)}" in headline
    assert f"baseline maximum of {round(series.baseline.maximum)}" in headline
    towards_ru = sum(1 for p in series.passes if p.day >= SURGE_FROM
                     for t in p.moving_trains if t.direction == "towards RU")
    assert f"{towards_ru} towards Russia" in headline


def test_headline_without_anomalies_says_so(filled_store: Store) -> None:
    quiet = _render(filled_store, period=Period(date(2023, 1, 1), date(2023, 8, 31)))
    headline = _headline(quiet)
    assert "no pass after the baseline" in headline and "above" not in headline
    clear = build_series(filled_store, SITE_ID, period=Period(date(2023, 1, 1),
                                                                date(2023, 8, 31))).clear_passes
    assert f"Across {len(clear)} clear passes" in headline


def test_report_is_self_contained_and_has_every_section(filled_store: Store) -> None:
    html = _render(filled_store)
    assert html.startswith("<!doctype html>")
    for attribute in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attribute.startswith("data:"), attribute
    assert "<script" not in html.lower()
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html
    series = build_series(filled_store, SITE_ID)
    for p in series.passes:
        assert p.scene_id in html  # every pass is in the table, with its status
    assert html.count('class="chart"') == 2
    assert "CSIS Beyond Parallel" in html and "38 North" in html
    assert "HTTP 500 after 4 retries" in html
    assert "railwatch-detect 1.0.0" in html and "05.09" in html


def test_arabic_report_is_rtl_with_eastern_digits(filled_store: Store) -> None:
    html = _render(filled_store, lang="ar")
    assert '<html lang="ar" dir="rtl">' in html
    headline = _headline(html)
    assert not re.search(r"[0-9]", headline), headline
    assert re.search(r"[٠-٩]", headline)
    assert "مكافئ عربة" in headline and "روسيا" in headline
    series = build_series(filled_store, SITE_ID)
    maximum = str(round(series.baseline.maximum)).translate(str.maketrans("0123456789",
                                                                          "٠١٢٣٤٥٦٧٨٩"))
    assert f"<bdi>{maximum}</bdi>" in html  # numbers isolated inside Arabic text
    assert "Car-equivalents" not in html and "Every pass" not in html


def test_matplotlib_shapes_and_orders_arabic_itself() -> None:
    """Positional forms and right-to-left order come from matplotlib (libraqm): the report
    must not reshape Arabic again."""
    font = get_font(findfont(FontProperties(family="DejaVu Sans")))
    font.set_size(12, 72)
    converter = TextToPath()

    def glyphs(text: str) -> list[str]:
        info, _, _ = converter.get_glyphs_with_font(font, text)
        return [glyph for glyph, _x, *_ in sorted(info, key=lambda g: g[1])]

    isolated = glyphs("ب")[0]
    three = glyphs("ببب")
    assert len(set(three)) == 3 and isolated not in three  # final, medial, initial forms
    # In "با" the beh comes first in reading order, so it must be drawn rightmost, in its
    # initial form: the same glyph as the rightmost of "ببب".
    assert glyphs("با")[-1] == three[-1]


def test_external_text_is_escaped(tmp_path: Path) -> None:
    with open_store(tmp_path / "hostile.sqlite") as store:
        site = tumangang()
        document = site_to_geojson(site)
        document["site"]["id"] = "hostile-yard"
        document["site"]["names"] = {"en": "Yard " + HOSTILE, "ar": "ساحة " + HOSTILE}
        store.put_site("hostile-yard", document, origin="user file")
        fill_store(store, "hostile-yard")
        ingest_hostile_article(store, tmp_path)
        hostile = catalogue(store.user_sites())["hostile-yard"]
        for lang in ("en", "ar"):
            html = render_report(store, ReportRequest(site=hostile, lang=lang))
            assert "<script>window" not in html and "<img src=x" not in html
            assert "&lt;script&gt;window.__pwned=true&lt;/script&gt;" in html
            assert "What was claimed" in html or "ما قيل" in html


def test_chips_from_scenes_and_a_reason_when_there_is_none(filled_store: Store) -> None:
    site = tumangang()
    series = build_series(filled_store, SITE_ID)
    scenes = SyntheticScenes(site, list(series.passes))
    with_chips = _render(filled_store, scenes=scenes)
    chips = re.findall(r'<figure class="chip">.*?</figure>', with_chips, re.S)
    assert len(chips) == 3  # two key dates and one baseline date
    assert all('src="data:image/png;base64,' in chip for chip in chips)
    assert "role-baseline" in chips[-1]
    peak = max(series.anomalies, key=lambda a: a.car_equivalents)
    assert peak.scene_id in chips[0]
    without = _render(filled_store)
    assert without.count('class="missing"') == 3
    assert "does not record where the scene" in without


def test_simulated_data_is_labelled_on_every_chart(filled_store: Store) -> None:
    plain = _render(filled_store)
    assert "SIMULATED DATA" not in plain
    for scene in filled_store.scenes(SITE_ID):
        filled_store.put_scene(replace(scene, simulated=True))
    html = _render(filled_store)
    assert "SIMULATED DATA" in html
    charts = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(charts) == 2
    for chart in charts:
        assert f'id="{SIMULATED_GID}"' in base64.b64decode(chart).decode("utf-8")
    for chart in re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)"', plain):
        assert SIMULATED_GID not in base64.b64decode(chart).decode("utf-8")


def test_published_counts_are_facts_with_sources() -> None:
    counts = published_counts("tumangang")
    by_day = {c.day.isoformat(): c for c in counts}
    assert by_day["2023-10-05"].cars == 73 and "Beyond Parallel" in by_day["2023-10-05"].source
    assert all(c.source for c in counts)
    assert [c.day for c in counts] == sorted(c.day for c in counts)
    assert not published_counts("zabaikalsk-manzhouli")


def test_output_path_problems_are_one_line_errors(filled_store: Store, tmp_path: Path) -> None:
    request = ReportRequest(site=tumangang())
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out, message in ((tmp_path / "missing" / "r.html", "does not exist"),
                         (blocker / "r.html", "does not exist"),
                         (tmp_path, "is a directory")):
        with pytest.raises(UserInputError, match=message) as caught:
            write_report(filled_store, request, out)
        assert "\n" not in str(caught.value)
    with pytest.raises(UserInputError, match="--lang"):
        render_report(filled_store, ReportRequest(site=tumangang(), lang="fr"))


def test_write_report_replaces_atomically(filled_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")
    write_report(filled_store, ReportRequest(site=tumangang()), out)
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_arabic_report_names_actors_in_arabic(filled_store: Store, tmp_path: Path) -> None:
    from railwatch.report.claims_view import claims_timeline
    from railwatch.timeseries import build_series

    ingest_hostile_article(filled_store, tmp_path)
    period = build_series(filled_store, SITE_ID).period
    english = claims_timeline(filled_store, period, "en")
    arabic = claims_timeline(filled_store, period, "ar")
    assert [line.asserted_by for line in english] == ["CSIS Beyond Parallel"]
    assert arabic[0].asserted_by != "CSIS Beyond Parallel"
    assert any("\u0600" <= ch <= "\u06ff" for ch in arabic[0].asserted_by)
