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


def filter_options(command):
    """The filters that search, export and the explorer share, as command-line options."""
    options = [
        click.option("--theme", multiple=True, help="Theme id (repeatable; any of them)."),
        click.option("--agency", multiple=True, help="Agency id mentioned (repeatable)."),
        click.option("--addressee", multiple=True, help="Agency id a recommendation is addressed to (repeatable)."),
        click.option("--type", "doc_type", multiple=True, help="Document type (repeatable)."),
        click.option("--area", multiple=True, help="Area (repeatable)."),
        click.option("--year", callback=_parse_year, help="A year or a range: 2019, 2018-2022, 2018-, -2015."),
        click.option("--rec", is_flag=True, help="Recommendations only."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _parse_year(_ctx, _param, value):
    """'2019' -> (2019, 2019); '2018-2022' -> (2018, 2022); '2018-' and '-2015' leave one end open."""
    if not value:
        return None
    lo, sep, hi = str(value).strip().partition("-")
    try:
        start = int(lo) if lo.strip() else None
        end = (int(hi) if hi.strip() else None) if sep else start
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a year or a range such as 2018-2022") from None
    return (start, end)


def filters_from(theme=(), agency=(), addressee=(), doc_type=(), area=(), year=None, rec=False) -> dict:
    """The filters dict of the Python API, without the empty ones."""
    filters = {"theme": list(theme), "agency": list(agency), "addressee": list(addressee), "type": list(doc_type),
               "area": list(area), "year": year, "rec": rec}
    return {k: v for k, v in filters.items() if v}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dhr")
def cli() -> None:
    """dhr: learn from Domestic Homicide Reviews.

    Ingest published reports, tag recurring themes, agencies and recommendations,
    search every passage, and explore the lessons in a browser.
    """


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
    from .facts import refresh_cache
    from .ingest import ingest_paths

    directory = config.data_dir(data_dir)
    summary = ingest_paths(paths, data_dir=directory, prune=prune, ocr=ocr, workers=workers, progress=not quiet)
    refresh_cache(directory)
    click.echo(summary.describe())
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
    app_hint = f"{_this_command()} app" + ("" if str(directory) == config.DEFAULT_DATA_DIR else f" --data-dir {directory}")
    click.echo(f"\nExplore it in your browser: {app_hint}   (then open http://localhost:8501)")
    sys.exit(1 if summary.ingest.failed else 0)


@cli.command("index")
@data_dir_option
@click.option("--rebuild", is_flag=True, help="Build a fresh index from the whole store (the old one stays usable until it is done).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def index_cmd(data_dir, rebuild, quiet) -> None:
    """Bring the search index up to date with the store (new, changed, re-tagged and pruned documents)."""
    from .index import IndexBusyError, SearchIndex
    from .store import Store

    directory = config.data_dir(data_dir)
    try:
        idx = SearchIndex(directory)
        with Store(config.db_path(directory)) as store:
            s = idx.rebuild(store, progress=not quiet) if rebuild else idx.update_from_store(store, progress=not quiet)
    except IndexBusyError as exc:
        raise click.ClickException(str(exc))
    from .facts import refresh_cache

    refresh_cache(directory, index_updated=True)
    st = idx.stats()
    what = "Rebuilt" if s.get("rebuilt") else "Updated"
    click.echo(f"{what} the search index in {s['seconds']} s: {s['added']} documents added, {s['updated']} updated, "
               f"{s['removed']} removed, {s['unchanged']} unchanged ({s['passages']:,} passages written). "
               f"Now {st['documents']:,} documents, {st['passages']:,} passages.")


@cli.command("search")
@click.argument("query", required=False, default="")
@data_dir_option
@filter_options
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--page-size", type=int, default=10, show_default=True)
@click.option("--sort", type=click.Choice(["relevance", "year", "year_asc"]), default="relevance", show_default=True)
@click.option("--facets", "show_facets", is_flag=True, help="Also print facet counts.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search_cmd(query, data_dir, page, page_size, sort, show_facets, as_json, **filter_args) -> None:
    """Search every passage. QUERY: words, "phrases", AND / OR / NOT, (grouping), wildcards*, and
    filters such as theme:missed_risk agency:police addressee:gp_primary_care year:2018-2022
    type:dhr_overview rec:yes area:"Greater Manchester"."""
    import json as _json

    from .index import QueryError, SearchIndex, format_result_table

    filters = filters_from(**filter_args)
    try:
        res = SearchIndex(config.data_dir(data_dir)).search(query, filters, page=page, page_size=page_size, sort=sort)
    except QueryError as exc:
        raise click.UsageError(str(exc))
    if as_json:
        click.echo(_json.dumps(res.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(format_result_table(res, color=sys.stdout.isatty(), facets=show_facets))


def find_app_file():
    """app/explorer.py of the repository this package runs from, or None."""
    from pathlib import Path

    candidate = Path(__file__).resolve().parent.parent / "app" / "explorer.py"
    return candidate if candidate.is_file() else None


@cli.command("app")
@data_dir_option
@click.option("--port", type=int, default=8501, show_default=True, help="Port to serve the explorer on.")
@click.option("--address", default="localhost", show_default=True,
              help="Address to listen on (0.0.0.0 to reach it from other machines).")
def app_cmd(data_dir, port, address) -> None:
    """Open the explorer: search, themes, recommendations and agencies, documents, export, add reports.

    Runs `streamlit run app/explorer.py` over the data directory; stop it with Ctrl+C.
    """
    import os
    import subprocess

    app_file = find_app_file()
    if app_file is None:
        raise click.ClickException(
            "The explorer (app/explorer.py) was not found next to the dhr package. `dhr app` runs from a "
            "checkout of the repository (pip install -e .); or run `streamlit run path/to/app/explorer.py`."
        )
    directory = config.data_dir(data_dir).resolve()
    env = dict(os.environ, **{config.ENV_VAR: str(directory)})
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app_file),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    click.echo(f"Explorer over {directory}: http://{'localhost' if address in ('0.0.0.0', '::') else address}:{port}"
               "  (Ctrl+C to stop)", err=True)
    try:
        code = subprocess.call(cmd, env=env, cwd=str(app_file.parent.parent))
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)



# ---- tagging, export, training and evaluation (dhr.tag, dhr.export, dhr.train, dhr.evaluate) ----

codebook_option = click.option(
    "--codebook", type=click.Path(dir_okay=False, exists=True), default=None,
    help="Use another codebook file of the same shape as dhr/data/codebook.yaml.",
)


@cli.command("tag")
@click.argument("file", required=False, type=click.File("r", encoding="utf-8"))
@click.option("--jsonl", is_flag=True, help='Read one {"id": ..., "text": ...} object per line; print one result per line.')
@codebook_option
@click.option("--all", "retag_all", is_flag=True, help="Re-tag every stored document (no re-extraction).")
@click.option("--store", "use_store", is_flag=True, help="Tag stored documents whose tags are missing or out of date.")
@data_dir_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def tag_cmd(file, jsonl, codebook, retag_all, use_store, data_dir, quiet) -> None:
    """Tag a passage: themes (score, evidence), agencies, recommendation and addressees, as JSON.

    FILE is a text file, or - for standard input. With --all (or --store) re-tags the stored
    documents from their stored passages instead, without re-extracting them.
    """
    import json as _json

    from .tag import load_tagger, tag_jsonl, tag_store

    tagger = load_tagger(codebook=codebook)
    if retag_all or use_store:
        from .facts import refresh_cache
        from .store import Store

        directory = config.data_dir(data_dir)
        with Store(config.db_path(directory)) as store:
            n = tag_store(store, all=retag_all, progress=not quiet, tagger=tagger)
        refresh_cache(directory)
        click.echo(f"Tagged {n} document(s) with tagger {tagger.version}.")
        return
    if file is None:
        raise click.UsageError("give a FILE, - for standard input, or --all to re-tag the store")
    if jsonl:
        tag_jsonl(file, sys.stdout, tagger)
        sys.stdout.flush()
        return
    click.echo(_json.dumps(tagger.tag(file.read()), ensure_ascii=False, indent=2))


@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output file (a codebook sidecar NAME.codebook.json is written next to it); default: standard output.")
@click.option("--codebook", "codebook_only", is_flag=True, help="Write the codebook (themes, agencies, mappings) as JSON instead.")
@data_dir_option
@filter_options
def export_cmd(fmt, out, codebook_only, data_dir, **filter_args) -> None:
    """Export every tagged passage as CSV or JSONL (one row per passage), with the codebook."""
    from pathlib import Path

    from .export import codebook_bytes, export

    if codebook_only:
        data = codebook_bytes()
        if out:
            Path(out).write_bytes(data)
            click.echo(f"Wrote the codebook to {out}.", err=True)
        else:
            sys.stdout.buffer.write(data)
        return
    filters = filters_from(**filter_args)
    from .store import Store

    with Store(config.db_path(config.data_dir(data_dir))) as store:
        n, side = export(store, fmt=fmt, out=out, filters=filters)
    if out:
        click.echo(f"Wrote {n} passage(s) to {out} and the codebook to {side}.", err=True)


@cli.command("train")
@codebook_option
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Where to save the models (default: models/).")
def train_cmd(codebook, models_dir) -> None:
    """Train the theme and recommendation classifiers on the labelled set's train split."""
    from .train import train

    s = train(codebook=codebook, models_dir=models_dir)
    for note in s["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(f"Trained on {s['train_passages']} passages {s['by_source']} in {s['seconds']} s; "
               f"saved {s['model']} ({s['size_bytes'] / 1e6:.1f} MB). Now run `dhr evaluate` and `dhr tag --all`.")


@cli.command("evaluate")
@codebook_option
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Models to evaluate (default: models/).")
@click.option("--json", "as_json", is_flag=True, help="Print the full figures as JSON.")
@click.option("--no-save", is_flag=True, help="Do not write models/evaluation.json.")
def evaluate_cmd(codebook, models_dir, as_json, no_save) -> None:
    """Measure the tagger on the held-out test split (rules alone, classifier alone, both)."""
    import json as _json

    from .evaluate import evaluate, format_report

    report = evaluate(codebook=codebook, models_dir=models_dir, write=not no_save)
    click.echo(_json.dumps(report, indent=2) if as_json else format_report(report))


def _this_command() -> str:
    """How the user can run dhr again: `dhr` when it is on PATH, else the path they used (.venv/bin/dhr)."""
    import os
    import shutil

    if shutil.which("dhr") and os.path.realpath(shutil.which("dhr")) == os.path.realpath(sys.argv[0]):
        return "dhr"
    return os.path.relpath(sys.argv[0]) if sys.argv[0].endswith("dhr") else "dhr"


def main() -> None:
    cli(prog_name="dhr")


if __name__ == "__main__":
    main()
