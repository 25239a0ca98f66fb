"""Hub names resolved offline: a local folder placed where ``from_pretrained(name)`` looks for a download
(chapters 3.9, 5.1; the ``hub`` profile).

Online, ``from_pretrained("intfloat/multilingual-e5-small")`` downloads into the Hugging Face cache and loads from
there; offline (``HF_HUB_OFFLINE=1``), it loads from that cache or fails. :func:`seed_hub_cache` writes the cache
entry a download would have left — ``models--{org}--{name}/refs/main`` naming a snapshot that holds the files — for
a folder written by ``save_pretrained``. CI has no internet; this is how it runs the ``hub`` profile's code path
with the rebuilt e5-small and a tiny XLM-R standing in for the real downloads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from huggingface_hub import constants


def hub_cache_entry(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of model ``name`` ("org/name" or a legacy "name") in the Hugging Face cache."""
    if not name or name.count("/") > 1 or name.startswith("/") or name.endswith("/"):
        raise ValueError(f"a hub model name is 'org/name' or 'name', got {name!r}")
    return Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + name.replace("/", "--"))


def seed_hub_cache(name: str, folder: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Make ``from_pretrained(name)`` load ``folder`` offline; returns the snapshot folder. The files are linked,
    not copied; the snapshot's name is a hash of the files' names and sizes, as stable as a commit id."""
    folder = Path(folder)
    files = sorted(path for path in folder.iterdir() if path.is_file())
    if not any(path.name == "config.json" for path in files):
        raise ValueError(f"{folder} has no config.json: give a folder written by save_pretrained")
    revision = hashlib.sha1("".join(f"{p.name}:{p.stat().st_size};" for p in files).encode()).hexdigest()
    entry = hub_cache_entry(name, cache_dir)
    snapshot = entry / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in files:
        link = snapshot / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(path.resolve(), link)
    (entry / "refs").mkdir(exist_ok=True)
    (entry / "refs" / "main").write_text(revision)
    return snapshot
