from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("DHR_SEEDS_DIR", REPO.parent / "shared" / "corpus" / "seeds"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def seeds_dir() -> Path:
    if not (SEEDS / "manifest.csv").is_file():
        pytest.skip(f"the real seed documents are not here ({SEEDS}); they live in ../shared beside the repo")
    return SEEDS
