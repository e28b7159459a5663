"""Behaviour tests for the tagger (dhr.tag): themes, negation, aliases, recommendations, addressees."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dhr.records import Document, Passage, ProcessedDocument
from dhr.store import Store
from dhr.tag import load_tagger, tag, tag_store


@pytest.fixture(scope="module")
def tagger():
    return load_tagger()


def theme_ids(result):
    return {t["id"] for t in result["themes"]}


# One hand-written passage per theme, each plainly about that theme.
THEME_PASSAGES = {
    "missed_risk": "Officers did not complete a DASH risk assessment after the third call-out, and the threats to kill "
                   "and the attempted strangulation were never recognised as high-risk factors.",
    "information_sharing": "The hospital knew of her injuries but did not share this information with the GP; staff "
                           "believed data protection rules prevented them from passing it on without consent.",
    "multi_agency_working": "Agencies worked in silos: there was no multi-agency meeting, the case was never discussed "
                            "at MARAC, and roles and responsibilities between partners were unclear.",
    "training_awareness": "None of the health visitors had received domestic abuse training, and staff awareness of "
                          "coercive control was low; a training programme and a champions network are needed.",
    "record_keeping": "Her disclosure was not recorded on the GP system, no flag or marker was added to the record, "
                      "and the two IT systems could not share case records.",
    "professional_curiosity": "The nurse accepted his explanation of the bruising at face value, did not ask about "
                              "domestic abuse and never saw her alone: professional curiosity was lacking.",
    "coercive_control": "He controlled her money, monitored her phone and isolated her from her friends: a pattern of "
                        "coercive and controlling behaviour, with stalking after she left.",
    "mental_health": "He had a long history of depression and had twice attempted suicide; the community mental "
                     "health team closed his case after he missed appointments.",
    "substance_misuse": "He drank heavily and used cocaine; the drug and alcohol service discharged him when he did "
                        "not attend, although alcohol was present at every incident.",
    "children_safeguarding": "The two children were present during the incidents, but no referral was made to "
                             "children's social care and no child protection plan was considered.",
    "adult_safeguarding": "She was an older woman with care and support needs and her husband was her carer; no adult "
                          "safeguarding concern was raised and no section 42 enquiry followed.",
    "housing": "She became homeless after leaving, and was placed in temporary accommodation far from her support; "
               "no refuge space was available and the housing association did not help.",
    "resources_capacity": "IDVA caseloads were twice the recommended level because funding had been cut, and the "
                          "service has a waiting list caused by demand exceeding capacity.",
    "referral_pathways": "No referral was made to the IDVA service, and the referral pathway between the GP and "
                         "specialist services was unclear; she was only signposted to a helpline.",
    "victim_voice": "Her sister told the review that Ms A had tried to disclose the abuse twice but felt she was not "
                    "listened to; the family contributed to the review and her voice should be heard.",
    "perpetrator_management": "He was a serial perpetrator who had abused three previous partners, yet he was never "
                              "referred to a perpetrator programme or managed under MAPPA.",
    "governance_leadership": "The Board has not embedded learning from previous reviews: the action plan was not "
                             "monitored and the domestic abuse strategy lacks clear governance and accountability.",
    "equality_diversity": "No interpreter was used and her husband translated for her; her immigration status and "
                          "language were barriers for a woman from a minority ethnic community.",
    "criminal_justice": "He was arrested but released without charge; the CPS decided not to prosecute, no bail "
                        "conditions were set and no non-molestation order or DVPO was sought.",
}


@pytest.mark.parametrize("theme", sorted(THEME_PASSAGES))
def test_each_theme_found_with_evidence(tagger, theme):
    text = THEME_PASSAGES[theme]
    res = tagger.tag(text)
    got = {t["id"]: t for t in res["themes"]}
    assert theme in got, (theme, sorted(got))
    t = got[theme]
    assert 0.0 <= t["score"] <= 1.0
    assert t["evidence"] and t["evidence"].rstrip("\u2026") [:40] in text


def test_result_shape_matches_interface(tagger):
    res = tagger.tag("Northshire Police should review its training.", id="p1")
    assert list(res)[:5] == ["id", "themes", "agencies", "is_recommendation", "addressees"]
    assert res["id"] == "p1"
    assert json.loads(json.dumps(res)) == res
    assert tag("Northshire Police should review its training.", id="p1") == res  # module-level function


def test_reassurance_is_not_a_failure_theme(tagger):
    negated = tagger.tag("There were no concerns about his drinking and no evidence of drug use.")
    assert "substance_misuse" not in theme_ids(negated)
    positive = tagger.tag("He was drinking heavily every day and the alcohol service closed his case.")
    assert "substance_misuse" in theme_ids(positive)
    ok = tagger.tag("The risk was appropriately assessed as high and acted on; there were no missed opportunities.")
    assert "missed_risk" not in theme_ids(ok)


def test_passing_mention_of_process_is_not_tagged(tagger):
    res = tagger.tag("The review was commissioned by the Community Safety Partnership under section 9 of the "
                     "Domestic Violence, Crime and Victims Act 2004.")
    assert "mental_health" not in theme_ids(res) and "substance_misuse" not in theme_ids(res)


@pytest.mark.parametrize("text, agency, mention", [
    ("Staffordshire Police attended the address.", "police", "Staffordshire Police"),
    ("Hertfordshire Constabulary attended twice.", "police", "Hertfordshire Constabulary"),
    ("The review was carried out by CAADA.", "specialist_da_services", "CAADA"),
    ("SafeLives published the guidance.", "specialist_da_services", "SafeLives"),
    ("The CCG commissions the IRIS programme.", "health_commissioners", "CCG"),
    ("The ICB commissions the IRIS programme.", "health_commissioners", "ICB"),
    ("HMIC inspected the force in 2014.", "inspectorates", "HMIC"),
    ("HMICFRS inspected the force in 2021.", "inspectorates", "HMICFRS"),
    ("The case was heard at MARAC.", "marac", "MARAC"),
    ("She was supported by an independent domestic violence adviser.", "idva",
     "independent domestic violence adviser"),
    ("The OPCC funds the service.", "pcc", "OPCC"),
])
def test_alias_resolution_keeps_surface_form(tagger, text, agency, mention):
    res = tagger.tag(text)
    assert {"id": agency, "mention": mention} in res["agencies"]


def test_unknown_organisation_gets_no_id(tagger):
    # a named NHS trust whose services the passage does not make clear: surface form kept, no id guessed
    res = tagger.tag("Westshire Community NHS Trust noted the report.")
    assert {"id": None, "mention": "Westshire Community NHS Trust"} in res["agencies"]


def test_health_and_wellbeing_board_is_local_authority(tagger):
    # corpus/labelled/CONVENTIONS.md 1: a council committee (Health and Social Care Act 2012 s.194)
    res = tagger.tag("The Health and Wellbeing Board noted the report.")
    assert {"id": "local_authority", "mention": "Health and Wellbeing Board"} in res["agencies"]


def test_action_plan_key_value_lines(tagger):
    res = tagger.tag("Recommendation: 4\nLead agency: Westbrook CSP / ICB\nAction: Agree an information-sharing "
                     "protocol between the MARAC and GP practices.\nTarget date: June 2024")
    assert res["is_recommendation"]
    assert set(res["addressees"]) == {"csp", "health_commissioners"}


def test_all_agencies_lead_cell_has_no_addressee(tagger):
    res = tagger.tag("Recommendation: 8\nLead agency: All agencies\nAction: Each agency to report to the CSP on "
                     "the uptake of domestic abuse training.\nTarget date: March 2024")
    assert res["addressees"] == []


def test_local_organisation_names(tagger):
    res = tagger.tag("That Northshire and Westmoor Partnership NHS Foundation Trust ensures its teams ask about abuse, "
                     "and that Northshire Homes trains its repairs staff.")
    ids = {a["id"] for a in res["agencies"]}
    assert {"mental_health_services", "housing"} <= ids
    res = tagger.tag("Recommendation 13: That the Council's Housing Needs service ensures that temporary "
                     "accommodation offered to victims is safe.")
    assert res["addressees"] == ["housing"]


def test_addressee_vs_mention(tagger):
    res = tagger.tag("We recommend that the Government, in consultation with the Information Commissioner, "
                     "updates its guidance on information sharing.")
    assert res["is_recommendation"]
    assert res["addressees"] == ["central_government"]
    assert {"id": "central_government", "mention": "Information Commissioner"} in res["agencies"]

    res = tagger.tag("Recommendation 2: Northshire Police should ensure that officers share every DASH with the GP "
                     "and with children's social care.")
    assert res["is_recommendation"] and res["recommendation_label"] == "Recommendation 2"
    assert res["addressees"] == ["police"]
    assert {"gp_primary_care", "childrens_social_care"} <= {a["id"] for a in res["agencies"]}


def test_recommendation_naming_no_one_has_no_addressees(tagger):
    res = tagger.tag("4.16 Agencies should review their training so that practitioners recognise coercive control.")
    assert res["is_recommendation"]
    assert res["addressees"] == []
    assert res["recommendation_label"] == "4.16"


def test_finding_is_not_a_recommendation(tagger):
    res = tagger.tag("The police attended the address on 3 March 2018 and arrested Mr B, who was later released "
                     "on bail. The GP saw Ms A a week later.")
    assert not res["is_recommendation"]
    assert res["addressees"] == []


def _store_with(tmp_path, passages, name="doc.txt"):
    store = Store(tmp_path / "dhr.sqlite")
    doc = Document(path=str(tmp_path / name), file_name=name, content_hash="h", format="txt", page_count=2,
                   title="A review", year=2020, area="Northshire", doc_type="dhr_overview")
    store.save_document(ProcessedDocument(doc, ["page one", "page two"], passages), fingerprint="f")
    return store


def test_table_row_lead_agency_cell_gives_addressees(tmp_path, tagger):
    cells = {"Recommendation": "Embed routine enquiry about domestic abuse at antenatal booking",
             "Lead agency": "Northshire Constabulary and the CCG",
             "Action": "Audit 50 records a quarter", "Target date": "March 2024"}
    text = " | ".join(f"{k}: {v}" for k, v in cells.items())
    store = _store_with(tmp_path, [
        Passage(seq=0, text=text, page=3, page_end=3, section="Action plan", kind="table_row", cells=cells),
        Passage(seq=1, text="Ms A lived with her two children.", page=1, page_end=1),
    ])
    assert tag_store(store, progress=False, tagger=tagger) == 1
    rows = store.tagged_passages()
    row = rows[0]
    assert row["is_recommendation"]
    assert set(row["addressees"]) == {"police", "health_commissioners"}
    assert not rows[1]["is_recommendation"]
    # up to date: nothing to do; --all re-tags without re-extraction
    assert tag_store(store, progress=False, tagger=tagger) == 0
    assert tag_store(store, all=True, progress=False, tagger=tagger) == 1
    assert store.passages()[0]["text"] == text


def test_pipe_flattened_table_row(tagger):
    res = tagger.tag("Recommendation: Ensure all pregnant women are seen alone | Lead agency: Maternity Services, "
                     "Northshire Hospitals | Action: Amend the booking pathway | Target date: June 2024")
    assert res["is_recommendation"]
    assert res["addressees"] == ["nhs_acute"]


def test_action_plan_row_without_headers_finds_its_lead_cell(tagger):
    # real action plans are often flattened with their header row far away: "No | Action | Lead | Date | RAG"
    res = tagger.tag("11 | Flag restraining orders on the victim's address within 24 hours | Westmoor Police | "
                     "Court results team to create a warning marker; six-month audit | 31/10/2024 | Green")
    assert res["is_recommendation"]
    assert res["addressees"] == ["police"]
    # the row's own subject acts as well as the lead cell; an agency inside the action text does not
    res = tagger.tag("Rec 2 - GP practices to ensure interpreters are booked for patients | Westmoor ICB | "
                     "Bulletin to practices; audit with the police and the hospital | 31/12/2024 | Amber")
    assert set(res["addressees"]) == {"gp_primary_care", "health_commissioners"}


def test_supporting_agency_is_not_an_addressee(tagger):
    res = tagger.tag("Recommendation 9: Westmoor Police, with HM Courts and Tribunals Service, to ensure that "
                     "non-molestation orders are recorded on police systems promptly after service.")
    assert res["addressees"] == ["police"]
    res = tagger.tag("That Westmoor County Council, working with housing providers, develops a sanctuary scheme.")
    assert res["addressees"] == ["local_authority"]
    res = tagger.tag("That the police, together with the CPS, review how evidence-led prosecutions are built.")
    assert set(res["addressees"]) == {"police", "cps"}


def test_recommendation_across_page_break_is_one_item(tmp_path, tagger):
    ingest = pytest.importorskip("dhr.ingest")
    src = tmp_path / "report.txt"
    src.write_text(
        "Overview report\n\nRecommendations\n\n"
        "Recommendation 4: Northshire Police should ensure that every officer attending a domestic abuse incident\n"
        "\f completes the DASH risk assessment at the scene and shares it with the GP.\n\n"
        "Recommendation 5: The Community Safety Partnership should review its domestic abuse strategy.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    ingest.ingest_paths([src], data_dir=data, progress=False)
    with Store(data / "dhr.sqlite") as store:
        tag_store(store, progress=False, tagger=tagger)
        recs = [p for p in store.tagged_passages() if p["is_recommendation"]]
    first = [p for p in recs if "Recommendation 4" in p["text"]]
    assert len(first) == 1, [p["text"] for p in recs]
    p = first[0]
    assert "every officer" in p["text"] and "shares it with the GP" in p["text"]
    assert p["recommendation_label"] == "Recommendation 4"
    assert p["addressees"] == ["police"]
    assert "missed_risk" in {t["id"] for t in p["themes"]}
    assert any(r["addressees"] == ["csp"] for r in recs)


def test_cli_tag_text_and_jsonl(tmp_path):
    from dhr.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["tag", "-"], input="Northshire Police should complete a DASH risk assessment.")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.output)
    assert obj["is_recommendation"] and obj["addressees"] == ["police"]

    lines = "\n".join(json.dumps({"id": f"p{i}", "text": t}) for i, t in enumerate(THEME_PASSAGES.values()))
    res = runner.invoke(cli, ["tag", "--jsonl", "-"], input=lines + "\n")
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.output.splitlines()]
    assert [o["id"] for o in out] == [f"p{i}" for i in range(len(THEME_PASSAGES))]


def test_other_codebook(tmp_path):
    from dhr.tag import Tagger

    cb = tmp_path / "cb.yaml"
    cb.write_text("themes:\n  teapots:\n    name: Teapots\n    phrases: [teapot, kettle]\n", encoding="utf-8")
    t = Tagger(codebook=cb)
    assert t.model is None and t.notes  # the trained model knows other themes: rules only
    res = t.tag("The teapot was on the stove.")
    assert [x["id"] for x in res["themes"]] == ["teapots"]
    assert t.version != load_tagger().version


def test_classifier_reads_word_forms_as_one_word():
    from dhr.tag import word_terms, words

    # 809 training passages cannot teach "assessed", "assessing" and "assessment" separately
    assert words("Risk was not assessed; assessing, assessments.", stemmed=True) == \
        ["risk", "was", "not", "assess", "assess", "assess"]
    assert words("Café NAÏVE", stemmed=False) == ["cafe", "naive"]  # accents go, as in scikit-learn's strip_accents
    assert word_terms("no risk assessment", stemmed=True) == ["no", "risk", "assess", "no risk", "risk assess"]


def test_best_sentence_is_the_best_single_sentence(tagger):
    # the sentence model scores each sentence on its own: a passage's feature is its best sentence's score,
    # so a theme carried by one sentence is not diluted by the rest of the passage
    import numpy as np

    sentences = ["Mr B moved to the area in 2015 and worked as a driver.",
                 "He controlled her money, checked her phone and stopped her seeing friends.",
                 "The couple had two children, who attended the local primary school."]
    whole = tagger.analyse_docs([{"text": " ".join(sentences)}])
    alone = tagger.analyse_docs([{"text": s} for s in sentences])
    assert len(whole[0].sentences()) == 3
    best = tagger.lite.best_sentence(whole)[0]
    each = tagger.lite.best_sentence(alone)
    assert np.allclose(best, each.max(axis=0))
    coercive = tagger.lite.m["sentence"]["ids"].index("coercive_control")
    assert each[:, coercive].argmax() == 1


def test_local_names_are_found_sentence_by_sentence_as_in_the_whole_passage(tagger):
    # the token Matcher only reads sentences holding a word its patterns need ("police", "trust", ...);
    # what it finds must be what reading the whole passage finds
    texts = ["Ms A moved to Westmoor in 2019. Westmoor and Eastvale Constabulary attended twice. "
             "Northshire and Westmoor Partnership NHS Foundation Trust saw Mr B, and Eastvale Homes was told.",
             "The Safer Westmoor Partnership met. Nobody from Westmoor County Council or Eastvale CCG came.",
             "There is no local name here at all."]
    anchors = tagger._agency_anchors
    assert anchors and {"police", "trust", "council"} <= anchors
    by_sentence = [a.agencies for a in tagger.analyse_docs([{"text": t} for t in texts])]
    tagger._agency_anchors = None
    try:
        whole = [a.agencies for a in tagger.analyse_docs([{"text": t} for t in texts])]
    finally:
        tagger._agency_anchors = anchors
    assert by_sentence == whole
    assert {"police", "mental_health_services", "housing"} <= {x[0] for x in by_sentence[0]}
    assert {"csp", "local_authority", "health_commissioners"} <= {x[0] for x in by_sentence[1]}
