#!/usr/bin/env python
"""Build the bundled demonstration corpus.

Reads every ``corpus/sources/*.md`` file (a small Markdown-like markup, see
``corpus/README.md``) and renders it into ``corpus/reports/`` as PDF
(reportlab), DOCX (python-docx) or HTML, according to the ``format`` key of
the source's front matter.

All documents are FICTIONAL and were written for the dhr project.

Usage::

    .venv/bin/python corpus/build_corpus.py            # build everything
    .venv/bin/python corpus/build_corpus.py 04 07      # only sources whose
                                                       # file name starts so

The output is deterministic (fixed PDF ids and dates, fixed zip timestamps in
DOCX) and the script needs no network access.
"""
from __future__ import annotations

import html
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reportlab import rl_config

rl_config.invariant = 1  # fixed /ID and dates: byte-identical rebuilds

from reportlab.lib import colors  # noqa: E402
from reportlab.lib.enums import TA_CENTER, TA_LEFT  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.lib.units import mm  # noqa: E402
from reportlab.pdfgen import canvas as rl_canvas  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
REPORTS = HERE / "reports"

FICTION_LINE = (
    "FICTIONAL DEMONSTRATION DOCUMENT \u2013 written for the dhr project; "
    "all names, places and events are invented."
)

# --------------------------------------------------------------------------
# Parsing the source markup
# --------------------------------------------------------------------------

NUM_PARA = re.compile(r"^(\d{1,2}(?:\.\d{1,3})+)\s+(.*)$", re.S)
ORDERED = re.compile(r"^(\d{1,2})\)\s+(.*)$")


@dataclass
class Block:
    kind: str  # h1 h2 h3 para num bullet ordered quote table columns_on
    #            columns_off pagebreak
    text: str = ""
    label: str = ""
    rows: list = field(default_factory=list)
    widths: list | None = None


@dataclass
class Source:
    path: Path
    meta: dict
    blocks: list

    def get(self, key, default=""):
        v = self.meta.get(key, default)
        return v[0] if isinstance(v, list) else v

    def getall(self, key):
        v = self.meta.get(key, [])
        return v if isinstance(v, list) else [v]


def parse_source(path: Path) -> Source:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    meta: dict = {}
    i = 0
    if lines and lines[0].strip() == "---":
        i = 1
        while i < len(lines) and lines[i].strip() != "---":
            line = lines[i]
            i += 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key in ("title_line",):
                meta.setdefault(key, []).append(value)
            else:
                meta[key] = value
        i += 1
    blocks = parse_body(lines[i:])
    return Source(path, meta, blocks)


def parse_body(lines):
    blocks: list[Block] = []
    para: list[str] = []
    pending_widths = None

    def flush():
        nonlocal para
        if not para:
            return
        text = " ".join(s.strip() for s in para).strip()
        para = []
        kind = para_kind(text)
        blocks.append(kind)

    def para_kind(text):
        m = NUM_PARA.match(text)
        if m:
            return Block("num", m.group(2), label=m.group(1))
        if text.startswith("- "):
            return Block("bullet", text[2:].strip())
        m = ORDERED.match(text)
        if m:
            return Block("ordered", m.group(2), label=m.group(1))
        if text.startswith("> "):
            return Block("quote", re.sub(r"\s*>\s+", " ", " " + text).strip())
        return Block("para", text)

    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.rstrip()
        s = line.strip()
        i += 1
        if not s:
            flush()
            continue
        if s.startswith("<!--"):
            flush()
            body = s[4:].rstrip("-> ").strip()
            if body == "columns":
                blocks.append(Block("columns_on"))
            elif body == "/columns":
                blocks.append(Block("columns_off"))
            elif body == "pagebreak":
                blocks.append(Block("pagebreak"))
            elif body.startswith("table"):
                m = re.search(r"widths\s*=\s*([\d,\s]+)", body)
                if m:
                    pending_widths = [float(x) for x in m.group(1).split(",") if x.strip()]
            continue  # other comments are ignored
        m = re.match(r"^(#{1,3})\s+(.*)$", s)
        if m:
            flush()
            blocks.append(Block("h%d" % len(m.group(1)), m.group(2).strip()))
            continue
        if s.startswith("|"):
            flush()
            rows = []
            j = i - 1
            while j < len(lines) and lines[j].strip().startswith("|"):
                row = lines[j].strip().strip("|")
                cells = [c.strip() for c in row.split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                    rows.append(cells)
                j += 1
            i = j
            blocks.append(Block("table", rows=rows, widths=pending_widths))
            pending_widths = None
            continue
        # a new list item starts a new block even without a blank line
        if para and (s.startswith("- ") or ORDERED.match(s)):
            flush()
        para.append(s)
    flush()
    return blocks


# --------------------------------------------------------------------------
# Inline markup
# --------------------------------------------------------------------------

INLINE = re.compile(r"(\*\*.+?\*\*|\*[^*\s][^*]*?\*)")


def inline_spans(text):
    """Split text into (string, bold, italic) spans."""
    out = []
    for part in INLINE.split(text):
        if not part:
            continue
        if part.startswith("**") and part.endswith("**"):
            out.append((part[2:-2], True, False))
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append((part[1:-1], False, True))
        else:
            out.append((part, False, False))
    return out


def _inline(text, bold_tag, italic_tag):
    res = []
    for s, b, it in inline_spans(text):
        s = html.escape(s, quote=False)
        if b:
            s = "<%s>%s</%s>" % (bold_tag, s, bold_tag)
        if it:
            s = "<%s>%s</%s>" % (italic_tag, s, italic_tag)
        res.append(s)
    return "".join(res)


def rl_inline(text):
    """Inline bold/italic as reportlab paragraph markup."""
    return _inline(text, "b", "i")


def html_inline(text):
    """Inline bold/italic as HTML."""
    return _inline(text, "strong", "em")


def plain(text):
    return "".join(s for s, _, _ in inline_spans(text))


# --------------------------------------------------------------------------
# PDF rendering (reportlab)
# --------------------------------------------------------------------------

PAGE_W, PAGE_H = A4
MARGIN_L = MARGIN_R = 22 * mm
MARGIN_T = 24 * mm
MARGIN_B = 22 * mm
GUTTER = 8 * mm
FONT = "Helvetica"
FONT_B = "Helvetica-Bold"
FONT_I = "Helvetica-Oblique"

STYLES = {
    "body": ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=14.2,
                           spaceAfter=6.5),
    "num": ParagraphStyle("num", fontName=FONT, fontSize=10.5, leading=14.2,
                          spaceAfter=6.5, leftIndent=12 * mm, bulletIndent=0,
                          bulletFontName=FONT),
    "bullet": ParagraphStyle("bullet", fontName=FONT, fontSize=10.5, leading=14.2,
                             spaceAfter=3, leftIndent=17 * mm,
                             bulletIndent=12 * mm,
                             # Symbol's bullet extracts as U+2022; Helvetica's
                             # comes out as (cid:127) in pdfminer/pdfplumber
                             bulletFontName="Symbol"),
    "ordered": ParagraphStyle("ordered", fontName=FONT, fontSize=10.5, leading=14.2,
                              spaceAfter=3, leftIndent=18 * mm,
                              bulletIndent=12 * mm),
    "quote": ParagraphStyle("quote", fontName=FONT_I, fontSize=10.5, leading=14.2,
                            spaceAfter=7, spaceBefore=2, leftIndent=16 * mm,
                            rightIndent=12 * mm, textColor=colors.HexColor("#333333")),
    "h1": ParagraphStyle("h1", fontName=FONT_B, fontSize=14.5, leading=18,
                         spaceBefore=12, spaceAfter=7,
                         textColor=colors.HexColor("#1F3864")),
    "h2": ParagraphStyle("h2", fontName=FONT_B, fontSize=12, leading=15,
                         spaceBefore=9, spaceAfter=5,
                         textColor=colors.HexColor("#1F3864")),
    "h3": ParagraphStyle("h3", fontName=FONT_B, fontSize=10.5, leading=14,
                         spaceBefore=6, spaceAfter=3),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=9, leading=11.2),
    "cellh": ParagraphStyle("cellh", fontName=FONT_B, fontSize=9, leading=11.2,
                            textColor=colors.white),
    # title page
    "t_mark": ParagraphStyle("t_mark", fontName=FONT_B, fontSize=10, leading=13,
                             alignment=TA_CENTER, textColor=colors.HexColor("#7F1D1D")),
    "t_org": ParagraphStyle("t_org", fontName=FONT_B, fontSize=15, leading=19,
                            alignment=TA_LEFT, textColor=colors.HexColor("#1F3864")),
    "t_type": ParagraphStyle("t_type", fontName=FONT_B, fontSize=13, leading=17,
                             spaceBefore=4, textColor=colors.HexColor("#444444")),
    "t_title": ParagraphStyle("t_title", fontName=FONT_B, fontSize=21, leading=26,
                              spaceBefore=10, spaceAfter=10),
    "t_line": ParagraphStyle("t_line", fontName=FONT, fontSize=11.5, leading=16,
                             spaceAfter=3),
    "t_fict": ParagraphStyle("t_fict", fontName=FONT_B, fontSize=10, leading=13.5,
                             textColor=colors.HexColor("#7F1D1D"), borderColor=colors.HexColor("#7F1D1D"),
                             borderWidth=0.8, borderPadding=7, backColor=colors.HexColor("#FBF3F3")),
}


def make_numbered_canvas(footer_left):
    class NumberedCanvas(rl_canvas.Canvas):
        """Defers page output so that the footer can say 'Page N of M'."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved = []

        def showPage(self):
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total):
            n = self._pageNumber
            if n == 1:
                return  # title page: no header or footer
            self.saveState()
            self.setFont(FONT, 8.5)
            self.setFillColor(colors.HexColor("#444444"))
            self.setStrokeColor(colors.HexColor("#999999"))
            self.setLineWidth(0.4)
            y = MARGIN_B - 9 * mm
            self.line(MARGIN_L, y + 4 * mm, PAGE_W - MARGIN_R, y + 4 * mm)
            self.drawString(MARGIN_L, y, footer_left)
            self.drawRightString(PAGE_W - MARGIN_R, y, "Page %d of %d" % (n, total))
            self.restoreState()

    return NumberedCanvas


def col_widths(rows, total, given=None):
    n = max(len(r) for r in rows)
    if given and len(given) == n:
        s = sum(given)
        return [total * g / s for g in given]
    lens = []
    for c in range(n):
        cells = [plain(r[c]) if c < len(r) else "" for r in rows]
        avg = sum(len(x) for x in cells) / max(1, len(cells))
        lens.append(max(8.0, min(avg, 120.0)) ** 0.85)
    s = sum(lens)
    return [total * x / s for x in lens]


def fit_min_widths(rows, widths):
    """Make each column at least as wide as its longest word, so that no
    word (e.g. the header 'Recommendation') is split across lines."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    mins = []
    for c in range(len(widths)):
        m = 0.0
        for ri, r in enumerate(rows):
            if c < len(r):
                font = FONT_B if ri == 0 else FONT
                for w in plain(r[c]).split():
                    m = max(m, stringWidth(w, font, 9) + 9)
        mins.append(m)
    total = sum(widths)
    fixed = [max(w, m) for w, m in zip(widths, mins)]
    extra = sum(fixed) - total
    if extra > 0:
        slack = [f - m for f, m in zip(fixed, mins)]
        s = sum(slack)
        if s > 0:
            fixed = [f - extra * sl / s for f, sl in zip(fixed, slack)]
    return fixed


def pdf_table(block, avail_w):
    rows = block.rows
    n = max(len(r) for r in rows)
    data = []
    for ri, r in enumerate(rows):
        r = r + [""] * (n - len(r))
        st = STYLES["cellh"] if ri == 0 else STYLES["cell"]
        data.append([Paragraph(rl_inline(c), st) for c in r])
    widths = fit_min_widths(rows, col_widths(rows, avail_w, block.widths))
    t = Table(data, colWidths=widths,
              repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#555555")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1F3864")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F2F4F8")]),
    ]))
    return t


def title_page_flowables(src: Source):
    f = [Paragraph("OFFICIAL \u2013 FICTIONAL", STYLES["t_mark"]), Spacer(1, 28 * mm)]
    if src.get("organisation"):
        f.append(Paragraph(rl_inline(src.get("organisation")), STYLES["t_org"]))
    f.append(Paragraph(rl_inline(src.get("doc_type")), STYLES["t_type"]))
    f.append(Paragraph(rl_inline(src.get("title")), STYLES["t_title"]))
    for line in src.getall("title_line"):
        f.append(Paragraph(rl_inline(line), STYLES["t_line"]))
    f.append(Spacer(1, 6 * mm))
    if src.get("area"):
        f.append(Paragraph("Area: %s" % rl_inline(src.get("area")), STYLES["t_line"]))
    f.append(Paragraph(rl_inline(src.get("date")), STYLES["t_line"]))
    if src.get("author"):
        f.append(Paragraph(rl_inline(src.get("author")), STYLES["t_line"]))
    f.append(Spacer(1, 30 * mm))
    f.append(Paragraph(html.escape(FICTION_LINE), STYLES["t_fict"]))
    return f


def build_pdf(src: Source, out: Path):
    header_left = "OFFICIAL \u2013 FICTIONAL"
    header_right = src.get("header") or src.get("title")
    footer_left = src.get("footer") or src.get("organisation") or ""

    def draw_header(canv, doc):
        canv.saveState()
        canv.setFont(FONT, 8.5)
        canv.setFillColor(colors.HexColor("#444444"))
        y = PAGE_H - MARGIN_T + 9 * mm
        canv.drawString(MARGIN_L, y, header_left)
        canv.drawRightString(PAGE_W - MARGIN_R, y, header_right)
        canv.setStrokeColor(colors.HexColor("#999999"))
        canv.setLineWidth(0.4)
        canv.line(MARGIN_L, y - 2.5 * mm, PAGE_W - MARGIN_R, y - 2.5 * mm)
        canv.restoreState()

    body_w = PAGE_W - MARGIN_L - MARGIN_R
    body_h = PAGE_H - MARGIN_T - MARGIN_B
    col_w = (body_w - GUTTER) / 2

    def draw_twocol(canv, doc):
        draw_header(canv, doc)
        canv.saveState()
        canv.setStrokeColor(colors.HexColor("#BBBBBB"))
        canv.setLineWidth(0.3)
        x = MARGIN_L + col_w + GUTTER / 2
        canv.line(x, MARGIN_B, x, MARGIN_B + body_h)
        canv.restoreState()

    templates = [
        PageTemplate("title", [Frame(MARGIN_L + 6 * mm, MARGIN_B, body_w - 12 * mm, body_h,
                                     id="title")]),
        PageTemplate("body", [Frame(MARGIN_L, MARGIN_B, body_w, body_h, id="main",
                                    leftPadding=0, rightPadding=0)],
                     onPage=draw_header),
        PageTemplate("twocol", [
            Frame(MARGIN_L, MARGIN_B, col_w, body_h, id="left", leftPadding=0, rightPadding=0),
            Frame(MARGIN_L + col_w + GUTTER, MARGIN_B, col_w, body_h, id="right",
                  leftPadding=0, rightPadding=0),
        ], onPage=draw_twocol),
    ]
    doc = BaseDocTemplate(
        str(out), pagesize=A4, leftMargin=MARGIN_L, rightMargin=MARGIN_R,
        topMargin=MARGIN_T, bottomMargin=MARGIN_B,
        title=plain(src.get("title")),
        author=src.get("pdf_author") or src.get("organisation"),
        subject=plain(src.get("doc_type")) + " (fictional demonstration document)",
        creator="dhr demo corpus builder (reportlab)",
        keywords="fictional, demonstration, domestic abuse, %s" % src.get("area"),
        invariant=1,
    )
    doc.addPageTemplates(templates)

    story = title_page_flowables(src)
    story += [NextPageTemplate("body"), PageBreak()]
    in_cols = False
    avail_w = body_w
    blocks = src.blocks
    for k, b in enumerate(blocks):
        if b.kind in ("h1", "h2", "h3"):
            # keep a heading with what follows
            story.append(CondPageBreak(40 * mm if b.kind == "h1" else 28 * mm))
            story.append(Paragraph(rl_inline(b.text), STYLES[b.kind]))
        elif b.kind == "para":
            story.append(Paragraph(rl_inline(b.text), STYLES["body"]))
        elif b.kind == "num":
            story.append(Paragraph(rl_inline(b.text), STYLES["num"], bulletText=b.label))
        elif b.kind == "bullet":
            story.append(Paragraph(rl_inline(b.text), STYLES["bullet"], bulletText="\u2022"))
        elif b.kind == "ordered":
            story.append(Paragraph(rl_inline(b.text), STYLES["ordered"],
                                   bulletText="%s)" % b.label))
        elif b.kind == "quote":
            story.append(Paragraph(rl_inline(b.text), STYLES["quote"]))
        elif b.kind == "table":
            story.append(Spacer(1, 3))
            story.append(pdf_table(b, avail_w))
            story.append(Spacer(1, 8))
        elif b.kind == "pagebreak":
            story.append(PageBreak())
        elif b.kind == "columns_on":
            story += [NextPageTemplate("twocol"), PageBreak()]
            in_cols, avail_w = True, col_w
        elif b.kind == "columns_off":
            story += [NextPageTemplate("body"), PageBreak()]
            in_cols, avail_w = False, body_w
    doc.build(story, canvasmaker=make_numbered_canvas(footer_left))


# --------------------------------------------------------------------------
# DOCX rendering (python-docx)
# --------------------------------------------------------------------------

FIXED_DT = datetime(2024, 1, 1, 0, 0, 0)


def _docx_runs(par, text):
    for s, b, it in inline_spans(text):
        r = par.add_run(s)
        r.bold = b or None
        r.italic = it or None


def _docx_field(par, instr):
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = par.add_run()
    for kind, txt in (("begin", None), (None, instr), ("separate", None),
                      (None, None), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            run._r.append(el)
        elif txt:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = " %s " % txt
            run._r.append(el)
        else:
            t = OxmlElement("w:t")
            t.text = "1"
            run._r.append(t)


def build_docx(src: Source, out: Path):
    from docx import Document
    from docx.enum.section import WD_SECTION
    from docx.enum.text import WD_BREAK
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor, Mm

    d = Document()
    normal = d.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10.5)
    sec = d.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.left_margin = sec.right_margin = Mm(22)
    sec.different_first_page_header_footer = True
    hp = sec.header.paragraphs[0]
    hp.text = "OFFICIAL \u2013 FICTIONAL\t\t%s" % (src.get("header") or src.get("title"))
    fp = sec.footer.paragraphs[0]
    fp.add_run("%s\t\tPage " % (src.get("footer") or src.get("organisation")))
    _docx_field(fp, "PAGE")
    fp.add_run(" of ")
    _docx_field(fp, "NUMPAGES")

    cp = d.core_properties
    cp.title = plain(src.get("title"))
    cp.author = src.get("pdf_author") or src.get("organisation")
    cp.subject = plain(src.get("doc_type")) + " (fictional demonstration document)"
    cp.keywords = "fictional, demonstration, domestic abuse, %s" % src.get("area")
    cp.created = cp.modified = cp.last_printed = FIXED_DT
    cp.last_modified_by = "dhr demo corpus builder"
    cp.revision = 1

    # title page
    p = d.add_paragraph()
    r = p.add_run("OFFICIAL \u2013 FICTIONAL")
    r.bold = True
    r.font.color.rgb = RGBColor(0x7F, 0x1D, 0x1D)
    if src.get("organisation"):
        p = d.add_paragraph()
        r = p.add_run(src.get("organisation"))
        r.bold, r.font.size = True, Pt(15)
    p = d.add_paragraph()
    r = p.add_run(plain(src.get("doc_type")))
    r.bold, r.font.size = True, Pt(13)
    d.add_paragraph(plain(src.get("title")), style="Title")
    for line in src.getall("title_line"):
        _docx_runs(d.add_paragraph(), line)
    if src.get("area"):
        d.add_paragraph("Area: %s" % src.get("area"))
    d.add_paragraph(src.get("date"))
    if src.get("author"):
        d.add_paragraph(src.get("author"))
    p = d.add_paragraph()
    r = p.add_run(FICTION_LINE)
    r.bold = True
    p.add_run().add_break(WD_BREAK.PAGE)

    def set_cols(section, n):
        sectPr = section._sectPr
        cols = sectPr.find(qn("w:cols"))
        if cols is None:
            cols = OxmlElement("w:cols")
            sectPr.append(cols)
        cols.set(qn("w:num"), str(n))
        cols.set(qn("w:space"), "454")

    for b in src.blocks:
        if b.kind in ("h1", "h2", "h3"):
            d.add_heading(plain(b.text), level=int(b.kind[1]))
        elif b.kind == "para":
            _docx_runs(d.add_paragraph(), b.text)
        elif b.kind == "num":
            p = d.add_paragraph()
            p.paragraph_format.left_indent = Mm(12)
            p.paragraph_format.first_line_indent = Mm(-12)
            p.add_run(b.label + "\t")
            _docx_runs(p, b.text)
        elif b.kind == "bullet":
            _docx_runs(d.add_paragraph(style="List Bullet"), b.text)
        elif b.kind == "ordered":
            _docx_runs(d.add_paragraph(style="List Number"), b.text)
        elif b.kind == "quote":
            _docx_runs(d.add_paragraph(style="Quote"), b.text)
        elif b.kind == "table":
            rows = b.rows
            n = max(len(x) for x in rows)
            t = d.add_table(rows=len(rows), cols=n)
            t.style = "Table Grid"
            for ri, row in enumerate(rows):
                for ci in range(n):
                    cell = t.cell(ri, ci)
                    cell.text = ""
                    txt = row[ci] if ci < len(row) else ""
                    par = cell.paragraphs[0]
                    if ri == 0:
                        rr = par.add_run(plain(txt))
                        rr.bold = True
                    else:
                        _docx_runs(par, txt)
            # repeat the header row on every page
            trPr = t.rows[0]._tr.get_or_add_trPr()
            h = OxmlElement("w:tblHeader")
            h.set(qn("w:val"), "true")
            trPr.append(h)
            d.add_paragraph()
        elif b.kind == "pagebreak":
            d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        elif b.kind == "columns_on":
            set_cols(d.add_section(WD_SECTION.NEW_PAGE), 2)
        elif b.kind == "columns_off":
            set_cols(d.add_section(WD_SECTION.NEW_PAGE), 1)

    buf = io.BytesIO()
    d.save(buf)
    _normalise_zip(buf.getvalue(), out)


def _normalise_zip(data: bytes, out: Path):
    """Rewrite a zip with fixed timestamps and order (deterministic DOCX)."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    names = zin.namelist()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, zin.read(name))


# --------------------------------------------------------------------------
# HTML rendering
# --------------------------------------------------------------------------

CSS = """
body { font-family: Arial, Helvetica, sans-serif; max-width: 52em; margin: 2em auto;
       line-height: 1.45; color: #111; padding: 0 1em; }
header.titlepage { border-bottom: 2px solid #1F3864; margin-bottom: 2em; padding-bottom: 1em; }
.marking { color: #7F1D1D; font-weight: bold; }
.fictional { border: 1px solid #7F1D1D; background: #FBF3F3; color: #7F1D1D;
             padding: .6em; font-weight: bold; }
h1, h2, h3 { color: #1F3864; }
p.num { padding-left: 3.5em; text-indent: -3.5em; }
p.num .n { display: inline-block; width: 3.5em; text-indent: 0; }
blockquote { font-style: italic; color: #333; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #555; padding: .3em .45em; vertical-align: top; text-align: left; }
th { background: #1F3864; color: #fff; }
.columns { column-count: 2; column-gap: 2em; column-rule: 1px solid #bbb; }
footer { border-top: 1px solid #999; margin-top: 3em; font-size: .85em; color: #444; }
"""


def build_html(src: Source, out: Path):
    e = html.escape
    title = plain(src.get("title"))
    h = ["<!DOCTYPE html>", '<html lang="en-GB">', "<head>", '<meta charset="utf-8">',
         "<title>%s</title>" % e(title),
         '<meta name="author" content="%s">' % e(src.get("pdf_author") or src.get("organisation")),
         '<meta name="description" content="%s (fictional demonstration document)">'
         % e(plain(src.get("doc_type"))),
         '<meta name="generator" content="dhr demo corpus builder">',
         "<style>%s</style>" % CSS, "</head>", "<body>",
         '<header class="titlepage">',
         '<p class="marking">OFFICIAL \u2013 FICTIONAL</p>']
    if src.get("organisation"):
        h.append('<p class="organisation"><strong>%s</strong></p>' % e(src.get("organisation")))
    h.append('<p class="doctype"><strong>%s</strong></p>' % html_inline(src.get("doc_type")))
    h.append("<h1>%s</h1>" % html_inline(src.get("title")))
    for line in src.getall("title_line"):
        h.append("<p>%s</p>" % html_inline(line))
    if src.get("area"):
        h.append("<p>Area: %s</p>" % e(src.get("area")))
    h.append('<p class="date">%s</p>' % e(src.get("date")))
    if src.get("author"):
        h.append("<p>%s</p>" % e(src.get("author")))
    h.append('<p class="fictional">%s</p>' % e(FICTION_LINE))
    h.append("</header>")
    h.append("<main>")
    open_list = None  # 'ul' or 'ol'
    open_section = False

    def close_list():
        nonlocal open_list
        if open_list:
            h.append("</%s>" % open_list)
            open_list = None

    for b in src.blocks:
        want = {"bullet": "ul", "ordered": "ol"}.get(b.kind)
        if open_list and want != open_list:
            close_list()
        if want and not open_list:
            h.append("<%s>" % want)
            open_list = want
        if b.kind == "h1":
            if open_section:
                h.append("</section>")
            h.append("<section>")
            open_section = True
            h.append("<h2>%s</h2>" % html_inline(b.text))
        elif b.kind in ("h2", "h3"):
            h.append("<h%d>%s</h%d>" % (int(b.kind[1]) + 1, html_inline(b.text), int(b.kind[1]) + 1))
        elif b.kind == "para":
            h.append("<p>%s</p>" % html_inline(b.text))
        elif b.kind == "num":
            h.append('<p class="num"><span class="n">%s</span>%s</p>' % (e(b.label), html_inline(b.text)))
        elif b.kind in ("bullet", "ordered"):
            h.append("<li>%s</li>" % html_inline(b.text))
        elif b.kind == "quote":
            h.append("<blockquote><p>%s</p></blockquote>" % html_inline(b.text))
        elif b.kind == "table":
            rows = b.rows
            h.append("<table>")
            h.append("<thead><tr>%s</tr></thead>" % "".join(
                '<th scope="col">%s</th>' % html_inline(c) for c in rows[0]))
            h.append("<tbody>")
            for r in rows[1:]:
                h.append("<tr>%s</tr>" % "".join("<td>%s</td>" % html_inline(c) for c in r))
            h.append("</tbody></table>")
        elif b.kind == "columns_on":
            h.append('<div class="columns">')
        elif b.kind == "columns_off":
            h.append("</div>")
    close_list()
    if open_section:
        h.append("</section>")
    h.append("</main>")
    h.append("<footer><p>%s \u2013 %s</p></footer>" % (
        e(src.get("footer") or src.get("organisation")), e(FICTION_LINE)))
    h.append("</body></html>")
    out.write_text("\n".join(h) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------

BUILDERS = {"pdf": build_pdf, "docx": build_docx, "html": build_html}


def main(argv):
    REPORTS.mkdir(parents=True, exist_ok=True)
    sources = sorted(SOURCES.glob("*.md"))
    if argv:
        sources = [s for s in sources if any(s.name.startswith(a) for a in argv)]
    for path in sources:
        src = parse_source(path)
        fmt = src.get("format", "pdf").lower()
        out = REPORTS / (path.stem + "." + fmt)
        BUILDERS[fmt](src, out)
        print("%-52s %7d bytes" % (out.relative_to(HERE.parent), out.stat().st_size))


if __name__ == "__main__":
    main(sys.argv[1:])
