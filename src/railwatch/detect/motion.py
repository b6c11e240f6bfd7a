"""Speed from the time the MSI takes to sense its bands.

Sentinel-2 senses B02, B08, B03 and B04 at 0, 0.264, 0.527 and 1.005 s (``BAND_LAGS_S``), so an
object moving at ``v`` along a track appears in band ``b`` displaced by ``v * lag_b``.  A train is
long (100-1000 m) and narrow, so the displacement shows at its two ends; a truck is shorter than
its displacement, so its bands separate into the familiar blue-green-red triplet.  Both cases are
the same model: every band's along-track anomaly profile is one shape ``t(s)`` shifted by
``v * lag_b`` and scaled by a per-band contrast ``c_b`` (which may be negative: a black tank car is
darker than ballast in every band, a brown box car darker in blue but brighter in the NIR).

We estimate ``v`` in two steps.  A grid search picks the speed whose band alignment makes the
four profiles most nearly rank one (largest eigenvalue share of their 4x4 Gram matrix): no band's
sign or strength needs to be known.  Then each band's own shift against the common template is
refined by Gauss-Newton, and one weighted straight line ``shift_b = d0 + v * lag_b`` through the
four shifts gives ``v``, its standard error, and a chi-square that tells a rigid moving object
(one velocity explains every band) from clouds, snow and texture (no single velocity does).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from railwatch.detect.geometry import TrackGeometry, sampler_for
from railwatch.detect.layout import PixelPlan, footprint
from railwatch.detect.model import BAND_LAGS_S, DetectSettings, MovingTrain
from railwatch.imagery import BAND_KEYS, Scene

__all__ = ["VelocityFit", "find_moving", "fit_velocity", "moving_trains"]

LAGS = np.array([BAND_LAGS_S[k] for k in BAND_KEYS])
_BASELINE_M = 1500.0
# Along-track samples 2.5 m apart within 10 m pixels are not independent: about four samples per
# pixel carry one pixel's noise.  Shift variances are scaled by this.
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


def _shifted(profiles: np.ndarray, stations: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """profiles (4, n) sampled at stations, read at stations + shift per band (broadcast)."""
    out = np.empty(shifts.shape[:-1] + profiles.shape if shifts.ndim > 1 else profiles.shape)
    if shifts.ndim == 1:
        for b in range(profiles.shape[0]):
            out[b] = np.interp(stations + shifts[b], stations, profiles[b], left=0.0, right=0.0)
        return out
    for b in range(profiles.shape[0]):
        where = stations[None, :] + shifts[:, b, None]
        out[:, b] = np.interp(where.ravel(), stations, profiles[b], left=0.0, right=0.0
                              ).reshape(where.shape)
    return out


def fit_velocity(profiles: np.ndarray, stations: np.ndarray, *, max_speed_mps: float,
                 speed_step_mps: float = 0.5) -> VelocityFit:
    """Fit one along-track velocity to per-band anomaly profiles (noise units, NaN-free).

    ``profiles`` is (4, n) in BAND_KEYS order, ``stations`` (n,) metres, evenly spaced.
    """
    speeds = np.arange(-max_speed_mps, max_speed_mps + 1e-9, speed_step_mps)
    aligned = _shifted(profiles, stations, speeds[:, None] * LAGS[None, :])  # (v, 4, n)
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
    fit = _refine(profiles, stations, speed0, float(share[best]))
    for _ in range(2):  # re-centre the templates on the refined speed
        if not np.isfinite(fit.speed_sd_mps) or abs(fit.speed_mps - speed0) < 0.2:
            break
        speed0 = float(np.clip(fit.speed_mps, -max_speed_mps, max_speed_mps))
        fit = _refine(profiles, stations, speed0, fit.coherence)
    return fit


def _refine(profiles: np.ndarray, stations: np.ndarray, speed0: float, coherence: float
            ) -> VelocityFit:
    step = float(stations[1] - stations[0])
    base = _shifted(profiles, stations, speed0 * LAGS)
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
            moved = np.interp(stations + speed0 * LAGS[b] + delta, stations, profiles[b],
                              left=0.0, right=0.0)
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


# --- runs of stock along a track, and which of them move -----------------------------------------


def find_moving(profile: np.ndarray, visible: np.ndarray, geometry: TrackGeometry,
                noise_raw: np.ndarray, noise_smooth: np.ndarray,
                direction_of: Callable[[float, float, float], str],
                settings: DetectSettings) -> list[MovingTrain]:
    """Moving trains on one track from its matched-filter profile (4, n) of scene minus ground.

    Stations whose smoothed four-band energy stands clearly above noise form runs (gaps of a
    coupler closed); runs close together are one train whose middle may be faint.  A run moves
    when one velocity explains the four bands' shifts (``fit_velocity``); a long run must show
    the same velocity at its head and at its tail, where the blue-only and red-only fringes are:
    a cloud edge, a snow bank or a shadow at one end does not move both ends alike.
    """
    stations = geometry.stations_m
    if len(stations) < 6:
        return []
    step = float(stations[1] - stations[0])
    # What the ground reference leaves along a whole track (residual haze, verges greener than
    # in the history) is slow; runs of stock and their fringes are not.  A running median over
    # ``_BASELINE_M`` removes the first and keeps the ends of even a long train.
    window = max(3, int(_BASELINE_M / step) | 1)
    if len(stations) > window:  # hidden stations hold 0 and count as ground
        profile = profile - median_filter(profile, size=(1, window), mode="nearest")
    else:
        profile = profile - np.median(profile, axis=1, keepdims=True)
    smooth = _smooth3(profile) / noise_smooth[:, None]
    energy = (smooth**2).sum(axis=0)
    occupied = (energy > settings.occupied_threshold**2 * 4) & visible
    runs = _runs(occupied, step, settings)
    unit = profile / noise_raw[:, None]
    found = []
    for group in _groups(runs, step, settings.motion_group_gap_m):
        train = _moving_train(unit, visible, group[0][0], group[-1][1], geometry, direction_of,
                              settings)
        if train is not None:
            found.append(train)
    return found


def _smooth3(values: np.ndarray) -> np.ndarray:
    padded = np.concatenate([values[:, :1], values, values[:, -1:]], axis=1)
    return (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0


def _runs(occupied: np.ndarray, step: float, settings: DetectSettings) -> list[tuple[int, int]]:
    index = np.flatnonzero(occupied)
    if not len(index):
        return []
    breaks = np.flatnonzero(np.diff(index) * step > settings.max_gap_m + 1e-9)
    starts = np.concatenate([[index[0]], index[breaks + 1]])
    ends = np.concatenate([index[breaks], [index[-1]]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)
            if (b - a + 1) * step >= settings.min_run_m]


def _groups(runs: list[tuple[int, int]], step: float, gap_m: float
            ) -> list[list[tuple[int, int]]]:
    groups: list[list[tuple[int, int]]] = []
    for run in runs:
        if groups and (run[0] - groups[-1][-1][1]) * step <= gap_m:
            groups[-1].append(run)
        else:
            groups.append([run])
    return groups


def _window_fit(unit: np.ndarray, visible: np.ndarray, stations: np.ndarray, lo: int, hi: int,
                settings: DetectSettings) -> VelocityFit | None:
    lo, hi = max(0, lo), min(unit.shape[1], hi)
    if hi - lo < 6 or not visible[lo:hi].all():
        return None
    fit = fit_velocity(unit[:, lo:hi].astype(float), stations[lo:hi],
                       max_speed_mps=settings.max_speed_mps)
    if not math.isfinite(fit.speed_sd_mps) or fit.chi2_per_dof > settings.max_chi2:
        return None
    return fit


def _moving_train(unit: np.ndarray, visible: np.ndarray, first: int, last: int,
                  geometry: TrackGeometry, direction_of: Callable[[float, float, float], str],
                  settings: DetectSettings) -> MovingTrain | None:
    stations = geometry.stations_m
    step = float(stations[1] - stations[0])
    margin = int(math.ceil(settings.motion_margin_m / step))
    run_m = (last - first + 1) * step
    fit = _window_fit(unit, visible, stations, first - margin, last + margin + 1, settings)
    if fit is None:
        return None
    speed_signed, speed_sd = fit.speed_mps, fit.speed_sd_mps
    chi2, coherence, shifts = fit.chi2_per_dof, fit.coherence, fit.shifts_m
    if run_m >= settings.head_tail_min_run_m and not _ends_agree(
            unit, visible, stations, first, last, margin, speed_signed, settings):
        return None
    speed = abs(speed_signed)
    if not settings.min_speed_mps <= speed <= settings.max_speed_mps:
        return None
    significance = speed / max(speed_sd, 1e-6)
    if significance < settings.min_speed_significance:
        return None
    confidence = _confidence(significance, chi2, coherence)
    if confidence < settings.min_moving_confidence:
        return None
    smear = speed * float(LAGS.max())  # B02 to B04
    # Objects shorter than their own 1 s smear (road vehicles) come out near 0: only trains are
    # long enough for this length to mean something.
    length = max(0.0, run_m - settings.run_blur_m - smear)
    if length < settings.min_moving_length_m:  # a fringe of noise, not a train
        return None
    # The run spans every band; the train at the B02 time is its rear part when moving forward.
    start_m = float(stations[first]) + settings.run_blur_m / 2
    if speed_signed < 0:
        start_m += smear
    position = start_m + length / 2
    point = geometry.line.interpolate(position)
    index = int(np.clip(round(position / step), 0, len(geometry.azimuth_deg) - 1))
    heading = float(geometry.azimuth_deg[index] + (0.0 if speed_signed > 0 else 180.0)) % 360
    return MovingTrain(
        track=geometry.track, position_m=position, length_m=length, speed_mps=speed,
        speed_sd_mps=speed_sd, heading_deg=heading,
        direction=direction_of(point.x, point.y, heading), confidence=confidence,
        x=point.x, y=point.y,
        band_shifts_m={k: float(v) for k, v in zip(BAND_KEYS, shifts, strict=True)},
    )


def _ends_agree(unit: np.ndarray, visible: np.ndarray, stations: np.ndarray, first: int,
                last: int, margin: int, speed: float, settings: DetectSettings) -> bool:
    """A long run moves only if its two ends do: at least one end on its own shows a velocity of
    the whole run's sign, and neither shows a significant velocity of the other sign.  (A cloud
    edge, snow bank or shadow at one end moves nothing at the other; the trailing end of a real
    train often fits slower than the leading one, so the ends are not required to agree in size.)
    """
    votes = []
    for centre in (first, last):
        fit = _window_fit(unit, visible, stations, centre - margin, centre + margin + 1, settings)
        if fit is None:
            votes.append(0)
            continue
        significant = abs(fit.speed_mps) > 2.0 * fit.speed_sd_mps and abs(fit.speed_mps) > 2.0
        votes.append(int(np.sign(fit.speed_mps)) if significant else 0)
    sign = int(np.sign(speed))
    return sign in votes and -sign not in votes


def _confidence(significance: float, chi2: float, coherence: float) -> float:
    """0..1 from how far the speed stands above its error, how well one velocity explains every
    band, and how much of the signal one aligned shape carries."""
    from_significance = 1.0 / (1.0 + math.exp(-1.5 * (significance - 4.0)))
    from_fit = math.exp(-max(0.0, chi2 - 2.0) / 6.0)
    from_shape = min(1.0, coherence / 0.6)
    return float(from_significance * from_fit * from_shape)


# --- moving trains ------------------------------------------------------------------------------


def moving_trains(scene: Scene, delta: np.ndarray, hidden: np.ndarray, plan: PixelPlan,
            direction_of, settings: DetectSettings) -> list[MovingTrain]:
    """Moving trains on every track of ``plan``: scene-minus-ground ``delta`` (4, pixels) sampled
    along each track, then runs of stock with one velocity (``find_moving``)."""
    profiles = []
    for track in plan.tracks:
        sampler, _ = sampler_for(track.geometry, scene.transform, scene.shape,
                                 site_key=plan.key)
        values = sampler.sample(np.nan_to_num(delta))  # (4, n, m)
        blocked = hidden[sampler.index].any(axis=-1) | ~sampler.inside
        offsets = track.geometry.offsets_m
        weights = footprint(offsets)
        weights = (weights / np.sqrt((weights**2).sum())).astype(np.float32)
        centre = len(offsets) // 2
        visible = ~blocked[:, centre]
        values[:, blocked] = 0.0
        profiles.append((track, np.einsum("bnm,m->bn", values, weights), visible))
    if not profiles:
        return []
    noise_raw, noise_smooth = _profile_noise([p for _, p, _ in profiles])
    found: list[MovingTrain] = []
    for track, profile, visible in profiles:
        found.extend(find_moving(profile, visible, track.geometry, noise_raw, noise_smooth,
                                 direction_of, settings))
    return found


def _profile_noise(profiles: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band noise of the matched-filter profile, raw and smoothed over three stations.

    Measured on differences 25 m apart: rolling stock adds to them only at the ends of runs, so
    their median absolute value measures the noise even on a busy track.
    """
    raw, smooth = [], []
    for profile in profiles:
        smoothed = _smooth_along(profile)
        lag = 10
        if profile.shape[1] > lag:
            raw.append(profile[:, lag:] - profile[:, :-lag])
            smooth.append(smoothed[:, lag:] - smoothed[:, :-lag])
    if not raw:
        return np.full(4, 1e-2), np.full(4, 1e-2)

    def robust(diffs: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(diffs, axis=1)
        joined = np.where(joined == 0.0, np.nan, joined)  # blocked stations
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a band with every station blocked
            noise = 1.4826 * np.nanmedian(np.abs(joined), axis=1) / math.sqrt(2)
        return np.where(np.isfinite(noise) & (noise > 1e-5), noise, 1e-2)

    return robust(raw), robust(smooth)


def _smooth_along(values: np.ndarray) -> np.ndarray:
    """Running mean over three stations (~7.5 m, half a car) along axis 1."""
    padded = np.concatenate([values[:, :1], values, values[:, -1:]], axis=1)
    return (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0
