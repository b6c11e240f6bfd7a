"""Benchmark of the simulator: speed per scene, a whole scenario, and the truck-fringe check.

Run:  .venv/bin/python bench/simulate_bench.py [--skip-scenario] [--shared ../shared]

Prints tables: seconds per 10 m scene and per high-resolution scene for a 3 x 3 km site (the
Tumangang yard with a square AOI), seconds for the whole ``tumangang-2023`` scenario written to
disk, and the spectral signature of moving-truck fringe pixels in the real S2TD chip against the
simulator's (robust z-scores; see railwatch.simulate.validation).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from shapely.geometry import box

from railwatch.simulate import (
    acquisitions,
    load_scenario,
    render_scene,
    resolve_simulation_site,
    scene_state_for,
    simulate,
    site_model,
)
from railwatch.simulate.validation import real_chip_signature, simulated_truck_signature
from railwatch.sites import Site, Track

SHARED = Path(__file__).resolve().parents[2] / "shared"


def square_site(side_m: float = 3000.0) -> Site:
    """Tumangang with a side_m x side_m AOI around its yard, tracks clipped to it."""
    site = resolve_simulation_site("tumangang")
    centre = site.aoi_utm.centroid
    square = box(centre.x - side_m / 2, centre.y - side_m / 2, centre.x + side_m / 2,
                 centre.y + side_m / 2)
    from pyproj import Transformer

    from railwatch.sites import reproject

    to_wgs84 = Transformer.from_crs(site.epsg, 4326, always_xy=True)
    tracks = []
    for track in site.tracks:
        clipped = site.tracks_utm[track.id].intersection(square.buffer(-5.0))
        if clipped.geom_type == "LineString" and clipped.length > 0:
            tracks.append(Track(track.id, reproject(clipped, to_wgs84), track.kind))
    return replace(site, id="tumangang-3km", aoi=reproject(square, to_wgs84),
                   tracks=tuple(tracks), builtin=False)


def time_scenes(site: Site, *, hires: bool, count: int) -> tuple[float, float]:
    scenario = load_scenario("tumangang-2023")
    acqs = acquisitions(scenario, site.mgrs_tiles[0], scenario.start, scenario.end)
    chosen = acqs[len(acqs) // 2: len(acqs) // 2 + count]
    started = time.perf_counter()
    model = site_model(site, land_seed=1, river_width_m=scenario.river_width_m)
    setup = time.perf_counter() - started
    seconds = []
    for acq in chosen:
        state = scene_state_for(scenario, site, acq, 1)
        started = time.perf_counter()
        render_scene(site, state, model=model, hires=hires)
        seconds.append(time.perf_counter() - started)
    return setup, statistics.median(seconds)


def _mean(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(round(statistics.fmean(column), 2) for column in zip(*rows, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-scenario", action="store_true", help="skip the whole-scenario run")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data directory")
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    site = square_site()
    window = site_model(site, land_seed=1).grid.window10
    print(f"\n3 x 3 km site: 10 m window {window.width} x {window.height} px, "
          f"truth at 1 m ({window.width * 10} x {window.height * 10} px)")
    print(f"{'product':<28}{'site setup s':>14}{'s per scene':>14}")
    setup, per_scene = time_scenes(site, hires=False, count=12)
    print(f"{'10 m L2A (4 bands + SCL)':<28}{setup:>14.2f}{per_scene:>14.3f}")
    _, per_hires = time_scenes(site, hires=True, count=3)
    print(f"{'10 m + 1 m RGBN hires':<28}{'':>14}{per_hires:>14.3f}")

    if not args.skip_scenario:
        scenario = load_scenario("tumangang-2023")
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            paths = simulate("tumangang", scenario, None, None, Path(folder) / "sim", seed=1)
            total = time.perf_counter() - started
            size = sum(f.stat().st_size for f in (Path(folder) / "sim").rglob("*") if f.is_file())
        print(f"\nwhole scenario tumangang-2023 ({scenario.start} to {scenario.end}), written:")
        print(f"{'scenes':>8}{'total s':>10}{'s per scene':>14}{'MB on disk':>12}")
        print(f"{len(paths):>8}{total:>10.1f}{total / len(paths):>14.3f}{size / 1e6:>12.1f}")

    chip = args.shared / "data" / "s2td" / "S2_test_data.tif"
    if not chip.is_file():
        print(f"\n(no real chip at {chip}: fringe comparison skipped)")
        return
    real = real_chip_signature(chip)
    print("\nmoving-truck fringe: robust z-scores (B02, B03, B04, B08) on the motorway pixels")
    print(f"{'chip':<34}{'blue px':>8}{'red px':>8}  {'at blue pixels':<28}{'at red pixels':<28}"
          f"{'blue->red px':>12}")

    def row(name: str, sig) -> None:
        print(f"{name:<34}{sig.blue_pixels:>8}{sig.red_pixels:>8}  {str(sig.at_blue):<28}"
              f"{str(sig.at_red):<28}{sig.blue_to_red_px:>12}")

    row("real S2TD chip (Fisser et al.)", real)
    for speeds in ((17.0, 19.0), (22.0, 25.0)):
        sigs = [simulated_truck_signature(seed, speed_mps=speeds) for seed in range(10)]
        blue = _mean([s.at_blue for s in sigs])
        red = _mean([s.at_red for s in sigs])
        spacing = statistics.median(s.blue_to_red_px for s in sigs if not math.isnan(s.blue_to_red_px))
        print(f"{f'simulated, {speeds[0]:.0f}-{speeds[1]:.0f} m/s (10 seeds)':<34}"
              f"{statistics.fmean(s.blue_pixels for s in sigs):>8.1f}"
              f"{statistics.fmean(s.red_pixels for s in sigs):>8.1f}  {str(blue):<28}"
              f"{str(red):<28}{spacing:>12}")
    print("\nshape (divided by the dominant band): real", real.shape(), "; simulated 22-25 m/s seed 0",
          simulated_truck_signature(0).shape())


if __name__ == "__main__":
    main()
