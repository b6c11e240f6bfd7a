"""From a :class:`SceneState` to pixels: the truth at <= 1 m, then the instrument.

The land is the same in every scene of a site, so its contribution to each 10 m pixel is
integrated once per land-cover class (the PSF and pixel integration are linear) and each scene
only mixes those maps with the day's spectra.  Rolling stock and its shadows are drawn at the
fine resolution in a box around them, separately for each band at that band's sensing time, and
only the difference they make is integrated.  Clouds, haze and cloud shadows are smooth at 10 m
and are applied there, then noise, then the 20 m scene classification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from affine import Affine
from rasterio import features
from shapely.geometry import LineString

from railwatch.imagery import Scene
from railwatch.simulate.atmosphere import (
    OBJECT_SHADOW_LIGHT,
    Sky,
    apply_sky,
    make_sky,
)
from railwatch.simulate.grid import TileGrid, Window, tile_grid
from railwatch.simulate.landcover import CODE, LandCover, draw_landcover
from railwatch.simulate.model import Car, SceneState, Weather
from railwatch.simulate.scl import classify, downsample2
from railwatch.simulate.sensor import (
    BAND_LAGS_S,
    BANDS,
    MTF_NYQUIST,
    Integrator,
    add_noise,
    psf_sigma_m,
)
from railwatch.simulate.spectra import (
    LANDCOVER,
    Spectrum,
    landcover_table,
    snow_cover_by_code,
    snow_spectrum,
)
from railwatch.simulate.truth import FineGrid, paint_cars
from railwatch.sites import Site
from railwatch.sun import sun_position

__all__ = ["DEFAULT_MARGIN_M", "RenderedScene", "SceneGrid", "SiteModel", "render_scene",
           "scene_grid", "site_model"]

DEFAULT_MARGIN_M = 300.0
# High-resolution product: a 0.5-1 m class imager (PSF sigma ~0.5 px; SNR ~100 at typical
# radiance, the order of Pleiades/SkySat-class figures) sensing all bands at once.
HIRES_PSF_SIGMA_PX = 0.5
HIRES_SNR = 100.0


@dataclass(frozen=True)
class SceneGrid:
    """Where a site's scene lies: its tile, the 10 m and 20 m windows and the fine truth grid."""

    tile: TileGrid
    window10: Window
    window20: Window
    fine: FineGrid

    @property
    def epsg(self) -> int:
        return self.tile.epsg


def scene_grid(site: Site, *, margin_m: float = DEFAULT_MARGIN_M, fine_m: float = 1.0,
               tile: str | None = None) -> SceneGrid:
    """The window of the site's first MGRS tile around its AOI (+ ``margin_m``)."""
    if 10.0 % fine_m or fine_m > 1.0:
        raise ValueError(f"fine resolution {fine_m} m must divide 10 m and be <= 1 m")
    name = tile or (site.mgrs_tiles[0] if site.mgrs_tiles else None)
    if name is None:
        raise ValueError(f"site {site.id!r} names no MGRS tile")
    grid = tile_grid(name)
    if grid.epsg != site.epsg:
        raise ValueError(f"tile {name} is in EPSG:{grid.epsg}, site {site.id!r} in EPSG:{site.epsg}")
    west, south, east, north = site.aoi_utm.bounds
    bounds = (west - margin_m, south - margin_m, east + margin_m, north + margin_m)
    window10 = grid.window(bounds, 10.0)
    window20 = grid.window(bounds, 20.0)
    scale = int(round(10.0 / fine_m))
    fine = FineGrid(west=window10.transform.c, north=window10.transform.f, resolution=fine_m,
                    shape=(window10.height * scale, window10.width * scale))
    return SceneGrid(grid, window10, window20, fine)


@dataclass(frozen=True)
class SiteModel:
    """What stays fixed for a site across scenes: the land and its integrated class maps."""

    site_id: str
    grid: SceneGrid
    land: LandCover
    tracks: dict[str, LineString]
    integrators: dict[str, Integrator]
    class_maps: np.ndarray  # (classes, H10, W10): integrated texture x class share
    class_share20: np.ndarray  # (classes, H20, W20): plain class share at 20 m
    track_masks: dict[str, np.ndarray]  # 10 m pixels touching each track bed

    def background(self, table: np.ndarray) -> np.ndarray:
        """(4, H10, W10) surface reflectance of the bare land for a spectra table."""
        return np.einsum("kb,khw->bhw", table, self.class_maps, optimize=True).astype(np.float32)


_MODELS: dict[tuple, SiteModel] = {}


def site_model(site: Site, *, grid: SceneGrid | None = None, land_seed: int = 0,
               river_width_m: float = 0.0) -> SiteModel:
    """The site's fixed land model (built once per process for each site/grid/seed)."""
    grid = grid or scene_grid(site)
    key = (site.id, grid, land_seed, river_width_m, tuple(sorted(site.tracks_utm)))
    cached = _MODELS.get(key)
    if cached is not None:
        return cached
    land = draw_landcover(site, grid.fine, land_seed, river_width_m=river_width_m)
    integrators = {band: Integrator(grid.fine.shape, grid.fine.resolution, 10.0,
                                    psf_sigma_m(MTF_NYQUIST[band])) for band in BANDS}
    shared = len({i.sigma_m for i in integrators.values()}) == 1
    n_classes = max(c.code for c in LANDCOVER) + 1
    h10, w10 = grid.window10.height, grid.window10.width
    class_maps = np.zeros((n_classes, h10, w10), dtype=np.float32)
    share10 = np.zeros((n_classes, h10, w10), dtype=np.float32)
    box = Integrator(grid.fine.shape, grid.fine.resolution, 10.0, 0.0)
    integrator = integrators["blue"]
    for code in np.unique(land.codes):
        mask = land.codes == code
        class_maps[code] = integrator.apply(np.where(mask, land.texture, 0.0).astype(np.float32))
        share10[code] = box.apply(mask.astype(np.float32))
    if not shared:
        raise ValueError("per-band PSF widths differ; class maps would need one set per band")
    share20 = np.stack([downsample2(s) for s in share10])
    transform = grid.window10.transform
    track_masks = {}
    for track_id, line in site.tracks_utm.items():
        track_masks[track_id] = features.rasterize(
            [(line.buffer(3.0), 1)], out_shape=(h10, w10), transform=transform,
            all_touched=True, dtype=np.uint8).astype(bool)
    model = SiteModel(site.id, grid, land, dict(site.tracks_utm), integrators, class_maps,
                      share20, track_masks)
    if len(_MODELS) > 8:
        _MODELS.clear()
    _MODELS[key] = model
    return model


@dataclass(frozen=True)
class RenderedScene:
    """One simulated acquisition in memory.

    ``bands``: 10 m L2A surface reflectance (float32, what the COGs encode) keyed ``blue``,
    ``green``, ``red``, ``nir``; ``scl``: 20 m scene classification; ``transform`` and
    ``scl_transform`` place them on the tile grid (``epsg``); ``surface``: the same 10 m bands
    before clouds and noise (for tests); ``sky``: the cloud/shadow/haze fields at 10 m;
    ``hires``: (4, H, W) reflectance red, green, blue, nir at the fine resolution, or None.
    """

    state: SceneState
    grid: SceneGrid
    bands: dict[str, np.ndarray]
    scl: np.ndarray
    surface: dict[str, np.ndarray]
    sky: Sky
    sun: tuple[float, float]
    snow20: np.ndarray
    track_masks: dict[str, np.ndarray]
    hires: np.ndarray | None = None

    @property
    def transform(self) -> Affine:
        return self.grid.window10.transform

    @property
    def scl_transform(self) -> Affine:
        return self.grid.window20.transform

    @property
    def epsg(self) -> int:
        return self.grid.epsg

    @property
    def datetime(self) -> datetime:
        return self.state.acquisition.datetime

    def as_scene(self) -> Scene:
        """The rendering as ``railwatch.imagery.read_item`` gives a scene (SCL 20 m -> 10 m by
        nearest neighbour), for detecting on it without writing files."""
        rows, cols = self.bands["blue"].shape
        scl = np.repeat(np.repeat(self.scl, 2, axis=0), 2, axis=1)[:rows, :cols]
        return Scene(scene_id=self.state.acquisition.item_id, datetime=self.datetime,
                     epsg=self.epsg, transform=self.transform, bands=self.bands, scl=scl,
                     simulated=True)


def render_scene(site: Site, state: SceneState, *, model: SiteModel | None = None,
                 hires: bool = False, noise: bool = True) -> RenderedScene:
    """Render ``state`` over ``site``: 10 m bands, 20 m SCL, and optionally the <= 1 m product."""
    model = model or site_model(site)
    grid = model.grid
    acq = state.acquisition
    centre = site.aoi.centroid
    sun = sun_position(acq.datetime, centre.x, centre.y)
    table = landcover_table(acq.datetime.date(), centre.y, state.weather.snow,
                            state.weather.snow_age_days, state.weather.wet)
    surface = model.background(table)
    lags = tuple(BAND_LAGS_S[b] for b in BANDS)
    cars = state.cars
    signs = {t.id: t.sign for t in state.trains}
    speeds = {t.id: t.speed_mps for t in state.trains}
    rng = np.random.default_rng([state.seed, 7])
    if cars and state.weather.snow > 0:
        state = replace(state, cars=tuple(_snowed(car, state.weather) for car in cars))
    if cars:
        _add_rolling_stock(surface, model, state, table, sun, lags, signs, speeds)
    sky = make_sky(state.weather, surface.shape[1:], 10.0,
                   (grid.window10.transform.c, grid.window10.transform.f), sun, lags, rng)
    bands: dict[str, np.ndarray] = {}
    for index, band in enumerate(BANDS):
        seen = apply_sky(surface[index], index, sky)
        bands[band] = add_noise(seen, band, rng, sun[0]) if noise else seen
    snow_share = np.einsum("k,khw->hw", state.weather.snow * snow_cover_by_code(),
                           model.class_share20)
    scl = classify({b: downsample2(v) for b, v in bands.items()}, downsample2(sky.cloud),
                   downsample2(sky.shadow), downsample2(sky.haze), snow_share,
                   model.class_share20[CODE["water"]])
    hires_bands = _render_hires(model, state, table, sun, signs, rng, sky) if hires else None
    return RenderedScene(state=state, grid=grid, bands=bands, scl=scl,
                         surface={b: surface[i] for i, b in enumerate(BANDS)}, sky=sky, sun=sun,
                         snow20=snow_share, track_masks=model.track_masks, hires=hires_bands)


def _snowed(car: Car, weather: Weather) -> Car:
    """Snow stays on the roofs and loads of standing cars (~half cover), little on moving ones."""
    cover = weather.snow * (0.5 if car.train is None else 0.1)
    snow = snow_spectrum(weather.snow_age_days)

    def mix(spectrum: Spectrum) -> Spectrum:
        a, b, c, d = ((1 - cover) * v + cover * float(w) for v, w in zip(spectrum, snow,
                                                                          strict=True))
        return a, b, c, d

    load = mix(car.load_spectrum) if car.load_spectrum is not None else None
    return replace(car, spectrum=mix(car.spectrum), load_spectrum=load)


def _fine_background(model: SiteModel, table: np.ndarray, rows: slice, cols: slice
                     ) -> np.ndarray:
    codes = model.land.codes[rows, cols]
    texture = model.land.texture[rows, cols]
    out = np.empty((table.shape[1], *codes.shape), dtype=np.float32)
    for band in range(table.shape[1]):
        np.multiply(table[:, band].astype(np.float32)[codes], texture, out=out[band])
    return out


def _add_rolling_stock(surface: np.ndarray, model: SiteModel, state: SceneState,
                       table: np.ndarray, sun: tuple[float, float], lags: tuple[float, ...],
                       signs: dict[int, int], speeds: dict[int, float]) -> None:
    """Draw the cars per band at their band-time positions and add the change they make."""
    fine = model.grid.fine
    r = fine.resolution
    fastest = max(speeds.values(), default=0.0)
    shadow = 5.5 / math.tan(math.radians(max(sun[0], 5.0)))
    margin = 30.0 + shadow + fastest * max(lags)
    xs = [c.x for c in state.cars]
    ys = [c.y for c in state.cars]
    j0 = max(int((min(xs) - margin - fine.west) / r), 0)
    j1 = min(int((max(xs) + margin - fine.west) / r) + 1, fine.shape[1])
    i0 = max(int((fine.north - (max(ys) + margin)) / r), 0)
    i1 = min(int((fine.north - (min(ys) - margin)) / r) + 1, fine.shape[0])
    if j0 >= j1 or i0 >= i1:
        return
    rows, cols = slice(i0, i1), slice(j0, j1)
    base = _fine_background(model, table, rows, cols)
    painted = base.copy()
    sub = FineGrid(west=fine.west + j0 * r, north=fine.north - i0 * r, resolution=r,
                   shape=(i1 - i0, j1 - j0))
    travelled = {train_id: [speed * lag for lag in lags] for train_id, speed in speeds.items()}
    _paint_with_train_speeds(painted, sub, state, travelled, model, sun, signs, len(lags))
    painted -= base
    for index, band in enumerate(BANDS):
        surface[index] += model.integrators[band].apply(painted[index], i0, j0)


def _paint_with_train_speeds(target: np.ndarray, grid: FineGrid, state: SceneState,
                             travelled: dict[int, list[float]], model: SiteModel,
                             sun: tuple[float, float], signs: dict[int, int],
                             n_bands: int) -> None:
    """Trains move at their own speeds: paint the standing cars, then each train's cars with
    the distance that train has covered by each band's sensing time."""
    groups: dict[int | None, list] = {}
    for car in state.cars:
        groups.setdefault(car.train, []).append(car)
    for train_id, cars in groups.items():
        shifts = travelled.get(train_id, [0.0] * n_bands) if train_id is not None else [0.0] * n_bands
        paint_cars(target, grid, cars, shifts, model.tracks, signs, sun, OBJECT_SHADOW_LIGHT)


def _render_hires(model: SiteModel, state: SceneState, table: np.ndarray,
                  sun: tuple[float, float], signs: dict[int, int], rng: np.random.Generator,
                  sky: Sky) -> np.ndarray:
    """The <= 1 m RGBN product at the B02 instant (a frame imager: no inter-band lag)."""
    fine = model.grid.fine
    full = _fine_background(model, table, slice(0, fine.shape[0]), slice(0, fine.shape[1]))
    if state.cars:
        _paint_with_train_speeds(full, fine, state, {}, model, sun, signs, 4)
    fine_sky = _fine_sky(sky, fine.shape) if _sky_present(sky) else None
    out = np.empty_like(full)
    for index, band in enumerate((2, 1, 0, 3)):  # red, green, blue, nir
        seen = _blur_half_pixel(full[band])
        if fine_sky is not None:
            seen = apply_sky(seen, band, fine_sky)
        sigma = np.sqrt(np.clip(seen, 0.0, None) * np.float32(0.2)) / np.float32(HIRES_SNR)
        out[index] = seen + sigma * rng.standard_normal(seen.shape, dtype=np.float32)
    return out


def _sky_present(sky: Sky) -> bool:
    return bool(sky.cloud.any() or sky.shadow.any() or sky.haze.any())


def _fine_sky(sky: Sky, shape: tuple[int, int]) -> Sky:
    """The 10 m sky fields interpolated onto the fine grid (they are smooth at 10 m)."""
    from scipy import ndimage

    scale = (shape[0] / sky.cloud.shape[0], shape[1] / sky.cloud.shape[1])
    fields = [ndimage.zoom(values, scale, order=1, grid_mode=True, mode="nearest")[
        : shape[0], : shape[1]] for values in (sky.cloud, sky.shadow, sky.haze, sky.cloud_top)]
    return Sky(tuple(fields[0] for _ in range(4)), fields[1], fields[2], fields[3])


def _blur_half_pixel(values: np.ndarray) -> np.ndarray:
    """Separable Gaussian PSF of sigma 0.5 pixel (3 taps: exp(-2) side weights, normalised)."""
    from scipy import ndimage

    side = math.exp(-2.0) / (1.0 + 2.0 * math.exp(-2.0))
    taps = np.array([side, 1.0 - 2.0 * side, side], dtype=np.float32)
    across = ndimage.correlate1d(values, taps, axis=1, mode="nearest")
    return ndimage.correlate1d(across, taps, axis=0, mode="nearest")
