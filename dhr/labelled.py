"""The labelled set: passages read against the codebook by people, kept in `corpus/labelled/*.jsonl`.

Each line is one passage:

    {"id": ..., "source": "handwritten" | "seed" | "demo", "text": ...,   # text absent for seed records
     "file": ..., "start": ..., "end": ..., "sha1": ...,                  # seed records only
     "form": ..., "themes": [...], "agencies": [{"id": ..., "mention": ...}],
     "is_recommendation": bool, "addressees": [...], "split": "train" | "test"}

Seed records point into third-party documents that the project must not copy; their text is
read at load time from `<repo>/../shared/corpus/seeds/<file>` (or `$DHR_SEEDS_DIR`) and checked
against its sha1. When that folder is absent (a fresh clone) seed records are skipped and a
note says so.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABELLED_DIR = REPO / "corpus" / "labelled"
SEEDS_ENV = "DHR_SEEDS_DIR"


def seeds_dir() -> Path:
    env = os.environ.get(SEEDS_ENV)
    return Path(env) if env else REPO.parent / "shared" / "corpus" / "seeds"


@dataclass
class Example:
    id: str
    source: str
    text: str
    form: str = ""
    themes: list[str] = field(default_factory=list)
    agencies: list[dict] = field(default_factory=list)
    is_recommendation: bool = False
    addressees: list[str] = field(default_factory=list)
    split: str = "train"
    file: str = ""
    cells: dict | None = None
    label: str = ""


@dataclass
class LabelledSet:
    examples: list[Example]
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]

    @property
    def train(self) -> list[Example]:
        return self.split("train")

    @property
    def test(self) -> list[Example]:
        return self.split("test")


def load(directory: str | Path | None = None, sources: set[str] | None = None) -> LabelledSet:
    """Load every `*.jsonl` under the labelled folder; resolve seed text; skip what cannot be read."""
    directory = Path(directory) if directory else LABELLED_DIR
    notes: list[str] = []
    examples: list[Example] = []
    sdir = seeds_dir()
    seed_cache: dict[str, str | None] = {}
    skipped_missing = skipped_bad = 0
    seen: set[str] = set()
    for path in sorted(directory.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                # files are being appended to while we read: a half-written last line is skipped
                notes.append(f"{path.name}:{n}: not valid JSON, skipped")
                continue
            source = rec.get("source", "")
            if sources and source not in sources:
                continue
            if rec.get("id") in seen:
                notes.append(f"{path.name}:{n}: duplicate id {rec.get('id')}, skipped")
                continue
            text = rec.get("text")
            if text is None and rec.get("file"):
                fname = rec["file"]
                if fname not in seed_cache:
                    fp = sdir / fname
                    seed_cache[fname] = fp.read_text(encoding="utf-8") if fp.is_file() else None
                full = seed_cache[fname]
                if full is None:
                    skipped_missing += 1
                    continue
                text = full[rec["start"]:rec["end"]]
                if hashlib.sha1(text.encode("utf-8")).hexdigest() != rec.get("sha1"):
                    skipped_bad += 1
                    continue
            if not text:
                continue
            seen.add(rec.get("id"))
            examples.append(
                Example(
                    id=rec.get("id", f"{path.stem}-{n}"),
                    source=source,
                    text=text,
                    form=rec.get("form", ""),
                    themes=list(rec.get("themes", [])),
                    agencies=list(rec.get("agencies", [])),
                    is_recommendation=bool(rec.get("is_recommendation", False)),
                    addressees=list(rec.get("addressees", [])),
                    split=rec.get("split", "train"),
                    file=rec.get("file", ""),
                    cells=rec.get("cells"),
                    label=rec.get("label", ""),
                )
            )
    if skipped_missing:
        notes.append(
            f"{skipped_missing} seed passages skipped: seed documents not found in {sdir} "
            f"(set ${SEEDS_ENV} to the folder holding them)"
        )
    if skipped_bad:
        notes.append(f"{skipped_bad} seed passages skipped: text does not match its sha1 (document changed?)")
    return LabelledSet(examples, notes)
