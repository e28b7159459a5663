"""One bad file never stops a batch, never leaves partial rows, and is reported by name and reason."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dhr import config
from dhr.ingest import ingest_paths
from dhr.store import Store
from tests.pdf_factory import Heading, Para, build_image_only_pdf, build_pdf

GOOD_TEXT = "Overview\n\n1.1 The police attended three incidents and no DASH was completed.\n"


def zero_page_pdf(path: Path) -> None:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def good_pdf(path: Path) -> Path:
    return build_pdf(path, [[Heading("Findings"), Para(["4.1 Risk was not identified by the GP practice."])]])


def make_bad(kind: str, folder: Path) -> Path:
    if kind == "encrypted":
        return build_pdf(folder / "locked.pdf", [[Para(["Secret text."])]], encrypt="secret")
    if kind == "corrupt":
        (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + b"this is not really a pdf \x00\x01\x02" * 20 + b"\n%%EOF\n")
        return folder / "corrupt.pdf"
    if kind == "truncated":
        data = good_pdf(folder / "whole.pdf").read_bytes()
        (folder / "whole.pdf").unlink()
        (folder / "truncated.pdf").write_bytes(data[: len(data) // 3])
        return folder / "truncated.pdf"
    if kind == "empty":
        (folder / "empty.pdf").write_bytes(b"")
        return folder / "empty.pdf"
    if kind == "zero-page":
        zero_page_pdf(folder / "nopages.pdf")
        return folder / "nopages.pdf"
    if kind == "image-only":
        return build_image_only_pdf(folder / "scanned.pdf")
    if kind == "non-utf8":
        (folder / "latin1.txt").write_bytes("Caf\u00e9 review \u2013 findings\n".encode("cp1252"))
        return folder / "latin1.txt"
    if kind == "unsupported":
        (folder / "figures.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
        return folder / "figures.xlsx"
    if kind == "broken-link":
        (folder / "gone.pdf").symlink_to(folder / "nowhere.pdf")
        return folder / "gone.pdf"
    raise ValueError(kind)


CASES = {
    "encrypted": "encrypted",
    "corrupt": "corrupt",
    "truncated": "truncated",
    "empty": "empty",
    "zero-page": "no pages",
    "image-only": "needs OCR",
    "non-utf8": "not UTF-8",
    "unsupported": "unsupported file type '.xlsx'",
    "broken-link": "broken link",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_bad_file_is_reported_and_the_batch_goes_on(kind, tmp_path, data_dir):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a-good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    good_pdf(folder / "b-good.pdf")
    bad = make_bad(kind, folder)
    (folder / "c-good.md").write_text("# Review\n\nThe GP did not ask about abuse.\n", encoding="utf-8")

    summary = ingest_paths([folder], data_dir=data_dir, progress=False)

    assert [Path(f.path).name for f in summary.failed] == [bad.name]
    assert CASES[kind] in summary.failed[0].reason
    assert f"{bad.name}: " in summary.describe()
    assert sorted(Path(p).name for p in summary.ingested) == ["a-good.txt", "b-good.pdf", "c-good.md"]
    with Store(config.db_path(data_dir)) as store:
        assert [Path(d["path"]).name for d in store.documents()] != [] and \
            {d["file_name"] for d in store.documents()} == {"a-good.txt", "b-good.pdf", "c-good.md"}
        assert [Path(f["path"]).name for f in store.failures()] == [bad.name]
        orphans = store.conn.execute(
            "SELECT COUNT(*) FROM passages WHERE doc_id NOT IN (SELECT doc_id FROM documents)").fetchone()[0]
        assert orphans == 0
    assert sqlite3.connect(config.db_path(data_dir)).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_path_that_does_not_exist_is_reported(tmp_path, data_dir):
    (tmp_path / "ok.txt").write_text(GOOD_TEXT, encoding="utf-8")
    summary = ingest_paths([tmp_path / "ok.txt", tmp_path / "missing.pdf"], data_dir=data_dir, progress=False)
    assert [(Path(f.path).name, f.reason) for f in summary.failed] == [("missing.pdf", "no such file or folder")]
    assert len(summary.ingested) == 1


def test_a_file_that_breaks_later_keeps_its_last_good_version(tmp_path, data_dir):
    report = tmp_path / "report.txt"
    report.write_text(GOOD_TEXT, encoding="utf-8")
    ingest_paths([report], data_dir=data_dir, progress=False)
    report.write_bytes(b"\xff\xfe broken now")
    summary = ingest_paths([report], data_dir=data_dir, progress=False)
    assert "not UTF-8" in summary.failed[0].reason
    with Store(config.db_path(data_dir)) as store:
        texts = [p["text"] for p in store.passages()]
    assert any("no DASH was completed" in t for t in texts)


def test_image_only_pdf_is_read_with_ocr_when_asked(tmp_path, data_dir):
    import shutil

    if not shutil.which("ocrmypdf"):
        pytest.skip("ocrmypdf is not installed")
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    # render text to an image-only page: draw big text, rasterise with pdftoppm-free route via ocrmypdf itself
    scanned = tmp_path / "scan.pdf"
    text_pdf = tmp_path / "text.pdf"
    c = canvas.Canvas(str(text_pdf), pagesize=A4)
    c.setFont("Helvetica", 28)
    c.drawString(72, 700, "Risk was not identified.")
    c.save()
    import subprocess

    # ocrmypdf's --force-ocr rasterises the page, so the output's text comes from OCR, not the original layer
    subprocess.run(["ocrmypdf", "--force-ocr", "-q", str(text_pdf), str(scanned)], check=True,
                   env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"})
    summary = ingest_paths([scanned], data_dir=data_dir, progress=False, ocr=True)
    assert summary.failed == [] and len(summary.ingested) == 1


def test_without_ocrmypdf_the_message_says_how_to_get_it(tmp_path, data_dir, monkeypatch):
    import dhr.extract

    monkeypatch.setattr(dhr.extract.shutil, "which", lambda name: None)
    scanned = build_image_only_pdf(tmp_path / "scan.pdf")
    for ocr in (False, True):
        summary = ingest_paths([scanned], data_dir=data_dir, progress=False, ocr=ocr, workers=1)
        assert "apt-get install ocrmypdf" in summary.failed[0].reason
