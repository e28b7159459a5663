"""Search: every passage, with the search syntax, facet filters with counts, highlighted
snippets, pagination and export of the current results."""
from __future__ import annotations

import functools

import streamlit as st

import explorer_common as ec

SYNTAX = """
| you type | finds |
|---|---|
| `strangulation choking` | passages with both words (word forms match: *strangled*, *strangling*) |
| `"non-fatal strangulation"` | the exact phrase; `"seen alone"~3`: the words within three of each other |
| `strangulation OR choking`, `marac NOT police` | boolean operators (upper case); `( )` to group |
| `strangulat*`, `safeguard?ng`, `strangulaton~` | wildcards; fuzzy match |
| `theme:missed_risk`, `agency:police`, `addressee:gp_primary_care` | tags (theme and agency ids) |
| `rec:yes`, `type:dhr_overview`, `area:Kent`, `year:2018-2022` | recommendations, document type, area, years |
| `title:croydon`, `section:recommendations` | words in the title or section heading |

Leave the box empty to list every passage that matches the filters (newest first).
"""

ec.setup_page("Search", "Search every passage of every report; filter by theme, agency, document and year.")
if ec.empty_store_notice():
    st.stop()

d = ec.data_dir()


@st.cache_data(show_spinner=False, max_entries=4)
def facet_values(directory: str, sig: str) -> dict[str, list]:
    """Every value each filter can take (from the index: the search page never loads the passage table)."""
    res = ec.index().search("", filters=None, page=1, page_size=1)
    return {k: [v for v, _ in vals] for k, vals in res.facets.items()}


values = facet_values(d, ec.signature(d))

c1, c2, c3 = st.columns([6, 2, 1])
query = c1.text_input("Search passages", key="search-q", placeholder='e.g. "risk assessment" AND police',
                      help='Words, "phrases", AND / OR / NOT, wildcards*, field:value: see Search syntax below.')
sort = c2.selectbox("Sort by", ["relevance", "year", "year_asc"], key="search-sort",
                    format_func={"relevance": "Relevance", "year": "Newest first",
                                 "year_asc": "Oldest first"}.get)
page_size = c3.selectbox("Per page", [10, 20, 50], index=1, key="search-size")
with st.expander("Search syntax"):
    st.markdown(SYNTAX)

# Filters are read from the widgets' state first, so that the search runs before the filter
# widgets are drawn and their labels can show the counts of this very result set.
filters = ec.filters_from_state(None, "search-f")
state = repr((query, sorted(filters.items()), sort, page_size))
if st.session_state.get("search-state") != state:  # new query, filters or sort: back to page 1
    st.session_state["search-state"] = state
    st.session_state["search-page"] = 1
page = st.session_state.get("search-page", 1)

from dhr.index import QueryError  # noqa: E402

idx = ec.index()
try:
    res = idx.search(query.strip(), filters=filters or None, page=page, page_size=page_size, sort=sort)
except QueryError as exc:
    res = None
    st.error(f"That query could not be read: {exc}. See *Search syntax* above.")

st.sidebar.subheader("Filters")
counts = {k: dict(v) for k, v in (res.facets or {}).items()} if res else {}
ec.filter_widgets(None, "search-f", counts=counts, values=values)
if st.sidebar.button("Clear filters", key="search-clear"):
    for k in list(st.session_state):
        if str(k).startswith("search-f-"):
            del st.session_state[k]
    st.rerun()
if res is None:
    st.stop()

head1, head2 = st.columns([3, 2])
what = f"for <b>{ec.esc(query)}</b>" if query.strip() else "(all passages)"
head1.markdown(f"<div><b>{res.total:,}</b> passage{'s' if res.total != 1 else ''} {what}"
               + (f" — {ec.esc(ec.describe_filters(filters))}" if filters else "") + "</div>", unsafe_allow_html=True)
if res.suggestion and res.suggestion.strip() != query.strip():
    head1.button(f"Did you mean: {res.suggestion}?", key="search-suggest",
                 on_click=lambda s=res.suggestion: st.session_state.update({"search-q": s}))


directory = ec.data_dir()


def _export(fmt: str, q: str, filters: dict) -> bytes:
    """Built when the button is clicked: every result of this search (all pages)."""
    return ec.search_export_bytes(directory, idx, fmt, q, filters)


with head2:
    e1, e2 = st.columns(2)
    e1.download_button("Results as CSV", icon=":material/download:", data=functools.partial(_export, "csv", query.strip(), filters),
                       file_name="dhr-search-results.csv", mime="text/csv", key="search-csv",
                       disabled=res.total == 0, on_click="ignore")
    e2.download_button("Results as JSONL", icon=":material/download:", data=functools.partial(_export, "jsonl", query.strip(), filters),
                       file_name="dhr-search-results.jsonl", mime="application/jsonl", key="search-jsonl",
                       disabled=res.total == 0, on_click="ignore")

if res.total == 0:
    st.info("No passage matches. Try fewer words, a prefix* or fewer filters.")
    st.stop()

for hit in res.hits:
    p = {
        "passage_id": hit.passage_id, "doc_id": hit.doc_id, "title": hit.title, "year": hit.year,
        "area": hit.area, "doc_type": hit.doc_type, "page": hit.page, "section": hit.section,
        "theme_ids": hit.themes, "agency_ids": hit.agencies, "addressees": hit.addressees,
        "is_recommendation": hit.is_recommendation, "recommendation_label": hit.label if hit.is_recommendation else "",
    }
    ec.passage_card(p, key=f"hit-{hit.passage_id}", snippet_html=hit.snippet_html or ec.esc(hit.text[:400]))

if res.page_count > 1:
    b1, b2, b3 = st.columns([1, 2, 1])
    if b1.button("← Previous", key="search-prev", disabled=res.page <= 1):
        st.session_state["search-page"] = res.page - 1
        st.rerun()
    b2.markdown(f"<div style='text-align:center'>Page {res.page} of {res.page_count}</div>",
                unsafe_allow_html=True)
    if b3.button("Next →", key="search-next", disabled=res.page >= res.page_count):
        st.session_state["search-page"] = res.page + 1
        st.rerun()
