"""Search and windowed reads against the loopback STAC API + COG server, with faults."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pystac
import pytest
from pystac_client import Client

from railwatch.errors import UserInputError
from railwatch.imagery import SceneReadError, WindowCache, read_item
from railwatch.stac import SeamStacIO, find_acquisitions, search_items
from tests.stac_server import write_s2_item

WHEN = datetime(2023, 10, 5, 2, 10, tzinfo=UTC)


def _serve_item(server, site, **options):
    path = write_s2_item(server.root, site, **options)
    return path, pystac.Item.from_dict(server.add_item_file(path))


def test_remote_read_equals_local_read(server, site, client):
    path, item = _serve_item(server, site, item_id="S2A_REMOTE", when=WHEN, scl_checker=True)
    local = read_item(path, site)
    remote = read_item(item, site, client=client)
    for key in local.bands:
        np.testing.assert_array_equal(local.bands[key], remote.bands[key])
    np.testing.assert_array_equal(local.scl, remote.scl)
    assert remote.transform == local.transform
    assert client.traffic.bytes == server.bytes_served("/files/*")


def test_window_read_transfers_a_small_fraction_of_the_file(server, site, client):
    # A 9 x 8 km raster of noisy values, compressed like real imagery; the AOI is ~3 x 1.6 km.
    path, item = _serve_item(
        server, site, item_id="S2A_BIG", when=WHEN, margin_m=3000, noise_dn=2000, blocksize=256
    )
    read_item(item, site, client=client)
    for key in ("blue", "green", "red", "nir"):
        size = (path.parent / f"{key}.tif").stat().st_size
        served = server.bytes_served(f"*/S2A_BIG/{key}.tif")
        assert size > 1_000_000
        assert served < 0.25 * size, (key, served, size)
        # One request for the header, then the window's tiles in few merged requests.
        assert len(server.requests_to(f"*/S2A_BIG/{key}.tif")) <= 4


def test_5xx_twice_then_success_is_retried(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_500", when=WHEN)
    server.fault("*/S2A_500/red.tif", "status", status=500, times=2)
    scene = read_item(item, site, client=client)
    assert np.isfinite(scene.bands["red"]).all()
    assert [r.status for r in server.requests_to("*/S2A_500/red.tif")][:3] == [500, 500, 206]
    assert client.traffic.retries == 2


def test_429_waits_for_retry_after(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_429", when=WHEN)
    server.fault("*/S2A_429/nir.tif", "status", status=429, retry_after=0.4, times=1)
    started = time.monotonic()
    read_item(item, site, client=client)
    attempts = server.requests_to("*/S2A_429/nir.tif")
    assert [r.status for r in attempts][:2] == [429, 206]
    assert attempts[1].time - attempts[0].time >= 0.35
    assert time.monotonic() - started < 5


def test_stall_past_the_timeout_is_retried(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_STALL", when=WHEN)
    stall = server.fault("*/S2A_STALL/green.tif", "stall", seconds=1.5, times=1)
    started = time.monotonic()
    scene = read_item(item, site, client=client)
    assert np.isfinite(scene.bands["green"]).all()
    assert stall.hits == 1 and client.traffic.retries == 1
    # Given up after the 1 s read timeout, not after the 1.5 s stall.
    assert 1.0 <= time.monotonic() - started < 1.5


def test_truncated_body_is_retried_then_reported(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_CUT", when=WHEN)
    server.fault("*/S2A_CUT/blue.tif", "truncate", fraction=0.3, times=1)
    read_item(item, site, client=client)  # one short body: retried, then fine
    server.fault("*/S2A_CUT/blue.tif", "truncate", fraction=0.3, times=None)
    with pytest.raises(SceneReadError, match=r"S2A_CUT asset blue.*(truncated|Chunked|Connection)"):
        read_item(item, site, client=client)  # nothing cached without a cache: read again


def test_always_failing_asset_is_a_read_error_with_the_status(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_DOWN", when=WHEN)
    server.fault("*/S2A_DOWN/scl.tif", "status", status=503, times=None)
    with pytest.raises(SceneReadError, match=r"asset scl.*3 attempts.*HTTP 503"):
        read_item(item, site, client=client)


def test_missing_asset_is_not_retried(server, site, client):
    _, item = _serve_item(server, site, item_id="S2A_404", when=WHEN)
    server.fault("*/S2A_404/nir.tif", "missing", times=None)
    with pytest.raises(SceneReadError, match=r"S2A_404 asset nir.*404"):
        read_item(item, site, client=client)
    assert len(server.requests_to("*/S2A_404/nir.tif")) == 1


def test_cache_means_a_rerun_reads_nothing(server, site, client, tmp_path):
    _, item = _serve_item(server, site, item_id="S2A_CACHED", when=WHEN)
    read_item(item, site, client=client, cache=WindowCache(tmp_path / "cache"))
    server.reset_log()
    read_item(item, site, client=client, cache=WindowCache(tmp_path / "cache"))
    assert server.requests_to("/files/*") == []


def _two_tiles_a_year(server, site, days=10):
    """Passes every 5 days over two overlapping MGRS tiles: 52TFM covers the whole AOI, 52TFN
    only its northern part (shifted north); each pass appears as one item per tile."""
    for number in range(days):
        when = WHEN + timedelta(days=5 * number)
        stamp = when.strftime("%Y%m%d")
        _serve_item(server, site, item_id=f"S2B_52TFM_{stamp}_0_L2A", when=when,
                    grid_code="MGRS-52TFM")
        _serve_item(server, site, item_id=f"S2B_52TFN_{stamp}_0_L2A", when=when,
                    grid_code="MGRS-52TFN", margin_m=0, shift_m=(0.0, 900.0))


def test_search_pages_by_post_and_merges_tile_duplicates(server, site, client):
    server.page_size = 4
    _two_tiles_a_year(server, site)
    items = search_items(site, date(2023, 10, 1), date(2023, 12, 31), client=client,
                         stac_url=server.url)
    assert len(items) == 20
    search_posts = [r for r in server.requests_to("/search") if r.method == "POST"]
    assert len(search_posts) == 5  # 20 items at 4 a page
    acquisitions = find_acquisitions(site, date(2023, 10, 1), date(2023, 12, 31), client=client,
                                     stac_url=server.url)
    assert len(acquisitions) == 10
    assert all("52TFM" in a.scene_id and a.coverage == 1.0 for a in acquisitions)
    assert all(len(a.duplicates) == 1 and "52TFN" in a.duplicates[0] for a in acquisitions)
    # Dates filter on the server and on our side alike.
    assert len(find_acquisitions(site, date(2023, 10, 5), date(2023, 10, 14), client=client,
                                 stac_url=server.url)) == 2


def test_search_pages_by_get_through_the_seam(server, site, client):
    server.page_size = 3
    _two_tiles_a_year(server, site, days=4)
    api = Client.open(server.url, stac_io=SeamStacIO(client))
    found = list(api.search(method="GET", collections=["sentinel-2-l2a"], bbox=site.bbox,
                            datetime="2023-10-01/2023-10-31").items())
    assert len(found) == 8
    assert len([r for r in server.requests_to("/search") if r.method == "GET"]) == 3


def test_search_retries_a_failing_api(server, site, client):
    _two_tiles_a_year(server, site, days=2)
    server.fault("/search", "status", status=502, times=1)
    items = search_items(site, date(2023, 10, 1), date(2023, 10, 31), client=client,
                         stac_url=server.url)
    assert len(items) == 4
    assert [r.status for r in server.requests_to("/search")] == [502, 200]


def test_not_a_stac_api_and_missing_collection_are_user_errors(server, site, client):
    with pytest.raises(UserInputError, match="is not a STAC API"):
        search_items(site, date(2023, 10, 1), date(2023, 10, 31), client=client,
                     stac_url=f"{server.url}/files/nothing")
    with pytest.raises(UserInputError, match="no collection 'landsat'"):
        search_items(site, date(2023, 10, 1), date(2023, 10, 31), client=client,
                     stac_url=server.url, collection="landsat")
    server.add_collection("rgb-only", asset_keys=("visual",))
    with pytest.raises(UserInputError, match="blue, green, red, nir, scl"):
        search_items(site, date(2023, 10, 1), date(2023, 10, 31), client=client,
                     stac_url=server.url, collection="rgb-only")


@pytest.mark.parametrize("kind", ["status", "truncate"])
def test_failing_tile_reads_after_a_good_header_are_read_errors(server, site, client, kind):
    _, item = _serve_item(
        server, site, item_id="S2A_TILES", when=WHEN, margin_m=3000, noise_dn=2000, blocksize=256
    )
    server.fault("*/S2A_TILES/red.tif", kind, status=500, fraction=0.5, after=1, times=None)
    with pytest.raises(SceneReadError, match=r"S2A_TILES asset red.*(HTTP 500|truncated|Chunked)"):
        read_item(item, site, client=client)
    assert server.requests_to("*/S2A_TILES/red.tif")[0].status == 206
