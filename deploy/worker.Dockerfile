# syntax=docker/dockerfile:1
# The Celery thin-client worker: `docker build -f deploy/worker.Dockerfile .` from the repository root.
# Only the `service` extra, no torch: the worker pre/post-processes with numpy and sends the
# tensors to Triton over gRPC; the models run in the Triton container.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hybrid_core ./hybrid_core
COPY hybrid_cli ./hybrid_cli
COPY triton_client ./triton_client
COPY job_store ./job_store
COPY event_bus ./event_bus
COPY operation_server ./operation_server
COPY worker ./worker
RUN pip install '.[service]'

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HYBRID_MODEL_REPOSITORY=/models \
    HYBRID_STATE_DIR=/var/lib/hybrid \
    HYBRID_METRICS_HOST=0.0.0.0 \
    HYBRID_WORKER_METRICS_PORT=9100 \
    HYBRID_WORKER_LIVENESS_FILE=/tmp/worker-alive
RUN groupadd --system --gid 10001 hybrid \
    && useradd --system --uid 10001 --gid hybrid --home-dir /var/lib/hybrid --shell /usr/sbin/nologin hybrid \
    && install -d -o hybrid -g hybrid /var/lib/hybrid
COPY --from=builder /opt/venv /opt/venv
USER hybrid
WORKDIR /var/lib/hybrid
# Prometheus metrics of the worker process (scraped by deploy/prometheus/prometheus.yml).
EXPOSE 9100
# Liveness: the consumer's event loop touches HYBRID_WORKER_LIVENESS_FILE every 5 s while it
# consumes; a file older than 2 minutes means a stuck loop, or a broker gone for longer than the
# worker rides out (worker/liveness.py). It costs no broker round trip, unlike `inspect ping`.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD python -m worker.liveness --max-age-s 120
CMD ["hybrid-inference", "worker"]
