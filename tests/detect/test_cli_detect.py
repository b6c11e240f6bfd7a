"""``railwatch detect`` end to end on a real COG-backed STAC item written by the imagery fixture."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from railwatch.cli import main
from railwatch.sites import builtin_sites
from tests.stac_server import write_s2_item


def test_detect_json_on_an_item(tmp_path, db_path, capsys) -> None:
    site = builtin_sites()["tumen-bridge"]
    item = write_s2_item(tmp_path, site, item_id="S2B_52TFM_20240601_0_L2A",
                         when=datetime(2024, 6, 1, 2, 30, tzinfo=UTC), noise_dn=20)
    code = main(["detect", "--site", "tumen-bridge", str(item), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["site"] == "tumen-bridge"
    assert document["item"] == "S2B_52TFM_20240601_0_L2A"
    assert document["status"] in {"ok", "cloudy", "no_data", "unknown"}
    assert {"car_equivalents", "car_equivalents_interval", "visible_fraction", "tracks",
            "moving_trains", "detector_version"} <= set(document)


def test_detect_unknown_site_exits_2(tmp_path, db_path, capsys) -> None:
    code = main(["detect", "--site", "nowhere", str(tmp_path / "item.json")])
    assert code == 2
    assert "unknown site" in capsys.readouterr().err


def test_detect_bad_car_length_exits_2(tmp_path, db_path, capsys) -> None:
    site = builtin_sites()["tumen-bridge"]
    item = write_s2_item(tmp_path, site, item_id="S2B_52TFM_20240602_0_L2A",
                         when=datetime(2024, 6, 2, 2, 30, tzinfo=UTC))
    code = main(["detect", "--site", "tumen-bridge", str(item), "--car-length", "0.5"])
    assert code == 2
    assert "--car-length" in capsys.readouterr().err
