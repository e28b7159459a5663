"""The main job: ingest files, tag every passage, and bring the search index up to date.

    dhr build PATHS  =  dhr ingest PATHS  +  dhr tag --store  +  dhr index

and then the explorer's summaries of the store are refreshed (dhr.facts), so that its
first visit afterwards reads them instead of the whole store.

Each stage works from what the one before left in the store, so a stage can be re-run
on its own (re-tagging after a codebook change does not re-read any file).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import config
from .facts import refresh_cache
from .ingest import IngestSummary, ProgressCallback, ingest_paths
from .store import Store

StepCallback = Callable[[str], None]


@dataclass
class BuildSummary:
    ingest: IngestSummary
    tagged_documents: int = 0
    index: dict = field(default_factory=dict)

    def describe(self) -> str:
        lines = [self.ingest.describe(), f"Tagged {self.tagged_documents} document(s)."]
        if self.index:
            lines.append(
                f"Index: {self.index.get('added', 0)} added, {self.index.get('updated', 0)} updated, "
                f"{self.index.get('removed', 0)} removed, {self.index.get('unchanged', 0)} unchanged."
            )
        return "\n".join(lines)


def build(
    paths: Iterable[str | os.PathLike],
    data_dir: str | os.PathLike | None = None,
    prune: bool = False,
    ocr: bool = False,
    progress: bool = True,
    on_step: StepCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> BuildSummary:
    """Ingest `paths` into the data directory, tag what is new or stale, and update the index."""
    directory = config.data_dir(data_dir)
    say = on_step or (lambda _msg: None)
    say("Reading documents")
    summary = BuildSummary(ingest_paths(paths, data_dir=directory, prune=prune, ocr=ocr, progress=progress,
                                        on_progress=on_progress))
    refresh(directory, summary, progress=progress, say=say)
    return summary


def refresh(directory, summary: BuildSummary | None = None, progress: bool = True,
            say: StepCallback = lambda _msg: None) -> BuildSummary:
    """Tag stale documents and bring the search index in line with the store."""
    from .index import SearchIndex
    from .tag import tag_store

    summary = summary or BuildSummary(IngestSummary())
    with Store(config.db_path(directory)) as store:
        say("Tagging passages")
        summary.tagged_documents = tag_store(store, progress=progress)
        say("Updating the search index")
        index = SearchIndex(directory)
        try:
            summary.index = index.update_from_store(store, progress=progress)
        finally:
            index.close()
    say("Preparing the explorer")
    refresh_cache(directory, index_updated=True)
    return summary
