"""The local Triton's copy of the repository: each version a link to its canonical folder.

The local stack derives the copy at start (``local_stack.derive``); the rollout controller
adds a link for a version exported afterwards before it asks Triton to load it. Both use this
one function, so the two never disagree on the layout.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def link_version(source_model_dir: Path, target_model_dir: Path, version: str) -> bool:
    """Link ``target_model_dir/version`` to ``source_model_dir/version``; False when already there.

    The link is made under a hidden name and renamed into place, so Triton (which ignores
    non-numeric entries) never sees a half-made one, and two processes may race safely.
    """
    final = target_model_dir / version
    if final.exists():
        return False
    staging = target_model_dir / f".{version}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    staging.symlink_to((source_model_dir / version).resolve(), target_is_directory=True)
    os.replace(staging, final)
    return True
