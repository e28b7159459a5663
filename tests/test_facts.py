"""The explorer's summaries of the store (dhr.facts): built by the jobs that write the store,
kept on disk per version of its content, rebuilt when stale or damaged."""
from __future__ import annotations

import sqlite3

from dhr import config, facts, graph
from dhr.store import Store
from tests.explorer_data import build_store


def cache_files(data_dir):
    return sorted(p.name for p in facts.cache_dir(data_dir).glob("*") if not p.name.endswith(".tmp"))


def test_every_write_that_changes_content_bumps_the_content_version_and_others_do_not(data_dir):
    store = build_store(data_dir)
    store_id, version = store.content_version()
    assert store_id and version > 0

    doc_id = store.documents()[0]["doc_id"]
    same_tags = [(p["passage_id"], {"themes": [{"id": t["id"], "score": t["score"], "evidence": t["evidence"]}
                                               for t in p["themes"]],
                                    "agencies": p["agencies"]}) for p in store.tagged_passages(doc_id)]
    store.save_tags(doc_id, same_tags, "v-test")          # re-tagging, even to identical rows
    assert store.content_version() == (store_id, version + 1)

    from dhr.records import Failure
    store.record_failure(Failure(path="/nowhere/x.pdf", reason="test"))   # not content
    assert store.content_version() == (store_id, version + 1)

    store.delete_document(doc_id)
    assert store.content_version() == (store_id, version + 2)
    store.close()

    # a store deleted and built again never reuses the name of an old state
    config.db_path(data_dir).unlink()
    again = build_store(data_dir)
    assert again.content_version()[0] != store_id
    again.close()


def test_refresh_writes_one_file_of_each_kind_and_a_second_refresh_only_reads_them(data_dir):
    build_store(data_dir).close()
    marker = facts.refresh_cache(data_dir)
    assert cache_files(data_dir) == [f"facts-{marker}.npz", f"recommendations-{marker}.parquet",
                                     f"recurrence-{marker}.npz"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in facts.cache_dir(data_dir).iterdir()}

    assert facts.refresh_cache(data_dir) == marker
    assert {p.name: p.stat().st_mtime_ns for p in facts.cache_dir(data_dir).iterdir()} == mtimes


def test_cached_facts_match_the_store_and_a_change_replaces_the_stale_files(data_dir):
    store = build_store(data_dir)
    old_marker = facts.refresh_cache(data_dir)
    f = facts.cached(data_dir, "facts")
    passages = store.tagged_passages()
    assert f.n == len(passages)
    assert int(f.rec.sum()) == sum(1 for p in passages if p["is_recommendation"])
    police = sum(1 for p in passages if "police" in {a["id"] for a in p["agencies"]})
    assert int(f.mask({"agency": ["police"]}).sum()) == police

    store.delete_document(store.documents()[0]["doc_id"])
    store.close()
    new_marker = facts.refresh_cache(data_dir)
    assert new_marker != old_marker
    assert not any(old_marker in name for name in cache_files(data_dir))
    assert facts.cached(data_dir, "facts").n < f.n


def test_a_damaged_cache_file_is_rebuilt_not_trusted(data_dir):
    build_store(data_dir).close()
    marker = facts.refresh_cache(data_dir)
    good = facts.cached(data_dir, "facts")
    for name in cache_files(data_dir):
        (facts.cache_dir(data_dir) / name).write_bytes(b"not what it should be")
    again = facts.cached(data_dir, "facts")
    assert again.n == good.n and again.marker == marker
    assert len(facts.cached(data_dir, "recommendations")) == int(good.rec.sum())
    assert isinstance(facts.cached(data_dir, "recurrence"), graph.RecurrenceFinder)


def test_the_cached_recurrence_finder_groups_exactly_as_a_fresh_comparison(data_dir):
    build_store(data_dir).close()
    facts.refresh_cache(data_dir)
    cached = facts.cached(data_dir, "recurrence")
    records = facts.recommendation_records(facts.cached(data_dir, "recommendations"))
    fresh = graph.RecurrenceFinder(records, floor=facts.MIN_SIMILARITY)
    for threshold in (facts.MIN_SIMILARITY, 0.4, 0.7):
        assert [g.as_dict() for g in cached.groups(threshold)] == [g.as_dict() for g in fresh.groups(threshold)]
    assert cached.groups(facts.MIN_SIMILARITY), "the test store should hold recurring recommendations"


def test_the_index_is_in_step_after_a_build_and_not_after_a_later_store_write(data_dir):
    from dhr.index import SearchIndex

    store = build_store(data_dir)
    idx = SearchIndex(data_dir)
    idx.update_from_store(store)
    idx.close()
    facts.refresh_cache(data_dir, index_updated=True)
    assert facts.index_in_step(data_dir)

    store.delete_document(store.documents()[0]["doc_id"])
    store.close()
    assert not facts.index_in_step(data_dir)


def test_a_read_only_data_directory_still_gives_the_facts(data_dir):
    build_store(data_dir).close()
    facts.cache_dir(data_dir).write_text("a file where the cache folder should be")
    f = facts.cached(data_dir, "facts")
    conn = sqlite3.connect(config.db_path(data_dir))
    assert f.n == conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    conn.close()
