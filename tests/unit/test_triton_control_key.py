"""The control key: the tritonserver flags it makes, the headers clients send, and its settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hybrid_core.settings import Settings
from triton_client.control import GRPC_HEADER_PREFIX, RESTRICTED_PROTOCOLS, ControlKey

SECRET = "s3cret-Value_with.dots~0123"


def test_server_args_restrict_admin_protocols_when_built() -> None:
    grpc, http = ControlKey("hybrid-control-key", SECRET).server_args()
    rule = "model-repository,shared-memory,logging,trace:hybrid-control-key=" + SECRET
    assert grpc == f"--grpc-restricted-protocol={rule}"
    assert http == f"--http-restricted-api={rule}"
    assert "inference" not in RESTRICTED_PROTOCOLS and "health" not in RESTRICTED_PROTOCOLS


def test_grpc_header_carries_tritons_prefix_when_sent() -> None:
    key = ControlKey("hybrid-control-key", SECRET)
    assert key.grpc_headers() == {f"{GRPC_HEADER_PREFIX}hybrid-control-key": SECRET}
    assert key.http_headers() == {"hybrid-control-key": SECRET}


def test_repr_hides_secret_when_logged() -> None:
    assert SECRET not in repr(ControlKey("hybrid-control-key", SECRET))


@pytest.mark.parametrize("secret", ["change-me", "has:colon-0123456789", "has=equals-0123456789", "a b" * 8])
def test_control_key_raises_when_secret_short_or_breaks_flag(secret: str) -> None:
    with pytest.raises(ValueError, match="control secret"):
        ControlKey("hybrid-control-key", secret)


def test_control_key_raises_when_header_not_lower_case() -> None:
    with pytest.raises(ValueError, match="control header"):
        ControlKey("Hybrid-Key", SECRET)


def test_generated_keys_differ_when_generated_twice() -> None:
    assert ControlKey.generate().secret != ControlKey.generate().secret


def test_configured_returns_none_when_secret_unset() -> None:
    assert ControlKey.configured("hybrid-control-key", None) is None
    assert ControlKey.configured("hybrid-control-key", SecretStr("")) is None


def test_settings_read_secret_hidden_when_env_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_TRITON_CONTROL_SECRET", SECRET)
    settings = Settings()
    assert SECRET not in repr(settings)
    key = ControlKey.configured(settings.triton_control_header, settings.triton_control_secret)
    assert key == ControlKey("hybrid-control-key", SECRET)
