"""Image chips: the pixels behind a number, enlarged, with what the detector saw drawn on them.

A chip is made from a :class:`railwatch.imagery.Scene` (reflectance bands on the site's UTM grid):
true colour with one fixed brightness stretch for every chip, so that chips compare; cropped to
the tracks with a margin; enlarged without smoothing (each 10 m pixel stays a square); tracks
drawn with their car-equivalents and moving trains as arrows along their heading.  The scene is
read again from the STAC item the scan recorded; when that is not possible the chip says why.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import patheffects

from railwatch.errors import RailwatchError
from railwatch.imagery import Scene
from railwatch.report.charts import plt
from railwatch.report.i18n import Localizer
from railwatch.sites import Site
from railwatch.timeseries import Pass

__all__ = ["Chip", "ITEM_HREF_KEYS", "chip_image", "item_href", "load_scene", "make_chip"]

# Reflectance that maps to full brightness, and the display gamma: a common true-colour rendering
# of Sentinel-2 L2A (bright surfaces near 0.3 saturate, dark vegetation stays readable).
FULL_BRIGHTNESS = 0.30
GAMMA = 1.0 / 1.4
MARGIN_M = 150.0
SATURATED_SHARE = 0.25
# Where the scan records the STAC item of a scene (SceneRow.metadata), in order of preference.
ITEM_HREF_KEYS = ("item_href", "href", "item")
TRACK_COLOUR = "#ffd400"
TRAIN_COLOUR = "#ff3b30"


@dataclass(frozen=True)
class Chip:
    """One chip for the report: the pass it shows, its image (or why there is none)."""

    pass_: Pass
    role: str  # "key" or "baseline"
    image: str | None  # PNG data URI
    missing_reason: str | None = None
    own_stretch: bool = False  # too bright for the common stretch (snow): stretched on its own


def item_href(pass_: Pass) -> str | None:
    """Where the STAC item of a pass is, as the scan recorded it."""
    return next((pass_.metadata[k] for k in ITEM_HREF_KEYS
                 if isinstance(pass_.metadata.get(k), str)), None)


def load_scene(pass_: Pass, site: Site) -> tuple[Scene | None, str | None]:
    """Read the scene of a pass again from its STAC item; (None, reason) if that cannot be done."""
    href = item_href(pass_)
    if href is None:
        return None, "the store does not record where the scene's STAC item is"
    from railwatch.imagery import read_item

    try:
        return read_item(href, site), None
    except (RailwatchError, OSError) as err:
        return None, str(err).splitlines()[0][:200]


def true_colour(stack: np.ndarray) -> tuple[np.ndarray, bool]:
    """(rows, cols, 3) reflectance -> RGB in 0..1 and whether the chip needed its own stretch.

    The common stretch lets chips be compared; a scene where most pixels would saturate under it
    (snow) is stretched to its own 99th percentile instead, and says so."""
    missing = ~np.isfinite(stack).all(axis=2)
    values = np.nan_to_num(stack, nan=0.0)
    full = FULL_BRIGHTNESS
    own = bool((values[~missing] >= FULL_BRIGHTNESS).mean() > SATURATED_SHARE) if (~missing).any() \
        else False
    if own:
        full = float(np.percentile(values[~missing], 99))
    rgb = np.clip(values / full, 0.0, 1.0) ** GAMMA
    rgb[missing] = 0.5
    return rgb, own


def _focus_tracks(site: Site) -> list[Any]:
    """The tracks where rolling stock stands (yards, sidings, ports), else every track: a chip
    of a long main line would shrink the yard to a few pixels."""
    standing = [site.tracks_utm[t.id] for t in site.tracks if t.kind in ("yard", "siding", "port")]
    return standing or list(site.tracks_utm.values())


def _window(scene: Scene, site: Site) -> tuple[slice, slice]:
    """Rows and columns of the tracks' bounding box plus a margin, inside the scene."""
    lines = _focus_tracks(site)
    west = min(line.bounds[0] for line in lines) - MARGIN_M
    south = min(line.bounds[1] for line in lines) - MARGIN_M
    east = max(line.bounds[2] for line in lines) + MARGIN_M
    north = max(line.bounds[3] for line in lines) + MARGIN_M
    inverse = ~scene.transform
    # Keep the chip at least half as tall as it is wide, so a long straight yard stays legible.
    height, width = abs(north - south), abs(east - west)
    if height < width / 2:
        pad = (width / 2 - height) / 2
        north, south = north + pad, south - pad
    col0, row0 = inverse @ (west, north)
    col1, row1 = inverse @ (east, south)
    rows, cols = scene.shape
    r0, r1 = max(0, math.floor(min(row0, row1))), min(rows, math.ceil(max(row0, row1)))
    c0, c1 = max(0, math.floor(min(col0, col1))), min(cols, math.ceil(max(col0, col1)))
    if r1 - r0 < 4 or c1 - c0 < 4:
        return slice(0, rows), slice(0, cols)
    return slice(r0, r1), slice(c0, c1)


def chip_image(scene: Scene, site: Site, pass_: Pass, loc: Localizer, *,
               width_px: int = 520) -> tuple[str, bool]:
    """The enlarged, annotated true-colour chip of ``pass_`` as a PNG data URI, and whether it
    has its own stretch."""
    rows, cols = _window(scene, site)
    stack = np.dstack([scene.bands["red"], scene.bands["green"], scene.bands["blue"]])
    rgb, own_stretch = true_colour(stack[rows, cols])
    transform = scene.transform
    left, top = transform @ (cols.start, rows.start)
    right, bottom = transform @ (cols.stop, rows.stop)
    height_px = max(120, round(width_px * rgb.shape[0] / max(1, rgb.shape[1])))
    dpi = 100
    with plt.rc_context({"font.family": ["DejaVu Sans"], "text.language": loc.lang}):
        figure = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        axis = figure.add_axes((0, 0, 1, 1))
        axis.imshow(rgb, extent=(left, right, bottom, top), interpolation="nearest")
        _draw_tracks(axis, site, pass_.tracks, loc)
        _draw_trains(axis, pass_)
        axis.set_xlim(left, right)
        axis.set_ylim(bottom, top)
        axis.set_axis_off()
        _scale_bar(axis, left, right, bottom, top, loc)
        if pass_.simulated:
            axis.text(0.02, 0.97, loc.t("simulated_mark"), transform=axis.transAxes,
                      color="white", fontsize=11, weight="bold", va="top",
                      ha="left", bbox={"facecolor": "#c0392b", "alpha": 0.8, "lw": 0})
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        plt.close(figure)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return uri, own_stretch


def _draw_tracks(axis: Any, site: Site, counts: Mapping[str, float], loc: Localizer) -> None:
    labelled = [t for t in site.tracks_utm if (counts.get(t) or 0.0) >= 0.5]
    for track_id, line in site.tracks_utm.items():
        xs, ys = line.xy
        # Thin and dashed: the rolling stock under the line must stay visible.
        axis.plot(xs, ys, color=TRACK_COLOUR, lw=0.8, alpha=0.7, ls=(0, (3, 3)))
        if track_id in labelled:
            # Parallel yard tracks lie metres apart: stagger the labels along them.
            index = labelled.index(track_id)
            where = 0.15 + 0.7 * index / max(1, len(labelled) - 1)
            anchor = line.interpolate(where, normalized=True)
            value = counts[track_id]
            axis.annotate(loc.count(value), (anchor.x, anchor.y), xytext=(0, 10 + 12 * (index % 2)),
                          ha="center", arrowprops={"arrowstyle": "-", "color": TRACK_COLOUR,
                                                   "lw": 0.8},
                          textcoords="offset points", color="black", fontsize=9, weight="bold",
                          bbox={"facecolor": TRACK_COLOUR, "alpha": 0.85, "lw": 0, "pad": 1.5})


def _draw_trains(axis: Any, pass_: Pass) -> None:
    for train in pass_.moving_trains:
        if train.x is None or train.y is None or train.heading_deg is None:
            continue
        heading = math.radians(train.heading_deg)
        length = max(train.length_m or 0.0, 80.0)
        dx, dy = math.sin(heading) * length, math.cos(heading) * length
        axis.annotate("", xy=(train.x + dx / 2, train.y + dy / 2),
                      xytext=(train.x - dx / 2, train.y - dy / 2),
                      arrowprops={"arrowstyle": "-|>", "color": TRAIN_COLOUR, "lw": 2.2,
                                  "mutation_scale": 14})


def _scale_bar(axis: Any, left: float, right: float, bottom: float, top: float,
               loc: Localizer) -> None:
    span = right - left
    length = next(n for n in (1000, 500, 200, 100, 50) if n <= span / 3) if span > 150 else 50
    x0 = left + 0.04 * span if not loc.rtl else right - 0.04 * span - length
    y0 = bottom + 0.05 * (top - bottom)
    axis.plot([x0, x0 + length], [y0, y0], color="white", lw=4)
    axis.plot([x0, x0 + length], [y0, y0], color="black", lw=2)
    unit = "م" if loc.rtl else "m"
    axis.text(x0 + length / 2, y0 + 0.02 * (top - bottom), f"{loc.number(length)} {unit}",
              color="white", ha="center", va="bottom", fontsize=10, weight="bold",
              path_effects=[patheffects.withStroke(linewidth=2.5, foreground="black")])


def make_chip(pass_: Pass, site: Site, role: str, loc: Localizer, *,
              scenes: Mapping[str, Scene] | None = None) -> Chip:
    """A chip for ``pass_``: from ``scenes`` when already in memory, else read again from the
    STAC item the scan recorded."""
    scene = (scenes or {}).get(pass_.scene_id)
    reason = None
    if scene is None:
        scene, reason = load_scene(pass_, site)
    if scene is None:
        return Chip(pass_, role, None, reason)
    image, own_stretch = chip_image(scene, site, pass_, loc)
    return Chip(pass_, role, image, own_stretch=own_stretch)
