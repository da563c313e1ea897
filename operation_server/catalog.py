"""What models and versions exist (repository) and which are READY (Triton, refreshed in the background).

With several Triton replicas a version is READY for routing only when every healthy replica
holds it: a job sent to any replica then finds its version. Replicas taken out of the pool
(``triton_client.TritonPool``) do not count until they are back and reconciled.
"""

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
from triton_client import TritonPool

logger = logging.getLogger(__name__)

READY_REFRESH_INTERVAL_S = 0.5
LISTING_TTL_S = 1.0
"""A version folder added to the repository is seen within this long."""


@dataclass(frozen=True)
class ReplicaReadiness:
    """One replica's READY versions per model as last seen; ``reachable`` False while it is out."""

    url: str
    reachable: bool
    versions: dict[str, set[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ReadySnapshot:
    """READY versions per model on every healthy replica, and whether any replica was reached."""

    versions: dict[str, set[str]] = field(default_factory=dict)
    reachable: bool = False
    replicas: list[ReplicaReadiness] = field(default_factory=list)


def ready_everywhere(replicas: list[ReplicaReadiness]) -> dict[str, set[str]]:
    """Per model, the versions READY on every reachable replica."""
    reached = [r for r in replicas if r.reachable]
    if not reached:
        return {}
    models = set.intersection(*(set(r.versions) for r in reached))
    return {m: set.intersection(*(r.versions[m] for r in reached)) for m in models}


class ModelCatalog:
    """Repository versions with their params, and Triton readiness kept fresh within ~0.5 s."""

    def __init__(self, repository: Path, triton: TritonPool) -> None:
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
        """Versions READY on every healthy replica as last seen (empty while none was reached)."""
        return self.ready.versions.get(model, set())

    def replica_versions(self, model: str) -> dict[str, list[str] | None]:
        """Per replica URL, the READY versions of ``model`` (None: the replica is out of the pool)."""
        return {
            r.url: sorted(r.versions.get(model, set()), key=int) if r.reachable else None
            for r in self.ready.replicas
        }

    def refresh(self) -> None:
        """Read the repository index of every healthy replica once (blocking)."""
        healthy = {replica.index for replica in self.triton.replicas(healthy_only=True)}
        seen: list[ReplicaReadiness] = []
        for replica in self.triton.replicas():
            if replica.index not in healthy:
                seen.append(ReplicaReadiness(replica.url, reachable=False, error="taken out of the pool"))
                continue
            try:
                index = replica.client.repository_index()
            except HybridError as exc:
                seen.append(ReplicaReadiness(replica.url, reachable=False, error=exc.message))
                continue
            versions: dict[str, set[str]] = {}
            for entry in index:
                if entry.state == "READY":
                    versions.setdefault(entry.name, set()).add(entry.version)
            seen.append(ReplicaReadiness(replica.url, reachable=True, versions=versions))
        reachable = any(r.reachable for r in seen)
        if not reachable:
            if self.ready.reachable:
                errors = "; ".join(f"{r.url}: {r.error}" for r in seen)
                logger.warning("no Triton replica reachable, keeping last known readiness: %s", errors)
            # Keep the last READY versions: resolution falls back on them while Triton is away.
            self.ready = ReadySnapshot(versions=self.ready.versions, reachable=False, replicas=seen)
            return
        self.ready = ReadySnapshot(versions=ready_everywhere(seen), reachable=True, replicas=seen)
