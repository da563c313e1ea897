# kombu ships no type hints: its calls are untyped here, as in hybrid_core/kombu_redis.py.
# mypy: disable-error-code="no-untyped-call"
"""Our kombu Redis transport against a real Redis: several messages per fetch, each recorded as
unacknowledged before it is delivered, and restorable as kombu's own records are."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.message import Message
from kombu.messaging import Consumer, Producer

from hybrid_core.kombu_redis import TRANSPORT

pytestmark = pytest.mark.integration


@pytest.fixture
def queue_name() -> str:
    return f"kombu-test-{uuid.uuid4().hex}"


@pytest.fixture
def connection(redis_url: str) -> Iterator[Connection]:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        yield conn


def _publish(connection: Connection, queue: Queue, bodies: list[str]) -> None:
    with connection.channel() as channel:
        producer = Producer(channel)
        for body in bodies:
            producer.publish(body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])


def _text(message: Message) -> str:
    body = message.body
    return body.decode() if isinstance(body, bytes) else str(body)


def _consume(connection: Connection, queue: Queue, prefetch: int) -> tuple[Consumer, list[Message]]:
    received: list[Message] = []
    consumer = Consumer(connection.default_channel, [queue], callbacks=[lambda _, m: received.append(m)])
    consumer.qos(prefetch_count=prefetch)
    consumer.consume()
    return consumer, received


def test_fetch_takes_up_to_the_prefetch_window_and_records_each_when_messages_wait(
    connection: Connection, redis_url: str, queue_name: str
) -> None:
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    _publish(connection, queue, [f"m{i}" for i in range(5)])
    consumer, received = _consume(connection, queue, prefetch=3)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    qos = connection.default_channel.qos

    connection.drain_events(timeout=2)

    assert [_text(m) for m in received] == ["m0", "m1", "m2"]  # one fetch: the whole window, in order
    assert client.llen(queue_name) == 2
    unacked = set(client.hkeys(qos.unacked_key))
    assert {m.delivery_tag for m in received} <= unacked
    for message in received:
        message.ack()
    assert not {m.delivery_tag for m in received} & set(client.hkeys(qos.unacked_key))

    connection.drain_events(timeout=2)
    assert [_text(m) for m in received[3:]] == ["m3", "m4"]
    for message in received[3:]:
        message.ack()
    consumer.cancel()


def test_unacked_message_comes_back_intact_when_restored_from_a_bulk_record(
    connection: Connection, redis_url: str, queue_name: str
) -> None:
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    _publish(connection, queue, ["first", "second"])
    consumer, received = _consume(connection, queue, prefetch=2)
    connection.drain_events(timeout=2)
    assert [_text(m) for m in received] == ["first", "second"]
    consumer.cancel()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.llen(queue_name) == 0

    # As the visibility timeout does for a dead worker's messages: kombu reads our record back.
    qos = connection.default_channel.qos
    for message in received:
        qos.restore_by_tag(message.delivery_tag)

    assert not set(client.hkeys(qos.unacked_key)) & {m.delivery_tag for m in received}
    assert client.llen(queue_name) == 2
    with Connection(redis_url, transport=TRANSPORT) as another:  # the worker that takes them over
        again, redelivered = _consume(another, queue, prefetch=2)
        another.drain_events(timeout=2)
        assert sorted(_text(m) for m in redelivered) == ["first", "second"]
        assert {m.delivery_tag for m in redelivered} == {m.delivery_tag for m in received}
        for message in redelivered:
            message.ack()
        again.cancel()
