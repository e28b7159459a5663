"""Per-document metadata read from the document itself: title, date and year, area, type.

A review's title page says what it is ("Domestic Homicide Review – Overview Report"),
where ("Northmere Community Safety Partnership") and when ("Published: March 2016").
An optional manifest (manifest.csv or manifest.json beside the files) overrides what
was read, field by field.
"""
from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

from .extract import Line, RawDocument

DOC_TYPES = ("dhr_overview", "dhr_executive_summary", "inspection_report", "committee_report",
             "parliamentary_report", "other")
MANIFEST_NAMES = ("manifest.csv", "manifest.json")
MANIFEST_FIELDS = ("title", "date", "year", "area", "doc_type", "publisher")

_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH = r"(January|February|March|April|May|June|July|August|September|October|November|December)"
_FULL_DATE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+((?:19|20)\d\d)\b", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+((?:19|20)\d\d)\b", re.I)
_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
_DATE_LABEL = re.compile(
    r"(published|date of (?:report|publication)|report date|dated?|final (?:version|report)|version date)\s*[:\-]?\s*",
    re.I,
)
_NAME = r"((?:[A-Z][\w'&\-]+|and|of|upon|on|the)(?:[ \t]+(?:[A-Z][\w'&\-]+|and|of|upon|on|the)){0,4})"
_AREA_PATTERNS = [
    re.compile(rf"\b{_NAME}\s+Community Safety Partnership"),
    re.compile(rf"\bSafer\s+{_NAME}\s+Partnership"),
    re.compile(rf"\b{_NAME}\s+(?:County|Borough|City|District|Metropolitan Borough)\s+Council"),
    re.compile(rf"\b(?:City|Borough|County|Council) of\s+{_NAME}"),
    re.compile(rf"\b{_NAME}\s+(?:Constabulary|Police)\b"),
    re.compile(rf"\b{_NAME}\s+Council\b"),
]
_JUNK_TITLE = re.compile(r"^(untitled|microsoft word|document\d*|slide \d+)|\.(docx?|pdf)$", re.I)


def read_metadata(raw: RawDocument, file_name: str) -> dict:
    first_pages = [ln for page in raw.pages[:2] for ln in page if ln.row is None]
    head_text = "\n".join(ln.text for ln in first_pages)[:4000]
    title = guess_title(raw) or Path(file_name).stem.replace("_", " ").replace("-", " ")
    when = guess_date(head_text)
    return {
        "title": title,
        "date": when,
        "year": int(when[:4]) if when else None,
        "area": guess_area(head_text),
        "doc_type": guess_doc_type(title, head_text),
    }


def guess_title(raw: RawDocument) -> str:
    if raw.format == "pdf":
        title = _largest_text_on_first_page(raw.pages[0] if raw.pages else [])
        if title:
            return title
    if raw.format == "text":  # plain text has no markup: its first line is the best guess
        first = next((ln.text for ln in raw.pages[0] if ln.text.strip()), "")
        if 0 < len(first.split()) <= 20:
            return _tidy(first)
    headings = [ln for page in raw.pages[:1] for ln in page if ln.heading]
    top = min((ln.heading for ln in headings), default=0)
    for ln in headings:
        if ln.heading == top:
            return _tidy(ln.text)
    if raw.title_hint and not _JUNK_TITLE.search(raw.title_hint):
        return _tidy(raw.title_hint)
    first = next((ln.text for page in raw.pages for ln in page if ln.text.strip()), "")
    return _tidy(first)[:200]


def _largest_text_on_first_page(lines: list[Line]) -> str:
    text_lines = [ln for ln in lines if ln.row is None and ln.size and re.search("[A-Za-z]{3}", ln.text)]
    if not text_lines:
        return ""
    biggest = max(ln.size for ln in text_lines)
    body = sorted(ln.size for ln in text_lines)[len(text_lines) // 2]
    if biggest < body + 1:
        return ""
    run: list[str] = []
    for ln in text_lines:
        if ln.size >= biggest - 0.5:
            run.append(ln.text)
        elif run:
            break
    return _tidy(" ".join(run))


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" -\u2013:")


def guess_date(text: str) -> str:
    """The stated date of the document as ISO (YYYY-MM-DD, YYYY-MM or YYYY), or ''."""
    for m in _DATE_LABEL.finditer(text):
        found = _date_at_start(text[m.end():m.end() + 40])
        if found:
            return found
    if m := _FULL_DATE.search(text):
        return _iso(m.group(3), m.group(2), m.group(1))
    if m := _MONTH_YEAR.search(text):
        return _iso(m.group(2), m.group(1))
    years = [int(y) for y in _YEAR.findall(text) if 1990 <= int(y) <= date.today().year]
    return str(max(years)) if years else ""


def _date_at_start(text: str) -> str:
    if m := _FULL_DATE.match(text):
        return _iso(m.group(3), m.group(2), m.group(1))
    if m := _MONTH_YEAR.match(text):
        return _iso(m.group(2), m.group(1))
    if m := re.match(r"(\d{1,2})[/.](\d{1,2})[/.]((?:19|20)\d\d)", text):
        return f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    if m := re.match(r"((?:19|20)\d\d)\b", text):
        return m.group(1)
    return ""


def _iso(year: str, month: str, day: str | None = None) -> str:
    m = _MONTHS.index(month.lower()) + 1
    return f"{year}-{m:02d}-{int(day):02d}" if day else f"{year}-{m:02d}"


def guess_area(text: str) -> str:
    for pattern in _AREA_PATTERNS:
        for m in pattern.finditer(text):
            name = re.sub(r"^(?:the|of|and|on)\s+", "", m.group(1), flags=re.I).strip()
            name = re.sub(r"['\u2019]s$", "", name)
            if name and name[0].isupper() and name.lower() not in {"the", "national", "local", "a", "each"}:
                return name
    return ""


def guess_doc_type(title: str, head: str) -> str:
    t, h = title.lower(), head.lower()
    if re.search(r"house of (commons|lords)|home affairs committee|parliament|\bhc \d+", h):
        return "parliamentary_report"
    is_dhr = re.search(r"domestic homicide review|\bdhr\b|domestic abuse related death review", t)
    if is_dhr and not re.search(r"\breport to\b|\bagenda\b", h[:600]):
        return "dhr_executive_summary" if "executive summary" in t + h[:1500] else "dhr_overview"
    if "inspection" in t or re.search(r"\b(hmicfrs|hmic|ofsted|cqc|inspectorate)\b", t):
        return "inspection_report"
    if re.search(r"\breport to\b|\bagenda\b|\bcommittee\b|\bboard\b|\bcabinet\b|\bscrutiny\b|\bmeeting\b", h[:1500]):
        return "committee_report"
    if re.search(r"domestic homicide review", h[:1500]):
        return "dhr_executive_summary" if "executive summary" in h[:1500] else "dhr_overview"
    return "other"


# ---- manifests ------------------------------------------------------------------------


class ManifestError(Exception):
    pass


def load_manifest(folder: Path) -> dict[str, dict]:
    """{file name: {field: value}} from manifest.csv or manifest.json in `folder`, if there is one."""
    for name in MANIFEST_NAMES:
        path = folder / name
        if path.is_file():
            try:
                rows = _read_manifest(path)
            except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
                raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
            return {Path(r["file"]).name: _manifest_fields(r) for r in rows if r.get("file")}
    return {}


def _read_manifest(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        data = json.loads(text)
        rows = data if isinstance(data, list) else [dict(v, file=k) for k, v in data.items()]
        return [{str(k).strip().lower(): v for k, v in r.items()} for r in rows]
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(text.splitlines())]


def _manifest_fields(row: dict) -> dict:
    fields = {k: row[k] for k in MANIFEST_FIELDS if row.get(k) not in (None, "")}
    if "date" in fields:
        fields["date"] = str(fields["date"])
        if "year" not in fields and re.match(r"(19|20)\d\d", fields["date"]):
            fields["year"] = int(fields["date"][:4])
    if "year" in fields:
        fields["year"] = int(fields["year"])
    if "doc_type" in fields and fields["doc_type"] not in DOC_TYPES:
        raise ManifestError(f"unknown doc_type {fields['doc_type']!r} (use one of {', '.join(DOC_TYPES)})")
    return fields
