"""Cleaning and segmentation on PDFs whose layout the test knows exactly."""
from __future__ import annotations

from pathlib import Path

import pytest

from dhr.ingest import process_file
from tests.pdf_factory import Columns, Heading, Para, Table, Title, build_pdf

HEADER = "OFFICIAL - Northmere DHR Ms A"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    pages = [
        [Title("Domestic Homicide Review"), Title("Overview Report into the death of Ms A"),
         Para(["Northmere Community Safety Partnership", "Published: March 2019"]),
         Heading("1. Introduction"),
         Para(["1.1 This review examines how agencies responded to Ms A and her fam-",
               "ily in the two years before her death. The multi-",
               "agency panel met six times and the final report was agreed."]),
         Para(["1.2 The police attended eleven incidents. On each occasion the DASH",
               "risk assessment was graded standard and no referral to MARAC was"])],
        [Para(["made. Officers did not consider the history of previous incidents."]),
         Heading("2. Chronology"),
         Columns(left=[Para(["2.1 In January 2017 Ms A told her GP", "that she felt low and isolated."]),
                       Para(["2.2 In March 2017 a neighbour called", "the police after hearing shouting."])],
                 right=[Para(["2.3 In May 2017 Mr B was arrested", "and released on bail."]),
                        Para(["2.4 In July 2017 the IDVA closed the", "case after two failed contacts."])])],
        [Heading("3. Action plan"),
         Table([["Recommendation", "Lead agency", "Target date"],
                ["1", "Northmere Constabulary", "March 2020"],
                ["2", "Northmere GP practices", "June 2020"]]),
         Para(["3.1 The panel will monitor progress every quarter."])],
    ]
    return build_pdf(tmp_path_factory.mktemp("pdf") / "ms-a.pdf", pages, header=HEADER, title="DHR Ms A")


def test_passages_come_out_whole_clean_and_in_reading_order(report):
    passages = process_file(str(report)).passages
    body = [(p.text, p.page, p.page_end, p.section, p.label) for p in passages if p.kind != "table_row"]
    assert body[1:] == [
        ("1.1 This review examines how agencies responded to Ms A and her family in the two years before "
         "her death. The multi-agency panel met six times and the final report was agreed.",
         1, 1, "1. Introduction", "1.1"),
        ("1.2 The police attended eleven incidents. On each occasion the DASH risk assessment was graded "
         "standard and no referral to MARAC was made. Officers did not consider the history of previous "
         "incidents.", 1, 2, "1. Introduction", "1.2"),
        ("2.1 In January 2017 Ms A told her GP that she felt low and isolated.", 2, 2, "2. Chronology", "2.1"),
        ("2.2 In March 2017 a neighbour called the police after hearing shouting.", 2, 2, "2. Chronology", "2.2"),
        ("2.3 In May 2017 Mr B was arrested and released on bail.", 2, 2, "2. Chronology", "2.3"),
        ("2.4 In July 2017 the IDVA closed the case after two failed contacts.", 2, 2, "2. Chronology", "2.4"),
        ("3.1 The panel will monitor progress every quarter.", 3, 3, "3. Action plan", "3.1"),
    ]


def test_running_headers_footers_and_page_numbers_are_gone(report):
    processed = process_file(str(report))
    everything = "\n".join(processed.pages) + "\n".join(p.text for p in processed.passages)
    assert HEADER not in everything
    assert "Page 1 of 3" not in everything and "of 3" not in everything


def test_table_rows_keep_their_cells_and_column_names(report):
    rows = [p for p in process_file(str(report)).passages if p.kind == "table_row"]
    assert [(r.cells, r.page, r.section) for r in rows] == [
        ({"Recommendation": "1", "Lead agency": "Northmere Constabulary", "Target date": "March 2020"}, 3,
         "3. Action plan"),
        ({"Recommendation": "2", "Lead agency": "Northmere GP practices", "Target date": "June 2020"}, 3,
         "3. Action plan"),
    ]
    assert rows[0].text == "Recommendation: 1\nLead agency: Northmere Constabulary\nTarget date: March 2020"


def test_metadata_is_read_from_the_title_page(report):
    doc = process_file(str(report)).document
    assert (doc.title, doc.year, doc.date, doc.area, doc.doc_type, doc.page_count) == (
        "Domestic Homicide Review Overview Report into the death of Ms A", 2019, "2019-03", "Northmere",
        "dhr_overview", 3)


def test_table_running_over_a_page_break_repeats_no_header(tmp_path):
    header = ["Recommendation", "Lead agency", "Action"]
    first = [header] + [[str(i), "Police", f"Action {i}"] for i in range(1, 4)]
    second = [header] + [[str(i), "Housing", f"Action {i}"] for i in range(4, 6)]
    pdf = build_pdf(tmp_path / "plan.pdf", [[Heading("Action plan"), Table(first)], [Table(second)]])
    rows = [p for p in process_file(str(pdf)).passages if p.kind == "table_row"]
    assert [r.cells["Recommendation"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r.page for r in rows] == [1, 1, 1, 2, 2]
    assert all(r.section == "Action plan" for r in rows)


def test_ligatures_soft_hyphens_and_odd_spaces_are_normalised():
    from dhr.extract import normalise

    assert normalise("the \ufb01nal \ufb02ag\u00a0was of\ufb01cial") == "the final flag was official"


@pytest.mark.parametrize("left, right, joined", [
    ("her fam-", "ily in the", "her family in the"),
    ("the multi-", "agency panel", "the multi-agency panel"),
    ("a co-", "ordinated response", "a co-ordinated response"),
    ("Northmere-", "Castlebridge border", "Northmere- Castlebridge border"),
    ("a soft\u00ad", "ware fault", "a software fault"),
])
def test_words_broken_at_line_ends_are_joined(left, right, joined):
    from collections import Counter

    from dhr.clean import join_lines

    assert join_lines(left, right, Counter()) == joined


def test_a_hyphenated_word_seen_elsewhere_keeps_its_hyphen():
    from collections import Counter

    from dhr.clean import join_lines

    assert join_lines("a follow-", "up visit", Counter({"follow-up": 3})) == "a follow-up visit"
    assert join_lines("the re-", "ferral", Counter({"referral": 5})) == "the referral"
