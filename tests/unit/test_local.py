"""Running the suite on one machine: the ports the test suites and the bench give their service processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hoinhap import local


def test_free_port_never_hands_out_a_port_twice() -> None:
    # The kernel offers a closed port again at once: among a few thousand picks some repeat, and two services of
    # one suite started on one port would both bind it (SO_REUSEADDR) until one of them failed to listen.
    ports = [local.free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)


class _Intake(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ready", "service": "intake"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def intake_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Intake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_waiting_for_a_service_refuses_another_one_answering_on_its_port(intake_port: int, tmp_path: Path) -> None:
    reporting = local.ServiceProcess("reporting", intake_port, {}, tmp_path / "reporting.log")
    with pytest.raises(RuntimeError, match="not as reporting"):
        reporting.wait_ready(timeout=5)
    local.ServiceProcess("intake", intake_port, {}, tmp_path / "intake.log").wait_ready(timeout=5)
