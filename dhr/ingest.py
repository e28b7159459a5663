"""Ingest: files in, clean passages in the store out.

    files ─► extract ─► clean ─► segment ─► metadata ─► store

Extraction is the slow part (pdfminer parses every page), so it runs in worker
processes, one per core; only the main process writes to SQLite, one document per
transaction. A file whose content, manifest row and pipeline version are unchanged is
skipped. A file that cannot be read is reported and recorded, and whatever the store
held for it before stays as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable

from . import config
from .clean import remove_running_lines
from .extract import SUPPORTED, ExtractionError, extract
from .metadata import MANIFEST_NAMES, ManifestError, load_manifest, read_metadata
from .records import Document, Failure, ProcessedDocument
from .segment import segment
from .store import Store

# Bump when extraction, cleaning or segmentation changes what they produce: stored
# documents from an older pipeline are then re-read on the next ingest.
PIPELINE_VERSION = "1"

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class IngestSummary:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    pages: int = 0
    passages: int = 0

    def describe(self) -> str:
        lines = [
            f"Ingested {len(self.ingested)} document(s) ({self.pages} pages, {self.passages} passages), "
            f"unchanged {len(self.unchanged)}, failed {len(self.failed)}"
            + (f", pruned {len(self.pruned)}" if self.pruned else "") + "."
        ]
        if self.failed:
            lines.append("Failed:")
            lines.extend(f"  {f.path}: {f.reason}" for f in self.failed)
        return "\n".join(lines)


def process_file(path: str, overrides: dict | None = None, ocr: bool = False) -> ProcessedDocument:
    """Extract, clean and segment one file and read its metadata. Raises ExtractionError."""
    file = Path(path)
    data = _read_bytes(file)
    raw = extract(file, ocr=ocr)
    remove_running_lines(raw)
    passages = segment(raw)
    if not passages:
        raise ExtractionError("no passages of text were found in the file")
    meta = read_metadata(raw, file.name)
    overrides = overrides or {}
    meta.update(overrides)
    doc = Document(
        path=str(file), file_name=file.name, content_hash=hashlib.sha256(data).hexdigest(), format=raw.format,
        page_count=raw.page_count, manifest_fields=sorted(overrides), **meta,
    )
    pages = ["\n".join(ln.text if ln.row is None else " | ".join(ln.row.values()) for ln in page) for page in raw.pages]
    return ProcessedDocument(doc, pages, passages)


def _process_safely(path: str, overrides: dict | None, ocr: bool) -> ProcessedDocument | Failure:
    """Runs in a worker: never raises, so one bad file cannot take the batch down."""
    try:
        return process_file(path, overrides, ocr)
    except ExtractionError as exc:
        return Failure(path, str(exc))
    except MemoryError:
        return Failure(path, "ran out of memory reading the file")
    except Exception as exc:  # a reader bug must still not stop the batch; say what happened
        return Failure(path, f"unexpected error while reading ({type(exc).__name__}: {exc})")


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise ExtractionError("no such file") from None
    except PermissionError:
        raise ExtractionError("permission denied: cannot read the file") from None
    except IsADirectoryError:
        raise ExtractionError("is a folder, not a file") from None
    except OSError as exc:
        raise ExtractionError(f"cannot read the file ({exc.strerror or exc})") from None


def collect_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Failure]]:
    """The files to ingest under `paths` (folders are walked), and the paths that cannot be."""
    files: list[Path] = []
    failures: list[Failure] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not _ignored(child, path):
                    files.append(child.resolve())
                elif child.is_symlink() and not child.exists():
                    failures.append(Failure(str(child), "broken link: the file it points to is gone"))
        elif path.is_file():
            files.append(path.resolve())
        elif path.is_symlink():
            failures.append(Failure(str(path), "broken link: the file it points to is gone"))
        else:
            failures.append(Failure(str(path), "no such file or folder"))
    unique = list(dict.fromkeys(files))
    for f in unique:
        if f.suffix.lower() not in SUPPORTED:
            failures.append(Failure(str(f), f"unsupported file type '{f.suffix or '(none)'}' "
                                            f"(dhr reads {' '.join(sorted(SUPPORTED))})"))
    return [f for f in unique if f.suffix.lower() in SUPPORTED], failures


def _ignored(child: Path, root: Path) -> bool:
    """Hidden files, manifests and files inside hidden folders are not documents."""
    parts = child.relative_to(root).parts
    return any(p.startswith((".", "~$")) for p in parts) or child.name in MANIFEST_NAMES


def fingerprint(data_hash: str, overrides: dict) -> str:
    payload = json.dumps([data_hash, overrides, PIPELINE_VERSION], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_paths(
    paths: Iterable[str | os.PathLike],
    data_dir: str | os.PathLike | None = None,
    prune: bool = False,
    ocr: bool = False,
    workers: int | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Ingest files and folders into the store in `data_dir`; see the module docstring."""
    paths = list(paths)
    summary = IngestSummary()
    files, failures = collect_files(paths)
    summary.failed.extend(failures)
    manifests: dict[Path, dict] = {}
    with Store(config.db_path(config.data_dir(data_dir))) as store:
        for failure in failures:
            store.record_failure(failure)
        todo: list[tuple[Path, dict, str]] = []
        for file in files:
            try:
                overrides = _manifest_for(file, manifests).get(file.name, {})
                fp = fingerprint(_file_hash(file), overrides)
            except ManifestError as exc:
                summary.failed.append(Failure(str(file), str(exc)))
                continue
            except OSError as exc:
                summary.failed.append(Failure(str(file), f"cannot read the file ({exc.strerror or exc})"))
                continue
            if store.fingerprint_for(str(file)) == fp:
                summary.unchanged.append(str(file))
            else:
                todo.append((file, overrides, fp))
        for result, fp in _run(todo, ocr, workers, progress, on_progress):
            if isinstance(result, Failure):
                summary.failed.append(result)
                store.record_failure(result)
                continue
            store.save_document(result, fp)
            summary.ingested.append(result.document.path)
            summary.pages += result.document.page_count
            summary.passages += len(result.passages)
        if prune:
            summary.pruned = prune_missing(store)
    return summary


def prune_missing(store: Store) -> list[str]:
    """Remove stored documents whose files are gone; returns their paths."""
    gone = [d for d in store.documents() if not Path(d["path"]).exists()]
    for doc in gone:
        store.delete_document(doc["doc_id"])
    for failure in store.failures():
        if not Path(failure["path"]).exists():
            store.clear_failure(failure["path"])
    return [d["path"] for d in gone]


def _manifest_for(file: Path, cache: dict[Path, dict]) -> dict:
    folder = file.parent
    if folder not in cache:
        cache[folder] = load_manifest(folder)
    return cache[folder]


def _run(todo, ocr, workers, progress, on_progress):
    """Yield (ProcessedDocument or Failure, fingerprint) for each file, using up to `workers` processes."""
    from tqdm import tqdm

    total = len(todo)
    workers = workers or min(2, os.cpu_count() or 1)
    bar = tqdm(total=total, unit="file", desc="Ingesting", disable=not progress or total == 0, leave=False)
    done = 0

    def tick(path: Path):
        nonlocal done
        done += 1
        bar.update(1)
        bar.set_postfix_str(path.name[:40], refresh=False)
        if on_progress:
            on_progress(done, total, str(path))

    try:
        if workers <= 1 or total < 3:
            for file, overrides, fp in todo:
                result = _process_safely(str(file), overrides, ocr)
                tick(file)
                yield result, fp
            return
        # spawn, not fork: the caller may be a threaded server (the explorer)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_process_safely, str(f), o, ocr): (f, fp) for f, o, fp in todo}
            for future in as_completed(futures):
                file, fp = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    result = Failure(str(file), "the reader process crashed on this file")
                tick(file)
                yield result, fp
    finally:
        bar.close()
