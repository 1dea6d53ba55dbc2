"""The folder for the files this process hands out (GIFs, PNG grids, checkpoints trained here)."""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
import time
from pathlib import Path

OUT_DIR = Path(tempfile.mkdtemp(prefix="diffusion-playground-"))


def out_path(stem: str, suffix: str) -> Path:
    """A fresh file name under OUT_DIR; files older than an hour are removed on the way."""
    now = time.time()
    for old in OUT_DIR.glob("*"):
        try:
            if now - old.stat().st_mtime > 3600:
                old.unlink()
        except OSError:
            pass
    return OUT_DIR / f"{stem}-{_dt.datetime.now().strftime('%H%M%S')}-{os.urandom(3).hex()}{suffix}"
