"""The labelled set loader and the evaluation report."""
from __future__ import annotations

import json

import pytest

from dhr import labelled
from dhr.evaluate import evaluate, format_report, score


def test_seed_records_skipped_cleanly_without_shared_folder(tmp_path, monkeypatch):
    d = tmp_path / "labelled"
    d.mkdir()
    recs = [
        {"id": "h1", "source": "handwritten", "text": "He drank.", "themes": ["substance_misuse"], "agencies": [],
         "is_recommendation": False, "addressees": [], "split": "train"},
        {"id": "s1", "source": "seed", "file": "x.txt", "start": 0, "end": 5, "sha1": "0" * 40, "themes": [],
         "agencies": [], "is_recommendation": False, "addressees": [], "split": "test"},
    ]
    (d / "a.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n{broken", encoding="utf-8")
    monkeypatch.setenv("DHR_SEEDS_DIR", str(tmp_path / "absent"))
    ls = labelled.load(d)
    assert [e.id for e in ls.examples] == ["h1"]
    assert any("seed passages skipped" in n for n in ls.notes)


def test_seed_sha1_checked(tmp_path, monkeypatch):
    import hashlib

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "x.txt").write_text("Hello world, agencies should share.", encoding="utf-8")
    d = tmp_path / "labelled"
    d.mkdir()
    good = hashlib.sha1("Hello world".encode()).hexdigest()
    recs = [{"id": "s1", "source": "seed", "file": "x.txt", "start": 0, "end": 11, "sha1": good, "split": "train"},
            {"id": "s2", "source": "seed", "file": "x.txt", "start": 0, "end": 5, "sha1": good, "split": "train"}]
    (d / "s.jsonl").write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    monkeypatch.setenv("DHR_SEEDS_DIR", str(seeds))
    ls = labelled.load(d)
    assert [e.text for e in ls.examples] == ["Hello world"]
    assert any("sha1" in n for n in ls.notes)


def test_real_labelled_set_has_fixed_disjoint_splits():
    ls = labelled.load()
    if not ls.examples:
        pytest.skip("no labelled set")
    train, test = {e.id for e in ls.train}, {e.id for e in ls.test}
    assert train and test and not train & test


def test_score_counts():
    ex = [labelled.Example(id="a", source="handwritten", text="x", themes=["housing"], is_recommendation=True,
                           addressees=["police"], agencies=[{"id": "police", "mention": "police"}])]
    res = [{"themes": [{"id": "housing"}, {"id": "mental_health"}], "agencies": [{"id": "police"}],
            "is_recommendation": True, "addressees": ["police", "csp"]}]
    s = score(ex, res, ["housing", "mental_health"])
    assert s["theme_micro"]["tp"] == 1 and s["theme_micro"]["fp"] == 1
    assert s["recommendation"]["f1"] == 1.0
    assert s["addressee_micro"]["precision"] == 0.5 and s["agency_mention_micro"]["f1"] == 1.0


def test_evaluate_reports_three_methods_and_seed_subset(tmp_path):
    from dhr.tag import default_models_dir

    if not (default_models_dir() / "tagger.joblib").exists():
        pytest.skip("no trained model")
    report = evaluate(write=False)
    assert set(report["methods"]) == {"combined", "rules", "classifier"}
    for m in report["methods"].values():
        assert "all" in m and len(m["all"]["themes"]) == 19
    if labelled.seeds_dir().is_dir():
        assert "seed" in report["methods"]["combined"]
    text = format_report(report)
    assert "recommendation F1" in text and "addressee micro-F1" in text
