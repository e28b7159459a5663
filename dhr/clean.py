"""Stage 2: take away what printing added.

Published PDFs repeat a running header and footer on every page ("OFFICIAL", the
report's title, "Page 3 of 40"), number their pages, and break words across lines.
None of that is the report's text. This module removes the repeated lines and page
numbers, and knows how to join a word hyphenated at a line end.
"""
from __future__ import annotations

import re
from collections import Counter

from .extract import Line, RawDocument

MARGIN = 0.12          # share of the page height at top and bottom where running lines live
EDGE_LINES = 3         # how many lines from each end of a page may be running lines
_PAGE_NUMBER = re.compile(
    r"^(page\s*)?[-\u2013(]?\s*(\d{1,4}|[ivxlc]{1,6})\s*[-\u2013)]?(\s*(of|/)\s*\d{1,4})?$", re.I
)
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
# Prefixes that stay hyphenated in British public-sector prose when a line break splits them.
_KEEP_HYPHEN_AFTER = {"multi", "non", "co", "cross", "self", "well", "ex", "anti"}


def shape(text: str) -> str:
    """A line with its digits folded, so "Page 3 of 40" and "Page 4 of 40" look alike."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", text.strip().lower()))


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text.strip()))


def remove_running_lines(doc: RawDocument) -> RawDocument:
    """Drop headers, footers and page numbers from a PDF's pages, in place."""
    if doc.format != "pdf":
        return doc
    height = doc.page_height or 842.0
    candidates = [_edge_lines(page, height) for page in doc.pages]
    seen = Counter(s for edge in candidates for s in {shape(ln.text) for ln in edge})
    pages_with_text = sum(1 for p in doc.pages if p)
    threshold = max(2, int(0.4 * pages_with_text + 0.5))
    running = {s for s, n in seen.items() if n >= threshold}
    for page, edge in zip(doc.pages, candidates):
        drop = {id(ln) for ln in edge if shape(ln.text) in running or is_page_number(ln.text)}
        page[:] = [ln for ln in page if id(ln) not in drop]
    return doc


def _edge_lines(page: list[Line], height: float) -> list[Line]:
    """The few lines nearest the top and bottom edges, by position, not by reading order:
    on a two-column page a running header is read as part of the left column."""
    text_lines = [ln for ln in page if ln.row is None]
    head = sorted((ln for ln in text_lines if ln.top < height * MARGIN), key=lambda ln: ln.top)[:EDGE_LINES]
    tail = sorted((ln for ln in text_lines if ln.bottom > height * (1 - MARGIN)), key=lambda ln: -ln.bottom)
    return head + [ln for ln in tail[:EDGE_LINES] if ln not in head]


def vocabulary(doc: RawDocument) -> Counter:
    """Lower-cased words of the whole document, for deciding how to join hyphenated words."""
    counts: Counter = Counter()
    for page in doc.pages:
        for ln in page:
            words = _WORD.findall(ln.text)
            # a word split at the end of a line is not evidence of how the word is spelt
            if ln.text.rstrip().endswith("-") and words:
                words = words[:-1]
            counts.update(w.lower() for w in words)
    return counts


def join_lines(left: str, right: str, vocab: Counter) -> str:
    """Join two lines of one paragraph, undoing a line-end hyphenation where there was one."""
    left, right = left.rstrip(), right.lstrip()
    if left.endswith("\u00ad"):
        return left[:-1] + right
    m = re.search(r"([A-Za-z]+)-$", left)
    if m and right[:1].islower():
        head = m.group(1)
        tail = re.match(r"[A-Za-z]+", right)
        tail_word = tail.group(0) if tail else ""
        hyphenated = f"{head}-{tail_word}".lower()
        joined = f"{head}{tail_word}".lower()
        if vocab.get(hyphenated, 0) > vocab.get(joined, 0):
            return left + right
        if vocab.get(joined, 0) == 0 and head.lower() in _KEEP_HYPHEN_AFTER:
            return left + right
        return left[:-1] + right
    return f"{left} {right}" if left else right
