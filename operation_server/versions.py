"""Version resolution, in one place: an explicit version wins, else the newest READY version."""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_core.errors import ServiceUnavailable, VersionNotLoaded
from hybrid_core.schemas import Arm
from hybrid_core.version_params import VersionParams
from operation_server.catalog import ModelCatalog


@dataclass(frozen=True)
class Resolution:
    version: str
    arm: Arm
    params: VersionParams


def resolve_version(catalog: ModelCatalog, model: str, version: str | None) -> Resolution:
    """Resolve the version a request runs on.

    - ``version`` given: it must be in the repository (404) and, when Triton's state is
      known, loaded there (409 with how to load it).
    - otherwise: the newest version READY in Triton; while Triton has not been reached
      yet, the newest repository version (the job waits in the queue for Triton).
    """
    repository = catalog.versions(model)
    ready = catalog.ready_versions(model) or set()
    reachable = catalog.ready.reachable
    if version is not None:
        params = catalog.params(model, version)
        if reachable and version not in ready:
            raise VersionNotLoaded(
                f"model {model!r} version {version} is in the repository but not loaded in Triton; "
                f"make it available with a rollout policy that keeps it pinnable "
                f"(PUT /v1/models/{model}/rollout) or load it in Triton",
                field="version",
            )
        return Resolution(version=version, arm="pinned", params=params)
    if reachable:
        candidates = [v for v in repository if v in ready]
        if not candidates:
            raise ServiceUnavailable(f"no version of model {model!r} is loaded in Triton")
    else:
        # Triton unreachable: the last versions seen READY, else the repository's newest;
        # the job waits in the queue and its worker retries until Triton is back.
        candidates = [v for v in repository if v in ready] or repository
    newest = max(candidates, key=int)
    return Resolution(version=newest, arm="latest", params=catalog.params(model, newest))
