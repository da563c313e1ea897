"""Who is calling: the tenant that owns what it submits, what it may do, and its limits."""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC_TENANT = "public"
ADMIN_TENANT = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller: the tenant that owns what it submits, and what it may do."""

    name: str
    tenant: str
    scopes: frozenset[str]
    rate_per_s: float | None = None
    """Submissions per second; None: the API's default."""
    max_in_flight: int | None = None
    """Jobs of the tenant queued or running; None: the API's default."""


ANONYMOUS = Principal("anonymous", PUBLIC_TENANT, frozenset({"jobs"}))
"""A caller without a key, on an API with auth off."""
UNKNOWN_KEY = Principal("unknown key", PUBLIC_TENANT, frozenset({"jobs"}))
"""A caller with a key nobody issued, on an API with auth off: as open as anonymous, never admin."""
BOOTSTRAP_ADMIN = Principal("admin", ADMIN_TENANT, frozenset({"jobs", "admin"}))
