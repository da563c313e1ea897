"""kombu's Redis transport with one shared client per channel for its acknowledgement bookkeeping.

kombu builds a new ``redis.Redis`` object for every QoS append and ack (``Channel.conn_or_acquire``
calls ``_create_client()`` each time), and redis-py's constructor registers some two hundred
response callbacks: about a tenth of a worker's CPU per job in our profile. The client is
thread-safe (each command checks a connection out of the channel's pool), so one per channel does.
kombu has no setting for this; a subclass is the smallest change that keeps its behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.transport import redis

TRANSPORT = f"{__name__}:Transport"
"""What ``broker_transport`` names to use this transport for a ``redis://`` broker URL."""


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self) -> Any:
        return self._create_client()  # type: ignore[no-untyped-call]

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._shared_client


class Transport(redis.Transport):
    Channel = Channel
