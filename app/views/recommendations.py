"""Recommendations and agencies: every recommendation with its addressees, themes and source;
the agencies <-> themes network; recommendations that recur across reviews and years."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import explorer_common as ec
from dhr import facts as facts_cache
from dhr import graph

ec.setup_page("Recommendations & agencies",
              "Who past reviews asked to act, on what, and which recommendations keep coming back.")
if ec.empty_store_notice():
    st.stop()

recs_all = ec.recommendations()
if recs_all.empty:
    st.info("No recommendation has been found in these reports yet (has the tagger run?).")
    st.stop()

st.sidebar.subheader("Filter recommendations")
filters = ec.filter_widgets(recs_all, "recs-f", include=("addressee", "theme", "type", "area", "year"))
contains = st.sidebar.text_input("Text contains", key="recs-contains")
recs = ec.apply_filters(recs_all, filters)
if contains.strip():
    recs = recs[recs["text"].str.contains(contains.strip(), case=False, regex=False)]

d = ec.data_dir()
sig = ec.signature(d)
key = repr((sorted(filters.items()), contains.strip()))
st.markdown(f"**{len(recs):,}** of {len(recs_all):,} recommendations"
            + (f" — {ec.esc(ec.describe_filters(filters))}" if filters else "")
            + (f" — containing “{ec.esc(contains.strip())}”" if contains.strip() else ""))
if recs.empty:
    st.warning("No recommendation matches these filters.")
    st.stop()

MIN_SIMILARITY = facts_cache.MIN_SIMILARITY
TABLE_ROWS = 5000
# Lazy tabs: only the open tab's code runs (the recurring-recommendation comparison is the
# costly one, and runs only when that tab is opened).
tab_table, tab_network, tab_recurring = st.tabs(["Recommendations", "Network", "Recurring recommendations"],
                                                key="recs-tab", on_change="rerun")


def names_of(ids, name_of) -> str:
    return "; ".join(name_of(i) for i in ids)


# ---- the table --------------------------------------------------------------------
if tab_table.open:
    with tab_table:
        shown = recs if len(recs) <= TABLE_ROWS else recs.iloc[:TABLE_ROWS]
        if len(recs) > TABLE_ROWS:
            st.caption(f"The first {TABLE_ROWS:,} of {len(recs):,}: filter to narrow, or take them all from Export.")
        table = pd.DataFrame({
            "Source": shown["title"],
            "Year": shown["year"],
            "Label": shown["recommendation_label"],
            "Recommendation": shown["text"].str.slice(0, 400),
            "Addressees": shown["addressees"].map(lambda ids: names_of(ids, ec.agency_name) or "—"),
            "Themes": shown["theme_ids"].map(lambda ids: names_of(ids, ec.theme_name)),
            "Page": shown["page"],
        })
        st.caption("Select a row to read the recommendation in full.")
        event = st.dataframe(
            table, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
            on_select="rerun", selection_mode="single-row", key="recs-table",
            column_config={"Recommendation": st.column_config.TextColumn(width="large"),
                           "Source": st.column_config.TextColumn(width="medium"),
                           "Year": st.column_config.NumberColumn(format="%d"),
                           "Page": st.column_config.NumberColumn(format="%d")},
        )
        rows = event.selection.rows if event else []
        if rows and rows[0] < len(shown):
            ec.passage_card(shown.iloc[rows[0]].to_dict(), key="recs-selected", max_chars=5000)


# ---- the network ------------------------------------------------------------------
@st.cache_data(show_spinner="Drawing the network…", max_entries=16)
def network(directory: str, sig: str, key: str, include, min_weight: int, kind: str, _recs: pd.DataFrame):
    records = _recs.rename(columns={"theme_ids": "themes"})[
        ["passage_id", "doc_id", "title", "year", "addressees", "themes", "recommendation_label", "label"]
    ].to_dict("records")
    g = graph.build_graph(records, agency_names=ec.agency_names(), theme_names=ec.theme_names(),
                          include_recommendations=include)
    if min_weight > 1:
        weak = [(u, v) for u, v, w in g.edges(data="weight") if w < min_weight]
        g.remove_edges_from(weak)
    nodes, edges = graph.graph_tables(g, graph.layout(g, kind=kind))
    if any(n["kind"] == "recommendation" for n in nodes):
        # with a node per recommendation, draw agency -> recommendation -> theme, not the shortcuts
        edges = [e for e in edges if e["source"].startswith("rec:") or e["target"].startswith("rec:")]
    return pd.DataFrame(nodes), pd.DataFrame(edges), g.graph.get("recommendations", 0)


if tab_network.open:
    with tab_network:
        c0, c1, c2 = st.columns(3)
        kind = c0.radio("Layout", ["columns", "spring"], horizontal=True, key="recs-net-layout",
                        format_func={"columns": "Agencies | themes", "spring": "Spring"}.get,
                        help="Agencies | themes: agencies on the left, themes on the right. "
                             "Spring: a force-directed layout where linked nodes pull together.")
        mode = c1.radio("Recommendation nodes", ["auto", "show", "hide"], horizontal=True, key="recs-net-mode",
                        help="Auto: each recommendation becomes a node when 25 or fewer are selected.")
        min_weight = c2.slider("Hide links with fewer recommendations than", 1, 10, 1, key="recs-net-minw")
        include = {"auto": None, "show": True, "hide": False}[mode]
        if include is True and len(recs) > 200:
            st.warning("Too many recommendations to draw one node each (over 200): filter first.")
            include = False
        nodes, edges, n_recs = network(d, sig, key, include, min_weight, kind, recs)
        if nodes.empty:
            st.info("These recommendations name no addressee and carry no theme: nothing to draw.")
        else:
            names = ec.theme_names()
            colour_domain = [names[t] for t in names] + ["Agency", "Recommendation"]
            colour_range = list(ec.theme_colours().values()) + [ec.AGENCY_COLOUR, ec.RECOMMENDATION_COLOUR]
            nodes["group"] = [
                names.get(k, k) if kind == "theme" else ("Agency" if kind == "agency" else "Recommendation")
                for k, kind in zip(nodes["key"], nodes["kind"])
            ]
            nodes["n_recs"] = nodes["size"]
            nodes["show_label"] = nodes["label"].where(nodes["kind"] != "recommendation", "")
            nodes["label_n"] = [f"{lab} ({n})" for lab, n in zip(nodes["label"], nodes["n_recs"])]
            tallest = max(nodes["kind"].value_counts().max(), 1)
            node_pick = alt.selection_point(name="node_pick", fields=["node"], on="click")
            edge_pick = alt.selection_point(name="edge_pick", fields=["edge"], on="click")
            axis_off = alt.Axis(title=None, labels=False, ticks=False, grid=False, domain=False)
            xs = alt.X("x:Q", axis=axis_off, scale=alt.Scale(domain=[-1.6, 1.6]))
            ys = alt.Y("y:Q", axis=axis_off, scale=alt.Scale(domain=[-1.15, 1.15]))
            layers = []
            if not edges.empty:
                layers.append(
                    alt.Chart(edges).mark_rule(color="#9a9a9a").encode(
                        x=xs, y=ys, x2="x2:Q", y2="y2:Q",
                        strokeWidth=alt.StrokeWidth("weight:Q", title="Recommendations on a link",
                                                    scale=alt.Scale(range=[0.6, 7]), legend=None),
                        opacity=alt.value(0.55),
                    )
                )
                layers.append(
                    alt.Chart(edges).mark_circle(size=50, color="#9a9a9a").encode(
                        x=alt.X("xm:Q", axis=axis_off, scale=alt.Scale(domain=[-1.6, 1.6])),
                        y=alt.Y("ym:Q", axis=axis_off, scale=alt.Scale(domain=[-1.15, 1.15])),
                        opacity=alt.condition(edge_pick, alt.value(0.5), alt.value(0.15)),
                        tooltip=[alt.Tooltip("source_label:N", title="Agency / from"),
                                 alt.Tooltip("target_label:N", title="Theme / to"),
                                 alt.Tooltip("weight:Q", title="Recommendations")],
                    ).add_params(edge_pick)
                )
            layers.append(
                alt.Chart(nodes).mark_point(filled=True, stroke="white", strokeWidth=1).encode(
                    x=xs, y=ys,
                    size=alt.Size("n_recs:Q", title="Recommendations", scale=alt.Scale(range=[50, 700]), legend=None),
                    color=alt.Color("group:N", title="Node", scale=alt.Scale(domain=colour_domain, range=colour_range),
                                    legend=None),
                    shape=alt.Shape("kind:N", title="Kind", scale=alt.Scale(
                        domain=["agency", "theme", "recommendation"], range=["square", "circle", "diamond"]),
                        legend=alt.Legend(orient="top", title=None)),
                    opacity=alt.condition(node_pick, alt.value(1.0), alt.value(0.6)),
                    tooltip=[alt.Tooltip("label:N", title="Node"), alt.Tooltip("kind:N", title="Kind"),
                             alt.Tooltip("n_recs:Q", title="Recommendations")],
                ).add_params(node_pick)
            )
            if kind == "columns":
                for k, align, dx in (("agency", "right", -18), ("theme", "left", 18)):
                    layers.append(
                        alt.Chart(nodes[nodes["kind"] == k]).mark_text(align=align, dx=dx, fontSize=12, color="#222")
                        .encode(x=xs, y=ys, text="label_n:N")
                    )
            else:
                layers.append(
                    alt.Chart(nodes).mark_text(dy=-14, fontSize=11, color="#222").encode(x=xs, y=ys, text="show_label:N")
                )
            title = (f"Agencies asked to act, and the themes of what they were asked "
                     f"({n_recs} recommendation{'s' if n_recs != 1 else ''})")
            chart = (alt.layer(*layers).properties(title=title, height=int(min(max(420, 40 * tallest), 1600)))
                     .configure_view(strokeWidth=0))
            event = st.altair_chart(chart, on_select="rerun", key="recs-network", width="stretch")
            st.caption("Squares are agencies (size: recommendations addressed to them), circles themes (size: "
                       "recommendations carrying them), diamonds single recommendations (shown when few are "
                       "selected). Line width: the number of recommendations to that agency with that theme. "
                       "Click a node, or the dot in the middle of a line, to list the recommendations behind it.")
            picked_node = list((event.selection.get("node_pick") or []) if event else [])
            picked_edge = list((event.selection.get("edge_pick") or []) if event else [])
            for name, picked in (("node", picked_node), ("edge", picked_edge)):
                if picked and picked != st.session_state.get(f"recs-net-last-{name}"):
                    st.session_state["recs-net-drill"] = {"kind": name, "id": picked[0][name]}
                st.session_state[f"recs-net-last-{name}"] = picked
            drill = st.session_state.get("recs-net-drill")
            pids, heading = None, ""
            if drill and drill["kind"] == "node" and drill["id"] in set(nodes["node"]):
                row = nodes[nodes["node"] == drill["id"]].iloc[0]
                pids, heading = row["passage_ids"], f"Recommendations behind {row['label']}"
            elif drill and drill["kind"] == "edge" and not edges.empty and drill["id"] in set(edges["edge"]):
                row = edges[edges["edge"] == drill["id"]].iloc[0]
                pids = row["passage_ids"]
                heading = f"Recommendations linking {row['source_label']} and {row['target_label']}"
            if pids is not None:
                ec.passage_list(recs[recs["passage_id"].isin(set(pids))], key="recs-net-list", heading=heading,
                                page_size=5)


# ---- recurring recommendations ----------------------------------------------------
@st.cache_data(show_spinner="Comparing recommendations…", max_entries=64)
def recurring(directory: str, sig: str, key: str, threshold: float, min_docs: int, everything: bool,
              _recs: pd.DataFrame):
    """Groups among the selected recommendations. Every pair of similar recommendations was
    found when the store was written (dhr.facts); a filter only narrows those pairs."""
    finder = ec.all_recommendations_finder(directory, sig)
    if not everything:
        finder = finder.restricted(_recs["passage_id"])
    return [g.as_dict() for g in finder.groups(threshold, min_docs)]


if tab_recurring.open:
    with tab_recurring:
        st.markdown(
            "Recommendations to the **same agency** from **different reviews** whose wording is nearly the same "
            "(TF-IDF cosine similarity). A group spanning several years is evidence that the lesson was "
            "identified again and again but not embedded."
        )
        c1, c2 = st.columns(2)
        threshold = c1.slider("Similarity at least", MIN_SIMILARITY, 0.9, 0.4, 0.05, key="recs-rec-threshold",
                              help="Lower finds looser matches; higher only near-identical wording.")
        min_docs = c2.slider("Reviews at least", 2, 6, 2, key="recs-rec-mindocs")
        groups = recurring(d, sig, key, threshold, min_docs, len(recs) == len(recs_all), recs)
        if not groups:
            st.info("No recommendation recurs across reviews at this similarity. Try a lower threshold.")
        else:
            agencies_hit = sorted({g["agency"] for g in groups})
            st.markdown(f"**{len(groups)}** recurring group{'s' if len(groups) != 1 else ''} across "
                        f"{len(agencies_hit)} agenc{'ies' if len(agencies_hit) != 1 else 'y'}.")
            by_pid = recs.set_index("passage_id")
            summary = pd.DataFrame([{
                "Agency": ec.agency_name(g["agency"]),
                "Recommendations": len(g["passage_ids"]),
                "Reviews": len(g["doc_ids"]),
                "Years": (f"{min(g['years'])}–{max(g['years'])}" if g["years"] else "—"),
                "Similarity": g["similarity"],
                "Shared words": ", ".join(g["terms"][:4]),
            } for g in groups])
            st.dataframe(summary, hide_index=True, width="stretch",
                         column_config={"Similarity": st.column_config.ProgressColumn(min_value=0, max_value=1,
                                                                                      format="%.2f")})
            page = ec.pager(len(groups), 10, key="recs-rec-page")
            for gi, g in enumerate(groups[(page - 1) * 10: page * 10], start=(page - 1) * 10):
                years = f"{min(g['years'])}–{max(g['years'])}" if g["years"] else "undated"
                label = (f"{ec.agency_name(g['agency'])}: {len(g['passage_ids'])} recommendations from "
                         f"{len(g['doc_ids'])} reviews, {years} (similarity {g['similarity']:.2f})")
                with st.expander(label, expanded=gi == 0):
                    st.caption("Shared words: " + ", ".join(g["terms"]))
                    for pid in g["passage_ids"]:
                        if pid in by_pid.index:
                            row = by_pid.loc[pid].to_dict()
                            row["passage_id"] = pid
                            ec.passage_card(row, key=f"recur-{gi}-{pid}", max_chars=1200)
