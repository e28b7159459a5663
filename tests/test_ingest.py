"""Ingesting folders: re-runs do no work, changed files replace themselves, --prune forgets deleted files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from dhr import config
from dhr.cli import cli
from dhr.ingest import ingest_paths
from dhr.store import Store

REPORT = """Domestic Homicide Review: Overview Report into the death of Ms C

Elmford Community Safety Partnership

Published: 14 June 2021

1. Findings

1.1 The GP practice did not ask Ms C about abuse when she attended with injuries.

1.2 Officers attended four incidents; the DASH was not completed on two occasions.
"""


def passages(data_dir: Path) -> list[dict]:
    with Store(config.db_path(data_dir)) as store:
        return store.passages()


def test_rerunning_on_unchanged_files_does_no_work(tmp_path, data_dir):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    first = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    before = passages(data_dir)
    second = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    assert (len(first.ingested), len(second.ingested), len(second.unchanged)) == (1, 0, 1)
    assert passages(data_dir) == before


def test_a_changed_file_replaces_its_old_passages_and_keeps_its_id(tmp_path, data_dir):
    report = tmp_path / "ms-c.txt"
    report.write_text(REPORT, encoding="utf-8")
    ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    doc_id = passages(data_dir)[0]["doc_id"]
    report.write_text(REPORT.replace("four incidents", "nine incidents"), encoding="utf-8")
    summary = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    texts = [p["text"] for p in passages(data_dir)]
    assert len(summary.ingested) == 1
    assert any("nine incidents" in t for t in texts) and not any("four incidents" in t for t in texts)
    assert {p["doc_id"] for p in passages(data_dir)} == {doc_id}


def test_prune_removes_documents_whose_files_are_gone(tmp_path, data_dir):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    (tmp_path / "ms-d.txt").write_text(REPORT.replace("Ms C", "Ms D"), encoding="utf-8")
    ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    (tmp_path / "ms-d.txt").unlink()
    kept = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    assert kept.pruned == [] and len(Store(config.db_path(data_dir)).documents()) == 2
    pruned = ingest_paths([tmp_path], data_dir=data_dir, progress=False, prune=True)
    assert [Path(p).name for p in pruned.pruned] == ["ms-d.txt"]
    with Store(config.db_path(data_dir)) as store:
        assert [d["file_name"] for d in store.documents()] == ["ms-c.txt"]
        assert all(p["doc_id"] == store.documents()[0]["doc_id"] for p in store.passages())


def test_metadata_comes_from_the_document_and_a_manifest_overrides_it(tmp_path, data_dir):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    with Store(config.db_path(data_dir)) as store:
        doc = store.documents()[0]
    assert (doc["title"], doc["date"], doc["year"], doc["area"], doc["doc_type"]) == (
        "Domestic Homicide Review: Overview Report into the death of Ms C", "2021-06-14", 2021, "Elmford",
        "dhr_overview")

    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "title", "date", "area", "doc_type"])
        writer.writerow(["ms-c.txt", "DHR Ms C (executive summary)", "2021-07-01", "Elmford Vale",
                         "dhr_executive_summary"])
    summary = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    assert len(summary.ingested) == 1, "a manifest change re-reads the document"
    with Store(config.db_path(data_dir)) as store:
        doc = store.documents()[0]
    assert (doc["title"], doc["year"], doc["area"], doc["doc_type"], doc["manifest_fields"]) == (
        "DHR Ms C (executive summary)", 2021, "Elmford Vale", "dhr_executive_summary",
        ["area", "date", "doc_type", "title", "year"])


def test_json_manifest_is_read_too(tmp_path, data_dir):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps([{"file": "ms-c.txt", "year": 2020}]))
    ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    with Store(config.db_path(data_dir)) as store:
        assert store.documents()[0]["year"] == 2020


def test_every_format_is_read_into_passages(tmp_path, data_dir):
    import docx

    (tmp_path / "a.md").write_text("# Review of Ms E\n\n## Findings\n\n3.1 Nobody asked about the children.\n\n"
                                   "| Recommendation | Lead agency |\n|---|---|\n| Train staff | Housing |\n")
    (tmp_path / "b.html").write_text("<html><head><title>Ms F</title><script>x()</script></head><body>"
                                     "<h1>Review of Ms F</h1><h2>Findings</h2><p>The IDVA lost contact.</p>"
                                     "<table><tr><th>Recommendation</th><th>Lead agency</th></tr>"
                                     "<tr><td>Refresh training</td><td>Police</td></tr></table></body></html>")
    document = docx.Document()
    document.add_heading("Review of Ms G", level=1)
    document.add_heading("Findings", level=2)
    document.add_paragraph("5.2 The school made no referral to children's social care.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Recommendation", "Lead agency"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Audit referrals", "Education"
    document.save(tmp_path / "c.docx")

    summary = ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    assert summary.failed == []
    with Store(config.db_path(data_dir)) as store:
        by_doc = {d["file_name"]: (d, store.passages(d["doc_id"])) for d in store.documents()}
    for name, title, finding, row in [
        ("a.md", "Review of Ms E", "3.1 Nobody asked about the children.", {"Recommendation": "Train staff", "Lead agency": "Housing"}),
        ("b.html", "Review of Ms F", "The IDVA lost contact.", {"Recommendation": "Refresh training", "Lead agency": "Police"}),
        ("c.docx", "Review of Ms G", "5.2 The school made no referral to children's social care.",
         {"Recommendation": "Audit referrals", "Lead agency": "Education"}),
    ]:
        doc, found = by_doc[name]
        assert doc["title"] == title
        assert [(p["text"], p["section"]) for p in found if p["kind"] == "paragraph"] == [(finding, "Findings")]
        assert [p["cells"] for p in found if p["kind"] == "table_row"] == [row]
    assert "x()" not in str(by_doc["b.html"])


def test_cli_ingest_prints_a_summary_and_exits_1_on_failures(tmp_path, data_dir):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    (tmp_path / "notes.xyz").write_text("?")
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--data-dir", str(data_dir), "-q"])
    assert result.exit_code == 1
    assert "Ingested 1 document(s)" in result.output and "failed 1" in result.output
    assert "notes.xyz: unsupported file type '.xyz'" in result.output


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "ms-c.txt").write_text(REPORT, encoding="utf-8")
    monkeypatch.setenv("DHR_DATA_DIR", str(tmp_path / "env-data"))
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "ms-c.txt"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env-data" / "dhr.sqlite").is_file()


def test_text_pasted_from_the_web_loses_footnote_markers_and_rules(tmp_path, data_dir):
    (tmp_path / "web.txt").write_text(
        "Report\n\n2.1 The cost to services is \u00a323 billion a year<sup>4</sup>.\n\n---\n\n"
        "2.2 <b>Partners</b> agreed a plan.\n", encoding="utf-8")
    ingest_paths([tmp_path], data_dir=data_dir, progress=False)
    assert [p["text"] for p in passages(data_dir)] == [
        "2.1 The cost to services is \u00a323 billion a year.", "2.2 Partners agreed a plan."]
