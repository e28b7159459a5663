"""Add reports: upload PDF, DOCX, HTML, Markdown or text files; they are checked, saved to
<data dir>/uploads and run through the same pipeline as `dhr build` (ingest, tag, index).
A file that fails is listed with the reason; nothing already stored is touched by it."""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

import explorer_common as ec
from explorer_uploads import TYPES, add_reports

MAX_MB = int(st.get_option("server.maxUploadSize") or 50)

ec.setup_page("Add reports", "Upload published reviews and reports; they are read, tagged and indexed "
              "exactly as `dhr build` would.")
st.markdown(
    f"Accepted: **{', '.join('.' + t for t in TYPES)}**, up to **{MAX_MB} MB** each. "
    "Files are kept in the data directory's `uploads` folder. A re-uploaded unchanged file is not read twice. "
    "A file that cannot be read is listed below with the reason and changes nothing already stored."
)


files = st.file_uploader("Reports", type=TYPES, accept_multiple_files=True, key="add-files",
                         help="PDF, Word (.docx), HTML, Markdown or plain text.")

if st.button("Add to the collection", type="primary", disabled=not files, key="add-run"):
    bar = st.progress(0.0, text="Starting…")
    with st.status(f"Adding {len(files)} file{'s' if len(files) != 1 else ''}…", expanded=True) as status:
        def on_progress(done: int, total: int, path: str = "") -> None:
            bar.progress(min(done / max(total, 1), 1.0), text=f"Read {done} of {total}: {Path(str(path)).name}")

        t0 = time.monotonic()
        outcome = add_reports(ec.data_dir(), [(f.name, f.getvalue()) for f in files], MAX_MB,
                              on_step=status.write, on_progress=on_progress)
        if outcome.error:
            status.update(label="The pipeline stopped", state="error")
        else:
            status.update(label=f"Done in {time.monotonic() - t0:.1f} s", state="complete", expanded=False)
        bar.progress(1.0, text="Done")
    ec.clear_caches()
    st.session_state["add-result"] = outcome

result = st.session_state.get("add-result")
if result:
    if result.error:
        st.error(f"The pipeline stopped: {result.error}. Reports already in the collection are unchanged.")
    if result.ingested:
        st.success(f"Added {len(result.ingested)} report{'s' if len(result.ingested) != 1 else ''}: "
                   + ", ".join(result.ingested))
    if result.unchanged:
        st.info("Already in the collection, unchanged: " + ", ".join(result.unchanged))
    problems = result.refused + result.failed
    if problems:
        items = "".join(f"<li><b>{ec.esc(n)}</b>: {ec.esc(r)}</li>" for n, r in problems)
        st.warning(f"{len(problems)} file{'s' if len(problems) != 1 else ''} could not be added; "
                   "nothing already in the collection has changed.")
        st.markdown(f"<ul class='dhr-failures'>{items}</ul>", unsafe_allow_html=True)

st.divider()
st.subheader("In the collection")
documents = ec.docs()
counts = ec.get_store(ec.data_dir()).counts()
st.markdown(f"**{counts['documents']:,}** documents, **{counts['passages']:,}** passages.")
if documents:
    recent = sorted(documents, key=lambda d: d.get("ingested_at") or "", reverse=True)[:10]
    st.dataframe({"Title": [d.get("title") or d["file_name"] for d in recent],
                  "Year": [d.get("year") for d in recent], "File": [d["file_name"] for d in recent],
                  "Added": [d.get("ingested_at") for d in recent],
                  "Tagged": ["yes" if d.get("tagger_version") else "not yet" for d in recent]},
                 hide_index=True, width="stretch")
failures = ec.get_store(ec.data_dir()).failures()
if failures:
    with st.expander(f"Files that could not be read ({len(failures)})"):
        st.markdown("<ul>" + "".join(f"<li><b>{ec.esc(Path(f['path']).name)}</b>: {ec.esc(f['reason'])}</li>"
                                     for f in failures) + "</ul>", unsafe_allow_html=True)
