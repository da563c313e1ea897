"""Make Triton hold exactly the versions a rollout needs, without restarting it.

Triton runs with explicit model control; reloading a model with a config override whose
``version_policy`` names the wanted versions loads the new ones and unloads the others
once their in-flight requests finish (Triton drains them itself). Versions that queued or
running jobs were assigned stay loaded until those jobs end, so nothing in flight fails.
"""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf.json_format import MessageToDict

from hybrid_core.errors import Conflict, HybridError
from triton_client import TritonClient

logger = logging.getLogger(__name__)


class VersionLoadFailed(Conflict):
    code = "version_load_failed"


def override_config(triton: TritonClient, model: str, versions: set[str]) -> dict[str, Any]:
    """The model's current config with ``version_policy`` naming exactly ``versions``."""
    config: dict[str, Any] = MessageToDict(
        triton.model_config(model, refresh=True), preserving_proto_field_name=True
    )
    config["version_policy"] = {"specific": {"versions": sorted(int(v) for v in versions)}}
    return config


def ensure_versions(triton: TritonClient, model: str, versions: set[str]) -> bool:
    """Reload ``model`` so that exactly ``versions`` are READY; False when already so.

    Raises VersionLoadFailed (409) naming the versions that did not become READY.
    """
    ready = set(triton.ready_versions(model))
    if ready == versions:
        return False
    logger.info("Triton %s: READY %s -> %s", model, sorted(ready), sorted(versions))
    try:
        triton.load_model(model, config=override_config(triton, model, versions))
    except HybridError as exc:
        wanted = sorted(versions)
        raise VersionLoadFailed(f"Triton could not load {model} versions {wanted}: {exc.message}") from exc
    missing = versions - set(triton.ready_versions(model))
    if missing:
        raise VersionLoadFailed(f"Triton did not make {model} versions {sorted(missing)} READY")
    return True
