"""The ``railwatch`` command as a user runs it: exit codes, one-line errors, the store after."""

from __future__ import annotations

import importlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from railwatch import __version__
from railwatch.cli import cli, main
from railwatch.sites import parse_site
from railwatch.store import open_store

from .test_sites import overpass_response, user_site


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def all_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = all_commands(cli)
    assert len(commands) >= 5
    for path, command in commands:
        assert command.help, f"'railwatch {' '.join(path)}' has no help text"
        code, out, _ = run(capsys, *path, "--help")
        assert code == 0 and "Usage: railwatch" in out, path


def test_version_through_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "railwatch", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert __version__ in done.stdout


def test_sites_list_json_follows_the_contract(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    code, out, _ = run(capsys, "sites", "list", "--json", "--db", str(db_path))
    assert code == 0
    sites = json.loads(out)
    by_id = {s["id"]: s for s in sites}
    assert {"tumangang", "khasan", "tumen-bridge", "rajin"} <= set(by_id)
    for site in sites:
        assert {"id", "names", "aoi", "tracks", "epsg", "countries"} <= set(site)
        assert site["aoi"]["type"] == "Polygon" and isinstance(site["epsg"], int)
        assert all(t["geometry"]["type"] == "LineString" for t in site["tracks"])
        assert all(len(code) == 2 and code.isupper() for code in site["countries"])
    assert by_id["tumangang"]["countries"] == ["KP", "RU"]
    assert by_id["tumangang"]["names"]["ar"]


def test_sites_show_geojson_can_be_added_back(
    capsys: pytest.CaptureFixture[str], db_path: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "sites", "show", "khasan", "--geojson")
    assert code == 0
    document = json.loads(out)
    document["site"]["id"] = "khasan-copy"
    path = tmp_path / "copy.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    code, out, err = run(capsys, "sites", "add", str(path))
    assert code == 0, err
    code, out, _ = run(capsys, "sites", "list", "--json")
    added = {s["id"]: s for s in json.loads(out)}["khasan-copy"]
    assert added["builtin"] is False and len(added["tracks"]) == 6


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def stored_site_ids(db_path: Path) -> list[str]:
    with open_store(db_path) as store:
        return [site_id for site_id, _, _ in store.user_sites()]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"type": "Feature"}, "top level must be a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "field 'site' is missing"),
    ],
)
def test_bad_site_file_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], db_path: Path, tmp_path: Path, content: Any, message: str
) -> None:
    path = write(tmp_path, "bad.geojson", content)
    code, out, err = run(capsys, "sites", "add", str(path), "--db", str(db_path))
    assert code == 2
    assert err.count("\n") == 1 and str(path) in err and message in err
    assert "Traceback" not in err
    assert stored_site_ids(db_path) == []


def test_duplicate_site_ids(capsys: pytest.CaptureFixture[str], db_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "mine.geojson", user_site())
    assert run(capsys, "sites", "add", str(path))[0] == 0
    code, _, err = run(capsys, "sites", "add", str(path))
    assert code == 2 and "already a site you added" in err and "--replace" in err
    assert run(capsys, "sites", "add", str(path), "--replace")[0] == 0
    builtin_clash = user_site()
    builtin_clash["site"]["id"] = "tumangang"
    code, _, err = run(capsys, "sites", "add", str(write(tmp_path, "clash.geojson", builtin_clash)))
    assert code == 2 and "already a built-in site" in err
    assert stored_site_ids(db_path) == ["my-yard"]


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "sites", "add", str(tmp_path / "nope.geojson"))
    assert code == 2 and "no such file" in err


def test_unreadable_store_is_a_user_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = write(tmp_path, "junk.sqlite", "not a database " * 200)
    code, _, err = run(capsys, "sites", "list", "--db", str(junk))
    assert code == 2 and "not a railwatch store" in err and "--db" in err


def test_newer_store_is_a_user_error(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    open_store(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute("INSERT INTO migrations VALUES (999, 'future', '2030-01-01')")
    raw.commit()
    raw.close()
    code, _, err = run(capsys, "sites", "list")
    assert code == 2 and "newer railwatch" in err


def test_internal_failure_exits_1_with_a_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(importlib.import_module("railwatch.cli.sites"), "site_summary", broken)
    code, _, err = run(capsys, "sites", "list", "--json")
    assert code == 1 and "internal error: ZeroDivisionError: boom" in err and "--debug" in err
    code, _, err = run(capsys, "--debug", "sites", "list", "--json")
    assert code == 1 and "Traceback" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sites", "list", "--colour")
    assert code == 2 and "No such option" in err


def test_import_osm_from_a_file(capsys: pytest.CaptureFixture[str], db_path: Path, tmp_path: Path) -> None:
    from shapely.geometry import LineString

    answer = write(
        tmp_path, "overpass.json", overpass_response(LineString([(130.57, 42.4225), (130.65, 42.416)]))
    )
    code, out, err = run(capsys, "sites", "import-osm", "tumangang", "--overpass", str(answer))
    assert code == 0, err
    with open_store(db_path) as store:
        [(site_id, document, origin)] = store.user_sites()
    site = parse_site(document, origin=origin)
    assert site_id == "tumangang" and [t.id for t in site.tracks] == ["osm-42"]
    code, out, _ = run(capsys, "sites", "list", "--json")
    assert [t["properties"]["id"] for t in {s["id"]: s for s in json.loads(out)}["tumangang"]["tracks"]] == [
        "osm-42"
    ]


def test_import_osm_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sites", "import-osm", "tumangang")
    assert code == 2 and "exactly one of --overpass FILE or --online" in err
    code, out, _ = run(capsys, "sites", "import-osm", "tumangang", "--print-query")
    assert code == 0 and 'way["railway"="rail"](42.413,130.59,42.4275,130.628)' in out


def test_import_osm_online_asks_overpass(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread
    from urllib.parse import parse_qs

    from shapely.geometry import LineString

    answer = json.dumps(overpass_response(LineString([(130.57, 42.4225), (130.65, 42.416)]))).encode()
    queries: list[str] = []

    class Overpass(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            queries.append(parse_qs(body)["data"][0])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Overpass)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/interpreter"
        code, out, err = run(capsys, "sites", "import-osm", "tumangang", "--online", "--overpass-url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err
    assert len(queries) == 1 and '"railway"="rail"' in queries[0] and "out geom" in queries[0]
    assert stored_site_ids(db_path) == ["tumangang"]


def test_the_command_runs_blas_on_one_thread(capsys: pytest.CaptureFixture[str]) -> None:
    """Detection multiplies small matrices: the command keeps the BLAS to one thread (a pool of
    threads costs more than it saves and competes with the scan's readers)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        code, _, _ = run(capsys, "sites", "list")
        assert code == 0
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(threads == 1 for threads in blas)
