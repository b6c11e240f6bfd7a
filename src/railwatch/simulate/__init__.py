"""Physically grounded Sentinel-2 and high-resolution scenes of rail sites, with ground truth.

Public API (stable; see docs/simulate.md):

Write a catalog (what ``railwatch simulate`` does)::

    from railwatch.simulate import simulate
    paths = simulate("tumangang", "tumangang-2023", "2023-09-01", "2023-10-31",
                     "out/sim", seed=1, full_tile=False, hires=False)
    # -> [Path("out/sim/S2B_52TFM_20230902_0_L2A/S2B_52TFM_20230902_0_L2A.json"), ...]

Render in memory (for tests and detector benchmarks)::

    from railwatch.simulate import (load_scenario, acquisitions, scene_state_for, site_model,
                                    render_scene, truth_record, resolve_simulation_site)
    site = resolve_simulation_site("tumangang")
    scenario = load_scenario("tumangang-2023")
    acq = acquisitions(scenario, site.mgrs_tiles[0], date(2023, 10, 5), date(2023, 10, 10))[0]
    state = scene_state_for(scenario, site, acq, seed=1)        # cars, trains, weather
    scene = render_scene(site, state, model=site_model(site, land_seed=1))
    scene.bands["red"]      # float32 L2A reflectance on the tile's 10 m grid
    scene.scl               # uint8 scene classification, 20 m
    scene.transform, scene.scl_transform, scene.epsg
    truth = truth_record(site, scene)                           # the truth.json dict

Build your own states with :func:`make_train` / :func:`make_cut` (rolling stock on a track line)
and :class:`SceneState`, :class:`Weather`, :class:`Acquisition`.

Stages, one module each: ``grid`` (MGRS tile grid and windows), ``spectra`` (reflectance table
with sources), ``landcover`` and ``truth`` (the <= 1 m truth: land, rolling stock, shadows),
``atmosphere`` (sun, clouds, shadows, haze), ``sensor`` (band lags, PSF, integration, noise,
L2A encoding), ``scl`` (scene classification), ``render`` (state -> pixels), ``groundtruth``
(truth JSON), ``scenarios`` (TOML scenarios -> states), ``yard`` (synthetic yard site),
``writer`` (COGs, STAC), ``run`` (the whole request, atomically).
"""

from __future__ import annotations

from railwatch.simulate.grid import TileGrid, Window, tile_grid
from railwatch.simulate.groundtruth import truth_record
from railwatch.simulate.model import Acquisition, Car, SceneState, Train, Weather
from railwatch.simulate.render import (
    RenderedScene,
    SceneGrid,
    SiteModel,
    render_scene,
    scene_grid,
    site_model,
)
from railwatch.simulate.run import plan, resolve_simulation_site, simulate
from railwatch.simulate.scenarios import (
    Scenario,
    acquisitions,
    available_scenarios,
    load_scenario,
    scene_state_for,
)
from railwatch.simulate.sensor import BAND_LAGS_S, decode_l2a, encode_l2a
from railwatch.simulate.truth import CAR_TYPES, make_cut, make_train

__all__ = [
    "BAND_LAGS_S",
    "CAR_TYPES",
    "Acquisition",
    "Car",
    "RenderedScene",
    "Scenario",
    "SceneGrid",
    "SceneState",
    "SiteModel",
    "TileGrid",
    "Train",
    "Weather",
    "Window",
    "acquisitions",
    "available_scenarios",
    "decode_l2a",
    "encode_l2a",
    "load_scenario",
    "make_cut",
    "make_train",
    "plan",
    "render_scene",
    "resolve_simulation_site",
    "scene_grid",
    "scene_state_for",
    "simulate",
    "site_model",
    "tile_grid",
    "truth_record",
]
