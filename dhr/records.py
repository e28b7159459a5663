"""The plain records that flow through the pipeline: a document, its pages and its passages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Passage:
    """About one paragraph of a document, never cut mid-sentence.

    `kind` is "paragraph", "list" or "table_row"; a table row keeps its cells as
    {column name: value}. `label` is the paragraph or recommendation number the
    report gives ("4.12", "Recommendation 3"), when it gives one.
    """

    seq: int
    text: str
    page: int
    page_end: int
    section: str = ""
    kind: str = "paragraph"
    label: str = ""
    cells: dict[str, str] | None = None


@dataclass
class Document:
    path: str
    file_name: str
    content_hash: str
    format: str
    page_count: int
    title: str = ""
    year: int | None = None
    date: str = ""
    area: str = ""
    doc_type: str = "other"
    publisher: str = ""
    # which metadata fields came from a manifest rather than from the document itself
    manifest_fields: list[str] = field(default_factory=list)
    doc_id: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ProcessedDocument:
    """What extraction and segmentation make of one file, ready to store."""

    document: Document
    pages: list[str]
    passages: list[Passage]


@dataclass
class Failure:
    path: str
    reason: str
    content_hash: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
