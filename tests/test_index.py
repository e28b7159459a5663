"""The search index on a real SQLite store and a real Whoosh index on disk."""
from __future__ import annotations

import json
import sqlite3
from collections import Counter

import pytest
from click.testing import CliRunner

from dhr import config
from dhr.index import IndexBusyError, QueryError, SearchIndex
from dhr.records import Document, Passage, ProcessedDocument
from dhr.store import Store, passage_id

TAGGER = "test-1"


def _doc(name, title, year, area, doc_type, passages):
    doc = Document(path=f"/corpus/{name}.pdf", file_name=f"{name}.pdf", content_hash=f"h-{name}", format="pdf",
                   page_count=5, title=title, year=year, area=area, doc_type=doc_type)
    ps = [Passage(seq=i, text=p["text"], page=p.get("page", 1), page_end=p.get("page", 1), section=p.get("section", ""),
                  label=p.get("label", "")) for i, p in enumerate(passages)]
    return ProcessedDocument(document=doc, pages=["page"] * 5, passages=ps)


def _tags(p):
    return {
        "themes": [{"id": t, "score": 0.9, "evidence": "x"} for t in p.get("themes", [])],
        "agencies": [{"id": a, "mention": a} for a in p.get("agencies", [])] + [{"id": None, "mention": "Some Trust"}],
        "is_recommendation": bool(p.get("rec")),
        "addressees": p.get("addressees", []),
        "recommendation_label": p.get("label", ""),
    }


DOCS = {
    "alpha": ("DHR Alpha: Overview Report", 2019, "Greater Manchester", "dhr_overview", [
        {"text": "Adult A disclosed non-fatal strangulation to the emergency department but A&E did not "
                 "complete a DASH risk assessment.", "themes": ["missed_risk"], "agencies": ["nhs_acute"], "page": 12,
         "section": "Analysis"},
        {"text": "The hospital trust should train staff to recognise strangulation as a high risk factor.",
         "themes": ["missed_risk", "training_awareness"], "agencies": ["nhs_acute"], "rec": True,
         "addressees": ["nhs_acute"], "label": "Recommendation 1", "page": 30, "section": "Recommendations"},
        {"text": "The GP did not ask about domestic abuse and did not see the victim alone.",
         "themes": ["professional_curiosity"], "agencies": ["gp_primary_care"], "page": 14},
        {"text": "Police attended three incidents; each was treated in isolation and risk was graded standard.",
         "themes": ["missed_risk"], "agencies": ["police"], "page": 15},
    ]),
    "beta": ("DHR Beta Executive Summary", 2015, "Kent", "dhr_summary", [
        {"text": "Strangulation was mentioned in passing; the fatal assault followed a separation.",
         "themes": ["missed_risk"], "agencies": [], "page": 3},
        {"text": "Information held by the GP practice was not shared with the MARAC.",
         "themes": ["information_sharing"], "agencies": ["gp_primary_care", "marac"], "page": 4},
        {"text": "The CCG should ensure GP practices share information with MARAC.",
         "themes": ["information_sharing"], "agencies": ["health_commissioners", "gp_primary_care", "marac"],
         "rec": True, "addressees": ["health_commissioners"], "label": "3", "page": 9},
        {"text": 'The perpetrator wrote <script>alert("x")</script> & threats in messages to her sister.',
         "themes": ["coercive_control"], "agencies": [], "page": 5},
    ]),
    "gamma": ("Gamma Domestic Homicide Review", 2021, "Kent", "dhr_overview", [
        {"text": "Housing did not recognise coercive control when she asked to be rehoused.",
         "themes": ["housing", "coercive_control"], "agencies": ["housing"], "page": 7},
        {"text": "The police should review their response to strangulation and choking reports.",
         "themes": ["missed_risk", "criminal_justice"], "agencies": ["police"], "rec": True,
         "addressees": ["police"], "label": "Recommendation 2", "page": 20},
        {"text": "Mental health services assessed the perpetrator; alcohol misuse was noted.",
         "themes": ["mental_health", "substance_misuse"], "agencies": ["mental_health_services"], "page": 8},
    ]),
}


def _save(store, name, spec, fingerprint="fp1", tagger=TAGGER):
    title, year, area, doc_type, passages = spec
    doc_id = store.save_document(_doc(name, title, year, area, doc_type, passages), fingerprint)
    store.save_tags(doc_id, [(passage_id(doc_id, i), _tags(p)) for i, p in enumerate(passages)], tagger)
    return doc_id


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    store = Store(config.db_path(d))
    for name, spec in DOCS.items():
        _save(store, name, spec)
    idx = SearchIndex(d)
    summary = idx.update_from_store(store)
    yield d, store, idx, summary
    idx.close()
    store.close()


def test_update_summary_and_stats(built):
    _, store, idx, summary = built
    assert summary["added"] == 3 and summary["passages"] == 11
    st = idx.stats()
    assert st["documents"] == 3 and st["passages"] == 11 and st["last_updated"]
    # nothing changed: nothing written
    again = idx.update_from_store(store)
    assert again["added"] == again["updated"] == again["removed"] == 0 and again["unchanged"] == 3


def test_exact_phrase_ranks_first(built):
    idx = built[2]
    res = idx.search('"non-fatal strangulation"')
    assert res.total == 1
    assert res.hits[0].passage_id == "alpha:00000"
    # the plain words match more passages; the phrase passage still comes first
    res = idx.search("strangulation")
    assert res.total >= 4
    assert idx.search('"strangulation risk"').total == 0  # both words, not adjacent
    assert idx.search('"strangulation risk"~4').total == 1  # with a slop
    res = idx.search('"strangulation as a high risk"')
    assert res.hits[0].passage_id == "alpha:00001"
    assert res.hits[0].page == 30 and res.hits[0].is_recommendation and res.hits[0].label == "Recommendation 1"


@pytest.mark.parametrize("q", ["strangulation", "GP OR police", "strangulation NOT police", "(GP OR police) AND marac",
                               "theme:missed_risk OR housing", '"risk assessment"', "strang*",
                               "year:2015 OR agency:police", "NOT theme:missed_risk", "title:gamma"])
def test_total_equals_whoosh_count(built, q):
    """Totals come from numpy over the index's postings; they must equal Whoosh's own count."""
    idx = built[2]
    res = idx.search(q)
    with idx._lock:
        view = idx._view()
        parsed, _ = idx.parse(q)
        assert res.total == len(view.searcher.search(parsed, limit=None))


def test_stemming_and_highlight(built):
    idx = built[2]
    res = idx.search("strangled OR strangulations")
    assert res.total >= 4  # stems match strangulation
    hit = next(h for h in res.hits if h.passage_id == "alpha:00000")
    assert "<mark>strangulation</mark>" in hit.snippet_html
    assert idx.search("A&E").hits[0].passage_id == "alpha:00000"
    # wildcard on the unstemmed words, highlighted
    res = idx.search("strangulat*")
    assert res.total >= 4 and "<mark>" in res.hits[0].snippet_html


def test_boolean_operators(built):
    idx = built[2]
    assert idx.search("strangulation AND police").total == 1
    both = {h.passage_id for h in idx.search("strangulation NOT police", page_size=50).hits}
    assert "gamma:00001" not in both and "alpha:00000" in both
    assert idx.search("(GP OR police) AND marac").total == 2


def test_filters_and_year_ranges(built):
    idx = built[2]
    assert idx.search("", {"theme": ["missed_risk"]}).total == 5
    assert idx.search("theme:missed_risk").total == 5
    assert idx.search("", {"year": (2018, 2022)}).total == 7
    assert idx.search("year:2018-2022").total == 7
    assert idx.search("year:2018-").total == 7
    assert idx.search("year:-2016").total == 4
    assert idx.search("year:2015").total == 4
    assert idx.search("", {"year": "2016-2020"}).total == 4
    res = idx.search("strangulation", {"rec": True, "addressee": ["nhs_acute", "police"], "year": (2018, 2024)})
    assert {h.passage_id for h in res.hits} == {"alpha:00001", "gamma:00001"}
    res = idx.search('strangulation rec:yes addressee:police area:"kent" type:dhr_overview')
    assert [h.passage_id for h in res.hits] == ["gamma:00001"]
    assert idx.search('area:"Greater Manchester"').total == 4
    assert idx.search("", {"area": ["Greater Manchester"], "agency": ["police"]}).total == 1
    # OR inside a facet field, NOT on a tag
    assert idx.search("theme:(housing OR mental_health)").total == 2
    assert idx.search("theme:missed_risk NOT agency:police").total == 3
    # an empty query with no filters lists everything, in year order
    res = idx.search("", sort="year", page_size=50)
    assert res.total == 11 and res.hits[0].year == 2021 and res.hits[-1].year == 2015
    assert idx.search("", sort="year_asc").hits[0].year == 2015


def _sql_counts(store, where_sql, args=()):
    conn = sqlite3.connect(store.path)
    pids = {r[0] for r in conn.execute(
        f"SELECT p.passage_id FROM passages p JOIN documents d USING (doc_id) {where_sql}", args)}
    out = {"theme": Counter(), "agency": Counter(), "addressee": Counter(), "type": Counter(), "year": Counter(),
           "area": Counter()}
    for pid, theme in conn.execute("SELECT passage_id, theme FROM passage_themes"):
        if pid in pids:
            out["theme"][theme] += 1
    for pid, agency in conn.execute("SELECT DISTINCT passage_id, agency FROM passage_agencies WHERE agency IS NOT NULL"):
        if pid in pids:
            out["agency"][agency] += 1
    for pid, addressees in conn.execute("SELECT passage_id, addressees FROM recommendations"):
        if pid in pids:
            for a in json.loads(addressees):
                out["addressee"][a] += 1
    for pid, t, y, a in conn.execute("SELECT p.passage_id, d.doc_type, d.year, d.area FROM passages p JOIN documents d USING (doc_id)"):
        if pid in pids:
            out["type"][t] += 1
            out["year"][str(y)] += 1
            out["area"][a] += 1
    conn.close()
    return len(pids), out


@pytest.mark.parametrize("q,filters,where", [
    ("", None, ""),
    ("", {"year": (2016, 2030)}, "WHERE d.year BETWEEN 2016 AND 2030"),
    ("", {"area": ["Kent"]}, "WHERE d.area = 'Kent'"),
])
def test_facet_counts_equal_sqlite(built, q, filters, where):
    store, idx = built[1], built[2]
    res = idx.search(q, filters)
    total, expected = _sql_counts(store, where)
    assert res.total == total
    for key, counter in expected.items():
        assert dict(res.facets[key]) == dict(counter), key
        counts = [n for _, n in res.facets[key]]
        assert counts == sorted(counts, reverse=True)


def test_facets_over_whole_result_set_not_page(built):
    idx = built[2]
    res = idx.search("", page_size=2)
    assert len(res.hits) == 2 and res.page_count == 6
    assert sum(n for _, n in res.facets["type"]) == 11
    assert dict(res.facets["theme"])["missed_risk"] == 5


def test_pagination_and_sort(built):
    idx = built[2]
    seen = []
    for page in (1, 2, 3):
        res = idx.search("", page=page, page_size=4)
        seen += [h.passage_id for h in res.hits]
    assert len(seen) == 11 and len(set(seen)) == 11
    assert idx.search("", page=9, page_size=4).hits == []
    rel = idx.search("strangulation", page_size=2)
    rel2 = idx.search("strangulation", page=2, page_size=2)
    assert not {h.passage_id for h in rel.hits} & {h.passage_id for h in rel2.hits}
    assert rel.hits[0].score >= rel.hits[1].score > 0


@pytest.mark.parametrize("bad,needle", [
    ('"non-fatal strangulation', "quotation"),
    ("(strangulation OR choking", "bracket"),
    ("strangulation AND", "AND"),
    ("OR strangulation", "OR"),
    ("NOT", "NOT"),
    ("year:20x8", "year"),
    ("rec:maybe", "rec"),
    ("themes_x:missed_risk", "Unknown field"),
    ("theme:", "value"),
])
def test_malformed_queries_raise_query_error(built, bad, needle):
    with pytest.raises(QueryError) as err:
        built[2].search(bad)
    assert needle.lower() in str(err.value).lower()


def test_bad_filters_and_sort(built):
    idx = built[2]
    with pytest.raises(QueryError):
        idx.search("x", {"colour": ["red"]})
    with pytest.raises(QueryError):
        idx.search("x", {"year": "soon"})
    with pytest.raises(QueryError):
        idx.search("x", sort="random")


def test_script_is_escaped_in_snippet(built):
    idx = built[2]
    for q in ("threats", "script", ""):
        res = idx.search(q, {"theme": ["coercive_control"], "year": (2015, 2015)})
        hit = res.hits[0]
        assert hit.passage_id == "beta:00003"
        unmarked = hit.snippet_html.replace("<mark>", "").replace("</mark>", "")
        assert "<script>" not in hit.snippet_html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; threats" in unmarked
        assert unmarked.count("<") == 0 and unmarked.count(">") == 0
    assert "<mark>threats</mark>" in idx.search("threats").hits[0].snippet_html


def test_spelling_suggestion(built):
    idx = built[2]
    res = idx.search("strangulaton")
    assert res.total == 0
    assert res.suggestion == "strangulation"
    assert idx.search("strangulaton theme:missed_risk").suggestion == "strangulation theme:missed_risk"
    assert idx.search("strangulation").suggestion is None


def test_more_like(built):
    idx = built[2]
    similar = idx.more_like("gamma:00001", n=5)
    assert similar and all(h.doc_id != "gamma" for h in similar)
    assert similar[0].passage_id in {"alpha:00001", "alpha:00000", "beta:00000"}
    assert idx.more_like("nope:00001") == []


def test_incremental_add_change_retag_delete(tmp_path):
    store = Store(config.db_path(tmp_path))
    _save(store, "alpha", DOCS["alpha"])
    idx = SearchIndex(tmp_path)
    assert idx.update_from_store(store)["added"] == 1
    assert idx.search("marac").total == 0

    # add
    _save(store, "beta", DOCS["beta"])
    s = idx.update_from_store(store)
    assert (s["added"], s["updated"], s["unchanged"]) == (1, 0, 1)
    assert idx.search("marac").total == 2

    # change: new text for beta (new fingerprint)
    title, year, area, dtype, passages = DOCS["beta"]
    changed = [dict(p) for p in passages[:2]]
    changed[1]["text"] = "Information held by the GP practice was shared promptly with the IDVA service."
    _save(store, "beta", (title, year, area, dtype, changed), fingerprint="fp2")
    s = idx.update_from_store(store)
    assert s["updated"] == 1 and s["added"] == 0
    assert idx.search("marac").total == 0 and idx.search("IDVA").total == 1
    assert idx.stats()["passages"] == 6

    # re-tag only (same fingerprint, new tagger version)
    doc_id = "beta"
    store.save_tags(doc_id, [(passage_id(doc_id, 0), {"themes": [{"id": "housing", "score": 1}]})], "test-2")
    s = idx.update_from_store(store)
    assert s["updated"] == 1
    assert idx.search("theme:housing").total == 1 and idx.search("", {"doc": ["beta"]}).total == 2

    # delete (prune)
    store.delete_document("alpha")
    s = idx.update_from_store(store)
    assert s["removed"] == 1
    assert idx.search("strangulation").total == 1 and idx.stats()["documents"] == 1
    assert dict(idx.search("").facets["area"]) == {"Kent": 2}

    # a fresh SearchIndex sees the same thing; rebuild gives the same answers
    again = SearchIndex(tmp_path)
    assert again.search("").total == 2
    again.rebuild(store)
    assert again.search("").total == 2 and idx.search("").total == 2  # the old object follows the switch
    assert len(list((tmp_path / "index").glob("gen-*"))) == 2
    again.rebuild(store)
    assert len(list((tmp_path / "index").glob("gen-*"))) == 2
    store.close()


def _indexed(tmp_path, *names):
    """A store holding the named documents of DOCS and an index brought up to date with it."""
    store = Store(config.db_path(tmp_path))
    for name in names:
        _save(store, name, DOCS[name])
    idx = SearchIndex(tmp_path)
    idx.update_from_store(store)
    return store, idx


def _indexed_alpha_then_stored_beta_gamma(tmp_path):
    """A store of three documents whose index holds only the first: the next write has work to do."""
    store, idx = _indexed(tmp_path, "alpha")
    _save(store, "beta", DOCS["beta"])
    _save(store, "gamma", DOCS["gamma"])
    return store, idx


def test_crash_mid_rebuild_keeps_previous_index(tmp_path, monkeypatch):
    store, idx = _indexed_alpha_then_stored_beta_gamma(tmp_path)

    calls = {"n": 0}
    real = store.tagged_passages

    def boom(doc_id=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(doc_id)

    monkeypatch.setattr(store, "tagged_passages", boom)
    with pytest.raises(RuntimeError):
        idx.rebuild(store)
    assert not list((tmp_path / "index").glob("gen-*.tmp"))
    assert SearchIndex(tmp_path).search("").total == 4  # still the previous, complete index
    calls["n"] = 0
    with pytest.raises(RuntimeError):  # beta written, crash before gamma: nothing committed
        idx.update_from_store(store)
    monkeypatch.undo()
    assert SearchIndex(tmp_path).search("").total == 4
    assert idx.update_from_store(store)["added"] == 2
    assert idx.search("").total == 11
    store.close()


def test_second_writer_gets_index_busy(tmp_path):
    store = Store(config.db_path(tmp_path))
    _save(store, "alpha", DOCS["alpha"])
    idx = SearchIndex(tmp_path)
    other = SearchIndex(tmp_path)
    lock = other._lockfile()  # another writer holds the lock
    try:
        with pytest.raises(IndexBusyError) as err:
            idx.update_from_store(store)
        assert "busy" in str(err.value)
        with pytest.raises(IndexBusyError):
            idx.rebuild(store)
        assert idx.search("").total == 0  # reading still works
    finally:
        lock.release()
    assert idx.update_from_store(store)["added"] == 1
    store.close()


def test_cli_index_and_search(tmp_path):
    from dhr.cli import cli

    store = Store(config.db_path(tmp_path))
    for name, spec in DOCS.items():
        _save(store, name, spec)
    store.close()
    runner = CliRunner()
    out = runner.invoke(cli, ["index", "--data-dir", str(tmp_path), "-q"])
    assert out.exit_code == 0, out.output
    assert "3 documents added" in out.output
    out = runner.invoke(cli, ["search", "strangulation", "--data-dir", str(tmp_path), "--rec", "--year", "2018-2022"])
    assert out.exit_code == 0, out.output
    assert "2 passages match" in out.output and "**strangulation**" in out.output and "p. 30" in out.output
    out = runner.invoke(cli, ["search", "--data-dir", str(tmp_path), "--theme", "housing", "--json"])
    data = json.loads(out.output)
    assert data["total"] == 1 and data["hits"][0]["passage_id"] == "gamma:00000"
    assert ["housing", 1] in data["facets"]["theme"]
    out = runner.invoke(cli, ["search", '"unclosed', "--data-dir", str(tmp_path)])
    assert out.exit_code == 2 and "quotation" in out.output and "Traceback" not in out.output


@pytest.mark.parametrize("method", ["update_from_store", "rebuild"])
def test_killed_writer_leaves_previous_index_usable(tmp_path, method):
    """A writer process killed mid-write (kill -9): the last index still answers, the lock is freed,
    and the next update completes the job."""
    import subprocess
    import sys

    store, idx = _indexed_alpha_then_stored_beta_gamma(tmp_path)
    script = f"""
import time
from pathlib import Path
from dhr import config
from dhr.index import SearchIndex
from dhr.store import Store
d = Path({str(tmp_path)!r})
store = Store(config.db_path(d))
real, calls = store.tagged_passages, []
def slow(doc_id=None):
    calls.append(doc_id)
    if len(calls) == 2:
        print("writing", flush=True)
        time.sleep(60)
    return real(doc_id)
store.tagged_passages = slow
SearchIndex(d).{method}(store)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        with pytest.raises(IndexBusyError):
            idx.update_from_store(store)
        assert idx.search("").total == 4
    finally:
        proc.kill()
        proc.wait()
    assert SearchIndex(tmp_path).search("").total == 4
    s = idx.update_from_store(store)
    assert s["added"] == 2 and idx.search("").total == 11
    assert not list((tmp_path / "index").glob("gen-*.tmp")) or method == "rebuild"
    idx.rebuild(store)  # a later rebuild clears what the killed one left behind
    assert not list((tmp_path / "index").glob("gen-*.tmp"))
    store.close()


# ---- the numpy fast path ranks exactly like Whoosh -------------------------------------------

RANKING_CASES = [
    ("strangulation", None), ("GP OR police", None), ("strangulation NOT police", None),
    ("(GP OR police) AND marac", None), ("theme:missed_risk OR housing", None), ('"risk assessment"', None),
    ("strang*", None), ("strangulat*", None), ("year:2015 OR agency:police OR marac", None), ("title:gamma OR police", None),
    ('"strangulation risk"~4', None), ("strangulaton~", None), ("strangulaton~ OR police", None),
    ("police^2 OR strangulation", None), ("strangulation ANDMAYBE police", None), ("gp ANDNOT marac", None),
    ("(strangulation OR choking)^3 police", None), ("A&E OR GP", None), ("doc_id:beta marac OR gp", None),
    ("risk* OR strang?lation", None), ("A*", None), ("a* OR police", None), ("as*^2 OR gp", None), ("NOT police", None),
    ("gp OR (police AND NOT strangulation)", None), ("strangulation", {"rec": True, "year": (2018, 2024)}),
    ("strangulation OR GP OR police", {"theme": ["missed_risk", "information_sharing"]}),
    ("risk OR information", {"area": ["Kent"], "type": ["dhr_overview", "dhr_summary"]}),
    ("section:recommendations OR should", {"agency": ["gp_primary_care", "police", "nhs_acute"]}),
]


def _whoosh_exhaustive(idx, q, filters):
    """Whoosh's own ranking of every match (limit=None: no block skipping)."""
    from whoosh import query as wq

    from dhr.index import _expand_wildcards

    with idx._lock:
        view = idx._view()
        user_q, _ = idx.parse(q)
        fq = idx.filters_query(filters)
        parts = [x for x in (user_q, fq) if x is not None]
        full = wq.And(parts) if len(parts) > 1 else parts[0]
        full = full.accept(lambda x: _expand_wildcards(x, view.searcher.reader(), idx._analyzer))
        res = view.searcher.search(full, limit=None)
        return [(view.pids[d], round(s, 4)) for s, d in res.top_n]


def _assert_same_ranking(idx, q, filters):
    ours = idx.search(q, filters, page_size=100)
    theirs = _whoosh_exhaustive(idx, q, filters)
    assert ours.total == len(theirs), q
    assert [(h.passage_id, h.score) for h in ours.hits] == theirs[:100], q
    # pages are slices of the same order
    if ours.total > 2:
        p2 = idx.search(q, filters, page=2, page_size=2)
        assert [h.passage_id for h in p2.hits] == [pid for pid, _ in theirs[2:4]], q


@pytest.fixture(params=["sparse", "dense"])
def scoring_mode(request, monkeypatch):
    """Both ways of scoring a term: candidate look-ups in its postings, and whole-posting arrays."""
    from dhr.index import _View

    monkeypatch.setattr(_View, "DENSE_FRACTION", 0 if request.param == "sparse" else 10**9)
    return request.param


@pytest.mark.parametrize("q,filters", RANKING_CASES)
def test_fast_path_ranks_like_whoosh(built, q, filters, scoring_mode):
    _assert_same_ranking(built[2], q, filters)


def test_fast_path_ranks_like_whoosh_across_segments(tmp_path, scoring_mode):
    """Several segments (one per update) with a deletion: docnum offsets, global idf and lengths."""
    store = Store(config.db_path(tmp_path))
    idx = SearchIndex(tmp_path)
    for name, spec in DOCS.items():
        _save(store, name, spec)
        idx.update_from_store(store)
    title, year, area, dtype, passages = DOCS["alpha"]
    _save(store, "alpha", (title, year, area, dtype, passages[:3]), fingerprint="fp2")  # delete + re-add
    idx.update_from_store(store)
    assert idx.stats()["segments"] > 1
    for q, filters in RANKING_CASES:
        _assert_same_ranking(idx, q, filters)
    store.close()


def test_more_like_ranks_like_whoosh(built, scoring_mode):
    from whoosh import query as wq

    idx = built[2]
    for pid in ("alpha:00000", "gamma:00001", "beta:00002"):
        ours = idx.more_like(pid, n=20)
        with idx._lock:
            s = idx._view().searcher
            dn = s.document_number(passage_id=pid)
            kts = s.key_terms_from_text("text", s.stored_fields(dn)["text"], numterms=12, normalize=True)
            res = s.search(wq.Or([wq.Term("text", w, boost=wt) for w, wt in kts]), limit=None)
            doc = pid.split(":")[0]
            theirs = [(h["passage_id"], round(h.score, 4)) for h in res if h["doc_id"] != doc][:20]
        assert [(h.passage_id, h.score) for h in ours] == theirs
        assert all(h.doc_id != doc for h in ours)
    same_doc = idx.more_like("alpha:00000", n=20, other_documents=False)
    assert "alpha:00000" not in {h.passage_id for h in same_doc}
    assert any(h.doc_id == "alpha" for h in same_doc)


def test_postings_equal_whoosh_matchers(built):
    """The block reader (which skips unpickling positions) returns Whoosh's docnums and weights."""
    idx = built[2]
    with idx._lock:
        view = idx._view()
        reader = view.searcher.reader()
        n_terms = 0
        for fieldname in ("text", "bigram", "title", "section", "doc_id", "type"):
            for btext in list(reader.lexicon(fieldname)):
                ids, weights = view.postings(fieldname, btext)
                m = reader.postings(fieldname, btext)
                want_ids, want_w = [], []
                while m.is_active():
                    want_ids.append(m.id())
                    want_w.append(m.weight())
                    m.next()
                assert list(ids) == want_ids and list(weights) == want_w, (fieldname, btext)
                n_terms += 1
        assert n_terms > 50
        lengths = view.field_lengths("text")
        assert all(lengths[d] == reader.doc_field_length(d, "text") for d in range(view.n))


def test_posting_block_parser_matches_pickle():
    import pickle
    import random

    from dhr.index import _parse_posting_block

    rng = random.Random(3)
    for n in (4, 5, 60, 128):
        for big in (0, 300, 70000):
            gaps = tuple(rng.randint(1, 9) + (big if rng.random() < 0.2 else 0) for _ in range(n))
            values = tuple(pickle.dumps([rng.randint(0, 90)], 2) for _ in range(n))
            for weights in (None, 2.0, tuple(float(rng.randint(1, 4)) for _ in range(n)),
                            tuple(rng.random() for _ in range(n))):
                raw = pickle.dumps((gaps, weights, values), 2)
                parsed = _parse_posting_block(raw, n)
                assert parsed is not None
                ids, w = parsed
                assert list(ids) == list(gaps)
                if weights is None or isinstance(weights, float):
                    assert w == weights
                else:
                    assert list(w) == list(weights)
    assert _parse_posting_block(pickle.dumps(((1, 2), None, (b"", b"")), 2), 2) is None  # tiny: unpickle


def test_multiprocess_rebuild_gives_same_answers(tmp_path):
    store, idx = _indexed(tmp_path, *DOCS)
    before = {q: [(h.passage_id, h.score) for h in idx.search(q, page_size=50).hits]
              for q in ("strangulation OR GP", '"risk assessment"', "police theme:missed_risk")}
    s = idx.rebuild(store, procs=2)
    assert s["rebuilt"] and s["passages"] == 11
    for q, hits in before.items():
        assert [(h.passage_id, h.score) for h in idx.search(q, page_size=50).hits] == hits
    store.close()


def test_postings_over_many_blocks(tmp_path):
    """Terms with hundreds of postings span several Whoosh blocks (and varied id gaps and weights):
    the block reader still returns exactly what Whoosh's matchers return, and ranks like Whoosh."""
    import random

    rng = random.Random(5)
    words = ["risk", "refuge", "strangulation", "housing", "police", "marac", "alcohol", "separation"]
    passages = []
    for i in range(700):
        k = rng.randint(3, 12)
        text = " ".join(rng.choice(words[: 2 + i % 7]) for _ in range(k))
        if i % 97 == 0:
            text += " rare" + "x" * (i % 3)
        passages.append({"text": text, "themes": ["missed_risk"] if i % 3 else ["housing"]})
    store = Store(config.db_path(tmp_path))
    _save(store, "many", ("Many passages", 2020, "Kent", "dhr_overview", passages))
    idx = SearchIndex(tmp_path)
    idx.update_from_store(store)
    with idx._lock:
        view = idx._view()
        reader = view.searcher.reader()
        for btext in reader.lexicon("text"):
            ids, weights = view.postings("text", btext)
            m = reader.postings("text", btext)
            want_ids, want_w = [], []
            while m.is_active():
                want_ids.append(m.id())
                want_w.append(m.weight())
                m.next()
            assert list(ids) == want_ids and list(weights) == want_w, btext
        assert len(view.postings("text", b"risk")[0]) > 300
    for q, filters in [("risk", None), ("police OR refuge", {"theme": ["housing"]}), ("risk housing", None),
                       ("strangulation NOT alcohol", None)]:
        _assert_same_ranking(idx, q, filters)
    store.close()


def test_first_large_index_uses_the_multiprocess_build(tmp_path, monkeypatch):
    import threading

    import dhr.index as dindex

    assert dindex._default_procs(10) == 1
    seen = []
    t = threading.Thread(target=lambda: seen.append(dindex._default_procs(10**6)))
    t.start()
    t.join()
    assert seen == [1]  # never fork workers from a server thread
    monkeypatch.setattr(dindex, "_MP_MIN_DOCS", 2)
    monkeypatch.setattr(dindex.os, "cpu_count", lambda: 2)
    store = Store(config.db_path(tmp_path))
    for name, spec in DOCS.items():
        _save(store, name, spec)
    idx = SearchIndex(tmp_path)
    s = idx.update_from_store(store)
    assert s.get("rebuilt") and s["added"] == 3 and s["passages"] == 11
    assert idx.stats()["passages"] == 11 and idx.search("strangulation").total >= 4
    again = idx.update_from_store(store)  # afterwards: incremental as usual
    assert not again.get("rebuilt") and again["unchanged"] == 3
    store.close()


# ---- the binary copy of the per-passage arrays ----------------------------------------------

_CACHE_QUERIES = [("", None), ("strangulation", None), ("risk", {"rec": True}), ("GP marac", None),
                  ("", {"theme": ["missed_risk"], "year": (2015, 2021)}), ("police", {"area": ["Kent"]}),
                  ("theme:housing OR agency:police", None), ("", {"doc": ["beta"]}), ("information", None)]


def _answers(idx):
    out = []
    for q, filters in _CACHE_QUERIES:
        for sort in ("relevance", "year"):
            d = idx.search(q, filters, page_size=50, sort=sort).as_dict()
            d.pop("took_ms")
            out.append(d)
    out.append([h.as_dict() for h in idx.more_like("gamma:00001", n=5)])
    st = idx.stats()
    out.append({k: st[k] for k in ("documents", "passages", "segments")})
    return out


def _index_with_deletions(tmp_path):
    """Several segments and deleted passages: beta added, then changed, gamma added, alpha re-tagged."""
    store, idx = _indexed(tmp_path, "alpha")
    _save(store, "beta", DOCS["beta"])
    idx.update_from_store(store)
    title, year, area, dtype, passages = DOCS["beta"]
    _save(store, "beta", (title, 2016, area, dtype, passages[1:]), fingerprint="fp2")
    _save(store, "gamma", DOCS["gamma"])
    idx.update_from_store(store)
    store.save_tags("alpha", [(passage_id("alpha", 0), {"themes": [{"id": "housing", "score": 1}]})], "test-2")
    idx.update_from_store(store)
    return store, idx


def test_view_from_cache_equals_view_from_stored_fields(tmp_path, monkeypatch):
    import numpy as np

    import dhr.index as dindex

    store, idx = _index_with_deletions(tmp_path)
    gen = idx._read_current()["generation"]
    cache = idx.root / gen / dindex.VIEW_CACHE
    assert cache.exists()  # written by the commit
    assert not list((idx.root / gen).glob("*.tmp"))
    fresh = SearchIndex(tmp_path)
    fresh.stats()
    assert fresh._view_obj.loaded_from == "cache"
    view = fresh._view_obj
    assert not view.live.all()  # the changed document's old passages are deleted, not yet merged away
    from_meta = dindex._View(view.ix, gen)  # no cache path: built from the stored column
    assert from_meta.loaded_from == "meta"
    for name in ("pids", "titles", "doc_vocab", "doc_fp", "doc_passages"):
        assert getattr(view, name) == getattr(from_meta, name), name
    assert list(view.doc_fp) == list(from_meta.doc_fp)
    for name in ("live", "year", "doc_codes", "doc_order"):
        a, b = getattr(view, name), getattr(from_meta, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for key in view.multi:
        assert view.multi[key][0] == from_meta.multi[key][0]
        assert np.array_equal(view.multi[key][1], from_meta.multi[key][1])
        assert [view.per_doc_multi[key][i] for i in range(view.n)] == \
               [from_meta.per_doc_multi[key][i] for i in range(view.n)]
    for key in view.single:
        assert view.single[key][0] == from_meta.single[key][0]
        assert np.array_equal(view.single[key][1], from_meta.single[key][1])
    from_meta.close()

    cached = _answers(fresh)
    fresh.close()
    monkeypatch.setattr(dindex, "_read_view_cache", lambda *a: None)  # every open parses the records
    slow = SearchIndex(tmp_path)
    assert _answers(slow) == cached and slow._view_obj.loaded_from == "meta"
    slow.close()
    # a rebuild writes the copy into the new generation before it goes live; same answers again
    monkeypatch.undo()
    idx.rebuild(store)
    gen2 = idx._read_current()["generation"]
    assert gen2 != gen and (idx.root / gen2 / dindex.VIEW_CACHE).exists()
    rebuilt = SearchIndex(tmp_path)
    got = _answers(rebuilt)
    assert rebuilt._view_obj.loaded_from == "cache"
    assert [d["total"] for d in got[:-2]] == [d["total"] for d in cached[:-2]]
    assert [d["facets"] for d in got[:-2]] == [d["facets"] for d in cached[:-2]]
    rebuilt.close()
    idx.close()
    store.close()


def test_stale_or_corrupt_cache_is_ignored(tmp_path):
    import shutil

    import numpy as np

    import dhr.index as dindex

    store, idx = _indexed(tmp_path, "alpha")
    gen = idx._read_current()["generation"]
    cache = idx.root / gen / dindex.VIEW_CACHE
    old = tmp_path / "old-view.npz"
    shutil.copy(cache, old)  # the copy for alpha alone
    _save(store, "beta", DOCS["beta"])
    _save(store, "gamma", DOCS["gamma"])
    idx.update_from_store(store)
    assert idx._read_current()["generation"] == gen
    expected = _answers(idx)
    assert idx._view_obj.loaded_from == "cache"

    def check(content: bytes | None, rewritten: bool = True):
        if content is None:
            cache.unlink()
        else:
            cache.write_bytes(content)
        other = SearchIndex(tmp_path)
        assert _answers(other) == expected
        assert other._view_obj.loaded_from == "meta"
        other.close()
        if rewritten:  # the open that had to parse the records wrote a good copy
            again = SearchIndex(tmp_path)
            again.stats()
            assert again._view_obj.loaded_from == "cache"
            again.close()

    good = cache.read_bytes()
    check(old.read_bytes())  # stale: an earlier commit of the same generation
    check(None)  # missing
    check(b"")  # empty
    check(good[: len(good) // 2])  # truncated
    check(b"not an npz file at all" * 100)
    flipped = bytearray(good)
    flipped[len(flipped) // 3] ^= 0xFF
    check(bytes(flipped))  # damaged inside (zip CRC)
    # a well-formed file with the right key but arrays that do not fit
    with np.load(cache) as z:
        members = {k: z[k] for k in z.files}
    members["year"] = members["year"][:-1]
    import io

    buf = io.BytesIO()
    np.savez(buf, **members)
    check(buf.getvalue())
    members = {k: v for k, v in members.items() if k != "year"}
    buf = io.BytesIO()
    np.savez(buf, **members)
    check(buf.getvalue())
    # another generation's copy (a rebuild) is never taken for this one
    idx.rebuild(store)
    gen2 = idx._read_current()["generation"]
    cache = idx.root / gen2 / dindex.VIEW_CACHE
    expected = _answers(idx)
    assert idx._view_obj.loaded_from == "cache"
    check((idx.root / gen / dindex.VIEW_CACHE).read_bytes())
    idx.close()
    store.close()
