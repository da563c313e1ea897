"""kombu's Redis transport, with its delivery and acknowledgement bookkeeping made cheaper per message.

Three changes, each a subclass because kombu has no setting for them:

- **One client per channel.** kombu builds a new ``redis.Redis`` object for every QoS append and
  ack (``Channel.conn_or_acquire`` calls ``_create_client()`` each time), and redis-py's
  constructor registers some two hundred response callbacks: about a tenth of a worker's CPU per
  job in our profile. The client is thread-safe (each command checks a connection out of the
  channel's pool), so one per channel does.
- **Acknowledgements per event-loop turn.** An ack removes the message from the unacked hash
  and index, one MULTI/EXEC pipeline each: a seventh of the worker's GIL time at 64 jobs in flight.
  Celery runs acks on its event loop, and a micro-batch's jobs finish together, so the acks of one
  loop turn are removed in one pipeline at the end of the turn (``Hub.on_tick``). A worker killed
  before that leaves them in the unacked hash: they come back after the visibility timeout and
  find their jobs finished, the redelivery a late ack always allows. Without an event loop (a
  plain ``drain_events`` consumer) acks go out one by one, as kombu does.
- **Several messages per fetch.** kombu's consumer takes one message per ``BRPOP`` and records
  it in the unacked hash and index with one MULTI/EXEC of its own (``QoS.append``, a tenth of the
  worker's GIL time), so a worker pays two round trips per job. Here, once ``BRPOP`` returns a
  message, one Lua script records it and takes as many more from the same list as the prefetch
  window allows, recording each in the same atomic step: a message taken in bulk is never out of
  both the queue and the unacked hash. Delivery to Celery is unchanged, one message at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from queue import Empty
from typing import Any

from kombu.transport import redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

logger = logging.getLogger(__name__)

TRANSPORT = f"{__name__}:Transport"
"""What ``broker_transport`` names to use this transport for a ``redis://`` broker URL."""

MAX_MESSAGES_PER_FETCH = 64
"""Upper bound of one fetch when the consumer has no prefetch limit."""

# KEYS: the queue's list, the unacked hash, the unacked index. ARGV: the time, how many more to
# take, then the messages already taken (by BRPOP). Each message is recorded as kombu's
# QoS.append records it: [payload, exchange, routing_key] under its delivery tag, scored by time.
_TAKE_AND_RECORD = """
local now, more = ARGV[1], tonumber(ARGV[2])
local items = {}
for i = 3, #ARGV do items[#items + 1] = ARGV[i] end
if more > 0 then
  local taken = redis.call('RPOP', KEYS[1], more)
  if taken then
    for _, item in ipairs(taken) do items[#items + 1] = item end
  end
end
for _, item in ipairs(items) do
  local properties = cjson.decode(item)['properties']
  local info = properties['delivery_info']
  local tag = properties['delivery_tag']
  redis.call('ZADD', KEYS[3], now, tag)
  redis.call('HSET', KEYS[2], tag,
    '[' .. item .. ',' .. cjson.encode(info['exchange']) .. ',' .. cjson.encode(info['routing_key']) .. ']')
end
return items
"""


class QoS(redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._acked: list[str] = []
        self._acked_lock = threading.Lock()
        self._recorded: set[str] = set()

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag in self._recorded:  # taken by take_and_record: already in the unacked hash
            self._recorded.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]
            return
        super().append(message, delivery_tag)  # type: ignore[no-untyped-call]

    def take_and_record(self, queue_key: bytes, first: bytes) -> list[dict[str, Any]]:
        """``first`` (just taken by BRPOP) and up to the prefetch window's room more from the same
        list, each recorded as unacknowledged in one atomic step; their payloads, oldest first."""
        room = self.can_consume_max_estimate()  # type: ignore[no-untyped-call]
        more = (MAX_MESSAGES_PER_FETCH if room is None else min(room, MAX_MESSAGES_PER_FETCH)) - 1
        with self.channel.conn_or_acquire() as client:
            items = self._take_script(
                keys=[queue_key, self.unacked_key, self.unacked_index_key],
                args=[time.time(), max(more, 0), first],
                client=client,
            )
        payloads = [loads(bytes_to_str(item)) for item in items]  # type: ignore[no-untyped-call]
        self._recorded.update(payload["properties"]["delivery_tag"] for payload in payloads)
        return payloads

    @cached_property
    def _take_script(self) -> Any:
        with self.channel.conn_or_acquire() as client:
            return client.register_script(_TAKE_AND_RECORD)

    def ack(self, delivery_tag: str) -> None:
        if not getattr(self.channel.connection, "acks_per_turn", False):
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
            return
        with self._acked_lock:
            self._acked.append(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    def flush_acks(self) -> None:
        """Remove the acknowledged messages of this turn from the unacked hash and index at once."""
        with self._acked_lock:
            tags, self._acked = self._acked, []
        if not tags:
            return
        try:
            with self.pipe_or_acquire() as pipe:
                pipe.zrem(self.unacked_index_key, *tags).hdel(self.unacked_key, *tags).execute()
        except Exception as exc:  # Redis away: the messages come back once and find their jobs done
            logger.warning("could not acknowledge %d messages (%s); they will be redelivered", len(tags), exc)

    def restore_unacked_once(self, stderr: Any = None) -> Any:
        self.flush_acks()
        return super().restore_unacked_once(stderr)  # type: ignore[no-untyped-call]


class Channel(redis.Channel):
    QoS = QoS

    @cached_property
    def _shared_client(self) -> Any:
        return self._create_client()  # type: ignore[no-untyped-call]

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._shared_client

    def _brpop_read(self, **options: Any) -> bool:
        """kombu's read of a BRPOP reply, then the rest of the fetch (``QoS.take_and_record``)."""
        if self.global_keyprefix or not isinstance(self.qos, QoS):
            return bool(super()._brpop_read(**options))  # type: ignore[no-untyped-call]
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # the next poll reconnects, as kombu does
                raise
            if not reply:
                raise Empty()
            queue_key, first = reply
            dest = bytes_to_str(queue_key).rsplit(self.sep, 1)[0]  # type: ignore[no-untyped-call]
            self._queue_cycle.rotate(dest)
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu's own read leaves it
            self._flush_brpop_reauth()  # type: ignore[no-untyped-call]
        for payload in self.qos.take_and_record(queue_key, first):
            self.connection._deliver(payload, dest)
        return True


class Transport(redis.Transport):
    Channel = Channel
    acks_per_turn = False
    """True once an event loop flushes the acks of each turn."""

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)  # type: ignore[no-untyped-call]
        loop.on_tick.add(self._flush_acks)
        self.acks_per_turn = True

    def _flush_acks(self) -> None:
        for channel in list(self.channels):
            qos = channel._qos
            if isinstance(qos, QoS):
                qos.flush_acks()
