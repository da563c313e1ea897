"""kombu's Redis transport, with its acknowledgement bookkeeping made cheaper per message.

Two changes, each a subclass because kombu has no setting for them:

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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.transport import redis, virtual

logger = logging.getLogger(__name__)

TRANSPORT = f"{__name__}:Transport"
"""What ``broker_transport`` names to use this transport for a ``redis://`` broker URL."""


class QoS(redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._acked: list[str] = []
        self._acked_lock = threading.Lock()

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
