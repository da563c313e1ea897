"""The secret header that Triton's restricted protocols require: model control and admin APIs.

Triton refuses a protocol listed in ``--grpc-restricted-protocol`` / ``--http-restricted-api``
unless the request carries ``<header>: <secret>``. We restrict the model repository (index,
load, unload: loading runs model code, so it must stay with trusted callers) and the
shared-memory, logging and trace protocols (nothing of ours uses them). Health, metadata,
model config, statistics and inference stay open to every client on Triton's network.

Triton answers a refused gRPC call with ``UNAVAILABLE`` and a refused HTTP call with 403.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from pydantic import SecretStr

RESTRICTED_PROTOCOLS = ("model-repository", "shared-memory", "logging", "trace")
"""Triton protocol names (the same for gRPC and HTTP) that need the header."""
DEFAULT_CONTROL_HEADER = "hybrid-control-key"
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"
"""Triton expects the gRPC metadata key as this prefix plus the configured header."""
_HEADER = re.compile(r"[a-z0-9][a-z0-9-]*")
# The flag is parsed as "<protocols>:<header>=<secret>", so a secret holds none of ",:= ".
_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,}")


@dataclass(frozen=True)
class ControlKey:
    """A header name and its secret value; the secret never shows in ``repr``."""

    header: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _HEADER.fullmatch(self.header):
            raise ValueError(f"control header {self.header!r}: lower-case letters, digits and '-' only")
        if not _SECRET.fullmatch(self.secret):
            raise ValueError(
                "the Triton control secret needs at least 16 characters, all letters, digits or '._~-'"
            )

    @classmethod
    def generate(cls, header: str = DEFAULT_CONTROL_HEADER) -> ControlKey:
        """A fresh random secret (256 bits)."""
        return cls(header, secrets.token_urlsafe(32))

    @classmethod
    def configured(cls, header: str, secret: SecretStr | None) -> ControlKey | None:
        """The key of the settings ``triton_control_header`` / ``triton_control_secret``; None if unset."""
        if secret is None or not secret.get_secret_value():
            return None
        return cls(header, secret.get_secret_value())

    def grpc_headers(self) -> dict[str, str]:
        """gRPC metadata of a restricted call."""
        return {GRPC_HEADER_PREFIX + self.header: self.secret}

    def http_headers(self) -> dict[str, str]:
        """HTTP headers of a restricted call."""
        return {self.header: self.secret}

    def server_args(self) -> list[str]:
        """The tritonserver flags that restrict ``RESTRICTED_PROTOCOLS`` to this key."""
        rule = f"{','.join(RESTRICTED_PROTOCOLS)}:{self.header}={self.secret}"
        return [f"--grpc-restricted-protocol={rule}", f"--http-restricted-api={rule}"]
