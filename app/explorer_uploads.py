"""Checking, saving and adding uploaded reports (the Add reports page), kept apart from the page
so that it can be tested without a browser."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from dhr.config import write_atomic
from dhr.extract import SUPPORTED

TYPES = sorted({ext.lstrip(".") for ext in SUPPORTED})


def check(name: str, data: bytes, max_mb: int) -> str | None:
    """Why this upload is refused, or None when it may go to the pipeline."""
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED:
        return f"unsupported file type '{ext or '(none)'}' (accepted: {', '.join('.' + t for t in TYPES)})"
    if not data:
        return "the file is empty"
    if len(data) > max_mb * 1024 * 1024:
        return f"too large ({len(data) / 1024 / 1024:.1f} MB; the limit is {max_mb} MB)"
    kind = SUPPORTED[ext]
    if kind == "pdf" and not data[:1024].lstrip().startswith(b"%PDF-"):
        return "not a PDF file (it does not start with %PDF-)"
    if kind == "docx" and not data.startswith(b"PK\x03\x04"):
        return "not a Word .docx file (a .docx is a zip archive)"
    if kind in ("text", "markdown", "html") and b"\x00" in data[:65536]:
        return "not a text file (it contains binary data)"
    return None


def safe_name(name: str) -> str:
    """A file name with no folders and no odd characters: 'DHR (final).pdf' -> 'DHR-final.pdf'."""
    base = Path(name.replace("\\", "/")).name
    stem, ext = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "report"
    return f"{stem[:100]}{ext}"


def save(upload_dir: Path, name: str, data: bytes) -> Path:
    """Save under a safe name; the same content keeps its path, a different one gets a new name."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    first = upload_dir / safe_name(name)
    target, n = first, 2
    digest = hashlib.sha256(data).digest()
    while target.exists():
        if hashlib.sha256(target.read_bytes()).digest() == digest:
            return target
        target = upload_dir / f"{first.stem}-{n}{first.suffix}"
        n += 1
    return write_atomic(target, data)


@dataclass
class AddResult:
    refused: list[tuple[str, str]] = field(default_factory=list)   # (file name, reason): never saved
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)    # (file name, reason): the pipeline could not read it
    steps: list[str] = field(default_factory=list)
    error: str | None = None
    summary: str = ""


def add_reports(directory: str | Path, files: Iterable[tuple[str, bytes]], max_mb: int,
                on_step: Callable[[str], None] | None = None,
                on_progress: Callable[[int, int, str], None] | None = None) -> AddResult:
    """Check the files, save those that pass to <directory>/uploads and run them through
    `dhr.pipeline.build` (ingest, tag, index). Failed files are removed from uploads again;
    the store keeps everything it held (each document is written in its own transaction)."""
    directory = Path(directory)
    upload_dir = directory / "uploads"
    result = AddResult()
    paths: list[Path] = []
    for name, data in files:
        reason = check(name, data, max_mb)
        if reason:
            result.refused.append((name, reason))
        else:
            paths.append(save(upload_dir, name, data))
    if not paths:
        return result

    from dhr.pipeline import build

    def step(message: str) -> None:
        result.steps.append(message)
        if on_step:
            on_step(message)

    try:
        summary = build([str(p) for p in paths], data_dir=directory, progress=False, on_step=step,
                        on_progress=on_progress)
    except Exception as exc:  # noqa: BLE001 - shown to the user; nothing stored is lost
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    ing = summary.ingest
    result.summary = summary.describe()
    result.ingested = [Path(p).name for p in ing.ingested]
    result.unchanged = [Path(p).name for p in ing.unchanged]
    result.failed = [(Path(f.path).name, f.reason) for f in ing.failed]
    up = upload_dir.resolve()
    for f in ing.failed:  # do not keep unreadable files around
        p = Path(f.path)
        if p.resolve().parent == up:
            p.unlink(missing_ok=True)
    return result
