"""Who is calling: API keys and tenants, checked once per request by FastAPI dependencies.

With ``HYBRID_AUTH=required`` the job, forecast and model routes need ``Authorization: Bearer
<key>`` (401 without one, 403 for a revoked key or a missing scope); rollout writes need the
``admin`` scope. ``HYBRID_ADMIN_TOKEN`` is a bootstrap key with every scope. With auth off the
routes are open and every job belongs to the tenant ``public``; rollout writes still need the
admin token.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import Depends, Header

from hybrid_core.errors import Forbidden, Unauthorized
from operation_server.deps import StateDep
from operation_server.principal import ANONYMOUS, BOOTSTRAP_ADMIN, UNKNOWN_KEY, Principal

AuthorizationHeader = Annotated[str | None, Header(description="Bearer <API key>")]


def _bearer(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    return authorization.split(" ", 1)[1].strip() or None


async def authenticate(state: StateDep, authorization: AuthorizationHeader = None) -> Principal:
    """The caller of this request; 401 without a key where one is required, 403 for a revoked one."""
    token = _bearer(authorization)
    admin_token = state.settings.admin_token
    if token is not None and admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return BOOTSTRAP_ADMIN
    if token is None:
        if state.settings.auth == "off":
            return ANONYMOUS
        raise Unauthorized("this route needs 'Authorization: Bearer <API key>'", field="authorization")
    cached, record = state.keys.cached(token)
    if not cached:  # a database read: off the event loop
        record = await asyncio.to_thread(state.keys.find, token)
    if record is None:
        if state.settings.auth == "off":
            return UNKNOWN_KEY
        raise Unauthorized("the API key is not known", field="authorization")
    if record.revoked:
        raise Forbidden(f"the API key {record.name!r} was revoked", field="authorization")
    return Principal(record.name, record.tenant, record.scopes, record.rate_per_s, record.max_in_flight)


def _require(scope: str) -> object:
    # async, like every dependency here: FastAPI runs a plain function in a worker thread, a hop
    # that cost a tenth of the API's CPU per job when these were sync.
    # One dependency, not one per step: FastAPI's dependency solving was a fifth of the API's
    # GIL time per request, and each nested level adds to it.
    async def check(state: StateDep, authorization: AuthorizationHeader = None) -> Principal:
        caller = await authenticate(state, authorization)
        if scope in caller.scopes:
            return caller
        if caller is ANONYMOUS:
            raise Unauthorized("this operation needs 'Authorization: Bearer <token>'", field="authorization")
        if caller is UNKNOWN_KEY:
            raise Forbidden("the bearer token is not valid", field="authorization")
        raise Forbidden(f"the key {caller.name!r} lacks the {scope!r} scope", field="authorization")

    return check


JobsCaller = Annotated[Principal, Depends(_require("jobs"))]
"""A caller allowed to submit and read jobs, forecasts and models."""
AdminCaller = Annotated[Principal, Depends(_require("admin"))]
"""A caller allowed to change rollouts."""
