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
by the ground beside the track (a cloud covers it too) and by their width (several tracks at
once).  ``docs/detect-motion.md`` has the reasoning and the measured numbers.

``fit_velocity`` is the older, shape-free fit of one window (a template from the data, refined per
band by Gauss-Newton), kept as a public tool.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.special import erf
from shapely.geometry import LineString, Point

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
                cloud_distance_m: np.ndarray | None = None) -> list[tuple[MovingTrain, float]]:
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
    edges = _moving_edges(unit, visible, clear, stations, settings, off_track)
    if cloud_distance_m is not None:
        edges = [replace(e, cloud_m=float(cloud_distance_m[e.index])) for e in edges]
    found = []
    for chain in _chains(edges, step, settings.motion_group_gap_m):
        train = _train_from(chain, geometry, direction_of, settings)
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
                  off_track: np.ndarray | None = None) -> list[MovingEdge]:
    step = float(stations[1] - stations[0])
    half = max(1, int(round(settings.edge_span_m / 2 / step)))
    n = unit.shape[1]
    change = _change(unit, half)
    # Two stations ``2 * half`` apart: each has unit noise, correlated less the farther apart;
    # measured on this track (its ground may be quieter or busier than the site's).
    spread = 1.4826 * np.median(np.abs(change[:, half:n - half]), axis=1)
    spread = np.maximum(spread, 1e-3)[:, None]
    energy = np.convolve(((change / spread) ** 2).sum(axis=0), np.ones(3) / 3, mode="same")
    sides: list[tuple[np.ndarray, np.ndarray]] = []  # measured at the first candidate step
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
        taken[max(0, index - apart):index + apart + 1] = True
        near = slice(max(0, index - 2 * half), index + 2 * half + 1)
        if off_track is not None and not sides:
            sides = [_ground_steps(off_track[:, :, side], half, spread)
                     for side in range(off_track.shape[2])]
        if _off_the_track(sides, change / spread, near, settings):
            continue
        chosen.append(int(index))
    if not chosen:
        return []
    windows = np.stack([unit[:, i - reach:i + reach + 1] for i in chosen])
    gains = step_gain(windows, weight, model)
    edges = [MovingEdge(i, model.speeds, gain, float(energy[i]))
             for i, gain in zip(chosen, gains, strict=True)]
    edges.sort(key=lambda e: e.index)
    return edges


def _ground_steps(ground: np.ndarray, half: int, spread: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Changes of the ground on one side of a track, on the track's noise scale (to compare
    sizes), and the ground's own noise on that scale (a single point is noisier than the
    corridor, and verges have texture)."""
    change = _change(ground, half) / spread
    own = np.full(change.shape[0], np.inf)
    for band, values in enumerate(change[:, half:-half]):
        finite = values[np.isfinite(values)]
        if finite.size:
            own[band] = max(1.4826 * float(np.median(np.abs(finite))), 1e-6)
    return change, own


def _off_the_track(sides: list[tuple[np.ndarray, np.ndarray]], track: np.ndarray,
                   near: slice, settings: DetectSettings) -> bool:
    """True when the ground on every side seen steps like the track itself, at least half as
    much and clearly above its own noise (``track``: the track's changes, noise scale)."""
    pattern = track[:, near]
    size = float((pattern**2).sum())
    seen = 0
    for change, own in sides:
        ground = change[:, near]
        usable = np.isfinite(ground).all(axis=0)
        if not usable.any() or size <= 0:
            continue
        seen += 1
        along = float((ground[:, usable] * pattern[:, usable]).sum())
        share = along / size
        # The projection's noise: the ground's own noise along the track's pattern.
        noise = math.sqrt(float(((own[:, None] * pattern[:, usable]) ** 2).sum()))
        if not (share > settings.max_beside_ratio and along > 2 * settings.edge_threshold
                * _CORRELATED_SAMPLES**0.5 * noise):
            return False
    return seen > 0


@dataclass(frozen=True)
class _StepModel:
    """Blurred unit shapes (a step, and short boxes) starting at every position of a grid, on a
    window of stations, each minus its window mean."""

    speeds: np.ndarray  # (V,)
    centred: np.ndarray  # (S, P, w)
    norm: np.ndarray  # (S, P) sum of squares of each centred shape (inf: flat in the window)
    lookup: np.ndarray  # (4, V, X) index into positions of band b's shape, for v and x
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
        at = xs[None, None, :] + LAGS[:, None, None] * speeds[None, :, None]
        lookup = np.clip(np.rint((at + span) / _POSITION_STEP_M), 0,
                         len(positions) - 1).astype(np.intp)
        reachable = tuple(slice(int(band.min()), int(band.max()) + 1) for band in lookup)
        _STEP_MODELS[key] = _StepModel(speeds, centred, norm, lookup, reachable)
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
        count, 4, shapes, positions).transpose(0, 2, 1, 3)  # (E, S, 4, P)
    # Single precision: the gathers below move most of the bytes, and gains of interest are
    # 1-10^4 (chi-square), far above its rounding.
    explained = (projection**2 / model.norm[None, :, None, :]
                 * weight[None, None, :, None]).astype(np.float32)
    best = np.full((count, model.speeds.size), -np.inf)
    still = np.full(count, -np.inf)
    free = np.full(count, -np.inf)
    centre = model.speeds.size // 2  # the speed grid is symmetric about 0
    for shape in range(explained.shape[1]):
        total = np.zeros((count, *model.lookup.shape[1:]), dtype=np.float32)
        free_shape = np.zeros(count)
        for band in range(4):
            total += explained[:, shape, band][:, model.lookup[band]]  # (E, V, X)
            free_shape += explained[:, shape, band, model.reachable[band]].max(axis=1)
        per_speed = total.max(axis=2)  # (E, V)
        best = np.maximum(best, per_speed)
        still = np.maximum(still, per_speed[:, centre])
        free = np.maximum(free, free_shape)
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
                direction_of: Callable[[float, float, float], str], settings: DetectSettings
                ) -> tuple[MovingTrain, float] | None:
    """The most likely moving train in a chain of steps: each step either moves with it or
    stands (standing stock beside a moving train, texture), whichever explains it better, and a
    step joining the train costs ``edge_penalty`` (so that noise steps do not add up)."""
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
    # One step alone could be a cloud's edge that the SCL missed: not near any cloud.
    if len(members) == 1 and members[0].cloud_m < settings.single_edge_cloud_margin_m:
        return None
    speed_signed, speed_sd = _peak(speeds, gain, best)
    speed = abs(speed_signed)
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


def moving_trains(scene: Scene, delta: np.ndarray, hidden: np.ndarray, plan: PixelPlan,
            direction_of, settings: DetectSettings) -> list[MovingTrain]:
    """Moving trains on every track of ``plan``: scene-minus-ground ``delta`` (4, pixels) sampled
    along each track and on the ground either side of it, then trains of steps that move
    together (``find_moving``), one per train over neighbouring tracks (``_one_per_train``)."""
    distance = None
    if hidden.any():
        pixel_m = math.hypot(scene.transform.a, scene.transform.d)
        distance = distance_transform_edt(~hidden.reshape(scene.shape)).ravel() * pixel_m
    seen = np.nan_to_num(delta)
    profiles = []
    for track in plan.tracks:
        sampler, beside_sampler = sampler_for(track.geometry, scene.transform, scene.shape,
                                              site_key=plan.key)
        values = sampler.sample(seen)  # (4, n, m)
        blocked = hidden[sampler.index].any(axis=-1) | ~sampler.inside
        offsets = track.geometry.offsets_m
        weights = footprint(offsets)
        weights = (weights / np.sqrt((weights**2).sum())).astype(np.float32)
        centre = len(offsets) // 2
        visible = ~blocked[:, centre]
        values[:, blocked] = 0.0
        profile = np.einsum("bnm,m->bn", values, weights)
        # The ground beside the track on the same scale: a field as wide as the corridor (a
        # cloud, haze, snow) reads the same in both, a car next to nothing in the ground.
        beside = beside_sampler.sample(seen)  # (4, n, 2)
        beside[:, hidden[beside_sampler.index].any(axis=-1) | ~beside_sampler.inside] = np.nan
        cloud = None if distance is None else distance[sampler.nearest[:, centre]]
        profiles.append((track, profile, visible, beside * float(weights.sum()), cloud))
    if not profiles:
        return []
    noise = _profile_noise([p for _, p, _, _, _ in profiles])
    found: list[tuple[MovingTrain, float]] = []
    for track, profile, visible, beside, cloud in profiles:
        found.extend(find_moving(profile, visible, track.geometry, noise, direction_of,
                                 settings, beside=beside, cloud_distance_m=cloud))
    lines = {track.id: track.geometry.line for track, *_ in profiles}
    return _one_per_train(found, lines, settings)


def _one_per_train(found: list[tuple[MovingTrain, float]], lines: dict[str, LineString],
                   settings: DetectSettings) -> list[MovingTrain]:
    """A train on one track shows, fainter, on a track a few metres beside it (pixels are 10 m):
    of detections that overlap along tracks that close, keep the one its track shows most
    strongly (the second of each pair: ``find_moving``).  A step
    moving the same way at the same place on tracks farther apart than that is wider than any
    train: the edge of a cloud (which moves between the bands with its parallax), and none of
    it is kept."""
    wide: set[int] = set()
    for a, (train, _) in enumerate(found):
        for b, (other, _) in enumerate(found):
            reach = (train.length_m + other.length_m) / 2 + 100.0
            # How far apart the two tracks are where the two were seen (tracks fan out).
            apart = min(lines[other.track].distance(Point(train.x, train.y)),
                        lines[train.track].distance(Point(other.x, other.y)))
            if (other.track != train.track and _turn(train, other) < 30.0
                    and math.hypot(train.x - other.x, train.y - other.y) <= reach
                    and apart > settings.max_bleed_m):
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
    joined = np.concatenate(diffs, axis=1)
    joined = np.where(joined == 0.0, np.nan, joined)  # blocked stations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band with every station blocked
        noise = 1.4826 * np.nanmedian(np.abs(joined), axis=1) / math.sqrt(2)
    return np.where(np.isfinite(noise) & (noise > 1e-5), noise, 1e-2)
