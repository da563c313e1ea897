"""A real Prometheus for the local stack and the metrics tests (Debian package ``prometheus``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from local_stack.errors import LocalStackError
from local_stack.lifecycle import Service
from local_stack.waiting import wait_until


def prometheus_binary() -> str | None:
    """Path of the ``prometheus`` binary, or None when it is not installed."""
    return shutil.which("prometheus")


def scrape_config(targets: Mapping[str, Sequence[str]], *, interval_s: float = 5.0) -> str:
    """A Prometheus config scraping ``{job: [host:port, ...]}`` (JSON, which is valid YAML)."""
    interval = f"{interval_s:g}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": list(hosts)}]}
            for job, hosts in targets.items()
        ],
    }
    return json.dumps(config, indent=2)


class PrometheusServer(Service):
    """``prometheus`` on 127.0.0.1:``port`` with its data under ``workdir``."""

    def __init__(self, config: str, port: int, workdir: Path, *, start_timeout_s: float = 30.0) -> None:
        self.config = config
        self.port = port
        self.workdir = workdir
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise LocalStackError("prometheus is not installed: run `apt-get install -y prometheus`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(self.config)
        argv = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        log = (self.workdir / "prometheus.log").open("ab")
        self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise LocalStackError(f"prometheus exited; see {self.workdir / 'prometheus.log'}")
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200

        wait_until(ready, timeout_s=self.start_timeout_s, interval_s=0.1, message="prometheus ready")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """Evaluate an instant PromQL query; raise on a query error."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise LocalStackError(f"PromQL error for {expression!r}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=15)


