"""A pool of Triton replicas behind one ``infer()``: spread, fail over, probe health.

``TritonPool`` holds one thread-safe ``TritonClient`` per replica and the process's
``ReplicaSet``. A call goes to the healthy replica with the fewest requests in flight; when
that replica fails it in a way that a healthy replica would not (unavailable, past its deadline,
or it lacks the version: a replica that restarted and is not reconciled yet), the same call is
sent to the next healthy replica. The error surfaces only when no healthy replica is left, and
then it is the retryable one, so the job's own retry budget takes over. A background thread
probes every replica's liveness and takes back those that answer again. Liveness, not
readiness: with ``--strict-readiness`` a replica is "not ready" while it reloads a model, which
the rollout controller does to it on purpose; a replica without the version fails over anyway.

Model control (index, load, unload) is per replica: the rollout controller walks ``replicas``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError
from triton_client.client import DEFAULT_CONTROL_TIMEOUT_S, DEFAULT_INFER_TIMEOUT_S, TritonClient
from triton_client.codec import InferenceOutput
from triton_client.control import ControlKey
from triton_client.errors import TritonDeadlineExceeded, TritonModelNotFound, TritonUnavailable
from triton_client.replicas import ReplicaSet, ReplicaStatus

logger = logging.getLogger(__name__)

DEFAULT_HEALTH_INTERVAL_S = 1.0
HEALTH_PROBE_TIMEOUT_S = 2.0
"""A replica that takes longer than this to say it is live counts as down."""

T = TypeVar("T")


def failover_of(error: HybridError) -> tuple[bool, bool]:
    """``(try another replica, take this one out)`` for a failed call."""
    if isinstance(error, TritonUnavailable | TritonDeadlineExceeded):
        return True, True
    if isinstance(error, TritonModelNotFound):  # this replica lacks the version; another may hold it
        return True, False
    return False, False


def no_replica_left(urls: Sequence[str]) -> TritonUnavailable:
    return TritonUnavailable(f"no healthy Triton replica among {', '.join(urls)}")


@dataclass(frozen=True)
class Replica:
    """One replica's URL and its client (model control goes through it)."""

    index: int
    url: str
    client: TritonClient


class TritonPool:
    """Inference over every healthy replica; model control per replica; health probes."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        infer_timeout_s: float = DEFAULT_INFER_TIMEOUT_S,
        control_timeout_s: float = DEFAULT_CONTROL_TIMEOUT_S,
        control_key: ControlKey | None = None,
        health_interval_s: float = DEFAULT_HEALTH_INTERVAL_S,
    ) -> None:
        self.replica_set = ReplicaSet(urls)
        self.health_interval_s = health_interval_s
        self._clients = [
            TritonClient(
                url,
                infer_timeout_s=infer_timeout_s,
                control_timeout_s=control_timeout_s,
                control_key=control_key,
            )
            for url in urls
        ]
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._probe_pool: ThreadPoolExecutor | None = None

    @property
    def urls(self) -> list[str]:
        return self.replica_set.urls

    def replicas(self, *, healthy_only: bool = False) -> list[Replica]:
        """Every replica (or only those in the pool now), in configuration order."""
        healthy = set(self.replica_set.healthy_indexes())
        return [
            Replica(i, url, client)
            for i, (url, client) in enumerate(zip(self.urls, self._clients, strict=True))
            if not healthy_only or i in healthy
        ]

    def statuses(self) -> list[ReplicaStatus]:
        return self.replica_set.statuses()

    # -- inference -------------------------------------------------------------------------

    def infer(
        self,
        model: str,
        batch: npt.NDArray[np.float32],
        *,
        version: str | None = None,
        input_name: str = "INPUT__0",
        output_name: str = "OUTPUT__0",
        timeout_s: float | None = None,
    ) -> InferenceOutput:
        """``TritonClient.infer`` on a healthy replica, failing over to the others."""
        return self._failover(
            lambda client: client.infer(
                model,
                batch,
                version=version,
                input_name=input_name,
                output_name=output_name,
                timeout_s=timeout_s,
            )
        )

    def _failover(self, call: Callable[[TritonClient], T]) -> T:
        tried: list[int] = []
        last: HybridError | None = None
        while (index := self.replica_set.choose(exclude=tried)) is not None:
            tried.append(index)
            try:
                with self.replica_set.request(index):
                    result = call(self._clients[index])
            except HybridError as exc:
                retry, take_out = failover_of(exc)
                self.replica_set.failed(index, exc, take_out=take_out, retried=retry)
                if not retry:
                    raise
                logger.warning(
                    "Triton replica %s failed a call (%s); trying another", self.urls[index], exc.code
                )
                last = exc
                continue
            if not self.replica_set.is_healthy(index):
                self.replica_set.mark_up(index)  # it answered: back in before the next probe
            return result
        raise last or no_replica_left(self.urls)

    # -- health ----------------------------------------------------------------------------

    def is_server_ready(self) -> bool:
        """Probe every replica now; True when at least one answers."""
        self.probe()
        return bool(self.replica_set.healthy_indexes())

    def probe(self) -> None:
        """Ask every replica whether it is live (in parallel); take out or back accordingly."""
        if self._probe_pool is None:
            self._probe_pool = ThreadPoolExecutor(len(self._clients), thread_name_prefix="triton-probe")
        answers = list(
            self._probe_pool.map(lambda c: c.is_server_live(timeout_s=HEALTH_PROBE_TIMEOUT_S), self._clients)
        )
        for index, ready in enumerate(answers):
            was_healthy = self.replica_set.is_healthy(index)
            if ready and not was_healthy:
                logger.info("Triton replica %s answers again: back in the pool", self.urls[index])
                self.replica_set.mark_up(index)
            elif not ready and was_healthy:
                logger.warning("Triton replica %s does not answer: taken out of the pool", self.urls[index])
                self.replica_set.mark_down(index, "liveness probe failed")

    def start_probing(self) -> None:
        """Probe every ``health_interval_s`` in a daemon thread until ``close()``."""
        if self._prober is not None:
            return
        self._prober = threading.Thread(target=self._probe_loop, name="triton-health", daemon=True)
        self._prober.start()

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.health_interval_s):
            try:
                self.probe()
            except Exception:  # the prober must outlive any one bad probe
                logger.exception("Triton health probe failed")

    def close(self) -> None:
        """Stop probing and close every channel."""
        self._stop.set()
        if self._prober is not None:
            self._prober.join(timeout=HEALTH_PROBE_TIMEOUT_S * 2 + self.health_interval_s)
        if self._probe_pool is not None:
            self._probe_pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.close()

    def __enter__(self) -> TritonPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
