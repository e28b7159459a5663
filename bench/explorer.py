"""Explorer benchmark: how long each page of the Streamlit explorer takes over a large store.

    .venv/bin/python bench/explorer.py                                  # 200,000 passages in a temp dir
    .venv/bin/python bench/explorer.py --passages 20000                 # a quick try
    .venv/bin/python bench/explorer.py --data-dir /tmp/ex200k           # build there and keep it
    .venv/bin/python bench/explorer.py --data-dir /tmp/ex200k --reuse   # time pages over a store built earlier

The store is the synthetic tagged corpus of bench/search.py (2,000 documents of 100 passages,
19 themes, 26 agencies, 10% recommendations with addressees). Each page is run with Streamlit's
AppTest (the same script runs as in the browser, without the websocket and the browser's drawing).

For every page:
- after add: the first run after a report was added the way `dhr build` and the Add reports
  page add one (a 100-passage document saved and tagged, the index updated and the explorer's
  summaries refreshed: that write-side work is timed separately as "add (write side)"), with
  every Streamlit cache cleared.
- restart: every Streamlit cache cleared, nothing written (a server restart).
- no disk cache: every Streamlit cache cleared and DATA_DIR/explorer-cache removed, so the
  page builds the summaries itself: the worst case, a store changed by something that does
  not refresh them.
- then a few interactions on the same session (warm: the data is loaded; each interaction
  changes what is shown). Each figure is the wall time of one `AppTest.run()`.
The documents the bench adds are removed again at the end.

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


_added: list[str] = []
_write_side: list[dict] = []   # per added report: seconds of each part


def add_report(d: Path) -> float:
    """Add one synthetic tagged document as the pipeline would; the seconds the write side took."""
    import random

    from search import add_document

    from dhr import facts
    from dhr.index import SearchIndex
    from dhr.store import Store

    t = time.perf_counter()
    with Store(config.db_path(d)) as store:
        n = 900_000 + len(_added)
        _added.append(add_document(store, random.Random(n), n, 100))
        idx = SearchIndex(d)
        try:
            idx.update_from_store(store, progress=False)
        finally:
            idx.close()
    t_summaries = time.perf_counter()
    facts.refresh_cache(d, index_updated=True)
    end = time.perf_counter()
    _write_side.append({"store + index": round(t_summaries - t, 2), "summaries": round(end - t_summaries, 2)})
    return round(end - t, 2)


def remove_added(d: Path) -> None:
    from dhr import facts
    from dhr.index import SearchIndex
    from dhr.store import Store

    if not _added:
        return
    with Store(config.db_path(d)) as store:
        for doc_id in _added:
            store.delete_document(doc_id)
        idx = SearchIndex(d)
        try:
            idx.update_from_store(store, progress=False)
        finally:
            idx.close()
    facts.refresh_cache(d, index_updated=True)
    _added.clear()


def reset(d: Path, scenario: str) -> float | None:
    """Clear every Streamlit cache and set up the scenario; the write-side seconds for "after add"."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        import explorer_common as ec

        ec._warming.clear()
    except Exception:  # noqa: BLE001
        pass
    if scenario == "after add":
        return add_report(d)
    if scenario == "no disk cache":
        shutil.rmtree(d / CACHE_DIR, ignore_errors=True)
    return None


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


def page_runs(d: Path, page: str, scenario: str = "after add") -> dict:
    """The first run of one page in a scenario (then, after "after add", its interactions); {step: seconds}."""
    from streamlit.testing.v1 import AppTest

    write_side = reset(d, scenario)
    at = AppTest.from_file(str(APP), default_timeout=600)
    out: dict[str, float] = {} if write_side is None else {"add (write side)": write_side}
    if page == "add_reports":
        # before the first run AppTest finds a page by its file name; st.Page hashes its url_path
        from streamlit.util import calc_hash

        at._page_hash = calc_hash("add-reports")
    elif page != "search":
        at.switch_page(f"views/{page}.py")
    if page == "document":
        at.query_params["doc"] = first_doc(d)[0]
    out[scenario] = timed_run(at)
    if scenario != "after add":
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
        at.session_state["recs-tab"] = "Recurring recommendations"
        out["recurring tab"] = timed_run(at)
        at.slider(key="recs-rec-threshold").set_value(0.6)
        out["similarity"] = timed_run(at)
        at.multiselect(key="recs-f-addressee").set_value(["police"])
        out["recurring, police"] = timed_run(at)
        at.session_state["recs-tab"] = "Network"
        at.session_state["recs-net-drill"] = {"kind": "node", "id": "agency:police"}
        out["network click"] = timed_run(at)
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
            runs = page_runs(d, page, "after add")
            for scenario in ("restart", "no disk cache"):
                runs[scenario] = page_runs(d, page, scenario)[scenario]
            report["pages"][page] = runs
            print(f"{page:16s} " + "  ".join(f"{k}: {v:.2f}s" for k, v in runs.items()), file=sys.stderr)
        report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        report["write_side"] = _write_side
    finally:
        if tmp is None and config.db_path(d).exists():
            remove_added(d)
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
        if _write_side:
            print("adding a report, write side: " + "; ".join(
                ", ".join(f"{k} {v:.2f}s" for k, v in w.items()) for w in _write_side))
    return 0


if __name__ == "__main__":
    sys.exit(main())
