"""The Dask branch of the scan: the same scenes, statuses and observations as local threads,
computed in separate worker processes of a real (local) Dask cluster."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from railwatch.imagery import WindowCache
from railwatch.pipeline import scan
from railwatch.stac import find_acquisitions
from railwatch.store import open_store

from .test_scan import END, START, _mixed_passes, _statuses

distributed = pytest.importorskip("distributed", reason="the Dask branch needs dask[distributed]")


def test_a_scan_on_dask_workers_stores_what_a_local_scan_stores(server, site, client, tmp_path: Path) -> None:
    ids = _mixed_passes(server, site)
    server.fault(f"*/{ids[2]}/nir.tif", "status", status=500, times=None)
    acquisitions = find_acquisitions(site, START, END, client=client, stac_url=server.url)

    local_db, dask_db = tmp_path / "local.sqlite", tmp_path / "dask.sqlite"
    with open_store(local_db) as store:
        scan(site, acquisitions, store=store, client=client, workers=2, cache=WindowCache(None))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as dask_client,
        open_store(dask_db) as store,
    ):
        summary = scan(
            site,
            acquisitions,
            store=store,
            client=client,
            dask_client=dask_client,
            cache=WindowCache(tmp_path / "cache"),
        )
        # Each worker process that ran scenes built its own client, cache and histories.
        built = dask_client.run(lambda: len(__import__("railwatch.pipeline").pipeline._WORKER_PARTS))

    assert summary.statuses == {"ok": 3, "cloudy": 1, "no_data": 1, "read_failed": 1}
    assert sum(built.values()) >= 1
    local_scenes, local_observations = _statuses(local_db)
    dask_scenes, dask_observations = _statuses(dask_db)
    assert {k: (v.status, v.reason) for k, v in dask_scenes.items()} == {
        k: (v.status, v.reason) for k, v in local_scenes.items()
    }
    assert sorted((o.scene_id, o.car_equivalents) for o in dask_observations) == sorted(
        (o.scene_id, o.car_equivalents) for o in local_observations
    )
    # The workers read through the shared on-disk window cache.
    assert any((tmp_path / "cache").rglob("*.npz"))


def test_a_scheduler_that_does_not_answer_is_a_user_error(
    server, site, capsys, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from railwatch.cli import main

    monkeypatch.setattr(importlib.import_module("railwatch.cli.scan"), "DASK_CONNECT_TIMEOUT", "1s")
    _mixed_passes(server, site)
    code = main(
        [
            "scan",
            "--site",
            "tumangang",
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            "--stac-url",
            server.url,
            "--dask",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--dask tcp://127.0.0.1:9: no Dask scheduler answered" in err and err.count("\n") == 1
    assert not db_path.exists()
