"""The main job on the bundled demo corpus, as the README's quick start runs it."""
from __future__ import annotations

import shutil

from click.testing import CliRunner

from dhr import config, facts
from dhr.cli import cli
from dhr.index import SearchIndex
from dhr.store import Store
from tests.conftest import REPO


def test_build_ingests_tags_and_indexes_the_demo_corpus_and_a_rerun_does_nothing(tmp_path, data_dir):
    reports = tmp_path / "reports"
    shutil.copytree(REPO / "corpus" / "reports", reports)
    runner = CliRunner()
    first = runner.invoke(cli, ["build", str(reports), "--data-dir", str(data_dir), "-q"])
    assert first.exit_code == 0, first.output
    assert "Ingested 10 document(s)" in first.output and "failed 0" in first.output
    assert "Tagged 10 document(s)" in first.output and "dhr app" in first.output

    with Store(config.db_path(data_dir)) as store:
        docs = store.documents()
        passages = store.tagged_passages()
    assert {d["doc_type"] for d in docs} >= {"dhr_overview", "dhr_executive_summary", "inspection_report",
                                              "committee_report"}
    assert len({d["area"] for d in docs}) >= 5 and min(d["year"] for d in docs) <= 2013
    assert all(d["tagger_version"] for d in docs)
    recommendations = [p for p in passages if p["is_recommendation"]]
    assert len(recommendations) >= 40
    assert sum(1 for p in recommendations if "police" in p["addressees"]) >= 5
    tagged = [p for p in passages if p["themes"]]
    assert all(t["evidence"] for p in tagged for t in p["themes"])

    index = SearchIndex(data_dir)
    try:
        found = index.search('"DASH"', {"rec": True})
        assert found.total >= 3
        assert all(h.is_recommendation for h in found.hits)
        assert index.stats()["passages"] == len(passages)
    finally:
        index.close()

    # the explorer's summaries were built for this content, and the index is known to match it
    marker = facts.current_marker(data_dir)
    assert (facts.cache_dir(data_dir) / f"facts-{marker}.npz").is_file()
    assert facts.index_in_step(data_dir)
    retag = runner.invoke(cli, ["tag", "--all", "--data-dir", str(data_dir), "-q"])
    assert retag.exit_code == 0, retag.output
    assert facts.current_marker(data_dir) != marker, "re-tagging (to the same tags) is a new content version"
    assert (facts.cache_dir(data_dir) / f"facts-{facts.current_marker(data_dir)}.npz").is_file()

    again = runner.invoke(cli, ["build", str(reports), "--data-dir", str(data_dir), "-q"])
    assert again.exit_code == 0, again.output
    assert "unchanged 10" in again.output and "Tagged 0 document(s)" in again.output
    assert "0 added, 0 updated, 0 removed" in again.output
