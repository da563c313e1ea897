"""Bearer-token check for the API's write operations (rollout changes)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header

from hybrid_core.errors import Forbidden, Unauthorized
from operation_server.deps import StateDep


def require_admin(
    state: StateDep, authorization: Annotated[str | None, Header(description="Bearer <token>")] = None
) -> str:
    """The caller's identity for the audit trail; 401 without a bearer token, 403 with a wrong one."""
    expected = state.settings.admin_token
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("this operation needs 'Authorization: Bearer <token>'", field="authorization")
    if not expected:
        raise Forbidden(
            "rollout writes are disabled: set HYBRID_ADMIN_TOKEN on the API", field="authorization"
        )
    token = authorization.split(" ", 1)[1].strip()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("the bearer token is not valid", field="authorization")
    return "admin"


AdminDep = Annotated[str, Depends(require_admin)]
