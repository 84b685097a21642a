"""The suite as a wheel installs it: built from the working tree, installed (not editable) in a fresh virtual
environment, a service started from there answers its dashboard, its API documentation and its readiness."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from hoinhap import local
from shared.database import psql_params
from tests.infra import Infra, with_database

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str | Path, cwd: Path) -> None:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"


def working_tree(into: Path) -> Path:
    """A copy of the checkout's files (tracked, and new ones git does not ignore), so building leaves it untouched."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding the wheel; its dependencies are this environment's (a `.pth` file)."""
    work = tmp_path_factory.mktemp("packaging")
    source = working_tree(work / "source")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", ".", "-w", work / "wheels", cwd=source)
    [wheel] = (work / "wheels").glob("hoinhap-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel, cwd=work)
    target = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(target) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def own_database(infra: Infra) -> Iterator[str]:
    """A database of the test's own: the service's outbox relay must not publish the shared suite's rows."""
    name = f"hoinhap_wheel_{uuid.uuid4().hex[:8]}"
    asyncio.run(_sql(infra.database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(infra.database_url, name)
    finally:
        asyncio.run(_sql(infra.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(**psql_params(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def reporting(
    installed: Path,
    own_database: str,
    infra: Infra,
    service_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The reporting service run by the venv's interpreter from an empty directory (the checkout not importable)."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env |= service_env | {"DATABASE_URL": own_database, "HOINHAP_TOPIC_PREFIX": f"{infra.topic_prefix}w{cwd.name}."}
    log = cwd / "reporting.log"
    service = local.ServiceProcess("reporting", local.free_port(), env, log, python=str(installed), cwd=cwd)
    service.start()
    try:
        service.wait_ready(timeout=90)
        yield service.url
    finally:
        service.stop()


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [installed, "-c", "import hoinhap, services; print(hoinhap.__file__, services.__path__[0])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed.parent.parent) in where
    assert str(ROOT) not in where


def local_references(page: str) -> list[str]:
    """The scripts and styles a page loads, each from the service itself (a CDN answers nothing air-gapped)."""
    found = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert not [url for url in found if re.match(r"(https?:)?//", url)], found
    return found


def test_the_dashboard_and_everything_it_loads_answer_from_the_wheel(reporting: str) -> None:
    with httpx.Client(base_url=reporting, timeout=30) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200, page.text
        for url in local_references(page.text):
            assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_api_documentation_and_its_assets_answer_from_the_service_itself(
    reporting: str, page: str, asset: str
) -> None:
    with httpx.Client(base_url=reporting, timeout=30) as client:
        html = client.get(page)
        assert html.status_code == 200
        references = local_references(html.text)
        assert any(url.endswith(asset) for url in references), references
        for url in references:
            assert client.get(url).status_code == 200, url
        assert client.get("/openapi.json").status_code == 200


def test_the_service_from_the_wheel_is_ready(reporting: str) -> None:
    ready = httpx.get(f"{reporting}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["service"] == "reporting"
