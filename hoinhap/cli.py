"""The `hoinhap` command: run one service, start the whole suite, write the contract's documents."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from sqlalchemy.engine import make_url

from hoinhap import local

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "shared" / "schemas"
ASYNCAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"


def run(name: str, port: int | None) -> None:
    """Run one service in this process until SIGINT or SIGTERM."""
    from shared.runtime import serve
    from shared.settings import load

    app = importlib.import_module(f"services.{name}.app")
    settings = load(importlib.import_module(f"services.{name}.settings").Settings, **({"port": port} if port else {}))
    serve(app.create_app, settings)


def up(kafka_port: int, base_port: int | None, demo_seed: int | None = None) -> int:
    """Start the broker and database unless configured, the four services, and wait for Ctrl-C or SIGTERM."""
    env = dict(os.environ)
    if missing := local.missing_embedded(env):
        for line in missing:
            print(line, file=sys.stderr)
        return 2
    workdir = local.scratch_dir("hoinhap-up-")
    started: list[local.Tansu | local.EmbeddedPostgres | local.ServiceProcess] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
            if local.port_answers("127.0.0.1", kafka_port):
                print(f"port {kafka_port} is taken; choose another with --kafka-port", file=sys.stderr)
                return 2
            tansu = local.Tansu(kafka_port, workdir / "tansu.log").start()
            started.append(tansu)
            env["KAFKA_BOOTSTRAP_SERVERS"] = tansu.bootstrap_servers
        if not env.get("DATABASE_URL"):
            pg = local.EmbeddedPostgres(workdir / "pgdata").start()
            started.append(pg)
            env["DATABASE_URL"] = pg.url
        generated = {
            k: secrets.token_urlsafe(24)
            for k in ("HOINHAP_ADMIN_TOKEN", "HOINHAP_INTAKE_SUBJECT_KEY")
            if not env.get(k)
        }
        env.update(generated)

        from shared.kafka import ensure_topics
        from shared.settings import ServiceSettings
        from shared.topics import TopicPolicy

        shared = ServiceSettings(**env)  # type: ignore[arg-type]  # by the variables' names, as the services read them
        asyncio.run(ensure_topics(shared.kafka_bootstrap_servers, shared.topic_prefix, 3, TopicPolicy.of(shared)))
        services = [
            local.ServiceProcess(name, (base_port + i) if base_port else port, env, workdir / f"{name}.log")
            for i, (name, port) in enumerate(local.SERVICES.items())
        ]
        for service in services:
            started.append(service.start())
        for service in services:
            service.wait_ready()
        _print_started(env, services, generated, workdir)
        if demo_seed is not None:
            from hoinhap.demo import load, where_to_look

            urls = {s.name: s.url for s in services}
            asyncio.run(load(urls, env["HOINHAP_ADMIN_TOKEN"], demo_seed, DEMO_SCALE, DEMO_FIRST_YEAR))
            print(where_to_look(urls, env["HOINHAP_ADMIN_TOKEN"]), flush=True)
        while not stop.wait(0.5):
            if failed := [s.name for s in services if s.process is not None and s.process.poll() is not None]:
                print(f"stopped: {', '.join(failed)} exited; see the logs in {workdir}", file=sys.stderr)
                return 1
        return 0
    finally:
        print("stopping...", flush=True)
        for part in reversed(started):
            part.stop()
        local.remove(workdir)


def _print_started(
    env: dict[str, str], services: Sequence[local.ServiceProcess], generated: dict[str, str], workdir: Path
) -> None:
    print("Hòa Nhập is running:")
    for s in services:
        print(f"  {s.name:<10} {s.url}   (OpenAPI: {s.url}/docs, metrics: {s.url}/metrics)")
    print(f"  kafka      {env['KAFKA_BOOTSTRAP_SERVERS']}")
    print(f"  database   {make_url(env['DATABASE_URL']).render_as_string(hide_password=True)}")
    if "HOINHAP_ADMIN_TOKEN" in generated:
        print(f"  admin token (national operator, for this run only): {generated['HOINHAP_ADMIN_TOKEN']}")
    print(f"  logs       {workdir}")
    print("Press Ctrl-C to stop.", flush=True)


DEMO_SCALE, DEMO_FIRST_YEAR = 0.03, 2016


def demo(base_port: int | None, seed: int, scale: float, first_year: int) -> int:
    """Load the demonstration data into a suite that is already running (`hoinhap up`)."""
    from hoinhap.demo import load, where_to_look

    token = os.environ.get("HOINHAP_ADMIN_TOKEN")
    if not token:
        print("set HOINHAP_ADMIN_TOKEN to the token `hoinhap up` printed", file=sys.stderr)
        return 2
    ports = {name: (base_port + i) if base_port else port for i, (name, port) in enumerate(local.SERVICES.items())}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    people = asyncio.run(load(urls, token, seed, scale, first_year))
    print(f"{len(people)} people, {sum(len(p.episodes) for p in people)} episodes")
    print(where_to_look(urls, token))
    return 0


def write_schemas(check: bool) -> int:
    """Write (or with --check, compare) the JSON Schema of each event type and the suite's AsyncAPI document."""
    from hoinhap.contract import asyncapi_document, event_schemas

    expected = {CONTRACT_DIR / f"{name}.json": schema for name, schema in event_schemas().items()}
    expected[ASYNCAPI_PATH] = asyncapi_document()
    stale = []
    for path, document in expected.items():
        text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"out of date: {path}; run `hoinhap schemas`", file=sys.stderr)
    return 1 if stale else 0


def publish(path: Path, agency: str, skip_invalid: bool, dry_run: bool, facility_url: str | None) -> int:
    """Check every row of `path`; send the events unless a row is bad (or `skip_invalid`)."""
    from hoinhap.publish import PublishFileError, check, registered_facilities, send

    try:
        registered = registered_facilities(facility_url, _agency_token()) if facility_url else None
        events, errors = check(path, f"/vn/agency/{agency}", registered)
    except PublishFileError as error:
        print(error, file=sys.stderr)
        return 2
    for problem in errors:
        print(problem, file=sys.stderr)
    print(f"{path}: {len(events)} valid rows, {len(errors)} errors")
    if registered is None:
        print("facility ids not checked against the registry (give --facility-url to check them)")
    if errors and not skip_invalid:
        print("nothing sent; fix the rows above, or pass --skip-invalid to send the valid ones", file=sys.stderr)
        return 1
    if dry_run or not events:
        return 1 if errors else 0
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"
    asyncio.run(send(bootstrap, os.environ.get("HOINHAP_TOPIC_PREFIX", ""), events))
    print(f"sent {len(events)} events to {bootstrap}")
    return 1 if errors else 0


def _agency_token() -> str:
    return os.environ.get("HOINHAP_TOKEN") or os.environ.get("HOINHAP_ADMIN_TOKEN") or ""


def load_facilities(path: Path, url: str) -> int:
    """Register or update every facility in a CSV or JSON file, through the facility service's API."""
    from hoinhap.facilities import RegistryFileError, load

    token = os.environ.get("HOINHAP_TOKEN") or os.environ.get("HOINHAP_ADMIN_TOKEN")
    if not token:
        print("set HOINHAP_TOKEN to an agency token (or HOINHAP_ADMIN_TOKEN)", file=sys.stderr)
        return 2
    try:
        loaded = load(path, url, token)
    except RegistryFileError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{loaded.registered} facilities registered, {loaded.replaced} already registered (updated if changed)")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hoinhap", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('hoinhap')}")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run one service in the foreground")
    run_cmd.add_argument("service", choices=sorted(local.SERVICES))
    run_cmd.add_argument("--port", type=int, help="HTTP port (default: the service's own)")
    up_cmd = commands.add_parser("up", help="start the whole suite on this machine")
    up_cmd.add_argument("--kafka-port", type=int, default=9092, help="port of the embedded broker")
    up_cmd.add_argument("--base-port", type=int, help="ports base..base+3 instead of 8001-8004")
    up_cmd.add_argument("--demo", action="store_true", help="load the demonstration data once the suite is up")
    demo_cmd = commands.add_parser("demo", help="load demonstration data into a running suite (HOINHAP_ADMIN_TOKEN)")
    demo_cmd.add_argument("--base-port", type=int, help="the suite's ports are base..base+3")
    demo_cmd.add_argument("--seed", type=int, default=42, help="same seed, same data")
    demo_cmd.add_argument("--scale", type=float, default=DEMO_SCALE, help="share of the provinces' real volumes")
    demo_cmd.add_argument("--first-year", type=int, default=DEMO_FIRST_YEAR)
    schemas_cmd = commands.add_parser("schemas", help="write the event JSON Schemas and the AsyncAPI document")
    schemas_cmd.add_argument("--check", action="store_true", help="fail if the committed files are out of date")
    reporting_cmd = commands.add_parser("reporting", help="operate the reporting service")
    reporting_cmd.add_argument(
        "action", choices=["rebuild"], help="rebuild: replay the topics into fresh views and swap them in"
    )
    reporting_cmd.add_argument(
        "--accept-truncated",
        action="store_true",
        help="swap the views in even when the topics no longer hold every record (deleted, or would expire)",
    )
    topics_cmd = commands.add_parser("topics", help="check how long the topics keep their records")
    topics_cmd.add_argument(
        "action",
        choices=["check", "fix"],
        help="check: print each topic's retention, exit 1 if a topic of the contract would expire records; "
        "fix: make those keep their records for ever",
    )
    publish_cmd = commands.add_parser(
        "publish", help="check a CSV, Excel (.xlsx) or JSON-lines file of records and publish it"
    )
    publish_cmd.add_argument("file", type=Path)
    publish_cmd.add_argument("--agency", default="spreadsheet", help="agency slug for the events' source")
    publish_cmd.add_argument("--skip-invalid", action="store_true", help="send the valid rows of a file with errors")
    publish_cmd.add_argument("--dry-run", action="store_true", help="check only")
    publish_cmd.add_argument(
        "--facility-url", help="check facility ids against this facility service's registry (token: HOINHAP_TOKEN)"
    )
    facilities_cmd = commands.add_parser("facilities", help="manage the facility registry")
    facilities_load = facilities_cmd.add_subparsers(dest="action", required=True).add_parser(
        "load", help="register or update the facilities of a CSV or JSON file (token: HOINHAP_TOKEN)"
    )
    facilities_load.add_argument("file", type=Path)
    facilities_load.add_argument("--url", default="http://127.0.0.1:8002", help="the facility service")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.service, args.port)
    elif args.command == "up":
        sys.exit(up(args.kafka_port, args.base_port, 42 if args.demo else None))
    elif args.command == "demo":
        sys.exit(demo(args.base_port, args.seed, args.scale, args.first_year))
    elif args.command == "publish":
        sys.exit(publish(args.file, args.agency, args.skip_invalid, args.dry_run, args.facility_url))
    elif args.command == "schemas":
        sys.exit(write_schemas(args.check))
    elif args.command == "reporting":
        from services.reporting.write.rebuild import main as rebuild

        sys.exit(rebuild(accept_truncated=args.accept_truncated))
    elif args.command == "topics":
        from hoinhap.topics import main as topics

        sys.exit(topics(args.action))
    elif args.command == "facilities":
        sys.exit(load_facilities(args.file, args.url))
