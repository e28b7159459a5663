"""Stage 1: read a file into lines, page by page.

Every reader returns the same thing, a `RawDocument`: a list of pages, each a list of
`Line`s in reading order. PDF lines carry their geometry and font so that cleaning and
segmentation can find running headers, headings and paragraph breaks; the other formats
already say where paragraphs and headings are, and say it with `starts_block` and
`heading`. Table rows arrive as lines with `row` set to {column: value}.

Anything wrong with a file raises `ExtractionError` with a reason a person can act on.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = {".pdf": "pdf", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
             ".html": "html", ".htm": "html", ".docx": "docx"}


class ExtractionError(Exception):
    """A file that cannot be read; the message says why in words a user can act on."""


class NeedsOCR(ExtractionError):
    pass


@dataclass
class Line:
    text: str
    page: int
    top: float = 0.0
    bottom: float = 0.0
    x0: float = 0.0
    x1: float = 0.0
    size: float = 0.0
    bold: bool = False
    heading: int = 0            # heading level when the source format says so
    starts_block: bool = False  # the source format says a new paragraph starts here
    row: dict[str, str] | None = None  # a table row: {column: value}


@dataclass
class RawDocument:
    format: str
    pages: list[list[Line]]
    title_hint: str = ""          # e.g. the PDF's or HTML's own title field
    page_width: float = 0.0
    page_height: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def page_count(self) -> int:
        return len(self.pages)


def file_format(path: Path) -> str:
    fmt = SUPPORTED.get(path.suffix.lower())
    if fmt is None:
        known = " ".join(sorted(SUPPORTED))
        raise ExtractionError(f"unsupported file type '{path.suffix or '(none)'}' (dhr reads {known})")
    return fmt


def extract(path: Path, ocr: bool = False) -> RawDocument:
    """Read one file of any supported format."""
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise ExtractionError("the file is empty (0 bytes)")
    if fmt == "pdf":
        return read_pdf(path, ocr=ocr)
    return {"text": read_text, "markdown": read_markdown, "html": read_html, "docx": read_docx}[fmt](path)


# ---- text normalisation shared by every format ----------------------------------------

_LIGATURE_FREE = str.maketrans({"\u00a0": " ", "\u2009": " ", "\u200b": "", "\ufeff": ""})


def normalise(text: str) -> str:
    """NFKC folds ligatures (fi, fl, ffi) and full-width forms; control characters go."""
    text = unicodedata.normalize("NFKC", text).translate(_LIGATURE_FREE)
    return "".join(ch for ch in text if ch in "\n\t\f" or unicodedata.category(ch)[0] != "C" or ch == "\u00ad")


# ---- PDF ------------------------------------------------------------------------------


def read_pdf(path: Path, ocr: bool = False) -> RawDocument:
    """Characters come from PDFium, ruled tables from pdfplumber.

    pdfplumber (pdfminer) spends ~200 ms interpreting each page; PDFium, which pdfplumber
    already depends on, gives the same characters with their boxes and fonts in ~30 ms.
    pdfplumber's table finder is still the best there is, so it runs on the pages that
    draw ruled lines, and only on those.
    """
    _check_not_truncated(path)
    try:
        return _read_pdf_pages(path)
    except NeedsOCR:
        if not ocr:
            raise
        return _read_pdf_after_ocr(path)


def _check_not_truncated(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(1024)
        fh.seek(max(0, path.stat().st_size - 2048))
        tail = fh.read()
    if b"%PDF" not in head:
        raise ExtractionError("not a PDF: the file does not start with a PDF header (corrupt or mislabelled)")
    if b"%%EOF" not in tail:
        raise ExtractionError("not a readable PDF: the file is truncated (no end-of-file marker); download it again")


def _open_pdfium(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ExtractionError("the PDF is encrypted (password protected); save an unprotected copy") from None
        if _pdfminer_page_count(path) == 0:
            raise ExtractionError("the PDF has no pages") from None
        raise ExtractionError(f"not a readable PDF: the file is corrupt ({exc})") from None


def _pdfminer_page_count(path: Path) -> int | None:
    """A second opinion when PDFium refuses a file: pdfminer tells a page-less PDF from a broken one."""
    import pdfplumber

    try:
        with pdfplumber.open(path) as pdf:
            return len(pdf.pages)
    except Exception:
        return None


def _read_pdf_pages(path: Path) -> RawDocument:
    import pypdfium2.raw as pdfium_c

    pdf = _open_pdfium(path)
    plumber = None
    try:
        if len(pdf) == 0:
            raise ExtractionError("the PDF has no pages")
        pages: list[list[Line]] = []
        images = 0
        width = height = 0.0
        for index in range(len(pdf)):
            page = pdf[index]
            width, height = page.get_size()
            kinds = [obj.type for obj in page.get_objects(max_depth=1)]
            images += kinds.count(pdfium_c.FPDF_PAGEOBJ_IMAGE)
            words = _pdfium_words(page, height)
            tables = []
            if kinds.count(pdfium_c.FPDF_PAGEOBJ_PATH) >= 4:  # ruled lines: maybe a table
                if plumber is None:
                    import pdfplumber

                    plumber = pdfplumber.open(path)
                tables = _pdf_tables(plumber.pages[index])
            pages.append(_page_lines(words, tables, width, height, index + 1))
        if not any(pages):
            if images:
                raise NeedsOCR(
                    "the PDF has no text layer (scanned or image-only pages); it needs OCR: "
                    + ("re-run with --ocr" if shutil.which("ocrmypdf") else
                       "install ocrmypdf (Debian: apt-get install ocrmypdf) and re-run with --ocr")
                )
            raise ExtractionError("the PDF has no text on any page")
        title = str(pdf.get_metadata_dict().get("Title") or "").strip()
        return RawDocument("pdf", pages, title_hint=normalise(title), page_width=width, page_height=height)
    finally:
        pdf.close()
        if plumber is not None:
            plumber.close()


def _pdfium_words(page, height: float) -> list[dict]:
    """Words with their boxes (top-down coordinates, as pdfplumber's), font size and font name."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        raw = textpage.raw
        name = ctypes.create_string_buffer(128)
        flags = ctypes.c_int()
        words: list[dict] = []
        current: dict | None = None
        for i in range(min(count, len(text))):
            ch = text[i]
            if ch == "\ufffe" or pdfium_c.FPDFText_IsHyphen(raw, i):
                ch = "-"  # PDFium marks a hyphen at a line end as a special character
            elif ch.isspace() or pdfium_c.FPDFText_IsGenerated(raw, i):
                current = None
                continue
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
            size = round(pdfium_c.FPDFText_GetFontSize(raw, i), 1)
            y_top, y_bottom = height - top, height - bottom
            if current is not None and abs(y_top - current["top"]) < 0.5 * size \
                    and -0.5 * size < left - current["x1"] < 0.25 * size and size == current["size"]:
                current["text"] += ch
                current["x1"] = max(current["x1"], right)
                continue
            pdfium_c.FPDFText_GetFontInfo(raw, i, name, 128, ctypes.byref(flags))
            current = {"text": ch, "x0": left, "x1": right, "top": y_top, "bottom": y_bottom, "size": size,
                       "fontname": name.value.decode("latin-1", "replace")}
            words.append(current)
        return words
    finally:
        textpage.close()


def _read_pdf_after_ocr(path: Path) -> RawDocument:
    if not shutil.which("ocrmypdf"):
        raise ExtractionError("the PDF needs OCR but ocrmypdf is not installed (Debian: apt-get install ocrmypdf)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ocr.pdf"
        env = dict(os.environ, OMP_THREAD_LIMIT="1")  # tesseract is 6x slower with threads on 2 cores
        result = subprocess.run(["ocrmypdf", "--skip-text", "-q", str(path), str(out)],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0 or not out.exists():
            raise ExtractionError(f"OCR failed: {result.stderr.strip()[-300:]}")
        raw = _read_pdf_pages(out)
    raw.notes.append("text from OCR")
    return raw


def _page_lines(words: list[dict], tables: list, width: float, height: float, number: int) -> list[Line]:
    if tables:
        words = [w for w in words if not any(_inside(w, t.bbox) for t, _ in tables)]
    lines = _order_lines(words, width, height, number)
    for table, rows in tables:
        x0, top, x1, bottom = (float(v) for v in table.bbox)
        at = next((i for i, ln in enumerate(lines) if ln.top > top), len(lines))
        lines[at:at] = [Line(text="", page=number, top=top, bottom=bottom, x0=x0, x1=x1, row=cells)
                        for cells in rows]
    return lines


def _pdf_tables(page):
    """Ruled tables only: unruled text in columns is better read as lines."""
    found = []
    for table in page.find_tables():
        rows = [[normalise(c or "").replace("\n", " ").strip() for c in row] for row in table.extract()]
        rows = [r for r in rows if any(r)]
        if len(rows) >= 1 and max(len(r) for r in rows) >= 2:
            found.append((table, [dict(enumerate(r)) for r in rows]))
    return found


def _inside(word: dict, bbox) -> bool:
    x0, top, x1, bottom = bbox
    cx, cy = (word["x0"] + word["x1"]) / 2, (word["top"] + word["bottom"]) / 2
    return x0 <= cx <= x1 and top <= cy <= bottom


def _group_lines(words: list[dict]) -> list[list[dict]]:
    """Words whose tops are within a couple of points share a line."""
    lines: list[list[dict]] = []
    for w in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        if lines and abs(w["top"] - lines[-1][0]["top"]) <= max(2.0, 0.3 * w["size"]):
            lines[-1].append(w)
        else:
            lines.append([w])
    return [sorted(line, key=lambda w: w["x0"]) for line in lines]


def _make_line(words: list[dict], number: int) -> Line:
    sizes = [w["size"] for w in words]
    bold = sum(len(w["text"]) for w in words if "bold" in w["fontname"].lower())
    return Line(
        text=normalise(" ".join(w["text"] for w in words)),
        page=number,
        top=min(w["top"] for w in words),
        bottom=max(w["bottom"] for w in words),
        x0=min(w["x0"] for w in words),
        x1=max(w["x1"] for w in words),
        size=round(max(set(sizes), key=sizes.count), 1),
        bold=bold > 0.6 * sum(len(w["text"]) for w in words),
    )


def find_gutter(words: list[dict], width: float) -> float | None:
    """The x of an empty vertical strip in the middle of the page, when text stands on both sides.

    A single-column page has words across its middle on nearly every line; a two-column
    page has a strip that only the odd full-width heading crosses.
    """
    if len(words) < 40:
        return None
    lo, hi = int(width * 0.3), int(width * 0.7)
    cover = [0] * (hi - lo + 1)
    for w in words:
        for x in range(max(lo, int(w["x0"])), min(hi, int(w["x1"])) + 1):
            cover[x - lo] += 1
    allowed = max(2, len(words) // 100)
    best, run_start, best_span = None, None, 0
    for i, c in enumerate(cover + [allowed + 1]):
        if c <= allowed and run_start is None:
            run_start = i
        elif c > allowed and run_start is not None:
            if i - run_start > best_span:
                best_span, best = i - run_start, lo + (run_start + i) / 2
            run_start = None
    if best is None or best_span < 6:
        return None
    left_lines = {round(w["top"]) for w in words if w["x1"] < best}
    right_lines = {round(w["top"]) for w in words if w["x0"] > best}
    return best if len(left_lines) >= 5 and len(right_lines) >= 5 else None


EDGE_ZONE = 0.08  # share of the page height, top and bottom, where running headers and footers sit


def _order_lines(words: list[dict], width: float, height: float, number: int) -> list[Line]:
    """Lines in reading order; on a two-column page, left column then right, band by band.

    Words near the top and bottom edges are read as whole lines before and after the
    body, so a running header is not split between the columns.
    """
    top_edge = [w for w in words if w["bottom"] < height * EDGE_ZONE]
    bottom_edge = [w for w in words if w["top"] > height * (1 - EDGE_ZONE)]
    body = [w for w in words if height * EDGE_ZONE <= w["bottom"] and w["top"] <= height * (1 - EDGE_ZONE)]
    whole = lambda ws: [_make_line(line, number) for line in _group_lines(ws)]  # noqa: E731
    return whole(top_edge) + _order_body(body, width, number) + whole(bottom_edge)


def _order_body(words: list[dict], width: float, number: int) -> list[Line]:
    gutter = find_gutter(words, width)
    if gutter is None:
        return [_make_line(ws, number) for ws in _group_lines(words)]
    raw = _group_lines(words)
    full = [ws for ws in raw if any(w["x0"] < gutter < w["x1"] for w in ws)]
    full_tops = sorted(min(w["top"] for w in ws) for ws in full)
    column_words = [w for ws in raw if ws not in full for w in ws]
    keyed: list[tuple[tuple, Line]] = []
    for i, ws in enumerate(sorted(full, key=lambda ws: ws[0]["top"])):
        keyed.append(((i, 2, 0, ws[0]["top"]), _make_line(ws, number)))
    for column, side in ((0, [w for w in column_words if w["x1"] <= gutter]),
                         (1, [w for w in column_words if w["x1"] > gutter])):
        for ws in _group_lines(side):
            top = ws[0]["top"]
            band = sum(1 for t in full_tops if t < top)
            keyed.append(((band, 1, column, top), _make_line(ws, number)))
    return [line for _, line in sorted(keyed, key=lambda kl: kl[0])]


# ---- plain text and Markdown ----------------------------------------------------------


def read_bytes_as_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractionError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8"
        ) from None


def read_text(path: Path) -> RawDocument:
    """Paragraphs are separated by blank lines; form feeds separate pages."""
    text = normalise(read_bytes_as_utf8(path))
    # text saved from web pages keeps footnote markers and rules: not part of the prose
    text = re.sub(r"<sup>\s*\w{1,4}\s*</sup>", "", text)
    text = re.sub(r"</?(?:sub|sup|b|i|em|strong|u|span)>", "", text)
    text = re.sub(r"(?m)^\s*([-_*=])\1{2,}\s*$", "", text)
    pages = [_text_page_lines(page, n) for n, page in enumerate(text.split("\f"), start=1)]
    if not any(pages):
        raise ExtractionError("the file has no text")
    return RawDocument("text", pages)


def _text_page_lines(page_text: str, number: int) -> list[Line]:
    lines: list[Line] = []
    for block in re.split(r"\n\s*\n", page_text):
        rows = [r.strip() for r in block.strip("\n").split("\n") if r.strip()]
        if len(rows) == 1 and (m := _MD_HEADING.match(rows[0])):  # Markdown headings in a .txt file
            lines.append(Line(text=_strip_md(m.group(2)), page=number, heading=len(m.group(1)), starts_block=True))
            continue
        if len(rows) == 1 and looks_like_heading(rows[0]):
            lines.append(Line(text=rows[0], page=number, heading=2, starts_block=True))
            continue
        for i, row in enumerate(rows):
            lines.append(Line(text=row, page=number, starts_block=i == 0 or _is_list_item(row)))
    return lines


def looks_like_heading(text: str) -> bool:
    """A one-line block of plain text that does not read as a sentence, a list item or a field."""
    words = text.split()
    if not 0 < len(words) <= 12 or not (text[0].isupper() or text[0].isdigit()):
        return False
    return not (re.search(r"[.!?:;,]$", text) or ": " in text or text.startswith(("-", "*", "\u2022")))


_LIST_ITEM = re.compile(r"^\s*([-*\u2022\u2013]\s+|\(?[a-z]\)\s+|\(?[ivx]{1,4}\)\s+|\d+(\.\d+)*[.)]?\s+\S)")


def _is_list_item(text: str) -> bool:
    return bool(_LIST_ITEM.match(text))


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def read_markdown(path: Path) -> RawDocument:
    text = normalise(read_bytes_as_utf8(path))
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter is metadata, not text
    lines: list[Line] = []
    rows = text.split("\n")
    header: list[str] | None = None
    new_block = True
    for i, row in enumerate(rows):
        stripped = row.strip()
        if not stripped:
            new_block, header = True, None
            continue
        if m := _MD_HEADING.match(stripped):
            lines.append(Line(text=_strip_md(m.group(2)), page=1, heading=len(m.group(1)), starts_block=True))
            new_block = True
            continue
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            nxt = rows[i + 1].strip() if i + 1 < len(rows) else ""
            if header is None and _MD_TABLE_RULE.match(nxt):
                header = cells
            elif not _MD_TABLE_RULE.match(stripped):
                names = header or [str(k) for k in range(len(cells))]
                lines.append(Line(text="", page=1, row={n: _strip_md(c) for n, c in zip(names, cells)},
                                  starts_block=True))
            continue
        item = _is_list_item(stripped)
        lines.append(Line(text=_strip_md(stripped), page=1, starts_block=new_block or item))
        new_block = False
    if not lines:
        raise ExtractionError("the file has no text")
    return RawDocument("markdown", [lines])


def _strip_md(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return re.sub(r"(\*\*|__|`)", "", text).strip()


# ---- HTML -----------------------------------------------------------------------------

_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "blockquote", "pre", "dd", "dt"]


def read_html(path: Path) -> RawDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_bytes_as_utf8(path), "html.parser")
    for junk in soup(["script", "style", "nav", "noscript", "template", "svg"]):
        junk.decompose()
    title = normalise(soup.title.get_text(" ", strip=True)) if soup.title else ""
    lines: list[Line] = []
    body = soup.body or soup
    for el in body.find_all(_BLOCK_TAGS):
        if el.find_parent(["table", "li", "blockquote"]) and el.name != "table":
            if el.name != "li" or el.find_parent("table"):
                continue
        if el.name == "table":
            lines.extend(_html_table_rows(el))
            continue
        if el.name == "li" and el.find(["p"]):
            continue
        text = normalise(el.get_text(" ", strip=True))
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            continue
        level = int(el.name[1]) if el.name[0] == "h" and el.name[1:].isdigit() else 0
        if el.name == "li" and el.find_parent("ol"):
            siblings = [s for s in el.find_parent("ol").find_all("li", recursive=False)]
            if el in siblings and not _is_list_item(text):
                text = f"{siblings.index(el) + 1}. {text}"
        lines.append(Line(text=text, page=1, heading=level, starts_block=True))
    if not lines:
        raise ExtractionError("the HTML has no readable text")
    return RawDocument("html", [lines], title_hint=title)


def _html_table_rows(table) -> list[Line]:
    rows = []
    for tr in table.find_all("tr"):
        cells = [re.sub(r"\s+", " ", normalise(td.get_text(" ", strip=True))) for td in tr.find_all(["td", "th"])]
        if any(cells):
            rows.append(cells)
    return _rows_to_lines(rows, page=1)


def _rows_to_lines(rows: list[list[str]], page: int) -> list[Line]:
    return [Line(text="", page=page, row=dict(enumerate(cells)), starts_block=True) for cells in rows]


# ---- DOCX -----------------------------------------------------------------------------


def read_docx(path: Path) -> RawDocument:
    import zipfile

    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionError(f"not a readable DOCX: the file is corrupt or not a Word document ({exc})") from None
    pages: list[list[Line]] = [[]]
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            if _docx_page_break_before(child) and pages[-1]:
                pages.append([])
            text = normalise(para.text).strip()
            if text:
                style = (para.style.name if para.style is not None else "") or ""
                pages[-1].append(Line(text=text, page=len(pages), heading=_docx_heading_level(style),
                                      starts_block=True))
        elif tag == "tbl":
            table = Table(child, document)
            rows = [[normalise(c.text).strip() for c in row.cells] for row in table.rows]
            pages[-1].extend(_rows_to_lines([r for r in rows if any(r)], page=len(pages)))
    pages = [p for p in pages if p]
    if not pages:
        raise ExtractionError("the DOCX has no text")
    title = normalise(document.core_properties.title or "")
    return RawDocument("docx", pages, title_hint=title)


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.match(r"Heading (\d)", style)
    return int(m.group(1)) if m else 0


def _docx_page_break_before(p_element) -> bool:
    xml = p_element.xml
    return 'w:type="page"' in xml or "lastRenderedPageBreak" in xml
