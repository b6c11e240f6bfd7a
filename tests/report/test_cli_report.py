"""``railwatch report`` and ``railwatch export`` from the command line: outputs and one-line errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from railwatch.cli import main
from railwatch.store import open_store

from .storedata import SITE_ID, fill_store


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli.sqlite"
    with open_store(path) as store:
        fill_store(store)
    return path


def test_report_writes_both_languages(store_file: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for lang in ("en", "ar"):
        out = tmp_path / f"r-{lang}.html"
        code = main(["report", "--site", SITE_ID, "--db", str(store_file), "--out", str(out),
                     "--lang", lang, "--from", "2023-02", "--to", "2023-11",
                     "--baseline", "2023-02:2023-08"])
        assert code == 0
        assert capsys.readouterr().out.strip() == str(out)
        html = out.read_text(encoding="utf-8")
        assert f'lang="{lang}"' in html
        assert "S2B_52TFM_20230106" not in html  # outside --from
        assert "S2B_52TFM_20230206" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--site", "khasan"], "run `railwatch scan --site khasan"),
    (["--site", SITE_ID, "--from", "2023-09", "--to", "2023-03"], "ends before it starts"),
    (["--site", SITE_ID, "--from", "2025-01", "--to", "2025-03"], "has no passes"),
    (["--site", SITE_ID, "--baseline", "2023-07:2023-07"], "no clear pass"),
    (["--site", SITE_ID, "--baseline", "last year"], "START:END"),
    (["--site", "no-such-site"], "no-such-site"),
])
def test_report_user_errors_are_one_line(store_file: Path, tmp_path: Path, args: list[str],
                                         message: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    code = main(["report", *args, "--db", str(store_file), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_report_without_a_store_or_a_writable_path(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    code = main(["report", "--site", SITE_ID, "--db", str(missing), "--out",
                 str(tmp_path / "r.html")])
    assert code == 2 and "railwatch scan" in capsys.readouterr().err
    assert not missing.exists()  # a report never creates a store
    code = main(["report", "--site", SITE_ID, "--db", str(missing), "--out",
                 str(tmp_path / "no-dir" / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_export_formats(store_file: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--site", SITE_ID, "--db", str(store_file), "--format", "csv",
                 "--out", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 73 and rows[0]["site"] == SITE_ID
    out = tmp_path / "x.parquet"
    assert main(["export", "--site", SITE_ID, "--db", str(store_file), "--format", "parquet",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(["export", "--site", SITE_ID, "--db", str(store_file), "--format", "parquet",
                 "--out", "-"]) == 2
    assert "Parquet is binary" in capsys.readouterr().err
