"""A real Prometheus (Debian's `prometheus` package) scraping this run's service processes with the deploy rules.

Its configuration is deploy/prometheus/prometheus.yml with the compose targets swapped for this run's ports and
the intervals shortened, so the test reads the same jobs, labels and rules as production.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from hoinhap import local

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


def config_for(targets: dict[str, str], own_address: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml scraping `targets` (service name -> host:port) every second."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / pattern) for pattern in config["rule_files"]]
    config.pop("alerting", None)  # no Alertmanager here: the tests read the alerts from Prometheus
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            service = static.get("labels", {}).get("service")
            static["targets"] = [targets[service] if service else own_address]
    return config


@dataclass
class Prometheus:
    workdir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, targets: dict[str, str]) -> Prometheus:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not found: install Debian's `prometheus` package (.ci/run does)")
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(config_for(targets, f"127.0.0.1:{self.port}")))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready within {timeout:.0f}s; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def query(self, expr: str, by: str = "service") -> dict[str, float]:
        """An instant query through the HTTP API: each series' value, keyed by its label `by`."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get("/api/v1/query", params={"query": expr})
        response.raise_for_status()
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in response.json()["data"]["result"]}

    async def firing(self) -> set[tuple[str, str]]:
        """(alert name, service) of every alert that fires now."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get("/api/v1/alerts")
        response.raise_for_status()
        return {
            (a["labels"]["alertname"], a["labels"].get("service", ""))
            for a in response.json()["data"]["alerts"]
            if a["state"] == "firing"
        }


def start(targets: dict[str, str], log: Path) -> Prometheus:
    """A Prometheus of its own (port, data directory) scraping `targets`; `stop` it, then `local.remove` its workdir."""
    workdir = local.scratch_dir("hoinhap-test-prometheus-")
    return Prometheus(workdir, local.free_port(), log).start(targets)
