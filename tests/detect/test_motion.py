"""The motion detector on along-track profiles made by code: a train's four bands shifted by
``v * lag`` (the MSI's band timing), blurred like a 10 m pixel, in correlated noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import LineString

from railwatch.detect import DetectSettings, fit_velocity
from railwatch.detect.geometry import track_geometry
from railwatch.detect.model import MovingTrain
from railwatch.detect.motion import _one_per_train, find_moving
from railwatch.detect.stepfit import LAGS

STEP_M = 2.5
LINE = LineString([(0.0, 0.0), (0.0, 2000.0)])  # due north: increasing stations head 0 degrees
GEOMETRY = track_geometry("main", LINE, [], step_m=STEP_M, half_width_m=10.0)
STATIONS = GEOMETRY.stations_m
SETTINGS = DetectSettings()


def _blurred_box(start: float, end: float) -> np.ndarray:
    """A box along the track as a 10 m pixel and its PSF (sigma 4.5 m) see it."""
    scale = 4.5 * math.sqrt(2) + 1e-9

    def edge(at: float) -> np.ndarray:
        from scipy.special import erf
        return 0.5 * (1 + erf((STATIONS - at) / (scale + 10 / math.sqrt(12))))

    return edge(start) - edge(end)


def _profile(cuts: list[tuple[float, float, np.ndarray, float]], seed: int,
             noise: float = 1.0) -> np.ndarray:
    """(4, n) profiles: each cut (start, end, contrast per band, speed) at its band positions,
    plus noise correlated over ~4 stations (a pixel) with unit standard deviation."""
    profile = np.zeros((4, STATIONS.size))
    for start, end, contrast, speed in cuts:
        for band in range(4):
            shift = speed * LAGS[band]
            profile[band] += contrast[band] * _blurred_box(start + shift, end + shift)
    rng = np.random.default_rng(seed)
    white = rng.normal(0.0, 1.0, (4, STATIONS.size + 3))
    correlated = (white[:, :-3] + white[:, 1:-2] + white[:, 2:-1] + white[:, 3:]) / 2.0
    return profile + noise * correlated


# Contrasts in units of one station's noise, as on the simulator's clear scenes: a black tank
# car against ballast, and a brown box car (darker in blue, brighter in the NIR).
DARK = np.array([-15.0, -15.0, -17.0, -20.0])
BROWN = np.array([-12.0, 8.0, -5.0, 10.0])


def _moving(profile: np.ndarray, beside: np.ndarray | None = None) -> list[tuple[MovingTrain,
                                                                                   float]]:
    return find_moving(profile, np.ones(STATIONS.size, dtype=bool), GEOMETRY, np.ones(4),
                       lambda x, y, heading: "north" if math.cos(math.radians(heading)) > 0
                       else "south", SETTINGS, beside=beside)


@pytest.mark.parametrize("speed", [12.0, -12.0, 25.0])
def test_fit_velocity_reads_past_the_window_at_a_trains_rear(speed: float) -> None:
    """A window around one end of a long train sees the train go on past the window's far side.
    Shifting a band must read the profile there, not zeros: zeros put an unmoving edge at the
    window's end, and the rear end of a moving train used to come out near 0 m/s."""
    profile = _profile([(600.0, 1100.0, DARK, speed)], seed=3, noise=0.3)
    rear = 600.0 if speed > 0 else 1100.0
    core = (rear - 30 <= STATIONS) & (rear + 30 >= STATIONS)
    lo, hi = np.flatnonzero(core)[[0, -1]]
    reach = 24  # 60 m/s x 1.005 s in 2.5 m stations
    fit = fit_velocity(profile[:, lo - reach:hi + reach + 1], STATIONS[lo - reach:hi + reach + 1],
                       max_speed_mps=60.0, core=slice(reach, reach + hi - lo + 1))
    assert abs(fit.speed_mps - speed) < 2.0
    assert fit.chi2_per_dof < 3.0  # one velocity explains all four bands


@pytest.mark.parametrize(("speed", "heading"), [(15.0, 0.0), (-12.0, 180.0), (28.0, 0.0)])
def test_a_moving_train_is_found_with_its_speed_and_heading(speed: float, heading: float) -> None:
    cars = [(500.0, 650.0, DARK, speed), (650.0, 800.0, BROWN, speed)]
    found = _moving(_profile(cars, seed=int(abs(speed))))
    assert len(found) == 1
    train, _ = found[0]
    assert train.confidence >= 0.5
    assert abs(train.speed_mps - abs(speed)) <= 2.5
    assert train.heading_deg == pytest.approx(heading, abs=1.0)
    assert train.direction == ("north" if speed > 0 else "south")
    assert 500.0 <= train.position_m <= 800.0
    assert train.length_m <= 320.0


def test_standing_cuts_and_noise_do_not_move() -> None:
    cuts = [(200.0, 500.0, DARK, 0.0), (560.0, 700.0, BROWN, 0.0), (1200.0, 1700.0, -DARK, 0.0)]
    for seed in range(6):
        assert _moving(_profile(cuts, seed=seed)) == []


def test_a_train_passing_a_standing_cut_keeps_its_speed() -> None:
    """The main line's profile also carries a standing cut beside it (pixels are 10 m): its
    steps stand still and must not drag the train's speed towards 0."""
    cuts = [(300.0, 900.0, 0.8 * BROWN, 0.0), (500.0, 780.0, DARK, 18.0)]
    found = _moving(_profile(cuts, seed=11))
    assert len(found) == 1
    assert abs(found[0][0].speed_mps - 18.0) <= 3.0


def test_a_moving_step_as_strong_beside_the_track_is_no_train() -> None:
    """A cloud's edge moves between the bands too (its parallax), but it covers the ground
    beside the track as much as the track."""
    cloud = [(900.0, 1250.0, np.array([25.0, 22.0, 20.0, 18.0]), 14.0)]
    on_track = _profile(cloud, seed=5)
    assert len(_moving(on_track)) == 1
    # Each side is a single point, noisier than the corridor's weighted sum.
    cloudy = np.stack([_profile(cloud, seed=6, noise=2.0), _profile(cloud, seed=7, noise=2.0)],
                      axis=2)
    assert _moving(on_track, beside=cloudy) == []
    # The train's shadow on one side is no cloud: the other side's ground is quiet.
    shadow = np.stack([cloudy[:, :, 0], _profile([], seed=8, noise=2.0)], axis=2)
    assert len(_moving(on_track, beside=shadow)) == 1


def test_a_train_seen_on_two_neighbouring_tracks_is_reported_once() -> None:
    def seen(track: str, x: float, speed: float, sd: float) -> MovingTrain:
        return MovingTrain(track=track, position_m=x, length_m=300.0, speed_mps=speed,
                           speed_sd_mps=sd, heading_deg=84.0, direction="", confidence=0.9,
                           x=x, y=0.0)

    strong, faint = seen("main", 1000.0, 18.0, 1.0), seen("yard-1", 1030.0, 17.0, 2.0)
    elsewhere = seen("yard-1", 2500.0, 17.0, 2.0)
    lines = {"main": LineString([(0, 0), (3000, 0)]), "yard-1": LineString([(0, 5), (3000, 5)]),
             "yard-9": LineString([(0, 60), (3000, 60)])}
    kept = _one_per_train([(faint, 5.0), (strong, 12.0), (elsewhere, 5.0)], lines, SETTINGS)
    assert kept == [strong, elsewhere]
    # The same moving step on a track 60 m away at once: a cloud's edge, not a train.
    far = MovingTrain(track="yard-9", position_m=1010.0, length_m=300.0, speed_mps=15.0,
                      speed_sd_mps=1.0, heading_deg=84.0, direction="", confidence=0.9,
                      x=1010.0, y=60.0)
    assert _one_per_train([(strong, 12.0), (far, 9.0)], lines, SETTINGS) == []


@pytest.mark.parametrize(("hidden_from", "used"), [(750.0, False), (790.0, True)])
def test_steps_near_hidden_stations_are_not_used(hidden_from: float, used: bool) -> None:
    """A cloud's thin edge reaches past its mask: a step closer than ``motion_cloud_margin_m``
    (60 m) to a hidden station gives no velocity fit; one farther off does."""
    from railwatch.detect.motion import _moving_edges

    profile = _profile([(700.0, 1400.0, DARK, 15.0)], seed=4)
    visible = np.abs(STATIONS - (hidden_from + 20.0)) > 20.0  # hidden: 40 m from hidden_from
    edges = _moving_edges(profile, visible, visible.copy(), STATIONS, SETTINGS)
    near_rear = [e for e in edges if abs(STATIONS[e.index] - 708.0) <= 15.0]
    assert bool(near_rear) == used
    if used:
        best = near_rear[0].speeds[np.argmax(near_rear[0].gain)]
        assert abs(best - 15.0) <= 2.5


def test_track_sampling_reads_what_each_station_sees() -> None:
    """The site's stations sampled at once (one sparse sum per scene) give each station the
    matched-filter sum of its corridor points' bilinear values, a point reading a hidden pixel
    counting 0 (a wholly hidden station exactly 0, which the noise estimate skips), and the
    ground beside NaN where it reads a hidden pixel: as sampling point by point does."""
    from affine import Affine

    from railwatch.detect.geometry import sampler_for
    from railwatch.detect.layout import footprint, pixel_plan
    from railwatch.detect.motion import _plan_sampling, _sample_tracks

    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_700_000.0)
    shape = (60, 90)
    lines = {"main": LineString([(500_040.0, 4_699_650.0), (500_860.0, 4_699_420.0)]),
             "yard": LineString([(500_050.0, 4_699_630.0), (500_850.0, 4_699_400.0)])}
    plan = pixel_plan(lines, None, transform, shape, site_id="test-sampling")
    rng = np.random.default_rng(3)
    delta = rng.normal(0.0, 0.02, (4, shape[0] * shape[1]))
    hidden = np.zeros(shape, dtype=bool)
    hidden[:, 40:48] = True  # a cloud across both tracks
    hidden[30:34, 60:62] = True  # a small one, hiding some of a corridor's points
    hidden = hidden.ravel()
    delta[:, hidden] = np.nan

    profiles, visible, beside = _sample_tracks(_plan_sampling(plan, transform, shape), delta,
                                               hidden)
    seen = np.nan_to_num(delta)
    start = 0
    partly = wholly = 0
    for track in plan.tracks:
        corridor, ground = sampler_for(track.geometry, transform, shape, site_key=plan.key)
        weights = footprint(track.geometry.offsets_m)
        weights = (weights / np.sqrt((weights**2).sum())).astype(np.float32)
        values = corridor.sample(seen)
        blocked = hidden[corridor.index].any(axis=-1) | ~corridor.inside
        values[:, blocked] = 0.0
        expected = np.einsum("bnm,m->bn", values, weights)
        expected_beside = ground.sample(seen) * float(weights.sum())
        expected_beside[:, hidden[ground.index].any(axis=-1) | ~ground.inside] = np.nan
        part = slice(start, start + expected.shape[1])
        start = part.stop
        np.testing.assert_allclose(profiles[:, part], expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(beside[:, part], expected_beside, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(visible[part], ~blocked[:, blocked.shape[1] // 2])
        whole = blocked.all(axis=1)
        assert (profiles[:, part][:, whole] == 0.0).all()
        wholly += int(whole.sum())
        partly += int((blocked.any(axis=1) & ~whole).sum())
    assert start == profiles.shape[1]
    assert wholly > 0 and partly > 0


def _cloud_distance(visible: np.ndarray) -> np.ndarray:
    """Each station's distance along the track to the nearest hidden one."""
    hidden = STATIONS[~visible]
    return np.abs(STATIONS[:, None] - hidden[None, :]).min(axis=1)


@pytest.mark.parametrize("speed", [16.0, -16.0])
def test_a_train_running_under_a_cloud_is_found_by_its_one_visible_end(speed: float) -> None:
    """The head is under a cloud: only the rear shows, a single step within 500 m of the cloud,
    which alone could be a cloud's edge.  The train's body, on the track and not on the ground
    beside it, runs on from the step into the cloud: that makes it a train."""
    rear, (cloud_from, cloud_to) = ((600.0, (1000.0, 1300.0)) if speed > 0
                                    else (1400.0, (700.0, 1000.0)))
    body = (rear, 1300.0) if speed > 0 else (700.0, rear)
    # A black tank car on snow: a strong end (a single step needs a chi-square gain of 49).
    profile = _profile([(*body, 2 * DARK, speed)], seed=21)
    along = STATIONS
    visible = (along < cloud_from) | (along > cloud_to)
    profile[:, ~visible] = 0.0
    quiet = np.stack([_profile([], seed=22, noise=2.0), _profile([], seed=23, noise=2.0)], axis=2)
    quiet[:, ~visible] = np.nan
    found = find_moving(profile, visible, GEOMETRY, np.ones(4),
                        lambda x, y, heading: "north" if math.cos(math.radians(heading)) > 0
                        else "south", SETTINGS, beside=quiet,
                        cloud_distance_m=_cloud_distance(visible))
    assert len(found) == 1
    train, _ = found[0]
    assert abs(train.speed_mps - abs(speed)) <= 2.5
    assert train.direction == ("north" if speed > 0 else "south")
    assert abs(train.position_m - rear) <= 30.0
    # The same step where the ground beside the track carries the level too: the soft edge of a
    # cloud (moving between the bands with its parallax), not a train.
    cloudy = np.stack([_profile([(*body, 2 * DARK, speed)], seed=s, noise=2.0)
                       for s in (24, 25)], axis=2)
    cloudy[:, ~visible] = np.nan
    assert find_moving(profile, visible, GEOMETRY, np.ones(4), lambda x, y, h: "", SETTINGS,
                       beside=cloudy, cloud_distance_m=_cloud_distance(visible)) == []
    # And a step whose track is occupied on both sides (a change of level in a standing cut,
    # a cloud's texture) is no train's end.
    standing = profile + _profile([(0.0, 2000.0, 2 * DARK, 0.0)], seed=26, noise=0.0)
    assert find_moving(standing, visible, GEOMETRY, np.ones(4), lambda x, y, h: "", SETTINGS,
                       beside=quiet, cloud_distance_m=_cloud_distance(visible)) == []


def test_a_trains_faint_trace_on_a_far_track_does_not_make_it_a_cloud() -> None:
    """A train shows faintly on tracks 15-20 m away (the tracks' matched filters still overlap
    there).  That trace must not mark the train as a cloud's edge; a step as strong on a track
    25 m away still does."""
    lines = {"main": LineString([(0, 0), (3000, 0)])}
    for offset in (15.2, 20.0, 25.0):
        lines[f"yard-{offset}"] = LineString([(0, offset), (3000, offset)])

    def seen(track: str, y: float) -> MovingTrain:
        return MovingTrain(track=track, position_m=1000.0, length_m=300.0, speed_mps=18.0,
                           speed_sd_mps=1.0, heading_deg=90.0, direction="", confidence=0.9,
                           x=1000.0, y=y)

    train = seen("main", 0.0)
    for offset in (15.2, 20.0):
        trace = seen(f"yard-{offset}", offset)
        assert _one_per_train([(train, 38.0), (trace, 10.0)], lines, SETTINGS) == [train]
    far = seen("yard-25.0", 25.0)
    assert _one_per_train([(train, 38.0), (far, 30.0)], lines, SETTINGS) == []


def test_a_scene_with_a_trains_head_under_a_cloud() -> None:
    """Code-made scenes (``tests/detect/synthetic.py``): a grey tank train heading
    east-north-east at 20 m/s with its head under a cloud is found from its rear alone, with its
    speed and heading; the same cloud with a thin, unmasked edge over an empty track is not."""
    from railwatch.detect import build_background, detect_scene
    from tests.detect.synthetic import GREY_TANK, Cut, Weather, make_scene, small_site

    site = small_site()
    _, south, _, north = site.aoi_utm.bounds
    line = site.tracks_utm["main"]
    west_edge, east_edge = line.interpolate(650.0).x, line.interpolate(850.0).x
    cloud = (west_edge, south, east_edge, north)
    history = build_background([make_scene(site, [], seed=10 + i, scene_id=f"empty-{i}")
                                for i in range(5)], site=site)
    train = [Cut("main", 350.0, 14.5 * 30, GREY_TANK, speed_mps=20.0)]
    found = detect_scene(make_scene(site, train, seed=3, weather=Weather(cloud_box_m=cloud)),
                         site, history=history).moving_trains
    assert len(found) == 1
    assert found[0].track == "main"
    assert abs(found[0].speed_mps - 20.0) <= 3.5
    assert abs((found[0].heading_deg - 84.3 + 180) % 360 - 180) < 5  # the line's azimuth
    assert abs(found[0].position_m - 350.0) <= 30.0  # its rear, the one end in sight
    edge = (0.5, (west_edge - 150.0, south, west_edge, north))
    empty = make_scene(site, [], seed=3, weather=Weather(cloud_box_m=cloud, thin_cloud=edge))
    assert detect_scene(empty, site, history=history).moving_trains == ()


def test_a_fast_trains_end_is_refitted_in_a_window_moved_back() -> None:
    """A standing cut's end 22 m ahead of a 30 m/s train's rear takes the step finder's peak (one
    fit per 25 m), and the centred fit searches B02 only +-15 m around it: the train's B02 step
    (30 m behind its B04 step) is out of reach and the fit prefers standing.  Far from clouds a
    window moved 15 m back holds it; near clouds (a cloud's edge moves with its parallax) and
    at slow speeds (the centred search covers the bands' spread) nothing changes."""
    from railwatch.detect.motion import _change, _median, _moving_edges
    from railwatch.detect.stepfit import step_gain, step_model

    visible = np.ones(STATIONS.size, dtype=bool)
    for seed in range(4):
        profile = _profile([(722.0, 900.0, BROWN, 0.0), (700.0, 1150.0, 0.5 * DARK, 30.0)],
                           seed=seed)
        centred = _moving_edges(profile, visible, visible.copy(), STATIONS, SETTINGS)
        moved = _moving_edges(profile, visible, visible.copy(), STATIONS, SETTINGS, None, visible)
        near_cloud = _moving_edges(profile, visible, visible.copy(), STATIONS, SETTINGS, None,
                                   ~visible)
        rear = [k for k, e in enumerate(centred) if abs(STATIONS[e.index] - 725.0) <= 5.0]
        assert len(rear) == 1
        assert all(np.array_equal(a.gain, b.gain) for a, b in zip(centred, near_cloud,
                                                                  strict=True))
        # The fits themselves (``step_gain``, with the track's noise as ``_moving_edges``
        # measures it): centred the rear prefers standing at 30 m/s, moved back it moves.
        index, reach = centred[rear[0]].index, 12
        change = _change(profile, 2)
        weight = 2.0 / np.maximum(1.4826 * _median(np.abs(change[:, 2:-2])), 1e-3) ** 2
        model = step_model(float(STATIONS[1] - STATIONS[0]), reach, SETTINGS.max_speed_mps)
        before, back = step_gain(np.stack([profile[:, at - reach:at + reach + 1]
                                           for at in (index, index - reach // 2)]), weight, model)
        speeds = model.speeds
        fast = np.argmin(np.abs(speeds - 30.0))
        assert before[fast] < 0.0 < back[fast] - before[fast]
        # The moved run raises the fast gains to the moved fit and keeps the slow ones; or,
        # where the step cannot join a train or its chain cannot make one, holds a bound of both.
        after = moved[rear[0]].gain
        slow = np.abs(speeds) * LAGS.max() <= 15.0
        if np.ptp(after) > 0.0:
            assert after[fast] == max(before[fast], back[fast])
            assert np.array_equal(before[slow], after[slow])
        else:
            assert np.all(np.maximum(before[slow], back[~slow & (speeds > 0)].max()) <= after[0])


def _cloudy_raster(puff_x: float, seed: int) -> tuple[np.ndarray, np.ndarray, object]:
    """A 10 m raster around ``LINE`` (scene minus ground, reflectance): a masked cloud 120-300 m
    east of the track and an unmasked small cloud, 30 x 90 m, centred ``puff_x`` east of the
    track at 1000 m, both seen displaced by (15, 20) m between B02 and B04 (a cloud's parallax and
    wind), each band in proportion to its lag.  Returns (delta (4, pixels), hidden, transform)."""
    from affine import Affine
    transform = Affine(10.0, 0.0, -300.0, 0.0, -10.0, 2100.0)
    shape = (220, 70)
    cols, rows = np.meshgrid(np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5)
    x, y = transform @ (cols, rows)
    moved = np.array([15.0, 20.0]) / LAGS.max()  # east, north per second
    rng = np.random.default_rng(seed)
    delta = np.empty((4, *shape))
    for band in range(4):
        dx, dy = moved * LAGS[band]
        body = np.clip((x - dx - 120.0) / 30.0, 0.0, 1.0) * (np.abs(y - dy - 1100.0) < 300.0)
        puff = np.exp(-0.5 * (((x - dx - puff_x) / 12.0) ** 2 + ((y - dy - 1000.0) / 35.0) ** 2))
        delta[band] = 0.5 * body + 0.3 * puff + rng.normal(0.0, 0.004, shape)
    hidden = (x > 150.0) & (np.abs(y - 1100.0) < 300.0)
    return delta.reshape(4, -1), hidden.ravel(), transform


def _distance_to_hidden_pixels(hidden: np.ndarray, transform: object) -> np.ndarray:
    cols, rows = np.meshgrid(np.arange(70) + 0.5, np.arange(220) + 0.5)
    x, y = transform @ (cols, rows)  # type: ignore[operator]
    points = np.column_stack([x.ravel()[hidden], y.ravel()[hidden]])
    return np.array([np.hypot(points[:, 0], points[:, 1] - s).min() for s in STATIONS])


def test_a_small_cloud_on_the_track_moving_with_the_scenes_clouds_is_no_train() -> None:
    """A small cloud the SCL missed, lying on the track near a masked one, moves between the
    bands like every cloud of the scene.  On the track alone (no ground beside it: a yard track)
    its two ends look like a short train at the along-track part of that motion; the ground
    10-25 m beside it moves with the scene's clouds, which a train's ground does not."""
    from railwatch.detect.cloudmotion import CloudMotion
    delta, hidden, transform = _cloudy_raster(puff_x=0.0, seed=5)
    bands = delta.reshape(4, 220, 70)
    cols = np.full(STATIONS.size, 30.0)  # x = 0 is column 30's left edge; 29.5-30.5 straddle it
    rows = (2100.0 - STATIONS) / 10.0 - 0.5
    from scipy import ndimage
    along = np.stack([ndimage.map_coordinates(band, [rows, cols - 0.5], order=1)
                      for band in bands]) / 0.004
    profile = along + _profile([], seed=6)
    distance = _distance_to_hidden_pixels(hidden, transform)
    visible = np.ones(STATIONS.size, dtype=bool)

    def direction(x: float, y: float, heading: float) -> str:
        return ""

    before = find_moving(profile, visible, GEOMETRY, np.ones(4), direction, SETTINGS,
                         cloud_distance_m=distance)
    assert before and 950 <= before[0][0].position_m <= 1050  # the old detector's phantom
    motion = CloudMotion(delta, hidden, transform, (220, 70))
    assert find_moving(profile, visible, GEOMETRY, np.ones(4), direction, SETTINGS,
                       cloud_distance_m=distance, cloud_motion=motion) == []


def test_a_train_beside_a_small_moving_cloud_is_still_found() -> None:
    """The same scene with the small cloud 45 m beside the track, and a train on it: the
    ground next to the train's ends stands still, so the train stays."""
    from railwatch.detect.cloudmotion import CloudMotion
    delta, hidden, transform = _cloudy_raster(puff_x=45.0, seed=7)
    profile = _profile([(900.0, 1150.0, DARK, 18.0)], seed=8)
    distance = _distance_to_hidden_pixels(hidden, transform)
    motion = CloudMotion(delta, hidden, transform, (220, 70))
    found = find_moving(profile, np.ones(STATIONS.size, dtype=bool), GEOMETRY, np.ones(4),
                        lambda x, y, heading: "", SETTINGS, cloud_distance_m=distance,
                        cloud_motion=motion)
    assert len(found) == 1 and abs(found[0][0].speed_mps - 18.0) < 3.0
    assert motion._measured is not None  # the clouds' motion was measured and asked
