"""A small tagged corpus written straight into a Store, for the explorer and graph tests.

Six documents from 2012 to 2021 in three areas; findings and recommendations with themes,
agencies and addressees; near-duplicate recommendations to the police and to GPs made by
different reviews in different years; one passage carrying markup that must be escaped.
"""
from __future__ import annotations

from pathlib import Path

from dhr.records import Document, Passage, ProcessedDocument
from dhr.store import Store, passage_id

HOSTILE = '<script>alert("x")</script><b>bold</b> & <img src=x onerror=alert(1)>'

# doc: (file, title, year, area, doc_type, passages)
# passage: (page, section, text, themes, agencies, is_rec, addressees, label)
DOCS = [
    ("dhr-adam-2012.txt", "DHR Adam", 2012, "Northshire", "dhr", [
        (1, "Background", "Adam and Beth lived together in Northtown. Police attended four incidents; "
         "the DASH risk assessment was graded standard each time and the escalation was missed.",
         ["missed_risk"], ["police"], False, [], ""),
        (1, "Analysis", "The GP was not told of the incidents and information was not shared with the surgery.",
         ["information_sharing"], ["gp_primary_care", "police"], False, [], ""),
        (2, "Recommendations", "Recommendation 1: The police should ensure that officers complete a DASH risk "
         "assessment at every domestic abuse incident and refer high risk cases to MARAC.",
         ["missed_risk", "referral_pathways"], ["police", "marac"], True, ["police"], "Recommendation 1"),
        (2, "Recommendations", "Recommendation 2: GP practices should ask patients routinely about domestic "
         "abuse and record disclosures on the patient record.",
         ["professional_curiosity", "record_keeping"], ["gp_primary_care"], True, ["gp_primary_care"],
         "Recommendation 2"),
    ]),
    ("dhr-carol-2014.txt", "DHR Carol", 2014, "Northshire", "dhr", [
        (1, "Background", "Carol drank heavily and her partner controlled her money and isolated her from friends.",
         ["substance_misuse", "coercive_control"], [], False, [], ""),
        (1, "Analysis", HOSTILE + " The housing officer noted arrears but did not ask about abuse.",
         ["housing", "professional_curiosity"], ["housing"], False, [], ""),
        (2, "Recommendations", "Recommendation 4: Police officers should complete the DASH risk assessment at "
         "every domestic abuse incident and refer high risk victims to MARAC without delay.",
         ["missed_risk", "referral_pathways"], ["police", "marac"], True, ["police"], "Recommendation 4"),
        (2, "Recommendations", "Recommendation 5: The housing provider should train staff to recognise "
         "coercive control and economic abuse.",
         ["training_awareness", "coercive_control", "housing"], ["housing"], True, ["housing"], "Recommendation 5"),
    ]),
    ("dhr-dana-2016.txt", "DHR Dana", 2016, "Southvale", "dhr", [
        (1, "Background", "Dana's children were known to children's social care; the school raised concerns.",
         ["children_safeguarding"], ["childrens_social_care", "education"], False, [], ""),
        (2, "Analysis", "The mental health team assessed the perpetrator but did not consider risk to Dana.",
         ["mental_health", "missed_risk"], ["mental_health_services"], False, [], ""),
        (3, "Recommendations", "Recommendation 2: GP practices should routinely ask patients about domestic "
         "abuse and record any disclosure on the patient record.",
         ["professional_curiosity", "record_keeping"], ["gp_primary_care"], True, ["gp_primary_care"],
         "Recommendation 2"),
        (3, "Recommendations", "Recommendation 3: Children's social care and the police should share "
         "information about domestic abuse incidents through the MASH within 24 hours.",
         ["information_sharing", "children_safeguarding", "multi_agency_working"],
         ["childrens_social_care", "police", "mash"], True, ["childrens_social_care", "police"], "Recommendation 3"),
    ]),
    ("dhr-eve-2018.txt", "DHR Eve", 2018, "Southvale", "dhr", [
        (1, "Background", "Eve was an older woman with care and support needs; her son was her carer.",
         ["adult_safeguarding"], ["adult_social_care"], False, [], ""),
        (2, "Recommendations", "Recommendation 1: The police should make sure that officers complete a DASH "
         "risk assessment at every domestic abuse incident and refer high risk cases to MARAC.",
         ["missed_risk", "referral_pathways"], ["police", "marac"], True, ["police"], "Recommendation 1"),
        (2, "Recommendations", "Recommendation 2: Adult social care should consider domestic abuse in every "
         "safeguarding enquiry involving a family carer.",
         ["adult_safeguarding"], ["adult_social_care"], True, ["adult_social_care"], "Recommendation 2"),
    ]),
    ("inspection-westmoor-2020.txt", "Westmoor inspection of the domestic abuse response", 2020, "Westmoor",
     "inspection", [
        (1, "Findings", "Caseloads in the IDVA service exceed recommended levels and funding is short-term.",
         ["resources_capacity"], ["idva"], False, [], ""),
        (2, "Findings", "Learning from earlier reviews has not been embedded: the same recommendations recur.",
         ["governance_leadership"], ["csp"], False, [], ""),
        (2, "Recommendations", "The community safety partnership should track every DHR action plan to "
         "completion and report progress to the board.",
         ["governance_leadership"], ["csp"], True, ["csp"], "R1"),
    ]),
    ("dhr-faye-2021.txt", "DHR Faye", 2021, "Westmoor", "dhr", [
        (1, "Background", "Faye disclosed abuse to her GP, who did not refer her to the IDVA service.",
         ["referral_pathways", "victim_voice"], ["gp_primary_care", "idva"], False, [], ""),
        (2, "Analysis", "Faye's first language was Polish and no interpreter was offered.",
         ["equality_diversity"], [], False, [], ""),
        (3, "Recommendations", "Recommendation 6: GP practices should ask routinely about domestic abuse and "
         "record disclosures on the patient record, with referral to the IDVA service.",
         ["professional_curiosity", "record_keeping", "referral_pathways"], ["gp_primary_care", "idva"], True,
         ["gp_primary_care"], "Recommendation 6"),
        (3, "Recommendations", "Recommendation 7: All agencies should offer interpreters.",
         ["equality_diversity"], [], True, [], "Recommendation 7"),
    ]),
]


def build_store(data_dir: Path, *, write_files: bool = True) -> Store:
    """Write the corpus into data_dir/dhr.sqlite (and the original files into data_dir/originals)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    originals = data_dir / "originals"
    originals.mkdir(exist_ok=True)
    store = Store(data_dir / "dhr.sqlite")
    for file_name, title, year, area, doc_type, items in DOCS:
        path = originals / file_name
        pages_text: dict[int, list[str]] = {}
        passages = []
        for seq, (page, section, text, *_rest) in enumerate(items, start=1):
            pages_text.setdefault(page, []).append(text)
            passages.append(Passage(seq=seq, text=text, page=page, page_end=page, section=section,
                                    label=_rest[-1]))
        n_pages = max(pages_text)
        pages = ["\n\n".join(pages_text.get(i, [])) for i in range(1, n_pages + 1)]
        if write_files:
            path.write_text("\n\n".join(pages), encoding="utf-8")
        doc = Document(path=str(path), file_name=file_name, content_hash=f"hash-{file_name}", format="text",
                       page_count=n_pages, title=title, year=year, date=str(year), area=area, doc_type=doc_type,
                       publisher="Test")
        doc_id = store.save_document(ProcessedDocument(doc, pages, passages), f"fp-{file_name}")
        tagged = []
        for seq, (page, section, text, themes, agencies, is_rec, addressees, label) in enumerate(items, start=1):
            tagged.append((passage_id(doc_id, seq), {
                "themes": [{"id": t, "score": 0.9, "evidence": text[:40]} for t in themes],
                "agencies": [{"id": a, "mention": a.replace("_", " ")} for a in agencies],
                "is_recommendation": is_rec,
                "addressees": addressees,
                "recommendation_label": label if is_rec else "",
            }))
        store.save_tags(doc_id, tagged, "v-test")
    return store
