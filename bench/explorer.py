"""Explorer benchmark: how long each page of the Streamlit explorer takes over a large store.

    .venv/bin/python bench/explorer.py                                  # 200,000 passages in a temp dir
    .venv/bin/python bench/explorer.py --passages 20000                 # a quick try
    .venv/bin/python bench/explorer.py --data-dir /tmp/ex200k           # build there and keep it
    .venv/bin/python bench/explorer.py --data-dir /tmp/ex200k --reuse   # time pages over a store built earlier

The store is the synthetic tagged corpus of bench/search.py (2,000 documents of 100 passages,
19 themes, 26 agencies, 10% recommendations with addressees). Each page is run with Streamlit's
AppTest (the same script runs as in the browser, without the websocket and the browser's drawing).

For every page:
- cold: the first run after the store changed: every Streamlit cache is cleared, the explorer's
  disk cache (DATA_DIR/explorer-cache) is removed and the store is written to (a `meta` row), so
  the signature every cache is keyed on changes. That is the worst case: the first visit after a
  report was added.
- cold+disk: the same, but the disk cache is left in place (a server restart, or a write that
  changed no document or tag).
- then a few interactions on the same session (warm: the data is loaded; each interaction
  changes what is shown). Each figure is the wall time of one `AppTest.run()`.

Timings are noisy on a loaded machine: the load average is printed with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "app"))

from dhr import config  # noqa: E402

APP = REPO / "app" / "explorer.py"
CACHE_DIR = "explorer-cache"


def build(d: Path, passages: int, per_doc: int) -> None:
    from search import populate  # bench/search.py's generator

    from dhr.index import SearchIndex
    from dhr.store import Store

    store = Store(config.db_path(d))
    t = time.perf_counter()
    n_docs = populate(store, passages, per_doc)
    print(f"store: {n_docs:,} documents, {passages:,} passages in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    t = time.perf_counter()
    idx = SearchIndex(d)
    idx.rebuild(store, progress=sys.stderr.isatty())
    idx.close()
    store.close()
    print(f"index built in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def touch_store(d: Path) -> None:
    """A write that changes the store's signature (as adding a report does) but no document."""
    conn = sqlite3.connect(config.db_path(d), timeout=30)
    try:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('bench_touch', ?)", (str(time.time()),))
        conn.commit()
    finally:
        conn.close()


def reset(d: Path, keep_disk_cache: bool) -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        import explorer_common as ec

        ec._warming.clear()
    except Exception:  # noqa: BLE001
        pass
    if not keep_disk_cache:
        shutil.rmtree(d / CACHE_DIR, ignore_errors=True)
    touch_store(d)


def timed_run(at) -> float:
    t = time.perf_counter()
    at.run()
    secs = time.perf_counter() - t
    if at.exception:
        raise RuntimeError([e.message for e in at.exception])
    return round(secs, 2)


def first_doc(d: Path) -> tuple[str, str]:
    conn = sqlite3.connect(f"file:{config.db_path(d)}?mode=ro", uri=True)
    try:
        ids = [r[0] for r in conn.execute("SELECT doc_id FROM documents ORDER BY doc_id LIMIT 2")]
    finally:
        conn.close()
    return ids[0], ids[-1]


def page_runs(d: Path, page: str, keep_disk_cache: bool) -> dict:
    """Cold run of one page, then its interactions; {step: seconds}."""
    from streamlit.testing.v1 import AppTest

    reset(d, keep_disk_cache)
    at = AppTest.from_file(str(APP), default_timeout=600)
    out: dict[str, float] = {}
    if page == "add_reports":
        # before the first run AppTest finds a page by its file name; st.Page hashes its url_path
        from streamlit.util import calc_hash

        at._page_hash = calc_hash("add-reports")
    elif page != "search":
        at.switch_page(f"views/{page}.py")
    if page == "document":
        at.query_params["doc"] = first_doc(d)[0]
    out["cold"] = timed_run(at)
    if keep_disk_cache:
        return out
    if page == "search":
        at.text_input(key="search-q").input("risk assessment")
        out["query"] = timed_run(at)
        at.multiselect(key="search-f-theme").set_value(["missed_risk"])
        out["filter"] = timed_run(at)
        at.button(key="search-next").click()
        out["next page"] = timed_run(at)
    elif page == "themes":
        at.radio(key="themes-measure").set_value("passages")
        out["measure"] = timed_run(at)
        at.multiselect(key="themes-f-area").set_value(["Kent"])
        out["filter"] = timed_run(at)
        at.session_state["themes-drill"] = {"kind": "theme_year", "theme_id": "missed_risk", "year": 2015}
        out["click-through"] = timed_run(at)
    elif page == "recommendations":
        at.multiselect(key="recs-f-addressee").set_value(["police"])
        out["filter"] = timed_run(at)
        at.session_state["recs-net-drill"] = {"kind": "node", "id": "agency:police"}
        out["network click"] = timed_run(at)
        at.session_state["recs-tab"] = "Recurring recommendations"
        out["recurring tab"] = timed_run(at)
        at.slider(key="recs-rec-threshold").set_value(0.6)
        out["similarity"] = timed_run(at)
        at.multiselect(key="recs-f-addressee").set_value([])
        out["recurring, all"] = timed_run(at)
    elif page == "document":
        at.selectbox(key="doc-select").set_value(first_doc(d)[1])
        out["other document"] = timed_run(at)
        at.toggle(key="doc-only-tagged").set_value(True)
        out["tagged only"] = timed_run(at)
    elif page == "export":
        at.toggle(key="export-f-rec").set_value(True)
        out["filter"] = timed_run(at)
        at.multiselect(key="export-f-theme").set_value(["missed_risk"])
        out["theme"] = timed_run(at)
    elif page == "add_reports":
        out["rerun"] = timed_run(at)
    return out


PAGES = ["search", "themes", "recommendations", "document", "export", "add_reports"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=200_000)
    ap.add_argument("--per-doc", type=int, default=100)
    ap.add_argument("--data-dir", help="keep the store and index here (default: a temp dir, removed after)")
    ap.add_argument("--reuse", action="store_true", help="time the store and index already in --data-dir")
    ap.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated subset of {','.join(PAGES)}")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = None
    if args.data_dir:
        d = Path(args.data_dir).resolve()
        d.mkdir(parents=True, exist_ok=True)
    else:
        tmp = d = Path(tempfile.mkdtemp(prefix="dhr-bench-explorer-"))
    if args.reuse and not config.db_path(d).exists():
        ap.error(f"--reuse: no store in {d}")
    report: dict = {"data_dir": str(d), "load_average_before": [round(x, 2) for x in os.getloadavg()],
                    "cpus": os.cpu_count(), "pages": {}}
    try:
        if not args.reuse:
            build(d, args.passages, args.per_doc)
        os.environ[config.ENV_VAR] = str(d)
        conn = sqlite3.connect(f"file:{config.db_path(d)}?mode=ro", uri=True)
        report["passages"] = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        report["documents"] = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        report["recommendations"] = conn.execute("SELECT COUNT(*) FROM recommendations").fetchone()[0]
        conn.close()
        # one untimed run first: imports, the Store's schema check, the index opened once
        from streamlit.testing.v1 import AppTest

        AppTest.from_file(str(APP), default_timeout=600).run()
        for page in [p.strip() for p in args.pages.split(",") if p.strip()]:
            runs = page_runs(d, page, keep_disk_cache=False)
            runs["cold+disk"] = page_runs(d, page, keep_disk_cache=True)["cold"]
            report["pages"][page] = runs
            print(f"{page:16s} " + "  ".join(f"{k}: {v:.2f}s" for k, v in runs.items()), file=sys.stderr)
        report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['passages']:,} passages, {report['documents']:,} documents, "
              f"{report['recommendations']:,} recommendations; {report['cpus']} CPUs; load average "
              f"{report['load_average_before']} -> {report.get('load_average_after')}")
        for page, runs in report["pages"].items():
            print(f"{page:16s} " + "  ".join(f"{k}: {v:.2f}s" for k, v in runs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
