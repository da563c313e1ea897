"""``hybrid-inference events`` without a broker (no servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybrid_cli.main import main
from hybrid_core.settings import get_settings


@pytest.fixture
def no_kafka_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("HYBRID_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("no_kafka_settings")
def test_events_exits_with_message_when_kafka_is_not_configured(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["events"])

    assert status == 2
    assert "HYBRID_KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
