"""The report's charts, drawn with matplotlib and embedded as SVG data URIs.

SVG keeps the charts sharp on screen and on paper; matplotlib writes glyphs as paths, so a chart
needs no font on the reader's machine.  Arabic labels are shaped and ordered by matplotlib itself
(>= 3.11, through libraqm): reshaping them again with arabic-reshaper/python-bidi would reverse
them twice.  Simulated data is stamped on every chart.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the report is a file

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from railwatch.report.i18n import Localizer  # noqa: E402
from railwatch.timeseries import PASS_STATUSES, SiteSeries  # noqa: E402

__all__ = ["SIMULATED_GID", "PublishedPoint", "crossings_chart", "series_chart", "svg_data_uri"]

COLOURS = {
    "clear": "#1f4e79",
    "anomaly": "#c0392b",
    "baseline": "#b9b9b9",
    "change": "#6c3483",
    "gap": "#eeeeee",
    "snow": "#5dade2",
    "published": "#111111",
    "cloudy": "#9e9e9e",
    "no_data": "#d5d5d5",
    "failed": "#e67e22",
    "pending": "#f4d03f",
}
DIRECTION_COLOURS = ("#1f4e79", "#c0392b", "#117a65", "#7d3c98", "#b7950b")
FONT = ["DejaVu Sans"]  # has Arabic glyphs and ships with matplotlib
SIMULATED_GID = "railwatch-simulated"  # the SVG element id of the "simulated" stamp


@dataclass(frozen=True)
class PublishedPoint:
    """A published figure to plot beside the series: a date, a number of cars, who said it."""

    day: date
    cars: float
    source: str


def _short(name: str, limit: int = 48) -> str:
    """A site name short enough for a chart title (the full name heads the report)."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def svg_data_uri(figure: Figure) -> str:
    """Render a figure as a self-contained SVG data URI and close it."""
    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": "railwatch", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _style(loc: Localizer) -> dict[str, Any]:
    return {
        "font.family": FONT,
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": loc.rtl,
        "axes.spines.left": not loc.rtl,
        "text.language": loc.lang,
    }


def _stamp_simulated(figure: Figure, loc: Localizer) -> None:
    figure.text(0.5, 0.5, loc.t("simulated_mark"), fontsize=54, color="#c0392b", alpha=0.12,
                rotation=20, ha="center", va="center", weight="bold", zorder=0, gid=SIMULATED_GID)


def _date_axis(axis: plt.Axes, loc: Localizer, start: date, end: date) -> None:
    months = (end.year - start.year) * 12 + end.month - start.month
    if months >= 2:
        axis.xaxis.set_major_locator(mdates.MonthLocator(interval=max(1, math.ceil(months / 9))))
        axis.xaxis.set_major_formatter(FuncFormatter(
            lambda value, _: loc.month(mdates.num2date(value).date(), short=True,
                                       two_lines=True)))
    else:
        axis.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
        axis.xaxis.set_major_formatter(FuncFormatter(
            lambda value, _: loc.day(mdates.num2date(value).date())))
    axis.set_xlim(_moment(start), _moment(end + timedelta(days=1)))


def _moment(day: date) -> float:
    """A day's start as a matplotlib date number."""
    return _x(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _x(moment: datetime) -> float:
    return float(mdates.date2num(moment))


def _number_axis(axis: plt.Axes, loc: Localizer) -> None:
    axis.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: loc.number(value)))
    if loc.rtl:
        axis.yaxis.tick_right()
        axis.yaxis.set_label_position("right")


def series_chart(series: SiteSeries, loc: Localizer, site_name: str,
                 published: Sequence[PublishedPoint] = ()) -> str:
    """Car-equivalents per clear pass with intervals, the baseline band, anomalies, change
    points, months without a clear pass and snow-covered passes; as an SVG data URI."""
    with plt.rc_context(_style(loc)):  # type: ignore[arg-type]
        figure, axis = plt.subplots(figsize=(10, 4.2))
        start, end = series.period.start, series.period.end
        for summary in series.months:
            if summary.clear_passes == 0:
                month_end = (summary.month.replace(day=28) + timedelta(days=4)).replace(day=1)
                axis.axvspan(_moment(max(summary.month, start)), _moment(min(month_end, end)),
                             color=COLOURS["gap"], zorder=0, lw=0, label=loc.t("chart_gap"))
        baseline = series.baseline
        if baseline is not None:
            axis.axhspan(baseline.minimum, baseline.maximum, color=COLOURS["baseline"], alpha=0.35,
                         lw=0, zorder=1, label=loc.t("chart_baseline"))
            axis.axhline(baseline.maximum, color="#6e6e6e", lw=1, ls=(0, (4, 2)), zorder=1,
                         label=loc.t("chart_baseline_max"))
            axis.axvspan(_moment(max(baseline.period.start, start)),
                         _moment(min(baseline.period.end, end) + timedelta(days=1)),
                         ymin=0, ymax=0.025, color="#8c8c8c", lw=0, zorder=2,
                         label=loc.t("chart_baseline_period"))
        clear = series.clear_passes
        standing_out = {a.scene_id for a in series.anomalies}
        for group, colour, label in (
            ([p for p in clear if p.scene_id not in standing_out], COLOURS["clear"],
             loc.t("chart_clear")),
            ([p for p in clear if p.scene_id in standing_out], COLOURS["anomaly"],
             loc.t("chart_anomaly")),
        ):
            if not group:
                continue
            values = [float(p.car_equivalents or 0.0) for p in group]
            lows = [v - (p.low if p.low is not None else v) for p, v in zip(group, values, strict=True)]
            highs = [(p.high if p.high is not None else v) - v for p, v in zip(group, values, strict=True)]
            axis.errorbar([_x(p.when) for p in group], values, yerr=[lows, highs], fmt="o",
                          ms=4.5, color=colour, ecolor=colour, elinewidth=1, capsize=2,
                          zorder=4, label=label)
        snowy = [p for p in clear if p.snow]
        if snowy:
            axis.scatter([_x(p.when) for p in snowy], [float(p.car_equivalents or 0.0) for p in snowy],
                         marker="*",
                         s=90, facecolor="none", edgecolor=COLOURS["snow"], zorder=5,
                         label=loc.t("chart_snow"))
        for index, change in enumerate(series.change_points):
            axis.axvline(_x(change.when), color=COLOURS["change"], lw=1.2, ls="--", zorder=3,
                         label=loc.t("chart_change") if index == 0 else None)
        shown = [p for p in published if start <= p.day <= end]
        if shown:
            axis.scatter([_moment(p.day) + 0.5 for p in shown],
                         [p.cars for p in shown], marker="D", s=40, color=COLOURS["published"],
                         zorder=6, label=loc.t("chart_published"))
        axis.set_ylim(bottom=0)
        _date_axis(axis, loc, start, end)
        _number_axis(axis, loc)
        axis.set_ylabel(loc.t("chart_y"))
        title = loc.t("chart_title", site=_short(site_name))
        axis.set_title(title, loc="right" if loc.rtl else "left", fontsize=11)
        handles, labels = axis.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        # Below the plot: inside it, the legend would hide the very passes that stand out.
        axis.legend(unique.values(), unique.keys(), loc="upper center",
                    bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False, ncols=5,
                    markerfirst=not loc.rtl)
        axis.grid(axis="y", color="#e5e5e5", lw=0.8)
        if series.simulated:
            _stamp_simulated(figure, loc)
        return svg_data_uri(figure)


def crossings_chart(series: SiteSeries, loc: Localizer, site_name: str) -> str:
    """Two panels per month: moving trains seen by direction; passes by status."""
    months = series.months
    directions = series.directions
    with plt.rc_context(_style(loc)):  # type: ignore[arg-type]
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.8), sharex=True,
                                             height_ratios=(3, 2))
        positions = list(range(len(months)))
        width = 0.8 / max(1, len(directions))
        for index, direction in enumerate(directions):
            offset = (index - (len(directions) - 1) / 2) * width
            top.bar([x + offset for x in positions],
                    [m.crossings.get(direction, 0) for m in months], width=width,
                    color=DIRECTION_COLOURS[index % len(DIRECTION_COLOURS)],
                    label=loc.direction(direction))
        if directions:
            top.legend(fontsize=8, frameon=False, loc="upper left" if loc.rtl else "upper right",
                       markerfirst=not loc.rtl)
        top.set_ylabel(loc.t("chart_crossings_y"))
        top.set_title(loc.t("chart_crossings_title", site=_short(site_name)),
                      loc="right" if loc.rtl else "left", fontsize=11)
        bottoms = [0] * len(months)
        for status in PASS_STATUSES:
            counts = [m.statuses.get(status, 0) for m in months]
            if not any(counts):
                continue
            bottom.bar(positions, counts, bottom=bottoms, width=0.8, color=COLOURS[status],
                       label=loc.status(status))
            bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
        snowy = [(x, b) for x, b, m in zip(positions, bottoms, months, strict=True) if m.snow_passes]
        if snowy:
            bottom.scatter([x for x, _ in snowy], [b + 0.6 for _, b in snowy], marker="*", s=50,
                           color=COLOURS["snow"], label=loc.t("chart_snow"), zorder=3)
        bottom.legend(fontsize=8, frameon=False, ncols=5, markerfirst=not loc.rtl,
                      loc="upper left" if loc.rtl else "upper right")
        bottom.set_ylabel(loc.t("chart_passes_y"))
        bottom.set_ylim(top=max(bottoms, default=0) * 1.6 + 1)
        bottom.set_title(loc.t("chart_passes_title"), loc="right" if loc.rtl else "left",
                         fontsize=9)
        step = max(1, math.ceil(len(months) / 12))
        bottom.set_xticks(positions[::step],
                          [loc.month(m.month, short=True, two_lines=True) for m in months[::step]])
        for axis in (top, bottom):
            _number_axis(axis, loc)
            axis.grid(axis="y", color="#e5e5e5", lw=0.8)
        if series.simulated:
            _stamp_simulated(figure, loc)
        return svg_data_uri(figure)
