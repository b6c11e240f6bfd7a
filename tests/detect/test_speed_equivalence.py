"""The detector's short cuts give exactly what the long way gives.

A second block fit reuses the blocks whose shadow did not change, the haze and the reference
error are worked out only at the pixels asked for, the difference noise and the ground without a
history take medians without ``np.nanmedian``, the ground is worked out in the window around the
tracks, clouds are grown in two 1-D passes and only near the corridor; motion measures the
distance to a cloud from the clouds' edges only and takes medians by partition: each is compared
with the plain computation, bit for bit.  Motion's step fits search in full only where a bound
says the gain can exceed the joining cost: the bound is checked against the full search.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import fields

import numpy as np
from affine import Affine
from scipy.ndimage import binary_dilation, distance_transform_edt

from railwatch.detect.background import CLOUD_SCL, INVISIBLE_SCL, hidden_mask
from railwatch.detect.core import _difference_noise, _group_medians, _near_corridor
from railwatch.detect.haze import haze_field, near, smooth_coarse
from railwatch.detect.layout import pixel_plan
from railwatch.detect.motion import _hidden_distance, _median
from railwatch.detect.occupancy import (
    TRACK_BED,
    BlockFitter,
    OccupancySettings,
    shadow_width,
)
from tests.detect.synthetic import BOX_CAR, GREY_TANK, small_site

SITE = small_site()


def _plan():
    west, south, east, north = SITE.aoi_utm.bounds
    west, north = math.floor(west / 10) * 10, math.ceil(north / 10) * 10
    shape = (math.ceil((north - south) / 10), math.ceil((east - west) / 10))
    return pixel_plan(dict(SITE.tracks_utm), SITE.aoi_utm, Affine(10.0, 0, west, 0, -10.0, north),
                      shape, site_id=SITE.id)


def _corridor(plan, rng):
    """Scene minus ground on the corridor: noise, box cars on some blocks and grey tanks on
    others, a few hidden pixels."""
    count = len(plan.pixels)
    delta = rng.normal(0.0, 0.004, (4, count))
    reference = np.tile(np.array(TRACK_BED)[:, None], (1, count)).astype(np.float32)
    car = plan.track_weight.sum(axis=1)
    for spectrum, blocks in ((BOX_CAR, plan.cell % 5 == 0), (GREY_TANK, plan.cell % 7 == 3)):
        delta += np.where(blocks, car, 0.0)[None, :] * (np.array(spectrum) - TRACK_BED)[:, None]
    visible = rng.random(count) > 0.05
    bias = np.full((4, count), 0.001, dtype=np.float32)
    return delta, reference, visible, np.full(4, 0.004), bias


def test_a_second_fit_reuses_unchanged_blocks_and_equals_a_fresh_fit() -> None:
    plan = _plan()
    delta, reference, visible, noise, bias = _corridor(plan, np.random.default_rng(3))
    settings = OccupancySettings(3.2, 4.0, 2.5, 6.0, bias)

    def shadow(share: float) -> np.ndarray:
        return shadow_width(35.0, 160.0, plan.cell_azimuth, plan.cell_gap, height_m=4.0,
                            width_m=3.2, neighbour_share=share, car_length_m=14.5,
                            coupled_gap_m=1.0)

    first, second = shadow(0.5), shadow(0.0)
    # The main line's blocks have no neighbour to shade: only the yard's change width.
    changed = first != second
    assert changed.any() and not changed.all()
    fitter = BlockFitter(delta, reference, visible, plan, noise, TRACK_BED, settings)
    fitter.fit(first)
    refit = fitter.fit(second)
    fresh = BlockFitter(delta, reference, visible, plan, noise, TRACK_BED, settings).fit(second)
    # The cars are found, so the comparison means something (blocks beside the cars, whose
    # shadowless change the fit leaves unexplained, count nothing: ``occupancy._measured``).
    assert np.nansum(fresh.length_m) > 30
    for field in fields(fresh):
        assert np.array_equal(getattr(refit, field.name), getattr(fresh, field.name),
                              equal_nan=True), field.name


def test_haze_and_smoothing_at_some_pixels_equal_the_whole_field() -> None:
    rng = np.random.default_rng(5)
    shape = (60, 90)
    ground = rng.uniform(0.03, 0.3, (4, shape[0] * shape[1])).astype(np.float32)
    haze = 0.02 + 0.01 * np.sin(np.arange(ground.shape[1]) / 300.0)
    values = (ground * (1 - 0.5 * haze) + haze * np.array([1.0, 0.84, 0.68, 0.5])[:, None]
              + rng.normal(0, 0.003, ground.shape)).astype(np.float32)
    rows = np.arange(ground.shape[1]) // shape[1]
    # Reference pixels in a band, so that part of the grid lies beyond the smoothing's reach.
    reference = (rows > 10) & (rows < 25) & (rng.random(ground.shape[1]) > 0.3)
    at = rng.choice(ground.shape[1], 400, replace=False)
    whole = haze_field(values, ground, reference, shape)
    assert np.array_equal(haze_field(values, ground, reference, shape, at=at), whole[at])
    assert np.abs(whole[reference] - haze[reference]).mean() < 0.005
    layers = rng.normal(size=(3, *shape)).astype(np.float32)
    for sigma in (5.0, 6.0):
        full = smooth_coarse(layers, sigma).reshape(3, -1)
        assert np.array_equal(smooth_coarse(layers, sigma, at=at), full[:, at])


def test_difference_noise_is_the_median_of_the_seen_differences() -> None:
    rng = np.random.default_rng(7)
    for count in (50, 3000):  # np.nanmedian works differently below and above 600 values
        values = rng.normal(0.0, 0.01, (4, count)).astype(np.float32)
        values[rng.random(values.shape) < 0.2] = np.nan
        values[3] = np.nan  # a band never seen
        expected = 1.4826 * np.nanmedian(np.abs(np.diff(values[:3], axis=1)), axis=1) / math.sqrt(2)
        noise = _difference_noise(values)
        assert np.array_equal(noise[:3], expected)
        assert np.isnan(noise[3])
        clean = np.nan_to_num(values)
        assert np.array_equal(_difference_noise(clean), 1.4826 * np.median(
            np.abs(np.diff(clean, axis=1)), axis=1) / math.sqrt(2))


def test_group_medians_equal_nanmedian_group_by_group() -> None:
    rng = np.random.default_rng(11)
    # np.nanmedian works differently below and above 600 values.
    sizes = [1, 2, 7, 40, 599, 600, 1201]
    groups = rng.permutation(np.repeat(np.arange(len(sizes)) * 3, sizes))
    values = rng.normal(0.1, 0.02, (4, len(groups))).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, groups == 6] = np.nan  # a group never seen
    values[2, groups == 9] = np.round(values[2, groups == 9], 2)  # ties
    medians = _group_medians(values, groups)
    assert np.isfinite(medians[:, groups != 6]).all()
    for group in np.unique(groups):
        mine = groups == group
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(values[:, mine], axis=1)
        assert np.array_equal(medians[:, mine], np.repeat(expected[:, None], mine.sum(), axis=1),
                              equal_nan=True), group


def test_clouds_grown_in_passes_and_near_the_corridor_equal_the_plain_growth() -> None:
    rng = np.random.default_rng(13)
    scl = rng.choice(np.array([4, 5, 7, 10, 11, 0, 1, 3, 8, 9], dtype=np.uint8), size=(40, 50),
                     p=[0.3, 0.3, 0.1, 0.1, 0.14, 0.01, 0.01, 0.01, 0.01, 0.02])
    scl[0, 7] = scl[39, 49] = 9  # clouds on the edges
    classes_only = np.isin(scl, INVISIBLE_SCL)
    assert np.array_equal(hidden_mask(scl), classes_only)
    for margin in (1, 3):
        expected = classes_only | binary_dilation(np.isin(scl, CLOUD_SCL),
                                                  structure=np.ones((3, 3), bool),
                                                  iterations=margin)
        hidden = hidden_mask(scl, margin_px=margin)
        assert np.array_equal(hidden, expected), margin
        assert classes_only.mean() < hidden.mean() < 0.95
    plan = _plan()
    cloudy = rng.random(math.prod(plan.shape)) < 0.01
    for pixels in (0, 2, 5):
        everywhere = near(cloudy.reshape(plan.shape), pixels).ravel()
        assert np.array_equal(_near_corridor(cloudy, plan, pixels), everywhere[plan.pixels])


def test_the_window_holds_the_corridor_and_the_ring_at_their_places() -> None:
    plan = _plan()
    window = plan.window
    assert math.prod(window.shape) < math.prod(plan.shape)
    grid = np.arange(math.prod(plan.shape), dtype=np.float64)
    inside = window.cut(np.stack([grid, -grid]))
    for whole, part in ((plan.pixels, window.pixels), (plan.ring, window.ring),
                        (plan.ring_far, window.ring_far)):
        assert np.array_equal(inside[:, part], np.stack([grid[whole], -grid[whole]]))
    into = np.zeros((2, len(grid)))
    window.paste(inside, into)
    assert np.array_equal(into[:, plan.ring], np.stack([grid[plan.ring], -grid[plan.ring]]))
    # Written back where it was cut, and nowhere else.
    assert np.array_equal(window.cut(into), inside)
    assert np.count_nonzero(into) == np.count_nonzero(inside)


def test_motion_cloud_distance_and_medians_equal_the_plain_ones() -> None:
    rng = np.random.default_rng(11)
    for shape in ((1, 9), (23, 31), (64, 48)):
        every = np.argwhere(np.ones(shape, dtype=bool))
        for share in (1.0, 0.3, 0.02, 0.0):
            hidden = rng.random(shape) < share
            hidden.flat[rng.integers(hidden.size)] = True  # at least one
            expected = distance_transform_edt(~hidden)[every[:, 0], every[:, 1]]
            assert np.array_equal(_hidden_distance(hidden, every), expected), (shape, share)
    for count in (1, 2, 7, 600, 601):
        values = np.abs(rng.normal(0.0, 1.0, (4, count))).round(2)  # ties as well
        assert np.array_equal(_median(values), np.median(values, axis=1)), count
        assert _median(values[0]) == np.median(values[0])
    assert np.isnan(_median(np.empty(0)))


def test_step_gain_bounds_hold_at_every_speed() -> None:
    """Motion fits the full (shape x speed x start) search only for steps whose gain can exceed
    the joining cost: the bounds that decide it (each band at its own best position; runs of
    speeds, each band at its best position within the run) are never below a positive fitted
    gain at any speed of their run, on windows of noise, standing steps and moving steps alike,
    and they do prune."""
    from railwatch.detect.stepfit import (
        fitted_gains,
        gain_bounds,
        step_fits,
        step_gain,
        step_model,
    )

    model = step_model(2.5, 12, 36.0)
    offsets = np.arange(-12, 13) * 2.5
    rng = np.random.default_rng(5)
    windows = []
    for kind in range(60):
        speed = rng.uniform(-36, 36) if kind % 3 == 2 else 0.0
        contrast = 0.0 if kind % 3 == 0 else rng.uniform(1, 12)
        lags = np.array([0.0, 0.527, 1.005, 0.264])
        edge = rng.uniform(-20, 20) + speed * lags[:, None]
        step = contrast * rng.choice([-1, 1], 4)[:, None] / (1 + np.exp(-(offsets - edge) / 3))
        windows.append(step + rng.normal(size=(4, offsets.size)))
    windows = np.array(windows)
    weight = rng.uniform(0.5, 2.0, 4)
    fits = step_fits(windows, weight, model)
    gains = fitted_gains(fits, model, np.arange(len(windows)))
    np.testing.assert_allclose(gains, step_gain(windows, weight, model))
    for level in (-np.inf, 4.0):
        bounds = gain_bounds(fits, model, level)
        for run, (first, last) in enumerate(model.runs):
            # Where the gain is positive (a negative one cannot join a train either).
            assert np.all(np.maximum(gains[:, first:last + 1].max(axis=1), 0.0)
                          <= np.maximum(bounds[:, run], 0.0))
    coarse = gain_bounds(fits, model, -np.inf).max(axis=1)
    assert np.mean(coarse <= 4.0) > 0.3  # the bound prunes: it is not merely valid
    assert np.any(gains.max(axis=1) > 4.0)
