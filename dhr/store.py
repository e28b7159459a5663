"""The SQLite store: documents, their pages and passages, and the tags given to passages.

One writer at a time (the ingest process); every document is written or replaced in
one transaction, so a crash or a bad file never leaves half a document behind.
"""
from __future__ import annotations

import json
import re
import sqlite3
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from .records import Document, Failure, Passage, ProcessedDocument

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id          TEXT PRIMARY KEY,
    path            TEXT NOT NULL UNIQUE,
    file_name       TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,     -- content hash + manifest row + pipeline version
    format          TEXT NOT NULL,
    page_count      INTEGER NOT NULL,
    title           TEXT NOT NULL DEFAULT '',
    year            INTEGER,
    date            TEXT NOT NULL DEFAULT '',
    area            TEXT NOT NULL DEFAULT '',
    doc_type        TEXT NOT NULL DEFAULT 'other',
    publisher       TEXT NOT NULL DEFAULT '',
    manifest_fields TEXT NOT NULL DEFAULT '[]',
    ingested_at     TEXT NOT NULL,
    tagger_version  TEXT              -- NULL until tagged
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id  TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    page    INTEGER NOT NULL,
    text    TEXT NOT NULL,
    PRIMARY KEY (doc_id, page)
);
CREATE TABLE IF NOT EXISTS passages (
    passage_id  TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    page        INTEGER NOT NULL,
    page_end    INTEGER NOT NULL,
    section     TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT 'paragraph',
    label       TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    cells       TEXT               -- JSON {column: value} for table rows
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, seq);
CREATE TABLE IF NOT EXISTS passage_themes (
    passage_id TEXT NOT NULL REFERENCES passages(passage_id) ON DELETE CASCADE,
    theme      TEXT NOT NULL,
    score      REAL NOT NULL,
    evidence   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (passage_id, theme)
);
CREATE INDEX IF NOT EXISTS passage_themes_theme ON passage_themes(theme);
CREATE TABLE IF NOT EXISTS passage_agencies (
    passage_id TEXT NOT NULL REFERENCES passages(passage_id) ON DELETE CASCADE,
    agency     TEXT,               -- NULL when the organisation fits no agency id
    mention    TEXT NOT NULL,
    is_addressee INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS passage_agencies_passage ON passage_agencies(passage_id);
CREATE INDEX IF NOT EXISTS passage_agencies_agency ON passage_agencies(agency);
CREATE TABLE IF NOT EXISTS recommendations (
    passage_id TEXT PRIMARY KEY REFERENCES passages(passage_id) ON DELETE CASCADE,
    label      TEXT NOT NULL DEFAULT '',
    addressees TEXT NOT NULL DEFAULT '[]',   -- JSON list of agency ids
    score      REAL NOT NULL DEFAULT 1.0
);
CREATE TABLE IF NOT EXISTS failures (
    path        TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    failed_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "doc"


class Store:
    """A thin, explicit wrapper over one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(SCHEMA)
        self.conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        # store_id + content_version name one state of the content: caches derived from the store
        # (the explorer's) are keyed on them, and a store deleted and rebuilt never reuses a name
        self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
        self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('content_version', '0')")
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: all or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()

    @staticmethod
    def _content_changed(conn: sqlite3.Connection) -> None:
        """Inside a write transaction that changes documents, passages or tags."""
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'")

    def content_version(self) -> tuple[str, int]:
        """(store id, number of content-changing writes so far): changes with every document
        saved or deleted and every re-tagging, even one that gives the same tags."""
        return content_version(self.conn)

    # ---- documents -------------------------------------------------------

    def fingerprint_for(self, path: str) -> str | None:
        row = self.conn.execute("SELECT fingerprint FROM documents WHERE path = ?", (path,)).fetchone()
        return row["fingerprint"] if row else None

    def doc_id_for_path(self, path: str) -> str | None:
        row = self.conn.execute("SELECT doc_id FROM documents WHERE path = ?", (path,)).fetchone()
        return row["doc_id"] if row else None

    def _new_doc_id(self, doc: Document) -> str:
        base = slugify(Path(doc.file_name).stem)[:60]
        candidate, n = base, 2
        while self.conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (candidate,)).fetchone():
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def save_document(self, processed: ProcessedDocument, fingerprint: str) -> str:
        """Insert or replace one document with its pages and passages, atomically.

        A changed file keeps its doc_id, so links into it stay valid.
        """
        doc = processed.document
        with self.transaction() as conn:
            doc_id = self.doc_id_for_path(doc.path) or self._new_doc_id(doc)
            doc.doc_id = doc_id
            conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            conn.execute(
                """INSERT INTO documents (doc_id, path, file_name, content_hash, fingerprint, format,
                       page_count, title, year, date, area, doc_type, publisher, manifest_fields, ingested_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    doc_id, doc.path, doc.file_name, doc.content_hash, fingerprint, doc.format,
                    doc.page_count, doc.title, doc.year, doc.date, doc.area, doc.doc_type,
                    doc.publisher, json.dumps(doc.manifest_fields), _now(),
                ),
            )
            conn.executemany(
                "INSERT INTO pages (doc_id, page, text) VALUES (?,?,?)",
                [(doc_id, i + 1, text) for i, text in enumerate(processed.pages)],
            )
            conn.executemany(
                """INSERT INTO passages (passage_id, doc_id, seq, page, page_end, section, kind, label, text, cells)
                   VALUES (?,?,?,?,?,?,?,?,?,?)""",
                [
                    (
                        passage_id(doc_id, p.seq), doc_id, p.seq, p.page, p.page_end, p.section, p.kind,
                        p.label, p.text, json.dumps(p.cells) if p.cells is not None else None,
                    )
                    for p in processed.passages
                ],
            )
            conn.execute("DELETE FROM failures WHERE path = ?", (doc.path,))
            self._content_changed(conn)
        return doc_id

    def delete_document(self, doc_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._content_changed(conn)

    def documents(self) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM documents ORDER BY year, title, doc_id").fetchall()
        return [_document_row(r) for r in rows]

    def document(self, doc_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return _document_row(row) if row else None

    def pages(self, doc_id: str) -> list[str]:
        rows = self.conn.execute("SELECT text FROM pages WHERE doc_id = ? ORDER BY page", (doc_id,))
        return [r["text"] for r in rows]

    def passages(self, doc_id: str | None = None) -> list[dict]:
        if doc_id is None:
            rows = self.conn.execute("SELECT * FROM passages ORDER BY doc_id, seq")
        else:
            rows = self.conn.execute("SELECT * FROM passages WHERE doc_id = ? ORDER BY seq", (doc_id,))
        return [_passage_row(r) for r in rows]

    def passage(self, pid: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM passages WHERE passage_id = ?", (pid,)).fetchone()
        return _passage_row(row) if row else None

    def counts(self) -> dict[str, int]:
        q = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "documents": q("SELECT COUNT(*) FROM documents"),
            "pages": q("SELECT COUNT(*) FROM pages"),
            "passages": q("SELECT COUNT(*) FROM passages"),
            "failures": q("SELECT COUNT(*) FROM failures"),
        }

    # ---- failures --------------------------------------------------------

    def record_failure(self, failure: Failure) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO failures (path, reason, content_hash, failed_at) VALUES (?,?,?,?)",
                (failure.path, failure.reason, failure.content_hash, _now()),
            )

    def clear_failure(self, path: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM failures WHERE path = ?", (path,))

    def failures(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM failures ORDER BY path")]

    # ---- tags ------------------------------------------------------------

    def save_tags(self, doc_id: str, tagged: Iterable[tuple[str, dict]], tagger_version: str) -> None:
        """Replace the tags of one document's passages; `tagged` holds (passage_id, result of dhr.tag)."""
        with self.transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT passage_id FROM passages WHERE doc_id = ?", (doc_id,))]
            for table in ("passage_themes", "passage_agencies", "recommendations"):
                conn.executemany(f"DELETE FROM {table} WHERE passage_id = ?", [(i,) for i in ids])
            for pid, result in tagged:
                addressees = set(result.get("addressees", []))
                conn.executemany(
                    "INSERT INTO passage_themes (passage_id, theme, score, evidence) VALUES (?,?,?,?)",
                    [(pid, t["id"], float(t.get("score", 1.0)), t.get("evidence", "")) for t in result.get("themes", [])],
                )
                conn.executemany(
                    "INSERT INTO passage_agencies (passage_id, agency, mention, is_addressee) VALUES (?,?,?,?)",
                    [
                        (pid, a.get("id"), a.get("mention", ""), int(a.get("id") in addressees))
                        for a in result.get("agencies", [])
                    ],
                )
                if result.get("is_recommendation"):
                    conn.execute(
                        "INSERT INTO recommendations (passage_id, label, addressees, score) VALUES (?,?,?,?)",
                        (
                            pid, result.get("recommendation_label", ""), json.dumps(sorted(addressees)),
                            float(result.get("recommendation_score", 1.0)),
                        ),
                    )
            conn.execute("UPDATE documents SET tagger_version = ? WHERE doc_id = ?", (tagger_version, doc_id))
            self._content_changed(conn)

    def documents_needing_tags(self, tagger_version: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT doc_id FROM documents WHERE tagger_version IS NULL OR tagger_version != ? ORDER BY doc_id",
            (tagger_version,),
        )
        return [r[0] for r in rows]

    def tagged_passages(self, doc_id: str | None = None) -> list[dict]:
        """Passages joined with their document's metadata and their tags: one dict per passage."""
        where, args = ("WHERE p.doc_id = ?", (doc_id,)) if doc_id else ("", ())
        rows = self.conn.execute(
            f"""SELECT p.*, d.title, d.doc_type, d.area, d.year, d.file_name
                FROM passages p JOIN documents d USING (doc_id) {where} ORDER BY p.doc_id, p.seq""",
            args,
        ).fetchall()
        themes: dict[str, list] = {}
        for r in self.conn.execute(
            f"SELECT t.* FROM passage_themes t JOIN passages p USING (passage_id) {where} ORDER BY t.score DESC", args
        ):
            themes.setdefault(r["passage_id"], []).append(
                {"id": r["theme"], "score": r["score"], "evidence": r["evidence"]}
            )
        agencies: dict[str, list] = {}
        for r in self.conn.execute(
            f"SELECT a.* FROM passage_agencies a JOIN passages p USING (passage_id) {where}", args
        ):
            agencies.setdefault(r["passage_id"], []).append({"id": r["agency"], "mention": r["mention"]})
        recs = {
            r["passage_id"]: r
            for r in self.conn.execute(
                f"SELECT r.* FROM recommendations r JOIN passages p USING (passage_id) {where}", args
            )
        }
        out = []
        for row in rows:
            item = _passage_row(row)
            item.update(title=row["title"], doc_type=row["doc_type"], area=row["area"], year=row["year"],
                        file_name=row["file_name"])
            pid = item["passage_id"]
            rec = recs.get(pid)
            item["themes"] = themes.get(pid, [])
            item["agencies"] = agencies.get(pid, [])
            item["is_recommendation"] = rec is not None
            item["addressees"] = json.loads(rec["addressees"]) if rec else []
            item["recommendation_label"] = (rec["label"] or item["label"]) if rec else ""
            out.append(item)
        return out


def content_version(conn: sqlite3.Connection) -> tuple[str, int]:
    """`Store.content_version` for any connection (read-only ones included)."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('store_id', 'content_version')").fetchall())
    return rows.get("store_id", ""), int(rows.get("content_version", 0))


def passage_id(doc_id: str, seq: int) -> str:
    return f"{doc_id}:{seq:05d}"


def _document_row(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["manifest_fields"] = json.loads(d.get("manifest_fields") or "[]")
    return d


def _passage_row(row: sqlite3.Row) -> dict:
    d = {k: row[k] for k in ("passage_id", "doc_id", "seq", "page", "page_end", "section", "kind", "label", "text")}
    d["cells"] = json.loads(row["cells"]) if row["cells"] else None
    return d
