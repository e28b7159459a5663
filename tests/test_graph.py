"""dhr.graph: the agencies <-> themes network and recurring recommendations, traced to passages."""
from __future__ import annotations

import random
import time

import networkx as nx
import pytest

from dhr import graph
from tests.explorer_data import build_store


@pytest.fixture(scope="module")
def passages(tmp_path_factory):
    store = build_store(tmp_path_factory.mktemp("graph-data"))
    try:
        return store.tagged_passages()
    finally:
        store.close()


@pytest.fixture(scope="module")
def recs(passages):
    return graph.select_recommendations(passages)


def test_select_recommendations_filters(passages, recs):
    assert len(recs) == 11 and all(r["is_recommendation"] for r in recs)
    police = graph.select_recommendations(passages, agencies=["police"])
    assert {r["doc_id"] for r in police} == {"dhr-adam-2012", "dhr-carol-2014", "dhr-dana-2016", "dhr-eve-2018"}
    assert len(graph.select_recommendations(passages, themes=["housing"])) == 1
    assert {r["year"] for r in graph.select_recommendations(passages, years=(2016, 2018))} == {2016, 2018}
    assert {r["doc_id"] for r in graph.select_recommendations(passages, doc_types=["inspection"])} == {
        "inspection-westmoor-2020"}
    assert graph.select_recommendations(passages, agencies=["police"], themes=["housing"]) == []


def test_graph_counts_and_traceability(recs):
    g = graph.build_graph(recs, include_recommendations=False,
                          agency_names={"police": "Police"}, theme_names={"missed_risk": "Missed risk"})
    police = g.nodes["agency:police"]
    assert police["kind"] == "agency" and police["label"] == "Police"
    assert police["size"] == 4 == len(police["passage_ids"])
    edge = g.edges["agency:police", "theme:missed_risk"]
    assert edge["weight"] == 3
    assert edge["passage_ids"] == ["dhr-adam-2012:00003", "dhr-carol-2014:00003", "dhr-eve-2018:00002"]
    # the unaddressed recommendation still counts for its theme, linked to no agency
    eq = g.nodes["theme:equality_diversity"]
    assert eq["size"] == 1 and g.degree("theme:equality_diversity") == 0
    rec_ids = {r["passage_id"] for r in recs}
    for _, d in g.nodes(data=True):
        assert d["size"] == len(d["passage_ids"]) and set(d["passage_ids"]) <= rec_ids
    for u, v, d in g.edges(data=True):
        assert d["weight"] == len(d["passage_ids"]) > 0
        # every recommendation behind an edge is behind both its ends
        assert set(d["passage_ids"]) <= set(g.nodes[u]["passage_ids"]) & set(g.nodes[v]["passage_ids"])
    assert not any(d["kind"] == "recommendation" for _, d in g.nodes(data=True))


def test_recommendation_nodes_only_when_few(recs):
    auto = graph.build_graph(recs)  # 11 <= 25
    rec_nodes = [n for n, d in auto.nodes(data=True) if d["kind"] == "recommendation"]
    assert len(rec_nodes) == 11
    assert auto.has_edge("rec:dhr-adam-2012:00003", "agency:police")
    assert auto.has_edge("rec:dhr-adam-2012:00003", "theme:missed_risk")
    few = graph.build_graph(recs, max_recommendation_nodes=5)
    assert not any(d["kind"] == "recommendation" for _, d in few.nodes(data=True))
    assert graph.build_graph([]).number_of_nodes() == 0


@pytest.mark.parametrize("kind", ["spring", "columns"])
def test_layout_is_deterministic_and_bounded(recs, kind):
    g = graph.build_graph(recs)
    a, b = graph.layout(g, kind=kind), graph.layout(g, kind=kind)
    assert a == b and set(a) == set(g.nodes)
    assert all(-1.0001 <= x <= 1.0001 and -1.0001 <= y <= 1.0001 for x, y in a.values())
    assert len(set(a.values())) == len(a)  # no two nodes on top of each other
    if kind == "columns":
        xs = {g.nodes[n]["kind"]: x for n, (x, _) in a.items()}
        assert xs["agency"] < xs["recommendation"] < xs["theme"]
    assert graph.layout(nx.Graph()) == {}


def test_graph_tables_rows(recs):
    g = graph.build_graph(recs, include_recommendations=False)
    nodes, edges = graph.graph_tables(g, graph.layout(g))
    assert len(nodes) == g.number_of_nodes() and len(edges) == g.number_of_edges()
    assert nodes[0]["size"] == max(n["size"] for n in nodes)
    for e in edges:
        assert e["source"].startswith("agency:") and e["target"].startswith("theme:")
        assert e["xm"] == pytest.approx((e["x"] + e["x2"]) / 2)
        assert e["passage_ids"]


def test_recurring_recommendations_groups(recs):
    groups = graph.recurring_recommendations(recs)
    by_agency = {g.agency: g for g in groups}
    assert set(by_agency) == {"police", "gp_primary_care"}
    police = by_agency["police"]
    assert police.passage_ids == ["dhr-adam-2012:00003", "dhr-carol-2014:00003", "dhr-eve-2018:00002"]
    assert police.years == [2012, 2014, 2018] and police.year_span == 6
    assert len(police.doc_ids) == 3 and police.representative in police.passage_ids
    assert 0.4 <= police.similarity <= 1 and "dash" not in police.terms  # terms come from a lower-cased vocabulary
    assert any("risk" in t for t in police.terms)
    # the recommendation to police and children's social care about MASH is not a near-duplicate
    assert "dhr-dana-2016:00004" not in police.passage_ids
    # widest spread of years first
    assert [g.agency for g in groups] == ["gp_primary_care", "police"]
    assert groups[0].as_dict()["year_span"] == 9


def test_recurring_thresholds_and_filters(recs):
    assert graph.recurring_recommendations(recs, threshold=0.99) == []
    assert graph.recurring_recommendations(recs, min_documents=4) == []
    only = graph.recurring_recommendations(recs, agencies=["police"])
    assert [g.agency for g in only] == ["police"]
    assert graph.recurring_recommendations(recs[:1]) == []


def test_a_filter_narrows_the_pairs_found_over_every_recommendation(recs):
    finder = graph.RecurrenceFinder(recs, floor=0.25)
    police = next(g for g in finder.groups(0.4) if g.agency == "police")
    without_2014 = [pid for pid in (r["passage_id"] for r in recs) if pid != "dhr-carol-2014:00003"]
    narrowed = [g for g in finder.restricted(without_2014).groups(0.4) if g.agency == "police"]
    assert [g.passage_ids for g in narrowed] == [[p for p in police.passage_ids if p != "dhr-carol-2014:00003"]]
    # similarities stay those of the whole collection; the unfiltered finder is untouched
    assert finder.restricted([r["passage_id"] for r in recs]).groups(0.4) == finder.groups(0.4)
    assert finder.restricted(["dhr-adam-2012:00003"]).groups(0.25) == []
    assert any(g.agency == "police" for g in finder.groups(0.4))


def test_recurring_ignores_duplicates_within_one_review():
    text = "The police should complete a DASH risk assessment at every incident."
    same_doc = [
        {"passage_id": f"a:{i}", "doc_id": "a", "year": 2019, "addressees": ["police"], "text": text,
         "is_recommendation": True} for i in range(3)
    ]
    assert graph.recurring_recommendations(same_doc) == []
    other = dict(same_doc[0], passage_id="b:1", doc_id="b", year=2021)
    (group,) = graph.recurring_recommendations(same_doc + [other])
    assert group.doc_ids == ["a", "b"] and "b:1" in group.passage_ids


def test_recurring_scales(recs):
    """2,000 recommendations to a handful of agencies: grouped in a few seconds at most."""
    rng = random.Random(3)
    words = ("risk assessment training records referral housing children police GP MARAC safeguarding "
             "information sharing policy audit review supervision interpreter carers alcohol").split()
    agencies = ["police", "gp_primary_care", "housing", "csp", "adult_social_care"]
    many = [
        {"passage_id": f"d{i % 400}:{i}", "doc_id": f"d{i % 400}", "year": 2010 + i % 12,
         "addressees": [agencies[i % 5]], "is_recommendation": True,
         "text": " ".join(rng.choice(words) for _ in range(25))}
        for i in range(2000)
    ]
    t0 = time.monotonic()
    graph.recurring_recommendations(many, threshold=0.6)
    assert time.monotonic() - t0 < 15
