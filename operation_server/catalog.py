"""What models and versions exist (repository) and which are READY (Triton, refreshed in the background)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_core.errors import HybridError, ModelNotFound, VersionNotFound
from hybrid_core.version_params import (
    VersionParams,
    load_version_params,
    repository_models,
    repository_versions,
)
from triton_client import TritonClient

logger = logging.getLogger(__name__)

READY_REFRESH_INTERVAL_S = 0.5
LISTING_TTL_S = 1.0
"""A version folder added to the repository is seen within this long."""


@dataclass
class ReadySnapshot:
    """Triton's READY versions per model as last seen, and whether the last look reached it."""

    versions: dict[str, set[str]] = field(default_factory=dict)
    reachable: bool = False


class ModelCatalog:
    """Repository versions with their params, and Triton readiness kept fresh within ~0.5 s."""

    def __init__(self, repository: Path, triton: TritonClient) -> None:
        self.repository = repository
        self.triton = triton
        self.ready = ReadySnapshot()
        self._listings: dict[str, tuple[float, list[str]]] = {}

    def models(self) -> list[str]:
        return repository_models(self.repository)

    def versions(self, model: str, *, fresh: bool = False) -> list[str]:
        """Repository versions of ``model`` (a listing at most LISTING_TTL_S old, or a new one when
        ``fresh``); ModelNotFound if none."""
        now = time.monotonic()
        cached = self._listings.get(model)
        if not fresh and cached is not None and now - cached[0] < LISTING_TTL_S:
            versions = cached[1]
        else:
            # Listing the folder on every request costs more than the rest of resolution.
            versions = repository_versions(self.repository, model)
            self._listings[model] = (now, versions)
        if not versions:
            raise ModelNotFound(f"model {model!r} is not in the repository", field="model")
        return versions

    def params(self, model: str, version: str) -> VersionParams:
        """Parameters of an existing version; VersionNotFound otherwise."""
        # A version exported a moment ago may postdate the cached listing: look again before a 404.
        if version not in self.versions(model) and version not in self.versions(model, fresh=True):
            raise VersionNotFound(
                f"model {model!r} has no version {version!r}; versions: {', '.join(self.versions(model))}",
                field="version",
            )
        return load_version_params(self.repository, model, version)

    def ready_versions(self, model: str) -> set[str]:
        """READY versions as last seen in Triton (empty while Triton was never reached)."""
        return self.ready.versions.get(model, set())

    def refresh(self) -> None:
        """Read Triton's repository index once (blocking)."""
        try:
            index = self.triton.repository_index()
        except HybridError as exc:
            if self.ready.reachable:
                logger.warning("Triton unreachable, keeping last known readiness: %s", exc.message)
            self.ready.reachable = False
            return
        versions: dict[str, set[str]] = {}
        for entry in index:
            if entry.state == "READY":
                versions.setdefault(entry.name, set()).add(entry.version)
        self.ready = ReadySnapshot(versions=versions, reachable=True)
