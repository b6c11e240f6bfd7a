"""The detector on small scenes made by code (``synthetic.py``) and on the real S2TD chip."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point
from shapely.ops import unary_union

from railwatch.detect import (
    DETECTOR_VERSION,
    DetectSettings,
    build_background,
    detect_scene,
    fit_velocity,
    load_background,
)
from railwatch.errors import InputFileError
from tests.detect.synthetic import BOX_CAR, GREY_TANK, Cut, Weather, make_scene, small_site

SITE = small_site()
# 10 box cars on the main line, 20 grey tank cars on yard-1 (yard-2 lies 5 m beside it, empty).
STANDING = [Cut("main", 100, 14.5 * 10, BOX_CAR), Cut("yard-1", 300, 14.5 * 20, GREY_TANK)]
# The code-made scenes draw no shadows: tell the detector the cars cast none.
FLAT = DetectSettings(car_height_m=0.0)


@pytest.fixture(scope="module")
def empty_history():
    return build_background([make_scene(SITE, [], seed=10 + i, scene_id=f"empty-{i}")
                             for i in range(5)], site=SITE)


def test_standing_stock_is_counted_once_across_neighbouring_tracks(empty_history) -> None:
    observation = detect_scene(make_scene(SITE, STANDING, seed=1), SITE, history=empty_history,
                               settings=FLAT)
    tracks = {t.track: t for t in observation.tracks}
    assert observation.status == "ok"
    assert observation.detector_version == DETECTOR_VERSION
    # Tracks 5 m apart share pixels: the pair's total is determined, its split is not.
    pair = tracks["yard-1"].car_equivalents + tracks["yard-2"].car_equivalents
    assert abs(pair - 20) <= 5
    assert tracks["yard-1"].car_equivalents >= tracks["yard-2"].car_equivalents
    # Brown box cars on a single track, a third of a pixel wide, are faint: found, undercounted.
    assert 3 <= tracks["main"].car_equivalents <= 12
    assert abs(observation.car_equivalents - 30) <= 8
    low, high = observation.car_equivalents_interval
    assert low <= observation.car_equivalents <= high
    assert observation.moving_trains == ()


def test_empty_scene_counts_next_to_nothing(empty_history) -> None:
    observation = detect_scene(make_scene(SITE, [], seed=2), SITE, history=empty_history,
                               settings=FLAT)
    assert observation.car_equivalents <= 2.0


def test_shadows_are_not_counted_as_cars(empty_history) -> None:
    """The same scene measured as if the sun were low: the shadow term must lower the count of
    dark stock (its shadow is expected, so less of the darkening is roof)."""
    scene = make_scene(SITE, [Cut("main", 100, 14.5 * 10, BOX_CAR)], seed=1)
    flat = detect_scene(scene, SITE, history=empty_history, settings=FLAT)
    shaded = detect_scene(scene, SITE, history=empty_history, settings=DetectSettings())
    assert shaded.car_equivalents <= flat.car_equivalents


@pytest.mark.parametrize("speed", [
    12.0,
    # Known limit of the v3 step model (issue 4 note): on this code-made scene the grey tank
    # cars' red and NIR edges come out wider than blue and green (18.7 m band shift for 20.1 m
    # even without noise), one step shape for all bands places the red edge early, and the
    # speed reads ~15 m/s. Strict: it must start failing (and this mark go) once fixed.
    pytest.param(20.0, marks=pytest.mark.xfail(strict=True, reason="one edge shape for all bands")),
    -25.0,
])
def test_moving_train_speed_heading_and_direction(speed: float) -> None:
    cuts = [*STANDING, Cut("main", 600, 14.5 * 12, GREY_TANK, speed_mps=speed)]
    observation = detect_scene(make_scene(SITE, cuts, seed=3), SITE, settings=FLAT)
    assert len(observation.moving_trains) == 1
    train = observation.moving_trains[0]
    assert train.track == "main"
    assert abs(train.speed_mps - abs(speed)) <= 3.5
    assert train.speed_sd_mps < 3.0
    azimuth = 84.3 if speed > 0 else 264.3  # the main line runs east-north-east
    assert abs((train.heading_deg - azimuth + 180) % 360 - 180) < 5
    assert train.direction == site_direction(train, train.heading_deg)
    assert abs(train.length_m - 14.5 * 12) < 40
    # Standing and moving stock together: 42 cars (no history: the tracks' own median).
    assert abs(observation.car_equivalents - 42) <= 10


def site_direction(train, heading: float) -> str:
    return SITE.direction(train.x, train.y, heading)


def test_no_false_moving_trains_on_static_noisy_scenes() -> None:
    found = 0
    for seed in range(3):
        observation = detect_scene(make_scene(SITE, STANDING, seed=seed, noise=0.006), SITE,
                                   settings=FLAT)
        found += len(observation.moving_trains)
    assert found == 0


def test_cloud_hides_part_of_the_site_and_makes_no_train(empty_history) -> None:
    west, south, east, north = SITE.aoi_utm.bounds
    cloud = (west + 750, south, west + 1000, north)  # over empty track only
    observation = detect_scene(make_scene(SITE, STANDING, weather=Weather(cloud_box_m=cloud)),
                               SITE, history=empty_history, settings=FLAT)
    assert observation.status == "ok"
    # The cloud and the margin kept around it hide about a third of the tracks.
    assert 0.5 < observation.visible_fraction < 0.85
    assert "partly_hidden" in observation.flags
    assert observation.moving_trains == ()
    # The standing cars are outside the cloud; the hidden part is extrapolated at the seen
    # density, and the interval allows it to be busier (up to twice the seen density, so the
    # upper side is at least as wide as the lower one).
    assert 22 <= observation.car_equivalents <= 50
    low, high = observation.car_equivalents_interval
    assert high - observation.car_equivalents >= observation.car_equivalents - low - 1e-6
    assert high > observation.car_equivalents > low


def test_thin_cloud_the_scl_missed_is_not_counted(empty_history) -> None:
    """The soft edge of a cloud left visible by the SCL brightens track and fields alike: it is
    found on the ground ring, and the tracks beside it are not counted."""
    west, south, east, north = SITE.aoi_utm.bounds
    edge = (0.25, (west + 600, south - 50, west + 800, north + 50))
    observation = detect_scene(make_scene(SITE, [], seed=3, weather=Weather(thin_cloud=edge)),
                               SITE, history=empty_history, settings=FLAT)
    assert "cloud_fringe" in observation.flags
    assert observation.visible_fraction < 0.9
    assert observation.car_equivalents <= 2.0


def test_a_change_no_stock_explains_is_not_counted(empty_history) -> None:
    """The faint edge of a cloud seen in the red band only (the bands are sensed at different
    times and through different view angles) brightens the main line's corridor by 0.02 in one
    band: no roof explains that shape (without the check it read as 15 cars)."""
    west = SITE.aoi_utm.bounds[0]
    scene = make_scene(SITE, [], seed=5)
    xs = scene.transform.c + 10 * (np.arange(scene.shape[1]) + 0.5)
    ys = scene.transform.f - 10 * (np.arange(scene.shape[0]) + 0.5)
    main = SITE.tracks_utm["main"]
    edge = np.array([[main.distance(Point(x, y)) < 10 and west + 300 < x < west + 500
                      for x in xs] for y in ys])
    bands = dict(scene.bands)
    bands["red"] = np.where(edge, bands["red"] + 0.02, bands["red"]).astype(np.float32)
    observation = detect_scene(replace(scene, bands=bands), SITE, history=empty_history,
                               settings=FLAT)
    assert "unexplained_change" in observation.flags
    assert observation.car_equivalents <= 2.0


def test_the_fading_edge_of_a_cloud_beside_an_unexplained_change_is_not_counted(
        empty_history) -> None:
    """A cloud edge the SCL missed changes 200 m of the main line in the red band only (no stock
    explains it), and its shadow's fading edge darkens the next 40 m evenly, like stock: that
    part counts nothing either (3 cars before)."""
    west = SITE.aoi_utm.bounds[0]
    scene = make_scene(SITE, [], seed=5)
    xs = scene.transform.c + 10 * (np.arange(scene.shape[1]) + 0.5)
    ys = scene.transform.f - 10 * (np.arange(scene.shape[0]) + 0.5)
    main = SITE.tracks_utm["main"]
    on_main = np.array([[main.distance(Point(x, y)) < 10 for x in xs] for y in ys])
    east_of = np.broadcast_to(xs[None, :] - west, on_main.shape)
    edge = on_main & (east_of > 300) & (east_of < 500)
    fading = on_main & (east_of >= 500) & (east_of < 540)
    bands = {key: np.where(fading, band * 0.8, band).astype(np.float32)
             for key, band in scene.bands.items()}
    bands["red"] = np.where(edge, bands["red"] + 0.02, bands["red"]).astype(np.float32)
    observation = detect_scene(replace(scene, bands=bands), SITE, history=empty_history,
                               settings=FLAT)
    assert "unexplained_change" in observation.flags
    assert observation.car_equivalents <= 1.0


def test_blocks_with_some_hidden_pixels_are_measured_on_the_rest(empty_history) -> None:
    """Defective pixels in every fourth column (a striping artefact) touch every 20 m block: the
    blocks are measured on the pixels left, and the count holds."""
    stock = [Cut("yard-1", 50, 14.5 * 60, GREY_TANK)]
    scene = make_scene(SITE, stock, seed=4)
    clean = detect_scene(scene, SITE, history=empty_history, settings=FLAT)
    scl = np.asarray(scene.scl).copy()
    scl[:, ::4] = 1
    observation = detect_scene(replace(scene, scl=scl), SITE, history=empty_history,
                               settings=FLAT)
    assert observation.status == "ok"
    assert 0.5 < observation.visible_fraction < 0.85
    assert abs(observation.car_equivalents - clean.car_equivalents) <= 0.15 * clean.car_equivalents


@pytest.mark.parametrize("wet", [0.9, 0.7])
def test_wet_ballast_is_not_counted_as_stock(empty_history, wet: float) -> None:
    """Rain darkens the bed of every track alike (a tenth to a third) and leaves the fields: that
    is not a site full of black cars."""
    observation = detect_scene(make_scene(SITE, [], seed=6, weather=Weather(wet_bed=wet)), SITE,
                               history=empty_history, settings=FLAT)
    assert observation.status == "unknown"
    assert observation.car_equivalents is None
    assert "wet_ballast" in observation.flags
    assert "rain" in observation.reason


def test_stock_in_cuts_is_not_taken_for_wet_ballast(empty_history) -> None:
    """A busy site still has empty stretches between its cuts."""
    cuts = [Cut(track, start, 14.5 * 12, colour) for track, colour in
            (("main", BOX_CAR), ("yard-1", GREY_TANK), ("yard-2", BOX_CAR))
            for start in (30, 330, 630)]
    observation = detect_scene(make_scene(SITE, cuts, seed=6), SITE, history=empty_history,
                               settings=FLAT)
    assert observation.status == "ok"
    assert "wet_ballast" not in observation.flags


def test_fully_clouded_site_is_cloudy_not_zero() -> None:
    west, south, east, north = SITE.aoi_utm.bounds
    weather = Weather(cloud_box_m=(west - 50, south - 50, east + 50, north + 50))
    observation = detect_scene(make_scene(SITE, STANDING, weather=weather), SITE)
    assert observation.status == "cloudy"
    assert observation.car_equivalents is None
    assert all(t.status == "unknown" and t.car_equivalents is None for t in observation.tracks)
    assert observation.to_json()["car_equivalents"] is None


def test_history_background_with_haze(empty_history) -> None:
    hazy = make_scene(SITE, STANDING, seed=20, weather=Weather(haze=0.04))
    observation = detect_scene(hazy, SITE, history=empty_history, settings=FLAT)
    assert observation.background == "history"
    assert abs(observation.car_equivalents - 30) <= 8
    assert observation.moving_trains == ()


def test_background_ignores_the_stock_of_busy_dates() -> None:
    """A pixel that holds a car on two of six dates still gets its empty ground."""
    busy = [make_scene(SITE, [Cut("main", 300, 60, BOX_CAR)] if i < 2 else [], seed=30 + i,
                       scene_id=f"d{i}") for i in range(6)]
    clean = build_background([make_scene(SITE, [], seed=40 + i) for i in range(6)], site=SITE)
    mixed = build_background(busy, site=SITE)
    car = np.abs(busy[0].bands["nir"] - clean.bands["nir"]) > 0.01  # where the car shows
    assert car.sum() >= 4
    for band in ("blue", "red", "nir"):
        difference = np.abs(mixed.bands[band] - clean.bands[band])[car]
        assert difference.mean() < 0.004, band


def test_background_leaves_out_a_thin_cloud_the_scl_missed() -> None:
    """A thin cloud on one date, over track and fields, is found on the ground ring and left
    out with its margin: the ground under it comes from the other dates."""
    west, south, east, north = SITE.aoi_utm.bounds
    box = (west + 500, south - 50, west + 700, north + 50)
    dates = [make_scene(SITE, [], seed=50 + i, scene_id=f"d{i}",
                        weather=Weather(thin_cloud=(0.3, box)) if i == 0 else None)
             for i in range(5)]
    clean = build_background([make_scene(SITE, [], seed=60 + i) for i in range(5)], site=SITE)
    ground = build_background(dates, site=SITE)
    xs = dates[0].transform.c + 10 * (np.arange(ground.shape[1]) + 0.5)
    ys = dates[0].transform.f - 10 * (np.arange(ground.shape[0]) + 0.5)
    tracks = unary_union(list(SITE.tracks_utm.values()))
    by_tracks = np.array([[tracks.distance(Point(x, y)) < 60 for x in xs] for y in ys])
    under = by_tracks & ((xs > box[0] + 20) & (xs < box[2] - 20))[None, :]
    assert under.sum() > 50
    assert (ground.count[under] == 4).all()
    assert (ground.count[:, xs < west + 300] == 5).all()
    for band in ("blue", "red", "nir"):
        assert np.nanmean(np.abs(ground.bands[band] - clean.bands[band])[under]) < 0.004, band


def test_background_round_trip(tmp_path) -> None:
    background = build_background([make_scene(SITE, [], seed=i) for i in range(3)])
    path = background.save(tmp_path / "bg")
    loaded = load_background(path)
    assert loaded.transform == background.transform and loaded.epsg == background.epsg
    np.testing.assert_array_equal(loaded.bands["red"], background.bands["red"])
    with pytest.raises(InputFileError):
        load_background(tmp_path / "missing.npz")


def test_snow_does_not_turn_into_trains() -> None:
    observation = detect_scene(make_scene(SITE, [], weather=Weather(snow=True), seed=4), SITE,
                               settings=FLAT)
    assert "snow" in observation.flags
    assert observation.moving_trains == ()
    # The ground under this snow is unknown: the count is unknown, never a number (or 0).
    assert observation.status == "unknown" and observation.car_equivalents is None
    assert all(t.status == "unknown" and t.car_equivalents is None for t in observation.tracks)


# --- bad input ----------------------------------------------------------------------------------


def test_missing_scl_is_unknown_with_a_reason() -> None:
    scene = replace(make_scene(SITE, STANDING), scl=None)
    observation = detect_scene(scene, SITE)
    assert observation.status == "unknown" and "SCL" in observation.reason
    assert observation.car_equivalents is None


def test_bands_of_different_shapes_raise_a_clear_error() -> None:
    scene = make_scene(SITE, STANDING)
    bands = dict(scene.bands)
    bands["red"] = bands["red"][:-1]
    with pytest.raises(InputFileError, match="different shapes"):
        detect_scene(replace(scene, bands=bands), SITE)


def test_scene_elsewhere_is_no_data() -> None:
    scene = make_scene(SITE, STANDING)
    far = Affine(10.0, 0, scene.transform.c + 50_000, 0, -10.0, scene.transform.f)
    observation = detect_scene(replace(scene, transform=far), SITE)
    assert observation.status == "no_data" and "does not cover" in observation.reason
    assert observation.car_equivalents is None


def test_all_nodata_window_is_no_data() -> None:
    scene = make_scene(SITE, STANDING)
    bands = {k: np.full_like(v, np.nan) for k, v in scene.bands.items()}
    observation = detect_scene(replace(scene, bands=bands), SITE)
    assert observation.status == "no_data"
    assert observation.car_equivalents is None


def test_site_without_tracks_is_unknown() -> None:
    observation = detect_scene(make_scene(SITE, STANDING), replace(SITE, tracks=()))
    assert observation.status == "unknown" and "no tracks" in observation.reason


# --- the velocity fit alone ---------------------------------------------------------------------


@pytest.mark.parametrize("speed", [-30.0, -9.0, 9.0, 18.0, 35.0])
def test_fit_velocity_recovers_a_known_shift(speed: float) -> None:
    stations = np.arange(0, 400, 2.5)
    lags = np.array([0.0, 0.527, 1.005, 0.264])  # blue, green, red, nir
    contrast = np.array([-3.0, -2.0, 2.5, 4.0])  # mixed signs: no band's sign is assumed
    rng = np.random.default_rng(int(speed * 10) % 97)

    def shape(s: np.ndarray) -> np.ndarray:  # a 150 m train, edges blurred like a 10 m pixel
        return 1 / (1 + np.exp(-(s - 120) / 3)) - 1 / (1 + np.exp(-(s - 270) / 3))

    profiles = np.stack([c * shape(stations - speed * lag) for c, lag in zip(contrast, lags,
                                                                            strict=True)])
    profiles += rng.normal(0, 0.3, profiles.shape)
    fit = fit_velocity(profiles, stations, max_speed_mps=60)
    assert abs(fit.speed_mps - speed) < 2.0
    # The error bar assumes ~4 correlated samples per pixel, so it is conservative on white noise.
    assert abs(fit.speed_mps - speed) < 3 * fit.speed_sd_mps < 15.0
    assert fit.chi2_per_dof < 6


# --- contract -----------------------------------------------------------------------------------


def test_json_has_the_contract_fields() -> None:
    cuts = [*STANDING, Cut("main", 600, 14.5 * 12, GREY_TANK, speed_mps=20)]
    document = json.loads(json.dumps(detect_scene(make_scene(SITE, cuts), SITE,
                                                  settings=FLAT).to_json()))
    for key in ("site", "item", "datetime", "status", "detector_version", "car_equivalents",
                "car_equivalents_interval", "visible_fraction", "tracks", "moving_trains"):
        assert key in document
    assert document["datetime"] == datetime(2024, 6, 1, 2, 30, tzinfo=UTC).isoformat().replace(
        "+00:00", "Z")
    assert {"track", "occupied_m", "car_equivalents", "visible_fraction"} <= set(document["tracks"][0])
    assert {"speed_mps", "speed_sd_mps", "heading_deg", "direction", "length_m",
            "confidence"} <= set(document["moving_trains"][0])


def test_settings_car_length_scales_the_count() -> None:
    scene = make_scene(SITE, STANDING, seed=1)
    # Without coupler gaps the car length only rescales the count (with them, a shorter car
    # has a larger share of gap).
    gapless = replace(FLAT, coupled_gap_m=0.0)
    short = detect_scene(scene, SITE, settings=replace(gapless, car_length_m=10.0))
    default = detect_scene(scene, SITE, settings=gapless)
    assert short.car_equivalents == pytest.approx(default.car_equivalents * 1.45, rel=0.02)


def test_a_yard_never_seen_empty_is_flagged(empty_history) -> None:
    """A history whose yard is full on every date (other cars each time) never shows its ground:
    the count against it is flagged and poor, the ground share survives a save, and a history
    that saw the yard empty raises no flag."""
    coal = (0.04, 0.04, 0.04, 0.05)
    full = [make_scene(SITE, [Cut(track, 0, 1010, colour) for track in ("yard-1", "yard-2")],
                       seed=60 + i, scene_id=f"full-{i}")
            for i, colour in enumerate([BOX_CAR, GREY_TANK, coal] * 2)]
    busy = build_background(full, site=SITE)
    assert busy.yard_ground_pooled > 0.4
    assert empty_history.yard_ground_pooled < 0.1
    scene = make_scene(SITE, STANDING, seed=7)
    flagged = detect_scene(scene, SITE, history=busy, settings=FLAT)
    assert "yard_ground_unseen" in flagged.flags and flagged.quality == "poor"
    plain = detect_scene(scene, SITE, history=empty_history, settings=FLAT)
    assert "yard_ground_unseen" not in plain.flags


def test_background_round_trip_keeps_the_pooled_share(tmp_path) -> None:
    background = replace(build_background([make_scene(SITE, [], seed=i) for i in range(3)]),
                         yard_ground_pooled=0.7)
    assert load_background(background.save(tmp_path / "bg")).yard_ground_pooled == 0.7
