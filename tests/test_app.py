"""The explorer's pages under Streamlit's AppTest: each page renders over a real store and index,
and interactions (query, filter, page change, selection) change what is shown."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from dhr import config  # noqa: E402
from dhr.store import Store  # noqa: E402
from tests.explorer_data import build_store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app" / "explorer.py"
sys.path.insert(0, str(APP.parent))
import explorer_common as ec  # noqa: E402
import explorer_uploads as up  # noqa: E402


def make_data_dir(path: Path) -> Path:
    from dhr.index import SearchIndex

    store = build_store(path)
    idx = SearchIndex(path)
    idx.update_from_store(store)
    idx.close()
    store.close()
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("explorer") / "data")


@pytest.fixture
def app(corpus, monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, str(corpus))

    def open_page(page: str | None = None, **query) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        if page:
            at.switch_page(f"views/{page}.py")
        for k, v in query.items():
            at.query_params[k] = v
        if page or query:
            at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return open_page


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# ---- Search ------------------------------------------------------------------------

def test_search_lists_everything_then_a_query_narrows_and_highlights(app):
    at = app()
    assert at.title[0].value == "Search"
    assert "<b>22</b> passages (all passages)" in texts(at)
    at.text_input(key="search-q").input("DASH")
    run(at)
    body = texts(at)
    assert "<b>4</b> passages for <b>DASH</b>" in body
    assert "<mark" in body and "DHR Eve" in body and "DHR Faye" not in body


def test_search_facet_filter_changes_results_and_shows_counts(app):
    at = app()
    theme = at.multiselect(key="search-f-theme")
    assert any(o.startswith("Missed or misjudged risk (5)") for o in theme.options)
    theme.set_value(["housing"])
    run(at)
    assert "<b>2</b> passages (all passages) — theme: Housing and homelessness" in texts(at)
    # counts follow the result set: with the housing filter only Carol's passages remain
    agency = at.multiselect(key="search-f-agency")
    assert "Housing (2)" in agency.options
    at.toggle(key="search-f-rec").set_value(True)
    run(at)
    assert "<b>1</b> passage (all passages)" in texts(at)
    at.slider(key="search-f-year").set_range(2015, 2021)
    run(at)
    assert "<b>0</b> passages" in texts(at)


def test_search_pages_through_results(app):
    at = app()
    at.selectbox(key="search-size").set_value(10)
    run(at)
    assert "Page 1 of 3" in texts(at)
    first = [m.value for m in at.markdown if m.value.startswith("<div><b>")][1]
    at.button(key="search-next").click()
    run(at)
    assert "Page 2 of 3" in texts(at)
    assert [m.value for m in at.markdown if m.value.startswith("<div><b>")][1] != first
    at.text_input(key="search-q").input("police")  # a new query starts again at page 1
    run(at)
    assert "Page 2 of" not in texts(at)


def test_search_escapes_report_text(app):
    at = app()
    at.text_input(key="search-q").input("housing officer")
    run(at)
    body = texts(at)
    assert "DHR Carol" in body
    assert "<script" not in body and "<img" not in body
    assert "&lt;script&gt;" in body or "&lt;b&gt;" in body


def test_search_suggests_a_spelling(app):
    at = app()
    at.text_input(key="search-q").input("interpretor")
    run(at)
    suggest = [b for b in at.button if b.key == "search-suggest"]
    assert suggest and "interpreter" in suggest[0].label
    suggest[0].click()
    run(at)
    assert at.text_input(key="search-q").value == "interpreter"
    assert "passages for <b>interpreter</b>" in texts(at) or "passage for <b>interpreter</b>" in texts(at)


def test_search_bad_query_is_a_message_not_a_crash(app):
    at = app()
    at.text_input(key="search-q").input("colour:red")
    run(at)
    assert at.error and "could not be read" in at.error[0].value


def test_search_opens_a_document_at_the_passage(app):
    at = app()
    at.text_input(key="search-q").input("interpreter")
    run(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("open-hit-dhr-faye-2021")]
    assert buttons
    buttons[0].click()
    run(at)
    assert at.title[0].value == "Document"
    assert at.selectbox(key="doc-select").value == "dhr-faye-2021"
    assert at.query_params["doc"] == ["dhr-faye-2021"] or at.query_params["doc"] == "dhr-faye-2021"


def test_search_export_respects_query_and_filters(corpus):
    from dhr.export import export_bytes
    from dhr.index import SearchIndex

    idx = SearchIndex(corpus)
    try:
        data = ec.search_export_bytes(str(corpus), idx, "csv", "DASH", {"rec": True})
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert sorted(r["passage_id"] for r in rows) == [
            "dhr-adam-2012:00003", "dhr-carol-2014:00003", "dhr-eve-2018:00002"]
        assert all(r["is_recommendation"] == "true" for r in rows)
        # no query: exactly what `dhr export` writes for the same filters
        with Store(config.db_path(corpus)) as store:
            same = export_bytes(store, "jsonl", {"theme": ["housing"]})
        assert ec.search_export_bytes(str(corpus), idx, "jsonl", "", {"theme": ["housing"]}) == same
        assert [json.loads(line)["passage_id"] for line in same.decode().splitlines()] == [
            "dhr-carol-2014:00002", "dhr-carol-2014:00004"]
    finally:
        idx.close()


def test_safe_snippet_keeps_only_marks():
    html = ec.safe_snippet('a <mark>risk</mark> <script>x</script> &lt;b&gt; <mark>open')
    assert "<script" not in html and "&lt;script&gt;" in html
    assert html.count("<mark") == 2 and html.count("</mark>") == 2
    assert ec.esc_block("a\n\n**b** <i>") == "a<br><br>**b** &lt;i&gt;"


# ---- Themes ------------------------------------------------------------------------

def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_themes_charts_measure_and_filters(app):
    at = app("themes")
    specs = charts(at)
    titles = [s.get("title") if isinstance(s.get("title"), str) else s.get("title", {}).get("text") for s in specs]
    assert titles[0] == "Share of passages mentioning each theme, by year"
    assert "Theme by year (share of passages)" in titles and any("co-occur" in (t or "") for t in titles)
    assert all(s["encoding"]["x"].get("title") for s in specs)  # labelled axes
    # the same theme has the same colour everywhere
    scale = specs[0]["encoding"]["color"]["scale"]
    colours = dict(zip(scale["domain"], scale["range"]))
    assert colours["Missed or misjudged risk"] == ec.PALETTE[0]
    at.radio(key="themes-measure").set_value("documents")
    run(at)
    assert charts(at)[0]["encoding"]["y"]["field"] == "share_documents"
    before = [c.proto.spec for c in at.get("vega_lite_chart")]
    at.multiselect(key="themes-f-area").set_value(["Westmoor"])
    run(at)
    assert [c.proto.spec for c in at.get("vega_lite_chart")] != before


def test_themes_click_through_lists_the_passages_behind_a_bar(app):
    at = app("themes")
    assert "click any bar or cell above" in texts(at)
    at.session_state["themes-drill"] = {"kind": "theme_year", "theme_id": "missed_risk", "year": 2012}
    run(at)
    body = texts(at)
    assert "<b>Missed or misjudged risk in 2012</b> — 2 passages" in body
    assert "DHR Adam" in body and "DHR Carol" not in body
    at.session_state["themes-drill"] = {"kind": "pair", "theme_a": "coercive_control", "theme_b": "housing"}
    run(at)
    assert "Coercive control, stalking and harassment together with Housing and homelessness</b> — 1 passage" in texts(at)
    at.button(key="themes-clear").click()
    run(at)
    assert "click any bar or cell above" in texts(at)


# ---- Recommendations & agencies ----------------------------------------------------

def test_recommendations_table_and_filters(app):
    at = app("recommendations")
    assert "**11** of 11 recommendations" in texts(at)
    assert len(at.dataframe[0].value) == 11
    at.multiselect(key="recs-f-addressee").set_value(["police"])
    run(at)
    assert "**4** of 11 recommendations" in texts(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and all("Police" in a for a in table["Addressees"])
    at.text_input(key="recs-contains").input("MASH")
    run(at)
    assert "**1** of 11 recommendations" in texts(at)


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["recs-tab"] = label
    return run(at)


def test_recommendations_tabs_are_lazy(app):
    at = app("recommendations")
    assert at.dataframe and not charts(at) and not at.expander  # only the table tab ran
    open_tab(at, "Network")
    assert charts(at) and not at.dataframe


def test_recommendations_network_selection_lists_its_recommendations(app):
    at = open_tab(app("recommendations"), "Network")
    spec = charts(at)[0]
    layers = spec["layer"]
    assert any(layer["mark"]["type"] == "rule" for layer in layers)
    assert spec["title"].startswith("Agencies asked to act")
    at.session_state["recs-net-drill"] = {"kind": "node", "id": "agency:gp_primary_care"}
    run(at)
    body = texts(at)
    assert "Recommendations behind GP, primary and community care</b> — 3 passages" in body
    at.session_state["recs-net-drill"] = {"kind": "edge", "id": "agency:police|theme:missed_risk"}
    at.radio(key="recs-net-mode").set_value("hide")
    run(at)
    assert "Recommendations linking Police and Missed or misjudged risk</b> — 3 passages" in texts(at)
    before = at.get("vega_lite_chart")[0].proto.spec
    at.radio(key="recs-net-layout").set_value("spring")
    run(at)
    assert at.get("vega_lite_chart")[0].proto.spec != before


def test_recurring_recommendations_tab(app):
    at = open_tab(app("recommendations"), "Recurring recommendations")
    body = texts(at)
    assert "**2** recurring groups across 2 agencies." in body
    labels = [e.label for e in at.expander]
    assert any(lab.startswith("Police: 3 recommendations from 3 reviews, 2012–2018") for lab in labels)
    at.slider(key="recs-rec-threshold").set_value(0.9)
    run(at)
    assert at.info and "No recommendation recurs" in at.info[0].value
    at.slider(key="recs-rec-threshold").set_value(0.4)
    at.multiselect(key="recs-f-addressee").set_value(["police"])
    run(at)
    assert "**1** recurring group across 1 agency." in texts(at)
    assert [e.label.split(":")[0] for e in at.expander] == ["Police"]


# ---- Document ----------------------------------------------------------------------

def test_document_view_shows_metadata_tags_and_escaped_text(app):
    at = app("document", doc="dhr-carol-2014")
    assert at.selectbox(key="doc-select").value == "dhr-carol-2014"
    assert at.subheader[0].value == "DHR Carol"
    body = texts(at)
    assert "<b>Area:</b> Northshire" in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body and "<script" not in body
    assert "Housing and homelessness" in body and "Recommendation 5" in body
    assert [m.label for m in at.metric][:3] == ["Year", "Pages", "Passages"]
    assert at.get("download_button")  # the original file
    lit = body.count("dhr-tagged")
    at.multiselect(key="doc-themes").set_value(["housing"])
    run(at)
    assert 0 < texts(at).count("dhr-tagged") < lit


def test_document_pages_and_switching(app):
    at = app("document", doc="dhr-dana-2016", passage="dhr-dana-2016:00004")
    assert 'class="dhr-passage dhr-tagged dhr-focus"' in texts(at)
    at.selectbox(key="doc-per-page").set_value(1)
    run(at)
    body = texts(at)
    assert "Page 3 of 3" in body and "##### Page 3" in body  # opened at the focused passage's page
    at.button(key="doc-page-prev").click()
    run(at)
    assert "##### Page 2" in texts(at) and "##### Page 3" not in texts(at)
    at.selectbox(key="doc-select").set_value("dhr-eve-2018")
    run(at)
    assert at.subheader[0].value == "DHR Eve"


# ---- Export ------------------------------------------------------------------------

def test_export_page_filters_and_matches_the_cli(app):
    at = app("export")
    assert "**22** of 22 passages from **6** documents (everything)" in texts(at)
    assert len(at.get("download_button")) == 3
    at.toggle(key="export-f-rec").set_value(True)
    at.multiselect(key="export-f-theme").set_value(["missed_risk"])
    run(at)
    assert "**3** of 22 passages from **3** documents" in texts(at)
    code = at.code[0].value
    assert "dhr export --format csv --theme missed_risk --rec --out dhr-export.csv" in code
    assert len(at.dataframe[0].value) == 3


# ---- Add reports -------------------------------------------------------------------

def test_add_reports_page_shows_the_collection(app):
    at = app("add_reports")
    assert "**6** documents, **22** passages." in texts(at)
    assert at.get("file_uploader")


def test_upload_checks():
    assert up.check("a.exe", b"x", 50).startswith("unsupported file type '.exe'")
    assert up.check("a.pdf", b"", 50) == "the file is empty"
    assert up.check("a.pdf", b"hello", 50).startswith("not a PDF")
    assert up.check("a.docx", b"hello", 50).startswith("not a Word")
    assert up.check("a.txt", b"a\x00b", 50).startswith("not a text file")
    assert up.check("a.txt", b"x" * (2 * 1024 * 1024), 1).startswith("too large")
    assert up.check("A report.PDF", b"%PDF-1.4\n", 50) is None
    assert up.safe_name("../../etc/pass wd.TXT") == "pass-wd.txt"
    assert up.safe_name("..\\..\\x.md") == "x.md"


def test_add_reports_runs_the_pipeline_and_keeps_what_is_stored(tmp_path, monkeypatch):
    directory = make_data_dir(tmp_path / "data")
    good = (
        "Domestic Homicide Review: Gail\n\nOverview report, Eastfield, 2022.\n\n"
        "Recommendations\n\n"
        "Recommendation 1: The police should ensure that officers complete a DASH risk assessment at every "
        "domestic abuse incident.\n"
    ).encode()
    steps = []
    result = up.add_reports(directory, [("DHR Gail 2022.txt", good), ("fake.pdf", b"not a pdf"),
                                        ("broken.pdf", b"%PDF-1.4\n%%EOF garbage")], 50,
                            on_step=steps.append)
    assert result.error is None, result.error
    assert result.ingested == ["DHR-Gail-2022.txt"]
    assert result.refused == [("fake.pdf", "not a PDF file (it does not start with %PDF-)")]
    assert [name for name, _ in result.failed] == ["broken.pdf"] and result.failed[0][1]
    assert steps and (directory / "uploads" / "DHR-Gail-2022.txt").is_file()
    assert not (directory / "uploads" / "broken.pdf").exists()
    with Store(config.db_path(directory)) as store:
        assert store.counts()["documents"] == 7  # the six already stored, plus one
    again = up.add_reports(directory, [("DHR Gail 2022.txt", good)], 50)
    assert again.unchanged == ["DHR-Gail-2022.txt"] and not again.ingested
    # the explorer sees the new report on its next run
    monkeypatch.setenv(config.ENV_VAR, str(directory))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/add_reports.py").run()
    assert "**7** documents" in texts(at)
    at.switch_page("views/search.py").run()
    at.text_input(key="search-q").input("Gail OR Eastfield OR officers")
    run(at)
    assert "DHR-Gail-2022" in texts(at) or "Gail" in texts(at)


def test_streamlit_config_turns_off_usage_stats():
    for path in (REPO / ".streamlit" / "config.toml", REPO / "app" / ".streamlit" / "config.toml"):
        text = path.read_text()
        assert "[browser]" in text and "gatherUsageStats = false" in text


def test_app_never_loads_external_assets():
    for path in [APP, *APP.parent.glob("*.py"), *(APP.parent / "views").glob("*.py")]:
        text = path.read_text()
        assert "pyvis" not in text and "cdn." not in text.lower() and "https://" not in text, path


def test_dhr_app_command(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from dhr import cli

    calls = []
    monkeypatch.setattr("subprocess.call", lambda cmd, env, cwd: calls.append((cmd, env, cwd)) or 0)
    res = CliRunner().invoke(cli.cli, ["app", "--port", "8599", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    cmd, env, cwd = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP)
    assert "8599" in cmd and "--browser.gatherUsageStats" in cmd
    assert env[config.ENV_VAR] == str((tmp_path / "d").resolve()) and cwd == str(REPO)
    monkeypatch.setattr(cli, "find_app_file", lambda: None)
    res = CliRunner().invoke(cli.cli, ["app"])
    assert res.exit_code != 0 and "app/explorer.py" in res.output
