"""The `dhr` command: a thin layer over the Python API in the dhr package.

Each command parses its options, calls one API function and prints the result.
Heavy imports (spaCy, scikit-learn, Whoosh, Streamlit) happen inside the command that
needs them, so `dhr --help` stays instant.
"""
from __future__ import annotations

import sys

import click

from . import config

data_dir_option = click.option(
    "--data-dir",
    envvar=config.ENV_VAR,
    default=config.DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory holding the SQLite store and the search index (env: DHR_DATA_DIR).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dhr")
def cli() -> None:
    """dhr: learn from Domestic Homicide Reviews.

    Ingest published reports, tag recurring themes, agencies and recommendations,
    search every passage, and explore the lessons in a browser.
    """


def _print_ingest_summary(summary) -> None:
    click.echo(summary.describe())


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@data_dir_option
@click.option("--prune", is_flag=True, help="Remove stored documents whose files are gone from PATHS.")
@click.option("--ocr", is_flag=True, help="Run ocrmypdf on image-only PDFs first (needs ocrmypdf installed).")
@click.option("--workers", type=int, default=None, help="Processes for extraction (default: up to 2).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest(paths, data_dir, prune, ocr, workers, quiet) -> None:
    """Read PDF, text, Markdown, HTML and DOCX files (or folders of them) into the store.

    Unchanged files are skipped; changed files replace their old version; files that
    cannot be read are reported at the end and never stop the batch. Exits 1 when any
    file failed.
    """
    from .ingest import ingest_paths

    summary = ingest_paths(
        paths, data_dir=config.data_dir(data_dir), prune=prune, ocr=ocr, workers=workers, progress=not quiet
    )
    _print_ingest_summary(summary)
    sys.exit(1 if summary.failed else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@data_dir_option
@click.option("--prune", is_flag=True, help="Remove stored documents whose files are gone.")
@click.option("--ocr", is_flag=True, help="Run ocrmypdf on image-only PDFs first.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build(paths, data_dir, prune, ocr, quiet) -> None:
    """The main job: ingest PATHS, tag every passage and update the search index.

    Then open the explorer with `dhr app`.
    """
    from .pipeline import build as run_build

    directory = config.data_dir(data_dir)
    summary = run_build(paths, data_dir=directory, prune=prune, ocr=ocr, progress=not quiet,
                        on_step=lambda msg: click.echo(f"- {msg}", err=True))
    click.echo(summary.describe())
    app_hint = "dhr app" if str(directory) == config.DEFAULT_DATA_DIR else f"dhr app --data-dir {directory}"
    click.echo(f"\nExplore it in your browser: {app_hint}   (then open http://localhost:8501)")
    sys.exit(1 if summary.ingest.failed else 0)


def main() -> None:
    cli(prog_name="dhr")


if __name__ == "__main__":
    main()
