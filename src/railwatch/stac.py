"""Finding the acquisitions over a site: STAC API search or a static catalog on disk.

The imagery half of the flow that comes before reading pixels (:mod:`railwatch.imagery`).  Both
sources end in the same list of :class:`Acquisition` values: one per solar day, the duplicates
that overlapping MGRS tiles (and reprocessings) produce merged into the item that covers the AOI
best.  STAC API requests go through :class:`railwatch.http.HttpClient` (via :class:`SeamStacIO`),
so search shares the retries, timeouts, user agent and redacted logging of pixel reads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pystac
import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from railwatch.errors import InputFileError, NetworkError, UserInputError
from railwatch.http import HttpClient, redact
from railwatch.imagery import ASSET_ALIASES, BAND_KEYS, SCL_KEY, item_footprint_covers
from railwatch.sites import Site

__all__ = [
    "DEFAULT_COLLECTION",
    "PROVIDERS",
    "Acquisition",
    "SeamStacIO",
    "catalog_items",
    "find_acquisitions",
    "merge_by_solar_day",
    "search_items",
    "solar_day",
]

DEFAULT_COLLECTION = "sentinel-2-l2a"
# Named STAC APIs (SENSOR.md, "Sentinel-2 L2A access").  Planetary Computer asset URLs need a
# SAS token, which its own package adds to every item it returns.
PROVIDERS = {
    "earth-search": "https://earth-search.aws.element84.com/v1",
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
}
NEEDED_ASSETS = (*BAND_KEYS, SCL_KEY)
PAGE_SIZE = 100


@dataclass(frozen=True)
class Acquisition:
    """One solar day's pass over a site: the item to read and the duplicates it stands for."""

    item: pystac.Item
    solar_day: date
    coverage: float  # share of the AOI inside the item's footprint
    duplicates: tuple[str, ...] = ()

    @property
    def scene_id(self) -> str:
        return self.item.id


class SeamStacIO(StacApiIO):
    """pystac-client's IO with every request sent through railwatch's :class:`HttpClient`.

    Unlike the stock class it never logs request headers, so tokens cannot leak into logs.
    """

    def __init__(self, client: HttpClient) -> None:
        super().__init__(max_retries=None)
        self.client = client

    def request(
        self,
        href: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        method = (method or "GET").upper()
        body = method in ("POST", "PUT", "PATCH")
        prepared = requests.Request(
            method, href, headers=headers or {},
            json=parameters if body else None, params=None if body else parameters,
        )
        if self._req_modifier is not None:
            prepared = self._req_modifier(prepared) or prepared
        response = self.client.request(
            prepared.method or method,
            str(prepared.url),
            headers={str(k): str(v) for k, v in (prepared.headers or {}).items()},
            json=prepared.json,
            params=prepared.params,
        )
        if not 200 <= response.status_code < 300:
            raise APIError.from_response(response)
        return response.content.decode("utf-8")


def solar_day(when: datetime, longitude: float) -> date:
    """The local solar date at ``longitude`` (degrees east) of a UTC time."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when.astimezone(UTC) + timedelta(hours=longitude / 15.0)).date()


def _item_time(item: pystac.Item) -> datetime:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise InputFileError(f"item {item.id}: no datetime", hint="fix the catalog")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rank(item: pystac.Item, site: Site) -> tuple[Any, ...]:
    """Best first: covers more of the AOI, newer processing baseline, less cloud, then id."""
    baseline = str(item.properties.get("s2:processing_baseline") or "")
    cloud = item.properties.get("eo:cloud_cover")
    return (
        -round(item_footprint_covers(item, site), 3),
        _descending(baseline),
        cloud if cloud is not None else 101.0,
        item.id,
    )


def _descending(text: str) -> tuple[int, ...]:
    """A key that sorts strings of equal length in descending order."""
    return tuple(-ord(character) for character in text)


def merge_by_solar_day(items: Iterable[pystac.Item], site: Site) -> list[Acquisition]:
    """One acquisition per solar day, keeping the item that covers the AOI best."""
    longitude = site.aoi.centroid.x
    days: dict[date, list[pystac.Item]] = defaultdict(list)
    seen: set[str] = set()
    for item in items:
        if item.id not in seen:  # paging or a catalog may repeat an item
            seen.add(item.id)
            days[solar_day(_item_time(item), longitude)].append(item)
    merged = []
    for day in sorted(days):
        ranked = sorted(days[day], key=lambda item: _rank(item, site))
        best = ranked[0]
        merged.append(
            Acquisition(
                item=best,
                solar_day=day,
                coverage=item_footprint_covers(best, site),
                duplicates=tuple(item.id for item in ranked[1:]),
            )
        )
    return merged


def _missing_assets(asset_keys: Iterable[str]) -> list[str]:
    present = set(asset_keys)
    return [key for key in NEEDED_ASSETS if not present.intersection(ASSET_ALIASES[key])]


def _bounds_of_day(start: date, end: date) -> str:
    first = datetime.combine(start, time.min, tzinfo=UTC)
    last = datetime.combine(end, time.max, tzinfo=UTC)
    return f"{first.isoformat().replace('+00:00', 'Z')}/{last.isoformat().replace('+00:00', 'Z')}"


def open_api(
    url: str, *, client: HttpClient, modifier: Callable[[Any], Any] | None = None
) -> Client:
    """Open a STAC API, or explain in one line why ``url`` is not one (a :class:`UserInputError`)."""
    hint = f"give --stac-url a STAC API root (such as {PROVIDERS['earth-search']}) or a name: " + (
        ", ".join(PROVIDERS)
    )
    try:
        api = Client.open(url, stac_io=SeamStacIO(client), modifier=modifier)
    except APIError as err:
        raise UserInputError(
            f"{redact(url)} is not a STAC API (HTTP {err.status_code})", hint=hint
        ) from err
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise UserInputError(f"{redact(url)} is not a STAC API (no STAC JSON)", hint=hint) from err
    except pystac.STACError as err:
        raise UserInputError(f"{redact(url)} is not a STAC API ({err})", hint=hint) from err
    if not api.conforms_to(ConformanceClasses.ITEM_SEARCH):
        raise UserInputError(f"{redact(url)} is a STAC catalog without item search", hint=hint)
    return api


def _check_collection(api: Client, url: str, collection: str) -> None:
    problem = UserInputError(
        f"{redact(url)} has no collection {collection!r}",
        hint=f"use --collection {DEFAULT_COLLECTION} or a collection the API lists",
    )
    try:
        found = api.get_collection(collection)
    except (APIError, pystac.STACError, KeyError, ValueError) as err:
        raise problem from err
    if found is None:
        raise problem
    declared = found.extra_fields.get("item_assets")
    if declared:
        missing = _missing_assets(declared)
        if missing:
            raise UserInputError(
                f"collection {collection!r} has no {', '.join(missing)} assets",
                hint="use a Sentinel-2 L2A collection (such as sentinel-2-l2a)",
            )


def search_items(
    site: Site,
    start: date,
    end: date,
    *,
    client: HttpClient,
    stac_url: str = PROVIDERS["earth-search"],
    collection: str = DEFAULT_COLLECTION,
    max_cloud: float | None = None,
    modifier: Callable[[Any], Any] | None = None,
) -> list[pystac.Item]:
    """Every item of ``collection`` over the site's bbox between ``start`` and ``end`` (inclusive)."""
    api = open_api(stac_url, client=client, modifier=modifier)
    _check_collection(api, stac_url, collection)
    query = None
    if max_cloud is not None and api.conforms_to(ConformanceClasses.QUERY):
        query = {"eo:cloud_cover": {"lte": max_cloud}}
    search = api.search(
        collections=[collection], bbox=site.bbox, datetime=_bounds_of_day(start, end),
        query=query, limit=PAGE_SIZE,
    )
    try:
        items = list(search.items())
    except APIError as err:
        raise NetworkError(
            f"{redact(stac_url)}: search failed (HTTP {err.status_code})",
            hint="try again later or narrow the dates",
        ) from err
    return _filtered(items, site, start, end, max_cloud)


def catalog_items(
    path: Path, site: Site, start: date, end: date, *, max_cloud: float | None = None
) -> list[pystac.Item]:
    """The items of a static STAC catalog on disk that fall on the site within the dates."""
    path = Path(path)
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise InputFileError(f"{path}: no such STAC catalog", hint="give --catalog a catalog.json")
    try:
        catalog = pystac.Catalog.from_file(str(path.resolve()))
        items = list(catalog.get_items(recursive=True))
    except (pystac.STACError, json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
        raise InputFileError(
            f"{path}: not a STAC catalog ({err.__class__.__name__}: {err})",
            hint="give --catalog the catalog.json of a static STAC catalog",
        ) from err
    return _filtered(items, site, start, end, max_cloud)


def _filtered(
    items: list[pystac.Item], site: Site, start: date, end: date, max_cloud: float | None
) -> list[pystac.Item]:
    """Apply the search filters on our side too: a server or a catalog may not."""
    kept = []
    for item in items:
        if not start <= _item_time(item).date() <= end:
            continue
        cloud = item.properties.get("eo:cloud_cover")
        if max_cloud is not None and cloud is not None and cloud > max_cloud:
            continue
        if item.geometry and item_footprint_covers(item, site) == 0.0:
            continue
        kept.append(item)
    if kept:
        missing = _missing_assets(kept[0].assets)
        if missing:
            raise UserInputError(
                f"item {kept[0].id} has no {', '.join(missing)} assets",
                hint="use a Sentinel-2 L2A collection or catalog with blue, green, red, nir, scl",
            )
    return kept


def find_acquisitions(
    site: Site,
    start: date,
    end: date,
    *,
    client: HttpClient,
    stac_url: str | None = None,
    collection: str = DEFAULT_COLLECTION,
    max_cloud: float | None = None,
    catalog: Path | None = None,
) -> list[Acquisition]:
    """Search (an API, or a static catalog when ``catalog`` is given) and merge by solar day.

    ``stac_url`` is a URL or a name in :data:`PROVIDERS`; Planetary Computer items are signed.
    """
    if catalog is not None:
        items = catalog_items(catalog, site, start, end, max_cloud=max_cloud)
    else:
        name = stac_url or "earth-search"
        url = PROVIDERS.get(name, name)
        modifier = _planetary_computer_signer() if url == PROVIDERS["planetary-computer"] else None
        items = search_items(
            site, start, end, client=client, stac_url=url, collection=collection,
            max_cloud=max_cloud, modifier=modifier,
        )
    return merge_by_solar_day(items, site)


def _planetary_computer_signer() -> Callable[[Any], Any]:
    try:
        import planetary_computer
    except ImportError as err:
        raise UserInputError(
            "Planetary Computer needs the planetary-computer package",
            hint="pip install planetary-computer",
        ) from err
    return planetary_computer.sign_inplace
