"""Accuracy floors on fixed simulator seeds (the full benchmark is bench/detect_bench.py).

A few scenes of the single-track bridge site, rendered by railwatch.simulate with a history of
clear dates drawn with another seed: a regression of the counting or of the motion fit fails here.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from railwatch.detect import build_background, detect_scene
from railwatch.simulate import (
    Weather,
    acquisitions,
    load_scenario,
    make_cut,
    make_train,
    render_scene,
    resolve_simulation_site,
    scene_state_for,
    site_model,
    truth_record,
)
from railwatch.simulate.truth import COUPLED_GAP_M

SEED = 7
# Floors from what the detector achieves on these fixed scenes (bench/detect_bench.py has the
# tables), with room for noise: a regression of counting or of the ground model fails them.
# 3.3 on these scenes: 32.5 for 32 standing cars; 1.0 phantom cars on the empty yard in clear
# weather and 8.6 under haze 0.04.  3.2 gave 47.5, 16.4 and 29.2: the yard's pooled ground
# replaced the interior pixels darker than the gravel apron, which an empty yard's pixels with
# more track bed than gravel are, and the brighter apron made phantom cars of them.
FLOOR_YARD_REL = 0.25
FLOOR_QUIET_CLEAR_CARS = 5.0
FLOOR_QUIET_HAZY_CARS = 15.0


@pytest.fixture(scope="module")
def bridge():
    site = resolve_simulation_site("tumen-bridge")
    scenario = load_scenario("tumangang-2023")
    model = site_model(site, land_seed=SEED, river_width_m=scenario.river_width_m)
    acqs = acquisitions(scenario, site.mgrs_tiles[0], date(2023, 9, 1), date(2023, 11, 10))
    clear = Weather()

    def empty_state(acq, seed):
        return replace(scene_state_for(scenario, site, acq, seed), cars=(), trains=(),
                       weather=clear)

    history = build_background([render_scene(site, empty_state(a, SEED + 1000),
                                                    model=model).as_scene() for a in acqs[:8]], site=site)
    return site, model, acqs, empty_state, history


def test_standing_and_moving_stock_on_the_bridge_line(bridge) -> None:
    site, model, acqs, empty_state, history = bridge
    line = site.tracks_utm["main"]
    rng = np.random.default_rng(SEED)
    standing = make_cut("main", line, 200.0, ["gondola"] * 15, rng)
    train, moving = make_train(1, "main", line, 1500.0, 1, 15.0, ["tank"] * 20, rng)
    state = replace(empty_state(acqs[-1], SEED), cars=tuple(standing + moving), trains=(train,))
    rendered = render_scene(site, state, model=model)
    truth = truth_record(site, rendered)
    observation = detect_scene(rendered.as_scene(), site, history=history)
    assert observation.status == "ok"
    # Car-equivalents are occupied track (bodies and the gaps between them) / 14.5 m.
    equivalents = sum(c["length_m"] + COUPLED_GAP_M for c in truth["cars"]
                      if c["inside_aoi"]) / 14.5
    assert abs(observation.car_equivalents - equivalents) <= 0.25 * equivalents
    low, high = observation.car_equivalents_interval
    assert low <= equivalents <= high
    assert len(observation.moving_trains) == 1
    found, expected = observation.moving_trains[0], truth["moving_trains"][0]
    assert abs(found.speed_mps - expected["speed_mps"]) <= 3.0
    assert found.direction == expected["direction"]
    mid = ((expected["head_x"] + expected["tail_x"]) / 2, (expected["head_y"] + expected["tail_y"]) / 2)
    assert math.hypot(found.x - mid[0], found.y - mid[1]) < expected["length_m"]


def test_empty_bridge_scenes_count_nothing_and_move_nothing(bridge) -> None:
    site, model, acqs, empty_state, history = bridge
    for acq in acqs[-4:-1]:
        rendered = render_scene(site, empty_state(acq, SEED), model=model)
        observation = detect_scene(rendered.as_scene(), site, history=history)
        assert observation.car_equivalents is not None and observation.car_equivalents <= 3.0
        assert observation.moving_trains == ()


@pytest.fixture(scope="module")
def yard():
    site = resolve_simulation_site("tumangang")
    scenario = load_scenario("tumangang-2023")
    model = site_model(site, land_seed=SEED, river_width_m=scenario.river_width_m)
    acqs = acquisitions(scenario, site.mgrs_tiles[0], date(2023, 6, 1), date(2023, 8, 20))

    def state(acq, seed, weather=None):
        return replace(scene_state_for(scenario, site, acq, seed), cars=(), trains=(),
                       weather=weather or Weather())

    history = build_background([render_scene(site, state(a, SEED + 1000), model=model).as_scene()
                                for a in acqs[:8]], site=site)
    return site, model, acqs, state, history


def test_standing_cuts_in_the_yard_and_a_quiet_hazy_yard(yard) -> None:
    site, model, acqs, state, history = yard
    rng = np.random.default_rng(SEED)
    cuts = (make_cut("yard-3", site.tracks_utm["yard-3"], 300.0, ["gondola"] * 20, rng)
            + make_cut("yard-5", site.tracks_utm["yard-5"], 500.0, ["box"] * 12, rng))
    busy = replace(state(acqs[-1], SEED), cars=tuple(cuts))
    rendered = render_scene(site, busy, model=model)
    truth = truth_record(site, rendered)["cars_total"]
    observation = detect_scene(rendered.as_scene(), site, history=history)
    assert observation.status == "ok"
    assert abs(observation.car_equivalents - truth) <= FLOOR_YARD_REL * truth
    # The empty yard, clear and under haze: few phantom cars, no moving train.
    for haze, floor in ((0.0, FLOOR_QUIET_CLEAR_CARS), (0.04, FLOOR_QUIET_HAZY_CARS)):
        empty = state(acqs[-2], SEED, Weather(haze=haze))
        quiet = detect_scene(render_scene(site, empty, model=model).as_scene(), site,
                             history=history)
        assert quiet.car_equivalents is not None and quiet.car_equivalents <= floor
        assert quiet.moving_trains == ()
