"""The dhr explorer: search, themes, recommendations and agencies, documents, export, add reports.

Run with `dhr app` or `streamlit run app/explorer.py`; the data directory comes from
$DHR_DATA_DIR (default ./dhr-data).
"""
from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

import streamlit as st  # noqa: E402

from explorer_common import PAGE_FILES, data_dir, warm_up  # noqa: E402

st.set_page_config(page_title="DHR explorer", layout="wide")  # no page_icon: a material icon favicon is fetched from Google

pages = [
    st.Page(PAGE_FILES["search"], title="Search", url_path="search", default=True),
    st.Page(PAGE_FILES["themes"], title="Themes", url_path="themes"),
    st.Page(PAGE_FILES["recommendations"], title="Recommendations & agencies",
            url_path="recommendations"),
    st.Page(PAGE_FILES["document"], title="Document", url_path="document"),
    st.Page(PAGE_FILES["export"], title="Export", url_path="export"),
    st.Page(PAGE_FILES["add"], title="Add reports", url_path="add-reports"),
]
# No page icons: Streamlit turns a page's ":material/...:" icon into a favicon fetched from
# fonts.gstatic.com, and the explorer makes no external requests.
nav = st.navigation(pages, position="sidebar")
st.markdown(
    """<style>
    .dhr-passage { line-height: 1.5; margin: 0.2rem 0 0.4rem 0; }
    .dhr-tagged { border-left: 4px solid #d4a017; padding: 0.3rem 0.6rem; background: #fffbea; }
    .dhr-focus { outline: 2px solid #1f77b4; }
    </style>""",
    unsafe_allow_html=True,
)
st.sidebar.caption(f"Data: `{data_dir()}`")
warm_up()
nav.run()
