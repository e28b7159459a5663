"""What the explorer counts and lists, derived from the store once per version of its content
and kept on disk in DATA_DIR/explorer-cache/.

- `Facts`: per passage, without any text, its document, year, area, type, recommendation
  flag and theme / agency / addressee matrices (numpy arrays). 200,000 passages take ~15 MB;
  a filter or a full set of theme aggregates takes a few milliseconds.
- the recommendations frame: every recommendation with its text and tags (a tenth of the
  passages), what the Recommendations page tables, draws and compares.
- the recurrence finder over all recommendations (TF-IDF and the similar pairs of
  `graph.RecurrenceFinder`): the costly part of "recurring recommendations".

Building them reads the whole store (seconds at 200,000 passages), so the jobs that change
the store (`dhr build`, `dhr ingest`, `dhr tag --store/--all`, the explorer's Add reports)
call `refresh_cache` when they finish, and the explorer's first visit afterwards only reads
files. Each file is named after `content_marker` (the store's id and content version,
bumped by every document saved or deleted and every re-tagging); a stale file is replaced,
a missing or damaged one rebuilt on demand. Deleting the folder is always safe.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

from . import config
from .config import write_atomic
from .store import Store, content_version

CACHE_DIR = "explorer-cache"
CACHE_VERSION = 2           # bump when what a cache file holds changes shape
MIN_SIMILARITY = 0.25       # the lowest similarity the recurring-recommendations slider offers

FRAME_COLUMNS = [
    "passage_id", "doc_id", "seq", "page", "page_end", "section", "kind", "label", "text",
    "title", "doc_type", "area", "year", "file_name", "theme_ids", "agency_ids",
    "is_recommendation", "addressees", "recommendation_label",
]

# One build of each file at a time per process: a page that asks while another thread is
# building waits, then reads the file written.
_locks = {"facts": threading.Lock(), "recommendations": threading.Lock(), "recurrence": threading.Lock()}


def cache_dir(directory) -> Path:
    return Path(directory) / CACHE_DIR


def connect_readonly(directory) -> sqlite3.Connection:
    """A read-only connection of its own (one per call: explorer sessions run in threads)."""
    db = config.db_path(Path(directory))
    if not db.exists():
        Store(db).close()  # a new data directory: create the empty schema
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def content_marker(conn: sqlite3.Connection) -> str:
    """A name for this state of the store's content: its id, its content version (bumped by
    every write that changes documents, passages or tags), and, for stores written before
    content versions existed, every document's fingerprint, ingest time and tagger version and
    the tag tables' row counts. A write that changes no document or tag does not change it."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    h.update("{}:{}".format(*content_version(conn)).encode())
    for row in conn.execute("SELECT doc_id, fingerprint, ingested_at, IFNULL(tagger_version, '') "
                            "FROM documents ORDER BY doc_id"):
        h.update("\x1f".join(map(str, row)).encode() + b"\x1e")
    for table in ("passages", "passage_themes", "passage_agencies", "recommendations"):
        h.update(f"{table}={conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]};".encode())
    return h.hexdigest()[:24]


def _vocabulary_orders() -> tuple[list[str], list[str]]:
    """Theme ids in codebook order and agency ids in alias-file order (columns of the matrices)."""
    from .tag import load_agencies, load_codebook

    return load_codebook().theme_ids, list(load_agencies().agencies)


class Facts:
    """Per-passage facts as arrays. Rows are passages in (doc_id, seq) order; document-level
    values are held per document (`doc_*`) and reached through `doc`; tags are boolean
    matrices over a vocabulary."""

    ARRAYS = ("pid", "doc", "rec", "T", "A", "R", "doc_year", "doc_area", "doc_type")
    LISTS = ("doc_ids", "areas", "types", "themes", "agencies")

    def __init__(self, **parts):
        for k in self.ARRAYS + self.LISTS:
            setattr(self, k, parts[k])
        self.marker = parts.get("marker", "")
        self.n = len(self.pid)
        self.year = self.doc_year[self.doc]            # -1: no year
        self.area = self.doc_area[self.doc]            # -1: no area
        self.type = self.doc_type[self.doc]
        self.theme_col = {t: i for i, t in enumerate(self.themes)}
        self.agency_col = {a: i for i, a in enumerate(self.agencies)}

    # -- building --

    @classmethod
    def from_store(cls, conn: sqlite3.Connection, marker: str = "", theme_order=(), agency_order=()) -> "Facts":
        docs = conn.execute("SELECT doc_id, year, area, doc_type, rowid FROM documents ORDER BY doc_id").fetchall()
        doc_ids = [r[0] for r in docs]
        areas = sorted({r[2] for r in docs if r[2]})
        types = sorted({r[3] for r in docs if r[3]})
        a_ix, t_ix = {a: i for i, a in enumerate(areas)}, {t: i for i, t in enumerate(types)}
        doc_year = np.array([r[1] if r[1] is not None else -1 for r in docs], dtype=np.int32)
        doc_area = np.array([a_ix.get(r[2], -1) for r in docs], dtype=np.int32)
        doc_type = np.array([t_ix.get(r[3], -1) for r in docs], dtype=np.int32)
        doc_pos = np.full(max((r[4] for r in docs), default=0) + 1, -1, dtype=np.int32)
        doc_pos[[r[4] for r in docs]] = np.arange(len(docs), dtype=np.int32)

        rows = conn.execute("SELECT p.rowid, p.passage_id, d.rowid FROM passages p JOIN documents d USING (doc_id) "
                            "ORDER BY p.doc_id, p.seq").fetchall()
        rowids, pids, drows = zip(*rows) if rows else ((), (), ())
        del rows
        pid = np.array(pids, dtype=object)
        doc = doc_pos[np.array(drows, dtype=np.int64)] if pids else np.zeros(0, dtype=np.int32)
        rowids = np.array(rowids, dtype=np.int64)
        pos = np.full(int(rowids.max()) + 1 if len(rowids) else 1, -1, dtype=np.int64)
        pos[rowids] = np.arange(len(rowids))
        del pids, drows

        def matrix(table: str, column: str, vocab_order):
            """A tag table -> (vocabulary, bool matrix passages x vocabulary). SQLite maps each
            value to its column number, so only integers cross into Python."""
            present = [r[0] for r in conn.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")]
            vocab = list(vocab_order) + sorted(set(present) - set(vocab_order))
            m = np.zeros((len(pid), len(vocab)), dtype=bool)
            if not present:
                return vocab, m
            k = len(vocab)
            case = "CASE x." + column + " " + " ".join("WHEN ? THEN " + str(i) for i in range(k)) + " END"
            cur = conn.execute(f"SELECT p.rowid * {k} + {case} FROM {table} x JOIN passages p USING (passage_id) "
                               f"WHERE x.{column} IS NOT NULL", vocab)
            flat = np.fromiter((r[0] for r in cur), dtype=np.int64)
            r, c = pos[flat // k], flat % k
            ok = r >= 0
            m[r[ok], c[ok]] = True
            return vocab, m

        themes, T = matrix("passage_themes", "theme", theme_order)
        agencies, A = matrix("passage_agencies", "agency", agency_order)
        recs = conn.execute("SELECT p.rowid, r.addressees FROM recommendations r JOIN passages p USING (passage_id)"
                            ).fetchall()
        rec = np.zeros(len(pid), dtype=bool)
        R = np.zeros((len(pid), len(agencies)), dtype=bool)
        if recs:
            r_rows = pos[np.array([r[0] for r in recs], dtype=np.int64)]
            rec[r_rows[r_rows >= 0]] = True
            addressed = [json.loads(addr or "[]") for _, addr in recs]
            extra = sorted({a for addr in addressed for a in addr} - set(agencies))
            if extra:  # an addressee never mentioned: widen the agency vocabulary
                agencies = agencies + extra
                A = np.hstack([A, np.zeros((len(pid), len(extra)), dtype=bool)])
                R = np.zeros((len(pid), len(agencies)), dtype=bool)
            col = {a: i for i, a in enumerate(agencies)}
            for r_i, addr in zip(r_rows, addressed):
                if r_i >= 0:
                    for a in addr:
                        R[r_i, col[a]] = True
        return cls(pid=pid, doc=doc, rec=rec, T=T, A=A, R=R, doc_year=doc_year, doc_area=doc_area,
                   doc_type=doc_type, doc_ids=doc_ids, areas=areas, types=types, themes=themes,
                   agencies=agencies, marker=marker)

    def write(self, fh) -> None:
        arrays = {k: getattr(self, k) for k in self.ARRAYS}
        arrays["pid"] = np.array(self.pid.tolist(), dtype=str)
        arrays["lists"] = np.array(json.dumps({k: getattr(self, k) for k in self.LISTS} | {"marker": self.marker}))
        np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> "Facts":
        with np.load(path, allow_pickle=False) as z:
            parts = {k: z[k] for k in cls.ARRAYS}
            lists = json.loads(str(z["lists"]))
        parts["pid"] = parts["pid"].astype(object)
        return cls(**parts, **lists)

    # -- filtering --

    def _any(self, M, col: dict, wanted) -> np.ndarray:
        cols = [col[v] for v in wanted if v in col]
        return M[:, cols].any(axis=1) if cols else np.zeros(self.n, dtype=bool)

    def mask(self, f: dict | None) -> np.ndarray:
        """The passages matching a filters dict (theme, agency, addressee, type, area, year, rec,
        doc, passage_ids), as a boolean array."""
        f = f or {}
        m = np.ones(self.n, dtype=bool)
        if f.get("theme"):
            m &= self._any(self.T, self.theme_col, f["theme"])
        if f.get("agency"):
            m &= self._any(self.A, self.agency_col, f["agency"])
        if f.get("addressee"):
            m &= self._any(self.R, self.agency_col, f["addressee"])
        if f.get("type"):
            codes = [i for i, t in enumerate(self.types) if t in set(f["type"])]
            m &= np.isin(self.type, codes)
        if f.get("area"):
            codes = [i for i, a in enumerate(self.areas) if a in set(f["area"])]
            m &= np.isin(self.area, codes)
        if f.get("year"):
            lo, hi = f["year"]
            m &= (self.year >= lo) & (self.year <= hi) & (self.year >= 0)
        if f.get("rec"):
            m &= self.rec
        if f.get("doc"):
            codes = [i for i, d in enumerate(self.doc_ids) if d in set(f["doc"])]
            m &= np.isin(self.doc, codes)
        if f.get("passage_ids") is not None:
            m &= np.isin(self.pid, list(f["passage_ids"]))
        return m

    def values(self) -> dict[str, list]:
        """Every value each filter can take in this store: {facet: [values]}."""
        return {
            "theme": [t for t, c in zip(self.themes, self.T.any(axis=0)) if c],
            "agency": [a for a, c in zip(self.agencies, self.A.any(axis=0)) if c],
            "addressee": [a for a, c in zip(self.agencies, self.R.any(axis=0)) if c],
            "type": list(self.types),
            "area": list(self.areas),
        }

    def year_bounds(self, m=None) -> tuple[int, int] | None:
        years = self.year if m is None else self.year[m]
        years = years[years >= 0]
        return (int(years.min()), int(years.max())) if len(years) else None


# ---- passages as a frame -----------------------------------------------------------------

def rows_frame(conn: sqlite3.Connection, where: str, args=(), order: str = "p.doc_id, p.seq"):
    """Passages (with their document's metadata and tag ids) selected by a WHERE clause over
    `passages p JOIN documents d`, as a pandas frame with FRAME_COLUMNS."""
    import pandas as pd

    rows = conn.execute(
        f"""SELECT p.passage_id, p.doc_id, p.seq, p.page, p.page_end, p.section, p.kind, p.label, p.text,
                   d.title, d.doc_type, d.area, d.year, d.file_name
            FROM passages p JOIN documents d USING (doc_id) WHERE {where} ORDER BY {order}""", args).fetchall()
    df = pd.DataFrame.from_records(rows, columns=FRAME_COLUMNS[:14])
    pids = df["passage_id"].tolist()
    themes: dict[str, list[str]] = {}
    agencies: dict[str, list[str]] = {}
    recs: dict[str, tuple] = {}
    for start in range(0, len(pids), 900):
        chunk = pids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for pid, theme in conn.execute(f"SELECT passage_id, theme FROM passage_themes WHERE passage_id IN ({marks}) "
                                       "ORDER BY passage_id, score DESC", chunk):
            themes.setdefault(pid, []).append(theme)
        for pid, agency in conn.execute(f"SELECT DISTINCT passage_id, agency FROM passage_agencies "
                                        f"WHERE agency IS NOT NULL AND passage_id IN ({marks}) ORDER BY 1, 2", chunk):
            agencies.setdefault(pid, []).append(agency)
        for pid, label, addr in conn.execute(
                f"SELECT passage_id, label, addressees FROM recommendations WHERE passage_id IN ({marks})", chunk):
            recs[pid] = (label, json.loads(addr))
    df["theme_ids"] = [themes.get(pid, []) for pid in pids]
    df["agency_ids"] = [agencies.get(pid, []) for pid in pids]
    df["is_recommendation"] = pd.Series([pid in recs for pid in pids], index=df.index, dtype=bool)
    df["addressees"] = [recs[pid][1] if pid in recs else [] for pid in pids]
    df["recommendation_label"] = [
        (recs[pid][0] or (label or "")) if pid in recs else "" for pid, label in zip(pids, df["label"].tolist())
    ]
    df["year"] = pd.array(df["year"], dtype="Int64")
    for col in ("section", "kind", "label", "title", "doc_type", "area", "file_name"):
        df[col] = df[col].fillna("")
    return df[FRAME_COLUMNS]


def recommendation_records(df) -> list[dict]:
    """The recommendations frame as the records `graph.RecurrenceFinder` reads."""
    import pandas as pd

    records = df[["passage_id", "doc_id", "year", "addressees", "text"]].to_dict("records")
    for r in records:
        r["year"] = None if pd.isna(r["year"]) else int(r["year"])
    return records


# ---- the cache files ---------------------------------------------------------------------

def _replace_cached(directory, kind: str, suffix: str, marker: str, write) -> None:
    """Write this marker's file and remove older versions; a read-only data directory (or a
    missing parquet engine) only means no disk cache."""
    folder = cache_dir(directory)
    try:
        for old in folder.glob(f"{kind}-*"):  # any older version or format (writers' temporary files are hidden)
            if old.name != f"{kind}-{marker}{suffix}":
                old.unlink(missing_ok=True)
        write_atomic(folder / f"{kind}-{marker}{suffix}", write)
    except Exception:  # noqa: BLE001 - the data is still returned; only the disk copy is missing
        pass


def _facts(directory, conn, marker: str) -> Facts:
    path = cache_dir(directory) / f"facts-{marker}.npz"
    if path.exists():
        try:
            f = Facts.load(path)
            if f.marker == marker:
                return f
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt
            pass
    themes, agencies = _vocabulary_orders()
    f = Facts.from_store(conn, marker, themes, agencies)
    _replace_cached(directory, "facts", ".npz", marker, f.write)
    return f


def _recommendations(directory, conn, marker: str):
    import pandas as pd

    path = cache_dir(directory) / f"recommendations-{marker}.parquet"
    if path.exists():
        try:
            df = pd.read_parquet(path)
            for col in ("theme_ids", "agency_ids", "addressees"):
                df[col] = [list(v) for v in df[col]]
            df["year"] = pd.array(df["year"], dtype="Int64")
            return df[FRAME_COLUMNS]
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt
            pass
    df = rows_frame(conn, "p.passage_id IN (SELECT passage_id FROM recommendations)")
    _replace_cached(directory, "recommendations", ".parquet", marker, lambda fh: df.to_parquet(fh, index=False))
    return df


def _recurrence(directory, conn, marker: str):
    from .graph import RecurrenceFinder

    path = cache_dir(directory) / f"recurrence-{marker}.npz"
    if path.exists():
        try:
            return RecurrenceFinder.load(path)
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt
            pass
    finder = RecurrenceFinder(recommendation_records(_recommendations(directory, conn, marker)),
                              floor=MIN_SIMILARITY)
    _replace_cached(directory, "recurrence", ".npz", marker, finder.save)
    return finder


_BUILDERS = {"facts": _facts, "recommendations": _recommendations, "recurrence": _recurrence}


def cached(directory, kind: str):
    """The `kind` ("facts", "recommendations" or "recurrence") of the store's current content:
    read from its file when there is one for this content, else built (and the file written)."""
    with _locks[kind]:
        conn = connect_readonly(directory)
        try:
            conn.execute("BEGIN")  # one consistent snapshot even while an ingest is writing
            return _BUILDERS[kind](directory, conn, content_marker(conn))
        finally:
            conn.close()


def refresh_cache(directory=None, index_updated: bool = False) -> str:
    """Bring every cache file up to date with the store (called by the jobs that write it);
    `index_updated`: the caller has just brought the search index in line with the store.
    Returns the content marker the files now describe."""
    directory = config.data_dir(directory)
    for kind in _BUILDERS:
        cached(directory, kind)
    marker = current_marker(directory)
    if index_updated:
        record_index_in_step(directory, marker)
    return marker


def current_marker(directory) -> str:
    conn = connect_readonly(directory)
    try:
        return content_marker(conn)
    finally:
        conn.close()


# ---- whether the search index was last brought in line with this content -----------------

def _index_generation(directory) -> str:
    try:
        return config.index_path(Path(directory)).joinpath("CURRENT").read_text(encoding="utf-8")
    except OSError:
        return ""


def _index_record(directory) -> Path:
    return cache_dir(directory) / "index-checked.json"


def index_in_step(directory) -> bool:
    """True when the index generation on disk is the one last brought in line with the
    store's current content (so the explorer need not compare them again)."""
    try:
        seen = json.loads(_index_record(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return seen.get("marker") == current_marker(directory) and seen.get("generation") == _index_generation(directory)


def record_index_in_step(directory, marker: str | None = None) -> None:
    record = {"marker": marker or current_marker(directory), "generation": _index_generation(directory)}
    try:
        write_atomic(_index_record(directory), json.dumps(record).encode("utf-8"))
    except OSError:
        pass


def passages_by_id(directory, ids: list[str]):
    """The passages with these ids, in that order, with text and tags (for the few shown)."""
    import pandas as pd

    ids = list(dict.fromkeys(ids))
    if not ids:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    conn = connect_readonly(directory)
    try:
        parts = []
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            parts.append(rows_frame(conn, f"p.passage_id IN ({','.join('?' * len(chunk))})", chunk))
    finally:
        conn.close()
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    order = {pid: i for i, pid in enumerate(ids)}
    return df.sort_values("passage_id", key=lambda s: s.map(order)).reset_index(drop=True)
