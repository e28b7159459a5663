"""Ingest benchmark: end-to-end pages per second and peak memory on synthetic PDFs.

    .venv/bin/python bench/ingest.py                 # 50 reports x 24 pages = 1,200 pages
    .venv/bin/python bench/ingest.py --docs 5        # a quick try

Builds realistic report PDFs (running header and footer, numbered paragraphs, headings,
an action-plan table every few pages) with reportlab, then times `ingest_paths` over them
into a fresh data directory: extract + clean + segment + metadata + store.
Target on a 2-core machine: at least 20 pages/s, peak memory under 1 GB.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dhr.ingest import ingest_paths  # noqa: E402

WORDS = (
    "agency police GP practice referral risk assessment MARAC IDVA victim perpetrator housing officer "
    "incident information sharing safeguarding children social care mental health alcohol review panel "
    "recommendation training awareness professional curiosity record contact domestic abuse coercive control "
    "history pattern escalation separation pregnancy health visitor hospital emergency department bail order"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(10, 24))]
    return " ".join(words).capitalize() + "."


def build_report(path: Path, pages: int, rng: random.Random) -> None:
    styles = getSampleStyleSheet()
    story = []
    para_no = 0
    for page in range(pages):
        story.append(Paragraph(f"{page + 1}. Section {page + 1}", styles["Heading2"]))
        for _ in range(5):
            para_no += 1
            text = f"{page + 1}.{para_no} " + " ".join(sentence(rng) for _ in range(rng.randint(3, 5)))
            story.append(Paragraph(text, styles["BodyText"]))
        if page % 4 == 3:
            rows = [["Recommendation", "Lead agency", "Action", "Target date"]] + [
                [str(i), rng.choice(["Police", "GP practices", "Housing", "CSP"]), sentence(rng)[:40], "2024"]
                for i in range(1, 5)
            ]
            table = Table(rows)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black")]))
            story.append(table)
        story.append(PageBreak())

    def decorate(canvas, doc):
        canvas.setFont("Helvetica", 8)
        canvas.drawString(72, A4[1] - 40, "OFFICIAL - Synthetic DHR benchmark report")
        canvas.drawCentredString(A4[0] / 2, 30, f"Page {doc.page}")

    SimpleDocTemplate(str(path), pagesize=A4).build(story, onFirstPage=decorate, onLaterPages=decorate)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50)
    parser.add_argument("--pages", type=int, default=24, help="pages per report")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reports"
        folder.mkdir()
        t0 = time.perf_counter()
        for i in range(args.docs):
            build_report(folder / f"report-{i:03d}.pdf", args.pages, rng)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = ingest_paths([folder], data_dir=Path(tmp) / "data", workers=args.workers, progress=True)
        elapsed = time.perf_counter() - t0
        assert not summary.failed, summary.describe()
        t1 = time.perf_counter()
        again = ingest_paths([folder], data_dir=Path(tmp) / "data", progress=False)
        rerun = time.perf_counter() - t1
    print(f"built {args.docs} PDFs ({summary.pages} pages) in {built:.1f} s")
    print(f"ingest: {summary.pages} pages, {summary.passages} passages in {elapsed:.1f} s "
          f"= {summary.pages / elapsed:.1f} pages/s")
    print(f"re-run on unchanged files: {len(again.unchanged)} unchanged in {rerun:.2f} s")
    print(f"peak memory (largest process): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
