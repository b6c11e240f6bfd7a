"""Moving trains along the tracks, from the steps in their four bands' profiles.

A moving train's ends, and the boundaries between its wagons of different colour, are steps that
the inter-band time lag displaces from band to band (``stepfit``).  Detection (``moving_trains`` ->
``find_moving``) fits every step along a track with the step model (``step_gain``): its
chi-square gain over a standing step, at every speed, is summed over the steps of a stretch of
track that move together (each step either moves with the train or stands: standing stock beside
a moving train must not drag it to 0).
Clouds, whose edges move between the bands with their parallax, are kept out by their distance,
by the ground beside the track (a cloud covers it too, and moves with the scene's clouds where a
train's ground stands still) and by their width (several tracks at once).
``docs/detect-motion.md`` has the reasoning and the measured numbers.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

from railwatch.detect.cloudmotion import CloudMotion
from railwatch.detect.geometry import TrackGeometry, sampler_for
from railwatch.detect.layout import PIXEL_M, PixelPlan, footprint
from railwatch.detect.model import BAND_LAGS_S, DetectSettings, MovingTrain
from railwatch.detect.stepfit import (
    CORRELATED_SAMPLES,
    LAGS,
    STEP_BLUR_M,
    StepFits,
    StepModel,
    fitted_gains,
    gain_bounds,
    peak_speed,
    step_fits,
    step_model,
)
from railwatch.imagery import BAND_KEYS, Scene

__all__ = ["MovingEdge", "find_moving", "moving_trains"]


# --- moving edges along a track, and trains made of them ----------------------------------------


@dataclass(frozen=True)
class MovingEdge:
    """One place along a track where the profile steps (an end of a train, or the boundary
    between two kinds of wagon), with how much better a moving step explains its four bands
    than a standing one, at every speed of ``speeds``."""

    index: int
    speeds: np.ndarray  # (V,) m/s, signed along the track's stations
    # (V,) chi-square of a standing step minus that of a step moving so; for a step that cannot
    # join a train (at most ``edge_penalty`` at every speed), or whose chain cannot make one,
    # an upper bound of it at every speed (``_moving_edges``).
    gain: np.ndarray
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
    model = step_model(step, reach, settings.max_speed_mps)
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
    if not chosen:
        return []
    at = np.array(chosen)
    moves = ([] if far_from_clouds is None
             else _window_moves(at, visible, clear & far_from_clouds, model.speeds, reach, step))
    # Every window of every step (centred, then each move's) is projected at once.
    starts = np.concatenate([at] + [at[which] + shift for shift, _, which in moves])
    windows = sliding_window_view(unit, 2 * reach + 1, axis=1)[:, starts - reach]
    fits = step_fits(windows.transpose(1, 0, 2), weight, model)
    # A step whose gain stays at or below the cost of joining a train at every speed, in each of
    # its windows, can never move with one (``_train_from`` counts only the gain above it): its
    # curve is not fitted but held at its bound, which changes no train.  Most steps are such
    # (standing stock, noise), and the full speed-by-start search is most of a fit's cost.
    bounds = gain_bounds(fits, model, settings.edge_penalty)  # (windows, runs of speeds)
    ceiling = np.maximum(bounds[:len(chosen)].max(axis=1), 0.0)
    offset = len(chosen)
    for _, needed, which in moves:
        # A moved window counts only at the speeds it serves.
        count = np.concatenate([[0], np.cumsum(needed)])
        serves = count[model.runs[:, 1] + 1] > count[model.runs[:, 0]]
        np.maximum.at(ceiling, which, bounds[offset:offset + len(which), serves].max(axis=1))
        offset += len(which)
    joins = ceiling > settings.edge_penalty
    # A chain of steps (as ``_chains`` makes it with every step present; dropping steps only
    # splits it) whose steps together cannot gain enough for the weakest train reported gives
    # no train, whatever their exact curves: they keep their bounds and are not tested.
    order = np.argsort(at, kind="stable")
    chain = np.empty(len(at), dtype=np.intp)
    chain[order] = np.concatenate([[0], np.cumsum(np.diff(at[order]) * step
                                                  > settings.motion_group_gap_m)])
    weakest = min(settings.min_speed_significance, settings.single_edge_significance) ** 2
    joins &= (np.bincount(chain, weights=np.where(joins, ceiling, 0.0)) >= weakest)[chain]
    tests: list[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]] = []
    # Steps the ground beside shows as well: the edges of clouds, haze and snow.
    if off_track is not None:
        sides: list[tuple[np.ndarray, np.ndarray]] = []

        def beside(which: np.ndarray) -> np.ndarray:
            if not sides:
                sides.extend(_ground_steps(off_track[:, :, side], half, spread)
                             for side in range(off_track.shape[2]))
            near = at[which, None] + np.arange(-2 * half, 2 * half + 1)
            return _off_the_track(sides, scaled, near, settings)

        tests.append((beside, np.ones(len(at), dtype=bool)))
    # Steps whose ground moves with the scene's clouds (only near them).
    if with_clouds is not None:
        tests.append((lambda which: with_clouds(at[which]),
                      np.ones(len(at), dtype=bool) if far_from_clouds is None
                      else ~far_from_clouds[at]))
    kept = _kept(at, joins, tests, step, settings.motion_group_gap_m)
    joins &= kept
    gains = np.repeat(ceiling[:, None], model.speeds.size, axis=1)
    gains[joins] = fitted_gains(fits, model, np.flatnonzero(joins))
    offset = len(chosen)
    for _, needed, which in moves:
        _refit_fast(gains, which, offset, joins, fits, needed, model)
        offset += len(which)
    edges = [MovingEdge(i, model.speeds, gain, float(energy[i]))
             for i, gain, keep in zip(chosen, gains, kept, strict=True) if keep]
    edges.sort(key=lambda e: e.index)
    return edges


def _kept(at: np.ndarray, joins: np.ndarray,
          tests: list[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]], step: float,
          gap_m: float) -> np.ndarray:
    """Which of the steps at stations ``at`` pass every test (each a function of step positions
    in ``at`` giving True where the step is not used, and which steps it may reject).

    A test is asked only where its answer can change a train: of the steps that may join one
    (``joins``) always; of the others, which never join one (``_train_from`` counts only the
    gain above the joining cost), only those whose removal could split a chain (``_chains``)
    between two steps that may join one.  (The clouds' motion costs ~15 ms a scene, once any
    step asks; the ground beside, a pass over the track.)"""
    kept = np.ones(len(at), dtype=bool)
    if not tests:
        return kept

    def ask(which: np.ndarray) -> None:
        for test, applies in tests:
            tested = which[applies[which] & kept[which]]
            if tested.size:
                kept[tested] = ~test(tested)

    ask(np.flatnonzero(joins))
    untested = ~joins & np.logical_or.reduce([applies for _, applies in tests])
    if not untested.any():
        return kept
    order = np.argsort(at, kind="stable")
    sorted_at = at[order]

    def chains(present: np.ndarray) -> np.ndarray:
        """The chain of each step of ``present`` (sorted order), as ``_chains`` splits."""
        where = sorted_at[present]
        breaks = np.concatenate([[0], np.cumsum((where[1:] - where[:-1]) * step > gap_m)])
        label = np.full(len(at), -1)
        label[present] = breaks
        return label

    present = kept[order]
    joining = np.flatnonzero((joins & kept)[order])
    together = [label[joining[1:]] == label[joining[:-1]]
                for label in (chains(present), chains(present & ~untested[order]))]
    between = np.zeros(len(at), dtype=bool)
    for first, last in zip(joining[:-1][together[0] != together[1]],
                           joining[1:][together[0] != together[1]], strict=True):
        between[first + 1:last] = True
    ask(order[between & untested[order]])
    return kept


def _window_moves(at: np.ndarray, visible: np.ndarray, far: np.ndarray, speeds: np.ndarray,
                  reach: int, step: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Fit windows of each step moved half a search back and forth: a fast train's bands spread
    over up to ``v * 1.005 s``, and in a faint one the four bands' change peaks where most of
    them have stepped, up to that far ahead of B02.  Its B02 step is then beyond the fit's
    search (+- ``reach / 2`` stations), which keeps only the later bands' rise: a
    static-looking step.  A window moved back (against the motion) holds it.  Only for the
    speeds that need it, one sign for each direction of the move; and only on steps ``far``
    from clouds (``single_edge_cloud_margin_m``): a window moved towards a cloud's parallax
    gives its edges a second chance.  Per move: its shift (stations), the speeds it serves
    (V,) and the steps (positions in ``at``, the steps' stations) it is fitted for."""
    n = len(visible)
    move = reach // 2
    hidden_before = np.concatenate([[0], np.cumsum(~visible)])  # hidden stations before each
    moves = []
    for shift in (-move, move):
        # B02 sits ``move`` stations behind the step for motion towards increasing stations
        # when the window moves back (shift < 0), and ahead for the other direction.
        needed = (np.sign(speeds) == -np.sign(shift)) & (
            np.abs(speeds) * float(LAGS.max()) > move * step)
        if not needed.any():
            continue
        first, end = at + shift - reach, at + shift + reach + 1
        inside = far[at] & (first >= 0) & (end <= n)
        which = np.flatnonzero(inside)
        which = which[hidden_before[end[which]] == hidden_before[first[which]]]
        if which.size:
            moves.append((shift, needed, which))
    return moves


def _refit_fast(gains: np.ndarray, which: np.ndarray, first: int, joins: np.ndarray,
                fits: StepFits, needed: np.ndarray, model: StepModel) -> None:
    """Raises the gains (E, V) of the steps ``which``, at the ``needed`` speeds, to their fits in
    a moved window (``_window_moves``; the fits ``first``, ``first + 1``, ... of ``fits``).
    Steps that cannot join a train (``joins`` False) keep their bound."""
    fitted = joins[which]
    if not fitted.any():
        return
    steps = which[fitted]
    # The whole speed grid: the misfit that scales the gains compares with the best speed.
    moved = fitted_gains(fits, model, first + np.flatnonzero(fitted))
    gains[steps] = np.where(needed, np.maximum(gains[steps], moved), gains[steps])


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
                                 * CORRELATED_SAMPLES**0.5 * noise))
    return ~unlike & (seen > 0)


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
    speed_signed, speed_sd = peak_speed(speeds, gain, best)
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
# filters: a Gaussian of the cross-track blur (``STEP_BLUR_M``, 6.7 m) overlaps its copy d
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
    return math.exp(-apart_m**2 / (4 * STEP_BLUR_M**2))


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
