"""Themes: how often each theme comes up, by year and by area, as a share of documents or of
passages; a theme-by-year heatmap; themes that co-occur. Click any bar or cell to read the
passages behind it."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import explorer_common as ec
from dhr.facts import Facts

ec.setup_page("Themes", "How often each theme recurs across reports, years and areas. "
              "Click a bar or a cell to read the passages behind it.")
if ec.empty_store_notice():
    st.stop()

F = ec.facts()
names = ec.theme_names()
scale = ec.theme_scale("name")

st.sidebar.subheader("Measure and filters")
# passages first: in a small collection almost every report touches every common theme at least once
measure = st.sidebar.radio("Measure", ["passages", "documents"], key="themes-measure",
                           format_func={"documents": "Share of documents", "passages": "Share of passages"}.get,
                           help="Share of documents: of the documents of that year (or area), how many have at "
                                "least one passage with the theme. Share of passages: of all their passages, "
                                "how many carry the theme.")
filters = ec.filter_widgets(None, "themes-f", include=("type", "area", "year", "rec"), values=F.values())
sub = F.mask(filters)
if not sub.any():
    st.warning("No passages match these filters.")
    st.stop()


def _group_counts(F: Facts, sub: np.ndarray, key: np.ndarray, labels: list) -> pd.DataFrame:
    """theme x group (year or area code in `key`, -1 = none) counts over the passages in `sub`:
    documents with the theme, passages with it, and each group's totals. (A document sits in
    one year and one area, so its group is that of any of its passages.)"""
    K, G = len(F.themes), len(labels)
    ok = sub & (key >= 0)
    if not ok.any():
        return pd.DataFrame(columns=["theme_id", "value", "docs", "passages", "total_docs", "total_passages"])
    k, doc = key[ok], F.doc[ok].astype(np.int64)
    pr, pt = np.nonzero(F.T[ok])                      # (passage, theme) pairs
    passages = np.bincount(k[pr] * K + pt, minlength=G * K).reshape(G, K)
    total_passages = np.bincount(k, minlength=G)
    doc_group = np.full(len(F.doc_ids), -1, dtype=np.int64)
    doc_group[doc] = k
    dt = np.unique(doc[pr] * K + pt)                  # (document, theme) pairs
    docs = np.bincount(doc_group[dt // K] * K + dt % K, minlength=G * K).reshape(G, K)
    total_docs = np.bincount(doc_group[np.unique(doc)], minlength=G)
    gi, ti = np.nonzero(passages)
    return pd.DataFrame({
        "theme_id": [F.themes[t] for t in ti], "value": [labels[g] for g in gi],
        "docs": docs[gi, ti], "passages": passages[gi, ti],
        "total_docs": total_docs[gi], "total_passages": total_passages[gi],
    })


@st.cache_data(show_spinner=False, max_entries=32)
def aggregates(directory: str, sig: str, filters_repr: str, _F: Facts, _sub: np.ndarray) -> dict[str, pd.DataFrame]:
    """Counts and shares per theme x year, theme x area, and theme pairs (cached per filters),
    computed on the passage facts: no text is read."""
    F, sub = _F, _sub
    out = {}
    years = sorted({int(y) for y in np.unique(F.year[sub]) if y >= 0})
    year_code = np.full(F.n, -1, dtype=np.int64)
    if years:
        lookup = {y: i for i, y in enumerate(years)}
        uy = np.unique(F.year)
        codes = np.array([lookup.get(int(y), -1) for y in uy])
        year_code = codes[np.searchsorted(uy, F.year)]
    for dim, key, labels in (("year", year_code, years), ("area", F.area.astype(np.int64), list(F.areas))):
        g = _group_counts(F, sub, key, labels).rename(columns={"value": dim})
        g["share_documents"] = g["docs"] / g["total_docs"]
        g["share_passages"] = g["passages"] / g["total_passages"]
        if dim == "year":
            g["year"] = g["year"].astype(int)
        out[dim] = g
    T = F.T[sub]
    n_docs = len(np.unique(F.doc[sub]))
    theme_passages = T.sum(axis=0)
    pr, pt = np.nonzero(T)
    theme_docs = np.bincount(np.unique(F.doc[sub][pr].astype(np.int64) * len(F.themes) + pt) % len(F.themes),
                             minlength=len(F.themes))
    keep = np.nonzero(theme_passages)[0]
    overall = pd.DataFrame({"theme_id": [F.themes[t] for t in keep], "docs": theme_docs[keep],
                            "passages": theme_passages[keep]})
    overall["share_documents"] = overall["docs"] / max(n_docs, 1)
    overall["share_passages"] = overall["passages"] / max(int(sub.sum()), 1)
    out["overall"] = overall
    # passages carrying both themes, column by column (no BLAS matmul: its threads stall on a busy machine)
    both = np.zeros((len(F.themes), len(F.themes)), dtype=np.int64)
    for t in np.nonzero(theme_passages)[0]:
        both[t] = np.count_nonzero(T & T[:, [t]], axis=0)
    np.fill_diagonal(both, 0)
    a, b = np.nonzero(both)
    out["cooccur"] = pd.DataFrame({"theme_a": [F.themes[i] for i in a], "theme_b": [F.themes[j] for j in b],
                                   "passages": both[a, b]})
    return out


d = ec.data_dir()
agg = aggregates(d, ec.signature(d), repr(sorted(filters.items())), F, sub)
share = f"share_{measure}"
share_title = "Share of documents" if measure == "documents" else "Share of passages"
overall = agg["overall"].sort_values(share, ascending=False)
if overall.empty:
    st.info("No passage in this selection carries a theme yet (has the tagger run?).")
    st.stop()

default = list(overall["theme_id"][:5])
chosen = st.multiselect("Themes to compare", [t for t in names if t in set(overall["theme_id"])],
                        default=default, format_func=ec.theme_name, key="themes-chosen")
if not chosen:
    chosen = default


def with_names(frame: pd.DataFrame, col: str = "theme_id", out: str = "theme") -> pd.DataFrame:
    frame = frame.copy()
    frame[out] = frame[col].map(lambda t: names.get(t, t))
    return frame


def chart_event(chart: alt.Chart, key: str, sel_name: str) -> list[dict]:
    event = st.altair_chart(chart, on_select="rerun", key=key, width="stretch")
    try:
        return list(event.selection.get(sel_name) or []) if event else []
    except AttributeError:
        return []


def remember(key: str, picked: list[dict], kind: str) -> None:
    """A new click on a chart becomes the drill-down (the latest click wins across charts)."""
    last = st.session_state.get(f"{key}-last")
    if picked and picked != last:
        st.session_state["themes-drill"] = {"kind": kind, **picked[0]}
    st.session_state[f"{key}-last"] = picked


pct = alt.Axis(format="%")

# 1. theme frequency by year
by_year = with_names(agg["year"][agg["year"]["theme_id"].isin(chosen)])
sel_year = alt.selection_point(name="pick", fields=["theme_id", "year"], on="click")
bars = (
    alt.Chart(by_year, title=f"{share_title} mentioning each theme, by year")
    .mark_bar()
    .encode(
        x=alt.X("year:O", title="Year", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("theme:N", sort=[names[t] for t in chosen]),
        y=alt.Y(f"{share}:Q", title=share_title, axis=pct),
        color=alt.Color("theme:N", scale=scale, title="Theme",
                        legend=alt.Legend(orient="right", values=[names[t] for t in chosen], labelLimit=260)),
        opacity=alt.condition(sel_year, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("theme:N", title="Theme"), alt.Tooltip("year:O", title="Year"),
                 alt.Tooltip(f"{share}:Q", title=share_title, format=".1%"),
                 alt.Tooltip("docs:Q", title="Documents"), alt.Tooltip("total_docs:Q", title="Documents that year"),
                 alt.Tooltip("passages:Q", title="Passages")],
    )
    .add_params(sel_year)
    .properties(height=320)
)
remember("themes-year", chart_event(bars, "themes-year", "pick"), "theme_year")

# 2. by area
by_area = with_names(agg["area"][agg["area"]["theme_id"].isin(chosen)])
if not by_area.empty:
    sel_area = alt.selection_point(name="pick", fields=["theme_id", "area"], on="click")
    n_areas = by_area["area"].nunique()
    area_chart = (
        alt.Chart(by_area, title=f"{share_title} mentioning each theme, by area")
        .mark_bar()
        .encode(
            y=alt.Y("area:N", title="Area", sort="ascending"),
            yOffset=alt.YOffset("theme:N", sort=[names[t] for t in chosen]),
            x=alt.X(f"{share}:Q", title=share_title, axis=pct),
            color=alt.Color("theme:N", scale=scale, title="Theme", legend=None),
            opacity=alt.condition(sel_area, alt.value(1.0), alt.value(0.45)),
            tooltip=[alt.Tooltip("theme:N", title="Theme"), alt.Tooltip("area:N", title="Area"),
                     alt.Tooltip(f"{share}:Q", title=share_title, format=".1%"),
                     alt.Tooltip("docs:Q", title="Documents"), alt.Tooltip("passages:Q", title="Passages")],
        )
        .add_params(sel_area)
        .properties(height=min(60 + n_areas * 14 * max(len(chosen), 1), 900))
    )
    remember("themes-area", chart_event(area_chart, "themes-area", "pick"), "theme_area")

c1, c2 = st.container(), st.container()
# 3. theme x year heatmap, every theme
with c1:
    heat = with_names(agg["year"])
    sel_cell = alt.selection_point(name="pick", fields=["theme_id", "year"], on="click")
    heatmap = (
        alt.Chart(heat, title=f"Theme by year ({share_title.lower()})")
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("year:O", title="Year", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("theme:N", title="Theme", sort=[names[t] for t in names],
                    axis=alt.Axis(labelLimit=320, labelOverlap=False)),
            color=alt.Color(f"{share}:Q", title=share_title, scale=alt.Scale(scheme="orangered"),
                            legend=alt.Legend(format=".0%")),
            opacity=alt.condition(sel_cell, alt.value(1.0), alt.value(0.55)),
            tooltip=[alt.Tooltip("theme:N", title="Theme"), alt.Tooltip("year:O", title="Year"),
                     alt.Tooltip(f"{share}:Q", title=share_title, format=".1%"),
                     alt.Tooltip("docs:Q", title="Documents"), alt.Tooltip("passages:Q", title="Passages")],
        )
        .add_params(sel_cell)
        .properties(height=520)
    )
    remember("themes-heat", chart_event(heatmap, "themes-heat", "pick"), "theme_year")

# 4. co-occurrence
with c2:
    co = agg["cooccur"].copy()
    if co.empty:
        st.info("No passage carries two themes at once in this selection.")
    else:
        co["theme_a_name"] = co["theme_a"].map(lambda t: names.get(t, t))
        co["theme_b_name"] = co["theme_b"].map(lambda t: names.get(t, t))
        sel_pair = alt.selection_point(name="pick", fields=["theme_a", "theme_b"], on="click")
        order = [names[t] for t in names]
        co_chart = (
            alt.Chart(co, title="Themes that co-occur (passages carrying both)")
            .mark_rect(stroke="white", strokeWidth=0.5)
            .encode(
                x=alt.X("theme_a_name:N", title="Theme", sort=order, axis=alt.Axis(labelAngle=-40, labelLimit=220, labelOverlap=False)),
                y=alt.Y("theme_b_name:N", title="Co-occurring theme", sort=order,
                        axis=alt.Axis(labelLimit=320, labelOverlap=False)),
                color=alt.Color("passages:Q", title="Passages", scale=alt.Scale(scheme="blues")),
                opacity=alt.condition(sel_pair, alt.value(1.0), alt.value(0.55)),
                tooltip=[alt.Tooltip("theme_a_name:N", title="Theme"),
                         alt.Tooltip("theme_b_name:N", title="With"), alt.Tooltip("passages:Q", title="Passages")],
            )
            .add_params(sel_pair)
            .properties(height=600)
        )
        remember("themes-co", chart_event(co_chart, "themes-co", "pick"), "pair")

# drill-down: the passages behind the last bar or cell clicked
st.divider()
drill = st.session_state.get("themes-drill")
if not drill:
    st.markdown("**Passages behind a bar or cell** — click any bar or cell above.")
    st.stop()

rows = sub.copy()
if drill["kind"] in ("theme_year", "theme_area"):
    tid = drill.get("theme_id")
    rows &= F.mask({"theme": [tid]})
    if drill["kind"] == "theme_year":
        rows &= F.year == int(drill["year"])
        heading = f"{ec.theme_name(tid)} in {drill['year']}"
    else:
        rows &= F.mask({"area": [drill["area"]]})
        heading = f"{ec.theme_name(tid)} in {drill['area']}"
else:
    a, b = drill.get("theme_a"), drill.get("theme_b")
    rows &= F.mask({"theme": [a]}) & F.mask({"theme": [b]})
    heading = f"{ec.theme_name(a)} together with {ec.theme_name(b)}"
if st.button("Clear selection", key="themes-clear"):
    st.session_state.pop("themes-drill", None)
    st.rerun()
ec.passage_list_ids(F.pid[rows], key="themes-drill-list", heading=heading)
