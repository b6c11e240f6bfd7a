"""``railwatch demo``: the README's first command — the whole chain, offline, on simulated data.

It runs the same code as real work, only the imagery is simulated: the ``tumangang-2023``
scenario is written as a static STAC catalog (``simulate``), found and read from that catalog,
detected and stored (``stac`` + ``pipeline``, as ``railwatch scan --catalog`` does), analysed and
reported in English and Arabic (``report``); with ``--articles`` the articles go through the
claims pipeline into the same store.  Running it again resumes: finished scenes are not redone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from railwatch.cli.options import sites_in
from railwatch.errors import UserInputError
from railwatch.timeseries import Period, parse_date, parse_period

__all__ = ["DEMO_BASELINE", "DEMO_SCENARIO", "DemoResult", "demo", "run_demo"]

DEMO_SITE = "tumangang"
DEMO_SCENARIO = "tumangang-2023"
DEMO_SEED = 1
# The quiet months before the surge, as CSIS compared its 5 October 2023 image with "the previous
# five years": an analyst's explicit baseline (the default rule would take the whole first year).
DEMO_BASELINE = "2023-01:2023-08"
DEMO_WORKERS = 2

Step = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote, and what it found."""

    store: Path
    catalog: Path
    reports: dict[str, Path]
    scenes: int
    statuses: dict[str, int]
    articles: int


def run_demo(out_dir: Path, *, articles: Path | None = None, start: str | None = None,
             end: str | None = None, step: Step | None = None) -> DemoResult:
    """Simulate, scan, detect, store, (ingest articles,) and report in English and Arabic."""
    from railwatch import pipeline
    from railwatch.http import HttpClient
    from railwatch.imagery import WindowCache
    from railwatch.report import ReportRequest, write_report
    from railwatch.simulate import load_scenario, simulate
    from railwatch.sites import resolve_site
    from railwatch.stac import find_acquisitions
    from railwatch.store import open_store

    scenario = load_scenario(DEMO_SCENARIO)
    first = parse_date(start, field_name="--start") if start else scenario.start
    last = parse_date(end, field_name="--end", end=True) if end else scenario.end
    if last < first:
        raise UserInputError(f"--start {first} is after --end {last}", hint="swap the dates")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"--out {out_dir}: is a file", hint="give a directory")
    if articles is not None and not articles.exists():
        raise UserInputError(f"--articles {articles}: no such file or folder",
                             hint="give a file or a folder of articles (.txt, .html)")
    step = step or (lambda _stage, _done, _total: None)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"--out {out_dir}: cannot create ({err.strerror})",
                             hint="choose a directory you can write to") from err
    catalog = out_dir / "catalog"
    simulate(DEMO_SITE, DEMO_SCENARIO, first, last, catalog, seed=DEMO_SEED, yes=True,
             progress=lambda done, total: step("simulate", done, total))
    client = HttpClient()
    store_path = out_dir / "railwatch.sqlite"
    with open_store(store_path) as store:
        site = resolve_site(DEMO_SITE, sites_in(store))
        acquisitions = find_acquisitions(site, first, last, client=client, catalog=catalog)
        total = len(pipeline.pending(store, site, acquisitions))
        step("scan", 0, total)
        summary = pipeline.scan(
            site, acquisitions, store=store, client=client, cache=WindowCache(None),
            workers=DEMO_WORKERS,
            on_scene=lambda _outcome, progress: step("scan", progress.done, total),
        )
        stored_articles = _ingest(store, articles, step) if articles is not None else 0
        statuses: dict[str, int] = {}
        for row in store.scenes(site.id):
            statuses[row.status] = statuses.get(row.status, 0) + 1
        # The analyst's baseline when the window holds it, else the default rule (short runs).
        baseline: Period | None = parse_period(DEMO_BASELINE)
        if baseline is not None and not (first <= baseline.start and last > baseline.end):
            baseline = None
        reports = {}
        for index, lang in enumerate(("en", "ar")):
            step("report", index, 2)
            reports[lang] = write_report(
                store,
                ReportRequest(site=site, lang=lang, baseline=baseline),
                out_dir / f"report-{lang}.html",
            )
        step("report", 2, 2)
    return DemoResult(store=store_path, catalog=catalog / "catalog.json", reports=reports,
                      scenes=summary.planned, statuses=statuses, articles=stored_articles)


def _ingest(store: object, articles: Path, step: Step) -> int:
    from railwatch.claims import expand_inputs, extract_sources, load_lexicon, store_extraction

    sources = expand_inputs([str(articles)])
    lexicon = load_lexicon()
    stored = 0
    for index, extraction in enumerate(extract_sources(sources, lex=lexicon), start=1):
        stored += bool(store_extraction(store, extraction))  # type: ignore[arg-type]
        step("articles", index, len(sources))
    return stored


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("railwatch-demo"), show_default=True, help="Where the demo writes.")
@click.option("--articles", type=click.Path(path_type=Path),
              help="Articles (a file or a folder of .txt/.html) to put on the claims timeline.")
@click.option("--start", help="First day simulated (default: the scenario's, 2023-01-01).")
@click.option("--end", help="Last day simulated (default: the scenario's, 2024-06-30).")
def demo(out_dir: Path, articles: Path | None, start: str | None, end: str | None) -> None:
    """Run railwatch offline end to end on the simulated Tumangang 2023-2024 case."""
    console = Console(stderr=True)
    labels = {"simulate": "simulating scenes", "scan": "scanning + detecting",
              "articles": "reading articles", "report": "writing reports"}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(labels[stage], total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = run_demo(out_dir, articles=articles, start=start, end=end, step=step)
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(result.statuses.items()))
    console.print(f"{result.scenes} simulated passes of {DEMO_SITE} ({statuses}); "
                  f"store {result.store}" + (f"; {result.articles} articles stored"
                                              if articles is not None else ""), highlight=False)
    click.echo(f"English report: {result.reports['en']}")
    click.echo(f"Arabic report:  {result.reports['ar']}")

