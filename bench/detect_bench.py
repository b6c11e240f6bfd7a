"""Accuracy and speed of the detector on simulated scenes it was not tuned on.

Run: ``.venv/bin/python bench/detect_bench.py [--seeds 100 101] [--scenes 14] [--motion 25]
[--ground history oracle] [--history-policy record|window]``

Defaults were tuned on seeds 0-4; report on seeds 100+ (the default).  For each site and seed:

* **counting**: ``--scenes`` acquisitions drawn at random from the scenario's record, rendered by
  the simulator with the scenario's traffic and weather; and ``--wet`` of the clear ones again as
  just after rain (bare ground and ballast soaked, condition "wet").
* **grounds** (``--ground``), the empty track the detector compares the scene with:
  ``history`` is what the scan gives it: a ``Background`` of the site's clear scenes picked by
  the pipeline's own policy (``railwatch.pipeline.Histories.ranked``: the same season of the
  whole record, the record being the scenario's acquisitions with the same seed).
  ``oracle`` is the same scene state rendered without any rolling stock (same weather, haze,
  clouds, snow and noise draw): the perfect empty track of that date.  Counting against the
  oracle measures the *estimator's* error (roof spectra, widths, shadows, PSF, thresholds); the
  gap between the two is the *reference* error of the history.
* ``--history-policy window`` swaps in the old policy (the clear scenes within 90 days) for
  comparison.
* **motion**: ``--motion`` scenes per site and seed with a train injected on the site's main line
  by ``make_train`` (6-40 wagons, 0-30 m/s, either direction, at least half of it on the line):
  on the bridge line, on the yards' main lines beside standing cuts, and as many scenes with
  every train removed (false alarms), in every weather.

Printed tables: car-equivalents per site and condition (MAE, relative MAE, bias, the interval's
coverage, unknown scenes) against the trivial baselines "always the site's mean count" (an
oracle mean), "always 0" and the detector without history; the oracle/history breakdown;
moving trains (recall by speed, false moving trains per 100 scenes, direction, speed MAE)
against "no train ever moves"; milliseconds per scene per site.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from railwatch.detect import Background, DetectSettings, build_background, detect_scene
from railwatch.imagery import BAND_KEYS, Scene
from railwatch.pipeline import HISTORY_BUCKET_DAYS, HISTORY_SCENES, MIN_HISTORY, Histories
from railwatch.simulate import (
    acquisitions,
    load_scenario,
    make_train,
    render_scene,
    resolve_simulation_site,
    scene_state_for,
    site_model,
    truth_record,
)
from railwatch.simulate.truth import COUPLED_GAP_M

CASES = (  # (site, scenario): a yard, a station, a single track, the synthetic multi-track yard
    ("tumangang", "tumangang-2023"),
    ("khasan", "tumangang-2023"),
    ("tumen-bridge", "tumangang-2023"),
    ("synthetic-yard", "yard"),
)
CONDITIONS = ("clear", "hazy", "partly cloudy", "snowy", "wet", "overcast")
# The scan skips neighbours whose item cloud cover exceeds 30 % (pipeline.HISTORY_MAX_ITEM_CLOUD).
HISTORY_MAX_CLOUD = 0.3
OLD_WINDOW_DAYS = 90


@dataclass
class Estimate:
    status: str
    cars: float | None
    interval: tuple[float, float] | None
    found: list
    ms: float


@dataclass
class Row:
    site: str
    kind: str  # "count", "train", "empty"
    condition: str
    truth_cars: float  # car-equivalents of the stock inside the AOI
    truth_trains: list[dict]
    by_ground: dict[str, Estimate] = field(default_factory=dict)
    self_cars: float | None = None
    clouded_tracks: dict = field(default_factory=dict)


def condition(truth: dict) -> str:
    if truth["cloud_fraction_tracks"] > 0.7:
        return "overcast"
    if truth["snow"]:
        return "snowy"
    if truth.get("wet", 0.0) > 0:
        return "wet"
    if truth["cloud_fraction_tracks"] > 0.02 or truth["cloud_cover"] > 0.05:
        return "partly cloudy"
    if truth["haze"] > 0.02:
        return "hazy"
    return "clear"


class Case:
    """One site, scenario and seed: its land model, its record of scenes and their histories."""

    def __init__(self, site_id: str, scenario_name: str, seed: int, policy: str) -> None:
        self.site_id = site_id
        self.site = resolve_simulation_site(site_id)
        self.scenario = load_scenario(scenario_name)
        self.seed = seed
        self.policy = policy
        self.model = site_model(self.site, land_seed=seed,
                                river_width_m=self.scenario.river_width_m)
        self.acqs = acquisitions(self.scenario, self.site.mgrs_tiles[0], self.scenario.start,
                                 self.scenario.end)
        self._histories: dict[int, Background | None] = {}
        self._rendered: dict[int, Scene | None] = {}

    def state(self, acq):
        return scene_state_for(self.scenario, self.site, acq, self.seed)

    def render(self, state):
        rendered = render_scene(self.site, state, model=self.model)
        return rendered, rendered.as_scene()

    def _record_scene(self, index: int) -> Scene | None:
        if index not in self._rendered:
            state = self.state(self.acqs[index])
            usable = state.weather.cloud_cover <= HISTORY_MAX_CLOUD
            self._rendered[index] = self.render(state)[1] if usable else None
        return self._rendered[index]

    def history(self, acq) -> Background | None:
        day = acq.datetime.date()
        days = [a.datetime.date() for a in self.acqs]
        if self.policy == "record":
            key = day.timetuple().tm_yday // HISTORY_BUCKET_DAYS
            order = Histories.ranked(day, days)
        else:
            key = day.toordinal() // HISTORY_BUCKET_DAYS + 100_000
            order = sorted((i for i, d in enumerate(days)
                            if 0 < abs((d - day).days) <= OLD_WINDOW_DAYS),
                           key=lambda i: abs((days[i] - day).days))
        if key in self._histories:
            return self._histories[key]
        scenes = []
        for index in order:
            scene = self._record_scene(index)
            if scene is not None:
                scenes.append(scene)
            if len(scenes) >= HISTORY_SCENES:
                break
        background = (build_background(scenes, site=self.site, )
                      if len(scenes) >= MIN_HISTORY else None)
        self._histories[key] = background
        return background

    def oracle(self, state, scene: Scene) -> Background:
        """The same scene state without rolling stock, as a one-date history."""
        empty = self.render(replace(state, cars=(), trains=()))[1]
        bands = {k: np.asarray(empty.bands[k], dtype=np.float32) for k in BAND_KEYS}
        count = np.full(empty.shape, 99, dtype=np.int16)
        return Background(bands, count, empty.transform, empty.epsg, (empty.scene_id,))


SETTINGS = DetectSettings()


def detect_row(case: Case, kind: str, state, grounds: list[str], *,
               with_self: bool = False) -> Row:
    rendered, scene = case.render(state)
    truth = truth_record(case.site, rendered, seed=case.seed)
    # The detector measures occupied track, so its truth is the stock's length over couplers
    # (body + coupled gap) in car-equivalents: ore gondolas are 14 m, passenger cars 25 m, and
    # counting cars would mix in the fleet's mix.
    equivalents = sum(car["length_m"] + COUPLED_GAP_M for car in truth["cars"]
                      if car["inside_aoi"]) / SETTINGS.car_length_m
    row = Row(case.site_id, kind, condition(truth), equivalents, truth["moving_trains"],
              clouded_tracks=truth["cloud_fraction_by_track"])
    for ground in grounds:
        history = case.history(state.acquisition) if ground == "history" else case.oracle(
            state, scene)
        started = time.perf_counter()
        observation = detect_scene(scene, case.site, history=history, settings=SETTINGS)
        elapsed = (time.perf_counter() - started) * 1000
        row.by_ground[ground] = Estimate(observation.status, observation.car_equivalents,
                                         observation.car_equivalents_interval,
                                         list(observation.moving_trains), elapsed)
    if with_self:
        row.self_cars = detect_scene(scene, case.site, settings=SETTINGS).car_equivalents
    return row


def run_case(site_id: str, scenario_name: str, seed: int, args) -> list[Row]:
    case = Case(site_id, scenario_name, seed, args.history_policy)
    rng = np.random.default_rng(seed)
    rows = []
    picked = rng.choice(len(case.acqs), size=min(args.scenes, len(case.acqs)), replace=False)
    for index in sorted(picked):
        rows.append(detect_row(case, "count", case.state(case.acqs[index]), args.ground,
                               with_self=not args.no_self))
    # The same clear dates just after rain: bare ground and ballast soaked (``Weather.wet``).
    dry = [case.state(case.acqs[i]) for i in sorted(picked)]
    dry = [d for d in dry if d.weather.cloud_cover == 0 and d.weather.snow == 0][:args.wet]
    for state in dry:
        rows.append(detect_row(case, "count", replace(state, weather=replace(state.weather,
                                                                             wet=1.0)),
                               args.ground, with_self=not args.no_self))
    main = next(t for t in case.site.tracks_utm if t.startswith("main"))
    line = case.site.tracks_utm[main]
    grounds = ["history"] if "history" in args.ground else args.ground
    picked = rng.choice(len(case.acqs), size=min(args.motion, len(case.acqs)), replace=False)
    for number, index in enumerate(sorted(picked)):
        base = case.state(case.acqs[index])
        standing = tuple(c for c in base.cars if c.train is None)
        empty = replace(base, cars=standing, trains=())
        rows.append(detect_row(case, "empty", empty, grounds))
        speed = float(rng.uniform(0.0, 30.0))
        sign = 1 if rng.random() < 0.5 else -1
        wagons = int(rng.integers(6, 41))
        length = (wagons + 1) * 15.0
        head = float(rng.uniform(min(line.length, length / 2), line.length))
        head_s = head if sign > 0 else line.length - head
        types = list(rng.choice(["gondola", "tank", "box"], size=wagons, p=[0.55, 0.3, 0.15]))
        train, cars = make_train(1, main, line, head_s, sign, speed, types,
                                 np.random.default_rng([seed, number, 9]))
        if not cars:
            continue
        moving = replace(empty, cars=standing + tuple(cars), trains=(train,))
        rows.append(detect_row(case, "train", moving, grounds))
    return rows


def match_trains(truth: list[dict], found: list) -> list[tuple[dict, object | None]]:
    pairs = []
    unused = list(found)
    for t in truth:
        best = None
        mid_x = (t["head_x"] + t["tail_x"]) / 2
        mid_y = (t["head_y"] + t["tail_y"]) / 2
        for f in unused:
            if f.track != t["track"]:
                continue
            distance = math.hypot(f.x - mid_x, f.y - mid_y)
            if distance < t["length_m"] / 2 + 100 and (best is None or distance < best[0]):
                best = (distance, f)
        if best:
            unused.remove(best[1])
        pairs.append((t, best[1] if best else None))
    return pairs


def _count_stats(group: list[Row], ground: str, mean_count: float) -> dict | None:
    measured = [r for r in group if r.by_ground[ground].cars is not None]
    if not measured:
        return None
    truth = np.array([r.truth_cars for r in measured], dtype=float)
    est = np.array([r.by_ground[ground].cars for r in measured], dtype=float)
    own = np.array([np.nan if r.self_cars is None else r.self_cars for r in measured])
    covered = np.mean([r.by_ground[ground].interval[0] <= r.truth_cars
                       <= r.by_ground[ground].interval[1] for r in measured])
    return {"n": len(measured), "unknown": len(group) - len(measured),
            "truth": float(truth.mean()), "mae": float(np.mean(np.abs(est - truth))),
            "bias": float(np.mean(est - truth)),
            "mean": float(np.mean(np.abs(mean_count - truth))),
            "zero": float(np.mean(truth)),
            "self": float(np.nanmean(np.abs(own - truth))) if np.isfinite(own).any() else math.nan,
            "covered": float(covered)}


def _target(stats: dict) -> str:
    if stats["truth"] >= 20:
        return "ok" if stats["mae"] <= 0.15 * stats["truth"] else "MISS"
    return "ok" if stats["mae"] <= 3 else "MISS"


def count_table(rows: list[Row], ground: str) -> None:
    counting = [r for r in rows if r.kind == "count" and ground in r.by_ground]
    print(f"\n## Car-equivalents per site, ground = {ground} "
          "(truth: stock over couplers inside the AOI / car length, moving or not)")
    print("target: MAE <= 15 % of the mean count, or <= 3 cars where fewer than 20 stand")
    print(f"{'site':15} {'condition':14} {'n':>3} {'truth':>6} {'MAE':>7} {'rel':>6} {'bias':>7} "
          f"{'MAE mean':>8} {'MAE 0':>7} {'MAE self':>8} {'in CI':>6} {'unkn':>4}  target")
    for site in sorted({r.site for r in counting}):
        site_rows = [r for r in counting if r.site == site]
        mean_count = float(np.mean([r.truth_cars for r in site_rows]))
        for cond in (*CONDITIONS, "all"):
            group = site_rows if cond == "all" else [r for r in site_rows if r.condition == cond]
            if not group:
                continue
            stats = _count_stats(group, ground, mean_count)
            if stats is None:
                print(f"{site:15} {cond:14} {len(group):3d} {'':>6} all unknown ({len(group)})")
                continue
            rel = (f"{stats['mae'] / stats['truth']:6.1%}" if stats["truth"] >= 1
                   else f"{'-':>6}")
            print(f"{site:15} {cond:14} {stats['n']:3d} {stats['truth']:6.1f} {stats['mae']:7.2f} "
                  f"{rel} {stats['bias']:+7.2f} {stats['mean']:8.2f} {stats['zero']:7.2f} "
                  f"{stats['self']:8.2f} {stats['covered']:6.0%} {stats['unknown']:4d}  "
                  f"{_target(stats)}")
    print("MAE mean = 'always the site's mean count' (an oracle mean); MAE 0 = 'always 0'; "
          "MAE self = the detector without history.")


def breakdown_table(rows: list[Row]) -> None:
    counting = [r for r in rows if r.kind == "count" and {"oracle", "history"} <= set(r.by_ground)]
    if not counting:
        return
    print("\n## Where the counting error comes from (scenes measured with both grounds)")
    print("estimator = MAE against the oracle ground; reference = the extra error of the history")
    print(f"{'site':15} {'condition':14} {'n':>3} {'truth':>6} {'oracle MAE':>10} {'bias':>7} "
          f"{'history MAE':>11} {'bias':>7} {'ref. error':>10}")
    for site in sorted({r.site for r in counting}):
        site_rows = [r for r in counting if r.site == site]
        for cond in (*CONDITIONS, "all"):
            group = site_rows if cond == "all" else [r for r in site_rows if r.condition == cond]
            group = [r for r in group if r.by_ground["oracle"].cars is not None
                     and r.by_ground["history"].cars is not None]
            if not group:
                continue
            truth = np.array([r.truth_cars for r in group], dtype=float)
            oracle = np.array([r.by_ground["oracle"].cars for r in group]) - truth
            history = np.array([r.by_ground["history"].cars for r in group]) - truth
            print(f"{site:15} {cond:14} {len(group):3d} {truth.mean():6.1f} "
                  f"{np.abs(oracle).mean():10.2f} {oracle.mean():+7.2f} "
                  f"{np.abs(history).mean():11.2f} {history.mean():+7.2f} "
                  f"{np.abs(history).mean() - np.abs(oracle).mean():+10.2f}")


def motion_table(rows: list[Row]) -> None:
    ground = "history" if any("history" in r.by_ground for r in rows) else "oracle"
    motion = [r for r in rows if ground in r.by_ground]
    print(f"\n## Moving trains, ground = {ground} (injected trains and the scenes' own; "
          "scenes without trains for false alarms)")
    pairs = []
    false = 0
    for r in motion:
        found = r.by_ground[ground].found
        matched = match_trains(r.truth_trains, found)
        false += len(found) - sum(1 for _, f in matched if f)
        for t, f in matched:
            if r.clouded_tracks.get(t["track"], 0.0) <= 0.05:
                pairs.append((t, f, r))
    empty = [r for r in motion if r.kind == "empty"]
    false_empty = sum(len(r.by_ground[ground].found) for r in empty)
    print(f"{'metric':52} {'detector':>10} {'no train moves':>15}")
    for low, high in ((0, 4), (4, 8), (8, 12), (12, 20), (20, 31)):
        band = [(t, f) for t, f, _ in pairs if low <= t["speed_mps"] < high]
        if band:
            found = sum(f is not None for _, f in band)
            print(f"{f'recall {low}-{high} m/s (n={len(band)})':52} {found / len(band):10.1%} "
                  f"{0:15.1%}")
    fast = [(t, f, r) for t, f, r in pairs if t["speed_mps"] >= 8]
    recall = sum(f is not None for _, f, _ in fast) / max(1, len(fast))
    print(f"{f'recall >= 8 m/s (n={len(fast)}, target >= 90 %)':52} {recall:10.1%} {0:15.1%}")
    for site in sorted({r.site for _, _, r in fast}):
        mine = [f for _, f, r in fast if r.site == site]
        print(f"{f'  on {site} (n={len(mine)})':52} "
              f"{sum(f is not None for f in mine) / len(mine):10.1%} {0:15.1%}")
    print(f"{f'false moving trains / 100 train-free scenes (n={len(empty)})':52} "
          f"{100 * false_empty / max(1, len(empty)):10.2f} {0:15.2f}")
    print(f"{f'unmatched detections / 100 scenes (all, n={len(motion)})':52} "
          f"{100 * false / max(1, len(motion)):10.2f} {0:15.2f}")
    faster = [(t, f) for t, f, _ in fast if t["speed_mps"] >= 10 and f is not None]
    direction = sum(f.direction == t["direction"] for t, f in faster) / max(1, len(faster))
    print(f"{f'direction right >= 10 m/s (n={len(faster)}, target >= 95 %)':52} "
          f"{direction:10.1%} {'-':>15}")
    errors = [abs(f.speed_mps - t["speed_mps"]) for t, f, _ in pairs if f is not None]
    print(f"{f'speed MAE, found trains (n={len(errors)}, target <= 3)':52} "
          f"{np.mean(errors) if errors else math.nan:10.2f} {'-':>15}")
    fast_errors = [abs(f.speed_mps - t["speed_mps"]) for t, f, _ in fast if f is not None]
    print(f"{'speed MAE, found trains >= 8 m/s':52} "
          f"{np.mean(fast_errors) if fast_errors else math.nan:10.2f} {'-':>15}")


def speed_table(rows: list[Row]) -> None:
    print("\n## Speed (ms per scene, one core; the first scene of a site includes its one-off plan)")
    for site in sorted({r.site for r in rows}):
        times = np.array([e.ms for r in rows if r.site == site for e in r.by_ground.values()])
        print(f"{site:15} median {np.median(times):6.1f} ms   p95 {np.percentile(times, 95):6.1f} ms"
              f"   max {times.max():7.1f} ms   n={times.size}")


def main(argv: list[str] | None = None) -> int:
    # As the command line runs it (``railwatch.cli``): one BLAS thread per process.
    threadpool_limits(limits=1, user_api="blas")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--scenes", type=int, default=14, help="counting scenes per site and seed")
    parser.add_argument("--motion", type=int, default=25,
                        help="scenes with an injected train (and as many without) per site and seed")
    parser.add_argument("--wet", type=int, default=2,
                        help="clear counting scenes per site and seed also measured after rain")
    parser.add_argument("--sites", nargs="+", default=[c[0] for c in CASES])
    parser.add_argument("--ground", nargs="+", choices=("history", "oracle"),
                        default=["history", "oracle"])
    parser.add_argument("--history-policy", choices=("record", "window"), default="record",
                        help="record: the pipeline's policy; window: the old +-90 days")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override DetectSettings fields (diagnostics)")
    parser.add_argument("--no-self", action="store_true", help="skip the no-history baseline")
    args = parser.parse_args(argv)
    global SETTINGS
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        current = getattr(SETTINGS, name)
        overrides[name] = (value.lower() in ("1", "true", "yes") if isinstance(current, bool)
                           else type(current or 0.0)(value))
    SETTINGS = replace(DetectSettings(), **overrides)
    rows: list[Row] = []
    for site_id, scenario in CASES:
        if site_id not in args.sites:
            continue
        for seed in args.seeds:
            started = time.perf_counter()
            rows.extend(run_case(site_id, scenario, seed, args))
            print(f"{site_id} seed {seed}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for ground in args.ground:
        count_table(rows, ground)
    breakdown_table(rows)
    if args.motion:
        motion_table(rows)
    speed_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
