"""The report: one self-contained HTML file per site (English or Arabic), and data exports.

``render_report``/``write_report`` read a site's passes from the store, analyse them
(:mod:`railwatch.timeseries`) and lay out the evidence: a one-sentence headline with numbers,
charts with the baseline band, anomalies and change points, image chips, published figures,
claims, every pass, and provenance.  ``export_series`` writes the same series as GeoJSON, CSV or
Parquet.
"""

from railwatch.report.build import (
    PublishedCount,
    ReportRequest,
    check_output_path,
    published_counts,
    render_report,
    write_report,
)
from railwatch.report.export import EXPORT_FORMATS, default_export_path, export_series, pass_rows
from railwatch.report.i18n import LANGUAGES, Localizer

__all__ = [
    "EXPORT_FORMATS",
    "LANGUAGES",
    "Localizer",
    "PublishedCount",
    "ReportRequest",
    "check_output_path",
    "default_export_path",
    "export_series",
    "pass_rows",
    "published_counts",
    "render_report",
    "write_report",
]
