"""Stage 3: from cleaned lines to passages.

A passage is about one paragraph, never cut mid-sentence, with the page it starts on,
the heading it sits under and its position in the document. Numbered paragraphs
("4.12", "341.") and recommendations stay whole, across line and page breaks. A table
row becomes one passage that keeps its cells and column names.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .clean import join_lines, vocabulary
from .extract import Line, RawDocument
from .records import Passage

MAX_WORDS = 220        # split longer paragraphs at sentence ends
TARGET_WORDS = 140     # ...into pieces of about this size
_TERMINAL = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]*$")
_NUMBERED = re.compile(
    r"^(?:[-\u2022\u2013*]\s*)?(?P<label>\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}[.)])\s+(?=\S)"
)
_RECOMMENDATION = re.compile(r"^(?P<label>Recommendation\s+(?:No\.?\s*)?\d{1,3}[a-z]?)\b", re.I)
_BULLET = re.compile(r"^([-*\u2022\u2013\u25aa\u25cf]\s+|\(?[a-z]\)\s+|\(?[ivx]{1,4}\)\s+)")
_LIST_START = re.compile(
    r"^(?:[-*\u2022\u2013\u25aa\u25cf]\s+|\(?[a-z]\)\s+|\(?[ivx]{1,4}\)\s+"
    r"|\d{1,3}(?:\.\d{1,3})+\.?\s+|\d{1,3}[.)]\s+(?=[A-Z(\"'\u201c])|Recommendation\s+\d)"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[A-Z0-9\"'\u201c(])")
_ABBREVIATIONS = re.compile(r"\b(Mr|Mrs|Ms|Dr|No|St|e\.g|i\.e|etc|para|paras|cf|vs|approx)\.$", re.I)


@dataclass
class _Paragraph:
    lines: list[Line] = field(default_factory=list)
    text: str = ""
    section: str = ""
    row: dict | None = None

    @property
    def page(self) -> int:
        return self.lines[0].page

    @property
    def page_end(self) -> int:
        return self.lines[-1].page


def segment(doc: RawDocument) -> list[Passage]:
    """Passages of a cleaned document, in reading order."""
    paragraphs = _paragraphs(doc)
    passages: list[Passage] = []
    for para in _merge_lists(paragraphs):
        if para.row is not None:
            passages.append(_row_passage(para, len(passages)))
            continue
        for piece in split_long(para.text):
            passages.append(Passage(seq=len(passages), text=piece, page=para.page, page_end=para.page_end,
                                    section=para.section, kind=_kind(para), label=paragraph_label(piece)))
    return [p for p in passages if re.search(r"[A-Za-z]{2}", p.text)]


def paragraph_label(text: str) -> str:
    if m := _RECOMMENDATION.match(text):
        return re.sub(r"\s+", " ", m.group("label"))
    if m := _NUMBERED.match(text):
        return m.group("label").rstrip(".)")
    return ""


def _kind(para: _Paragraph) -> str:
    return "list" if "\n" in para.text else "paragraph"


# ---- lines to paragraphs --------------------------------------------------------------


def _paragraphs(doc: RawDocument) -> list[_Paragraph]:
    vocab = vocabulary(doc)
    body = _body_size(doc)
    out: list[_Paragraph] = []
    section = ""
    tables = _TableHeaders()
    current: _Paragraph | None = None
    prev: Line | None = None
    prev_heading: Line | None = None
    for line in (ln for page in doc.pages for ln in page):
        if line.row is not None:
            cells = tables.cells(line.row)
            if cells:
                out.append(_Paragraph([line], section=section, row=cells))
            current, prev = None, None
            continue
        tables.interrupted()
        if _is_heading(line, body, doc.format):
            if prev_heading is not None and _continues_heading(prev_heading, line):
                section = f"{section} {line.text}"  # a heading that runs over two lines
            else:
                section = line.text
            current, prev, prev_heading = None, line, line
            continue
        prev_heading = None
        if current is None or _starts_paragraph(line, prev, current, doc.format, body):
            current = _Paragraph([line], text=line.text, section=section)
            out.append(current)
        else:
            current.lines.append(line)
            separator_newline = bool(_BULLET.match(line.text))
            current.text = (current.text + "\n" + line.text) if separator_newline else \
                join_lines(current.text, line.text, vocab)
        prev = line
    return out


def _body_size(doc: RawDocument) -> float:
    sizes: Counter = Counter()
    for page in doc.pages:
        for ln in page:
            if ln.size:
                sizes[ln.size] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _is_heading(line: Line, body: float, fmt: str) -> bool:
    """Formats other than PDF say which lines are headings; in a PDF, a heading is set larger or bold."""
    if line.heading or fmt != "pdf":
        return bool(line.heading)
    text = line.text.strip()
    words = text.split()
    if not words or len(words) > 14 or _TERMINAL.search(text) or text.endswith(",") or not re.search("[A-Za-z]", text):
        return False
    if _BULLET.match(text) or text[0].islower():
        return False
    if re.search(r"[.!?]\s+\S", _NUMBERED.sub("", text)):
        return False  # a run-in heading: "5.1.2 Risk not assessed. In four reviews ..." is a paragraph
    larger = body and line.size >= body + 1.2
    return bool(larger or (line.bold and not _RECOMMENDATION.match(text)))


def _continues_heading(first: Line, line: Line) -> bool:
    return (first.page == line.page and first.size == line.size and first.size > 0
            and 0 <= line.top - first.bottom < 0.6 * first.size)


def _starts_paragraph(line: Line, prev: Line | None, para: _Paragraph, fmt: str, body: float) -> bool:
    if prev is None:
        return True
    if fmt != "pdf":
        # a blank line inside a sentence is a page break in text pasted from a PDF, not a new paragraph
        return line.starts_block and not (runs_on(prev.text, line.text) and not prev.heading)
    text = line.text
    if _LIST_START.match(text):
        return True
    prev_ends = bool(_TERMINAL.search(prev.text.rstrip()))
    moved_on = line.page != prev.page or line.top < prev.top - 1  # a new page or column
    if moved_on:
        return not runs_on(prev.text, text)
    size = prev.size or body or 10.0
    gap = line.top - prev.bottom
    if gap > 0.5 * size:
        return True
    if len(para.lines) < 2:
        return False  # one line says nothing yet about the paragraph's margins (hanging indents)
    left = min(ln.x0 for ln in para.lines[1:])
    right = max(ln.x1 for ln in para.lines)
    if prev_ends and line.x0 > left + 0.8 * size:  # first-line indent
        return True
    if prev_ends and prev.x1 < right - 0.15 * max(right - left, 1):
        return True  # the previous line stopped short: the paragraph ended there
    return False


_DANGLING = re.compile(r"\b(the|a|an|of|on|to|and|or|in|with|by|for|from|at|either|that|which|whose|as|is|"
                       r"are|was|were|be|been|their|his|her|its|this|these|than)$", re.I)


def runs_on(before: str, after: str) -> bool:
    """Does `after` continue the sentence that `before` leaves unfinished?"""
    before = before.rstrip()
    if _TERMINAL.search(before):
        return False
    return after[:1].islower() or bool(_DANGLING.search(before)) or before.endswith(",")


def _merge_lists(paragraphs: list[_Paragraph]) -> list[_Paragraph]:
    """Bullets under a lead-in ("... found that:") belong with it: one passage, not six scraps."""
    out: list[_Paragraph] = []
    for para in paragraphs:
        prev = out[-1] if out else None
        if (prev is not None and para.row is None and prev.row is None and _BULLET.match(para.text)
                and not paragraph_label(para.text)
                and prev.section == para.section
                and (prev.text.rstrip().endswith((":", ";")) or _BULLET.search(prev.text.split("\n")[-1]) or
                     "\n" in prev.text)
                and len(prev.text.split()) + len(para.text.split()) <= MAX_WORDS):
            prev.text = prev.text + "\n" + para.text
            prev.lines.extend(para.lines)
            continue
        out.append(para)
    return out


# ---- long paragraphs ------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        candidate = text[start:m.start()].rstrip()
        if _ABBREVIATIONS.search(candidate):
            continue
        parts.append(text[start:m.end()].strip())
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def split_long(text: str) -> list[str]:
    """A paragraph of at most MAX_WORDS words stays whole; a longer one splits at sentence ends."""
    if len(text.split()) <= MAX_WORDS:
        return [text]
    pieces, current = [], []
    count = 0
    for sentence in sentences(text):
        n = len(sentence.split())
        if current and count + n > TARGET_WORDS:
            pieces.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        if pieces and count < 25:  # no tiny tail: give it to the piece before
            pieces[-1] = pieces[-1] + " " + " ".join(current)
        else:
            pieces.append(" ".join(current))
    return pieces


# ---- tables ---------------------------------------------------------------------------


class _TableHeaders:
    """Knows the current table's column names, across page breaks where the header repeats."""

    def __init__(self) -> None:
        self.header: list[str] | None = None
        self.in_table = False

    def interrupted(self) -> None:
        self.in_table = False

    def cells(self, row: dict) -> dict[str, str] | None:
        """The row as {column: value}, or None for a header row."""
        if not all(isinstance(k, int) for k in row):  # the source named the columns itself (Markdown)
            return {str(k): str(v).strip() for k, v in row.items() if str(v).strip()}
        values = [str(v).strip() for v in row.values()]
        starting, self.in_table = not self.in_table, True
        if self.header and values == self.header:
            return None  # the header repeated at the top of a continued table
        if starting:
            if _looks_like_header(values):
                self.header = values
                return None
            if not (self.header and len(self.header) == len(values)):
                self.header = None  # a new table without a header row
        names = self.header or []
        return {(names[i] if i < len(names) and names[i] else f"Column {i + 1}"): v
                for i, v in enumerate(values) if v}


def _looks_like_header(values: list[str]) -> bool:
    return all(v and len(v.split()) <= 5 and not v.endswith(".") for v in values)


def _row_passage(para: _Paragraph, seq: int) -> Passage:
    cells = para.row or {}
    text = "\n".join(f"{k}: {v}" for k, v in cells.items())
    first = next(iter(cells.values()), "")
    label = first if re.fullmatch(r"(R|Rec\.?\s*)?\d{1,3}(\.\d{1,3})?", first, re.I) else ""
    return Passage(seq=seq, text=text, page=para.page, page_end=para.page_end, section=para.section,
                   kind="table_row", label=label, cells=cells)
