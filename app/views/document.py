"""Document: metadata, the text page by page with tagged passages highlighted (tags and their
evidence shown), and the original file to download."""
from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path

import streamlit as st

import explorer_common as ec

ec.setup_page("Document")
if ec.empty_store_notice():
    st.stop()

documents = ec.docs()
by_id = {d["doc_id"]: d for d in documents}
params = st.query_params
wanted = params.get("doc")
focus = params.get("passage")
if wanted in by_id and st.session_state.get("doc-from-link") != (wanted, focus):
    # arriving from a link: select that document (and the focused passage's page)
    st.session_state["doc-from-link"] = (wanted, focus)
    st.session_state["doc-select"] = wanted
    st.session_state.pop("doc-page", None)


def doc_label(doc_id: str) -> str:
    d = by_id[doc_id]
    bits = [d.get("title") or d["file_name"]]
    if d.get("year"):
        bits.append(str(d["year"]))
    if d.get("area"):
        bits.append(d["area"])
    return " · ".join(bits)


doc_id = st.selectbox("Document", list(by_id), format_func=doc_label, key="doc-select")
if params.get("doc") != doc_id:
    st.query_params["doc"] = doc_id
    if "passage" in st.query_params and st.session_state.get("doc-from-link", (None,))[0] != doc_id:
        del st.query_params["passage"]
        focus = None
doc = by_id[doc_id]


@st.cache_data(show_spinner=False, max_entries=32)
def load(directory: str, sig: str, doc_id: str):
    store = ec.get_store(directory)
    return store.pages(doc_id), store.tagged_passages(doc_id)


d = ec.data_dir()
pages, passages = load(d, ec.signature(d), doc_id)
n_tagged = sum(1 for p in passages if p["themes"] or p["agencies"])
n_recs = sum(1 for p in passages if p["is_recommendation"])

# ---- metadata and original ---------------------------------------------------------
st.subheader(doc.get("title") or doc["file_name"], anchor=False)
m = st.columns(5)
m[0].metric("Year", doc.get("year") or "—")
m[1].metric("Pages", doc.get("page_count") or len(pages))
m[2].metric("Passages", len(passages))
m[3].metric("Tagged passages", n_tagged)
m[4].metric("Recommendations", n_recs)
meta_rows = [
    ("Type", (doc.get("doc_type") or "").replace("_", " ")), ("Area", doc.get("area")),
    ("Date", doc.get("date")), ("Publisher", doc.get("publisher")), ("File", doc.get("file_name")),
    ("Format", doc.get("format")), ("Ingested", doc.get("ingested_at")), ("Tagger", doc.get("tagger_version") or "not tagged"),
]
st.markdown("<div>" + " · ".join(f"<b>{ec.esc(k)}:</b> {ec.esc(v)}" for k, v in meta_rows if v) + "</div>",
            unsafe_allow_html=True)
if doc.get("manifest_fields"):
    st.caption("From the manifest: " + ", ".join(doc["manifest_fields"]))

original = Path(doc.get("path") or "")
if original.is_file():
    mime = mimetypes.guess_type(original.name)[0] or "application/octet-stream"
    st.download_button(f"Original file ({original.name})", icon=":material/download:", data=lambda: original.read_bytes(),
                       file_name=original.name, mime=mime, key="doc-original", on_click="ignore")
else:
    st.caption("The original file is no longer at the path it was ingested from.")

# ---- view controls -----------------------------------------------------------------
st.divider()
by_page: dict[int, list[dict]] = {}
for p in passages:
    by_page.setdefault(int(p["page"] or 1), []).append(p)
n_pages = max(len(pages), max(by_page, default=1))
order = list(ec.theme_names())
doc_themes = sorted({t["id"] for p in passages for t in p["themes"]},
                    key=lambda t: (order.index(t) if t in order else len(order), t))

c1, c2, c3 = st.columns([2, 3, 2])
only_tagged = c1.toggle("Tagged passages only", key="doc-only-tagged")
highlight = c2.multiselect("Highlight themes", doc_themes, format_func=ec.theme_name, key="doc-themes",
                           help="Empty: every tagged passage is highlighted.")
per_page = c3.selectbox("Pages shown at once", [1, 5, 20, "all"], index=1, key="doc-per-page")

focus_page = None
if focus:
    for p in passages:
        if p["passage_id"] == focus:
            focus_page = int(p["page"] or 1)
span = n_pages if per_page == "all" else int(per_page)
blocks = max(1, -(-n_pages // span))
if st.session_state.get("doc-page-for") != (doc_id, focus, span):
    st.session_state["doc-page-for"] = (doc_id, focus, span)
    st.session_state.pop("doc-page", None)
if "doc-page" not in st.session_state:
    st.session_state["doc-page"] = ((focus_page - 1) // span + 1) if focus_page else 1
block = ec.pager(n_pages, span, key="doc-page") if blocks > 1 else 1
first, last = (block - 1) * span + 1, min(block * span, n_pages)
if blocks > 1:
    st.caption(f"Showing pages {first}–{last} of {n_pages}")


def is_tagged(p: dict) -> bool:
    return bool(p["themes"] or p["agencies"] or p["is_recommendation"])


def render(p: dict) -> None:
    theme_ids = [t["id"] for t in p["themes"]]
    tagged = is_tagged(p)
    lit = tagged and (not highlight or bool(set(highlight) & set(theme_ids)))
    classes = ["dhr-passage"] + (["dhr-tagged"] if lit else []) + (["dhr-focus"] if p["passage_id"] == focus else [])
    label = ""
    if p.get("label") and not p["text"].lstrip().startswith(p["label"]):
        label = f"<b>{ec.esc(p['label'])}</b> "
    section = ""
    st.markdown(
        f'<div id="{ec.esc(p["passage_id"])}" class="{" ".join(classes)}">{section}{label}{ec.esc_block(p["text"])}</div>',
        unsafe_allow_html=True,
    )
    if lit:
        chips = ""
        if p["is_recommendation"]:
            chips += ec.chip(ec.rec_badge(p["recommendation_label"]), "#d4a017")
        evidence = {t["id"]: t.get("evidence") or "" for t in p["themes"]}
        chips += ec.theme_chips(theme_ids, evidence)
        agency_ids = list(dict.fromkeys(a["id"] for a in p["agencies"] if a.get("id")))
        chips += ec.agency_chips(agency_ids, p["addressees"])
        st.markdown(f"<div>{chips}</div>", unsafe_allow_html=True)
        why = [f"<li><b>{ec.esc(ec.theme_name(t['id']))}</b> ({t['score']:.2f}): “{ec.esc(' '.join((t.get('evidence') or '').split()))}”</li>"
               for t in p["themes"]]
        mentions = [f"{ec.esc(' '.join((a.get('mention') or '').split()))} → {ec.esc(ec.agency_name(a['id']) if a.get('id') else 'no agency id')}"
                    for a in p["agencies"]]
        if why or mentions:
            with st.expander("Why these tags", expanded=p["passage_id"] == focus):
                if why:
                    st.markdown("<ul>" + "".join(why) + "</ul>", unsafe_allow_html=True)
                if mentions:
                    st.markdown("<div>Agencies named: " + "; ".join(mentions) + "</div>", unsafe_allow_html=True)


shown = 0
for page_no in range(first, last + 1):
    items = by_page.get(page_no, [])
    if only_tagged:
        items = [p for p in items if is_tagged(p)]
    if only_tagged and not items:
        continue
    st.markdown(f"##### Page {page_no}")
    section = None
    for p in items:
        if p.get("section") and p["section"] != section:
            section = p["section"]
            st.markdown(f"<div style='color:#666;font-size:0.85em'>§ {ec.esc(section)}</div>", unsafe_allow_html=True)
        render(p)
        shown += 1
    if not items and page_no - 1 < len(pages) and pages[page_no - 1].strip():
        st.markdown(f'<div class="dhr-passage" style="color:#555">{ec.esc_block(pages[page_no - 1])}</div>',
                    unsafe_allow_html=True)
    if page_no - 1 < len(pages) and pages[page_no - 1].strip():
        with st.expander(f"Page {page_no} as extracted"):
            st.markdown(f'<div class="dhr-passage" style="font-size:0.85em">{ec.esc_block(pages[page_no - 1])}</div>',
                        unsafe_allow_html=True)
if only_tagged and not shown:
    st.info("No tagged passage on these pages.")

# Arriving from a link to a passage: scroll it into view once (a local script; the id is checked).
if focus and focus_page and re.fullmatch(r"[A-Za-z0-9_.:-]+", focus) and \
        st.session_state.get("doc-scrolled") != (doc_id, focus):
    st.session_state["doc-scrolled"] = (doc_id, focus)
    st.iframe(
        "<script>let n = 0; const go = () => { const el = window.parent.document.getElementById("
        + json.dumps(focus)
        + "); if (el) { el.scrollIntoView({block: 'center'}); } else if (n++ < 30) { setTimeout(go, 100); } };"
        " go();</script>",
        height=1,
    )
