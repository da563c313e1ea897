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
    HYBRID_WORKER_METRICS_PORT=9100
RUN groupadd --system --gid 10001 hybrid \
    && useradd --system --uid 10001 --gid hybrid --home-dir /var/lib/hybrid --shell /usr/sbin/nologin hybrid \
    && install -d -o hybrid -g hybrid /var/lib/hybrid
COPY --from=builder /opt/venv /opt/venv
USER hybrid
WORKDIR /var/lib/hybrid
# Prometheus metrics of the worker process (scraped by deploy/prometheus/prometheus.yml).
EXPOSE 9100
# The node answers a broadcast ping through the broker: alive and consuming. Celery names the
# node celery@<hostname>, and a container's hostname is its id.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD celery -A worker.tasks:app inspect ping --destination "celery@$HOSTNAME" --timeout 10 > /dev/null
CMD ["hybrid-inference", "worker"]
