"""Where dhr keeps its files: one data directory holding the SQLite store and the search index."""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

DEFAULT_DATA_DIR = "dhr-data"
ENV_VAR = "DHR_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data directory: an explicit path, else $DHR_DATA_DIR, else ./dhr-data."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path(directory: Path) -> Path:
    return directory / "dhr.sqlite"


def index_path(directory: Path) -> Path:
    return directory / "index"


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write a file so that readers see the old content or the new, never half of it. `data`
    is the bytes, or a function that writes them to the open file (np.savez, joblib.dump, ...).
    The temporary file is hidden (".NAME.*.tmp") beside the target."""
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
