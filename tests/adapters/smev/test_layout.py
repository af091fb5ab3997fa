"""The shape of adapters/smev: which part may import which, and no import cycles.

Read from the source (the AST), not by importing it; imports under ``if TYPE_CHECKING:`` do not
count (they never run). The parts: ``errors``/``parsing`` (the base), ``crypto``, ``protocol``,
the adapter (``adapter``, ``conversion``, ``polling``, ``settings``, the package itself), ``cli``
and ``simulator``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "adapters.smev"

# part -> the parts it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "crypto": {"base"},
    "protocol": {"base", "crypto"},
    "adapter": {"base", "crypto", "protocol"},
    "cli": {"base", "crypto"},
    "simulator": {"base", "crypto"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "adapters" / "smev").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _part(module: str) -> str:
    rest = module.removeprefix(PACKAGE).lstrip(".")
    head = rest.split(".", 1)[0]
    if head in ("crypto", "protocol", "simulator", "cli"):
        return head
    if head in ("errors", "parsing"):
        return "base"
    return "adapter"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (anything under ``if TYPE_CHECKING:`` is skipped)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child)


def _targets(statement: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules a statement imports (``from pkg import submodule`` names the submodule)."""
    if isinstance(statement, ast.Import):
        yield from (alias.name for alias in statement.names)
        return
    assert statement.level == 0, "relative imports are not used in adapters/smev"
    base = statement.module or ""
    for alias in statement.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in MODULES else base


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        edges[name] = {target for s in _imports(tree) for target in _targets(s)}
    return edges


EDGES = _edges()


def test_each_part_imports_only_the_parts_below_it() -> None:
    wrong = [
        f"{module} ({_part(module)}) imports {target} ({_part(target)})"
        for module, targets in EDGES.items()
        for target in targets
        if target.startswith(PACKAGE + ".") or target == PACKAGE
        if _part(target) != _part(module) and _part(target) not in ALLOWED[_part(module)]
    ]
    assert not wrong, "\n".join(wrong)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    graph = {m: {t for t in targets if t in MODULES and t != m} for m, targets in EDGES.items()}
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_import_cycle_between_parts() -> None:
    graph: dict[str, set[str]] = {}
    for module, targets in EDGES.items():
        for target in targets:
            if target in MODULES and _part(target) != _part(module):
                graph.setdefault(_part(module), set()).add(_part(target))
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_from_outside_only_hub_abc_and_envelopes() -> None:
    """From the hub only hub.abc; never another adapter (email, internal) or monitoring."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in EDGES.items()
        for target in targets
        if target.split(".")[0] in ("hub", "monitoring")
        or target.startswith(("adapters.email", "adapters.internal"))
        if target != "hub.abc"
    ]
    assert not wrong, "\n".join(wrong)
