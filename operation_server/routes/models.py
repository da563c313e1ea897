"""``/v1/models``: what the repository holds and what Triton has READY."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from operation_server.auth import JobsCaller
from operation_server.catalog import ModelCatalog
from operation_server.deps import StateDep
from operation_server.errors import documented

router = APIRouter(prefix="/v1/models", tags=["models"], responses=documented(401, 403, 404, 422, 503))


class VersionInfo(BaseModel):
    version: str
    ready: bool
    window: int
    horizon: int
    kind: str
    interval_level: float
    trained_on: str | None = None


class ModelInfo(BaseModel):
    name: str
    versions: list[VersionInfo]
    ready_versions: list[str]
    """READY on every healthy Triton replica: what routing may use."""
    triton_reachable: bool
    replicas: dict[str, list[str] | None]
    """Per replica URL, the versions READY there (null: the replica is out of the pool)."""


def describe(catalog: ModelCatalog, model: str) -> ModelInfo:
    """Repository versions of ``model`` with their READY state and processing parameters."""
    ready = catalog.ready_versions(model)
    versions = []
    for version in catalog.versions(model):
        params = catalog.params(model, version)
        dataset = params.training.get("dataset")
        versions.append(
            VersionInfo(
                version=version,
                ready=version in ready,
                window=params.window,
                horizon=params.horizon,
                kind=params.kind,
                interval_level=params.residuals.interval_level,
                trained_on=str(dataset) if dataset is not None else None,
            )
        )
    return ModelInfo(
        name=model,
        versions=versions,
        ready_versions=sorted(ready, key=int),
        triton_reachable=catalog.ready.reachable,
        replicas=catalog.replica_versions(model),
    )


@router.get("", response_model=list[ModelInfo])
def list_models(state: StateDep, _: JobsCaller) -> list[ModelInfo]:
    """Every model of the repository."""
    return [describe(state.catalog, model) for model in state.catalog.models()]


@router.get("/{model}", response_model=ModelInfo)
def get_model(model: str, state: StateDep, _: JobsCaller) -> ModelInfo:
    """One model; 404 if the repository does not hold it."""
    return describe(state.catalog, model)
