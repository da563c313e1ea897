# syntax=docker/dockerfile:1
# The REST API (operation_server): `docker build -f deploy/api.Dockerfile .` from the repository root.
# Only the `service` extra: the API enqueues jobs and reads results, it never runs a model.
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
    HYBRID_API_HOST=0.0.0.0 \
    HYBRID_API_PORT=8080
RUN groupadd --system --gid 10001 hybrid \
    && useradd --system --uid 10001 --gid hybrid --home-dir /var/lib/hybrid --shell /usr/sbin/nologin hybrid \
    && install -d -o hybrid -g hybrid /var/lib/hybrid
COPY --from=builder /opt/venv /opt/venv
USER hybrid
WORKDIR /var/lib/hybrid
EXPOSE 8080
# Liveness only (/healthz); compose gates dependants on /readyz, which also needs Triton.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HYBRID_API_PORT', '8080'), timeout=4)"
CMD ["hybrid-inference", "api"]
