"""`dhr export`: the tagged corpus as CSV or JSONL, one row per passage, with the codebook.

Rows come from `Store.tagged_passages()`. Columns (interfaces.md):

    doc_id, title, doc_type, area, year, page, section, passage_id, text,
    themes, agencies, is_recommendation, addressees, recommendation_label

JSONL keeps lists as lists and adds `theme_scores` ({id: score}), `theme_evidence`
({id: evidence}) and `agency_mentions` ([{id, mention}]); CSV joins list fields with ";"
(UTF-8; pandas reads it with no options: `pd.read_csv(path)`).

Filters (the same dict shape as search and the app):
    {"theme": [ids], "agency": [ids], "addressee": [ids], "type": [doc types], "area": [areas],
     "year": (lo, hi), "rec": True}
Within one key any value matches; across keys all must match.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

COLUMNS = [
    "doc_id", "title", "doc_type", "area", "year", "page", "section", "passage_id", "text",
    "themes", "agencies", "is_recommendation", "addressees", "recommendation_label",
]
LIST_FIELDS = ("themes", "agencies", "addressees")


def _as_set(v) -> set:
    if v is None or v == "" or v == []:
        return set()
    if isinstance(v, str):
        return {x for x in v.split(",") if x} if "," in v else {v}
    return set(v)


def matches(row: dict, filters: dict | None) -> bool:
    """Does one tagged passage (a `Store.tagged_passages()` item) pass the filters?"""
    if not filters:
        return True
    themes = _as_set(filters.get("theme"))
    if themes and not themes & {t["id"] for t in row.get("themes", [])}:
        return False
    agencies = _as_set(filters.get("agency"))
    if agencies and not agencies & {a["id"] for a in row.get("agencies", []) if a.get("id")}:
        return False
    addressees = _as_set(filters.get("addressee"))
    if addressees and not addressees & set(row.get("addressees", [])):
        return False
    types = _as_set(filters.get("type"))
    if types and row.get("doc_type") not in types:
        return False
    areas = _as_set(filters.get("area"))
    if areas and row.get("area") not in areas:
        return False
    year = filters.get("year")
    if year:
        lo, hi = (year if isinstance(year, (list, tuple)) else (year, year))
        y = row.get("year")
        if y is None or (lo is not None and y < int(lo)) or (hi is not None and y > int(hi)):
            return False
    if filters.get("rec") and not row.get("is_recommendation"):
        return False
    return True


def export_rows(store, filters: dict | None = None) -> list[dict]:
    """The export rows (JSONL shape: lists kept as lists, plus scores and evidence)."""
    out = []
    for p in store.tagged_passages():
        if not matches(p, filters):
            continue
        agency_ids: list[str] = []
        for a in p["agencies"]:
            if a.get("id") and a["id"] not in agency_ids:
                agency_ids.append(a["id"])
        out.append({
            "doc_id": p["doc_id"],
            "title": p.get("title") or "",
            "doc_type": p.get("doc_type") or "",
            "area": p.get("area") or "",
            "year": p.get("year"),
            "page": p.get("page"),
            "section": p.get("section") or "",
            "passage_id": p["passage_id"],
            "text": p["text"],
            "themes": [t["id"] for t in p["themes"]],
            "agencies": agency_ids,
            "is_recommendation": bool(p["is_recommendation"]),
            "addressees": list(p["addressees"]),
            "recommendation_label": p.get("recommendation_label") or "",
            "theme_scores": {t["id"]: round(float(t["score"]), 3) for t in p["themes"]},
            "theme_evidence": {t["id"]: t.get("evidence", "") for t in p["themes"]},
            "agency_mentions": [{"id": a.get("id"), "mention": a.get("mention", "")} for a in p["agencies"]],
        })
    return out


def to_jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(COLUMNS)
    for r in rows:
        vals = []
        for c in COLUMNS:
            v = r.get(c)
            if c in LIST_FIELDS:
                v = ";".join(v)
            elif c == "is_recommendation":
                v = "true" if v else "false"
            elif v is None:
                v = ""
            vals.append(v)
        w.writerow(vals)
    return buf.getvalue().encode("utf-8")


def export_bytes(store, fmt: str = "csv", filters: dict | None = None) -> bytes:
    """The bytes `dhr export --format FMT` writes, for the app's download button."""
    fmt = fmt.lower()
    rows = export_rows(store, filters)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "jsonl":
        return to_jsonl(rows)
    raise ValueError(f"unknown export format {fmt!r} (use csv or jsonl)")


def codebook_dict(codebook=None, agencies=None) -> dict:
    from .tag import load_agencies, load_codebook

    cb = load_codebook(codebook)
    ag = load_agencies(agencies)
    return {
        "codebook_version": cb.sha[:12],
        "themes": [
            {"id": tid, "name": t["name"], "definition": " ".join(str(t["definition"]).split()),
             "home_office_themes": t["home_office"], "phrases": t["phrases"], "examples": t["examples"]}
            for tid, t in cb.themes.items()
        ],
        "agencies": [
            {"id": aid, "name": a["name"], "home_office_recipient": a.get("home_office", "other"),
             "aliases": a["aliases"] + a["acronyms"]}
            for aid, a in ag.agencies.items()
        ],
    }


def codebook_bytes(codebook=None, agencies=None) -> bytes:
    """The codebook shipped with every export (JSON: themes and agencies with their mappings)."""
    return (json.dumps(codebook_dict(codebook, agencies), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".codebook.json")


def export(store, fmt: str = "csv", out: str | Path | None = None, filters: dict | None = None,
           codebook=None) -> tuple[int, Path | None]:
    """Write the export to `out` (with a codebook sidecar next to it); return (rows, sidecar path)."""
    rows = export_rows(store, filters)
    data = to_csv(rows) if fmt == "csv" else to_jsonl(rows) if fmt == "jsonl" else None
    if data is None:
        raise ValueError(f"unknown export format {fmt!r} (use csv or jsonl)")
    if out is None:
        import sys

        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return len(rows), None
    from .config import write_atomic

    out = write_atomic(out, data)
    side = write_atomic(sidecar_path(out), codebook_bytes(codebook))
    return len(rows), side
