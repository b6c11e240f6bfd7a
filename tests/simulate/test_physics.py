"""Physics of the simulated instrument: band timing, PSF and integration, noise, encoding."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from railwatch.simulate import BAND_LAGS_S, decode_l2a, encode_l2a, make_train, render_scene
from railwatch.simulate.landcover import CODE, LandCover
from railwatch.simulate.sensor import (
    E0,
    LREF,
    MTF_NYQUIST,
    SNR_AT_LREF,
    Integrator,
    add_noise,
    psf_sigma_m,
)
from railwatch.simulate.spectra import LAND_BY_NAME, WET_DARKENING, WETTING, landcover_table
from tests.simulate.conftest import clear_state

BLACK = (0.04, 0.04, 0.04, 0.05)


def _uniform_ground(model):
    """The site model with every fine cell plain ballast: the test measures the instrument, not
    the land (on real, varied ground the change under a train is not a pure translation)."""
    codes = np.full_like(model.land.codes, CODE["track"])
    texture = np.ones_like(model.land.texture)
    maps = np.zeros_like(model.class_maps)
    maps[CODE["track"]] = model.integrators["blue"].apply(texture)
    return replace(model, land=LandCover(model.land.grid, codes, texture), class_maps=maps)


def _train_scene(site, model, speed: float, *, sign: int = 1):
    model = _uniform_ground(model)
    line = site.tracks_utm["main"]
    rng = np.random.default_rng(1)
    train, cars = make_train(1, "main", line, 520.0 if sign > 0 else 240.0, sign, speed,
                             ["tank"] * 18, rng)
    # Black cars: darker than ballast in every band, so each band's change has one sign.
    cars = [replace(car, spectrum=BLACK) for car in cars]
    if speed == 0.0:
        cars = [replace(car, train=None) for car in cars]
        trains = []
    else:
        trains = [train]
    with_train = render_scene(site, clear_state(site, cars, trains), model=model, noise=False)
    empty = render_scene(site, clear_state(site), model=model, noise=False)
    return train, with_train, empty


def _centroid_along(scene, empty, band: str, heading_deg: float) -> float:
    change = empty.surface[band] - scene.surface[band]  # positive where the dark train is
    change = np.where(change > 0.002, change, 0.0)
    rows, cols = np.nonzero(change)
    weights = change[rows, cols]
    x = scene.transform.c + (cols + 0.5) * 10.0
    y = scene.transform.f - (rows + 0.5) * 10.0
    ux, uy = math.sin(math.radians(heading_deg)), math.cos(math.radians(heading_deg))
    return float(np.sum((x * ux + y * uy) * weights) / weights.sum())


@pytest.mark.parametrize(("speed", "sign"), [(12.5, 1), (25.0, -1), (4.0, 1)])
def test_moving_train_is_displaced_by_speed_times_lag(small_site, small_model, speed, sign):
    train, scene, empty = _train_scene(small_site, small_model, speed, sign=sign)
    line = small_site.tracks_utm["main"]
    a, b = line.coords[0], line.coords[-1]
    heading = math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) + (0 if sign > 0 else 180)
    blue = _centroid_along(scene, empty, "blue", heading)
    red = _centroid_along(scene, empty, "red", heading)
    expected_px = speed * BAND_LAGS_S["red"] / 10.0
    assert (red - blue) / 10.0 == pytest.approx(expected_px, abs=0.1)
    nir = _centroid_along(scene, empty, "nir", heading)
    assert (nir - blue) / 10.0 == pytest.approx(speed * BAND_LAGS_S["nir"] / 10.0, abs=0.1)


def test_stationary_train_shows_no_displacement(small_site, small_model):
    _, scene, empty = _train_scene(small_site, small_model, 0.0)
    line = small_site.tracks_utm["main"]
    a, b = line.coords[0], line.coords[-1]
    heading = math.degrees(math.atan2(b[0] - a[0], b[1] - a[1]))
    shifts = [_centroid_along(scene, empty, band, heading) - _centroid_along(scene, empty, "blue", heading)
              for band in ("green", "red", "nir")]
    # Within the tolerance of the moving case; what remains (~0.04 px) is the car shadow, whose
    # contrast differs between bands (bluer skylight), not motion.
    assert max(abs(s) for s in shifts) / 10.0 < 0.1


def test_integration_conserves_mean_reflectance():
    rng = np.random.default_rng(0)
    fine = rng.uniform(0.0, 0.6, size=(400, 600)).astype(np.float32)
    fine[100:130, 200:214] = 0.9  # a bright object, to test more than noise
    integrator = Integrator(fine.shape, 1.0, 10.0, psf_sigma_m(0.25))
    coarse = integrator.apply(fine)
    assert coarse.shape == (40, 60)
    # Away from the edges every fine cell's weight sums to one over the pixels.
    inner = coarse[5:-5, 5:-5].mean()
    assert inner == pytest.approx(fine[50:-50, 50:-50].mean(), rel=2e-3)
    box = Integrator(fine.shape, 1.0, 10.0, 0.0).apply(fine)
    blocks = fine.reshape(40, 10, 60, 10).mean(axis=(1, 3))
    np.testing.assert_allclose(box, blocks, rtol=1e-5)


def test_psf_gives_the_modulation_transfer_at_nyquist():
    sigma = psf_sigma_m(MTF_NYQUIST["red"])
    # A sine at Nyquist on 0.5 m samples, phase-aligned with pixel centres.
    x = (np.arange(2000) + 0.5) * 0.5
    fine = (0.5 + 0.1 * np.cos(2 * math.pi * (x - 5.0) / 20.0)).astype(np.float32)
    rows = np.repeat(fine[None, :], 60, axis=0)  # 3 pixels tall, constant down the columns
    coarse = Integrator(rows.shape, 0.5, 10.0, sigma).apply(rows)[1, 10:-10]
    modulation = (coarse.max() - coarse.min()) / 2 / 0.1
    assert modulation == pytest.approx(MTF_NYQUIST["red"], abs=0.01)


def test_l2a_encoding_round_trips_with_the_offset():
    rng = np.random.default_rng(2)
    reflectance = rng.uniform(-0.05, 1.2, size=(50, 50)).astype(np.float32)
    dn = encode_l2a(reflectance)
    assert dn.dtype == np.uint16 and dn.min() >= 1
    assert encode_l2a(np.array([0.0]))[0] == 1000
    np.testing.assert_allclose(decode_l2a(dn), reflectance, atol=0.5e-4 + 1e-7)
    assert np.isnan(decode_l2a(np.array([0], dtype=np.uint16))[0])


@pytest.mark.parametrize("band", ["blue", "green", "red", "nir"])
def test_noise_matches_the_snr_at_reference_radiance(band):
    rho_ref = math.pi * LREF[band] / E0[band]
    flat = np.full((300, 300), rho_ref, dtype=np.float32)
    noisy = add_noise(flat, band, np.random.default_rng(4), sun_elevation_deg=90.0)
    assert rho_ref / noisy.std() == pytest.approx(SNR_AT_LREF[band], rel=0.05)


def test_rain_darkens_bare_mineral_ground_and_not_vegetation(small_site, small_model):
    """After rain (``Weather.wet``) ballast, gravel, soil, asphalt and concrete are 30 % darker in
    every band and vegetation is not: each pixel darkens by 30 % of its mineral share."""
    state = clear_state(small_site, [])
    dry = render_scene(small_site, state, model=small_model, noise=False)
    wet = render_scene(small_site, replace(state, weather=replace(state.weather, wet=1.0)),
                       model=small_model, noise=False)
    table = landcover_table(state.acquisition.datetime.date(), small_site.aoi.centroid.y, 0.0)
    mineral = [LAND_BY_NAME[name].code for name in WETTING]
    for index, band in enumerate(("blue", "green", "red", "nir")):
        part = {code: small_model.class_maps[code] * table[code, index]
                for code in range(len(table)) if code < len(small_model.class_maps)}
        share = sum(part[c] for c in mineral if c in part) / sum(part.values())
        assert (share > 0.5).any() and (share < 0.01).any()
        expected = 1.0 - WET_DARKENING * share
        assert np.allclose(wet.surface[band] / dry.surface[band], expected, atol=2e-3), band
