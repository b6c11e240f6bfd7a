"""Occupied track length from physics: linear unmixing of rail car roofs and their shadows.

Why not "the track is usually empty": a busy yard is full on most dates, so any reference built
from the track's own typical look (its median over dates or along its length) already contains
cars, and counting against it finds a fraction of them.  Here the reference is only the *ground*
(``Background``: per pixel, the clear-date value left after the dates on which that pixel held
stock are masked out), and what stands on it is measured in physical units.

For one block of pixels (``layout``: 20 m of a bundle of tracks, across its whole width) the
sum of "scene minus ground" is, for ``l`` metres of cars of roof type k (``spectra.ROOFS``):

    sum(delta) = l / 100 m^2 x [ w (roof_k - ballast) + d (light - 1) x ground ]

with w the roof width, d the width of shadow a car casts beside itself (from the sun's position,
the car height and the gap to the next track) and ``light`` the diffuse share left in a shadow.
The PSF and the pixel integration conserve area, so the block sum does not depend on where in
the block the car stands; a car 5 m away on the next track is in the same block, so it is
counted once.  Per block we fit one or two roof types with non-negative lengths (multiple
endmember spectral mixture analysis, MESMA: Roberts et al. 1998, Remote Sensing of Environment
65:267-279) and keep the best by residual with a penalty per extra type.  A block whose best fit
does not beat "empty" clearly counts nothing.  The block noise has two parts: pixel noise, which grows as the
square root of the block's pixel count, and the error of the ground reference that the block's
pixels share (residual haze, phenology, a yard's texture under a single ground spectrum), which
grows with the count itself: 0.002 reflectance over 1,500 corridor pixels would otherwise add up
to ~100 phantom cars.

The per-track split puts each block's length on its tracks in proportion to how strongly the
block's pixels that carry the signal lie on each track; with tracks 5 m apart that split is only
partly determined, the block total is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from railwatch.detect.haze import GREEN_UP
from railwatch.detect.layout import PixelPlan
from railwatch.detect.spectra import ROOFS, SHADOW_LIGHT

__all__ = ["TRACK_BED", "BlockFitter", "CellFit", "OccupancySettings", "shadow_width"]

PIXEL_AREA_M2 = 100.0
# The average roof of the library weighted towards common stock (dark, brown, rust, grey): the
# direction weak blocks are measured along.
_GENERIC_WEIGHTS = np.array([0.25, 0.25, 0.2, 0.1, 0.05, 0.1, 0.03, 0.02, 0.0])
# Prior share of each roof of the library in freight stock seen from above (assumed from the
# published Tumangang/Khasan mixes in SENSOR.md: mostly ore gondolas, box and tank cars; few
# containers; snow-covered roofs only in winter).
ROOF_PRIOR = np.array([0.25, 0.2, 0.2, 0.1, 0.05, 0.1, 0.04, 0.03, 0.03])
# What a car hides: the track bed under it (the roof is ~3.2 m wide, the bed ~3.6 m), crushed
# granite/basalt ballast with ~10 % concrete sleepers and ~5 % rusty rail (USGS splib07 rocks and
# goethite, ECOSTRESS concrete; area-weighted).  Not the yard's measured interior ground: that is
# the bed mixed with the brighter gravel between the tracks, which the cars do not cover, and
# counting against it overstated each car's contrast by ~20 % (bench, seeds 0-1).  The
# simulator's track bed is built from the same sources, so this flatters the benchmark.
TRACK_BED = np.array([0.11, 0.13, 0.15, 0.19])
# Each block is fitted in three parts: pixels near the ground, clearly darker, clearly brighter.
_PARTS = 3
_PART_Z = 2.0
# A block is measured when this share of its track length is seen: cloud margins cut across a
# bundle, and dropping every block they touch dropped 40-70 % of the stock under broken cloud.
_MIN_SEEN_SHARE = 0.5
# A block whose change stock explains less of than this holds none: on bench seeds 0-1 the
# blocks with stock leave 0.3 % of their chi-square unexplained (median; 99th percentile 9 %),
# phantom blocks 6 % (median; 34 % of them over 10 %): cloud edges seen in one band and not the
# next, haze patches, ground that changed.
_MAX_UNEXPLAINED = 0.1
# Blocks (20 m each) either side of an unexplained one that count nothing either: the soft edge
# of a cloud or its shadow that the SCL missed fades out over a few tens of metres, weak enough
# there to pass for cars (partly cloudy bench scenes, seeds 0-2: 5-13 phantom cars on the empty
# Tumen bridge, from blocks 20-40 m beside unexplained ones), and so does a patch of ground
# that changed (quiet clear Tumangang scenes: 13-23 phantom cars).
_UNEXPLAINED_REACH = 2


@dataclass(frozen=True)
class OccupancySettings:
    roof_width_m: float
    occupied_threshold: float
    neighbour_threshold: float
    extra_type_penalty: float
    reference_bias: np.ndarray  # (4, N) reflectance, per corridor pixel
    split_contrast: bool = True


@dataclass(frozen=True)
class CellFit:
    """Metres of rolling stock per block and per (block, track); NaN where the block is hidden."""

    length_m: np.ndarray  # (C,)
    variance_m2: np.ndarray  # (C,)
    significant: np.ndarray  # (C,) bool
    roof: np.ndarray  # (C,) index of the main roof type (-1 none)
    per_track_m: np.ndarray  # (C, T)
    visible: np.ndarray  # (C,) bool: measured (enough of the block seen, its change explained)
    seen_track_m: np.ndarray  # (C, T) track length the fit saw in each block, 0 where unmeasured
    # (C, 2) chi-square of the block's change left by the best hypothesis, and in all
    chi_square: np.ndarray
    # Metres the blocks no stock explains would have held (they count none)
    unexplained_m: float = 0.0


def shadow_width(elevation_deg: float, sun_azimuth_deg: float, track_azimuth_deg: np.ndarray,
                 gap_m: np.ndarray, *, height_m: float, width_m: float,
                 neighbour_share: float | np.ndarray, car_length_m: float,
                 coupled_gap_m: float) -> np.ndarray:
    """Width of ground shaded by a car, per block (metres of shadow per metre of roof).

    A car of height h casts its shadow h / tan(elevation) away from the sun.  The part across the
    track shows beside the car; where another track lies on that side, a car standing there
    (``neighbour_share`` of the time, per block or for all) covers the shadow beyond the gap
    between them.  The part along the track falls on the next car of the cut, except in the
    gap between coupled cars.
    """
    if elevation_deg <= 2.0:
        return np.zeros_like(track_azimuth_deg)
    length = height_m / math.tan(math.radians(elevation_deg))
    away = np.radians((sun_azimuth_deg + 180.0) % 360.0 - track_azimuth_deg)
    sine = np.sin(away)
    across = length * np.abs(sine)
    # Positive sine: the shadow falls to the right of the track's direction (gap column 1).
    side_gap = np.where(sine > 0, gap_m[:, 1], gap_m[:, 0])
    free = np.clip(side_gap - width_m, 0.0, None)
    covered = np.minimum(across, free)
    beside = np.where(np.isfinite(side_gap), (1 - neighbour_share) * across
                      + neighbour_share * covered, across)
    in_gaps = width_m * np.minimum(length * np.abs(np.cos(away)), coupled_gap_m) / (
        car_length_m - coupled_gap_m)
    return beside + in_gaps


class BlockFitter:
    """Occupied length per block from the corridor pixels' ``delta`` (4, N) = scene - ground, at
    as many shadow widths as asked for.

    ``reference`` (4, N) is the matched ground, ``visible`` (N,) the pixels not hidden,
    ``noise`` (4,) the per-pixel noise of delta; ``fit`` takes the shadow width per block (C,);
    ``moving`` (C,) marks the blocks a moving train was found in (``_measured``).

    With ``split_contrast`` each block is fitted as two parts, its pixels darker and brighter
    than the ground (the sum of their whitened bands): black and light-grey roofs are nearly
    opposite after ballast is subtracted, so a block holding both sums to ~0 (57 tank cars
    counted as 28 in a Khasan scene).  They rarely share a pixel, so the parts separate them.

    Only the roofs' columns depend on the shadow: the block sums, their noise, the nuisance
    projected out and which blocks are measured are worked out once.  Blocks are fitted each on
    its own, so a fit at new widths fits again only the blocks whose width changed (the detector
    fits twice, the second time with each block's busyness; a single track's shadow never falls
    on a neighbour's cars, so its blocks keep their width and their fit).
    """

    def __init__(self, delta: np.ndarray, reference: np.ndarray, visible: np.ndarray,
                 plan: PixelPlan, noise: np.ndarray, ballast: np.ndarray,
                 settings: OccupancySettings, *, moving: np.ndarray | None = None) -> None:
        self._plan = plan
        self._moving = (np.zeros(len(plan.cell_azimuth), dtype=bool) if moving is None
                        else moving)
        self._settings = settings
        self._roof = settings.roof_width_m * (ROOFS - ballast[None, :])
        self._cells = cells = len(plan.cell_azimuth)
        good = visible & np.isfinite(delta).all(axis=0) & np.isfinite(reference).all(axis=0)
        seen_track = _seen_track_length(plan, good)
        seen = seen_track.sum(axis=1)
        self._measured = (seen > 0) & (seen >= _MIN_SEEN_SHARE * plan.cell_length)
        self._seen = seen
        self._seen_track = seen_track = np.where(self._measured[:, None], seen_track, 0.0)
        if settings.split_contrast:
            # Which part a pixel belongs to is decided by its own noise too; only pixels clearly
            # darker or brighter (beyond ``_PART_Z`` sd of the band sum) are set apart, so that
            # pure noise rarely biases a part (2 % of empty pixels per side); the rest stay
            # together, unbiased.
            contrast = (np.nan_to_num(delta) / noise[:, None]).sum(axis=0) / 2.0
            group = _PARTS * plan.cell + np.where(contrast > _PART_Z, 2,
                                                  np.where(contrast < -_PART_Z, 1, 0))
            self._parts = _PARTS
        else:
            group = plan.cell
            self._parts = 1
        parts = self._parts
        self._groups = _groups_from_pixels(delta, reference, good, plan, group, cells * parts,
                                           noise, np.repeat(seen, parts),
                                           np.repeat(seen_track, parts, axis=0),
                                           settings.reference_bias)
        self._shadow = np.full(cells * parts, np.nan)
        self._hypotheses: _Hypotheses | None = None

    def fit(self, shadow_m: np.ndarray) -> CellFit:
        """The fit with ``shadow_m`` (C,) metres of shadow per metre of roof in each block."""
        cells, parts = self._cells, self._parts
        shadow = np.repeat(shadow_m, parts)
        changed = np.flatnonzero(shadow != self._shadow)
        fresh = _hypotheses(self._groups, changed, shadow[changed], self._roof, self._settings)
        self._hypotheses = fresh if self._hypotheses is None else self._hypotheses.with_rows(
            changed, fresh)
        self._shadow = shadow
        hypotheses = self._hypotheses

        def decided(threshold: np.ndarray) -> CellFit:
            return _decide(self._groups, hypotheses, threshold, self._plan.track_weight)

        fit = _with_neighbours(decided, self._plan, cells, parts, self._settings)
        if parts == 1:
            return _measured(fit.length_m, fit.variance_m2, fit.significant, fit.roof,
                             fit.per_track_m, self._measured, self._seen_track, fit.chi_square,
                             self._plan.cell_neighbours, self._moving)

        def merged(values: np.ndarray) -> np.ndarray:
            return np.nan_to_num(values).reshape(cells, parts, *values.shape[1:]).sum(axis=1)

        roof = fit.roof.reshape(cells, parts)
        strongest = np.argmax(np.nan_to_num(fit.length_m).reshape(cells, parts), axis=1)
        significant = np.asarray(fit.significant.reshape(cells, parts).any(axis=1))
        return _measured(np.minimum(merged(fit.length_m), self._seen), merged(fit.variance_m2),
                         significant, roof[np.arange(cells), strongest],
                         merged(fit.per_track_m), self._measured, self._seen_track,
                         merged(fit.chi_square), self._plan.cell_neighbours, self._moving)


def _measured(length: np.ndarray, variance: np.ndarray, significant: np.ndarray,
              roof: np.ndarray, per_track: np.ndarray, measured: np.ndarray,
              seen_track: np.ndarray, chi_square: np.ndarray, neighbours: np.ndarray,
              moving: np.ndarray) -> CellFit:
    """The fit of the blocks seen well enough (the others are NaN; ``seen_track`` is already 0
    for them); a block whose change does not look like stock holds none, nor do the blocks
    beside it along the bundle (``neighbours`` (C, 2)), unless a moving train is there
    (``moving`` (C,))."""
    unexplained = measured & significant & (
        chi_square[:, 0] > _MAX_UNEXPLAINED * chi_square[:, 1])
    # What changes a block too much, or too unevenly across the bands, to pass for stock (the
    # edge of a cloud or its shadow that the SCL missed, ground that changed with the season)
    # goes on into the next blocks, weaker, and there it passes for cars.  They are counted
    # empty, like it, not hidden: hiding them extrapolated the site's density over them (tune
    # seeds: busy clear Tumangang scenes +15-20 cars).  A moving train is unexplained too (its
    # bands show it at four places) and its neighbours hold the rest of it.
    reached = unexplained & ~moving
    for _ in range(_UNEXPLAINED_REACH):
        reached = reached | _next_to(reached, neighbours)
    unexplained |= measured & significant & reached & ~moving
    unexplained_m = float(np.nansum(length[unexplained]))
    length = np.where(unexplained, 0.0, length)
    per_track = np.where(unexplained[:, None], 0.0, per_track)
    return CellFit(np.where(measured, length, np.nan), np.where(measured, variance, np.nan),
                   significant & measured & ~unexplained, roof,
                   np.where(measured[:, None], per_track, 0.0), measured, seen_track,
                   chi_square, unexplained_m)


def _next_to(blocks: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(C,) the blocks with a neighbour along the bundle (``neighbours`` (C, 2), -1 none) among
    ``blocks`` (C,) bool."""
    before, after = neighbours[:, 0], neighbours[:, 1]
    return ((before >= 0) & blocks[np.maximum(before, 0)]) | (
        (after >= 0) & blocks[np.maximum(after, 0)])


def _sums_by_group(group: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    """(groups, K) sums of ``values`` (N, K) over the pixels of each group, in one pass (the
    same sums, added in the same order, as one ``np.bincount`` per column)."""
    columns = values.shape[1]
    index = (group[:, None] * columns + np.arange(columns)[None, :]).ravel()
    return np.bincount(index, weights=values.ravel(),
                       minlength=groups * columns).reshape(groups, columns)


def _seen_track_length(plan: PixelPlan, good: np.ndarray) -> np.ndarray:
    """(C, T) track length of each block whose footprint falls on ``good`` pixels: the share of
    the track's weight in the block's pixels that can be seen."""
    cells = len(plan.cell_track_length)
    weight = plan.track_weight.astype(float)
    total = _sums_by_group(plan.cell, cells, weight)
    seen = _sums_by_group(plan.cell, cells, np.where(good[:, None], weight, 0.0))
    share = np.where(total > 0, seen / np.maximum(total, 1e-12), 0.0)
    return plan.cell_track_length * share


def _with_neighbours(fit, plan: PixelPlan, cells: int, parts: int,
                     settings: OccupancySettings) -> CellFit:
    """``fit`` (thresholds per group -> CellFit) with the lower ``neighbour_threshold`` for the
    groups of blocks next to a block with stock.

    Stock stands in cuts: a block holding the last car or two of a cut lies beside a full block,
    and is let in at the lower threshold (hysteresis); an isolated block must pass the high one.
    """
    high = np.full(cells * parts, settings.occupied_threshold)
    first = fit(high)
    if settings.neighbour_threshold >= settings.occupied_threshold or not cells:
        return first
    occupied = first.significant.reshape(cells, parts).any(axis=1)
    beside = _next_to(occupied, plan.cell_neighbours)
    if not beside.any():
        return first
    return fit(np.repeat(np.where(beside, settings.neighbour_threshold,
                                  settings.occupied_threshold), parts))


@dataclass(frozen=True)
class _Groups:
    """What the fit of a grouping of the corridor pixels needs that no shadow width changes."""

    group: np.ndarray  # (N,) group of each pixel
    visible: np.ndarray  # (G,) bool: the group has good pixels
    ground: np.ndarray  # (G, 4) mean ground under the good pixels
    sigma: np.ndarray  # (G, 4) noise of the group's sum
    projector: np.ndarray  # (G, 4, 4) removes the verges' greening, in whitened bands
    y: np.ndarray  # (G, 4) the group's whitened sum, greening removed
    seen: np.ndarray  # (G,) track length the group sees
    seen_track: np.ndarray  # (G, T) track length of each track the group sees
    fallback_share: np.ndarray  # (G, T) per-track split of a group without signal
    signal: np.ndarray  # (4, N) delta of the good pixels in pixel noise units
    noise: np.ndarray  # (4,)


def _groups_from_pixels(delta: np.ndarray, reference: np.ndarray, good: np.ndarray,
                        plan: PixelPlan, group: np.ndarray, groups: int, noise: np.ndarray,
                        seen: np.ndarray, seen_track: np.ndarray, reference_bias: np.ndarray
                        ) -> _Groups:
    """Sums over the ``good`` (N,) pixels of each of ``groups`` groups (``group`` (N,)):
    ``seen`` and ``seen_track`` are the track lengths they see."""
    d = np.where(good[None, :], delta, 0.0)
    # Everything summed per group in one pass: whether the pixel counts, delta (4 bands), the
    # ground (4), the shared reference error (4), the share of verge.
    per_pixel = np.empty((len(group), 14))
    per_pixel[:, 0] = good
    per_pixel[:, 1:5] = d.T
    per_pixel[:, 5:9] = np.where(good[None, :], reference, 0.0).T
    per_pixel[:, 9:13] = np.where(good[None, :], reference_bias, 0.0).T
    per_pixel[:, 13] = np.where(good, 1.0 - plan.bed_share, 0.0)
    summed = _sums_by_group(group, groups, per_pixel)
    counts, sums, verge = summed[:, 0], summed[:, 1:5], summed[:, 13]
    n = np.maximum(counts, 1.0)[:, None]
    ground = summed[:, 5:9] / n
    shared = summed[:, 9:13] / n
    # Block noise: pixel noise adds up as sqrt(n), but an error of the ground reference shared
    # by the block's pixels (haze left over, phenology, a yard's texture) adds up as n.
    sigma = np.sqrt(n * noise[None, :] ** 2 + (n * shared) ** 2)  # (G, 4)
    # A nuisance a block may carry whatever stands on it, of unknown sign and size: the
    # vegetation of its verges greener or browner than in the history (phenology).  It is
    # projected out before roofs are fitted.  (Residual haze was tried the same way: its shape
    # is too close to dark roofs and it ate half of the stock.)
    nuisance = (verge[:, None] * GREEN_UP[None, :])[:, None, :] / sigma[:, None, :]
    projector = _projector(nuisance)
    fallback = seen_track / np.maximum(seen_track.sum(axis=1, keepdims=True), 1e-9)
    return _Groups(group, counts > 0, ground, sigma, projector,
                   np.einsum("cbd,cd->cb", projector, sums / sigma), seen, seen_track, fallback,
                   d / noise[:, None], noise)


def _projector(nuisance: np.ndarray) -> np.ndarray:
    """(C, 4, 4) projections that remove the span of ``nuisance`` (C, J, 4)."""
    gram = np.einsum("cjb,ckb->cjk", nuisance, nuisance)
    gram += np.eye(gram.shape[1])[None] * (1e-9 * np.trace(gram, axis1=1, axis2=2)[:, None, None]
                                           + 1e-20)
    inverse = np.linalg.inv(gram)
    return np.eye(4)[None] - np.einsum("cjb,cjk,ckd->cbd", nuisance, inverse, nuisance)


@dataclass(frozen=True)
class _Hypotheses:
    """Per group, what every roof hypothesis says at one shadow width, before any threshold."""

    evidence: np.ndarray  # (G,) chi-square the best hypothesis explains
    left: np.ndarray  # (G, 2) chi-square the best hypothesis leaves, and the group's whole
    best_k: np.ndarray  # (G,) main roof of the best hypothesis
    length: np.ndarray  # (G,) posterior mean length over the hypotheses, m
    variance: np.ndarray  # (G,) its variance
    weak_variance: np.ndarray  # (G,) variance of a weak group of average roofs
    best_column: np.ndarray  # (G, 4) sum change per metre of the best roof
    generic_column: np.ndarray  # (G, 4) sum change per metre of the average roof

    def with_rows(self, rows: np.ndarray, new: _Hypotheses) -> _Hypotheses:
        """These hypotheses with ``rows`` taken from ``new`` (which holds those rows only)."""
        def merged(old: np.ndarray, fresh: np.ndarray) -> np.ndarray:
            out = old.copy()
            out[rows] = fresh
            return out

        return _Hypotheses(*(merged(getattr(self, f.name), getattr(new, f.name))
                             for f in fields(_Hypotheses)))


# Prior score of each roof: -2 log prior, in chi-square units.
_ROOF_PRIOR_SCORE = 2.0 * np.log(ROOF_PRIOR.max() / ROOF_PRIOR)
# Every pair of roof types, in the order (0, 1), (0, 2), ... (1, 2), ...
_FIRST, _SECOND = np.triu_indices(len(ROOFS), 1)


def _hypotheses(groups: _Groups, rows: np.ndarray, shadow_m: np.ndarray, roof: np.ndarray,
                settings: OccupancySettings) -> _Hypotheses:
    """The hypotheses of the groups ``rows`` with ``shadow_m`` (R,) of shade; ``roof`` (K, 4) is
    each roof type's change over the ballast per metre of car."""
    sigma = groups.sigma[rows]
    y = groups.y[rows]
    # Columns: per metre of car, what the block sum changes by (R, K, 4).
    shade = (shadow_m[:, None, None] * (SHADOW_LIGHT - 1.0)[None, None, :]
             * groups.ground[rows][:, None, :])
    columns = (roof[None, :, :] + shade) / PIXEL_AREA_M2
    a = np.einsum("cbd,ckd->ckb", groups.projector[rows], columns / sigma[:, None, :])

    rss_empty = (y**2).sum(axis=1)
    norm = (a**2).sum(axis=2)  # (R, K)
    dot = np.einsum("ckb,cb->ck", a, y)
    single = np.clip(dot / np.maximum(norm, 1e-12), 0.0, None)
    rss_single = rss_empty[:, None] - np.where(single > 0, dot**2 / np.maximum(norm, 1e-12), 0.0)
    # Roofs of similar shape but different brightness (grey steel, white paint, snow) explain a
    # block almost equally well at lengths a factor 2-3 apart; the prior share of each roof in
    # freight stock breaks the tie.
    prior = _ROOF_PRIOR_SCORE
    scored = rss_single + prior[None, :]
    best_k = np.argmin(scored, axis=1)
    at = np.arange(len(rows))
    best_rss = scored[at, best_k]
    single_var = 1.0 / np.maximum(norm, 1e-12)
    # Pairs of roof types (a block holds the ends of two cuts, or a mixed cut), all at once.
    g11, g22 = norm[:, _FIRST], norm[:, _SECOND]
    g12 = np.einsum("cpb,cpb->cp", a[:, _FIRST], a[:, _SECOND])
    dot_i, dot_j = dot[:, _FIRST], dot[:, _SECOND]
    det = g11 * g22 - g12**2
    ok = det > 1e-9 * g11 * g22
    safe = np.where(ok, det, 1.0)
    xi = (g22 * dot_i - g12 * dot_j) / safe
    xj = (g11 * dot_j - g12 * dot_i) / safe
    ok &= (xi > 0) & (xj > 0)
    # Each type must carry its own weight: significant on its own (2 sigma).
    var_i, var_j = g22 / safe, g11 / safe
    ok &= (xi**2 > 4 * var_i) & (xj**2 > 4 * var_j)
    pair_rss = np.where(ok, rss_empty[:, None] - (xi * dot_i + xj * dot_j)
                        + settings.extra_type_penalty + prior[_FIRST] + prior[_SECOND], np.inf)
    # The best pair replaces the best single type when it scores lower (the first such pair
    # when several tie).
    best_pair = np.argmin(pair_rss, axis=1)
    better = pair_rss[at, best_pair] < best_rss
    best_rss = np.where(better, pair_rss[at, best_pair], best_rss)
    main = np.where(xi[at, best_pair] >= xj[at, best_pair], _FIRST[best_pair],
                    _SECOND[best_pair])
    best_k = np.where(better, main, best_k)
    # Every hypothesis (one roof type, or two) with its score (chi-square plus -2 log prior),
    # length and variance: the block's length is their posterior mean.  Dark roofs and shadow
    # have nearly the same spectral shape as ore and rust, only deeper, so the single best type
    # is the darkest one just as often as not, and its length is 20-30 % short (bench, seeds
    # 0-1); the posterior mean weighs every roof that explains the block by how well it does.
    score = np.concatenate([scored, pair_rss], axis=1)
    weight = np.exp(-0.5 * (score - score.min(axis=1, keepdims=True)))
    weight /= weight.sum(axis=1, keepdims=True)
    length_h = np.nan_to_num(np.concatenate([single, xi + xj], axis=1))
    best_len = (weight * length_h).sum(axis=1)
    variances = np.concatenate([single_var, var_i + var_j + 2 * (-g12 / safe)], axis=1)
    best_var = (weight * (np.nan_to_num(variances) + length_h**2)).sum(axis=1) - best_len**2
    generic = (_GENERIC_WEIGHTS[None, :, None] * a).sum(axis=1)  # (R, 4)
    generic_norm = np.maximum((generic**2).sum(axis=1), 1e-12)
    left = best_rss - prior[best_k]
    return _Hypotheses(rss_empty - left, np.stack([left, rss_empty], axis=1), best_k, best_len,
                       best_var, 1.0 / generic_norm, columns[at, best_k],
                       (_GENERIC_WEIGHTS[None, :, None] * columns).sum(axis=1))


def _decide(groups: _Groups, hypotheses: _Hypotheses, threshold: np.ndarray,
            track_weight: np.ndarray) -> CellFit:
    """The fit of every group at ``threshold`` (G,): which groups hold stock, how much, and on
    which tracks."""
    significant = hypotheses.evidence > threshold**2
    # Columns are per metre of car, so the fitted coefficients are metres.  A block that does
    # not beat "empty" counts nothing, with the uncertainty of a weak block of average roofs.
    # A block cannot hold more stock than it has track: bright and dark roofs fitted together can
    # cancel into any length where the bands disagree (a moving train's fringes, a cloud edge).
    length = np.where(significant, np.minimum(hypotheses.length, groups.seen), 0.0)
    variance = np.where(significant, hypotheses.variance, hypotheses.weak_variance)
    length = np.where(groups.visible, length, np.nan)
    variance = np.where(groups.visible, variance, np.nan)
    # Per-track split: each pixel's projection on its block's roof direction, weighted by how
    # much a car on each track would show in it.
    direction = np.where(significant[:, None], hypotheses.best_column, hypotheses.generic_column)
    unit = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    pixel_signal = np.clip((groups.signal * (unit[groups.group] / groups.noise[None, :]).T
                            ).sum(axis=0), 0.0, None)
    share = _sums_by_group(groups.group, len(length), track_weight * pixel_signal[:, None])
    total = share.sum(axis=1, keepdims=True)
    share = np.where(total > 1e-9, share / np.maximum(total, 1e-12), groups.fallback_share)
    per_track = share * np.nan_to_num(length)[:, None]
    return CellFit(length, variance, significant & groups.visible,
                   np.where(significant, hypotheses.best_k, -1), per_track, groups.visible,
                   groups.seen_track, hypotheses.left)
