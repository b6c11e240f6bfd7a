"""The step model: how a moving train shows in the four 10 m bands, and its fits.

Sentinel-2 senses B02, B08, B03 and B04 at 0, 0.264, 0.527 and 1.005 s (``BAND_LAGS_S``,
SENSOR.md), so an object moving at ``v`` along a track appears in band ``b`` displaced by
``v * lag_b``.  A train is long (100-1000 m), so the displacement shows where its profile steps: at
its two ends and at every boundary between wagons of different colour; a truck is shorter than its
displacement, so its bands separate into the familiar blue-green-red triplet.

``step_gain`` fits one such step with a parametric model: in each band a level plus a contrast
(either sign: a black tank car is darker than ballast in every band, a brown box car darker in
blue but brighter in the NIR) times a step blurred by the PSF, the pixel and the sampling (or a
short box) at ``x + v * lag_b``.  It gives the chi-square gain of a moving step over a standing
one at every speed, which ``motion`` sums over the steps of a train.

``fit_velocity`` is the older, shape-free fit of one window (a template from the data, refined per
band by Gauss-Newton), kept as a public tool.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy.special import erf

from railwatch.detect.layout import PIXEL_M, PSF_SIGMA_M
from railwatch.detect.model import BAND_LAGS_S
from railwatch.imagery import BAND_KEYS

__all__ = ["CORRELATED_SAMPLES", "LAGS", "STEP_BLUR_M", "StepFits", "StepModel", "VelocityFit",
           "fit_velocity", "fitted_gains", "gain_bounds", "peak_speed", "step_fits", "step_gain",
           "step_model"]

LAGS = np.array([BAND_LAGS_S[k] for k in BAND_KEYS])
# Along-track samples 2.5 m apart within 10 m pixels are not independent: about four samples per
# pixel carry one pixel's noise.  Shift variances and chi-square gains are scaled by this.
CORRELATED_SAMPLES = 4.0


# --- a blurred step, moving or standing, in every band --------------------------------------------


@dataclass(frozen=True)
class StepModel:
    """Blurred unit shapes (a step, and short boxes) starting at every position of a grid, on a
    window of stations, each minus its window mean."""

    speeds: np.ndarray  # (V,)
    centred: np.ndarray  # (S, P, w)
    norm: np.ndarray  # (S, P) sum of squares of each centred shape (inf: flat in the window)
    # Per band, the shapes at the positions it reaches, (w, S p_b) single precision, and their
    # inverse norms (S, p_b) (0: flat in the window): one product per band (``step_fits``).
    bases: tuple[np.ndarray, ...]
    inverse_norms: tuple[np.ndarray, ...]
    # Band b's shape for speed v and the x-th start sits at position ``rows[b][v] + 2 x`` of a
    # table padded by ``pad`` repeats of its end values (x is on a grid twice as coarse as the
    # positions): one row of a strided view per (band, speed), not a gather per element.
    rows: tuple[np.ndarray, ...]  # per band (V,), or (1,) when the same at every speed
    order: tuple[int, ...]  # bands in the order they are summed: one that moves first
    starts: int  # X, the number of starts x
    pad: tuple[int, int]  # end values repeated before and after the positions
    reachable: tuple[slice, ...]  # per band, the positions any (v, x) reaches
    # For a bound of the gain (``gain_bounds``): the speeds in runs of ``_BOUND_RUN``, each
    # run's first and last speed (K, 2); over a run band b's start moves at most ``widths[b] - 1``
    # positions from its row ``runs_rows[b][k]`` (per band (K,), or (1,) like ``rows``).
    runs: np.ndarray
    runs_rows: tuple[np.ndarray, ...]
    widths: tuple[int, ...]


# Along-track blur of a step: the PSF (layout.PSF_SIGMA_M), the 10 m pixel (a box: variance
# 100/12 m^2) and the bilinear sampling between pixel centres (a triangle: variance 100/6 m^2).
STEP_BLUR_M = math.sqrt(PSF_SIGMA_M**2 + PIXEL_M**2 / 12 + PIXEL_M**2 / 6)
# A step fitted with too sharp a model is pulled towards the window's centre, and the bands'
# shifts shrink: a train's end is blurred more where a car's roof and its shadow, or a
# locomotive and its first wagon, differ by band.  So steps are tried with more blur too.
_STEP_BLURS_M = (STEP_BLUR_M, 1.5 * STEP_BLUR_M)
# Besides steps (a train's end, a change of wagon), objects shorter than the window: a single
# odd wagon, a locomotive, a road vehicle (trucks are 10-20 m; at 25 m/s one moves farther than
# its own length between B02 and B04, so its bands do not overlap into a step).
_BOX_LENGTHS_M = (10.0, 20.0)
_POSITION_STEP_M = 0.5
_SPEED_STEP_MPS = 0.5
# Sums over (window, shape, speed, start) made at once in ``_best_starts``: ~290 kB (4 windows'
# full searches) stay in the core's cache.
_SUMS_AT_ONCE = 4 * 4 * 145 * 31
# Speeds per run of the gain's bound: a quarter of the search (37 runs of 145 speeds), and
# bands spread over at most 2 m (B04) within a run, little against the 6.7 m blur.
_BOUND_RUN = 4
_STEP_MODELS: dict[tuple[float, int, float], StepModel] = {}


def step_model(step: float, reach: int, max_speed: float) -> StepModel:
    key = (step, reach, max_speed)
    if key not in _STEP_MODELS:
        offsets = np.arange(-reach, reach + 1) * step
        search = reach * step / 2  # where the shape may start at the B02 time
        span = search + max_speed * float(LAGS.max())
        positions = np.arange(-span, span + 1e-9, _POSITION_STEP_M)

        def rise(at: np.ndarray, blur: float = STEP_BLUR_M) -> np.ndarray:
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
        # Positions grow with the speed in every band (lags >= 0): a run's first speed has its
        # lowest row.
        grid = np.unique(np.append(np.arange(0, speeds.size, _BOUND_RUN), speeds.size - 1))
        runs = np.column_stack([grid[:-1], grid[1:]])
        runs_rows = tuple(band[:1] if np.all(band == band[0]) else band
                          for band in first[:, grid[:-1]])
        widths = tuple(int(w) + 1 for w in (first[:, grid[1:]] - first[:, grid[:-1]]).max(axis=1))
        moving = next(b for b in range(4) if rows[b].size > 1)
        order = (moving, *(b for b in range(4) if b != moving))
        bases = tuple(np.ascontiguousarray(
            centred[:, part].reshape(-1, offsets.size).T.astype(np.float32))
            for part in reachable)
        inverse_norms = tuple((1.0 / norm[:, part]).astype(np.float32) for part in reachable)
        _STEP_MODELS[key] = StepModel(speeds, centred, norm, bases, inverse_norms, rows, order,
                                       xs.size, pad, reachable, runs, runs_rows, widths)
    return _STEP_MODELS[key]


@dataclass(frozen=True)
class StepFits:
    """The step model's projections of a batch of windows: what ``step_gain`` searches."""

    # (E, 4, S, pad + P + pad) each band's chi-square explained by each shape at each position,
    # padded with its end values (reads past the positions' ends hold them).
    padded: np.ndarray
    free: np.ndarray  # (E,) the best shape with each band's position free
    still: np.ndarray  # (E,) the best standing shape (one position for every band)


def step_fits(windows: np.ndarray, weight: np.ndarray, model: StepModel) -> StepFits:
    # Single precision throughout: the search's sums move most of the bytes, and the gains of
    # interest (chi-square 1-10^4) are far above its rounding.  Each band is projected only on
    # the positions it can reach (B02 on the 30 m search, B04 on all).
    centred = (windows - windows.mean(axis=2, keepdims=True)).astype(np.float32)
    count = windows.shape[0]
    shapes, positions = model.norm.shape
    before, after = model.pad
    # Entries no start of the band reaches are never read: zero.
    padded = np.zeros((count, 4, shapes, before + positions + after), dtype=np.float32)
    free = np.zeros((count, shapes), dtype=np.float32)
    for band, part in enumerate(model.reachable):
        explained = padded[:, band, :, before + part.start:before + part.stop]
        projection = (centred[:, band] @ model.bases[band]).reshape(explained.shape)
        np.multiply(projection, projection, out=explained)
        explained *= model.inverse_norms[band] * np.float32(weight[band])
        free += explained.max(axis=2)
    padded[..., :before] = padded[..., before:before + 1]
    padded[..., before + positions:] = padded[..., before + positions - 1:before + positions]
    # Standing: every band at the same start, summed as ``_best_starts`` sums (the same
    # single-precision sums as its zero speed).
    centre = model.speeds.size // 2  # the speed grid is symmetric about 0
    at_rest = [int(model.rows[band][centre if model.rows[band].size > 1 else 0])
               for band in model.order]
    span = 2 * model.starts - 1
    total = padded[:, model.order[0], :, at_rest[0]:at_rest[0] + span:2].copy()
    for band, first in zip(model.order[1:], at_rest[1:], strict=True):
        total += padded[:, band, :, first:first + span:2]
    return StepFits(padded, free.max(axis=1).astype(np.float64),
                     total.max(axis=(1, 2)).astype(np.float64))


def _best_starts(table: np.ndarray, rows: tuple[np.ndarray, ...], model: StepModel
                 ) -> np.ndarray:
    """For each window and shape of ``table`` (E, 4, S, L), the best over the starts x of the
    bands' summed entries ``table[b, rows[b][r] + 2 x]``, for each r: (E, S, R)."""
    count, _, shapes, length = table.shape
    # view[e, b, s, i, x] = table[e, b, s, i + 2 x]: one row of a strided view per (band, r),
    # not a gather per element.
    item = table.strides[3]
    view = as_strided(table, (count, 4, shapes, length - 2 * (model.starts - 1), model.starts),
                      (*table.strides, 2 * item), writeable=False)
    searched = max(r.size for r in rows)
    best = np.empty((count, shapes, searched), dtype=np.float32)
    at_once = max(1, _SUMS_AT_ONCE // (shapes * searched * model.starts))
    for lo in range(0, count, at_once):
        part = view[lo:lo + at_once]
        # A band sensed at lag 0 (B02) has the same row at every speed: added by broadcasting.
        total = part[:, model.order[0]][:, :, rows[model.order[0]]]  # (e, S, R, X)
        for band in model.order[1:]:
            total += part[:, band][:, :, rows[band]]
        # The maximum over x is far cheaper along an outer axis than along 31-long rows.
        best[lo:lo + at_once] = np.ascontiguousarray(
            total.transpose(0, 1, 3, 2)).max(axis=2)
    return best


def _scaled(best: np.ndarray, top: np.ndarray, fits: StepFits, which: np.ndarray | slice
            ) -> np.ndarray:
    """Gains from the best fits ``best`` (E, V) and their maximum over the speeds ``top`` (E,)."""
    # Each band's shape on its own may sit anywhere; one velocity puts them at x + v * lag.
    # How much worse that fits (chi-square, 2 degrees of freedom) tells a rigid moving object
    # from a static step whose bands differ (a car's end and its shadow's, a cloud's textured
    # edge): the gains shrink by it, as a straight-line fit's errors scale with its chi-square.
    misfit = (fits.free[which] - top) / CORRELATED_SAMPLES / 2.0
    return ((best - fits.still[which][:, None]) / CORRELATED_SAMPLES
            / np.maximum(1.0, misfit)[:, None])


def fitted_gains(fits: StepFits, model: StepModel, which: np.ndarray) -> np.ndarray:
    """``step_gain`` of the windows ``which`` of ``fits``: (len(which), V)."""
    best = _best_starts(fits.padded[which], model.rows, model).max(axis=1).astype(np.float64)
    return _scaled(best, best.max(axis=1), fits, which)


def gain_bounds(fits: StepFits, model: StepModel, level: float) -> np.ndarray:
    """An upper bound of ``step_gain`` over each run of speeds (``StepModel.runs``), for every
    window of ``fits``: (E, K), tight enough to tell whether the gain can exceed ``level``.

    First the gain if each band could take its own best position (the misfit's free fit):
    at most ``level`` for most windows.  For the others, within each run of speeds each band
    reads the best of the few positions its start can take: a quarter of the full search.
    Single-precision sums round monotonically, so a sum of larger terms in the same order is
    never smaller: that bound holds to the last bit."""
    # Four non-negative single-precision terms summed in another order differ by < 2e-7.
    loose = np.maximum(0.0, (fits.free * (1 + 1e-6) - fits.still) / CORRELATED_SAMPLES)
    bounds = np.repeat(loose[:, None], len(model.runs), axis=1)
    which = np.flatnonzero(loose > level)
    if not which.size:
        return bounds
    padded = fits.padded[which]
    table = padded.copy()
    for band, width in enumerate(model.widths):
        for shift in range(1, width):
            np.maximum(table[:, band, :, :-shift], padded[:, band, :, shift:],
                       out=table[:, band, :, :-shift])
    upper = _best_starts(table, model.runs_rows, model).max(axis=1).astype(np.float64)
    # The best over all speeds is at most the best bound: the misfit is at least as large.
    bounds[which] = _scaled(upper, upper.max(axis=1), fits, which)
    return bounds


def step_gain(windows: np.ndarray, weight: np.ndarray, model: StepModel) -> np.ndarray:
    """Chi-square gain of a moving shape over a standing one, at each speed of the model, for
    each of ``windows`` (E, 4, w): (E, V).

    Band ``b`` of a window is fitted as a level plus a contrast times a blurred step (or short
    box) at ``x + v * lag_b`` (least squares: both enter linearly); the best shape and ``x`` are
    taken for each ``v``.  ``weight`` is each band's inverse noise variance; samples within a
    pixel are correlated, so ``CORRELATED_SAMPLES`` of them count as one.
    """
    return fitted_gains(step_fits(windows, weight, model), model, np.arange(len(windows)))


def peak_speed(speeds: np.ndarray, gain: np.ndarray, best: int) -> tuple[float, float]:
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


# --- a free template from the data, fitted band by band -------------------------------------------


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
        variances[b] = CORRELATED_SAMPLES / info
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
