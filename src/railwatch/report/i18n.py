"""The report's words and numbers in English and Arabic.

Every label the report shows comes from :data:`STRINGS`; numbers and dates go through a
:class:`Localizer` so that the Arabic report uses Eastern Arabic digits (٠-٩) with the Arabic
thousands (٬) and decimal (٫) separators, and Arabic month names.  The strings are ours (trusted):
values put into them are escaped by :meth:`Localizer.html`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup, escape

__all__ = ["LANGUAGES", "STRINGS", "Localizer"]

LANGUAGES = ("en", "ar")

_EASTERN_DIGITS = str.maketrans("0123456789,.-", "٠١٢٣٤٥٦٧٨٩٬٫-")
# U+2212 MINUS SIGN would be more correct typographically but many Arabic fonts lack it; the
# ASCII hyphen renders everywhere.

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
    # The names used across Egypt and the Gulf (and by most pan-Arab outlets).
    "ar": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
           "أكتوبر", "نوفمبر", "ديسمبر"),
}
MONTHS_SHORT_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                   "Dec")

COUNTRIES = {
    "en": {"RU": "Russia", "KP": "North Korea", "CN": "China", "KR": "South Korea"},
    "ar": {"RU": "روسيا", "KP": "كوريا الشمالية", "CN": "الصين", "KR": "كوريا الجنوبية"},
}

# Claims taxonomy (CONTRACTS.md) in the reader's words.
ITEMS = {
    "en": {"freight_cars": "freight cars", "containers": "containers",
           "artillery_shells": "artillery shells", "missiles": "missiles",
           "artillery_systems": "artillery systems", "troops": "troops",
           "casualties": "casualties", "ships": "ships", "trains": "trains"},
    "ar": {"freight_cars": "عربات شحن", "containers": "حاويات", "artillery_shells": "قذائف مدفعية",
           "missiles": "صواريخ", "artillery_systems": "منظومات مدفعية", "troops": "جنود",
           "casualties": "ضحايا", "ships": "سفن", "trains": "قطارات"},
}
QUALIFIERS = {
    "en": {"about": "about", "at_least": "at least", "more_than": "more than",
           "at_most": "at most", "less_than": "less than", "up_to": "up to",
           "estimate": "an estimated"},
    "ar": {"about": "نحو", "at_least": "ما لا يقل عن", "more_than": "أكثر من",
           "at_most": "على الأكثر", "less_than": "أقل من", "up_to": "حتى",
           "estimate": "ما يقدر بـ"},
}

STRINGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "railwatch report: {site}",
        "generated": "Generated {when} by railwatch {version}.",
        "simulated_banner": "SIMULATED DATA — these images and counts come from railwatch's "
                            "simulator, not from a satellite.",
        "simulated_mark": "SIMULATED",
        "headline": "Headline",
        "headline_anomaly": "On {date} railwatch counted {value} car-equivalents (interval {low}–{high}) "
                            "in {site}, above the baseline maximum of {max} ({period}).",
        "headline_anomaly_noint": "On {date} railwatch counted {value} car-equivalents in {site}, "
                                  "above the baseline maximum of {max} ({period}).",
        "headline_z_only": "On {date} railwatch counted {value} car-equivalents in {site}, "
                           "{z} robust standard deviations above the baseline median of {median} "
                           "({period}).",
        "headline_quiet": "Across {clear} clear passes from {start} to {end} railwatch counted "
                          "between {min} and {max} car-equivalents in {site}; no pass after the "
                          "baseline ({period}) stood out against it.",
        "headline_nobaseline": "Across {clear} clear passes from {start} to {end} railwatch "
                               "counted between {min} and {max} car-equivalents in {site}; "
                               "there are too few clear passes for a baseline.",
        "headline_noclear": "No clear pass of {site} between {start} and {end}: {passes} passes "
                            "were cloudy, empty or failed, so nothing can be counted.",
        "headline_trains": " Moving trains seen on passes since {date}: {list}.",
        "headline_trains_none": " No moving train was seen on passes since {date}.",
        "trains_towards": "{count} towards {country}",
        "and": " and ",
        "list_sep": ", ",
        "section_series": "Car-equivalents per clear pass",
        "series_explain": "Each dot is one clear Sentinel-2 pass with its interval. The grey band "
                          "is the baseline range ({period}, {passes} clear passes, median {median}, "
                          "maximum {max}); red dots stand out against it; dashed lines are change "
                          "points. Shaded months had no clear pass; snowflake markers are passes "
                          "with snow on the tracks.",
        "baseline_default_full_years": "Default baseline: the first full calendar years of data.",
        "baseline_default_first_half": "Default baseline: the first half of the period (less than "
                                       "a full year precedes the last year of data).",
        "baseline_user": "Baseline chosen by the analyst.",
        "baseline_missing": "No baseline level: the baseline period {period} holds {clear} clear "
                            "passes and at least {needed} are needed.",
        "section_anomalies": "Passes that stand out",
        "anomalies_none": "No pass after the baseline exceeds its maximum or a robust z-score of "
                          "{z}.",
        "section_changes": "Change points",
        "change_line": "From {date} the level moved from {before} to {after} car-equivalents.",
        "changes_none": "No change in level was found.",
        "section_crossings": "Moving trains by direction, and passes by status, per month",
        "crossings_explain": "A moving train is seen only if it was moving at the instant of a "
                             "pass: these are sightings, not a count of every crossing.",
        "section_chips": "The images behind the numbers",
        "chips_explain": "True colour, enlarged, with the same brightness stretch on every chip; "
                         "tracks are drawn with their car-equivalents, moving trains as arrows.",
        "chips_none": "No imagery could be read for these passes: {reason}.",
        "chip_key": "Key date",
        "chip_baseline": "Baseline (clear)",
        "chip_own_stretch": "A bright (snowy) scene: stretched to its own brightness, not the common one.",
        "chip_missing": "No image for {date}: {reason}.",
        "section_published": "Published figures for comparison",
        "published_none": "No published figures are recorded for this site.",
        "section_claims": "What was claimed, beside the imagery",
        "claims_none": "No claims in the store.",
        "section_passes": "Every pass",
        "section_provenance": "Provenance",
        "prov_scenes": "Scenes",
        "prov_platforms": "Platforms",
        "prov_baselines": "Processing baselines",
        "prov_detectors": "Detector versions",
        "prov_simulated": "Simulated imagery",
        "prov_period": "Period",
        "prov_store": "Store",
        "yes": "yes",
        "no": "no",
        "col_date": "Date",
        "col_scene": "Scene",
        "col_status": "Status",
        "col_count": "Car-equivalents",
        "col_interval": "Interval",
        "col_visible": "Tracks visible",
        "col_trains": "Moving trains",
        "col_note": "Note",
        "col_site": "Site",
        "col_observation": "Observation",
        "col_cars": "Cars",
        "col_imagery": "Imagery",
        "col_source": "Source",
        "col_item": "Item",
        "col_value": "Figure",
        "col_asserted_by": "Said by",
        "col_published": "Published",
        "col_outlet": "Document",
        "col_quote": "Quote",
        "col_sources": "Documents",
        "col_change": "Change",
        "change_first": "first",
        "change_up": "up",
        "change_down": "down",
        "change_same": "same",
        "denied_by": "denied by {who}",
        "col_z": "Robust z",
        "col_reason": "Why",
        "reason_above_max": "above the baseline maximum",
        "reason_interval_above": "whole interval above the baseline maximum",
        "reason_z": "robust z-score ≥ {z}",
        "status_clear": "clear",
        "status_cloudy": "cloudy",
        "status_no_data": "no data",
        "status_failed": "failed",
        "status_pending": "pending",
        "snow": "snow",
        "direction_towards": "towards {country}",
        "direction_unknown": "direction unknown",
        "chart_y": "car-equivalents",
        "chart_baseline": "baseline range",
        "chart_baseline_max": "baseline maximum",
        "chart_baseline_period": "baseline period",
        "chart_clear": "clear pass (interval)",
        "chart_anomaly": "stands out",
        "chart_change": "change point",
        "chart_gap": "no clear pass",
        "chart_snow": "snow on tracks",
        "chart_published": "published count",
        "chart_crossings_y": "trains seen",
        "chart_passes_y": "passes",
        "chart_title": "{site}: car-equivalents per clear pass",
        "chart_crossings_title": "{site}: moving trains by direction per month",
        "chart_passes_title": "passes per month by status",
        "alt_series": "Chart of car-equivalents per clear pass over time, with the baseline band.",
        "alt_crossings": "Bar charts of moving trains by direction and of passes by status per "
                         "month.",
    },
    "ar": {
        "title": "تقرير railwatch: {site}",
        "generated": "أُعدّ في {when} بواسطة railwatch {version}.",
        "simulated_banner": "بيانات محاكاة — هذه الصور والأعداد صادرة عن محاكي railwatch، "
                            "وليست من قمر صناعي.",
        "simulated_mark": "محاكاة",
        "headline": "الخلاصة",
        "headline_anomaly": "في {date} أحصى railwatch {value} مكافئ عربة (المجال {low}–{high}) "
                            "في {site}، وهو أعلى من الحد الأقصى لفترة الأساس البالغ {max} ({period}).",
        "headline_anomaly_noint": "في {date} أحصى railwatch {value} مكافئ عربة في {site}، وهو أعلى "
                                  "من الحد الأقصى لفترة الأساس البالغ {max} ({period}).",
        "headline_z_only": "في {date} أحصى railwatch {value} مكافئ عربة في {site}، أي أعلى من "
                           "وسيط فترة الأساس ({median}) بمقدار {z} انحراف معياري متين ({period}).",
        "headline_quiet": "عبر {clear} مرورًا صافيًا من {start} إلى {end} أحصى railwatch ما بين "
                          "{min} و{max} مكافئ عربة في {site}؛ ولم يبرز أي مرور بعد فترة الأساس "
                          "({period}).",
        "headline_nobaseline": "عبر {clear} مرورًا صافيًا من {start} إلى {end} أحصى railwatch ما "
                               "بين {min} و{max} مكافئ عربة في {site}؛ وعدد المرورات الصافية لا "
                               "يكفي لتحديد فترة أساس.",
        "headline_noclear": "لا يوجد مرور صافٍ فوق {site} بين {start} و{end}: كانت المرورات "
                            "الـ{passes} غائمة أو فارغة أو فاشلة، فلا يمكن العدّ.",
        "headline_trains": " القطارات المتحركة التي رُصدت منذ {date}: {list}.",
        "headline_trains_none": " لم يُرصد أي قطار متحرك منذ {date}.",
        "trains_towards": "{count} باتجاه {country}",
        "and": " و",
        "list_sep": "، ",
        "section_series": "مكافئات العربات في كل مرور صافٍ",
        "series_explain": "كل نقطة مرور صافٍ واحد للقمر Sentinel-2 مع مجاله. الشريط الرمادي هو "
                          "نطاق فترة الأساس ({period}، {passes} مرورًا صافيًا، الوسيط {median}، "
                          "الحد الأقصى {max})؛ النقاط الحمراء بارزة مقارنة به؛ والخطوط المتقطعة "
                          "نقاط تغيّر. الأشهر المظللة لم يكن فيها مرور صافٍ، وعلامات ندفة الثلج "
                          "مرورات غطّى فيها الثلجُ السكك.",
        "baseline_default_full_years": "فترة الأساس الافتراضية: أولى السنوات الكاملة من البيانات.",
        "baseline_default_first_half": "فترة الأساس الافتراضية: النصف الأول من الفترة (لا تسبق "
                                       "السنةَ الأخيرة سنةٌ كاملة من البيانات).",
        "baseline_user": "فترة أساس اختارها المحلل.",
        "baseline_missing": "لا يوجد مستوى أساس: فترة الأساس {period} فيها {clear} من المرورات "
                            "الصافية، والمطلوب {needed} على الأقل.",
        "section_anomalies": "المرورات البارزة",
        "anomalies_none": "لا يتجاوز أي مرور بعد فترة الأساس حدّها الأقصى ولا درجة z متينة "
                          "قدرها {z}.",
        "section_changes": "نقاط التغيّر",
        "change_line": "ابتداءً من {date} انتقل المستوى من {before} إلى {after} مكافئ عربة.",
        "changes_none": "لم يُعثر على تغيّر في المستوى.",
        "section_crossings": "القطارات المتحركة حسب الاتجاه، والمرورات حسب الحالة، في كل شهر",
        "crossings_explain": "لا يُرى القطار المتحرك إلا إذا كان يتحرك لحظة المرور: هذه مشاهدات، "
                             "لا عدٌّ لكل عبور.",
        "section_chips": "الصور التي تستند إليها الأرقام",
        "chips_explain": "ألوان طبيعية مكبّرة، بتمديد السطوع نفسه في كل صورة؛ السكك مرسومة مع "
                         "مكافئات عرباتها، والقطارات المتحركة بأسهم.",
        "chips_none": "تعذّرت قراءة الصور لهذه المرورات: {reason}.",
        "chip_key": "تاريخ رئيسي",
        "chip_baseline": "فترة الأساس (صافٍ)",
        "chip_own_stretch": "مشهد ساطع (ثلجي): مُدّد سطوعه وفق إضاءته الخاصة لا وفق التمديد المشترك.",
        "chip_missing": "لا صورة لتاريخ {date}: {reason}.",
        "section_published": "أرقام منشورة للمقارنة",
        "published_none": "لا أرقام منشورة مسجّلة لهذا الموقع.",
        "section_claims": "ما قيل، إلى جانب الصور",
        "claims_none": "لا ادعاءات في قاعدة البيانات.",
        "section_passes": "كل المرورات",
        "section_provenance": "المصدر والمنشأ",
        "prov_scenes": "المشاهد",
        "prov_platforms": "المنصات",
        "prov_baselines": "خطوط المعالجة الأساسية",
        "prov_detectors": "إصدارات الكاشف",
        "prov_simulated": "صور محاكاة",
        "prov_period": "الفترة",
        "prov_store": "قاعدة البيانات",
        "yes": "نعم",
        "no": "لا",
        "col_date": "التاريخ",
        "col_scene": "المشهد",
        "col_status": "الحالة",
        "col_count": "مكافئ العربات",
        "col_interval": "المجال",
        "col_visible": "السكك المرئية",
        "col_trains": "قطارات متحركة",
        "col_note": "ملاحظة",
        "col_site": "الموقع",
        "col_observation": "المشاهدة",
        "col_cars": "العربات",
        "col_imagery": "الصور",
        "col_source": "المصدر",
        "col_item": "الفئة",
        "col_value": "الرقم",
        "col_asserted_by": "القائل",
        "col_published": "النشر",
        "col_outlet": "الوثيقة",
        "col_quote": "الاقتباس",
        "col_sources": "الوثائق",
        "col_change": "التغيّر",
        "change_first": "أول ذكر",
        "change_up": "ارتفاع",
        "change_down": "انخفاض",
        "change_same": "دون تغيير",
        "denied_by": "نفاه {who}",
        "col_z": "درجة z المتينة",
        "col_reason": "السبب",
        "reason_above_max": "أعلى من الحد الأقصى لفترة الأساس",
        "reason_interval_above": "المجال كله أعلى من الحد الأقصى لفترة الأساس",
        "reason_z": "درجة z المتينة ≥ {z}",
        "status_clear": "صافٍ",
        "status_cloudy": "غائم",
        "status_no_data": "بلا بيانات",
        "status_failed": "فشل",
        "status_pending": "قيد الانتظار",
        "snow": "ثلج",
        "direction_towards": "باتجاه {country}",
        "direction_unknown": "اتجاه غير معروف",
        "chart_y": "مكافئ العربات",
        "chart_baseline": "نطاق فترة الأساس",
        "chart_baseline_max": "الحد الأقصى لفترة الأساس",
        "chart_baseline_period": "فترة الأساس",
        "chart_clear": "مرور صافٍ (مع المجال)",
        "chart_anomaly": "بارز",
        "chart_change": "نقطة تغيّر",
        "chart_gap": "لا مرور صافٍ",
        "chart_snow": "ثلج على السكك",
        "chart_published": "رقم منشور",
        "chart_crossings_y": "قطارات مرصودة",
        "chart_passes_y": "مرورات",
        "chart_title": "{site}: مكافئات العربات في كل مرور صافٍ",
        "chart_crossings_title": "{site}: القطارات المتحركة حسب الاتجاه في كل شهر",
        "chart_passes_title": "المرورات في كل شهر حسب الحالة",
        "alt_series": "رسم بياني لمكافئات العربات في كل مرور صافٍ عبر الزمن، مع شريط فترة الأساس.",
        "alt_crossings": "أعمدة بيانية للقطارات المتحركة حسب الاتجاه وللمرورات حسب الحالة في كل شهر.",
    },
}


@dataclass(frozen=True)
class Localizer:
    """Words, numbers and dates for one language."""

    lang: str

    @property
    def rtl(self) -> bool:
        return self.lang == "ar"

    def t(self, key: str, **values: object) -> str:
        """A plain-text string (for charts and attributes), values formatted as given."""
        return STRINGS[self.lang][key].format(**values)

    def html(self, key: str, **values: object) -> Markup:
        """A string as HTML: our words as they are, each value escaped and isolated in <bdi> so
        that numbers and Latin names keep their order inside Arabic text (and vice versa)."""
        isolated = {name: Markup("<bdi>{}</bdi>").format(value) for name, value in values.items()}
        return Markup(escape(STRINGS[self.lang][key])).format(**isolated)

    def digits(self, text: str) -> str:
        return text.translate(_EASTERN_DIGITS) if self.lang == "ar" else text

    def number(self, value: float | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        return self.digits(f"{value:,.{decimals}f}")

    def count(self, value: float | None) -> str:
        """Car-equivalents: whole numbers, as an analyst would quote them."""
        return self.number(None if value is None else round(value), 0)

    def percent(self, fraction: float | None) -> str:
        if fraction is None:
            return "–"
        return self.digits(f"{100 * fraction:.0f}") + ("٪" if self.lang == "ar" else "%")

    def day(self, day: date) -> str:
        return self.digits(f"{day.day} {MONTHS[self.lang][day.month - 1]} {day.year}")

    def month(self, day: date, *, short: bool = False, two_lines: bool = False) -> str:
        name = MONTHS_SHORT_EN[day.month - 1] if short and self.lang == "en" else \
            MONTHS[self.lang][day.month - 1]
        return self.digits(f"{name}{chr(10) if two_lines else ' '}{day.year}")

    def moment(self, when: datetime) -> str:
        """A day and a UTC time of day, e.g. for when a report was generated."""
        return f"{self.day(when.date())} {self.digits(when.strftime('%H:%M'))} UTC"

    def dated(self, day: date, precision: str) -> str:
        """A date as precise as its source: "October 2023" when only the month was given."""
        if precision == "year":
            return self.digits(str(day.year))
        return self.month(day) if precision == "month" else self.day(day)

    def period(self, start: date, end: date) -> str:
        return f"{self.day(start)} – {self.day(end)}"

    def country(self, code: str) -> str:
        return COUNTRIES[self.lang].get(code, code)

    def direction(self, direction: str) -> str:
        """"towards RU" in the reader's language."""
        prefix = "towards "
        if direction.startswith(prefix):
            return self.t("direction_towards", country=self.country(direction[len(prefix):]))
        return self.t("direction_unknown") if direction == "unknown" else direction

    def status(self, status: str) -> str:
        return self.t(f"status_{status}")

    def item(self, item: str) -> str:
        return ITEMS[self.lang].get(item, item.replace("_", " "))

    def figure(self, value: float, qualifier: str, high: float | None = None) -> str:
        """A claimed figure with its qualifier: "about 7,000", "11,000–12,000"."""
        number = self.number(value, 0 if float(value).is_integer() else 1)
        if high is not None and high != value:
            number += "–" + self.number(high, 0 if float(high).is_integer() else 1)
        word = QUALIFIERS[self.lang].get(qualifier)
        return f"{word} {number}" if word else number

    def join(self, parts: list[str]) -> str:
        if len(parts) <= 1:
            return "".join(parts)
        return self.t("list_sep").join(parts[:-1]) + self.t("and") + parts[-1]
