"""One-line renderings and decoding of job events (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

from event_bus.consumer import decode_record, format_event
from hybrid_core.schemas import ErrorOut, JobEvent


def _event(**changes: object) -> JobEvent:
    base = JobEvent(
        job_id="abc123",
        status="succeeded",
        model="ets",
        version="2",
        arm="canary",
        series_count=3,
        timings_s={"total_s": 0.5, "infer_s": 0.25, "queue_s": 1.0, "preprocess_s": 0.125},
        result_path="/v1/jobs/abc123",
        finished_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def test_decode_record_returns_event_and_key_when_value_is_a_job_event() -> None:
    event = _event()

    received = decode_record(0, 7, event.encoded_key, event.encoded_value)

    assert received.key == "abc123"
    assert received.event == event
    assert (received.partition, received.offset, received.error) == (0, 7, None)


def test_decode_record_returns_error_when_value_is_not_a_job_event() -> None:
    received = decode_record(1, 2, b"k", b'{"hello": 1}')

    assert received.event is None
    assert received.error is not None and "not a JobEvent" in received.error


def test_decode_record_returns_error_when_value_is_missing() -> None:
    assert decode_record(0, 0, None, None).error is not None


def test_format_event_lists_fields_and_known_timings_first_when_succeeded() -> None:
    line = format_event(decode_record(0, 0, b"abc123", _event().encoded_value))

    assert line == (
        "2026-01-02T03:04:05+00:00 abc123 succeeded model=ets version=2 arm=canary series=3 "
        "preprocess_s=0.125 infer_s=0.250 total_s=0.500 queue_s=1.000"
    )


def test_format_event_appends_error_when_failed() -> None:
    event = _event(status="failed", timings_s={}, error=ErrorOut(code="invalid_input", message="bad"))

    line = format_event(decode_record(0, 0, b"abc123", event.encoded_value))

    assert line.endswith("series=3 error=invalid_input: bad")


def test_format_event_names_position_when_record_is_undecodable() -> None:
    line = format_event(decode_record(4, 9, b"k", b"garbage"))

    assert line.startswith("4:9 key=k undecodable (not a JobEvent")
