"""The search index: every passage in a Whoosh index, and the one search API used by the CLI and the app.

    from dhr.index import SearchIndex, QueryError
    idx = SearchIndex(data_dir)
    idx.update_from_store(store)
    res = idx.search('"non-fatal strangulation" agency:nhs_acute', {"year": (2018, 2024), "rec": True})
    for hit in res.hits: print(hit.title, hit.page, hit.snippet_html)

Layout on disk (``data_dir/index``)::

    CURRENT        JSON naming the live generation directory (replaced atomically)
    LOCK           held by whichever process is writing (update or rebuild)
    gen-0001/      a complete Whoosh index, plus dhr-view.npz: a binary copy of the per-passage
                   arrays below for its latest commit (ignored unless it matches that commit exactly)

Robustness
- Whoosh commits are atomic per writer: an update that crashes leaves the last commit in place.
- A full rebuild is written into a new ``gen-NNNN.tmp`` directory and only becomes live when
  ``CURRENT`` is replaced, so a crash mid-rebuild leaves the previous generation searchable.
  The previous generation is kept (readers may still have it open); older ones are removed.
- One writer at a time: a second writer gets :class:`IndexBusyError` instead of waiting or
  corrupting anything.

Speed
- Total counts and facet counts are computed with numpy over per-passage arrays (themes, agencies,
  addressees, type, area, year, recommendation flag) loaded once per index version from one
  Whoosh column (or, much faster, from the binary copy written with every commit), not with
  Whoosh's grouping (slow at scale). The facet parts of a query are
  evaluated on those arrays; only the text parts go to Whoosh.
- Relevance order: the match set is computed first (the mask above), then BM25F is computed with
  numpy for exactly those passages -- Whoosh's formula, idf, average field lengths and stored
  (byte-encoded) field lengths, summed per query node as Whoosh's matchers do -- and ranked by
  score, then docnum, as Whoosh ranks. Tests check the order and scores against Whoosh's own
  exhaustive search. Query parts this scorer does not model (sloppy phrases, spans) are scored by
  Whoosh's matchers stepped over the candidate passages only. (Whoosh's own top-N search with a
  limit skips posting blocks it judges unable to reach the top, and was seen to drop true top hits
  on a 2-segment index; the numpy ranking equals Whoosh's exhaustive one.) Year order is a numpy sort.
- Postings are read straight from Whoosh's posting blocks (ids and weights parsed out of the block
  pickle without unpickling the per-posting position lists) and kept per index version in a
  bounded LRU cache, so a common word costs tens of milliseconds once and nothing after.
- "More like this" builds the same key-term OR query as before and scores it the same way, over
  passage-sized arrays.
"""
from __future__ import annotations

import difflib
import html
import json
import math
import os
import pickle
import re
import shutil
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from whoosh import columns, fields, highlight, index as windex, qparser, query, scoring
from whoosh.analysis import BiWordFilter, IDTokenizer, LowercaseFilter, StemmingAnalyzer
from whoosh.analysis.filters import STOP_WORDS
from whoosh.index import LockError
from whoosh.util.filelock import FileLock

from . import config
from .config import write_atomic

__all__ = ["SearchIndex", "SearchResult", "Hit", "QueryError", "IndexBusyError", "FILTER_KEYS", "FACET_KEYS"]

#: Bump when the schema or what goes into it changes: an older index is rebuilt by update_from_store.
INDEX_VERSION = 1

FACET_KEYS = ("theme", "agency", "addressee", "type", "year", "area")
FILTER_KEYS = ("theme", "agency", "addressee", "type", "area", "year", "rec", "doc", "passage_ids")
SORTS = ("relevance", "year", "year_asc")

# Fields that hold tags or metadata: evaluated on in-memory arrays, never scored.
_MULTI = ("theme", "agency", "addressee")
_SINGLE = ("type", "area", "rec")
_FACET_FIELDS = set(_MULTI) | set(_SINGLE) | {"year", "doc_id", "passage_id"}
# Fields a user may name in a query, and friendly aliases for them.
_QUERY_FIELDS = ("text", "title", "section", "theme", "agency", "addressee", "type", "area", "year", "rec", "doc_id")
_FIELD_ALIASES = {
    "themes": "theme", "agencies": "agency", "addressees": "addressee", "doc_type": "type",
    "doctype": "type", "recommendation": "rec", "recs": "rec", "doc": "doc_id", "document": "doc_id",
}
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}

# Keep negations and "may" (the month): "not recognised", "did not share" are what reviews say.
_STOPLIST = frozenset(STOP_WORDS) - {"not", "no", "may", "can", "will"}
# Words as runs of letters/digits, keeping "A&E", "4.12" and "U.K" together.
_TOKEN_RE = r"\w+(?:[.&]\w+)*"


def _patch_whoosh_length_lookup() -> None:
    """Whoosh 2.7.4 looks for a field-length column file on disk (os.path.exists) for *every
    posting* of a field without lengths (keywords, ids, numbers), because it only caches the
    lookups that succeed. Segment files never change once written, so caching the misses too is
    safe; it makes indexing this schema several times faster."""
    from whoosh.codec import whoosh3

    cls = whoosh3.W3PerDocReader
    if getattr(cls, "_dhr_patched", False):
        return

    def _cached_reader(self, fieldname, column):
        try:
            return self._readers[fieldname]
        except KeyError:
            reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
            self._readers[fieldname] = reader
            return reader

    cls._cached_reader = _cached_reader
    cls._dhr_patched = True


_patch_whoosh_length_lookup()


class QueryError(ValueError):
    """A query (or filter) that cannot be understood; the message says how to fix it."""


class IndexBusyError(RuntimeError):
    """Another process is writing the index."""


# ---- results ------------------------------------------------------------------------

@dataclass
class Hit:
    passage_id: str
    doc_id: str
    title: str
    year: int | None
    area: str
    doc_type: str
    page: int
    section: str
    text: str
    snippet_html: str
    themes: list[str] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)
    addressees: list[str] = field(default_factory=list)
    is_recommendation: bool = False
    label: str = ""
    score: float = 0.0
    page_end: int | None = None
    seq: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    page_size: int
    page_count: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]
    suggestion: str | None = None
    sort: str = "relevance"
    filters: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    took_ms: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["facets"] = {k: [[v, n] for v, n in vals] for k, vals in self.facets.items()}
        if isinstance(d["filters"].get("year"), tuple):
            d["filters"]["year"] = list(d["filters"]["year"])
        return d


# ---- schema -------------------------------------------------------------------------

def _text_analyzer():
    return StemmingAnalyzer(expression=_TOKEN_RE, stoplist=_STOPLIST, minsize=1)


def _bigram_analyzer():
    """Adjacent pairs of the text field's tokens ("non fatal", "fatal strangul"): phrase searches
    become term lookups instead of Whoosh's slow position matching."""
    return _text_analyzer() | BiWordFilter(sep=" ")


def _lower_id():
    return IDTokenizer() | LowercaseFilter()


def make_schema() -> fields.Schema:
    text_an = _text_analyzer()
    return fields.Schema(
        passage_id=fields.ID(stored=True, unique=True),
        doc_id=fields.ID(stored=True),
        text=fields.TEXT(analyzer=text_an, stored=True, spelling=True),
        bigram=fields.TEXT(analyzer=_bigram_analyzer(), phrase=False),
        title=fields.TEXT(analyzer=text_an, stored=True, field_boost=0.5),
        section=fields.TEXT(analyzer=text_an, stored=True, field_boost=0.5),
        theme=fields.KEYWORD(lowercase=True, scorable=False),
        agency=fields.KEYWORD(lowercase=True, scorable=False),
        addressee=fields.KEYWORD(lowercase=True, scorable=False),
        type=fields.ID(analyzer=_lower_id()),
        area=fields.ID(analyzer=_lower_id()),
        year=fields.NUMERIC(int, bits=32, signed=False),
        rec=fields.ID(),
        page=fields.STORED(),
        page_end=fields.STORED(),
        seq=fields.STORED(),
        label=fields.STORED(),
        # one compact record per passage, read in one pass for facets and change detection
        meta=fields.COLUMN(columns.VarBytesColumn()),
    )


def _doc_fingerprint(doc: dict) -> str:
    """What must change for a document to be re-indexed: content/metadata, re-ingest, re-tagging."""
    return "|".join(str(x) for x in (INDEX_VERSION, doc.get("fingerprint"), doc.get("ingested_at"),
                                     doc.get("tagger_version") or ""))


def _passage_fields(p: dict, doc_fp: str) -> dict:
    themes = list(dict.fromkeys(t["id"] for t in p.get("themes") or [] if t.get("id")))
    agencies = list(dict.fromkeys(a["id"] for a in p.get("agencies") or [] if a.get("id")))
    addressees = list(dict.fromkeys(a for a in p.get("addressees") or [] if a))
    rec = "yes" if p.get("is_recommendation") else "no"
    year = p.get("year")
    year = int(year) if year not in (None, "") else None
    doc_type = p.get("doc_type") or ""
    area = p.get("area") or ""
    meta = [p["passage_id"], p["doc_id"], doc_fp, themes, agencies, addressees, doc_type, area, year or 0,
            rec == "yes", p.get("title") or ""]
    d = dict(
        passage_id=p["passage_id"], doc_id=p["doc_id"], text=p.get("text") or "", bigram=p.get("text") or "",
        title=p.get("title") or "", section=p.get("section") or "",
        theme=" ".join(themes), agency=" ".join(agencies), addressee=" ".join(addressees),
        rec=rec, page=p.get("page"), page_end=p.get("page_end"), seq=p.get("seq"),
        label=p.get("recommendation_label") or p.get("label") or "",
        meta=json.dumps(meta, separators=(",", ":")).encode("utf-8"),
    )
    if doc_type:
        d["type"] = doc_type
    if area:
        d["area"] = area
    if year:
        d["year"] = year
    return d


# ---- query text checks and rewrites ---------------------------------------------------

_YEAR_VALUE = re.compile(r"year:(?!\[|\{)(\S*)", re.I)
_REC_VALUE = re.compile(r"\brec:(?!\()(\S*)", re.I)
_FIELD_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*):(?=[^\s:])")
_BINARY = {"AND", "OR", "ANDNOT", "ANDMAYBE"}


def _split_quoted(q: str) -> list[tuple[bool, str]]:
    """[(is_quoted, segment)]; raises QueryError on an unclosed quote."""
    if q.count('"') % 2:
        raise QueryError('Unclosed quotation mark: add a closing " to finish the phrase.')
    parts = q.split('"')
    return [(i % 2 == 1, s) for i, s in enumerate(parts)]


def _year_range(value: str) -> str:
    v = value.strip().rstrip(")")
    tail = value[len(value.rstrip(")")):]
    m = re.fullmatch(r"(\d{4})?\s*(?:-|\.\.|–|to)\s*(\d{4})?", v) if v and not v.isdigit() else None
    if v.isdigit() and len(v) == 4:
        return f"year:[{v} TO {v}]{tail}"
    if m and (m.group(1) or m.group(2)):
        lo, hi = m.group(1) or "", m.group(2) or ""
        if lo and hi and int(lo) > int(hi):
            raise QueryError(f"year:{v}: the first year is after the second; write year:{hi}-{lo}.")
        return f"year:[{lo + ' ' if lo else ''}TO{' ' + hi if hi else ''}]{tail}"
    raise QueryError(f"year:{v or ''} is not a year: write year:2019, year:2018-2022, year:2018- or year:-2015.")


def _rewrite_unquoted(seg: str) -> str:
    def fieldname(m):
        name = m.group(1)
        low = name.lower()
        if low in _QUERY_FIELDS:
            return f"{low}:"
        if low in _FIELD_ALIASES:
            return f"{_FIELD_ALIASES[low]}:"
        close = difflib.get_close_matches(low, _QUERY_FIELDS + tuple(_FIELD_ALIASES), n=1)
        hint = f" Did you mean {close[0]}:?" if close else ""
        raise QueryError(
            f"Unknown field '{name}:'.{hint} Fields: {', '.join(_QUERY_FIELDS)}. "
            f'To search for text containing a colon, put it in quotes: "{name}:...".'
        )

    seg = _FIELD_NAME.sub(fieldname, seg)
    seg = _YEAR_VALUE.sub(lambda m: _year_range(m.group(1)), seg)

    def rec(m):
        v = m.group(1).rstrip(")")
        tail = m.group(1)[len(v):]
        if v.lower() in _TRUE:
            return "rec:yes" + tail
        if v.lower() in _FALSE:
            return "rec:no" + tail
        raise QueryError(f"rec:{v} is not understood: write rec:yes (recommendations only) or rec:no.")

    return _REC_VALUE.sub(rec, seg)


def _check_structure(segments: list[tuple[bool, str]]) -> None:
    """Balanced parentheses and operators with something on each side."""
    toks: list[str] = []
    for quoted, seg in segments:
        if quoted:
            toks.append("TERM")
            continue
        for t in re.findall(r"\(|\)|[^\s()]+", seg):
            if t in ("(", ")") or t in _BINARY or t == "NOT":
                toks.append(t)
            elif re.fullmatch(r"\w+:", t):
                toks.append("FIELD")
            else:
                toks.append("TERM")
    depth = 0
    prev = None
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t == "(":
            depth += 1
            if nxt == ")":
                raise QueryError("Empty brackets '()': put search terms inside them or remove them.")
        elif t == ")":
            depth -= 1
            if depth < 0:
                raise QueryError("Unbalanced brackets: a ')' has no matching '('.")
        elif t in _BINARY:
            if prev in (None, "(", "NOT", "FIELD") or prev in _BINARY:
                raise QueryError(f"'{t}' needs a search term before it, as in: strangulation {t} choking.")
            if nxt in (None, ")") or nxt in _BINARY:
                raise QueryError(f"'{t}' needs a search term after it, as in: strangulation {t} choking.")
        elif t == "NOT":
            if nxt in (None, ")") or nxt in _BINARY:
                raise QueryError("'NOT' needs a search term after it, as in: strangulation NOT hospital.")
        elif t == "FIELD":
            if nxt not in ("TERM", "("):
                raise QueryError("A field name needs a value right after the colon, as in theme:missed_risk.")
        prev = t
    if depth > 0:
        raise QueryError("Unbalanced brackets: a '(' is never closed; add ')'.")


def normalise_query(q: str) -> str:
    """Check a query string and rewrite dhr's shorthands (year ranges, rec:yes, field aliases) into
    Whoosh syntax. Raises QueryError with a helpful message when the query is malformed."""
    q = " ".join((q or "").split())
    if not q:
        return ""
    segments = _split_quoted(q)
    _check_structure(segments)
    out = []
    for quoted, seg in segments:
        out.append(f'"{seg}"' if quoted else _rewrite_unquoted(seg))
    return "".join(out)


# ---- highlighting ---------------------------------------------------------------------

class _MarkFormatter(highlight.Formatter):
    """Report text HTML-escaped; only the matched words wrapped in <mark>."""

    between = " … "

    def _text(self, text):
        return html.escape(text, quote=True)

    def format_token(self, text, token, replace=False):
        return "<mark>" + html.escape(highlight.get_text(text, token, replace), quote=True) + "</mark>"

    def format_fragment(self, fragment, replace=False):
        body = super().format_fragment(fragment, replace=replace)
        text = fragment.text
        if any(c.isalnum() for c in text[:fragment.startchar]):
            body = "…" + body.lstrip()
        else:
            body = html.escape(text[:fragment.startchar], quote=True) + body
        if any(c.isalnum() for c in text[fragment.endchar:]):
            body = body.rstrip() + "…"
        else:
            body += html.escape(text[fragment.endchar:], quote=True)
        return body


def _plain_snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return html.escape(text, quote=True)
    cut = text[:limit].rsplit(" ", 1)[0]
    return html.escape(cut, quote=True) + "…"


def snippet_for_terminal(snippet_html: str, color: bool = True) -> str:
    """A snippet for a terminal: marks become reverse video (or **word** without colour)."""
    on, off = ("\x1b[1;7m", "\x1b[0m") if color else ("**", "**")
    s = snippet_html.replace("<mark>", on).replace("</mark>", off)
    return html.unescape(s)


# ---- fast postings and numpy BM25F ------------------------------------------------------
#
# Whoosh scores in Python, one posting at a time, and evaluates filters (a year range is an OR of
# numeric terms) the same way: at 200,000 passages a filtered query cost ~0.5 s. Here the match
# set is computed first (numpy masks), then BM25F is computed with numpy for exactly those
# passages, with Whoosh's own formula, statistics (idf, average field length) and the lossy field
# lengths Whoosh stores, so the scores and the order (score, then docnum) are Whoosh's. Parts of a
# query this scorer does not model (sloppy phrases, spans, Every...) are scored by Whoosh's own
# matchers, stepped only over the candidate passages.

_OP_MARK, _OP_TUPLE, _OP_M, _OP_J, _OP_G, _OP_NONE = 0x28, 0x74, 0x4D, 0x4A, 0x47, 0x4E


def _parse_posting_block(raw: bytes, n: int):
    """(id gaps, weights) from a Whoosh 3 posting block pickle without unpickling its values (the
    per-posting position lists, which make ``pickle.loads`` slow): gaps as a list of ints, weights
    as None (all 1.0), one float (all equal) or a tuple. Returns None for any layout this reader
    does not recognise; the caller then unpickles the block."""
    if n < 4 or raw[:3] != b"\x80\x02(":
        return None
    pos = 3
    out: list[int] = []
    while len(out) < n:
        rest = n - len(out)
        # a run of one-byte gaps ("K" opcodes) is copied in one step
        lead = rest - len(raw[pos:pos + 2 * rest:2].lstrip(b"K"))
        if lead:
            out += raw[pos + 1:pos + 2 * lead:2]
            pos += 2 * lead
            continue
        op = raw[pos]
        if op == _OP_M:
            out.append(raw[pos + 1] | (raw[pos + 2] << 8))
            pos += 3
        elif op == _OP_J:
            out.append(int.from_bytes(raw[pos + 1:pos + 5], "little", signed=True))
            pos += 5
        else:
            return None
    if raw[pos] != _OP_TUPLE:
        return None
    pos += 1
    if raw[pos] == 0x71:  # BINPUT
        pos += 2
    elif raw[pos] == 0x72:  # LONG_BINPUT
        pos += 5
    op = raw[pos]
    if op == _OP_NONE:
        return out, None
    if op == _OP_G:
        return out, _unpack_floats(1, raw, pos)[0]
    end = pos + 1 + 9 * n
    if op != _OP_MARK or len(raw) <= end or raw[pos + 1:end:9] != _G_RUN[:n] or raw[end] != _OP_TUPLE:
        return None
    return out, _unpack_floats(n, raw, pos + 1)


_G_RUN = b"G" * 4096
_FLOAT_STRUCTS: dict[int, Any] = {}


def _unpack_floats(n: int, raw: bytes, offset: int) -> tuple:
    st = _FLOAT_STRUCTS.get(n)
    if st is None:
        import struct

        st = _FLOAT_STRUCTS[n] = struct.Struct(">" + "xd" * n)  # skip each BINFLOAT opcode
    return st.unpack_from(raw, offset)


def _leaf_postings(sub, fieldname: str, btext: bytes, fmt) -> tuple[np.ndarray, np.ndarray]:
    """All (local docnums, weights) of one term in one segment, deleted documents included."""
    from whoosh.codec.whoosh3 import W3LeafMatcher

    m = sub._terms.matcher(fieldname, btext, fmt)
    if not isinstance(m, W3LeafMatcher) or m._byteids:  # another codec: the slow, general way
        ids, ws = [], []
        while m.is_active():
            ids.append(m.id())
            ws.append(m.weight())
            m.next()
        return np.array(ids, dtype=np.int64), np.array(ws, dtype=np.float64)
    # Each block's ids are gaps from 0; rebased on the previous block's last id (its maxid), all
    # blocks' gaps become one sequence that a single cumsum decodes.
    gaps: list[int] = []
    weights: list[float] = []
    last = 0
    while True:
        n = m._blocklength
        raw = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
        if m._compression:
            raw = zlib.decompress(raw)
        try:
            parsed = _parse_posting_block(raw, n)
        except (IndexError, ValueError, TypeError):  # malformed for this reader: unpickle instead
            parsed = None
        if parsed is None:
            data = pickle.loads(raw)
            parsed = (list(data[0]), data[1])
        g, w = parsed
        g[0] -= last
        gaps += g
        if w is None:
            weights += [1.0] * n
        elif isinstance(w, (int, float)):
            weights += [float(w)] * n
        else:
            weights += w
        last = m._maxid
        if m._lastblock:
            break
        m._next_block()
    return np.cumsum(np.array(gaps, dtype=np.int64)), np.array(weights, dtype=np.float64)


class _Unsupported(Exception):
    """A query node the numpy scorer does not model: Whoosh scores it."""


def _bm25_array(idf: float, tf: np.ndarray, fl: np.ndarray, avgfl: float, B: float, K1: float) -> np.ndarray:
    # whoosh.scoring.bm25, element-wise, with the same operations in the same order
    return idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))


# ---- the per-passage arrays and their binary copy ---------------------------------------
#
# Opening an index version reads one JSON record per passage (the ``meta`` column) into numpy
# arrays: seconds at 200,000 passages. Each committed version therefore also gets a compact binary
# copy of those arrays (``VIEW_CACHE`` in the generation directory, an uncompressed .npz written to
# a temporary file and renamed into place). It records the state it was made from -- the generation
# directory, Whoosh's commit number (TOC generation), every segment's id, size and deletion count,
# and the live-document bitmap -- and is used only when all of these equal the index being opened;
# anything else (stale, truncated, corrupt, another format) is ignored and the arrays are built from
# the stored column as before (and the copy rewritten).

#: the binary copy of the per-passage arrays, one per generation directory (not a Whoosh file name)
VIEW_CACHE = "dhr-view.npz"
#: bump when what the copy holds, or how, changes
VIEW_CACHE_FORMAT = 1


class _Ragged:
    """Per passage, its values of one multi-valued field (a list in stored order; None for a
    passage without a record), from one flat array of vocabulary codes and offsets."""

    __slots__ = ("vocab", "values", "offsets", "has")

    def __init__(self, vocab: list[str], values: np.ndarray, offsets: np.ndarray, doc_codes: np.ndarray):
        self.vocab, self.values, self.offsets, self.has = vocab, values, offsets, doc_codes

    def __len__(self) -> int:
        return len(self.has)

    def __getitem__(self, docnum: int) -> list[str] | None:
        if self.has[docnum] < 0:
            return None
        vocab = self.vocab
        return [vocab[i] for i in self.values[self.offsets[docnum]:self.offsets[docnum + 1]].tolist()]


def _live_docs(reader, n: int) -> np.ndarray:
    """True for every docnum not deleted: from each segment's deleted set (asking the reader about
    each document costs a quarter of a second at 200,000 passages)."""
    live = np.zeros(n, dtype=bool)
    if not n:
        return live
    for sub, offset in reader.leaf_readers():
        count = sub.doc_count_all()
        seg = sub.segment() if hasattr(sub, "segment") else None
        if seg is None or not hasattr(seg, "deleted_docs"):
            ids = np.fromiter(sub.all_doc_ids(), dtype=np.int64)
            live[offset + ids] = True
            continue
        live[offset:offset + count] = True
        if seg.has_deletions():
            dead = np.fromiter(seg.deleted_docs(), dtype=np.int64)
            dead = dead[(dead >= 0) & (dead < count)]
            live[offset + dead] = False
    return live


def _arrays_from_meta(reader, n: int, live: np.ndarray) -> dict:
    """The compact per-passage arrays, built from the stored ``meta`` column (one JSON record per
    passage; deleted passages skipped)."""
    pids: list[str | None] = [None] * n
    title_vocab: dict[str, int] = {}
    title_codes = np.zeros(n, dtype=np.int32)
    doc_fp: dict[str, str] = {}
    year = np.zeros(n, dtype=np.int32)
    multi_flat: dict[str, list[str]] = {k: [] for k in _MULTI}
    multi_counts = {k: np.zeros(n, dtype=np.int64) for k in _MULTI}
    single_vocab: dict[str, dict[str, int]] = {k: {} for k in _SINGLE}
    single_codes = {k: np.full(n, -1, dtype=np.int32) for k in _SINGLE}
    doc_vocab: dict[str, int] = {}
    doc_codes = np.full(n, -1, dtype=np.int32)
    if n and reader.has_column("meta"):
        col = reader.column_reader("meta")
        loads = json.loads
        for docnum, raw in enumerate(col):
            if not raw or not live[docnum]:
                continue
            pid, doc_id, fp, th, ag, ad, dtype, area, yr, rec, title = loads(raw)
            pids[docnum] = pid
            title_codes[docnum] = title_vocab.setdefault(title, len(title_vocab))
            doc_fp[doc_id] = fp
            doc_codes[docnum] = doc_vocab.setdefault(doc_id, len(doc_vocab))
            year[docnum] = yr or 0
            for key, vals in (("theme", th), ("agency", ag), ("addressee", ad)):
                if vals:
                    multi_flat[key] += vals
                    multi_counts[key][docnum] = len(vals)
            for key, v in (("type", dtype), ("area", area), ("rec", "yes" if rec else "no")):
                if v:
                    single_codes[key][docnum] = single_vocab[key].setdefault(v, len(single_vocab[key]))
    keys = np.array([p or "" for p in pids], dtype=object)
    doc_order = np.empty(n, dtype=np.int64)
    doc_order[np.argsort(keys, kind="stable")] = np.arange(n)
    data: dict[str, Any] = {"year": year, "doc_codes": doc_codes, "doc_order": doc_order, "title_codes": title_codes}
    multi_vocab = {}
    for key in _MULTI:
        vocab = sorted(set(multi_flat[key]))
        code = {v: i for i, v in enumerate(vocab)}
        data[f"mv_{key}"] = np.array([code[v] for v in multi_flat[key]], dtype=np.int32)
        data[f"mo_{key}"] = np.concatenate(([0], np.cumsum(multi_counts[key]))).astype(np.int64)
        multi_vocab[key] = vocab
    for key in _SINGLE:
        data[f"s_{key}"] = single_codes[key]
    data["strings"] = {
        "pids": pids, "titles": list(title_vocab), "doc_vocab": list(doc_vocab),
        "doc_fp": [doc_fp[d] for d in doc_vocab], "multi_vocab": multi_vocab,
        "single_vocab": {k: list(single_vocab[k]) for k in _SINGLE},
    }
    return data


def _cache_key(reader, generation: str) -> dict:
    """What a binary copy must have been made from to be used for this reader."""
    segments = []
    for sub, offset in reader.leaf_readers():
        seg = sub.segment() if hasattr(sub, "segment") else None
        segments.append([seg.segment_id() if seg is not None else type(sub).__name__, int(offset),
                         int(sub.doc_count_all()), int(seg.deleted_count()) if seg is not None else -1])
    return {"format": VIEW_CACHE_FORMAT, "index_version": INDEX_VERSION, "generation": generation,
            "toc": reader.generation(), "n": int(reader.doc_count_all()), "segments": segments}


def _write_view_cache(path, key: dict, live: np.ndarray, data: dict) -> None:
    """Write the binary copy atomically (temporary file, fsync, rename)."""
    arrays = {k: v for k, v in data.items() if k != "strings"}
    blob = json.dumps({"key": key, "strings": data["strings"]}, separators=(",", ":")).encode("utf-8")
    write_atomic(path, lambda f: np.savez(f, _json=np.frombuffer(blob, dtype=np.uint8), live=live, **arrays))


def _read_view_cache(path, key: dict, live: np.ndarray) -> dict | None:
    """The arrays from the binary copy, or None when it is missing, stale or damaged."""
    n = len(live)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["_json"].tobytes().decode("utf-8"))
            if meta.get("key") != key:
                return None
            if not np.array_equal(z["live"], live):
                return None
            data: dict[str, Any] = {k: z[k] for k in z.files if k not in ("_json", "live")}
        strings = meta["strings"]
        data["strings"] = strings
        for k, dt in (("year", np.int32), ("doc_codes", np.int32), ("doc_order", np.int64),
                      ("title_codes", np.int32), *((f"s_{k}", np.int32) for k in _SINGLE)):
            a = data[k]
            if a.dtype != dt or a.shape != (n,):
                return None
        if len(strings["pids"]) != n or len(strings["doc_fp"]) != len(strings["doc_vocab"]):
            return None
        if n and (data["doc_codes"].max() >= len(strings["doc_vocab"])
                  or data["title_codes"].max(initial=0) >= max(1, len(strings["titles"]))
                  or data["title_codes"].min() < 0):
            return None
        order = data["doc_order"]
        if n and (order.min() < 0 or order.max() >= n or np.bincount(order, minlength=n).max() != 1):
            return None  # not a permutation
        for k in _SINGLE:
            codes = data[f"s_{k}"]
            if n and (codes.min() < -1 or codes.max() >= len(strings["single_vocab"][k])):
                return None
        for k in _MULTI:
            values, offsets = data[f"mv_{k}"], data[f"mo_{k}"]
            if values.dtype != np.int32 or offsets.dtype != np.int64 or offsets.shape != (n + 1,):
                return None
            if offsets[0] != 0 or offsets[-1] != len(values) or (np.diff(offsets) < 0).any():
                return None
            if len(values) and (values.min() < 0 or values.max() >= len(strings["multi_vocab"][k])):
                return None
        return data
    except Exception:  # missing, truncated, not an npz, bad JSON, missing member...: rebuild instead
        return None


# ---- the in-memory view of one index version ------------------------------------------

class _View:
    """A searcher plus per-passage arrays for facets, filters and change detection."""

    def __init__(self, ix, generation: str, cache_path: str | os.PathLike | None = None):
        self.ix = ix
        self.generation = generation
        self.searcher = ix.searcher(weighting=scoring.BM25F())
        self._postings: OrderedDict = OrderedDict()
        self._postings_bytes = 0
        self._lengths: dict[str, np.ndarray] = {}
        self._stats: dict = {}
        self.schema = ix.schema
        reader = self.searcher.reader()
        n = reader.doc_count_all()
        self.n = n
        self.live = live = _live_docs(reader, n)
        #: "cache" when the arrays came from the binary copy, "meta" when built from the stored column
        self.loaded_from = "meta"
        data = None
        key = _cache_key(reader, generation) if (cache_path is not None and n) else None
        if key is not None:
            data = _read_view_cache(cache_path, key, live)
            if data is not None:
                self.loaded_from = "cache"
        if data is None:
            data = _arrays_from_meta(reader, n, live)
            # written only for the latest commit: a reader of an older commit must not replace the
            # copy of a newer one (it would still be ignored as stale, but cost the next open a rebuild)
            if key is not None and self.searcher.up_to_date():
                try:
                    _write_view_cache(cache_path, key, live, data)
                except OSError:  # a read-only index directory: the arrays still work, just not cached
                    pass
        self._install(data)

    def _install(self, data: dict) -> None:
        """Set the per-passage attributes from the compact arrays (see ``_arrays_from_meta``)."""
        n = self.n
        strings = data["strings"]
        self.pids: list[str | None] = strings["pids"]
        title_vocab = strings["titles"]
        self.titles: list[str] = [title_vocab[c] for c in data["title_codes"].tolist()]
        self.year = data["year"]
        self.doc_codes = data["doc_codes"]
        self.doc_vocab: list[str] = strings["doc_vocab"]
        self.doc_fp: dict[str, str] = dict(zip(self.doc_vocab, strings["doc_fp"]))
        counts = np.bincount(self.doc_codes[self.doc_codes >= 0], minlength=len(self.doc_vocab))
        self.doc_passages: dict[str, int] = dict(zip(self.doc_vocab, counts.tolist()))
        # multi-valued facets: one boolean row per value; per passage, its values in stored order
        self.multi: dict[str, tuple[list[str], np.ndarray]] = {}
        self.per_doc_multi: dict[str, _Ragged] = {}
        for key in _MULTI:
            vocab = strings["multi_vocab"][key]
            values, offsets = data[f"mv_{key}"], data[f"mo_{key}"]
            mat = np.zeros((len(vocab), n), dtype=bool)
            if len(values):
                mat[values, np.repeat(np.arange(n), np.diff(offsets))] = True
            self.multi[key] = (vocab, mat)
            self.per_doc_multi[key] = _Ragged(vocab, values, offsets, self.doc_codes)
        self.single: dict[str, tuple[list[str], np.ndarray]] = {
            key: (strings["single_vocab"][key], data[f"s_{key}"]) for key in _SINGLE
        }
        # listing order: year (desc) then document order (passage ids sort by doc, then seq)
        self.doc_order = data["doc_order"]

    def close(self) -> None:
        try:
            self.searcher.close()
        except Exception:
            pass

    def up_to_date(self) -> bool:
        return self.searcher.up_to_date()

    # -- boolean evaluation of a query tree into a docnum mask --

    def mask(self, q) -> np.ndarray:
        return self._mask(q) & self.live

    def _mask(self, q) -> np.ndarray:
        n = self.n
        if isinstance(q, query.qcore._NullQuery):
            return np.zeros(n, dtype=bool)
        if isinstance(q, query.Every) and q.fieldname in (None, "text", "passage_id", "doc_id"):
            return self.live.copy()
        if isinstance(q, query.And) or isinstance(q, query.Require):
            subs = q.subqueries if isinstance(q, query.And) else [q.a, q.b]
            m = np.ones(n, dtype=bool)
            for sub in subs:
                m &= self._mask(sub)
            return m
        if isinstance(q, query.Or) and not getattr(q, "minmatch", 0) > 1 or isinstance(q, query.DisjunctionMax):
            m = np.zeros(n, dtype=bool)
            for sub in q.subqueries:
                m |= self._mask(sub)
            return m
        if isinstance(q, query.Not):
            return ~self._mask(q.query)
        if isinstance(q, query.AndNot):
            return self._mask(q.a) & ~self._mask(q.b)
        if isinstance(q, query.AndMaybe):
            return self._mask(q.a)
        if isinstance(q, query.Term) and q.fieldname in self.multi:
            vocab, mat = self.multi[q.fieldname]
            want = str(q.text).lower()
            rows = [i for i, v in enumerate(vocab) if v.lower() == want]
            return mat[rows].any(axis=0) if rows else np.zeros(n, dtype=bool)
        if isinstance(q, query.Term) and q.fieldname in self.single:
            vocab, codes = self.single[q.fieldname]
            want = str(q.text).lower()
            ids = [i for i, v in enumerate(vocab) if v.lower() == want]
            return np.isin(codes, ids) if ids else np.zeros(n, dtype=bool)
        if isinstance(q, query.NumericRange) and q.fieldname == "year":
            m = self.year > 0
            if q.start is not None:
                m &= (self.year > q.start) if q.startexcl else (self.year >= q.start)
            if q.end is not None:
                m &= (self.year < q.end) if q.endexcl else (self.year <= q.end)
            return m
        if isinstance(q, query.Term) and not isinstance(q.text, bytes) or isinstance(q, (query.Prefix, query.Wildcard)):
            try:
                if isinstance(q, query.Term):
                    btexts = [self.schema[q.fieldname].to_bytes(q.text)]
                else:
                    btexts = list(q._btexts(self.searcher.reader()))
                m = np.zeros(self.n, dtype=bool)
                for bt in btexts:
                    ids = self._term_ids(q.fieldname, bt)
                    if len(ids):
                        m[ids] = True
                return m
            except Exception:
                pass
        return self._whoosh_mask(q)

    def _term_ids(self, fieldname: str, btext: bytes) -> np.ndarray:
        """All docnums of one term (deleted docs included: the caller masks them with `live`)."""
        return self.postings(fieldname, btext)[0]

    def _whoosh_mask(self, q) -> np.ndarray:
        m = np.zeros(self.n, dtype=bool)
        ids = np.fromiter(self.searcher.docs_for_query(q), dtype=np.int64)
        if len(ids):
            m[ids] = True
        return m

    # -- postings, field lengths and numpy scoring --

    #: bytes of decoded postings kept per index version (least recently used dropped first)
    POSTINGS_CACHE_BYTES = 256 * 1024 * 1024
    #: candidates above 1/DENSE_FRACTION of the index: terms are scored over all their postings
    #: into passage-sized arrays instead of being looked up candidate by candidate
    DENSE_FRACTION = 16

    def postings(self, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weights) of one term over the whole index (deleted documents included),
        decoded once and kept in a bounded LRU cache."""
        key = (fieldname, btext)
        cache = self._postings
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
        fmt = self.schema[fieldname].format
        ids_parts, w_parts = [], []
        for sub, offset in self.searcher.reader().leaf_readers():
            if (fieldname, btext) not in sub:
                continue
            ids, w = _leaf_postings(sub, fieldname, btext, fmt)
            ids_parts.append(ids + offset)
            w_parts.append(w)
        if ids_parts:
            ids = np.concatenate(ids_parts).astype(np.int32 if self.n < 2**31 else np.int64)
            w = np.concatenate(w_parts)
            w32 = w.astype(np.float32)
            if np.array_equal(w32, w):  # tf x field boost: exact in float32 (halves the memory)
                w = w32
        else:
            ids, w = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        cache[key] = (ids, w)
        self._postings_bytes += ids.nbytes + w.nbytes
        while self._postings_bytes > self.POSTINGS_CACHE_BYTES and len(cache) > 1:
            _, (i, ww) = cache.popitem(last=False)
            self._postings_bytes -= i.nbytes + ww.nbytes
        return ids, w

    def field_lengths(self, fieldname: str) -> np.ndarray:
        """Every passage's length of a field as Whoosh's scorers see it (the byte-encoded lengths
        stored in the segment, decoded; 0 where the document has none)."""
        out = self._lengths.get(fieldname)
        if out is not None:
            return out
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
        from whoosh.util.numeric import byte_to_length

        table = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
        table[0] = 0.0
        codes = np.zeros(self.n, dtype=np.uint8)
        for sub, offset in self.searcher.reader().leaf_readers():
            col = sub._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN) if hasattr(sub, "_perdoc") else None
            if col is None:
                continue
            count = min(getattr(col, "_count", 0), sub.doc_count_all())
            if getattr(col, "_fixedlen", None) == 1 and count:
                raw = col._dbfile.get(col._basepos, count)
                codes[offset:offset + count] = np.frombuffer(raw, dtype=np.uint8)
            else:
                codes[offset:offset + sub.doc_count_all()] = np.fromiter(
                    (col[i] for i in range(sub.doc_count_all())), dtype=np.uint8)
        out = table[codes]
        self._lengths[fieldname] = out
        return out

    def _term_stats(self, fieldname: str, btext: bytes):
        key = (fieldname, btext)
        st = self._stats.get(key)
        if st is None:
            s = self.searcher
            w = s.weighting
            st = (w.idf(s, fieldname, btext), s.avg_field_length(fieldname) or 1,
                  w._field_B.get(fieldname, w.B), w.K1)
            self._stats[key] = st
        return st

    def score(self, q, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(matches, BM25F scores) of query ``q`` for the sorted docnums ``cand``."""
        return self._score(q, np.asarray(cand, dtype=np.int64))

    def _score(self, q, cand):
        k = len(cand)
        if not k or isinstance(q, query.qcore._NullQuery):
            return np.zeros(k, dtype=bool), np.zeros(k)
        try:
            return self._score_node(q, cand)
        except _Unsupported:
            return self._whoosh_score(q, cand)

    def _score_node(self, q, cand):
        k = len(cand)
        boost = getattr(q, "boost", 1.0)
        if isinstance(q, query.Term) and not isinstance(q.text, bytes):
            fieldname = q.fieldname
            if fieldname not in self.schema:
                return np.zeros(k, dtype=bool), np.zeros(k)
            if fieldname in self.multi or fieldname in self.single:
                # tags: one posting of weight 1 per passage (values are de-duplicated)
                match = self._mask(q)[cand]
                s = match.astype(np.float64)
            else:
                try:
                    btext = self.schema[fieldname].to_bytes(q.text)
                except ValueError:
                    return np.zeros(k, dtype=bool), np.zeros(k)
                ids, w = self.postings(fieldname, btext)
                match, s = np.zeros(k, dtype=bool), np.zeros(k)
                if len(ids) and k:
                    field = self.schema[fieldname]
                    if k * self.DENSE_FRACTION > self.n:  # many candidates: score every posting
                        docs, tf = ids, w.astype(np.float64)
                    else:  # few candidates: look them up in the postings
                        pos = np.searchsorted(ids, cand)
                        pos[pos >= len(ids)] = len(ids) - 1
                        match = ids[pos] == cand
                        docs, tf = cand[match], w[pos[match]].astype(np.float64)
                    if field.scorable:
                        idf, avgfl, B, K1 = self._term_stats(fieldname, btext)
                        vals = _bm25_array(idf, tf, self.field_lengths(fieldname)[docs], avgfl, B, K1)
                    else:
                        vals = tf
                    if k * self.DENSE_FRACTION > self.n:
                        dense_m = np.zeros(self.n, dtype=bool)
                        dense_s = np.zeros(self.n)
                        dense_m[docs] = True
                        dense_s[docs] = vals
                        match, s = dense_m[cand], dense_s[cand]
                    else:
                        s[match] = vals
            if boost != 1.0:
                s = s * boost
            return match, s
        if isinstance(q, query.NumericRange) and q.fieldname == "year" and q.constantscore:
            match = self._mask(q)[cand]
            return match, np.where(match, float(boost), 0.0)
        if isinstance(q, (query.Prefix, query.Wildcard, query.FuzzyTerm, query.Variations)) and type(q).matcher in (
                query.MultiTerm.matcher, query.Prefix.matcher, query.Wildcard.matcher):
            if not q.text or (isinstance(q, query.Wildcard) and q.text.strip("*") == ""):
                raise _Unsupported
            return self._score_expanded(q, cand, boost)
        if isinstance(q, query.And):
            match, s = np.ones(k, dtype=bool), np.zeros(k)
            for sub in q.subqueries:
                m2, s2 = self._score(sub, cand)
                match &= m2
                s = s + s2
            if boost != 1.0:
                s = s * boost
            return match, np.where(match, s, 0.0)
        if isinstance(q, query.Or) and not getattr(q, "minmatch", 0) and not getattr(q, "scale", None):
            if k * self.DENSE_FRACTION > self.n and all(self._plain_term(sub) for sub in q.subqueries):
                return self._score_or_of_terms(q, cand)
            match, s = np.zeros(k, dtype=bool), np.zeros(k)
            for sub in q.subqueries:
                m2, s2 = self._score(sub, cand)
                match |= m2
                s = s + np.where(m2, s2, 0.0)
            if boost != 1.0:
                s = s * boost
            return match, s
        if isinstance(q, query.DisjunctionMax) and not q.tiebreak:
            match, s = np.zeros(k, dtype=bool), np.zeros(k)
            for sub in q.subqueries:
                m2, s2 = self._score(sub, cand)
                s = np.where(m2 & (~match | (s2 > s)), s2, s)
                match |= m2
            if boost != 1.0:
                s = s * boost
            return match, s
        if isinstance(q, query.Not) and boost == 1.0:
            m2, _ = self._score(q.query, cand)
            match = ~m2
            return match, match.astype(np.float64)  # Whoosh's InverseMatcher scores 1.0
        if isinstance(q, query.AndNot):
            ma, sa = self._score(q.a, cand)
            mb, _ = self._score(q.b, cand)
            match = ma & ~mb
            return match, np.where(match, sa, 0.0)
        if isinstance(q, query.Require):
            ma, sa = self._score(q.a, cand)
            mb, _ = self._score(q.b, cand)
            match = ma & mb
            return match, np.where(match, sa, 0.0)
        if isinstance(q, query.AndMaybe):
            ma, sa = self._score(q.a, cand)
            mb, sb = self._score(q.b, cand)
            return ma, np.where(ma, sa + np.where(mb, sb, 0.0), 0.0)
        raise _Unsupported

    def _score_expanded(self, q, cand, boost):
        """A wildcard / prefix / fuzzy term, scored as Whoosh 2.7 scores it, segment by segment:
        the words it expands to in that segment become terms; one word is a plain term (without
        the boost); 2 words, or more in a segment of over 5,000 passages, are BM25F-scored and
        summed (times the boost); otherwise (a small segment, or 1,024+ words) every match scores
        1 (Whoosh's unscored array union)."""
        k = len(cand)
        match, s = np.zeros(k, dtype=bool), np.zeros(k)
        field = self.schema[q.fieldname]
        for sub, offset in self.searcher.reader().leaf_readers():
            lo, hi = np.searchsorted(cand, [offset, offset + sub.doc_count_all()])
            if lo == hi:
                continue
            words = [w for w in q._btexts(sub) if w]
            if not words:
                continue
            terms = [query.Term(q.fieldname, field.from_bytes(w) if isinstance(w, bytes) else w) for w in words]
            part = cand[lo:hi]
            if len(terms) == 1:
                m2, s2 = self._score(terms[0], part)
            elif len(terms) < query.Or.TOO_MANY_CLAUSES and (len(terms) == 2 or sub.doc_count_all() > 5000):
                m2, s2 = self._score(query.Or(terms, boost=boost), part)
            else:
                m2, _ = self._score(query.Or(terms), part)
                s2 = m2.astype(np.float64)
            match[lo:hi], s[lo:hi] = m2, s2
        return match, s

    def _plain_term(self, q) -> bool:
        return (type(q) is query.Term and not isinstance(q.text, bytes) and q.fieldname in self.schema
                and q.fieldname not in self.multi and q.fieldname not in self.single)

    def _score_or_of_terms(self, q, cand):
        """An OR of plain terms over most of the index (more-like-this): each term's postings are
        scored once and summed into passage-sized arrays, in the subqueries' order (as Whoosh
        sums them)."""
        total = np.zeros(self.n)
        hit = np.zeros(self.n, dtype=bool)
        for sub in q.subqueries:
            field = self.schema[sub.fieldname]
            try:
                btext = field.to_bytes(sub.text)
            except ValueError:
                continue
            ids, w = self.postings(sub.fieldname, btext)
            if not len(ids):
                continue
            tf = w.astype(np.float64)
            if field.scorable:
                idf, avgfl, B, K1 = self._term_stats(sub.fieldname, btext)
                vals = _bm25_array(idf, tf, self.field_lengths(sub.fieldname)[ids], avgfl, B, K1)
            else:
                vals = tf
            if sub.boost != 1.0:
                vals = vals * sub.boost
            total[ids] += vals
            hit[ids] = True
        match, s = hit[cand], total[cand]
        if q.boost != 1.0:
            s = s * q.boost
        return match, s

    def _whoosh_score(self, q, cand):
        """Whoosh's own matcher for ``q``, stepped over the candidate docnums only."""
        k = len(cand)
        match, s = np.zeros(k, dtype=bool), np.zeros(k)
        searcher = self.searcher
        subs = [(searcher, 0)] if searcher.is_atomic() else searcher.subsearchers
        context = searcher.context()
        for sub, offset in subs:
            lo, hi = np.searchsorted(cand, [offset, offset + sub.reader().doc_count_all()])
            if lo == hi:
                continue
            m = q.matcher(sub, context)
            for i in range(lo, hi):
                if not m.is_active():
                    break
                local = int(cand[i]) - offset
                if m.id() < local:
                    m.skip_to(local)
                    if not m.is_active():
                        break
                if m.id() == local:
                    match[i] = True
                    s[i] = m.score()
        return match, s

    # -- facets --

    def facets(self, mask: np.ndarray) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        idx = np.flatnonzero(mask)
        for key in _MULTI:
            vocab, mat = self.multi[key]
            if not vocab or not len(idx):
                out[key] = []
                continue
            counts = np.count_nonzero(mat[:, idx], axis=1)
            out[key] = _sorted_counts(vocab, counts)
        for key in ("type", "area", "rec"):
            vocab, codes = self.single[key]
            sel = codes[idx]
            sel = sel[sel >= 0]
            counts = np.bincount(sel, minlength=len(vocab)) if len(vocab) else np.zeros(0, int)
            out[key] = _sorted_counts(vocab, counts)
        years = self.year[idx]
        years = years[years > 0]
        if len(years):
            vals, counts = np.unique(years, return_counts=True)
            out["year"] = sorted(((str(int(v)), int(c)) for v, c in zip(vals, counts)), key=lambda t: (-t[1], t[0]))
        else:
            out["year"] = []
        return {k: out[k] for k in (*FACET_KEYS, "rec")}

    # -- hits --

    def hit(self, docnum: int, score: float, terms: set[str], analyzer) -> Hit:
        stored = self.searcher.stored_fields(docnum)
        text = stored.get("text", "")
        snippet = ""
        if terms and text:
            frag = highlight.ContextFragmenter(maxchars=240, surround=70)
            try:
                snippet = highlight.highlight(text, terms, analyzer, frag, _MarkFormatter(), top=2, minscore=1)
            except Exception:  # never let highlighting break a search
                snippet = ""
        if not snippet:
            snippet = _plain_snippet(text)
        dtype_vocab, dtype_codes = self.single["type"]
        area_vocab, area_codes = self.single["area"]
        rec_vocab, rec_codes = self.single["rec"]
        code = lambda vocab, codes: vocab[codes[docnum]] if codes[docnum] >= 0 else ""  # noqa: E731
        yr = int(self.year[docnum]) or None
        return Hit(
            passage_id=stored.get("passage_id", ""),
            doc_id=stored.get("doc_id", ""),
            title=stored.get("title", ""),
            year=yr,
            area=code(area_vocab, area_codes),
            doc_type=code(dtype_vocab, dtype_codes),
            page=stored.get("page") or 0,
            section=stored.get("section", ""),
            text=text,
            snippet_html=snippet,
            themes=list(self.per_doc_multi["theme"][docnum] or []),
            agencies=list(self.per_doc_multi["agency"][docnum] or []),
            addressees=list(self.per_doc_multi["addressee"][docnum] or []),
            is_recommendation=code(rec_vocab, rec_codes) == "yes",
            label=stored.get("label", ""),
            score=round(float(score), 4),
            page_end=stored.get("page_end"),
            seq=stored.get("seq"),
        )


def _sorted_counts(vocab: list[str], counts) -> list[tuple[str, int]]:
    pairs = [(v, int(c)) for v, c in zip(vocab, counts) if c]
    pairs.sort(key=lambda t: (-t[1], t[0]))
    return pairs


def _top(cand: np.ndarray, scores: np.ndarray, start: int, end: int) -> list[tuple[float, int]]:
    """(score, docnum) ranked ``start:end``: higher score first, then lower docnum (Whoosh's order)."""
    if not len(cand):
        return []
    if end < len(cand):  # only what can reach the page needs sorting
        kth = np.partition(scores, len(scores) - end)[len(scores) - end]
        keep = scores >= kth
        cand, scores = cand[keep], scores[keep]
    order = np.lexsort((cand, -scores))[start:end]
    return [(float(scores[i]), int(cand[i])) for i in order]


def _leaves(q) -> Iterable:
    if q.is_leaf():
        yield q
    else:
        for c in q.children():
            yield from _leaves(c)


def _touches_facets(q) -> bool:
    return any(getattr(leaf, "fieldname", None) in _FACET_FIELDS for leaf in _leaves(q))


def _has_text(q) -> bool:
    """True when some part of the query is scored text (not only tags/metadata)."""
    for leaf in _leaves(q):
        if isinstance(leaf, query.qcore._NullQuery):
            continue
        if getattr(leaf, "fieldname", None) not in _FACET_FIELDS and not isinstance(leaf, query.Every):
            return True
    return False


def _find_error(q) -> str | None:
    if getattr(q, "error", None):
        return str(q.error)
    if not q.is_leaf():
        for c in q.children():
            e = _find_error(c)
            if e:
                return e
    return None


def _rewrite_phrase(q):
    """Exact phrases (slop 1) on the text become lookups of their adjacent word pairs in the
    bigram field; in titles, all the words. A phrase with a slop ("a b"~3) keeps Whoosh's phrase
    matching."""
    if not isinstance(q, query.Phrase) or q.slop > 1:
        return q
    words = [w for w in q.words if w]
    if not words:
        return query.NullQuery
    if len(words) == 1:
        return query.Term(q.fieldname, words[0], boost=q.boost)
    if q.fieldname == "text":
        pairs = list(dict.fromkeys(f"{a} {b}" for a, b in zip(words, words[1:])))
        terms = [query.Term("bigram", p, boost=q.boost) for p in pairs]
        return terms[0] if len(terms) == 1 else query.And(terms)
    if q.fieldname in ("title", "section"):
        return query.And([query.Term(q.fieldname, w, boost=q.boost) for w in words])
    return q


def _expand_wildcards(q, reader, analyzer, limit: int = 256):
    """Wildcards and prefixes on the stemmed text also match through the unstemmed word list, so
    "strangulat*" finds "strangulation" (whose stem is "strangul"): the matching words are stemmed
    and added as terms."""
    if not (isinstance(q, (query.Prefix, query.Wildcard)) and q.fieldname == "text"):
        return q
    probe = q.__class__("spell_text", q.text)
    stems: set[str] = set()
    try:
        for word in probe._btexts(reader):
            if isinstance(word, bytes):
                word = word.decode("utf-8", "replace")
            stems.update(t.text for t in analyzer(word, mode="query"))
            if len(stems) >= limit:
                break
    except Exception:
        return q
    if not stems:
        return q
    return query.Or([q] + [query.Term("text", s) for s in sorted(stems)], boost=q.boost)


# ---- the index ------------------------------------------------------------------------

class SearchIndex:
    """The Whoosh index of every passage under ``data_dir/index``."""

    def __init__(self, data_dir: str | os.PathLike, create: bool = True):
        self.data_dir = Path(data_dir)
        self.root = config.index_path(self.data_dir)
        self._view_obj: _View | None = None
        self._lock = threading.RLock()
        self._schema = make_schema()
        self._analyzer = self._schema["text"].analyzer
        self._parser = qparser.MultifieldParser(
            ["text", "title"], self._schema, fieldboosts={"title": 0.3}, group=qparser.AndGroup
        )
        self._parser.add_plugin(qparser.FuzzyTermPlugin())
        if create:
            self._ensure()

    # -- layout --

    def _current_path(self) -> Path:
        return self.root / "CURRENT"

    def _read_current(self) -> dict | None:
        try:
            return json.loads(self._current_path().read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def _write_current(self, generation: str) -> None:
        write_atomic(self._current_path(), json.dumps({"generation": generation, "version": INDEX_VERSION}).encode())

    def _lockfile(self, wait: float = 0.0):
        """Acquire the writer lock or raise IndexBusyError."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / "LOCK"))
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            if lock.acquire(blocking=False):
                return lock
            if time.monotonic() >= deadline:
                raise IndexBusyError(
                    f"The search index at {self.root} is busy: another process is updating it. "
                    "Try again when that finishes (searching still works meanwhile)."
                )
            time.sleep(0.1)

    def _ensure(self) -> None:
        if self._read_current():
            return
        try:
            lock = self._lockfile(wait=10.0)
        except IndexBusyError:
            if self._read_current():
                return
            raise
        try:
            if not self._read_current():
                gen = self._new_generation_name()
                path = self.root / gen
                path.mkdir(parents=True)
                windex.create_in(str(path), self._schema)
                self._write_current(gen)
        finally:
            lock.release()

    def _new_generation_name(self) -> str:
        nums = [int(m.group(1)) for p in self.root.glob("gen-*") if (m := re.fullmatch(r"gen-(\d+)(?:\.tmp)?", p.name))]
        return f"gen-{max(nums, default=0) + 1:04d}"

    def _open(self):
        cur = self._read_current()
        if not cur:
            self._ensure()
            cur = self._read_current()
        path = self.root / cur["generation"]
        return windex.open_dir(str(path)), cur

    def _view(self) -> _View:
        v = self._view_obj
        cur = self._read_current()
        if v is not None and cur and cur["generation"] == v.generation and v.up_to_date():
            return v
        ix, cur = self._open()
        if cur.get("version") != INDEX_VERSION:
            raise QueryError("The search index was built by another version of dhr: run `dhr index --rebuild`.")
        new = _View(ix, cur["generation"], self.root / cur["generation"] / VIEW_CACHE)
        self._view_obj = new
        if v is not None:
            v.close()
        return new

    def close(self) -> None:
        with self._lock:
            if self._view_obj is not None:
                self._view_obj.close()
                self._view_obj = None

    # -- writing --

    def update_from_store(self, store, progress: bool = False, wait: float = 0.0, limitmb: int = 256) -> dict:
        """Bring the index in line with the store: add new and changed documents (content, metadata or
        tags), remove pruned ones. Each document's fingerprint (content + ingest + tagger version)
        is kept with its passages in the index and compared with the store.

        Returns {"added", "updated", "removed", "unchanged", "passages", "seconds"}.
        Raises IndexBusyError when another process is writing.
        """
        t0 = time.monotonic()
        lock = self._lockfile(wait)
        try:
            cur = self._read_current()
            if cur and cur.get("version") != INDEX_VERSION:
                return self._rebuild_locked(store, progress, limitmb=limitmb)
            ix, cur = self._open()
            view = _View(ix, cur["generation"], self.root / cur["generation"] / VIEW_CACHE)
            try:
                indexed = dict(view.doc_fp)
            finally:
                view.close()
            docs = store.documents()
            if not indexed and len(docs) >= _MP_MIN_DOCS and _default_procs(len(docs)) > 1:
                # a first, large index: the multi-process build (written aside, switched atomically)
                return self._rebuild_locked(store, progress, limitmb=limitmb, procs=_default_procs(len(docs)))
            want = {d["doc_id"]: _doc_fingerprint(d) for d in docs}
            removed = [d for d in indexed if d not in want]
            changed = [d for d, fp in want.items() if indexed.get(d) != fp]
            summary = {"added": 0, "updated": 0, "removed": len(removed), "unchanged": len(want) - len(changed),
                       "passages": 0}
            if removed or changed:
                writer = None
                try:
                    for doc_id in _progress(changed, progress, "Indexing"):
                        passages = store.tagged_passages(doc_id)
                        if not passages and doc_id not in indexed:
                            summary["unchanged"] += 1
                            continue
                        if writer is None:
                            writer = self._writer(ix, limitmb)
                        if doc_id in indexed:
                            writer.delete_by_term("doc_id", doc_id)
                            summary["updated"] += 1
                        else:
                            summary["added"] += 1
                        for p in passages:
                            writer.add_document(**_passage_fields(p, want[doc_id]))
                        summary["passages"] += len(passages)
                    if removed:
                        if writer is None:
                            writer = self._writer(ix, limitmb)
                        for doc_id in removed:
                            writer.delete_by_term("doc_id", doc_id)
                    if writer is not None:
                        writer.commit()
                        writer = None
                        self._write_view_cache(ix, cur["generation"], self.root / cur["generation"])
                finally:
                    if writer is not None:
                        writer.cancel()
            summary["seconds"] = round(time.monotonic() - t0, 2)
            return summary
        finally:
            lock.release()

    @staticmethod
    def _write_view_cache(ix, generation: str, directory: Path) -> None:
        """After a commit: the binary copy of the per-passage arrays for the new state, so the
        next open need not parse every passage's record. Best effort: without it, opening is
        only slower."""
        try:
            _View(ix, generation, directory / VIEW_CACHE).close()
        except Exception:
            pass

    def _writer(self, ix, limitmb: int):
        try:
            return ix.writer(limitmb=limitmb, timeout=0.0)
        except LockError as exc:
            raise IndexBusyError(f"The search index at {self.root} is busy: {exc or 'locked by another writer'}.") from exc

    def rebuild(self, store, progress: bool = False, wait: float = 0.0, limitmb: int = 256,
                procs: int | None = None) -> dict:
        """Build a fresh index from the whole store in a new directory, then switch to it atomically.

        ``procs`` indexing processes (default: 2 on a machine with 2+ cores and a store of
        ``_MP_MIN_DOCS``+ documents, else 1). With more than one, each writes its own segment
        (``multisegment``): no single-threaded final merge."""
        lock = self._lockfile(wait)
        try:
            return self._rebuild_locked(store, progress, limitmb=limitmb, procs=procs)
        finally:
            lock.release()

    def _rebuild_locked(self, store, progress: bool, limitmb: int = 256, procs: int | None = None) -> dict:
        t0 = time.monotonic()
        if procs is None:
            procs = _default_procs(len(store.documents()))
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob("gen-*.tmp"):  # left by a crashed rebuild
            shutil.rmtree(stale, ignore_errors=True)
        gen = self._new_generation_name()
        tmp = self.root / f"{gen}.tmp"
        tmp.mkdir(parents=True)
        ix = windex.create_in(str(tmp), self._schema)
        kwargs: dict[str, Any] = {"limitmb": limitmb}
        if procs and procs > 1:
            kwargs.update(procs=procs, multisegment=True)
        writer = ix.writer(**kwargs)
        n_docs = n_passages = 0
        try:
            for doc in _progress(store.documents(), progress, "Indexing"):
                passages = store.tagged_passages(doc["doc_id"])
                fp = _doc_fingerprint(doc)
                for p in passages:
                    writer.add_document(**_passage_fields(p, fp))
                n_docs += 1 if passages else 0
                n_passages += len(passages)
            writer.commit()
        except BaseException:
            writer.cancel()
            ix.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._write_view_cache(ix, gen, tmp)  # inside the new generation before it goes live
        ix.close()
        os.replace(tmp, self.root / gen)
        previous = (self._read_current() or {}).get("generation")
        self._write_current(gen)
        # keep the previous generation (a reader may still be using it); remove older ones
        for old in self.root.glob("gen-*"):
            if old.name not in (gen, previous) and not old.name.endswith(".tmp"):
                shutil.rmtree(old, ignore_errors=True)
        return {"added": n_docs, "updated": 0, "removed": 0, "unchanged": 0, "passages": n_passages,
                "seconds": round(time.monotonic() - t0, 2), "rebuilt": True}

    # -- reading --

    def parse(self, q: str):
        """The Whoosh query for a query string (None when empty) and its normalised text."""
        norm = normalise_query(q)
        if not norm:
            return None, ""
        try:
            parsed = self._parser.parse(norm)
        except Exception as exc:  # whoosh rarely raises; keep tracebacks away from users
            raise QueryError(f"Could not understand the query: {exc}") from exc
        err = _find_error(parsed)
        if err:
            raise QueryError(f"Could not understand the query: {err}")
        return parsed.accept(_rewrite_phrase), norm

    def filters_query(self, filters: dict | None):
        """The Whoosh query for a filters dict (None when it filters nothing)."""
        if not filters:
            return None
        parts = []
        for key, value in filters.items():
            if key not in FILTER_KEYS:
                raise QueryError(f"Unknown filter '{key}'. Filters: {', '.join(FILTER_KEYS)}.")
            if value in (None, "", [], (), False):
                continue
            if key == "year":
                lo, hi = _year_bounds(value)
                parts.append(query.NumericRange("year", lo, hi))
            elif key == "rec":
                v = str(value).lower() if not isinstance(value, bool) else ("yes" if value else "no")
                if v in _TRUE:
                    parts.append(query.Term("rec", "yes"))
                elif v in _FALSE:
                    parts.append(query.Term("rec", "no"))
                else:
                    raise QueryError(f"rec filter must be True/'yes' or 'no', not {value!r}.")
            else:
                values = [value] if isinstance(value, str) else list(value)
                fieldname = {"doc": "doc_id", "passage_ids": "passage_id"}.get(key, key)
                lower = fieldname in _MULTI or fieldname in ("type", "area")
                terms = [query.Term(fieldname, str(v).lower() if lower else str(v)) for v in values if str(v)]
                parts.append(query.Or(terms) if len(terms) != 1 else terms[0])
        if not parts:
            return None
        return query.And(parts) if len(parts) > 1 else parts[0]

    def search(self, query_text: str = "", filters: dict | None = None, page: int = 1, page_size: int = 20,
               sort: str = "relevance") -> SearchResult:
        t0 = time.perf_counter()
        if sort not in SORTS:
            raise QueryError(f"Unknown sort '{sort}': use one of {', '.join(SORTS)}.")
        try:
            page = max(1, int(page))
            page_size = min(max(1, int(page_size)), 1000)
        except (TypeError, ValueError) as exc:
            raise QueryError("page and page_size must be whole numbers.") from exc
        user_q, norm = self.parse(query_text)
        filter_q = self.filters_query(filters)
        parts = [q for q in (user_q, filter_q) if q is not None]
        full = query.And(parts) if len(parts) > 1 else (parts[0] if parts else query.Every())
        with self._lock:
            view = self._view()
            reader = view.searcher.reader()
            if user_q is not None:
                full = full.accept(lambda x: _expand_wildcards(x, reader, self._analyzer))
            mask = view.mask(full)
            total = int(np.count_nonzero(mask))
            facets = view.facets(mask)
            start, end = (page - 1) * page_size, page * page_size
            terms = self._highlight_terms(full, reader)
            if sort == "relevance" and user_q is not None and _has_text(user_q):
                pairs = self._ranked(view, full, mask, start, end) if total and start < total else []
            else:
                idx = np.flatnonzero(mask)
                yrs = view.year[idx].astype(np.int64)
                unknown = yrs == 0
                yearkey = np.where(unknown, 1, 0) if sort == "year_asc" else np.where(unknown, 1, 0)
                ykey = yrs if sort == "year_asc" else -yrs
                order = np.lexsort((view.doc_order[idx], ykey, yearkey))
                pairs = [(0.0, int(d)) for d in idx[order[start:end]]]
            hits = [view.hit(d, s, terms, self._analyzer) for s, d in pairs]
            suggestion = self._suggest(view, user_q, norm) if user_q is not None else None
        notices = []
        if view.n == 0:
            notices.append("The search index is empty: run `dhr index` after ingesting documents.")
        return SearchResult(
            query=norm, total=total, page=page, page_size=page_size,
            page_count=max(1, math.ceil(total / page_size)) if total else 0,
            hits=hits, facets=facets, suggestion=suggestion, sort=sort,
            filters=dict(filters or {}), notices=notices, took_ms=round((time.perf_counter() - t0) * 1000, 1),
        )

    def _highlight_terms(self, q, reader) -> set[str]:
        terms: set[str] = set()
        try:
            found = q.existing_terms(reader, phrases=True, expand=True)
        except Exception:
            return terms
        for fieldname, text in found:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            if fieldname == "text":
                terms.add(text)
            elif fieldname == "bigram":
                terms.update(text.split(" "))
        return terms

    def _suggest(self, view: _View, q, norm: str) -> str | None:
        reader = view.searcher.reader()
        missing = []
        for tok in q.all_tokens():
            if tok.fieldname == "text" and isinstance(tok.text, str) and ("text", tok.text) not in reader:
                missing.append(("text", tok.text))
        if not missing:
            return None
        try:
            corr = view.searcher.correct_query(q, norm, terms=missing, maxdist=2, prefix=1)
        except Exception:
            return None
        s = corr.string
        return s if s and s != norm else None

    def _ranked(self, view: _View, q, mask: np.ndarray, start: int, end: int) -> list[tuple[float, int]]:
        """Hits ``start:end`` of ``q`` by BM25F: only the passages in ``mask`` (everything ``q``
        matches) are scored, with numpy; ties go to the lower docnum, as in Whoosh."""
        cand = np.flatnonzero(mask)
        try:
            match, scores = view.score(q, cand)
        except Exception:  # never let the fast path break a search: Whoosh ranks instead
            match = None
        if match is None or not match.all():  # the scorer disagrees with the mask (never expected)
            top = view.searcher.search(q, limit=end)
            return [(s, d) for s, d in top.top_n[start:end]]
        return _top(cand, scores, start, end)

    def more_like(self, passage_id: str, n: int = 10, other_documents: bool = True, numterms: int = 12) -> list[Hit]:
        """Passages most like this one (by its key terms), from other documents unless told otherwise.

        The passage's ``numterms`` key terms (Whoosh's Bo1 model over its text) become a weighted
        OR query, scored by BM25F over every passage that has any of them (numpy; same scores as
        Whoosh's search of that query)."""
        with self._lock:
            view = self._view()
            s = view.searcher
            docnum = s.document_number(passage_id=passage_id)
            if docnum is None:
                return []
            stored = s.stored_fields(docnum)
            kts = s.key_terms_from_text("text", stored.get("text", ""), numterms=numterms, normalize=True)
            if not kts:
                return []
            q = query.Or([query.Term("text", w, boost=wt) for w, wt in kts])
            mask = view.mask(q)
            mask[docnum] = False
            if other_documents and view.doc_codes[docnum] >= 0:
                mask &= view.doc_codes != view.doc_codes[docnum]
            pairs = self._ranked(view, q, mask, 0, n) if mask.any() else []
            terms = {w for w, _ in kts}
            return [view.hit(d, sc, terms, self._analyzer) for sc, d in pairs]

    def stats(self) -> dict:
        with self._lock:
            view = self._view()
            try:
                modified = view.ix.last_modified()
            except Exception:
                modified = None
            last = datetime.fromtimestamp(modified, tz=timezone.utc).isoformat(timespec="seconds") if modified else None
            try:
                size = sum(f.stat().st_size for f in (self.root / view.generation).iterdir())
            except OSError:
                size = None
            return {
                "documents": len(view.doc_fp),
                "passages": int(np.count_nonzero(view.live)),
                "last_updated": last,
                "path": str(self.root / view.generation),
                "size_bytes": size,
                "segments": len(view.searcher.reader().leaf_readers()) if view.n else 0,
                "version": INDEX_VERSION,
            }


#: stores smaller than this are indexed in one process (starting workers costs more than it saves)
_MP_MIN_DOCS = 200


def _default_procs(n_docs: int) -> int:
    """2 indexing processes for a large build on a 2+ core machine, from the main thread only
    (forking worker processes from a threaded server such as the Streamlit app is not safe)."""
    if n_docs < _MP_MIN_DOCS or threading.current_thread() is not threading.main_thread():
        return 1
    return min(2, os.cpu_count() or 1)


def _year_bounds(value) -> tuple[int | None, int | None]:
    try:
        if isinstance(value, (int, np.integer)):
            return int(value), int(value)
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d{4})?\s*(?:-|\.\.|–)?\s*(\d{4})?\s*", value)
            if not m or not (m.group(1) or m.group(2)):
                raise ValueError
            lo = int(m.group(1)) if m.group(1) else None
            hi = int(m.group(2)) if m.group(2) else (lo if "-" not in value and ".." not in value else None)
            return lo, hi
        lo, hi = value
        lo = int(lo) if lo not in (None, "") else None
        hi = int(hi) if hi not in (None, "") else None
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        return lo, hi
    except (TypeError, ValueError) as exc:
        raise QueryError(f"year filter must be a year or (from, to), not {value!r}.") from exc


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, desc=desc, unit="doc")


def format_result_table(res: SearchResult, color: bool = False, facets: bool = False, width: int | None = None) -> str:
    """A readable listing of one page of results for a terminal."""
    import textwrap

    width = width or min(shutil.get_terminal_size((100, 20)).columns, 120)
    lines = []
    if res.suggestion:
        lines.append(f"Did you mean: {res.suggestion}")
    lines.extend(res.notices)
    if not res.total:
        lines.append(f"No passages match {res.query!r}." if res.query else "No passages match.")
        return "\n".join(lines)
    first = (res.page - 1) * res.page_size + 1
    lines.append(f"{res.total:,} passages match · showing {first}-{first + len(res.hits) - 1} · "
                 f"page {res.page} of {res.page_count} · sorted by {res.sort.replace('_', ' ')}")
    for i, h in enumerate(res.hits, start=first):
        head = [h.title or h.doc_id]
        if h.year:
            head[0] += f" ({h.year})"
        pages = f"p. {h.page}" if not h.page_end or h.page_end == h.page else f"pp. {h.page}-{h.page_end}"
        head.append(pages)
        if h.section:
            head.append(f"§ {h.section[:60]}")
        if h.is_recommendation:
            head.append(f"recommendation {h.label}".strip())
        lines.append("")
        lines.append(f"{i:>3}. " + " · ".join(head))
        plain = snippet_for_terminal(h.snippet_html, color=False)
        wrapped = textwrap.wrap(plain, width=max(40, width - 6)) or [""]
        for w in wrapped:
            if color:
                w = w.replace("**", "\x01")
                parts = w.split("\x01")
                w = "".join(p if k % 2 == 0 else f"\x1b[1;7m{p}\x1b[0m" for k, p in enumerate(parts))
            lines.append("      " + w)
        tags = []
        if h.themes:
            tags.append("themes: " + ", ".join(h.themes))
        if h.agencies:
            tags.append("agencies: " + ", ".join(h.agencies))
        if h.addressees:
            tags.append("to: " + ", ".join(h.addressees))
        if tags:
            lines.append("      [" + " | ".join(tags) + "]")
        lines.append(f"      id: {h.passage_id}")
    if facets:
        lines.append("")
        for key, vals in res.facets.items():
            if vals:
                lines.append(f"{key}: " + ", ".join(f"{v} ({n:,})" for v, n in vals[:10]))
    return "\n".join(lines)
