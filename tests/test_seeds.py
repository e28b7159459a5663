"""The five real published documents in ../shared ingest with their manifest and sensible passages."""
from __future__ import annotations

import csv
import re

from dhr import config
from dhr.ingest import ingest_paths
from dhr.store import Store


def test_seed_documents_ingest_with_their_manifest_metadata(seeds_dir, data_dir):
    summary = ingest_paths([seeds_dir], data_dir=data_dir, progress=False)
    assert summary.failed == []
    manifest = {r["file"]: r for r in csv.DictReader((seeds_dir / "manifest.csv").open(encoding="utf-8"))}
    with Store(config.db_path(data_dir)) as store:
        docs = {d["file_name"]: d for d in store.documents()}
        assert set(docs) == set(manifest)
        for name, row in manifest.items():
            doc = docs[name]
            assert (doc["title"], doc["doc_type"], doc["area"], doc["date"]) == (
                row["title"], row["doc_type"], row["area"], row["date"])
            assert doc["year"] == int(row["date"][:4])
        passages = store.passages()
    assert len(passages) > 200
    # numbered paragraphs are kept whole: each starts a passage of its own and ends a sentence
    numbered = [p for p in passages if re.match(r"^(- )?(\d{1,3}(\.\d{1,2})+|\d{1,3}\.) [A-Z]", p["text"])]
    assert len(numbered) > 100
    assert all(p["label"] for p in numbered)
    for p in numbered:
        assert re.search(r"[.:;?!)\]\"'\u201d]\s*(\[\d+\])?$", p["text"].split("\n")[0]) or "\n" in p["text"] \
            or len(p["text"].split()) < 30, p["text"][-80:]
    para_341 = [p for p in passages if p["label"] == "341"]
    assert len(para_341) == 1 and para_341[0]["section"].startswith("Multi-agency responses")
