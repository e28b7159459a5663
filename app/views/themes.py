"""Themes: how often each theme comes up, by year and by area, as a share of documents or of
passages; a theme-by-year heatmap; themes that co-occur. Click any bar or cell to read the
passages behind it."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import explorer_common as ec

ec.setup_page("Themes", "How often each theme recurs across reports, years and areas. "
              "Click a bar or a cell to read the passages behind it.")
if ec.empty_store_notice():
    st.stop()

df = ec.frame()
names = ec.theme_names()
scale = ec.theme_scale("name")

st.sidebar.subheader("Measure and filters")
measure = st.sidebar.radio("Measure", ["documents", "passages"], key="themes-measure",
                           format_func={"documents": "Share of documents", "passages": "Share of passages"}.get,
                           help="Share of documents: of the documents of that year (or area), how many have at "
                                "least one passage with the theme. Share of passages: of all their passages, "
                                "how many carry the theme.")
filters = ec.filter_widgets(df, "themes-f", include=("type", "area", "year", "rec"))
sub = ec.apply_filters(df, filters)
if sub.empty:
    st.warning("No passages match these filters.")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=16)
def aggregates(directory: str, sig: str, filters_repr: str, _sub: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Counts and shares per theme x year, theme x area, and theme pairs (cached per filters)."""
    base = _sub[["passage_id", "doc_id", "year", "area", "theme_ids"]]
    ex = base.explode("theme_ids").dropna(subset=["theme_ids"]).rename(columns={"theme_ids": "theme_id"})
    out = {}
    for dim in ("year", "area"):
        b = base.dropna(subset=[dim]) if dim == "year" else base[base["area"].fillna("") != ""]
        totals = b.groupby(dim).agg(total_docs=("doc_id", "nunique"), total_passages=("passage_id", "size"))
        e = ex.dropna(subset=[dim]) if dim == "year" else ex[ex["area"].fillna("") != ""]
        g = e.groupby(["theme_id", dim]).agg(docs=("doc_id", "nunique"), passages=("passage_id", "size"))
        g = g.reset_index().merge(totals.reset_index(), on=dim)
        g["share_documents"] = g["docs"] / g["total_docs"]
        g["share_passages"] = g["passages"] / g["total_passages"]
        if dim == "year":
            g["year"] = g["year"].astype(int)
        out[dim] = g
    overall = ex.groupby("theme_id").agg(docs=("doc_id", "nunique"), passages=("passage_id", "size")).reset_index()
    overall["share_documents"] = overall["docs"] / max(base["doc_id"].nunique(), 1)
    overall["share_passages"] = overall["passages"] / max(len(base), 1)
    out["overall"] = overall
    pairs = ex[["passage_id", "theme_id"]]
    co = pairs.merge(pairs, on="passage_id")
    co = co[co["theme_id_x"] != co["theme_id_y"]]
    co = co.groupby(["theme_id_x", "theme_id_y"]).size().reset_index(name="passages")
    out["cooccur"] = co.rename(columns={"theme_id_x": "theme_a", "theme_id_y": "theme_b"})
    return out


d = ec.data_dir()
agg = aggregates(d, ec.signature(d), repr(sorted(filters.items())), sub)
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

rows = sub
if drill["kind"] in ("theme_year", "theme_area"):
    tid = drill.get("theme_id")
    rows = rows[rows["theme_ids"].map(lambda ts: tid in ts)]
    if drill["kind"] == "theme_year":
        rows = rows[rows["year"] == int(drill["year"])]
        heading = f"{ec.theme_name(tid)} in {drill['year']}"
    else:
        rows = rows[rows["area"] == drill["area"]]
        heading = f"{ec.theme_name(tid)} in {drill['area']}"
else:
    a, b = drill.get("theme_a"), drill.get("theme_b")
    rows = rows[rows["theme_ids"].map(lambda ts: a in ts and b in ts)]
    heading = f"{ec.theme_name(a)} together with {ec.theme_name(b)}"
if st.button("Clear selection", key="themes-clear"):
    st.session_state.pop("themes-drill", None)
    st.rerun()
ec.passage_list(rows, key="themes-drill-list", heading=heading)
