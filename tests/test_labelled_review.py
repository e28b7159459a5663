"""The labelled set's double reading: what counts as a disagreement, how adjudication decides the
final labels, and that the labels in corpus/labelled/ are exactly that result."""
from __future__ import annotations

import importlib.util
import json

from tests.conftest import REPO

TOOL = REPO / "corpus" / "labelled" / "tools" / "second_reading.py"
spec = importlib.util.spec_from_file_location("second_reading", TOOL)
second_reading = importlib.util.module_from_spec(spec)
spec.loader.exec_module(second_reading)


def reading(themes=(), rec=False, addressees=()):
    return {"themes": sorted(themes), "is_recommendation": rec, "addressees": sorted(addressees) if rec else []}


def test_only_what_the_readers_differ_on_is_put_to_the_adjudicator():
    a = reading(["missed_risk", "housing"], rec=True, addressees=["police", "housing"])
    b = reading(["missed_risk", "victim_voice"], rec=True, addressees=["police"])
    assert second_reading.disputes(a, b) == {"themes_in_question": ["housing", "victim_voice"],
                                             "addressees_in_question": ["housing"]}
    assert second_reading.disputes(a, a) == {}
    # when they differ on whether it is a recommendation, every addressee either gave is in question
    c = reading(["missed_risk", "housing"])
    assert second_reading.disputes(a, c) == {"recommendation_in_question": True,
                                             "addressees_in_question": ["housing", "police"]}


def test_final_labels_are_the_agreed_labels_plus_the_adjudicators_yes():
    a = reading(["missed_risk", "housing"], rec=True, addressees=["police", "housing"])
    b = reading(["missed_risk", "victim_voice"], rec=True, addressees=["police"])
    decision = {"themes": {"housing": False, "victim_voice": True}, "addressees": {"housing": True}}
    assert second_reading.final_labels(a, b, decision) == reading(
        ["missed_risk", "victim_voice"], rec=True, addressees=["housing", "police"])
    # a passage decided not to be a recommendation keeps no addressees
    not_rec = second_reading.final_labels(a, reading(["missed_risk", "housing"]),
                                          {"is_recommendation": False, "addressees": {"police": True}})
    assert not_rec == reading(["missed_risk", "housing"])
    assert second_reading.final_labels(a, a, None) == a


def test_the_labelled_files_hold_exactly_the_adjudicated_labels():
    first = second_reading.by_id(second_reading.FIRST)
    second = second_reading.by_id(second_reading.SECOND)
    decided = second_reading.by_id(second_reading.DECISIONS)
    records = [json.loads(line) for path in sorted((REPO / "corpus" / "labelled").glob("*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(records) == len(first) == len(second) >= 600
    disputed = {pid for pid in first if second_reading.disputes(first[pid], second[pid])}
    assert disputed == set(decided), "every disagreement, and nothing else, has a decision"
    for rec in records:
        final = second_reading.final_labels(first[rec["id"]], second[rec["id"]], decided.get(rec["id"]))
        got = {"themes": sorted(rec["themes"]), "is_recommendation": rec["is_recommendation"],
               "addressees": sorted(rec["addressees"])}
        assert got == final, rec["id"]
    # the review files never hold passage text (seed documents are referenced, not copied)
    for path in (second_reading.FIRST, second_reading.SECOND, second_reading.DECISIONS):
        assert all("text" not in r for r in second_reading.read_jsonl(path))
