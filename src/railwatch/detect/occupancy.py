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
from dataclasses import dataclass

import numpy as np

from railwatch.detect.haze import GREEN_UP
from railwatch.detect.layout import PixelPlan
from railwatch.detect.spectra import ROOFS, SHADOW_LIGHT

__all__ = ["TRACK_BED", "CellFit", "OccupancySettings", "fit_cells", "shadow_width"]

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


def _project_out(nuisance: np.ndarray, y: np.ndarray, a: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Remove the span of ``nuisance`` (C, J, 4) from ``y`` (C, 4) and ``a`` (C, K, 4)."""
    gram = np.einsum("cjb,ckb->cjk", nuisance, nuisance)
    gram += np.eye(gram.shape[1])[None] * (1e-9 * np.trace(gram, axis1=1, axis2=2)[:, None, None]
                                           + 1e-20)
    inverse = np.linalg.inv(gram)
    projector = np.eye(4)[None] - np.einsum("cjb,cjk,ckd->cbd", nuisance, inverse, nuisance)
    return np.einsum("cbd,cd->cb", projector, y), np.einsum("cbd,ckd->ckb", projector, a)


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


def fit_cells(delta: np.ndarray, reference: np.ndarray, visible: np.ndarray, plan: PixelPlan,
              noise: np.ndarray, ballast: np.ndarray, shadow_m: np.ndarray,
              settings: OccupancySettings) -> CellFit:
    """Occupied length per block from the corridor pixels' ``delta`` (4, N) = scene - ground.

    ``reference`` (4, N) is the matched ground, ``visible`` (N,) the pixels not hidden,
    ``noise`` (4,) the per-pixel noise of delta, ``shadow_m`` (C,) the shadow width per block.

    With ``split_contrast`` each block is fitted as two parts, its pixels darker and brighter
    than the ground (the sum of their whitened bands): black and light-grey roofs are nearly
    opposite after ballast is subtracted, so a block holding both sums to ~0 (57 tank cars
    counted as 28 in a Khasan scene).  They rarely share a pixel, so the parts separate them.
    """
    cells = len(plan.cell_azimuth)
    good = visible & np.isfinite(delta).all(axis=0) & np.isfinite(reference).all(axis=0)
    seen_track = _seen_track_length(plan, good)
    seen = seen_track.sum(axis=1)
    measured = (seen > 0) & (seen >= _MIN_SEEN_SHARE * plan.cell_length)
    seen_track = np.where(measured[:, None], seen_track, 0.0)
    if not settings.split_contrast:
        def whole(threshold: np.ndarray) -> CellFit:
            return _fit(delta, reference, good, plan, plan.cell, cells, noise, ballast,
                        shadow_m, seen, seen_track, threshold, settings)

        fit = _with_neighbours(whole, plan, cells, 1, settings)
        return _measured(fit.length_m, fit.variance_m2, fit.significant, fit.roof,
                         fit.per_track_m, measured, seen_track, fit.chi_square)
    # Which part a pixel belongs to is decided by its own noise too; only pixels clearly darker
    # or brighter (beyond ``_PART_Z`` sd of the band sum) are set apart, so that pure noise
    # rarely biases a part (2 % of empty pixels per side); the rest stay together, unbiased.
    contrast = (np.nan_to_num(delta) / noise[:, None]).sum(axis=0) / 2.0
    part = _PARTS * plan.cell + np.where(contrast > _PART_Z, 2, np.where(contrast < -_PART_Z,
                                                                         1, 0))

    def split(threshold: np.ndarray) -> CellFit:
        return _fit(delta, reference, good, plan, part, _PARTS * cells, noise, ballast,
                    np.repeat(shadow_m, _PARTS), np.repeat(seen, _PARTS),
                    np.repeat(seen_track, _PARTS, axis=0), threshold, settings)

    parts = _with_neighbours(split, plan, cells, _PARTS, settings)

    def merged(values: np.ndarray) -> np.ndarray:
        return np.nan_to_num(values).reshape(cells, _PARTS, *values.shape[1:]).sum(axis=1)

    roof = parts.roof.reshape(cells, _PARTS)
    strongest = np.argmax(np.nan_to_num(parts.length_m).reshape(cells, _PARTS), axis=1)
    significant = np.asarray(parts.significant.reshape(cells, _PARTS).any(axis=1))
    return _measured(np.minimum(merged(parts.length_m), seen), merged(parts.variance_m2),
                     significant, roof[np.arange(cells), strongest], merged(parts.per_track_m),
                     measured, seen_track, merged(parts.chi_square))


def _measured(length: np.ndarray, variance: np.ndarray, significant: np.ndarray,
              roof: np.ndarray, per_track: np.ndarray, measured: np.ndarray,
              seen_track: np.ndarray, chi_square: np.ndarray) -> CellFit:
    """The fit of the blocks seen well enough (the others are NaN; ``seen_track`` is already 0
    for them); a block whose change does not look like stock holds none."""
    unexplained = measured & significant & (
        chi_square[:, 0] > _MAX_UNEXPLAINED * chi_square[:, 1])
    unexplained_m = float(np.nansum(length[unexplained]))
    length = np.where(unexplained, 0.0, length)
    per_track = np.where(unexplained[:, None], 0.0, per_track)
    return CellFit(np.where(measured, length, np.nan), np.where(measured, variance, np.nan),
                   significant & measured & ~unexplained, roof,
                   np.where(measured[:, None], per_track, 0.0), measured, seen_track,
                   chi_square, unexplained_m)


def _seen_track_length(plan: PixelPlan, good: np.ndarray) -> np.ndarray:
    """(C, T) track length of each block whose footprint falls on ``good`` pixels: the share of
    the track's weight in the block's pixels that can be seen."""
    cells, tracks = plan.cell_track_length.shape
    share = np.zeros((cells, tracks))
    for t in range(tracks):
        weight = plan.track_weight[:, t]
        total = np.bincount(plan.cell, weights=weight, minlength=cells)
        seen = np.bincount(plan.cell, weights=np.where(good, weight, 0.0), minlength=cells)
        share[:, t] = np.where(total > 0, seen / np.maximum(total, 1e-12), 0.0)
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
    before, after = plan.cell_neighbours[:, 0], plan.cell_neighbours[:, 1]
    beside = ((before >= 0) & occupied[np.maximum(before, 0)]) | (
        (after >= 0) & occupied[np.maximum(after, 0)])
    if not beside.any():
        return first
    return fit(np.repeat(np.where(beside, settings.neighbour_threshold,
                                  settings.occupied_threshold), parts))


def _fit(delta: np.ndarray, reference: np.ndarray, good: np.ndarray, plan: PixelPlan,
         cell: np.ndarray, cells: int, noise: np.ndarray, ballast: np.ndarray,
         shadow_m: np.ndarray, cell_length: np.ndarray, cell_track_length: np.ndarray,
         threshold: np.ndarray, settings: OccupancySettings) -> CellFit:
    """``fit_cells`` on any grouping ``cell`` (N,) of the corridor pixels into ``cells`` groups,
    from the ``good`` (N,) pixels only: ``cell_length`` and ``cell_track_length`` are what they
    see."""
    tracks = plan.track_weight.shape[1]
    counts = np.bincount(cell, weights=good.astype(float), minlength=cells)
    d = np.where(good[None, :], delta, 0.0)
    e = np.where(good[None, :], reference, 0.0)
    sums = np.stack([np.bincount(cell, weights=d[b], minlength=cells) for b in range(4)], axis=1)
    ground = np.stack([np.bincount(cell, weights=e[b], minlength=cells) for b in range(4)],
                      axis=1) / np.maximum(counts, 1.0)[:, None]
    visible_cell = counts > 0

    # Columns: per metre of car, what the block sum changes by (C, K, 4).
    roof = settings.roof_width_m * (ROOFS[None, :, :] - ballast[None, None, :])
    shade = shadow_m[:, None, None] * (SHADOW_LIGHT - 1.0)[None, None, :] * ground[:, None, :]
    columns = (roof + shade) / PIXEL_AREA_M2
    # Block noise: pixel noise adds up as sqrt(n), but an error of the ground reference shared
    # by the block's pixels (haze left over, phenology, a yard's texture) adds up as n.
    n = np.maximum(counts, 1.0)[:, None]
    shared = np.stack([np.bincount(cell, weights=np.where(good, settings.reference_bias[b], 0.0),
                                   minlength=cells)
                       for b in range(4)], axis=1) / n
    sigma = np.sqrt(n * noise[None, :] ** 2 + (n * shared) ** 2)  # (C, 4)
    y = sums / sigma  # whitened
    a = columns / sigma[:, None, :]  # (C, K, 4)
    # A nuisance a block may carry whatever stands on it, of unknown sign and size: the
    # vegetation of its verges greener or browner than in the history (phenology).  It is
    # projected out before roofs are fitted.  (Residual haze was tried the same way: its shape
    # is too close to dark roofs and it ate half of the stock.)
    verge = np.bincount(cell, weights=np.where(good, 1.0 - plan.bed_share, 0.0),
                        minlength=cells)
    nuisance = (verge[:, None] * GREEN_UP[None, :])[:, None, :] / sigma[:, None, :]
    y, a = _project_out(nuisance, y, a)

    rss_empty = (y**2).sum(axis=1)
    norm = (a**2).sum(axis=2)  # (C, K)
    dot = np.einsum("ckb,cb->ck", a, y)
    single = np.clip(dot / np.maximum(norm, 1e-12), 0.0, None)
    rss_single = rss_empty[:, None] - np.where(single > 0, dot**2 / np.maximum(norm, 1e-12), 0.0)
    # Roofs of similar shape but different brightness (grey steel, white paint, snow) explain a
    # block almost equally well at lengths a factor 2-3 apart; the prior share of each roof in
    # freight stock breaks the tie (-2 log prior, in chi-square units).
    prior = 2.0 * np.log(ROOF_PRIOR.max() / ROOF_PRIOR)
    scored = rss_single + prior[None, :]
    best_k = np.argmin(scored, axis=1)
    rows = np.arange(cells)
    best_rss = scored[rows, best_k]
    single_var = 1.0 / np.maximum(norm, 1e-12)
    # Every hypothesis (one roof type, or two) with its score (chi-square plus -2 log prior),
    # length and variance: the block's length is their posterior mean.  Dark roofs and shadow
    # have nearly the same spectral shape as ore and rust, only deeper, so the single best type
    # is the darkest one just as often as not, and its length is 20-30 % short (bench, seeds
    # 0-1); the posterior mean weighs every roof that explains the block by how well it does.
    scores, lengths, variances = [scored], [single], [single_var]
    # Pairs of roof types (a block holds the ends of two cuts, or a mixed cut).
    k = ROOFS.shape[0]
    for i in range(k):
        for j in range(i + 1, k):
            g11, g22 = norm[:, i], norm[:, j]
            g12 = np.einsum("cb,cb->c", a[:, i], a[:, j])
            det = g11 * g22 - g12**2
            ok = det > 1e-9 * g11 * g22
            safe = np.where(ok, det, 1.0)
            xi = (g22 * dot[:, i] - g12 * dot[:, j]) / safe
            xj = (g11 * dot[:, j] - g12 * dot[:, i]) / safe
            ok &= (xi > 0) & (xj > 0)
            rss = rss_empty - (xi * dot[:, i] + xj * dot[:, j])
            # Each type must carry its own weight: significant on its own (2 sigma).
            var_i, var_j = g22 / safe, g11 / safe
            ok &= (xi**2 > 4 * var_i) & (xj**2 > 4 * var_j)
            rss = rss + settings.extra_type_penalty + prior[i] + prior[j]
            scores.append(np.where(ok, rss, np.inf)[:, None])
            lengths.append((xi + xj)[:, None])
            variances.append((var_i + var_j + 2 * (-g12 / safe))[:, None])
            better = ok & (rss < best_rss)
            best_rss = np.where(better, rss, best_rss)
            best_k = np.where(better, np.where(xi >= xj, i, j), best_k)
    score = np.concatenate(scores, axis=1)
    weight = np.exp(-0.5 * (score - score.min(axis=1, keepdims=True)))
    weight /= weight.sum(axis=1, keepdims=True)
    length_h = np.nan_to_num(np.concatenate(lengths, axis=1))
    best_len = (weight * length_h).sum(axis=1)
    best_var = (weight * (np.nan_to_num(np.concatenate(variances, axis=1)) + length_h**2)).sum(
        axis=1) - best_len**2
    significant = (rss_empty - (best_rss - prior[best_k])) > threshold**2
    generic = (_GENERIC_WEIGHTS[None, :, None] * a).sum(axis=1)  # (C, 4)
    generic_norm = np.maximum((generic**2).sum(axis=1), 1e-12)
    # Columns are per metre of car, so the fitted coefficients are metres.  A block that does
    # not beat "empty" counts nothing, with the uncertainty of a weak block of average roofs.
    # A block cannot hold more stock than it has track: bright and dark roofs fitted together can
    # cancel into any length where the bands disagree (a moving train's fringes, a cloud edge).
    length = np.where(significant, np.minimum(best_len, cell_length), 0.0)
    variance = np.where(significant, best_var, 1.0 / generic_norm)
    length = np.where(visible_cell, length, np.nan)
    variance = np.where(visible_cell, variance, np.nan)

    # Per-track split: each pixel's projection on its block's roof direction, weighted by how
    # much a car on each track would show in it.
    direction = np.where(significant[:, None], columns[rows, best_k],
                         (_GENERIC_WEIGHTS[None, :, None] * columns).sum(axis=1))
    unit = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    pixel_signal = np.clip((d / noise[:, None] * (unit[cell] / noise[None, :]).T).sum(axis=0),
                           0.0, None)
    weights = plan.track_weight * pixel_signal[:, None]
    share = np.zeros((cells, tracks))
    for t in range(tracks):
        share[:, t] = np.bincount(cell, weights=weights[:, t], minlength=cells)
    total = share.sum(axis=1, keepdims=True)
    fallback = cell_track_length / np.maximum(cell_track_length.sum(axis=1, keepdims=True), 1e-9)
    share = np.where(total > 1e-9, share / np.maximum(total, 1e-12), fallback)
    per_track = share * np.nan_to_num(length)[:, None]
    # The chi-square left by the best hypothesis and the block's whole (C, 2): added up over a
    # block's parts before their ratio is taken.
    left = np.stack([best_rss - prior[best_k], rss_empty], axis=1)
    return CellFit(length, variance, significant & visible_cell,
                   np.where(significant, best_k, -1), per_track, visible_cell, cell_track_length,
                   left)
