"""Make every Triton replica hold exactly the versions a rollout needs, without restarting it.

Triton runs with explicit model control; reloading a model with a config override whose
``version_policy`` names the wanted versions loads the new ones and unloads the others
once their in-flight requests finish (Triton drains them itself). Versions that queued or
running jobs were assigned stay loaded until those jobs end, so nothing in flight fails.

A rollout change goes to every healthy replica, all or none (``ensure_on_every_replica``); the
upkeep loop brings each replica in line on its own (``reconcile_every_replica``), so a replica
that restarts or joins later gets the policy's versions within a tick.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.json_format import MessageToDict

from hybrid_core.errors import Conflict, HybridError
from hybrid_core.served_repository import link_version
from hybrid_core.settings import Settings
from hybrid_core.version_params import check_version_complete
from triton_client import Replica, TritonClient, TritonPool, TritonUnavailable

logger = logging.getLogger(__name__)


class VersionLoadFailed(Conflict):
    code = "version_load_failed"


class VersionStager(Protocol):
    """Makes versions of the canonical repository loadable by the Triton we talk to."""

    def stage(self, model: str, versions: set[str]) -> None:
        """Raise VersionIncomplete (409) naming what is missing; else the versions can be loaded."""


class CanonicalVersions:
    """Triton reads the canonical repository itself (production): only check the folders are whole."""

    def __init__(self, repository: Path) -> None:
        self.repository = repository

    def stage(self, model: str, versions: set[str]) -> None:
        for version in sorted(versions, key=int):
            check_version_complete(self.repository, model, version)


class LinkedVersions(CanonicalVersions):
    """The local Triton serves a copy whose versions link to canonical folders: link new ones."""

    def __init__(self, repository: Path, served_repository: Path) -> None:
        super().__init__(repository)
        self.served_repository = served_repository

    def stage(self, model: str, versions: set[str]) -> None:
        super().stage(model, versions)
        served_model_dir = self.served_repository / model
        if not served_model_dir.is_dir():
            raise Conflict(
                f"model {model!r} was added to the repository after the local Triton started; "
                "restart the local stack to serve it",
                field="model",
            )
        for version in versions:
            if link_version(self.repository / model, served_model_dir, version):
                logger.info("linked %s version %s into %s", model, version, served_model_dir)


def version_stager(settings: Settings) -> VersionStager:
    """The stager of this deployment: link into the local Triton's copy when there is one."""
    if settings.triton_python_repository is None:
        return CanonicalVersions(settings.model_repository)
    return LinkedVersions(settings.model_repository, settings.triton_python_repository)


def override_config(triton: TritonClient, model: str, versions: set[str]) -> dict[str, Any]:
    """The model's current config with ``version_policy`` naming exactly ``versions``."""
    config: dict[str, Any] = MessageToDict(
        triton.model_config(model, refresh=True), preserving_proto_field_name=True
    )
    config["version_policy"] = {"specific": {"versions": sorted(int(v) for v in versions)}}
    return config


def ensure_versions(
    triton: TritonClient, stager: VersionStager, model: str, versions: set[str], *, replica: str | None = None
) -> bool:
    """Reload ``model`` on one Triton so that exactly ``versions`` are READY; False when already so.

    Versions Triton does not hold yet are staged first (checked whole, linked where the local
    stack serves a copy). Raises VersionIncomplete (409) naming a missing file, or
    VersionLoadFailed (409) naming the replica and the versions that did not become READY.
    """
    where = f"Triton replica {replica or triton.url}"
    ready = set(triton.ready_versions(model))
    if ready == versions:
        return False
    stager.stage(model, versions - ready)
    logger.info("%s %s: READY %s -> %s", where, model, sorted(ready), sorted(versions))
    try:
        triton.load_model(model, config=override_config(triton, model, versions))
    except HybridError as exc:
        wanted = sorted(versions)
        raise VersionLoadFailed(f"{where} could not load {model} versions {wanted}: {exc.message}") from exc
    missing = versions - set(triton.ready_versions(model))
    if missing:
        raise VersionLoadFailed(f"{where} did not make {model} versions {sorted(missing)} READY")
    return True


def ensure_on_every_replica(pool: TritonPool, stager: VersionStager, model: str, versions: set[str]) -> bool:
    """``ensure_versions`` on every healthy replica, all or none; False when all held them already.

    When one replica fails, the replicas already changed are put back to the versions they held
    before (best effort, logged), and the error names the replica that failed.
    """
    replicas = pool.replicas(healthy_only=True)
    if not replicas:
        raise TritonUnavailable(f"no healthy Triton replica among {', '.join(pool.urls)}")
    before = {r.url: set(r.client.ready_versions(model)) for r in replicas}
    changed: list[Replica] = []
    try:
        for replica in replicas:
            if ensure_versions(replica.client, stager, model, versions, replica=replica.url):
                changed.append(replica)
    except HybridError:
        for done in reversed(changed):
            _restore(done, stager, model, before[done.url])
        raise
    return bool(changed)


def _restore(replica: Replica, stager: VersionStager, model: str, versions: set[str]) -> None:
    if not versions:
        return  # nothing of the model was READY there: leave what the failed change loaded
    try:
        ensure_versions(replica.client, stager, model, versions, replica=replica.url)
        logger.warning("Triton replica %s: %s put back to versions %s", replica.url, model, sorted(versions))
    except HybridError as exc:
        logger.error(
            "Triton replica %s: could not put %s back to %s: %s", replica.url, model, sorted(versions), exc
        )


def reconcile_every_replica(pool: TritonPool, stager: VersionStager, model: str, versions: set[str]) -> bool:
    """``ensure_versions`` on each healthy replica independently; True when any changed.

    A replica that fails does not stop the others (a restarted replica is brought in line while
    the rest keep serving); the error raised afterwards names every replica that failed.
    """
    changed = False
    failures: list[str] = []
    for replica in pool.replicas(healthy_only=True):
        try:
            changed |= ensure_versions(replica.client, stager, model, versions, replica=replica.url)
        except HybridError as exc:
            failures.append(exc.message)
    if failures:
        raise VersionLoadFailed("; ".join(failures))
    return changed
