"""No module imports upward: the runtime imports nothing of the service, and the layered parts
of the service import each other in one direction only (read from the source with ``ast``, so
the test sees every import, including ones inside functions and behind ``TYPE_CHECKING``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lower layers first; a part may import only parts listed before it (and itself). Every part of
# the service is placed: docs/architecture.md explains the order, one line per part.
LAYERS = [
    ["actors"],
    ["protocol", "strict_json", "logs", "asgi_shield", "openrouter", "sessions", "redis_link"],
    ["catalog", "simulator", "tools", "telemetry"],
    ["admission", "transform", "fetch"],
    ["media"],
    ["config"],
    ["instance_lock", "storage", "logsink", "workers"],
    ["writebehind"],
    ["persistence"],
    ["chat"],
    ["context", "bench", "installer", "console", "front"],
    ["service_metrics", "service_operations"],
    ["service"],
    ["worker_pool"],
    ["cli"],
    ["__main__"],
]
UNCHECKED = {"shim", "__init__"}  # the shim runs inside Open WebUI: imports nothing


def _part(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("").parts
    return "actors" if relative[0] == "actors" else relative[1]


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """The top-level parts ``path`` imports, with the line of each import."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "actors":
                yield "actors", node.lineno
            elif parts[0] == "pipe_service" and len(parts) > 1:
                yield parts[1], node.lineno


def _sources() -> list[Path]:
    runtime = ROOT.joinpath("actors").rglob("*.py")
    return sorted([*runtime, *ROOT.joinpath("pipe_service").rglob("*.py")])


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in _sources():
        source = _part(path)
        if source in UNCHECKED:
            continue
        for target, _ in _imports(path):
            if target != source and target not in UNCHECKED:
                edges.setdefault(source, set()).add(target)
    return edges


def test_the_actor_runtime_imports_nothing_of_the_service() -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in ROOT.joinpath("actors").rglob("*.py")
        for target, line in _imports(path)
        if target != "actors"
    ]
    assert upward == []


def test_every_part_of_the_service_has_a_layer() -> None:
    placed = {part for layer in LAYERS for part in layer}
    parts = {_part(path) for path in _sources()} - UNCHECKED
    assert parts - placed == set(), "add the new part to LAYERS in this test"


def test_no_part_imports_a_part_above_it() -> None:
    rank = {part: index for index, layer in enumerate(LAYERS) for part in layer}
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in _sources()
        if _part(path) not in UNCHECKED
        for target, line in _imports(path)
        if target not in UNCHECKED and rank[target] > rank[_part(path)]
    ]
    assert upward == []


def test_there_are_no_import_cycles_between_parts() -> None:
    edges = _edges()
    cycles: list[list[str]] = []

    def visit(part: str, trail: list[str]) -> None:
        for target in sorted(edges.get(part, ())):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif len(trail) < len(edges) + 1:
                visit(target, [*trail, target])

    for start in sorted(edges):
        visit(start, [start])
    assert cycles == []
