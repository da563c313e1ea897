"""Per-replica metrics of a process's Triton pool (label ``replica``: its gRPC host:port).

Every process that holds a pool (API, worker) exports these on its own ``/metrics``; the
replica label stays bounded by the configured URLs.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REPLICA_REQUESTS = Counter(
    "hybrid_triton_replica_requests_total", "Inference requests sent to each Triton replica.", ["replica"]
)
REPLICA_ERRORS = Counter(
    "hybrid_triton_replica_errors_total",
    "Inference requests a Triton replica failed, by our error code.",
    ["replica", "code"],
)
REPLICA_IN_FLIGHT = Gauge(
    "hybrid_triton_replica_requests_in_flight",
    "Inference requests sent to a replica and unanswered.",
    ["replica"],
)
REPLICA_HEALTHY = Gauge(
    "hybrid_triton_replica_healthy", "1 while a replica is in the pool, 0 while it is taken out.", ["replica"]
)
REPLICA_FAILOVERS = Counter(
    "hybrid_triton_replica_failovers_total",
    "Requests retried on another replica after this one failed them.",
    ["replica"],
)
