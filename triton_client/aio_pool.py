"""The asyncio twin of ``TritonPool``: inference over the healthy replicas, failing over.

It shares the process's ``ReplicaSet`` with the sync pool, whose thread probes health, so both
see the same replicas taken out and back. Create it inside the event loop that will use it.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError
from triton_client.aio import AsyncTritonClient
from triton_client.client import DEFAULT_INFER_TIMEOUT_S
from triton_client.codec import InferenceOutput
from triton_client.pool import failover_of, no_replica_left
from triton_client.replicas import ReplicaSet

logger = logging.getLogger(__name__)


class AsyncTritonPool:
    """Inference over every healthy replica of ``replica_set``, one aio channel each."""

    def __init__(self, replica_set: ReplicaSet, *, infer_timeout_s: float = DEFAULT_INFER_TIMEOUT_S) -> None:
        self.replica_set = replica_set
        self._clients = [AsyncTritonClient(url, infer_timeout_s=infer_timeout_s) for url in replica_set.urls]

    async def infer(
        self,
        model: str,
        batch: npt.NDArray[np.float32],
        *,
        version: str | None = None,
        input_name: str = "INPUT__0",
        output_name: str = "OUTPUT__0",
        timeout_s: float | None = None,
    ) -> InferenceOutput:
        """``AsyncTritonClient.infer`` on a healthy replica, failing over to the others."""
        tried: list[int] = []
        last: HybridError | None = None
        while (index := self.replica_set.choose(exclude=tried)) is not None:
            tried.append(index)
            try:
                with self.replica_set.request(index):
                    result = await self._clients[index].infer(
                        model,
                        batch,
                        version=version,
                        input_name=input_name,
                        output_name=output_name,
                        timeout_s=timeout_s,
                    )
            except HybridError as exc:
                retry, take_out = failover_of(exc)
                self.replica_set.failed(index, exc, take_out=take_out, retried=retry)
                if not retry:
                    raise
                logger.warning(
                    "Triton replica %s failed a call (%s); trying another", self._clients[index].url, exc.code
                )
                last = exc
                continue
            if not self.replica_set.is_healthy(index):
                self.replica_set.mark_up(index)
            return result
        raise last or no_replica_left(self.replica_set.urls)

    async def close(self) -> None:
        """Close every channel; later calls fail."""
        for client in self._clients:
            await client.close()

    async def __aenter__(self) -> AsyncTritonPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
