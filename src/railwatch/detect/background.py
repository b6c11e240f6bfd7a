"""What the empty ground of a site looks like: a per-pixel estimate over clear scenes.

Rolling stock comes and goes, the ground stays.  For every pixel we take its clear dates, leave
out clouds, their shadows and the cloud fringes seen on the ground ring (with a margin), bring
each date into the air of the dates' median (haze measured on the ring and removed pixel by
pixel, ``haze``), and keep the brightest value the pixel comes back to on ``MIN_DATES`` dates or
more: stock and shadows mostly darken the ground, and cars differ from date to date, while the
ground recurs.  Yard-interior pixels seen clean too rarely take the yard's pooled ground
(``_pool_yards``), and the share that did is kept (``yard_ground_pooled``).
Snowy dates are kept apart (snow changes the ground, not the tracks) and, when there are enough,
give a second, winter reference.

The history should come from the same season as the scenes it serves (fields green up and
senesce); ``railwatch detect --history`` takes whatever clear items it is given.

A :class:`Background` is saved as one ``.npz`` file: the arrays, the grid, and the ids of the
scenes it was built from (provenance).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from railwatch.detect.haze import GREEN_UP, cloud_fringe, haze_field, near, remove_haze
from railwatch.detect.model import DetectSettings
from railwatch.detect.occupancy import TRACK_BED
from railwatch.errors import InputFileError
from railwatch.imagery import BAND_KEYS, Scene
from railwatch.sites import Site

__all__ = ["Background", "INVISIBLE_SCL", "SNOW_SCL", "build_background", "hidden_mask",
           "in_classes", "load_background"]

# Scene classification (SCL) classes that hide the ground (SENSOR.md): 0 no data, 1 saturated or
# defective, 3 cloud shadow, 8/9 cloud medium/high probability.  Snow (11) is visible ground.
INVISIBLE_SCL = np.array([0, 1, 3, 8, 9], dtype=np.uint8)
CLOUD_SCL = np.array([3, 8, 9], dtype=np.uint8)
# Thin cirrus (10) is visible ground under a haze layer (haze scenes must be measured: the scene's
# gain and offset absorb most of it; observations carry a "thin_cirrus" flag), and so is
# "unclassified" (7), except near clouds (``hidden_mask``).
CIRRUS_SCL = 10
SNOW_SCL = 11
# Yard interior: pixels at least this much track bed (tracks 4.5-5 m apart give ~0.6-0.8).
_YARD_BED_SHARE = 0.45
_MODE_SAMPLES = 3000
_MODE_BRIGHT_QUANTILE = 0.6
# Ballast and gravel have NDVI ~0.1-0.15 (USGS splib07 rocks); vegetation is above ~0.35.
_MAX_APRON_NDVI = 0.25
# Two yard samples are "the same ground" within this reflectance in every band: pixel noise
# (~0.002-0.004) plus the ballast/gravel texture at 10 m.
_MODE_RADIUS = 0.008
# A yard pixel's own ground may be this much darker than the pooled one or the track bed
# (texture of gravel and ballast at 10 m, +-0.01-0.02); beyond, it holds stock on the dates it
# agrees on.
_YARD_TEXTURE = 0.015
# A yard pixel's own ground darker than the pooled one is its ground when it recurs on at least
# this share of its clear dates (a busy yard's stock, even of one colour, leaves a pixel clean on
# some dates and covers it in different places on others).
_SETTLED_SHARE = 0.8
# Two dates show the same ground at a pixel when they differ by less than this many date-to-date
# noise spreads in every band.
_AGREE_SPREADS = 2.5
# Fewer clear dates than this per pixel and the median is no better than one scene.  A value
# must come back on as many dates to be taken for the ground: a car may stand on one spot for
# two passes.
MIN_DATES = 3


@dataclass(frozen=True)
class Background:
    """Empty-ground reflectance of a site from its clear dates, per band, on one 10 m grid."""

    bands: dict[str, np.ndarray]
    count: np.ndarray
    transform: Affine
    epsg: int
    scene_ids: tuple[str, ...]
    snow_bands: dict[str, np.ndarray] | None = None
    # Share of the yard interiors' pixels whose ground was never seen clean (``_pool_yards``; they
    # take the pooled yard ground): near 1, the yard was full on nearly every date of the history.
    yard_ground_pooled: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.count.shape
        return int(rows), int(cols)

    def stack(self, *, snow: bool = False) -> np.ndarray:
        """(4, rows*cols) in BAND_KEYS order; pixels seen on too few dates are NaN."""
        source = self.snow_bands if snow and self.snow_bands is not None else self.bands
        return np.stack([source[k].ravel() for k in BAND_KEYS]).astype(np.float32)

    def save(self, path: Path) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays = {f"band_{k}": v for k, v in self.bands.items()}
        if self.snow_bands is not None:
            arrays.update({f"snow_{k}": v for k, v in self.snow_bands.items()})
        meta = {"transform": list(self.transform)[:6], "epsg": self.epsg,
                "scene_ids": list(self.scene_ids), "format": "railwatch-background/1",
                "yard_ground_pooled": self.yard_ground_pooled}
        arrays.update(count=self.count, meta=np.array(json.dumps(meta)))
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        return path


def load_background(path: Path) -> Background:
    """Read a background written by :meth:`Background.save`."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            bands = {k: data[f"band_{k}"] for k in BAND_KEYS}
            snow = ({k: data[f"snow_{k}"] for k in BAND_KEYS}
                    if f"snow_{BAND_KEYS[0]}" in data.files else None)
            count = data["count"]
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: no such background file", hint="check the --history path") from err
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(
            f"{path}: not a railwatch background file ({err.__class__.__name__})",
            hint="build one with 'railwatch detect --history DIR' from a folder of STAC items",
        ) from err
    if meta.get("format") != "railwatch-background/1":
        raise InputFileError(f"{path}: unknown background format {meta.get('format')!r}",
                             hint="rebuild it with this version of railwatch")
    return Background(bands, count, Affine(*meta["transform"]), int(meta["epsg"]),
                      tuple(meta["scene_ids"]), snow, float(meta.get("yard_ground_pooled", 0.0)))


def build_background(scenes: Iterable[Scene], *, site: Site | None = None,
                     margin_px: int = DetectSettings.fringe_margin_px) -> Background:
    """The empty ground of every pixel from the scenes' clear (and, apart, snowy) observations.

    All scenes must share one grid: they are windows of the same site on the same tile.  With the
    ``site``, each date's haze is measured on the ground around the tracks, and yard-interior
    pixels seen clean on too few dates get a pooled ground (``_pool_yards``).  Nothing within
    ``margin_px`` of a cloud, its shadow or a cloud fringe is taken for ground.
    """
    clear_stacks: list[np.ndarray] = []
    snow_stacks: list[np.ndarray] = []
    ids: list[str] = []
    grid: tuple[tuple[float, ...], tuple[int, int], int] | None = None
    for scene in scenes:
        this_grid = (tuple(scene.transform)[:6], scene.shape, scene.epsg)
        if grid is None:
            grid = this_grid
        elif this_grid != grid:
            raise InputFileError(
                f"scene {scene.scene_id}: its grid differs from the first scene's",
                hint="build a background from scenes of one tile (same MGRS tile and window)",
            )
        stack = np.stack([np.asarray(scene.bands[k], dtype=np.float32) for k in BAND_KEYS])
        if scene.scl is None:
            raise InputFileError(f"scene {scene.scene_id}: no SCL band",
                                 hint="a background needs the scene classification to drop clouds")
        hidden = hidden_mask(np.asarray(scene.scl)) | near(
            in_classes(np.asarray(scene.scl), CLOUD_SCL), margin_px)
        snow = np.asarray(scene.scl) == SNOW_SCL
        if snow.mean() > 0.3:
            snowy = stack.copy()
            snowy[:, hidden | ~snow] = np.nan
            snow_stacks.append(snowy)
        else:
            clear = stack.copy()
            clear[:, hidden | snow] = np.nan
            clear_stacks.append(clear)
        ids.append(scene.scene_id)
    if grid is None:
        raise InputFileError("no scenes to build a background from",
                             hint="give a folder with STAC items of clear dates of the site")
    transform, shape, epsg = grid
    off_tracks = _off_tracks(site, Affine(*transform), shape, epsg)
    rows, cols = shape
    ground = np.full((4, rows * cols), np.nan, dtype=np.float32)
    count = np.zeros(rows * cols, dtype=np.int16)
    snow_ground = None
    pooled = 0.0
    for stacks, winter in ((clear_stacks, False), (snow_stacks, True)):
        if not stacks or (winter and len(stacks) < MIN_DATES):
            continue
        found = _ground(np.stack(stacks), off_tracks, margin_px)
        share = (_pool_yards(found, site, Affine(*transform), shape, epsg)
                 if site is not None and len(stacks) >= MIN_DATES else 0.0)
        if winter:
            snow_ground = found.ground.reshape(4, rows, cols)
        else:
            ground, count, pooled = found.ground, found.count.astype(np.int16), share
    return Background(
        bands={k: ground[i].reshape(rows, cols) for i, k in enumerate(BAND_KEYS)},
        count=count.reshape(rows, cols),
        transform=Affine(*transform),
        epsg=epsg,
        scene_ids=tuple(ids),
        snow_bands=None if snow_ground is None else {k: snow_ground[i]
                                                     for i, k in enumerate(BAND_KEYS)},
        yard_ground_pooled=pooled,
    )


def _off_tracks(site: Site | None, transform: Affine, shape: tuple[int, int], epsg: int
                ) -> np.ndarray | None:
    """Pixels where no rolling stock stands: the site's ground ring (30-150 m from every track,
    ``layout``), or, without a site, None."""
    from railwatch.detect.layout import pixel_plan

    rows, cols = shape
    if site is None or epsg != site.epsg:
        return None
    plan = pixel_plan(dict(site.tracks_utm), site.aoi_utm, transform, shape, site_id=site.id)
    ring = np.zeros(rows * cols, dtype=bool)
    ring[plan.ring] = True
    return ring


def in_classes(scl: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Where ``scl`` is one of ``classes``: a comparison per class (``np.isin`` takes ten times
    as long on a scene)."""
    return np.logical_or.reduce([scl == c for c in classes])


def hidden_mask(scl: np.ndarray, *, margin_px: int = 0) -> np.ndarray:
    """Pixels whose ground cannot be seen: the hidden SCL classes and, within ``margin_px`` of a
    cloud or cloud shadow, everything else too.  Sen2Cor's cloud and shadow classes end where the
    opacity falls under a threshold; the fringe beyond (often "unclassified" 7 or "thin cirrus"
    10) is still part cloud or part shade and would look like a bright or dark car."""
    hidden = in_classes(scl, INVISIBLE_SCL)
    if margin_px > 0:
        cloudy = in_classes(scl, CLOUD_SCL)
        if cloudy.any():
            from scipy.ndimage import maximum_filter1d

            # Grown by one pixel to all eight neighbours ``margin_px`` times is grown by a square
            # of 2 ``margin_px`` + 1 pixels: a pass along the rows and one along the columns.
            side = 2 * margin_px + 1
            grown = maximum_filter1d(cloudy.view(np.uint8), side, axis=0, mode="constant")
            hidden |= maximum_filter1d(grown, side, axis=1, mode="constant").view(bool)
    return hidden


@dataclass(frozen=True)
class _Ground:
    """The per-pixel ground (4, N), how many dates saw each pixel, how many of them agreed on
    its ground (``support``), and the dates brought into one air (T, 4, N)."""

    ground: np.ndarray
    count: np.ndarray
    support: np.ndarray
    dates: np.ndarray


def _ground(stack: np.ndarray, off_tracks: np.ndarray | None, margin_px: int) -> _Ground:
    """Empty ground from (T, 4, H, W) clear observations.

    ``off_tracks`` (H*W,) marks the pixels where no stock stands, on which each date's haze and
    cloud fringes (with ``margin_px`` around them left out) are measured.  Without it, the haze is
    measured on every pixel (stock is then a small share of the window) and fringes are not
    looked for (stock would pass for them).

    Per pixel, the largest group of dates that agree with each other within ``_AGREE_SPREADS``
    date-to-date noise in every band: on clean dates a pixel shows its ground plus noise, while
    on busy dates it shows a different car, at a different place in the pixel, in a different
    colour each time.  In a yard with tracks 5 m apart and ~40 % of the length occupied, a pixel
    is clean on only ~20 % of the dates (its own track and both neighbours empty), so neither
    a median nor a trimmed mean over dates is the ground; the densest cluster is.
    """
    import warnings

    dates = stack.shape[0]
    shape = stack.shape[2:]
    flat = stack.reshape(dates, 4, -1).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN on purpose
        centre = np.nanmedian(flat, axis=0)
        # Bring every date into the air of the median: haze changes by the day and over a few
        # hundred metres, and without this a pixel's clean dates disagree by more than the
        # stock on its busy ones.
        for t in range(dates):
            seen = flat[t].copy()
            reference = off_tracks if off_tracks is not None else np.ones(seen.shape[1], bool)
            flat[t] = remove_haze(seen, haze_field(seen, centre, reference, shape))
            if off_tracks is None:
                continue
            # A thin cloud the SCL missed would pass for ground, and pulls the haze of its
            # surroundings: measured again without it, and left out with a margin.
            fringe = cloud_fringe(flat[t] - centre, off_tracks & np.isfinite(flat[t]).all(axis=0)
                                  & np.isfinite(centre).all(axis=0), shape)
            if fringe.any():
                flat[t] = remove_haze(seen, haze_field(seen, centre, off_tracks & ~fringe, shape))
                flat[t][:, near(fringe.reshape(shape), margin_px).ravel()] = np.nan
        count = np.isfinite(flat[:, 0]).sum(axis=0)
        if dates < MIN_DATES:
            centre[:, count < MIN_DATES] = np.nan
            return _Ground(centre, count, np.zeros_like(count), flat)
        # Date-to-date noise per band from the differences of consecutive dates: their lower
        # quartile (0.319 sd of a normal difference) is clean ground even where fields change
        # with the season and cars come and go.
        pairs = np.abs(np.diff(flat, axis=0))
        spread = np.nanquantile(pairs, 0.25, axis=(0, 2)) / 0.319 / np.sqrt(2)
        spread = np.where(np.isfinite(spread) & (spread > 1e-4), spread, 1e-2)
        tolerance = _AGREE_SPREADS * spread[None, :, None]
        # A pixel's ground is the brightest value it keeps coming back to (on MIN_DATES dates
        # or more): ore, coal, rust, paint and every shadow darken the ground, and a cut of
        # black tanks or ore cars covering a pixel on a few busy dates also agrees with itself,
        # while light roofs vary too much from car to car (+-12 %, 0.04 on a grey tank) to
        # come back to one value.  The most-agreed value alone picked the ore cars of a yard
        # that is busy on most dates of its history.  Brightness is taken across the greening
        # of the verges (``GREEN_UP`` projected out: a browned-off field is brighter in the
        # visible, not emptier), and values about as bright are told apart by their support.
        members = np.zeros((dates, flat.shape[2]), dtype=np.int32)
        values = np.empty_like(flat)
        for t in range(dates):
            agree = (np.abs(flat - flat[t][None]) <= tolerance).all(axis=1)  # (T, N)
            agree &= np.isfinite(flat[:, 0])
            members[t] = agree.sum(axis=0)
            values[t] = np.nansum(np.where(agree[:, None, :], flat, 0.0), axis=0) / np.maximum(
                members[t], 1)[None, :]
        brightness = np.where(members >= MIN_DATES,
                              np.stack([_brightness(values[t]) for t in range(dates)]), -np.inf)
        brightness = np.where(np.isfinite(brightness), brightness, -np.inf)
        brightest = brightness.max(axis=0)
        close = brightness >= brightest[None, :] - float(spread.mean())
        chosen = np.argmax(np.where(close, members, -1), axis=0)
        # Where no value came back MIN_DATES times, the most-agreed one (and with no two dates
        # agreeing, the median); ``support`` says how well the ground is known.
        pick = np.where(np.isfinite(brightest), chosen, np.argmax(members, axis=0))
        pixel = np.arange(flat.shape[2])
        best_count = members[pick, pixel]
        ground = np.where((best_count >= 2)[None, :], values[pick, :, pixel].T, centre)
    ground[:, count < MIN_DATES] = np.nan
    return _Ground(ground.astype(np.float32), count, best_count, flat)


def _pool_yards(found: _Ground, site: Site, transform: Affine, shape: tuple[int, int],
                epsg: int) -> float:
    """Check the ground of yard interiors (in place) against their pooled ground; return the share
    of interior pixels whose own ground was never seen clean.

    Pooled over a yard's interior pixels and dates, the clean ground is one tight cluster in the
    brighter part of the samples: most roofs and every shadow darken the ballast, and light roofs
    are rarer, far brighter (+0.2-0.4) and too varied to cluster.  A pixel whose own ground is
    clearly darker than that (more than the gravel's texture at 10 m) recurs with stock on it, in
    a yard busy on nearly every date of its history, unless it shows that value on nearly all its
    dates and it is no darker than bare track bed (a pixel with more bed than gravel); such a
    pixel, and one seen clean on too few dates, takes the pooled ground.  The other pixels keep
    their own, texture and all."""
    from railwatch.detect.layout import pixel_plan

    if epsg != site.epsg:
        return 0.0
    plan = pixel_plan(dict(site.tracks_utm), site.aoi_utm, transform, shape, site_id=site.id)
    if not len(plan.pixels):
        return 0.0
    bundle_of_pixel = np.array([plan.tracks[t].bundle
                                for t in np.argmax(plan.track_weight, axis=1)])
    sizes = np.bincount([t.bundle for t in plan.tracks])
    rng = np.random.default_rng(0)
    interiors = unseen = 0
    for bundle in np.flatnonzero(sizes >= 2):
        interior = plan.pixels[(bundle_of_pixel == bundle) & (plan.bed_share >= _YARD_BED_SHARE)]
        if interior.size < 20:
            continue
        own = found.ground[:, interior]
        weak = (found.support[interior] < MIN_DATES) | ~np.isfinite(own).all(axis=0)
        interiors += interior.size
        samples = found.dates[:, :, interior].transpose(0, 2, 1).reshape(-1, 4)
        samples = samples[np.isfinite(samples).all(axis=1)]
        if len(samples) < 50:
            unseen += int(weak.sum())
            continue
        brightness = _brightness(samples.T)
        samples = samples[brightness >= np.quantile(brightness, _MODE_BRIGHT_QUANTILE)]
        if len(samples) > _MODE_SAMPLES:
            samples = samples[rng.choice(len(samples), _MODE_SAMPLES, replace=False)]
        spread = 1.4826 * np.median(np.abs(samples - np.median(samples, axis=0)), axis=0)
        radius = np.maximum(_MODE_RADIUS, 0.25 * spread)
        near = (np.abs(samples[:, None, :] - samples[None, :, :]) <= radius).all(axis=2)
        mode = np.median(samples[near[int(np.argmax(near.sum(axis=1)))]], axis=0)
        # Tracks laid in grass (NDVI of green vegetation) have no uniform apron to pool.
        if (mode[3] - mode[2]) / max(mode[3] + mode[2], 1e-6) >= _MAX_APRON_NDVI:
            unseen += int(weak.sum())
            continue
        # The ground of an interior pixel is a mix of the apron and the track bed (ballast,
        # sleepers, rail), so it may be darker than the apron, down to the bed: it is kept when
        # the pixel shows it on nearly all its clear dates.  Held to the apron alone, an empty
        # yard's pixels with more bed than gravel took the brighter apron: 12-23 phantom
        # car-equivalents at Tumangang on empty scenes against a perfect history.
        brightness = _brightness(own)
        bed_like = ((brightness >= _BED_BRIGHTNESS - _YARD_TEXTURE)
                    & (found.support[interior] >= _SETTLED_SHARE * found.count[interior]))
        replace = weak | ((brightness < _brightness(mode[:, None])[0] - _YARD_TEXTURE) & ~bed_like)
        found.ground[:, interior[replace]] = mode[:, None]
        unseen += int(replace.sum())
    return unseen / interiors if interiors else 0.0


def _brightness(values: np.ndarray) -> np.ndarray:
    """Mean of the bands (4, N) across the verges' greening direction (a browned-off field is
    brighter in the visible, not emptier)."""
    unit = GREEN_UP / np.linalg.norm(GREEN_UP)
    across = values - unit[:, None] * (unit @ values)[None, :]
    return across.mean(axis=0)


# Bare track bed's brightness, the darkest a yard pixel's own ground may be (``_pool_yards``).
_BED_BRIGHTNESS = float(_brightness(TRACK_BED[:, None])[0])
