"""What every page of the explorer shares: the data directory, cached data, names, colours,
safe rendering of report text, filters and the passage list.

Caching
- The Store is a resource (`st.cache_resource`), one per data directory; so is the search
  index, which reloads its own view when its files change.
- Everything derived from the store is keyed on `signature()`: the modification times of
  the SQLite file and its write-ahead log. Adding reports changes it, so every page sees
  the new data on its next run.
- No page loads every passage's text. `Facts` (dhr.facts) holds, per passage, only its
  document, year, area, type, recommendation flag and theme / agency / addressee matrices:
  the Themes and Export pages filter and aggregate on it in milliseconds and read the text
  of only the passages they show (`passages_by_id`). The Recommendations page loads the
  recommendations alone (a tenth of the passages) with their text.
- The costly derived data (Facts, the recommendations, the recurrence finder) is built by
  the jobs that write the store and kept in DATA_DIR/explorer-cache/ (see dhr.facts), so a
  page's first visit after a change reads files instead of the whole store.
"""
from __future__ import annotations

import functools
import html
import re
import threading
from pathlib import Path
from typing import Iterable

import altair as alt
import pandas as pd
import streamlit as st

from dhr import config
from dhr import facts as facts_cache
from dhr.store import Store
from dhr.tag import load_agencies, load_codebook

APP_DIR = Path(__file__).resolve().parent
PAGE_FILES = {
    "search": "views/search.py",
    "themes": "views/themes.py",
    "recommendations": "views/recommendations.py",
    "document": "views/document.py",
    "export": "views/export.py",
    "add": "views/add_reports.py",
}

# 20 distinct colours (colour-blind-aware ordering: neighbours in the codebook differ in hue).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e7969c", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#00a087", "#fdbf6f", "#ffd92f", "#9edae5",
]
AGENCY_COLOUR = "#4a4a4a"
RECOMMENDATION_COLOUR = "#b0b0b0"
MARK_STYLE = "background:#fff3a3;padding:0 2px;border-radius:2px"


# ---- data directory, store, signature ----------------------------------------------

def data_dir() -> str:
    """The data directory: $DHR_DATA_DIR, else ./dhr-data (created when missing)."""
    return str(config.data_dir(None).resolve())


@st.cache_resource(show_spinner=False)
def get_store(directory: str) -> Store:
    return Store(config.db_path(Path(directory)))


def signature(directory: str) -> str:
    """Changes whenever the store is written: the mtimes and sizes of the database files."""
    db = config.db_path(Path(directory))
    parts = []
    for p in (db, Path(str(db) + "-wal")):
        try:
            s = p.stat()
            parts.append(f"{s.st_mtime_ns}:{s.st_size}")
        except FileNotFoundError:
            parts.append("-")
    return "|".join(parts)


def clear_caches() -> None:
    """After the store changes under us (reports added): drop every derived cache."""
    st.cache_data.clear()
    get_facts.clear()
    recommendations_frame.clear()
    all_recommendations_finder.clear()
    index_checked.clear()
    get_index.clear()


# The derived data lives in dhr.facts (files in DATA_DIR/explorer-cache/, refreshed by the
# jobs that write the store); here it is held in memory once per store signature.

@st.cache_resource(show_spinner="Loading passage facts…", max_entries=2)
def get_facts(directory: str, sig: str) -> facts_cache.Facts:
    """The Facts of this version of the store (read-only)."""
    return facts_cache.cached(directory, "facts")


def facts() -> facts_cache.Facts:
    d = data_dir()
    return get_facts(d, signature(d))


def passages_by_id(directory: str, ids: list[str]) -> pd.DataFrame:
    """The passages with these ids, in that order, with text and tags (for the few shown)."""
    return facts_cache.passages_by_id(directory, ids)


@st.cache_resource(show_spinner="Loading recommendations…", max_entries=2)
def recommendations_frame(directory: str, sig: str) -> pd.DataFrame:
    """Every recommendation (one row per passage, with text and tags) for this version of the
    store: about a tenth of the passages (read-only: do not mutate)."""
    return facts_cache.cached(directory, "recommendations")


def recommendations() -> pd.DataFrame:
    d = data_dir()
    return recommendations_frame(d, signature(d))


@st.cache_resource(show_spinner="Comparing recommendations…", max_entries=2)
def all_recommendations_finder(directory: str, sig: str):
    """TF-IDF and similar pairs over every recommendation (read from the disk cache)."""
    return facts_cache.cached(directory, "recurrence")


_warming: set[str] = set()


def warm_up() -> None:
    """Load the passage facts in the background (once per store version), so that the first
    visit to Themes or Export does not wait for them: read from DATA_DIR/explorer-cache, or
    built there when a program other than dhr changed the store. (Not the search index's view:
    loading it is pure Python and would hold up, not speed up, the page the user is on.) A page
    that asks meanwhile waits for this load (dhr.facts builds each file once at a time)."""
    import logging

    ctx_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    if not any(getattr(f, "dhr_warm_up", False) for f in ctx_log.filters):
        quiet = logging.Filter()
        quiet.filter = lambda record: record.threadName != "dhr-warm-up"  # "missing ScriptRunContext": expected
        quiet.dhr_warm_up = True
        ctx_log.addFilter(quiet)

    d = data_dir()
    sig = signature(d)
    if sig in _warming:
        return
    _warming.add(sig)

    def load() -> None:
        try:
            get_facts(d, sig)
        except Exception:  # noqa: BLE001 - the page that needs it will load it and show the error
            _warming.discard(sig)

    threading.Thread(target=load, name="dhr-warm-up", daemon=True).start()


@st.cache_data(show_spinner=False, max_entries=4)
def documents(directory: str, sig: str) -> list[dict]:
    return get_store(directory).documents()


def docs() -> list[dict]:
    d = data_dir()
    return documents(d, signature(d))


@st.cache_resource(show_spinner="Opening the search index…", max_entries=4)
def get_index(directory: str):
    """The search index of a data directory: one object for every version of the store, so
    that its loaded view (facet arrays) survives a store change that leaves the index as it was
    (the index reloads its view itself when its files change)."""
    from dhr.index import SearchIndex

    return SearchIndex(Path(directory))


@st.cache_resource(show_spinner="Checking the search index…", max_entries=2)
def index_checked(directory: str, sig: str) -> bool:
    """Bring the index up to date with this version of the store (once per version). Skipped
    when the jobs that wrote the store already did (`dhr.facts.index_in_step`): comparing
    every document with the index reads the index's per-passage data, seconds on a large store."""
    if facts_cache.index_in_step(directory):
        return True
    try:
        get_index(directory).update_from_store(get_store(directory))
    except Exception as exc:  # pragma: no cover - shown to the user, the page still works
        st.warning(f"The search index could not be brought up to date: {exc}")
        return False
    facts_cache.record_index_in_step(directory)
    return True


def index():
    d = data_dir()
    index_checked(d, signature(d))
    return get_index(d)


# ---- names and colours ---------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def codebook() -> list[dict]:
    """Themes in codebook order (dhr/data/codebook.yaml, the tagger's): [{id, name, definition}]."""
    return [{"id": tid, "name": t["name"], "definition": t["definition"]} for tid, t in load_codebook().themes.items()]


@functools.lru_cache(maxsize=1)
def agency_list() -> list[dict]:
    """Agencies in the alias file's order: [{id, name}]."""
    return [{"id": aid, "name": a["name"]} for aid, a in load_agencies().agencies.items()]


@functools.lru_cache(maxsize=1)
def _theme_names() -> dict[str, str]:
    return {t["id"]: t["name"] for t in codebook()}


@functools.lru_cache(maxsize=1)
def _agency_names() -> dict[str, str]:
    return {a["id"]: a["name"] for a in agency_list()}


def theme_names() -> dict[str, str]:
    """{theme id: name} in codebook order (read once per process: restart after editing the codebook)."""
    return dict(_theme_names())


def agency_names() -> dict[str, str]:
    return dict(_agency_names())


def theme_name(tid: str) -> str:
    return _theme_names().get(tid, tid)


def agency_name(aid: str) -> str:
    return _agency_names().get(aid) or (aid.replace("_", " ").capitalize() if aid else "")


@functools.lru_cache(maxsize=1)
def _theme_colours() -> dict[str, str]:
    return {t["id"]: PALETTE[i % len(PALETTE)] for i, t in enumerate(codebook())}


def theme_colours() -> dict[str, str]:
    """{theme id: colour}: fixed by codebook order, the same on every page and chart."""
    return dict(_theme_colours())


def theme_scale(by: str = "name") -> alt.Scale:
    """The one colour scale for themes on every chart (domain: theme names or ids)."""
    colours = theme_colours()
    names = theme_names()
    domain = [names[t] if by == "name" else t for t in colours]
    return alt.Scale(domain=domain, range=list(colours.values()))


# ---- safe rendering ------------------------------------------------------------------

def esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def esc_block(text) -> str:
    """Escaped text for inside an HTML block: line breaks become <br>, so that the block stays one
    line and Markdown never sees (and never interprets) the report's text."""
    return esc(text).replace("\r\n", "\n").replace("\n", "<br>")


_MARK_SPLIT = re.compile(r"(</?mark>)", re.IGNORECASE)


def safe_snippet(snippet_html: str) -> str:
    """Keep only <mark> tags from a highlighted snippet; everything else is escaped text.

    Whatever the search engine produced (escaped or not), the result is safe to render.
    """
    out = []
    for part in _MARK_SPLIT.split(snippet_html or ""):
        low = part.lower()
        if low == "<mark>":
            out.append(f'<mark style="{MARK_STYLE}">')
        elif low == "</mark>":
            out.append("</mark>")
        else:
            out.append(html.escape(html.unescape(part), quote=False))
    text = "".join(out).replace("\r\n", "\n").replace("\n", "<br>")
    # balance marks so a truncated snippet cannot leave one open
    opened = text.count("<mark") - text.count("</mark>")
    return text + "</mark>" * max(opened, 0)


def chip(text: str, colour: str, *, title: str = "") -> str:
    return (
        f'<span title="{esc(" ".join(str(title).split()))}" style="display:inline-block;margin:1px 3px 1px 0;padding:0 6px;'
        f'border-radius:8px;font-size:0.78em;background:{colour}22;border:1px solid {colour};">'
        f"{esc(text)}</span>"
    )


def theme_chips(theme_ids: Iterable[str], evidence: dict[str, str] | None = None) -> str:
    colours = theme_colours()
    evidence = evidence or {}
    return "".join(
        chip(theme_name(t), colours.get(t, "#888888"), title=evidence.get(t, "")) for t in theme_ids
    )


def agency_chips(agency_ids: Iterable[str], addressees: Iterable[str] = ()) -> str:
    addressees = set(addressees)
    return "".join(
        chip(("➜ " if a in addressees else "") + agency_name(a), AGENCY_COLOUR,
             title="addressee of the recommendation" if a in addressees else "mentioned")
        for a in agency_ids
    )


def source_line(p: dict) -> str:
    bits = [f"<b>{esc(p.get('title') or p.get('doc_id'))}</b>"]
    meta = [str(p["year"]) if p.get("year") not in (None, "") and not pd.isna(p.get("year")) else "",
            p.get("area") or "", (p.get("doc_type") or "").replace("_", " ")]
    meta = [m for m in meta if m]
    if meta:
        bits.append(esc(" · ".join(meta)))
    page = p.get("page")
    if page:
        bits.append(f"p. {esc(page)}")
    if p.get("section"):
        bits.append(f"§ {esc(p['section'])}")
    return " — ".join(bits)


def open_document(doc_id: str, passage_id: str | None = None) -> None:
    params = {"doc": doc_id}
    if passage_id:
        params["passage"] = passage_id
    st.switch_page(PAGE_FILES["document"], query_params=params)


def rec_badge(label: str) -> str:
    label = (label or "").strip()
    if not label:
        return "Recommendation"
    return label if label.lower().startswith("rec") else f"Recommendation {label}"


def passage_card(p: dict, *, key: str, snippet_html: str | None = None, max_chars: int = 900) -> None:
    """One passage: source, text (escaped; or a safe highlighted snippet), tags, open button."""
    with st.container(border=True):
        st.markdown(f"<div>{source_line(p)}</div>", unsafe_allow_html=True)
        if snippet_html is not None:
            body = safe_snippet(snippet_html)
        else:
            text = p.get("text") or ""
            body = esc_block(text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " …")
        rec = ""
        if p.get("is_recommendation"):
            label = p.get("recommendation_label") or p.get("label") or ""
            rec = chip(rec_badge(label), "#d4a017") + " "
        st.markdown(f'<div class="dhr-passage">{rec}{body}</div>', unsafe_allow_html=True)
        tags = theme_chips(p.get("theme_ids") or p.get("themes") or []) + agency_chips(
            p.get("agency_ids") or p.get("agencies") or [], p.get("addressees") or []
        )
        c1, c2 = st.columns([5, 1])
        if tags:
            c1.markdown(f"<div>{tags}</div>", unsafe_allow_html=True)
        if c2.button("Open document", key=f"open-{key}", help="Read this passage in its document"):
            open_document(p["doc_id"], p.get("passage_id"))


def pager(total: int, page_size: int, key: str) -> int:
    """Prev / next controls; returns the current 1-based page (kept in session state)."""
    pages = max(1, -(-total // page_size))
    page = min(max(1, st.session_state.get(key, 1)), pages)
    st.session_state[key] = page
    if pages <= 1:
        return page
    c1, c2, c3 = st.columns([1, 2, 1])
    if c1.button("← Previous", key=f"{key}-prev", disabled=page <= 1):
        st.session_state[key] = page - 1
        st.rerun()
    c2.markdown(f"<div style='text-align:center'>Page {page} of {pages}</div>", unsafe_allow_html=True)
    if c3.button("Next →", key=f"{key}-next", disabled=page >= pages):
        st.session_state[key] = page + 1
        st.rerun()
    return page


def passage_list(df: pd.DataFrame, *, key: str, page_size: int = 10, heading: str | None = None) -> None:
    """A paginated list of passages from the frame (escaped text, tags, link to the document)."""
    if heading:
        st.markdown(f"<div><b>{esc(heading)}</b> — {len(df):,} passage{'s' if len(df) != 1 else ''}</div>",
                    unsafe_allow_html=True)
    if df.empty:
        st.info("No passages.")
        return
    page = pager(len(df), page_size, key=f"{key}-page")
    for row in df.iloc[(page - 1) * page_size: page * page_size].to_dict("records"):
        passage_card(row, key=f"{key}-{row['passage_id']}")


def passage_list_ids(ids, *, key: str, page_size: int = 10, heading: str | None = None) -> None:
    """`passage_list` for a list of passage ids: only the page shown is read from the store."""
    ids = list(ids)
    if heading:
        st.markdown(f"<div><b>{esc(heading)}</b> — {len(ids):,} passage{'s' if len(ids) != 1 else ''}</div>",
                    unsafe_allow_html=True)
    if not ids:
        st.info("No passages.")
        return
    page = pager(len(ids), page_size, key=f"{key}-page")
    rows = passages_by_id(data_dir(), ids[(page - 1) * page_size: page * page_size])
    for row in rows.to_dict("records"):
        passage_card(row, key=f"{key}-{row['passage_id']}")


def search_export_bytes(directory: str, idx, fmt: str, query: str, filters: dict) -> bytes:
    """The export (`dhr export` format) of every passage a search returns: the filters go to the
    export as they are, the query restricts it to the search's hits."""
    from dhr.export import export_rows, to_csv, to_jsonl

    store = Store(config.db_path(Path(directory)))
    try:
        rows = export_rows(store, filters or None)
    finally:
        store.close()
    if query.strip():
        ids, page = set(), 1
        while True:
            r = idx.search(query, filters=filters or None, page=page, page_size=1000, sort="year")
            ids.update(h.passage_id for h in r.hits)
            if page >= r.page_count or not r.hits:
                break
            page += 1
        rows = [row for row in rows if row["passage_id"] in ids]
    return to_csv(rows) if fmt == "csv" else to_jsonl(rows)


# ---- filters -------------------------------------------------------------------------

def apply_filters(df: pd.DataFrame, f: dict) -> pd.DataFrame:
    """The frame's rows matching a search-style filters dict (theme, agency, addressee, type,
    area, year, rec, passage_ids)."""
    mask = pd.Series(True, index=df.index)
    if f.get("theme"):
        wanted = set(f["theme"])
        mask &= df["theme_ids"].map(lambda ts: not wanted.isdisjoint(ts))
    if f.get("agency"):
        wanted = set(f["agency"])
        mask &= df["agency_ids"].map(lambda ts: not wanted.isdisjoint(ts))
    if f.get("addressee"):
        wanted = set(f["addressee"])
        mask &= df["addressees"].map(lambda ts: not wanted.isdisjoint(ts))
    if f.get("type"):
        mask &= df["doc_type"].isin(f["type"])
    if f.get("area"):
        mask &= df["area"].isin(f["area"])
    if f.get("year"):
        lo, hi = f["year"]
        yr = df["year"]
        mask &= yr.notna() & (yr >= lo) & (yr <= hi)
    if f.get("rec"):
        mask &= df["is_recommendation"]
    if f.get("doc"):
        mask &= df["doc_id"].isin(f["doc"])
    if f.get("passage_ids") is not None:
        mask &= df["passage_id"].isin(set(f["passage_ids"]))
    return df[mask]


def year_bounds(df: pd.DataFrame | None) -> tuple[int, int] | None:
    """(first, last) year of the passages in `df`; of all documents when `df` is None."""
    if df is None:
        years = [d["year"] for d in docs() if d.get("year")]
        return (int(min(years)), int(max(years))) if years else None
    years = df["year"].dropna()
    if years.empty:
        return None
    return int(years.min()), int(years.max())


def filter_widgets(df: pd.DataFrame | None, key: str, *, where=None, counts: dict | None = None,
                   include: Iterable[str] = ("theme", "agency", "addressee", "type", "area", "year", "rec"),
                   rec_default: bool = False, values: dict[str, list] | None = None) -> dict:
    """Sidebar (or `where`) widgets for the search filter vocabulary; returns the filters dict.

    The options are the values found in `df`, or given as `values` ({facet: [values]}, with
    `df=None`: the year range then comes from the documents). `counts` maps facet name ->
    {value: count} and is shown next to each option.
    """
    if df is None:
        values = values or {}
        present = lambda facet: sorted(v for v in values.get(facet, []) if v not in (None, ""))  # noqa: E731
    else:
        def present(facet):
            if df.empty:
                return []
            if facet in ("agency", "addressee"):
                col = "agency_ids" if facet == "agency" else "addressees"
                return sorted({a for ags in df[col] for a in ags})
            col = "doc_type" if facet == "type" else facet
            return sorted(v for v in df[col].dropna().unique() if v)
    where = where or st.sidebar
    counts = counts or {}
    include = set(include)
    f: dict = {}

    def fmt(facet, name_of):
        c = counts.get(facet, {})
        return lambda v: f"{name_of(v)} ({c.get(v, 0):,})" if counts else name_of(v)

    def options(facet, values):
        c = counts.get(facet, {})
        chosen = st.session_state.get(f"{key}-{facet}", [])
        vals = list(dict.fromkeys([*values, *chosen]))
        if c:
            vals.sort(key=lambda v: (-c.get(v, 0), str(v)))
        return vals

    if "theme" in include:
        f["theme"] = where.multiselect("Theme", options("theme", [t["id"] for t in codebook()]),
                                       format_func=fmt("theme", theme_name), key=f"{key}-theme")
    if "agency" in include:
        f["agency"] = where.multiselect("Agency mentioned", options("agency", present("agency")),
                                        format_func=fmt("agency", agency_name), key=f"{key}-agency")
    if "addressee" in include:
        f["addressee"] = where.multiselect("Addressee (asked to act)", options("addressee", present("addressee")),
                                           format_func=fmt("addressee", agency_name), key=f"{key}-addressee")
    if "type" in include:
        f["type"] = where.multiselect("Document type", options("type", present("type")),
                                      format_func=fmt("type", lambda v: str(v).replace("_", " ")), key=f"{key}-type")
    if "area" in include:
        f["area"] = where.multiselect("Area", options("area", present("area")), format_func=fmt("area", str),
                                      key=f"{key}-area")
    if "year" in include:
        bounds = year_bounds(df)
        if bounds and bounds[0] < bounds[1]:
            chosen = where.slider("Years", bounds[0], bounds[1], bounds, key=f"{key}-year")
            if tuple(chosen) != tuple(bounds):
                f["year"] = (int(chosen[0]), int(chosen[1]))
    if "rec" in include:
        if where.toggle("Recommendations only", value=rec_default, key=f"{key}-rec"):
            f["rec"] = True
    return {k: v for k, v in f.items() if v}


def filters_from_state(df: pd.DataFrame | None, key: str) -> dict:
    """The filters dict that `filter_widgets(df, key)` will return, read from session state
    before the widgets are drawn."""
    ss = st.session_state
    f: dict = {}
    for facet in ("theme", "agency", "addressee", "type", "area"):
        if ss.get(f"{key}-{facet}"):
            f[facet] = list(ss[f"{key}-{facet}"])
    bounds = year_bounds(df)
    chosen = ss.get(f"{key}-year")
    if bounds and chosen and tuple(chosen) != tuple(bounds):
        f["year"] = (int(chosen[0]), int(chosen[1]))
    if ss.get(f"{key}-rec"):
        f["rec"] = True
    return f


def describe_filters(f: dict) -> str:
    parts = []
    for k, label, name_of in (("theme", "theme", theme_name), ("agency", "agency", agency_name),
                              ("addressee", "addressee", agency_name), ("type", "type", str),
                              ("area", "area", str)):
        if f.get(k):
            parts.append(f"{label}: " + ", ".join(name_of(v) for v in f[k]))
    if f.get("year"):
        parts.append(f"years {f['year'][0]}–{f['year'][1]}")
    if f.get("rec"):
        parts.append("recommendations only")
    return "; ".join(parts)


def empty_store_notice() -> bool:
    """Tell the user how to add data when the store is empty; True when it is."""
    if get_store(data_dir()).counts()["passages"] == 0:
        st.info(
            f"No reports in the data directory `{data_dir()}` yet. Add some on the "
            "**Add reports** page, or run `dhr ingest PATH` in a terminal."
        )
        st.page_link(PAGE_FILES["add"], label="Add reports")
        return True
    return False


def setup_page(title: str, caption: str = "") -> None:
    st.title(title)
    if caption:
        st.caption(caption)
