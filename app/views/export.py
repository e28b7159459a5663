"""Export: choose filters, download the tagged passages as CSV or JSONL (the same bytes as
`dhr export`), with the codebook."""
from __future__ import annotations

import functools
import shlex

import numpy as np
import streamlit as st

import explorer_common as ec

ec.setup_page("Export", "Take the tagged passages away: one row per passage, the same file as `dhr export`, "
              "with the codebook that defines the theme ids.")
if ec.empty_store_notice():
    st.stop()

F = ec.facts()
st.sidebar.subheader("Rows to export")
filters = ec.filter_widgets(None, "export-f", values=F.values())
mask = F.mask(filters)
n_rows = int(mask.sum())
n_docs = len(np.unique(F.doc[mask]))

st.markdown(f"**{n_rows:,}** of {F.n:,} passages from **{n_docs:,}** documents"
            + (f" — {ec.esc(ec.describe_filters(filters))}" if filters else " (everything)"))


def cli_command(fmt: str, f: dict) -> str:
    parts = ["dhr", "export", "--format", fmt]
    for k, opt in (("theme", "--theme"), ("agency", "--agency"), ("addressee", "--addressee"),
                   ("type", "--type"), ("area", "--area")):
        for v in f.get(k, []):
            parts += [opt, v]
    if f.get("year"):
        parts += ["--year", f"{f['year'][0]}-{f['year'][1]}"]
    if f.get("rec"):
        parts.append("--rec")
    parts += ["--out", f"dhr-export.{fmt}"]
    return " ".join(shlex.quote(p) for p in parts)


directory = ec.data_dir()


def build(fmt: str, f: dict) -> bytes:
    from dhr import config
    from dhr.export import export_bytes
    from dhr.store import Store

    store = Store(config.db_path(ec.Path(directory)))
    try:
        return export_bytes(store, fmt, dict(f))
    finally:
        store.close()


def codebook() -> bytes:
    from dhr.export import codebook_bytes

    return codebook_bytes()


c1, c2, c3 = st.columns(3)
c1.download_button("CSV", icon=":material/download:", data=functools.partial(build, "csv", filters), file_name="dhr-export.csv",
                   mime="text/csv", key="export-csv", disabled=n_rows == 0, on_click="ignore", type="primary",
                   help="Lists joined with ';' — opens in a spreadsheet.")
c2.download_button("JSONL", icon=":material/download:", data=functools.partial(build, "jsonl", filters), file_name="dhr-export.jsonl",
                   mime="application/jsonl", key="export-jsonl", disabled=n_rows == 0, on_click="ignore",
                   help="One JSON object per line, lists kept as lists, theme scores and evidence included "
                        "— pandas.read_json(path, lines=True).")
c3.download_button("Codebook", icon=":material/download:", data=codebook, file_name="dhr-export.codebook.json",
                   mime="application/json", key="export-codebook", on_click="ignore",
                   help="The theme and agency ids with their names, definitions and Home Office mappings (JSON).")

st.markdown("The same files from a terminal:")
st.code(cli_command("csv", filters) + "\n" + cli_command("jsonl", filters) + "\ndhr export --codebook --out dhr-export.codebook.json",
        language="bash")

st.subheader("Preview")
preview = ec.passages_by_id(directory, F.pid[mask][:50].tolist())
st.dataframe(
    {
        "doc_id": preview["doc_id"], "title": preview["title"], "year": preview["year"],
        "page": preview["page"], "section": preview["section"], "text": preview["text"].str.slice(0, 200),
        "themes": preview["theme_ids"].map(";".join), "agencies": preview["agency_ids"].map(";".join),
        "is_recommendation": preview["is_recommendation"], "addressees": preview["addressees"].map(";".join),
    },
    hide_index=True, width="stretch",
)
st.caption(f"The first {len(preview)} of {n_rows:,} rows.")
