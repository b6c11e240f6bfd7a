"""The ``railwatch`` command: a thin layer that parses arguments, calls the library and turns
errors into one line and an exit code (0 success, 1 internal failure, 2 user error)."""

from __future__ import annotations

import logging
import sys
import traceback

import click
from threadpoolctl import threadpool_limits

from railwatch import __version__
from railwatch.cli.claims import claims
from railwatch.cli.demo import demo
from railwatch.cli.detect import detect
from railwatch.cli.report import export, report
from railwatch.cli.scan import scan
from railwatch.cli.simulate import simulate
from railwatch.cli.sites import sites
from railwatch.errors import RailwatchError, UserInputError

__all__ = ["cli", "main"]

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="railwatch")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log what is being done.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Watch cross-border rail logistics from Sentinel-2 imagery and press reporting."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Detection multiplies small matrices per scene; a multi-threaded BLAS spends more time
    # waking its threads than computing (3-5x slower per scene on a busy 2-core machine) and
    # competes with the scan's reader threads.
    threadpool_limits(limits=1, user_api="blas")


cli.add_command(sites)
cli.add_command(demo)
cli.add_command(claims)
cli.add_command(simulate)
cli.add_command(report)
cli.add_command(export)
cli.add_command(scan)
cli.add_command(detect)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; never let a user mistake end in a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="railwatch", standalone_mode=False)
    except click.Abort:
        click.echo("railwatch: interrupted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return EXIT_USER
    except UserInputError as err:
        if debug:
            traceback.print_exc()
        click.echo(f"railwatch: error: {_one_line(str(err))}", err=True)
        return EXIT_USER
    except KeyboardInterrupt:
        click.echo("railwatch: interrupted; work finished so far is saved, run again to resume", err=True)
        return 130
    except RailwatchError as err:
        if debug:
            traceback.print_exc()
        click.echo(f"railwatch: failed: {_one_line(str(err))}", err=True)
        return EXIT_INTERNAL
    except Exception as err:  # noqa: BLE001 - the last line of defence for an internal failure
        if debug:
            traceback.print_exc()
        click.echo(
            f"railwatch: internal error: {err.__class__.__name__}: {_one_line(str(err))} "
            "(rerun with --debug for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _one_line(text: str) -> str:
    return " ".join(text.split())
