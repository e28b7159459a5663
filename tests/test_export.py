"""Export round trip: CSV and JSONL open in pandas with no cleaning; filters; codebook."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from dhr.export import COLUMNS, codebook_bytes, export_bytes
from dhr.records import Document, Passage, ProcessedDocument
from dhr.store import Store
from dhr.tag import load_tagger, tag_store


@pytest.fixture()
def store(tmp_path):
    st = Store(tmp_path / "data" / "dhr.sqlite")
    for name, year, area, passages in [
        ("a.txt", 2016, "Northshire", [
            Passage(seq=0, text="Recommendation 1: Northshire Police should ensure that a DASH risk assessment is "
                                "completed, and share it with the GP; \"quoted\", commas; and\nnew lines.",
                    page=4, page_end=5, section="Recommendations", label="Recommendation 1"),
            Passage(seq=1, text="He drank heavily and the children were present; Ms A (née Smith) was frightened.",
                    page=2, page_end=2, section="Chronology"),
        ]),
        ("b.txt", 2021, "Westmoor", [
            Passage(seq=0, text="The review panel met six times.", page=1, page_end=1, section="Process"),
        ]),
    ]:
        doc = Document(path=str(tmp_path / name), file_name=name, content_hash=name, format="txt", page_count=5,
                       title=f"Review {name}", year=year, area=area, doc_type="dhr_overview")
        st.save_document(ProcessedDocument(doc, ["p"] * 5, passages), fingerprint=name)
    tag_store(st, progress=False, tagger=load_tagger())
    yield st
    st.close()


def test_csv_round_trip_in_pandas(store):
    df = pd.read_csv(io.BytesIO(export_bytes(store, "csv", {})))
    assert list(df.columns) == COLUMNS
    assert len(df) == 3
    assert df["is_recommendation"].dtype == bool
    assert df["year"].dtype.kind == "i" and df["page"].dtype.kind == "i"
    rec = df[df["is_recommendation"]].iloc[0]
    assert "\nnew lines" in rec["text"] and '"quoted"' in rec["text"]
    assert rec["recommendation_label"] == "Recommendation 1"
    assert rec["addressees"].split(";") == ["police"]
    assert "missed_risk" in rec["themes"].split(";")
    assert {"police", "gp_primary_care"} <= set(rec["agencies"].split(";"))
    # the same rows as the store, list fields split back into lists
    rows = {p["passage_id"]: p for p in store.tagged_passages()}
    for _, r in df.iterrows():
        themes = r["themes"].split(";") if isinstance(r["themes"], str) else []
        assert themes == [t["id"] for t in rows[r["passage_id"]]["themes"]]
    assert "née" in df.iloc[1]["text"]


def test_jsonl_in_pandas_keeps_lists(store):
    df = pd.read_json(io.BytesIO(export_bytes(store, "jsonl", {})), lines=True)
    assert len(df) == 3
    assert set(COLUMNS) <= set(df.columns)
    rec = df[df["is_recommendation"]].iloc[0]
    assert isinstance(rec["themes"], list) and rec["addressees"] == ["police"]
    assert set(rec["theme_scores"]) == set(rec["themes"])
    assert all(rec["theme_evidence"][t] for t in rec["themes"])


def test_filters(store):
    rows = lambda f: [json.loads(x) for x in export_bytes(store, "jsonl", f).decode().splitlines()]  # noqa: E731
    assert len(rows({"rec": True})) == 1
    assert len(rows({"year": (2020, None)})) == 1
    assert len(rows({"year": (2010, 2017)})) == 2
    assert len(rows({"area": ["Westmoor"]})) == 1
    assert len(rows({"addressee": ["police"]})) == 1
    assert len(rows({"agency": ["police"]})) == 1
    assert len(rows({"theme": ["substance_misuse"]})) >= 1
    assert all("substance_misuse" in r["themes"] for r in rows({"theme": ["substance_misuse"]}))
    assert rows({"type": ["inspection"]}) == []


def test_codebook_export():
    cb = json.loads(codebook_bytes())
    assert len(cb["themes"]) == 19 and len(cb["agencies"]) == 33
    assert all(t["home_office_themes"] for t in cb["themes"])


def test_cli_export_writes_sidecar(store, tmp_path):
    from dhr.cli import cli

    out = tmp_path / "out" / "tags.csv"
    res = CliRunner().invoke(cli, ["export", "--format", "csv", "--out", str(out), "--data-dir",
                                   str(store.path.parent), "--rec"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == 1
    assert json.loads((tmp_path / "out" / "tags.codebook.json").read_text())["themes"]
    res = CliRunner().invoke(cli, ["export", "--codebook"])
    assert res.exit_code == 0 and json.loads(res.output)["themes"]


def test_an_export_file_is_replaced_whole_and_leaves_no_temporary_files(tmp_path):
    from dhr.config import write_atomic

    target = write_atomic(tmp_path / "out" / "tags.csv", b"old")
    write_atomic(target, b"new,content\n")
    assert target.read_bytes() == b"new,content\n"
    assert [p.name for p in target.parent.iterdir()] == ["tags.csv"]
