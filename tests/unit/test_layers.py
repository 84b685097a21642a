"""The layers of the code, read from its import statements (those under `if TYPE_CHECKING:` and inside functions
included): the CLI (`hoinhap/`) and `bench/` on top (the bench may use the tests' infrastructure), the services
below them, `shared/` at the bottom; a service never imports another service, and no modules import each other in a
circle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "shared", "hoinhap", "bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the packages that ship or run, migrations included, by dotted name."""
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imported(path: Path, known: set[str]) -> Iterator[str]:
    """The modules of `known` (and any top-level name) that the file imports, each once per statement."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (packages' `__init__` included: importing a.b runs a's)."""
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        targets = set()
        for target in imported(path, known):
            parts = target.split(".")
            targets |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        edges[name] = {t for t in targets if t != name} - {"services"}
    return edges


def _service(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Imports that break the layering."""
    wrong = []
    for module, targets in edges.items():
        top, service = module.split(".")[0], _service(module)
        for target in targets:
            other = target.split(".")[0]
            if top != "bench" and other in {"tests", "bench"}:
                wrong.append(f"{module} imports {target}: nothing that ships imports the tests or the bench")
            elif top in {"services", "shared"} and other == "hoinhap":
                wrong.append(f"{module} imports {target}: the CLI is the top floor")
            elif top == "shared" and other == "services":
                wrong.append(f"{module} imports {target}: shared/ is below the services")
            elif service and _service(target) not in {None, service}:
                wrong.append(f"{module} imports {target}: services never import each other")
    return sorted(wrong)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_services_shared_and_the_cli_keep_their_floors() -> None:
    assert violations(graph()) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("module", "target", "rule"),
    [
        ("services.intake.api", "services.facility.db", "services never import each other"),
        ("services.reporting.app", "hoinhap.cli", "the CLI is the top floor"),
        ("shared.runtime", "services.intake.models", "shared/ is below the services"),
        ("shared.api", "hoinhap.local", "the CLI is the top floor"),
        ("hoinhap.cli", "tests.infra", "nothing that ships imports the tests"),
    ],
)
def test_an_import_across_the_floors_is_found(module: str, target: str, rule: str) -> None:
    edges = graph()
    edges[module] = edges[module] | {target}
    assert any(v.startswith(f"{module} imports {target}") and rule in v for v in violations(edges))


def test_a_circle_is_found_even_through_a_type_checking_import(tmp_path: Path) -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared.runtime import Runtime\n"
    (tmp_path / "m.py").write_text(source)
    edges = graph()
    edges["shared.runtime"] = edges["shared.runtime"] | {"shared.parking"}
    edges["shared.parking"] = edges["shared.parking"] | set(imported(tmp_path / "m.py", set(edges)))
    assert ["shared.parking", "shared.runtime"] in cycles(edges)
