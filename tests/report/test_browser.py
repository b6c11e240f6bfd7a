"""Reports opened in headless Chromium as a reader would: offline, drawn, right-to-left, inert.

Screenshots are kept in ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from railwatch.report import ReportRequest, write_report
from railwatch.sites import catalogue, site_to_geojson
from railwatch.store import Store, open_store
from railwatch.timeseries import build_series

from .browser import visit
from .storedata import (
    ARTIFACTS,
    HOSTILE,
    SITE_ID,
    SyntheticScenes,
    fill_store,
    ingest_hostile_article,
    tumangang,
)


def _outside_requests(requests: list[str], page: Path) -> list[str]:
    """Requests other than the page itself and its embedded data: URIs."""
    return [r for r in requests if not r.startswith("data:") and r != page.resolve().as_uri()]


@pytest.mark.slow
def test_reports_open_offline_drawn_and_rtl(chromium: str, filled_store: Store,
                                           tmp_path: Path) -> None:
    site = tumangang()
    series = build_series(filled_store, SITE_ID)
    scenes = SyntheticScenes(site, list(series.passes))
    for lang in ("en", "ar"):
        page = write_report(filled_store, ReportRequest(site=site, lang=lang, scenes=scenes),
                            tmp_path / f"report-{lang}.html")
        seen = visit(page, screenshot=ARTIFACTS / f"report-{lang}.png")
        assert seen.console_errors == []
        assert _outside_requests(seen.requests, page) == []
        facts = seen.facts
        assert facts["charts_drawn"] == 2
        assert facts["images_drawn"] == facts["images"] == 5  # 2 charts + 3 chips
        assert facts["scripts"] == 0
        expected = "rtl" if lang == "ar" else "ltr"
        assert facts["dir"] == expected and facts["computed_direction"] == expected
        assert facts["headline"].strip()
        assert seen.screenshot is not None and seen.screenshot.stat().st_size > 50_000


def test_hostile_text_does_not_run_or_fetch(chromium: str, tmp_path: Path) -> None:
    with open_store(tmp_path / "hostile.sqlite") as store:
        document = site_to_geojson(tumangang())
        document["site"]["id"] = "hostile-yard"
        document["site"]["names"] = {"en": "Yard " + HOSTILE}
        store.put_site("hostile-yard", document, origin="user file")
        fill_store(store, "hostile-yard")
        ingest_hostile_article(store, tmp_path)
        site = catalogue(store.user_sites())["hostile-yard"]
        page = write_report(store, ReportRequest(site=site), tmp_path / "hostile.html")
    seen = visit(page, screenshot=ARTIFACTS / "report-hostile.png")
    assert seen.facts["pwned"] is False and seen.facts["scripts"] == 0
    assert "<script>window.__pwned=true</script>" in seen.facts["text"]  # shown as text
    assert _outside_requests(seen.requests, page) == []
    assert seen.console_errors == []
