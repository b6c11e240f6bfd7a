"""One scene of one site in, one :class:`Observation` out.

1. **Where to look** (``layout``, once per site and grid): the corridor pixels within 17.5 m of
   the tracks, cut into 20 m blocks across each bundle of parallel tracks; stations every 2.5 m
   along each track for motion.
2. **What can be seen**: SCL no data, saturated, cloud shadow and cloud (0, 1, 3, 8, 9) are
   hidden, and so is everything within ``cloud_margin_px`` of a cloud or its shadow (soft edges).
   Thin cirrus (10) is visible with a flag (haze scenes are measured), snow (11) is visible.
   Counting keeps ``fringe_margin_px`` from clouds, their shadows and the cloud fringes the
   ground ring shows (step 3); a block is measured on its seen pixels when half its track is seen.
3. **The empty ground**: with a history (``Background``) the per-pixel ground of the site's clear
   dates, brought into this scene's air by the haze measured on the ground ring around the tracks
   (``haze``; it varies over a few hundred metres); how well that haze carries over sets the
   reference error of every block, and a ring that changed beyond haze and season (snow the SCL
   missed) makes the count unknown.  Without a history, the track's own median at each distance
   from the centreline (flag ``no_history``: a busy track then looks emptier than it is).
4. **Occupied length** (``occupancy``): per block, scene minus ground is unmixed into metres of
   rail car roofs of the library (``spectra``) with their shadows, twice (the second time with
   the shade the first fit's density leaves visible); roof metres plus coupler gaps are occupied
   track, and occupied metres / ``car_length_m`` are car-equivalents.  Hidden blocks are not
   guessed per track; the site total extrapolates them at the density seen, with an interval
   that allows them to be twice as busy.
5. **Moving trains** (``motion``): steps in the four bands' along-track profiles, each fitted
   with a band-shifted step model, grouped into trains that move at one speed.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
from shapely.geometry import LineString

from railwatch.detect.background import (
    CIRRUS_SCL,
    CLOUD_SCL,
    SNOW_SCL,
    Background,
    hidden_mask,
    in_classes,
)
from railwatch.detect.haze import GREEN_UP, add_haze, cloud_fringe, haze_field, near, smooth_coarse
from railwatch.detect.layout import PixelPlan, Window, pixel_plan
from railwatch.detect.model import (
    DETECTOR_VERSION,
    DetectSettings,
    MovingTrain,
    Observation,
    TrackObservation,
)
from railwatch.detect.motion import moving_trains
from railwatch.detect.occupancy import (
    TRACK_BED,
    BlockFitter,
    CellFit,
    OccupancySettings,
    shadow_width,
)
from railwatch.detect.spectra import car_width_m
from railwatch.errors import InputFileError
from railwatch.imagery import BAND_KEYS, Scene
from railwatch.sites import Site
from railwatch.sun import sun_position

__all__ = ["detect_scene", "moving_along_lines"]

# The reference error is averaged over this neighbourhood of each corridor pixel (pixels, sigma).
_LOCAL_ERROR_PX = 5.0
# Beyond a moving train's ends, the reach of its bands' displacement (36 m/s x 1 s) and blur.
_MOVING_REACH_M = 50.0
# Median change of the ground ring left over by haze and the season above which the ground itself
# changed (reflectance, any band).
_GROUND_CHANGED = 0.006
# Above this share of yard-interior pixels never seen clean in the history the yard was full on
# nearly every date, its ground is a pooled guess and the count a likely undercount: 0.02-0.31 on
# the Khasan and Tumangang histories, 0.24-0.94 on the always-busy synthetic yard (bench seeds).
_YARD_GROUND_UNSEEN = 0.4
# Wet ballast (``_evenly_dark``): blocks with at least this many pixels' worth of track bed seen,
# this many of them and this share of the site's; the quietest tenth darker than this many noise
# sds and at least this share of the median darkening.
_EVEN_MIN_BED_PX = 1.0
_EVEN_MIN_BLOCKS = 10
_EVEN_MIN_SEEN = 0.7
_EVEN_MIN_Z = 2.0
_EVEN_SPREAD = 0.5
# Ground pixels needed to measure the scene's haze, its reference error, a change of the ground.
_MIN_GROUND_PIXELS = 50


def detect_scene(scene: Scene, site: Site, *, history: Background | None = None,
                 settings: DetectSettings | None = None) -> Observation:
    """Measure rolling stock and moving trains of ``site`` in ``scene``.

    Raises :class:`InputFileError` for a malformed scene (bands of different shapes, a missing
    band) or a history on another grid; returns an observation with status
    ``unknown``/``no_data``/``cloudy`` and a reason when the scene is well-formed but cannot be
    measured.
    """
    started = time.perf_counter()
    settings = settings or DetectSettings()
    stack = _band_stack(scene)

    def unmeasured(status: str, reason: str, visible: float = 0.0,
                   tracks: tuple[TrackObservation, ...] = (),
                   moving: tuple[MovingTrain, ...] = (), flags: tuple[str, ...] = ()
                   ) -> Observation:
        return Observation(
            site=site.id, item=scene.scene_id, datetime=scene.datetime, status=status,
            quality="poor", detector_version=DETECTOR_VERSION, visible_fraction=visible,
            car_equivalents=None, car_equivalents_interval=None, occupied_m=None, tracks=tracks,
            moving_trains=moving, flags=flags, reason=reason,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    if not site.tracks:
        return unmeasured("unknown", f"site {site.id!r} has no tracks to measure")
    if scene.scl is None:
        return unmeasured("unknown", "the scene has no SCL band: clouds and shadows cannot be "
                          "told from rolling stock")
    tracks_utm, aoi = _site_in(site, scene.epsg)
    plan = pixel_plan(tracks_utm, aoi, scene.transform, scene.shape, site_id=site.id)
    if not len(plan.pixels):
        return unmeasured("no_data", "the scene does not cover the site's tracks")
    with_data = np.isfinite(stack[:, plan.pixels]).all(axis=0)
    if not with_data.any():
        return unmeasured("no_data", "every pixel over the site's tracks is no data")

    scl = np.asarray(scene.scl).ravel()
    hidden = hidden_mask(np.asarray(scene.scl), margin_px=settings.cloud_margin_px).ravel()
    hidden |= ~np.isfinite(stack).all(axis=0)
    corridor_scl = scl[plan.pixels]
    snowy = float((corridor_scl == SNOW_SCL).mean())
    flags: list[str] = []
    if snowy > 0.3:
        flags.append("snow")
    if (corridor_scl == CIRRUS_SCL).mean() > 0.2:
        flags.append("thin_cirrus")
    if history is None:
        flags.append("no_history")
        delta, reference, noise = _self_reference(stack, hidden, plan)
        reference_error = np.full((4, len(plan.pixels)), settings.reference_bias)
        fringe = np.zeros(math.prod(plan.window.shape), dtype=bool)
    else:
        delta, reference, noise, reference_error, changed, fringe = _history_reference(
            stack, hidden, plan, history, settings, snowy=snowy > 0.3)
        if changed and snowy <= 0.3:
            flags.append("ground_changed")
    # --- moving trains
    moving = tuple(moving_trains(scene, delta, hidden, plan, site.direction, settings))
    # Counting sums every pixel of a block, and the soft edge of a cloud or its shadow reads as
    # light or dark roofs well beyond the SCL's classes: it keeps a wider berth than motion.
    cloudy = in_classes(scl, CLOUD_SCL)
    counted_hidden = hidden[plan.pixels]
    if fringe.any():
        flags.append("cloud_fringe")
        plan.window.paste(plan.window.cut(cloudy) | fringe, cloudy)
    if cloudy.any():
        counted_hidden |= _near_corridor(cloudy, plan, settings.fringe_margin_px)
    visible = ~counted_hidden & np.isfinite(delta[:, plan.pixels]).all(axis=0)

    def not_counted(track_reason: str, site_reason: str) -> Observation:
        tracks = tuple(TrackObservation(t.id, "unknown", t.length_m, 0.0, None, None, None,
                                        reason=track_reason) for t in plan.tracks)
        return unmeasured("unknown", site_reason, float(visible.mean()), tracks, moving,
                          tuple(flags))

    if "ground_changed" in flags:
        return not_counted("the ground around the tracks does not look like the history's",
                           "the ground around the tracks changed in a way neither haze nor the "
                           "season explains (snow under haze, flooding, fresh ballast?): rolling "
                           "stock cannot be counted against the history")
    if "snow" in flags:
        # Snow lies on the track bed in a share that changes from date to date (and with its
        # age, its brightness): the empty ground under *this* snow is in no history, and the
        # difference it leaves (up to ~0.2 reflectance on the ballast) is larger than a yard
        # of cars.  Counting against it gave +80..+140 phantom cars on quiet tracks (bench).
        return not_counted("snow on the tracks: the empty ground under it is not known",
                           "snow covers the tracks: the ground under it is not known, so rolling "
                           "stock cannot be counted")
    if _evenly_dark(delta[:, plan.pixels], visible, plan, noise):
        flags.append("wet_ballast")
        return not_counted("the track bed is evenly darker over the whole site",
                           "the track bed is evenly darker on every seen block, as after rain "
                           "(wet ballast) and unlike stock, which stands in cuts with gaps: it "
                           "cannot be counted")

    # --- occupancy
    width = settings.roof_width_m or car_width_m(site.gauges_mm)
    centre = site.aoi.centroid
    elevation, azimuth = sun_position(scene.datetime, centre.x, centre.y)
    occupancy = OccupancySettings(width, settings.occupied_threshold, settings.neighbour_threshold,
                                  settings.extra_type_penalty, reference_error,
                                  settings.split_contrast)

    fitter = BlockFitter(delta[:, plan.pixels], reference, visible, plan, noise,
                         TRACK_BED, occupancy, moving=_moving_blocks(plan, moving))

    def fit_with(neighbour_share: float | np.ndarray) -> CellFit:
        return fitter.fit(shadow_width(elevation, azimuth, plan.cell_azimuth, plan.cell_gap,
                                       height_m=settings.car_height_m, width_m=width,
                                       neighbour_share=neighbour_share,
                                       car_length_m=settings.car_length_m,
                                       coupled_gap_m=settings.coupled_gap_m))

    # A car's shadow across the gap to the next track falls on that track's cars when there are
    # any, and a roof hides it: a busy yard shows little shade.  The first fit, at a prior share,
    # tells how busy each block is; the second fit uses that.
    fit = fit_with(settings.neighbour_occupied_share)
    busy = np.clip(np.nan_to_num(fit.length_m) / np.maximum(fit.seen_track_m.sum(axis=1), 1e-9),
                   0.0, 1.0)
    fit = fit_with(busy)
    # Roof metres to occupied track: each car's roof is its length less the gap to the next.
    over_roof = settings.car_length_m / (settings.car_length_m - settings.coupled_gap_m)
    fit = replace(fit, length_m=fit.length_m * over_roof, variance_m2=fit.variance_m2 * over_roof**2,
                  per_track_m=fit.per_track_m * over_roof)

    # --- per track and per site
    track_obs, seen_m, total_m, occupied_m, variance = _per_track(plan, fit, settings)
    visible_fraction = seen_m / total_m if total_m else 0.0
    if visible_fraction < settings.min_visible_fraction:
        return unmeasured("cloudy", f"only {visible_fraction:.0%} of the tracks is visible",
                          visible_fraction, track_obs, moving, tuple(flags))
    density = max(occupied_m, 0.0) / max(seen_m, 1.0)
    hidden_m = total_m - seen_m
    estimate_m = max(occupied_m, 0.0) + hidden_m * density
    sd = math.sqrt(variance + (settings.model_rel_sd * max(occupied_m, 0.0)) ** 2)
    low_m = max(0.0, occupied_m - 1.96 * sd)
    busiest = min(1.0, max(2.0 * density, density + 0.15))
    high_m = max(occupied_m, 0.0) + 1.96 * sd + hidden_m * busiest
    if any(t.status != "ok" for t in track_obs):
        flags.append("tracks_unknown")
    if visible_fraction < 0.9:
        flags.append("partly_hidden")
    # Worth telling the analyst when it would have made a car or more.
    if fit.unexplained_m * over_roof >= settings.car_length_m:
        flags.append("unexplained_change")
    if history is not None and history.yard_ground_pooled > _YARD_GROUND_UNSEEN:
        flags.append("yard_ground_unseen")
    quality = "good" if visible_fraction >= 0.9 and "snow" not in flags else (
        "fair" if visible_fraction >= 0.6 else "poor")
    if "yard_ground_unseen" in flags:
        quality = "poor"
    car = settings.car_length_m
    return Observation(
        site=site.id, item=scene.scene_id, datetime=scene.datetime, status="ok", quality=quality,
        detector_version=DETECTOR_VERSION, visible_fraction=visible_fraction,
        car_equivalents=estimate_m / car, car_equivalents_interval=(low_m / car, high_m / car),
        occupied_m=estimate_m, tracks=track_obs, moving_trains=moving, flags=tuple(flags),
        background="history" if history is not None else "self",
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def moving_along_lines(scene: Scene, lines: dict[str, LineString], *,
                       settings: DetectSettings | None = None) -> list[MovingTrain]:
    """Moving vehicles along arbitrary lines (UTM metres, the scene's CRS), without a site.

    For imagery where no site exists, such as a road: each line is a "track", the ground is each
    line's own median at each distance from it, and SCL is not needed (the caller vouches for a
    clear chip).  ``direction`` is empty.
    """
    settings = settings or DetectSettings()
    stack = _band_stack(scene)
    plan = pixel_plan(lines, None, scene.transform, scene.shape,
                      site_id=f"lines:{scene.scene_id}")
    hidden = ~np.isfinite(stack).all(axis=0)
    if scene.scl is not None:
        hidden |= hidden_mask(np.asarray(scene.scl)).ravel()
    delta, _, _ = _self_reference(stack, hidden, plan)
    return moving_trains(scene, delta, hidden, plan, lambda x, y, h: "", settings)


def _moving_blocks(plan: PixelPlan, moving: tuple[MovingTrain, ...]) -> np.ndarray:
    """(C,) the blocks a moving train was found in, with the reach of its bands' displacement
    (up to 36 m/s x 1 s) beyond its ends."""
    blocks = np.zeros(len(plan.cell_azimuth), dtype=bool)
    tracks = {t.id: t for t in plan.tracks}
    for train in moving:
        track = tracks[train.track]
        stations = track.geometry.stations_m
        span = np.abs(stations - train.position_m) <= train.length_m / 2 + _MOVING_REACH_M
        pixels = track.station_pixel[span]
        pixels = pixels[pixels >= 0]
        # ``plan.pixels`` is sorted; a station's pixel is a corridor pixel.
        at = np.minimum(np.searchsorted(plan.pixels, pixels), len(plan.pixels) - 1)
        blocks[plan.cell[at[plan.pixels[at] == pixels]]] = True
    return blocks


# --- input checks -------------------------------------------------------------------------------


def _band_stack(scene: Scene) -> np.ndarray:
    missing = [k for k in BAND_KEYS if k not in scene.bands]
    if missing:
        raise InputFileError(f"scene {scene.scene_id}: band(s) {', '.join(missing)} missing",
                             hint="the detector needs blue, green, red and nir (B02, B03, B04, B08)")
    shapes = {k: np.shape(scene.bands[k]) for k in BAND_KEYS}
    if scene.scl is not None:
        shapes["scl"] = np.shape(scene.scl)
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        listed = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise InputFileError(f"scene {scene.scene_id}: bands have different shapes ({listed})",
                             hint="read all bands on one 10 m grid (railwatch.imagery does)")
    return np.stack([np.asarray(scene.bands[k], dtype=np.float32).ravel() for k in BAND_KEYS])


def _site_in(site: Site, epsg: int) -> tuple[dict[str, LineString], object]:
    if epsg == site.epsg:
        return dict(site.tracks_utm), site.aoi_utm
    from pyproj import Transformer

    from railwatch.sites import reproject

    transformer = Transformer.from_crs(4326, epsg, always_xy=True)
    return ({t.id: reproject(t.line, transformer) for t in site.tracks},
            reproject(site.aoi, transformer))


def _near_corridor(mask: np.ndarray, plan: PixelPlan, pixels: int) -> np.ndarray:
    """``near(mask, pixels)`` (``mask`` flat on the plan's grid) at the corridor pixels, (N,):
    grown in the rows and columns around the corridor only, as nothing further out reaches it."""
    rows, cols = np.divmod(plan.pixels, plan.shape[1])
    top, left = max(int(rows.min()) - pixels, 0), max(int(cols.min()) - pixels, 0)
    around = mask.reshape(plan.shape)[top:int(rows.max()) + pixels + 1,
                                      left:int(cols.max()) + pixels + 1]
    return near(around, pixels)[rows - top, cols - left]


# --- the empty ground ---------------------------------------------------------------------------


def _history_reference(stack: np.ndarray, hidden: np.ndarray, plan: PixelPlan,
                       history: Background, settings: DetectSettings, *, snowy: bool
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray]:
    """(delta on the whole grid, matched ground on the corridor, per-band pixel noise, shared
    reference error per corridor pixel, whether the ground changed, cloud fringes on the ring,
    flat in ``plan.window``) with a history.

    The haze is worked out in the window only (it is 0 beyond, where delta is scene minus
    ground)."""
    window = plan.window
    whole_ground = _aligned(history, plan.shape, snowy=snowy, scene_transform_key=plan.key[1])
    scene, ground = window.cut(stack), window.cut(whole_ground)
    usable = ~window.cut(hidden) & np.isfinite(ground).all(axis=0)
    # The scene's haze, from the ground around the tracks (which carries no stock; ``haze``):
    # only the haze applies to the ground under the tracks.  Fitting a level on the corridor
    # itself would absorb a full yard's cars; a gain fitted on the fields would carry their
    # phenology onto the ballast.
    ring = np.zeros(scene.shape[1], dtype=bool)
    ring[window.ring] = True
    ring &= usable
    matched = add_haze(ground, haze_field(scene, ground, ring, window.shape))
    delta = scene - matched
    # Cloud and shadow fringes the SCL left visible change the ring more than haze can: the haze
    # is measured again without them, and the corridor beside them is not counted.
    fringe = cloud_fringe(delta, ring, window.shape)
    if fringe.any():
        ring &= ~fringe
        matched = add_haze(ground, haze_field(scene, ground, ring, window.shape))
        delta = scene - matched
        fringe |= cloud_fringe(delta, ring, window.shape)
        ring &= ~fringe
        usable &= ~fringe
    # What haze and the season leave of the ring's change: ~0.002 at most on clear, hazy and
    # green-up dates, 0.01-0.1 under snow that the SCL called thin cirrus (bench, seeds 0-1).
    changed = False
    if ring.sum() >= _MIN_GROUND_PIXELS:
        unit = GREEN_UP / np.linalg.norm(GREEN_UP)
        on_ring = delta[:, ring]
        left = on_ring - unit[:, None] * (unit @ on_ring)[None, :]
        changed = bool(np.abs(np.median(left, axis=1)).max() > _GROUND_CHANGED)
    whole_delta = np.subtract(stack, whole_ground, dtype=delta.dtype)
    window.paste(delta, whole_delta)
    corridor_ground = matched[:, window.pixels]
    # Where the history never saw the ground, fall back on the scene's own corridor.
    gap = ~np.isfinite(corridor_ground).all(axis=0)
    if gap.any():
        own_delta, own_ground, _ = _self_reference(stack, hidden, plan)
        whole_delta[:, plan.pixels[gap]] = own_delta[:, plan.pixels[gap]]
        corridor_ground[:, gap] = own_ground[:, gap]
    error = np.full((4, len(plan.pixels)), settings.reference_bias, dtype=np.float32)
    if settings.reference_from_ring:
        error = _reference_error(scene, ground, usable, window, settings.reference_bias,
                                 settings.min_reference_bias)
    # Noise of delta in the corridor: pixel noise plus the ground's texture that the reference
    # misses, from differences of neighbouring corridor pixels (stock adds to them only at its
    # edges).
    corridor_delta = np.where(usable[window.pixels][None, :], whole_delta[:, plan.pixels], np.nan)
    return (whole_delta, corridor_ground, _floor(_difference_noise(corridor_delta)), error,
            changed, fringe)


def _reference_error(scene: np.ndarray, ground: np.ndarray, usable: np.ndarray, window: Window,
                     fallback: float, floor: float) -> np.ndarray:
    """The error of the ground reference that neighbouring pixels share, at each corridor pixel
    (4, N): how well the haze measured on the ring carries over to where the stock stands.
    ``scene``, ``ground`` and ``usable`` are flat in ``window``.

    The corridor gets its haze carried in from the ring 30-150 m off the tracks.  The same is done
    here one step out: the haze measured on the ring's far part (60-150 m) is carried into its
    near part (30-60 m), where there is no stock, and what is left there, less pixel noise (from
    differences of neighbours, which a shared error does not reach), averaged over the few
    hundred metres around each corridor pixel, is the shared error there.  It changes across a
    scene (patchy haze, one cloud) and from scene to scene (5-20x under broken cloud): a fixed
    value either drops single cars in clear scenes or counts haze as cars.  Fields greening up or
    browning off are left out: the corridor's fit allows for them.
    """
    everywhere = np.full((4, len(window.pixels)), fallback, dtype=np.float32)
    far = np.zeros(scene.shape[1], dtype=bool)
    far[window.ring_far] = True
    far &= usable
    near = window.ring[usable[window.ring] & ~far[window.ring]]
    if far.sum() < _MIN_GROUND_PIXELS or near.size < _MIN_GROUND_PIXELS:
        return everywhere
    carried = add_haze(ground[:, near], haze_field(scene, ground, far, window.shape, at=near))
    values = scene[:, near] - carried
    unit = GREEN_UP / np.linalg.norm(GREEN_UP)
    values = values - unit[:, None] * (unit @ values)[None, :]
    excess = values**2 - _difference_noise(values)[:, None] ** 2
    layers = np.zeros((5, scene.shape[1]), dtype=np.float32)
    layers[:4, near] = excess
    layers[4, near] = 1.0
    smooth = smooth_coarse(layers.reshape(5, *window.shape), _LOCAL_ERROR_PX, at=window.pixels)
    weight = smooth[4]
    overall = np.median(excess, axis=1)
    local = np.where(weight > 0.05, smooth[:4] / np.maximum(weight, 1e-6), overall[:, None])
    return np.sqrt(np.maximum(local, floor**2)).astype(np.float32)


def _aligned(history: Background, shape: tuple[int, int], *, snowy: bool,
             scene_transform_key: tuple) -> np.ndarray:
    """The history's ground on the scene's grid (same pixel size, any whole-pixel offset)."""
    scene_t = scene_transform_key
    hist_t = tuple(history.transform)[:6]
    ground = history.stack(snow=snowy)
    if hist_t == scene_t and history.shape == shape:
        return ground
    if not (math.isclose(hist_t[0], scene_t[0]) and math.isclose(hist_t[4], scene_t[4])
            and hist_t[1] == scene_t[1] == 0.0):
        raise InputFileError("the history is on another grid than the scene",
                             hint="build the history from scenes of the same MGRS tile")
    dc = (scene_t[2] - hist_t[2]) / hist_t[0]
    dr = (scene_t[5] - hist_t[5]) / hist_t[4]
    if abs(dc - round(dc)) > 1e-3 or abs(dr - round(dr)) > 1e-3:
        raise InputFileError("the history's pixels are not aligned with the scene's",
                             hint="build the history from scenes of the same MGRS tile")
    dc, dr = int(round(dc)), int(round(dr))
    rows, cols = shape
    h_rows, h_cols = history.shape
    out = np.full((4, rows, cols), np.nan, dtype=np.float32)
    grid = ground.reshape(4, h_rows, h_cols)
    r0, c0 = max(0, -dr), max(0, -dc)
    r1, c1 = min(rows, h_rows - dr), min(cols, h_cols - dc)
    if r1 > r0 and c1 > c0:
        out[:, r0:r1, c0:c1] = grid[:, r0 + dr:r1 + dr, c0 + dc:c1 + dc]
    return out.reshape(4, -1)


def _self_reference(stack: np.ndarray, hidden: np.ndarray, plan: PixelPlan
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground without a history: per track and 2.5 m distance band, the corridor's median.
    (delta on the whole grid, 0 off the corridor and NaN where hidden; the ground on the
    corridor; per-band pixel noise)."""
    delta = np.zeros_like(stack)
    pixels = plan.pixels
    if not len(pixels):
        return delta, np.zeros((4, 0), dtype=stack.dtype), np.full(4, 1e-2)
    values = stack[:, pixels]
    values[:, hidden[pixels]] = np.nan
    nearest = np.argmax(plan.track_weight, axis=1)
    band = np.clip(np.round(plan.bed_share * 10).astype(int), 0, 10)
    reference = _group_medians(values, nearest * 11 + band)
    delta[:, pixels] = values - reference
    delta[:, pixels[hidden[pixels]]] = np.nan
    return delta, reference, _floor(_difference_noise(values - reference))


def _group_medians(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per band (row of ``values``) and group, the median of the group's values that are not NaN,
    at each of its pixels (NaN when it has none).  ``np.nanmedian`` group by group gives the same,
    bit for bit (the mean of the two middle values in the values' precision), in several times the
    time on a site's hundred groups."""
    _, group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    # Sorted by group, then by value with NaNs last: the groups are the same runs in every band.
    order = np.lexsort((values, np.broadcast_to(group, values.shape)), axis=-1)
    ordered = np.take_along_axis(values, order, axis=-1)
    starts = np.cumsum(sizes) - sizes
    seen = np.add.reduceat(~np.isnan(ordered), starts, axis=1)
    low = starts + np.maximum(seen - 1, 0) // 2
    high = starts + seen // 2
    middle = (np.take_along_axis(ordered, low, axis=1)
              + np.take_along_axis(ordered, high, axis=1)) / 2
    return np.where(seen > 0, middle, np.nan)[:, group]


def _difference_noise(values: np.ndarray) -> np.ndarray:
    diffs = np.abs(values[:, 1:] - values[:, :-1])
    seen = ~np.isnan(diffs)
    # Per band the median of the differences seen (``np.nanmedian`` does the same, far slower).
    if seen.all():
        median = np.median(diffs, axis=1)
    else:
        median = np.array([np.median(band[ok]) if ok.any() else np.nan
                           for band, ok in zip(diffs, seen, strict=True)], dtype=diffs.dtype)
    return 1.4826 * median / math.sqrt(2)


def _floor(noise: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(noise) & (noise > 5e-4), noise, 5e-3)


def _evenly_dark(delta: np.ndarray, visible: np.ndarray, plan: PixelPlan,
                 noise: np.ndarray) -> bool:
    """Whether the track bed is darker by about the same amount in nearly every block: wet
    ballast.  ``delta`` (4, N) is scene - ground on the corridor, ``visible`` (N,) its seen
    pixels, ``noise`` (4,) the pixel noise.

    Rain darkens crushed rock by a tenth to a third in every band and it dries within hours,
    while the fields around keep their colour: the bed of every track then reads as dark roofs
    along its whole length (code-made scenes: 100-230 phantom car-equivalents on 3 km of track).
    Its change has the shape of black paint or shade, so it is told apart by where it is:
    stock stands in cuts, with empty blocks and gaps between them even in a busy yard, while
    wetness darkens every block alike.  Per block, the darkening along the bed's own spectrum
    per pixel's worth of bed, and its significance against the pixel noise."""
    unit = TRACK_BED / np.linalg.norm(TRACK_BED)
    cells = len(plan.cell_length)
    bed = np.where(visible, plan.bed_share, 0.0)
    dark = -np.bincount(plan.cell, weights=np.where(visible, unit @ np.nan_to_num(delta), 0.0),
                        minlength=cells)
    pixels = np.bincount(plan.cell, weights=visible.astype(float), minlength=cells)
    bed_sum = np.bincount(plan.cell, weights=bed, minlength=cells)
    blocks = bed_sum >= _EVEN_MIN_BED_PX
    # Wetness is told from a busy yard by covering the whole network alike; with most of the
    # site hidden, a full yard alone in view looks the same (two Tumangang scenes at 34 % seen).
    with_bed = np.bincount(plan.cell, weights=plan.bed_share, minlength=cells) >= _EVEN_MIN_BED_PX
    if blocks.sum() < max(_EVEN_MIN_BLOCKS, _EVEN_MIN_SEEN * with_bed.sum()):
        return False
    z = dark[blocks] / (float(np.linalg.norm(noise * unit)) * np.sqrt(pixels[blocks]))
    per_bed = dark[blocks] / bed_sum[blocks]
    low, middle = np.quantile(per_bed, [0.1, 0.5])
    return bool(np.quantile(z, 0.1) >= _EVEN_MIN_Z and low >= _EVEN_SPREAD * middle)


# --- per track ----------------------------------------------------------------------------------


def _per_track(plan: PixelPlan, fit, settings: DetectSettings
               ) -> tuple[tuple[TrackObservation, ...], float, float, float, float]:
    """Track observations, and the site's seen/total length, occupied metres seen, variance."""
    seen_cells = fit.visible
    lengths = plan.cell_track_length
    seen_lengths = fit.seen_track_m
    shares = fit.per_track_m / np.where(np.abs(np.nan_to_num(fit.length_m))[:, None] > 1e-9,
                                      np.nan_to_num(fit.length_m)[:, None], 1.0)
    observations = []
    for t, track in enumerate(plan.tracks):
        total = float(lengths[:, t].sum())
        seen = float(seen_lengths[:, t].sum())
        fraction = seen / total if total else 0.0
        if total <= 0 or fraction < settings.min_track_visible_fraction:
            observations.append(TrackObservation(
                track.id, "unknown", track.length_m, fraction, None, None, None,
                reason="hidden by cloud, shadow or no data" if total else "outside the scene"))
            continue
        occupied = float(fit.per_track_m[seen_cells, t].sum())
        variance = float(np.nansum(shares[seen_cells, t] ** 2 * fit.variance_m2[seen_cells]))
        occupied = max(occupied, 0.0)
        sd = math.sqrt(variance + (settings.model_rel_sd * occupied) ** 2)
        car = settings.car_length_m
        estimate = occupied / fraction
        unseen = total - seen
        interval = (max(0.0, occupied - 1.96 * sd) / car,
                    (occupied + 1.96 * sd + unseen * min(1.0, 2 * occupied / seen + 0.15)) / car)
        observations.append(TrackObservation(track.id, "ok", track.length_m, fraction, estimate,
                                             estimate / car, interval))
    total_m = float(lengths.sum())
    seen_m = float(seen_lengths.sum())
    occupied_m = float(np.nansum(fit.length_m[seen_cells]))
    variance = float(np.nansum(fit.variance_m2[seen_cells]))
    return tuple(observations), seen_m, total_m, occupied_m, variance
