"""The main job: ingest files, tag every passage, and bring the search index up to date."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import config
from .ingest import IngestSummary, ingest_paths

StepCallback = Callable[[str], None]


@dataclass
class BuildSummary:
    ingest: IngestSummary
    steps: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "\n".join([self.ingest.describe(), *self.steps])


def build(
    paths: Iterable[str | os.PathLike],
    data_dir: str | os.PathLike | None = None,
    prune: bool = False,
    ocr: bool = False,
    progress: bool = True,
    on_step: StepCallback | None = None,
    on_progress=None,
) -> BuildSummary:
    """Ingest `paths` into the data directory, then run every later stage over the store."""
    directory = config.data_dir(data_dir)
    say = on_step or (lambda _msg: None)
    say("Reading documents")
    summary = BuildSummary(ingest_paths(paths, data_dir=directory, prune=prune, ocr=ocr, progress=progress,
                                        on_progress=on_progress))
    return summary
