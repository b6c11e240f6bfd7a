"""Speed from the time the MSI takes to sense its bands.

Sentinel-2 senses B02, B08, B03 and B04 at 0, 0.264, 0.527 and 1.005 s (``BAND_LAGS_S``), so an
object moving at ``v`` along a track appears in band ``b`` displaced by ``v * lag_b``.  A train is
long (100-1000 m), so the displacement shows where its profile steps: at its two ends and at every
boundary between wagons of different colour; a truck is shorter than its displacement, so its
bands separate into the familiar blue-green-red triplet.

Detection (``moving_trains`` -> ``find_moving``) fits every step along a track with a parametric
model: in each band a level plus a contrast (either sign: a black tank car is darker than ballast
in every band, a brown box car darker in blue but brighter in the NIR) times a blurred step or
short box at ``x + v * lag_b`` (``step_gain``).  Its chi-square gain over a standing step, at
every speed, is summed over the steps of a stretch of track that move together (each step either
moves with the train or stands: standing stock beside a moving train must not drag it to 0).
Clouds, whose edges move between the bands with their parallax, are kept out by their distance,
by the ground beside the track (a cloud covers it too, and moves with the scene's clouds where a
train's ground stands still) and by their width (several tracks at once).
``docs/detect-motion.md`` has the reasoning and the measured numbers.

``fit_velocity`` is the older, shape-free fit of one window (a template from the data, refined per
band by Gauss-Newton), kept as a public tool.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from numpy.lib.stride_tricks import as_strided
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.special import erf
from shapely.geometry import LineString, Point

from railwatch.detect.cloudmotion import CloudMotion
from railwatch.detect.geometry import TrackGeometry, sampler_for
from railwatch.detect.layout import PIXEL_M, PSF_SIGMA_M, PixelPlan, footprint
from railwatch.detect.model import BAND_LAGS_S, DetectSettings, MovingTrain
from railwatch.imagery import BAND_KEYS, Scene

__all__ = ["MovingEdge", "VelocityFit", "find_moving", "fit_velocity", "moving_trains", "step_gain"]

LAGS = np.array([BAND_LAGS_S[k] for k in BAND_KEYS])
# Along-track samples 2.5 m apart within 10 m pixels are not independent: about four samples per
# pixel carry one pixel's noise.  Shift variances and chi-square gains are scaled by this.
_CORRELATED_SAMPLES = 4.0


@dataclass(frozen=True)
class VelocityFit:
    speed_mps: float  # signed: positive along the track's stations
    speed_sd_mps: float
    chi2_per_dof: float
    coherence: float  # share of the profiles' energy one aligned shape explains (0..1)
    contrast: np.ndarray  # per band, in noise units
    shifts_m: np.ndarray  # per band, relative to the fitted d0
    template: np.ndarray  # the common shape, on the window's stations (blue time)


def _shifted(profiles: np.ndarray, stations: np.ndarray, where: np.ndarray,
             shifts: np.ndarray) -> np.ndarray:
    """profiles (4, n) sampled at ``stations``, read at ``where + shift`` per band (shifts (4,) or
    (k, 4)).  Reads beyond the data hold the end value: padding with zeros would put a fixed,
    unmoving edge at the window's end and pull every speed towards 0."""
    if shifts.ndim == 1:
        return np.stack([np.interp(where + shifts[b], stations, profiles[b])
                         for b in range(profiles.shape[0])])
    out = np.empty((shifts.shape[0], profiles.shape[0], where.size))
    for b in range(profiles.shape[0]):
        at = where[None, :] + shifts[:, b, None]
        out[:, b] = np.interp(at.ravel(), stations, profiles[b]).reshape(at.shape)
    return out


def fit_velocity(profiles: np.ndarray, stations: np.ndarray, *, max_speed_mps: float,
                 speed_step_mps: float = 0.5, core: slice | None = None) -> VelocityFit:
    """Fit one along-track velocity to per-band anomaly profiles (noise units, NaN-free).

    ``profiles`` is (4, n) in BAND_KEYS order, ``stations`` (n,) metres, evenly spaced.  Only
    the stations in ``core`` (default all) are compared; the profiles around it are read when a
    band is shifted, so a train that goes on past the window's end is not cut off in one band.
    """
    where = stations[core] if core is not None else stations
    speeds = np.arange(-max_speed_mps, max_speed_mps + 1e-9, speed_step_mps)
    aligned = _shifted(profiles, stations, where, speeds[:, None] * LAGS[None, :])  # (v, 4, n)
    # Each band's own level in the window is no part of the shape: at the boundary between two
    # kinds of wagon, or a train's end beside standing stock, the profiles are a level plus a step.
    aligned -= aligned.mean(axis=-1, keepdims=True)
    gram = np.einsum("vbn,vcn->vbc", aligned, aligned)
    eigen = np.linalg.eigvalsh(gram)
    total = np.trace(gram, axis1=1, axis2=2)
    share = eigen[:, -1] / np.maximum(total, 1e-12)
    best = int(np.argmax(share))
    speed0 = float(speeds[best])
    if 0 < best < len(speeds) - 1:  # parabolic refinement between grid speeds
        left, mid, right = share[best - 1], share[best], share[best + 1]
        denom = left - 2 * mid + right
        if denom < 0:
            speed0 += 0.5 * (left - right) / denom * speed_step_mps
    fit = _refine(profiles, stations, where, speed0, float(share[best]))
    for _ in range(2):  # re-centre the templates on the refined speed
        if not np.isfinite(fit.speed_sd_mps) or abs(fit.speed_mps - speed0) < 0.2:
            break
        speed0 = float(np.clip(fit.speed_mps, -max_speed_mps, max_speed_mps))
        fit = _refine(profiles, stations, where, speed0, fit.coherence)
    return fit


def _refine(profiles: np.ndarray, stations: np.ndarray, where: np.ndarray, speed0: float,
            coherence: float) -> VelocityFit:
    step = float(stations[1] - stations[0])
    base = _shifted(profiles, stations, where, speed0 * LAGS)
    base -= base.mean(axis=-1, keepdims=True)
    _, vectors = np.linalg.eigh(base @ base.T)
    weights = vectors[:, -1]
    template = weights @ base
    contrast = base @ template / max(float(template @ template), 1e-12)

    # Gauss-Newton on each band's residual shift against the template of the *other* bands (a
    # template that contains the band itself would pull its shift towards the grid speed).
    shifts = np.zeros(4)
    variances = np.full(4, np.inf)
    for b in range(4):
        others = np.delete(np.arange(4), b)
        reference = weights[others] @ base[others]
        norm = float(reference @ reference)
        if norm <= 1e-9:
            continue
        gain = float(base[b] @ reference) / norm
        slope = np.gradient(reference, step)
        info = gain**2 * float(slope @ slope)
        if info <= 1e-9:
            continue
        delta = 0.0
        for _ in range(4):
            moved = np.interp(where + speed0 * LAGS[b] + delta, stations, profiles[b])
            moved -= moved.mean()
            delta -= float((moved - gain * reference) @ (gain * slope)) / info
            delta = float(np.clip(delta, -3 * step, 3 * step))
        shifts[b] = speed0 * LAGS[b] + delta
        variances[b] = _CORRELATED_SAMPLES / info
    usable = np.isfinite(variances)
    if usable.sum() < 2 or np.ptp(LAGS[usable]) < 0.25:
        return VelocityFit(speed0, np.inf, np.inf, coherence, contrast, shifts, template)
    w = 1.0 / variances[usable]
    lag = LAGS[usable]
    lag_mean = float((w * lag).sum() / w.sum())
    sxx = float((w * (lag - lag_mean) ** 2).sum())
    shift_mean = float((w * shifts[usable]).sum() / w.sum())
    speed = float((w * (lag - lag_mean) * (shifts[usable] - shift_mean)).sum() / sxx)
    residual = shifts[usable] - (shift_mean + speed * (lag - lag_mean))
    dof = max(int(usable.sum()) - 2, 1)
    chi2 = float((w * residual**2).sum() / dof)
    speed_sd = float(np.sqrt(1.0 / sxx) * max(1.0, np.sqrt(chi2)))
    d0 = shift_mean - speed * lag_mean
    return VelocityFit(speed, speed_sd, chi2, coherence, contrast, shifts - d0, template)


# --- moving edges along a track, and trains made of them ----------------------------------------


@dataclass(frozen=True)
class MovingEdge:
    """One place along a track where the profile steps (an end of a train, or the boundary
    between two kinds of wagon), with how much better a moving step explains its four bands
    than a standing one, at every speed of ``speeds``."""

    index: int
    speeds: np.ndarray  # (V,) m/s, signed along the track's stations
    gain: np.ndarray  # (V,) chi-square of a standing step minus that of a step moving so
    energy: float  # the four bands' summed squared change across it, in noise units
    cloud_m: float = math.inf  # distance to the nearest hidden pixel (a cloud, its shadow)


def find_moving(profile: np.ndarray, visible: np.ndarray, geometry: TrackGeometry,
                noise: np.ndarray, direction_of: Callable[[float, float, float], str],
                settings: DetectSettings, *, beside: np.ndarray | None = None,
                cloud_distance_m: np.ndarray | None = None,
                cloud_motion: CloudMotion | None = None) -> list[tuple[MovingTrain, float]]:
    """Moving trains on one track from its matched-filter profile (4, n) of scene minus ground,
    each with how strongly this track's profile shows it (the root of its steps' summed
    energy: a train also shows, fainter, on a track beside it).

    Every step of the profile (the ends of a train, and the boundaries between wagons of
    different colour inside it) carries the motion: in band ``b`` it sits ``v * lag_b`` ahead.
    Each step is fitted with a blurred step per band, at a common position and speed
    (``step_gain``); steps close together along the track that gain most at one common speed are
    a train.  Standing stock steps at 0 m/s; a cloud edge or a snow bank at one place only.
    ``beside`` (4, n, 2), the ground on either side of the track on the profile's scale (NaN
    where there is none), rules out steps as strong off the track, on every side seen, as on it:
    the edges of clouds, haze and snow, which also move (a cloud's parallax between the bands)
    but are not confined to a track.  (A train's shadow may reach the ground on one side.)
    ``cloud_distance_m`` (n,): how far each station is from the nearest hidden pixel (a cloud,
    its shadow) in any direction; steps closer than ``motion_cloud_margin_m`` are not used.
    ``cloud_motion``: the scene's clouds and how far they move between the bands; a step within
    ``single_edge_cloud_margin_m`` of a hidden pixel whose ground beside moves with them is not
    used (``CloudMotion``).
    """
    stations = geometry.stations_m
    if len(stations) < 12:
        return []
    step = float(stations[1] - stations[0])
    unit = profile / noise[:, None]
    off_track = None if beside is None else beside / noise[:, None, None]
    clear = visible.copy()
    if cloud_distance_m is not None:
        clear &= cloud_distance_m > settings.motion_cloud_margin_m
    # Far from clouds (as far as a train seen at one step must be), the steps of fast trains
    # are fitted in windows moved back and forth as well (``_refit_fast``).
    far = (np.ones(len(stations), dtype=bool) if cloud_distance_m is None
           else cloud_distance_m >= settings.single_edge_cloud_margin_m)
    with_clouds = None
    if cloud_motion is not None:
        motion = cloud_motion

        def with_clouds(indices: np.ndarray) -> np.ndarray:
            near = ~far[indices]
            cloudy = np.zeros(len(indices), dtype=bool)
            if near.any():
                cloudy[near] = motion.moves_with(geometry, indices[near], settings)
            return cloudy

    edges = _moving_edges(unit, visible, clear, stations, settings, off_track, far, with_clouds)
    if cloud_distance_m is not None:
        edges = [replace(e, cloud_m=float(cloud_distance_m[e.index])) for e in edges]
    reach = int(math.ceil(settings.motion_margin_m / step))

    def out_of_sight(edge: MovingEdge) -> bool:
        return _runs_out_of_sight(edge.index, unit, visible, off_track, reach, step, settings)

    found = []
    for chain in _chains(edges, step, settings.motion_group_gap_m):
        train = _train_from(chain, geometry, direction_of, settings, out_of_sight)
        if train is not None:
            found.append(train)
    return found


def _change(unit: np.ndarray, half: int) -> np.ndarray:
    """Per-band change of the profile across ``2 * half`` stations, centred."""
    n = unit.shape[1]
    change = np.zeros_like(unit)
    change[:, half:n - half] = unit[:, 2 * half:] - unit[:, :n - 2 * half]
    return change


def _moving_edges(unit: np.ndarray, visible: np.ndarray, clear: np.ndarray,
                  stations: np.ndarray, settings: DetectSettings,
                  off_track: np.ndarray | None = None,
                  far_from_clouds: np.ndarray | None = None,
                  with_clouds: Callable[[np.ndarray], np.ndarray] | None = None
                  ) -> list[MovingEdge]:
    step = float(stations[1] - stations[0])
    half = max(1, int(round(settings.edge_span_m / 2 / step)))
    n = unit.shape[1]
    change = _change(unit, half)
    # Two stations ``2 * half`` apart: each has unit noise, correlated less the farther apart;
    # measured on this track (its ground may be quieter or busier than the site's).
    spread = 1.4826 * _median(np.abs(change[:, half:n - half]))
    spread = np.maximum(spread, 1e-3)[:, None]
    scaled = change / spread
    energy = np.convolve((scaled**2).sum(axis=0), np.ones(3) / 3, mode="same")
    # Stations near a cloud, its shadow or the raster's edge do not count: a cloud seen ~1 s
    # apart moves with its parallax, and thin cloud reaches past the SCL mask.
    margin = int(math.ceil(settings.motion_cloud_margin_m / step))
    clear = clear.copy()
    if margin and not visible.all():
        # Within ``margin`` stations of a hidden one: the hidden stations, widened both ways.
        near_hidden = np.convolve((~visible).astype(float), np.ones(2 * margin + 1), mode="same")
        clear &= near_hidden < 0.5
    candidate = clear & (energy > 4 * settings.edge_threshold**2)
    candidate[[0, -1]] = False
    peaks = np.flatnonzero(candidate[1:-1] & (energy[1:-1] >= energy[:-2])
                           & (energy[1:-1] > energy[2:])) + 1
    # One fit per ``edge_spacing_m``: the strongest step first.
    apart = int(math.ceil(settings.edge_spacing_m / step))
    reach = int(math.ceil(settings.motion_margin_m / step))
    taken = np.zeros(n, dtype=bool)
    model = _step_model(step, reach, settings.max_speed_mps)
    # Per-band noise of this track's stations (the change of two nearly independent ones / sqrt 2)
    weight = 2.0 / spread[:, 0] ** 2
    chosen = []
    for index in peaks[np.argsort(-energy[peaks], kind="stable")]:
        if taken[index] or index < reach or index + reach >= n:
            continue
        if not visible[index - reach:index + reach + 1].all():
            continue
        # A step seen off the track as well still keeps its neighbours from being fitted.
        taken[max(0, index - apart):index + apart + 1] = True
        chosen.append(int(index))
    if off_track is not None and chosen:
        sides = [_ground_steps(off_track[:, :, side], half, spread)
                 for side in range(off_track.shape[2])]
        near = np.array(chosen)[:, None] + np.arange(-2 * half, 2 * half + 1)
        off = _off_the_track(sides, scaled, near, settings)
        chosen = [index for index, beside in zip(chosen, off, strict=True) if not beside]
    if with_clouds is not None and chosen:
        cloudy = with_clouds(np.array(chosen))
        chosen = [index for index, cloud in zip(chosen, cloudy, strict=True) if not cloud]
    if not chosen:
        return []
    windows = np.stack([unit[:, i - reach:i + reach + 1] for i in chosen])
    gains = step_gain(windows, weight, model)
    if far_from_clouds is not None:
        _refit_fast(gains, chosen, unit, visible, clear & far_from_clouds, weight, model, reach,
                    step)
    edges = [MovingEdge(i, model.speeds, gain, float(energy[i]))
             for i, gain in zip(chosen, gains, strict=True)]
    edges.sort(key=lambda e: e.index)
    return edges


def _refit_fast(gains: np.ndarray, chosen: list[int], unit: np.ndarray, visible: np.ndarray,
                far: np.ndarray, weight: np.ndarray, model: _StepModel, reach: int,
                step: float) -> None:
    """Fits of each step with its window moved half a search back and forth: a fast train's
    bands spread over up to ``v * 1.005 s``, and in a faint one the four bands' change peaks
    where most of them have stepped, up to that far ahead of B02.  Its B02 step is then
    beyond the fit's search (+- ``reach / 2`` stations), which keeps only the later bands'
    rise: a static-looking step.  A window moved back (against the motion) holds it.  Only
    for the speeds that need it, one sign for each direction of the move; and only on steps
    ``far`` from clouds (``single_edge_cloud_margin_m``): a window moved towards a cloud's
    parallax gives its edges a second chance.  ``gains`` (E, V) is raised in place."""
    n = unit.shape[1]
    move = reach // 2
    for shift in (-move, move):
        # B02 sits ``move`` stations behind the step for motion towards increasing stations
        # when the window moves back (shift < 0), and ahead for the other direction.
        needed = (np.sign(model.speeds) == -np.sign(shift)) & (
            np.abs(model.speeds) * float(LAGS.max()) > move * step)
        if not needed.any():
            continue
        which = [k for k, i in enumerate(chosen)
                 if far[i] and reach <= i + shift < n - reach
                 and visible[i + shift - reach:i + shift + reach + 1].all()]
        if not which:
            continue
        windows = np.stack([unit[:, chosen[k] + shift - reach:chosen[k] + shift + reach + 1]
                            for k in which])
        # The whole speed grid: the misfit that scales the gains compares with the best speed.
        moved = step_gain(windows, weight, model)
        gains[which] = np.where(needed, np.maximum(gains[which], moved), gains[which])


# A single step near a cloud has nothing else to vouch that its bands' displacement is motion:
# it must move farther between B02 and B04 (1.005 s) than twice the bands' static co-registration
# tolerance (~0.3 px each, SENSOR.md; two bands: sqrt(2) x 3 m), or band misregistration and the
# cloud's own parallax nearby could explain it.
_SINGLE_STEP_MIN_SPEED_MPS = 2 * math.sqrt(2) * 0.3 * PIXEL_M / BAND_LAGS_S["red"]
# A train's body beyond its one visible end: measured outside that end's fit window (evidence
# the step's fit did not use), over at least this long a stretch ...
_BODY_MIN_M = 20.0
# ... on which this share of the stations is occupied (a gap means the train ended there, in
# sight).
_BODY_OCCUPIED = 0.8


def _runs_out_of_sight(index: int, unit: np.ndarray, visible: np.ndarray,
                       off_track: np.ndarray | None, reach: int, step: float,
                       settings: DetectSettings) -> bool:
    """Whether the step at ``index`` is the one visible end of a train whose other end is out of
    sight: on one side of it the track is occupied all the way to the first hidden station or
    the line's end (so the other end could not have been seen), and on its other side it is
    empty.  Measured against the ground beside the track, outside the step's fit window.

    Why this tells a train from a cloud: the soft edge of a cloud that the SCL missed is a step
    that moves between the bands too (its parallax), and its bright (or, for its shadow, dark)
    side runs into the cloud as a train's body would.  But a cloud lies over the ground beside
    the track as well, so on that side the ground is not the history's; and where the track's
    level merely changes (a standing cut's wagons, a cloud's texture), the track is not empty
    on the step's other side.  One side's ground is enough: the train's shadow may darken the
    other."""
    if off_track is None:
        return False
    present = 4 * settings.edge_threshold**2  # the step finder's "2 sd per band on average"
    n = unit.shape[1]
    for ahead in (1, -1):
        first = index + ahead * reach
        if not 0 <= first < n:
            continue
        # Up to the first hidden station, or the line's end.
        stations = np.arange(first, n) if ahead > 0 else np.arange(first, -1, -1)
        blocked = np.flatnonzero(~visible[stations])
        run = stations[:blocked[0]] if blocked.size else stations
        # Behind the step, past its fit window as well: where the track should be empty.
        before = index - ahead * reach - ahead * np.arange(reach)
        before = before[(before >= 0) & (before < n)]
        if run.size * step < _BODY_MIN_M or before.size < reach // 2:
            continue
        for side in range(off_track.shape[2]):
            ground = off_track[:, :, side]
            on_run = run[np.isfinite(ground[:, run]).all(axis=0) & visible[run]]
            on_before = before[np.isfinite(ground[:, before]).all(axis=0) & visible[before]]
            if on_run.size < 0.5 * run.size or on_before.size < reach // 2:
                continue
            level = np.median(ground[:, on_run], axis=1)
            over = unit[:, on_run] - ground[:, on_run]
            body = np.median(over, axis=1)
            size = float(body @ body)
            empty = np.median(unit[:, on_before] - ground[:, on_before], axis=1)
            # A station is occupied when it carries at least half the body's level: noise alone
            # does so rarely, while a mere share of the run at that level still sets its median.
            occupied = body @ over >= 0.5 * size
            if (float(level @ level) < present <= size and float(empty @ empty) < present
                    and occupied.mean() >= _BODY_OCCUPIED):
                return True
    return False


def _median(values: np.ndarray) -> np.ndarray:
    """``np.median`` over the last axis of NaN-free ``values`` (the same value to the last bit:
    the middle one, or the mean of the middle two), NaN for none.  Without ``np.median``'s
    checks, which cost more than the partition on the short rows here (~25 a scene)."""
    count = values.shape[-1]
    if count == 0:
        return np.full(values.shape[:-1], np.nan)
    half = count // 2
    if count % 2:
        return np.partition(values, half, axis=-1)[..., half]
    middle = np.partition(values, (half - 1, half), axis=-1)
    return (middle[..., half - 1] + middle[..., half]) / 2


def _ground_steps(ground: np.ndarray, half: int, spread: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Changes of the ground on one side of a track, on the track's noise scale (to compare
    sizes), and the ground's own noise on that scale (a single point is noisier than the
    corridor, and verges have texture)."""
    change = _change(ground, half) / spread
    inner = change[:, half:-half]
    if np.isfinite(inner).all():  # ground on this side all along: every band at once
        return change, np.maximum(1.4826 * _median(np.abs(inner)), 1e-6)
    own = np.full(change.shape[0], np.inf)
    for band, values in enumerate(inner):
        finite = values[np.isfinite(values)]
        if finite.size:
            own[band] = max(1.4826 * float(_median(np.abs(finite))), 1e-6)
    return change, own


def _off_the_track(sides: list[tuple[np.ndarray, np.ndarray]], track: np.ndarray,
                   near: np.ndarray, settings: DetectSettings) -> np.ndarray:
    """For each step (the stations around it, ``near`` (C, w), those past the ends not used):
    True when the ground on every side seen steps like the track itself, at least half as much
    and clearly above its own noise (``track``: the track's changes (4, n), noise scale)."""
    on_track = (near >= 0) & (near < track.shape[1])
    near = np.clip(near, 0, track.shape[1] - 1)
    pattern = track[:, near].transpose(1, 0, 2) * on_track[:, None]  # (C, 4, w)
    size = (pattern**2).sum(axis=(1, 2))
    seen = np.zeros(len(near), dtype=int)
    unlike = np.zeros(len(near), dtype=bool)
    for change, own in sides:
        ground = change[:, near].transpose(1, 0, 2)
        usable = np.isfinite(ground).all(axis=1) & on_track  # (C, w)
        counted = usable.any(axis=1) & (size > 0)
        seen += counted
        along = (np.where(usable[:, None], ground, 0.0) * pattern).sum(axis=(1, 2))
        # Steps not counted may divide by 0, or meet a band with no ground (``own`` inf).
        with np.errstate(divide="ignore", invalid="ignore"):
            share = along / size
            # The projection's noise: the ground's own noise along the track's pattern.
            along_own = np.where(usable[:, None], own[None, :, None] * pattern, 0.0)
            noise = np.sqrt((along_own**2).sum(axis=(1, 2)))
        unlike |= counted & ~((share > settings.max_beside_ratio)
                              & (along > 2 * settings.edge_threshold
                                 * _CORRELATED_SAMPLES**0.5 * noise))
    return ~unlike & (seen > 0)


@dataclass(frozen=True)
class _StepModel:
    """Blurred unit shapes (a step, and short boxes) starting at every position of a grid, on a
    window of stations, each minus its window mean."""

    speeds: np.ndarray  # (V,)
    centred: np.ndarray  # (S, P, w)
    norm: np.ndarray  # (S, P) sum of squares of each centred shape (inf: flat in the window)
    # Band b's shape for speed v and the x-th start sits at position ``rows[b][v] + 2 x`` of a
    # table padded by ``pad`` repeats of its end values (x is on a grid twice as coarse as the
    # positions): one row of a strided view per (band, speed), not a gather per element.
    rows: tuple[np.ndarray, ...]  # per band (V,), or (1,) when the same at every speed
    order: tuple[int, ...]  # bands in the order they are summed: one that moves first
    starts: int  # X, the number of starts x
    pad: tuple[int, int]  # end values repeated before and after the positions
    reachable: tuple[slice, ...]  # per band, the positions any (v, x) reaches


# Along-track blur of a step: the PSF (layout.PSF_SIGMA_M), the 10 m pixel (a box: variance
# 100/12 m^2) and the bilinear sampling between pixel centres (a triangle: variance 100/6 m^2).
_STEP_BLUR_M = math.sqrt(PSF_SIGMA_M**2 + PIXEL_M**2 / 12 + PIXEL_M**2 / 6)
# A step fitted with too sharp a model is pulled towards the window's centre, and the bands'
# shifts shrink: a train's end is blurred more where a car's roof and its shadow, or a
# locomotive and its first wagon, differ by band.  So steps are tried with more blur too.
_STEP_BLURS_M = (_STEP_BLUR_M, 1.5 * _STEP_BLUR_M)
# Besides steps (a train's end, a change of wagon), objects shorter than the window: a single
# odd wagon, a locomotive, a road vehicle (trucks are 10-20 m; at 25 m/s one moves farther than
# its own length between B02 and B04, so its bands do not overlap into a step).
_BOX_LENGTHS_M = (10.0, 20.0)
_POSITION_STEP_M = 0.5
_SPEED_STEP_MPS = 0.5
# Steps summed at once in ``step_gain``: their (shape, speed, start) sums (~70 kB each) stay in
# the core's cache.
_EDGES_AT_ONCE = 4
_STEP_MODELS: dict[tuple[float, int, float], _StepModel] = {}


def _step_model(step: float, reach: int, max_speed: float) -> _StepModel:
    key = (step, reach, max_speed)
    if key not in _STEP_MODELS:
        offsets = np.arange(-reach, reach + 1) * step
        search = reach * step / 2  # where the shape may start at the B02 time
        span = search + max_speed * float(LAGS.max())
        positions = np.arange(-span, span + 1e-9, _POSITION_STEP_M)

        def rise(at: np.ndarray, blur: float = _STEP_BLUR_M) -> np.ndarray:
            return 0.5 * (1 + erf((offsets[None, :] - at[:, None]) / (math.sqrt(2) * blur)))

        shapes = np.stack([rise(positions, blur) for blur in _STEP_BLURS_M]
                          + [rise(positions) - rise(positions + length)
                             for length in _BOX_LENGTHS_M])
        centred = shapes - shapes.mean(axis=2, keepdims=True)
        norm = (centred**2).sum(axis=2)
        # A shape far outside the window is a constant there: it explains nothing (and a
        # near-zero vector's direction is rounding noise).
        norm = np.where(norm > 1e-3 * norm.max(axis=1, keepdims=True), norm, np.inf)
        speeds = np.arange(-max_speed, max_speed + 1e-9, _SPEED_STEP_MPS)
        xs = np.arange(-search, search + 1e-9, 2 * _POSITION_STEP_M)  # max over x: coarser
        # Band b's shape for (v, x) starts at position first[b, v] + 2 x (x steps are two
        # position steps); reads past the positions' ends hold the end value.
        first = np.rint((xs[0] + LAGS[:, None] * speeds[None, :] + span)
                        / _POSITION_STEP_M).astype(np.intp)  # (4, V)
        last = first + 2 * (xs.size - 1)
        pad = (max(0, -int(first.min())), max(0, int(last.max()) - (len(positions) - 1)))
        reachable = tuple(slice(max(0, int(lo.min())), min(len(positions), int(hi.max()) + 1))
                          for lo, hi in zip(first, last, strict=True))
        first = first + pad[0]
        rows = tuple(band[:1] if np.all(band == band[0]) else band for band in first)
        moving = next(b for b in range(4) if rows[b].size > 1)
        order = (moving, *(b for b in range(4) if b != moving))
        _STEP_MODELS[key] = _StepModel(speeds, centred, norm, rows, order, xs.size, pad,
                                       reachable)
    return _STEP_MODELS[key]


def step_gain(windows: np.ndarray, weight: np.ndarray, model: _StepModel) -> np.ndarray:
    """Chi-square gain of a moving shape over a standing one, at each speed of the model, for
    each of ``windows`` (E, 4, w): (E, V).

    Band ``b`` of a window is fitted as a level plus a contrast times a blurred step (or short
    box) at ``x + v * lag_b`` (least squares: both enter linearly); the best shape and ``x`` are
    taken for each ``v``.  ``weight`` is each band's inverse noise variance; samples within a
    pixel are correlated, so ``_CORRELATED_SAMPLES`` of them count as one.
    """
    centred = windows - windows.mean(axis=2, keepdims=True)
    count, _, width = windows.shape
    shapes, positions = model.norm.shape
    projection = (centred.reshape(-1, width) @ model.centred.reshape(-1, width).T).reshape(
        count, 4, shapes, positions)  # (E, 4, S, P)
    # Single precision: the sums below move most of the bytes, and gains of interest are
    # 1-10^4 (chi-square), far above its rounding.  Reads past the positions' ends hold the end
    # value, so the table is padded with it.
    before, after = model.pad
    padded = np.empty((count, 4, shapes, before + positions + after), dtype=np.float32)
    explained = padded[..., before:before + positions]
    explained[...] = projection**2 / model.norm[None, None] * weight[None, :, None, None]
    padded[..., :before] = explained[..., :1]
    padded[..., before + positions:] = explained[..., -1:]
    # rows[e, b, s, i, x] = padded[e, b, s, i + 2 x]: a view, no copy.
    item = padded.strides[3]
    rows = as_strided(padded, (*padded.shape[:3], padded.shape[3] - 2 * (model.starts - 1),
                               model.starts), (*padded.strides, 2 * item), writeable=False)
    per_speed = np.empty((count, shapes, model.speeds.size), dtype=np.float32)
    for lo in range(0, count, _EDGES_AT_ONCE):
        part = rows[lo:lo + _EDGES_AT_ONCE]
        # A band sensed at lag 0 (B02) has the same row at every speed: added by broadcasting.
        total = part[:, model.order[0]][:, :, model.rows[model.order[0]]]  # (e, S, V, X)
        for band in model.order[1:]:
            total += part[:, band][:, :, model.rows[band]]
        # The maximum over x is far cheaper along an outer axis than along 31-long rows.
        per_speed[lo:lo + _EDGES_AT_ONCE] = np.ascontiguousarray(
            total.transpose(0, 1, 3, 2)).max(axis=2)
    best = per_speed.max(axis=1).astype(np.float64)
    centre = model.speeds.size // 2  # the speed grid is symmetric about 0
    still = per_speed[:, :, centre].max(axis=1).astype(np.float64)
    free_shape = np.zeros((count, shapes))
    for band in range(4):
        free_shape += explained[:, band, :, model.reachable[band]].max(axis=2)
    free = free_shape.max(axis=1)
    # Each band's shape on its own may sit anywhere; one velocity puts them at x + v * lag.
    # How much worse that fits (chi-square, 2 degrees of freedom) tells a rigid moving object
    # from a static step whose bands differ (a car's end and its shadow's, a cloud's textured
    # edge): the gains shrink by it, as a straight-line fit's errors scale with its chi-square.
    misfit = (free - best.max(axis=1)) / _CORRELATED_SAMPLES / 2.0
    return (best - still[:, None]) / _CORRELATED_SAMPLES / np.maximum(1.0, misfit)[:, None]


def _chains(edges: list[MovingEdge], step: float, gap_m: float) -> list[list[MovingEdge]]:
    chains: list[list[MovingEdge]] = []
    for edge in edges:
        if chains and (edge.index - chains[-1][-1].index) * step <= gap_m:
            chains[-1].append(edge)
        else:
            chains.append([edge])
    return chains


def _train_from(chain: list[MovingEdge], geometry: TrackGeometry,
                direction_of: Callable[[float, float, float], str], settings: DetectSettings,
                out_of_sight: Callable[[MovingEdge], bool]) -> tuple[MovingTrain, float] | None:
    """The most likely moving train in a chain of steps: each step either moves with it or
    stands (standing stock beside a moving train, texture), whichever explains it better, and a
    step joining the train costs ``edge_penalty`` (so that noise steps do not add up).
    ``out_of_sight`` tells whether a step is the one visible end of a train whose other end is
    hidden (``_runs_out_of_sight``); it is asked only of a single step near a cloud."""
    speeds = chain[0].speeds
    gains = np.stack([e.gain for e in chain])  # (E, V)
    joined = np.maximum(gains - settings.edge_penalty, 0.0)
    total = joined.sum(axis=0)
    allowed = np.abs(speeds) >= settings.min_speed_mps
    if not allowed.any() or total[allowed].max() <= 0:
        return None
    best = int(np.flatnonzero(allowed)[np.argmax(total[allowed])])
    moving = [i for i in range(len(chain)) if joined[i, best] > 0]
    # The steps that move must lie together too: of the runs of them no farther apart than
    # ``motion_group_gap_m``, the train is the one that gains most.
    runs = [[moving[0]]]
    for i in moving[1:]:
        if (chain[i].index - chain[runs[-1][-1]].index) * (
                geometry.stations_m[1] - geometry.stations_m[0]) <= settings.motion_group_gap_m:
            runs[-1].append(i)
        else:
            runs.append([i])
    run = max(runs, key=lambda r: float(joined[r, best].sum()))
    members = [chain[i] for i in run]
    gain = gains[run].sum(axis=0)
    best = int(np.flatnonzero(allowed)[np.argmax(gain[allowed])])
    significance = math.sqrt(max(float(gain[best]), 0.0))
    needed = (settings.min_speed_significance if len(members) > 1
              else settings.single_edge_significance)
    if significance < needed:
        return None
    # One step alone could be a cloud's edge that the SCL missed: not near any cloud, unless the
    # train's body is seen running on, on the track alone, into the cloud (``_runs_out_of_sight``).
    speed_signed, speed_sd = _peak(speeds, gain, best)
    speed = abs(speed_signed)
    if (len(members) == 1 and members[0].cloud_m < settings.single_edge_cloud_margin_m
            and not (speed >= _SINGLE_STEP_MIN_SPEED_MPS and out_of_sight(members[0]))):
        return None
    if not settings.min_speed_mps <= speed < settings.max_speed_mps or not math.isfinite(
            speed_sd):
        return None
    # 0.5 at the threshold, 0.95 two standard errors above it.
    confidence = 1.0 / (1.0 + math.exp(-1.5 * (significance - needed)))
    stations = geometry.stations_m
    step = float(stations[1] - stations[0])
    # A step is found where its four bands' steps are on average: ``speed * mean lag`` ahead of
    # where it was at the B02 time.  Both ends are shifted alike, so the span is the length.
    first, last = stations[members[0].index], stations[members[-1].index]
    length = float(last - first)
    start_m = float(first) - speed_signed * float(LAGS.mean())
    position = float(np.clip(start_m + length / 2, 0.0, stations[-1]))
    point = geometry.line.interpolate(position)
    index = int(np.clip(round(position / step), 0, len(geometry.azimuth_deg) - 1))
    heading = float(geometry.azimuth_deg[index] + (0.0 if speed_signed > 0 else 180.0)) % 360
    train = MovingTrain(
        track=geometry.track, position_m=position, length_m=length, speed_mps=speed,
        speed_sd_mps=speed_sd, heading_deg=heading,
        direction=direction_of(point.x, point.y, heading), confidence=confidence,
        x=point.x, y=point.y,
        band_shifts_m={k: float(speed_signed * lag) for k, lag in zip(BAND_KEYS, LAGS,
                                                                      strict=True)},
    )
    return train, math.sqrt(sum(e.energy for e in members))


def _peak(speeds: np.ndarray, gain: np.ndarray, best: int) -> tuple[float, float]:
    """Speed and standard error from the chi-square gain's peak: a parabola through it and its
    neighbours (the gain falls by 1 at one standard error)."""
    if not 0 < best < len(speeds) - 1:
        return float(speeds[best]), math.inf
    left, mid, right = gain[best - 1], gain[best], gain[best + 1]
    curvature = (left - 2 * mid + right) / (speeds[1] - speeds[0]) ** 2
    if curvature >= 0:
        return float(speeds[best]), math.inf
    offset = 0.5 * (left - right) / (left - 2 * mid + right) * (speeds[1] - speeds[0])
    return float(speeds[best] + offset), math.sqrt(2.0 / -curvature)


# --- moving trains ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlanSampling:
    """Every track's sample points of one plan, gathered from one set of pixels: built once per
    site and grid (a site is watched through many scenes on one tile grid)."""

    pixels: np.ndarray  # (U,) flat indices of every pixel any point reads
    profile: sparse.csr_matrix  # (N, U) the matched filter of each station (all tracks' stations)
    points: sparse.csr_matrix  # (N m, U) each corridor point's bilinear weights
    reads: sparse.csr_matrix  # (N m, U) 1 where a corridor point reads a pixel
    outside: np.ndarray  # (N, m) a neighbour outside the raster
    across: np.ndarray  # (m,) matched-filter weight of each point across the track
    beside: sparse.csr_matrix  # (N 2, U) the ground either side, on the profile's scale
    beside_reads: sparse.csr_matrix  # (N 2, U) 1 where a ground point reads a pixel
    beside_outside: np.ndarray  # (N, 2)
    # The pixels under the stations, (K, 2) row and column, each once (stations are 2.5 m apart in
    # 10 m pixels), and which of them is under each station (N,): their distance to a cloud.
    nearest: np.ndarray
    nearest_of: np.ndarray
    bounds: np.ndarray  # (T + 1,) each track's first station in the N


_SAMPLINGS: OrderedDict[tuple, _PlanSampling] = OrderedDict()
_SAMPLINGS_SIZE = 16


def _plan_sampling(plan: PixelPlan, transform: Affine, shape: tuple[int, int]) -> _PlanSampling:
    key = (plan.key, tuple(transform)[:6], tuple(shape))
    cached = _SAMPLINGS.get(key)
    if cached is not None:
        _SAMPLINGS.move_to_end(key)
        return cached
    corridor, beside, across, scale = [], [], [], []
    for track in plan.tracks:
        points, ground = sampler_for(track.geometry, transform, shape, site_key=plan.key)
        weights = footprint(track.geometry.offsets_m)
        weights = (weights / np.sqrt((weights**2).sum())).astype(np.float32)
        corridor.append(points)
        beside.append(ground)
        across.append(weights)
        scale.append(np.full(len(track.geometry.stations_m), float(weights.sum())))
    # The layout gives every track the same corridor across it (pixel_plan's half width).
    filter_m = across[0]
    index = np.concatenate([c.index for c in corridor])
    beside_index = np.concatenate([b.index for b in beside])
    pixels, local = np.unique(np.concatenate([index.ravel(), beside_index.ravel()]),
                              return_inverse=True)
    local = local.reshape(-1)
    index_local = local[:index.size].reshape(index.shape)
    beside_local = local[index.size:].reshape(beside_index.shape)
    weight = np.concatenate([c.weight for c in corridor])
    outside = ~np.concatenate([c.inside for c in corridor])
    beside_outside = ~np.concatenate([b.inside for b in beside])

    def matrix(columns: np.ndarray, values: np.ndarray) -> sparse.csr_matrix:
        """One row per entry of the leading axes of ``columns`` (..., k), reading its k pixels
        (a pixel read twice in a row adds up)."""
        count = int(np.prod(columns.shape[:-1]))
        rows = np.repeat(np.arange(count), columns.shape[-1])
        return sparse.csr_matrix((values.ravel(), (rows, columns.ravel())),
                                 shape=(count, pixels.size))

    stations = index.shape[0]
    # Points outside the raster read nothing (the per-point sums set them to 0 / NaN).
    profile = matrix(index_local.reshape(stations, -1),
                     (weight.astype(np.float64) * filter_m.astype(np.float64)[None, :, None]
                      * ~outside[:, :, None]).reshape(stations, -1))
    beside_matrix = matrix(beside_local, np.concatenate([b.weight for b in beside]).astype(
        np.float64) * np.concatenate(scale)[:, None, None])
    centre = len(filter_m) // 2
    nearest, nearest_of = np.unique(np.concatenate([c.nearest[:, centre] for c in corridor]),
                                    return_inverse=True)
    sampling = _PlanSampling(
        pixels, profile, matrix(index_local, weight.astype(np.float64)),
        # Which pixels a point reads (a hidden one blocks it even at a bilinear weight of 0).
        matrix(index_local, np.ones(index_local.shape)), outside, filter_m, beside_matrix,
        matrix(beside_local, np.ones(beside_local.shape)), beside_outside,
        np.column_stack(np.divmod(nearest, shape[1])), nearest_of.reshape(-1),
        np.cumsum([0] + [len(t.geometry.stations_m) for t in plan.tracks]))
    _SAMPLINGS[key] = sampling
    if len(_SAMPLINGS) > _SAMPLINGS_SIZE:
        _SAMPLINGS.popitem(last=False)
    return sampling


def _sample_tracks(sampling: _PlanSampling, delta: np.ndarray, hidden: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every station's matched-filter profile of ``delta`` (4, pixels), (4, N); whether its
    centre point is seen, (N,); and the ground either side on the profile's scale, (4, N, 2),
    NaN where hidden or outside.  A point reading a hidden pixel counts 0 in its profile."""
    seen = np.ascontiguousarray(np.nan_to_num(delta[:, sampling.pixels]).T)  # (U, 4)
    hidden_here = hidden[sampling.pixels]
    profiles = np.ascontiguousarray((sampling.profile @ seen).T)  # (4, N)
    beside = np.ascontiguousarray((sampling.beside @ seen).T).reshape(4, -1, 2)  # (4, N, 2)
    blocked = sampling.outside
    beside_blocked = sampling.beside_outside
    if hidden_here.any():
        reads_hidden = hidden_here.astype(np.float64)
        blocked = (sampling.reads @ reads_hidden > 0).reshape(blocked.shape) | blocked
        beside_blocked = ((sampling.beside_reads @ reads_hidden > 0).reshape(
            beside_blocked.shape) | beside_blocked)
        # Stations with a hidden point: summed again without it (a wholly hidden one must be
        # exactly 0: the noise takes 0 for a blocked station).
        redo = np.flatnonzero((blocked & ~sampling.outside).any(axis=1))
        across = sampling.across.size
        # Every point's value, then those of the stations to redo: selecting rows of a sparse
        # matrix costs several times more than its whole product.
        values = (sampling.points @ seen).reshape(-1, across, 4)[redo]
        profiles[:, redo] = np.einsum("nmb,nm->bn", values,
                                      sampling.across * ~blocked[redo])
    # The ground beside the track on the same scale: a field as wide as the corridor (a
    # cloud, haze, snow) reads the same in both, a car next to nothing in the ground.
    beside[:, beside_blocked] = np.nan
    return profiles, ~blocked[:, len(sampling.across) // 2], beside


def moving_trains(scene: Scene, delta: np.ndarray, hidden: np.ndarray, plan: PixelPlan,
            direction_of, settings: DetectSettings) -> list[MovingTrain]:
    """Moving trains on every track of ``plan``: scene-minus-ground ``delta`` (4, pixels) sampled
    along each track and on the ground either side of it, then trains of steps that move
    together (``find_moving``), one per train over neighbouring tracks (``_one_per_train``)."""
    if not plan.tracks:
        return []
    sampling = _plan_sampling(plan, scene.transform, scene.shape)
    cloud = None
    if hidden.any():
        pixel_m = math.hypot(scene.transform.a, scene.transform.d)
        cloud = (_hidden_distance(hidden.reshape(scene.shape), sampling.nearest) * pixel_m)[
            sampling.nearest_of]
    motion = CloudMotion(delta, hidden, scene.transform, scene.shape) if cloud is not None else None
    profiles, visible, beside = _sample_tracks(sampling, delta, hidden)
    tracks = [(track, slice(a, b)) for track, a, b in zip(
        plan.tracks, sampling.bounds[:-1], sampling.bounds[1:], strict=True)]
    noise = _profile_noise([profiles[:, part] for _, part in tracks])
    found: list[tuple[MovingTrain, float]] = []
    for track, part in tracks:
        found.extend(find_moving(profiles[:, part], visible[part], track.geometry, noise,
                                 direction_of, settings, beside=beside[:, part],
                                 cloud_distance_m=None if cloud is None else cloud[part],
                                 cloud_motion=motion))
    lines = {track.id: track.geometry.line for track, _ in tracks}
    return _one_per_train(found, lines, settings)


def _hidden_distance(hidden: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Distance in pixels from each pixel ``at`` (k, 2: row, column) to the nearest pixel of
    ``hidden`` (2-D, not all False), as an exact Euclidean distance transform gives it.

    Only the few pixels on the hidden areas' edges are searched, not the raster: the nearest
    hidden pixel to one that is seen always has a seen 4-neighbour (a step from it towards that
    pixel would be nearer otherwise)."""
    walled = np.pad(hidden, 1, constant_values=True)
    inner = walled[:-2, 1:-1] & walled[2:, 1:-1] & walled[1:-1, :-2] & walled[1:-1, 2:]
    edge = np.argwhere(hidden & ~inner).astype(np.float64)
    # Built once per scene and asked only ~10^3 points: a quick build beats a balanced tree.
    tree = cKDTree(edge, balanced_tree=False, compact_nodes=False)
    distance, _ = tree.query(at.astype(np.float64))
    distance[hidden[at[:, 0], at[:, 1]]] = 0.0
    return distance


# A train's signal reaches a track beside it through the overlap of the two tracks' matched
# filters: a Gaussian of the cross-track blur (``_STEP_BLUR_M``, 6.7 m) overlaps its copy d
# metres away by exp(-d^2 / 4 sigma^2): 0.58 at 10 m, 0.29 at 15 m, 0.11 at 20 m, 0.007 at 30 m.
# A cloud's edge lies across every track alike.  A moving step on tracks farther apart than
# ``max_bleed_m`` is a cloud only if the weaker is stronger than a trace of the other can be.
# Strengths are on each track's own noise scale (a quiet track's is up to ~2x a busy one's) and
# a faint trace's includes its steps' noise: the trace may be this many times the overlap (so
# tracks up to ~16 m apart never make a cloud, those 20 m apart when the weaker shows over 44 %
# of the stronger, 30 m apart over 3 %).
_TRACE_SLACK = 4.0


def _trace(apart_m: float) -> float:
    """Share of a train's signal that a track ``apart_m`` away shows (matched-filter overlap)."""
    return math.exp(-apart_m**2 / (4 * _STEP_BLUR_M**2))


def _one_per_train(found: list[tuple[MovingTrain, float]], lines: dict[str, LineString],
                   settings: DetectSettings) -> list[MovingTrain]:
    """A train on one track shows, fainter, on a track a few metres beside it (pixels are 10 m):
    of detections that overlap along tracks that close, keep the one its track shows most
    strongly (the second of each pair: ``find_moving``).  A step
    moving the same way at the same place on tracks farther apart than that is wider than any
    train: the edge of a cloud (which moves between the bands with its parallax), and none of
    it is kept -- unless the weaker is no more than the stronger's trace on a track that far
    (``_trace``): tracks spaced exactly ``max_bleed_m`` apart see a train's last trace."""
    wide: set[int] = set()
    for a, (train, strength) in enumerate(found):
        for b, (other, other_strength) in enumerate(found):
            reach = (train.length_m + other.length_m) / 2 + 100.0
            # How far apart the two tracks are where the two were seen (tracks fan out).
            apart = min(lines[other.track].distance(Point(train.x, train.y)),
                        lines[train.track].distance(Point(other.x, other.y)))
            if (other.track != train.track and _turn(train, other) < 30.0
                    and math.hypot(train.x - other.x, train.y - other.y) <= reach
                    and apart > settings.max_bleed_m
                    and min(strength, other_strength)
                    > _TRACE_SLACK * _trace(apart) * max(strength, other_strength)):
                wide.update((a, b))
    kept: list[tuple[MovingTrain, float]] = []
    for number, (train, strength) in sorted(enumerate(found), key=lambda f: -f[1][1]):
        if number in wide:
            continue
        duplicate = False
        for other, _ in kept:
            reach = (train.length_m + other.length_m) / 2 + 50.0
            if (other.track != train.track and _turn(train, other) < 30.0
                    and math.hypot(train.x - other.x, train.y - other.y) <= reach):
                duplicate = True
                break
        if not duplicate:
            kept.append((train, strength))
    return [train for train, _ in kept]


def _turn(a: MovingTrain, b: MovingTrain) -> float:
    return abs((a.heading_deg - b.heading_deg + 180.0) % 360.0 - 180.0)


def _profile_noise(profiles: list[np.ndarray]) -> np.ndarray:
    """Per-band noise of one station of the matched-filter profile.

    Measured on differences 10 m apart (a pixel: nearly independent noise, but too short for the
    ground's slow changes along the track to count): rolling stock adds to them only at its
    steps, so their median absolute value measures the noise even on a busy track.
    """
    lag = 4
    diffs = [p[:, lag:] - p[:, :-lag] for p in profiles if p.shape[1] > lag]
    if not diffs:
        return np.full(4, 1e-2)
    joined = np.abs(np.concatenate(diffs, axis=1))
    # A difference of exactly 0 is a pair of blocked stations: not counted (a band with every
    # station blocked has no median: NaN).
    noise = 1.4826 * np.array([_median(band[band != 0.0]) for band in joined]) / math.sqrt(2)
    return np.where(np.isfinite(noise) & (noise > 1e-5), noise, 1e-2)
