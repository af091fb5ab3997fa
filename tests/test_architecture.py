"""The shape of the house, checked: no import cycles, SQL only in hub/store/, the core apart from
its adapters and observers, adapters apart from the core but for ``hub.abc``.

Imports are read from the source (ast), the lazy ones inside functions included; only imports
under ``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "adapters", "envelopes", "monitoring")
# SQL as the code writes it: statement keywords in capitals, in string literals
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW)|PRAGMA\s+\w+|BEGIN\s+(IMMEDIATE|EXCLUSIVE))\b"
)
DRIVERS = ("sqlite3", "aiosqlite", "asyncpg", "psycopg", "psycopg2", "sqlalchemy")
# composition roots: the one place of the core allowed to name an adapter (docs/architecture.md)
COMPOSITION_ROOTS = {"hub.demo"}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def imports_of(path: Path) -> list[Import]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(Import(name, target, node.lineno))
            # `from hub.pipeline import processor` imports the module hub.pipeline.processor
            found += [
                Import(name, f"{target}.{alias.name}", node.lineno)
                for alias in node.names
                if (ROOT / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists()
                or (ROOT / Path(*f"{target}.{alias.name}".split("."))).is_dir()
            ]
    return found


def all_imports() -> list[Import]:
    return [i for path in source_files() for i in imports_of(path)]


def internal(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def unit(name: str) -> str:
    """The room a module belongs to: hub.pipeline, hub.abc, adapters.smev, envelopes.codec…"""
    return ".".join(name.split(".")[:2])


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the graph, as a path that comes back to its start, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def _graph(key: object) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in all_imports():
        if not internal(i.imported):
            continue
        a, b = key(i.importer), key(i.imported)  # type: ignore[operator]
        if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
            edges.setdefault(a, set()).add(b)
    return edges


def test_no_import_cycle_between_rooms() -> None:
    assert find_cycle(_graph(unit)) is None, "packages import each other in a circle"


def test_no_import_cycle_between_modules() -> None:
    def module(name: str) -> str:
        # an import of a package means its __init__ module; keep names as they are
        return name

    edges: dict[str, set[str]] = {}
    known = {module_name(p) for p in source_files()}
    for i in all_imports():
        if i.imported in known and i.imported != i.importer:
            # importing a child from a package's __init__ is the package's own business
            if i.imported.startswith(i.importer + "."):
                continue
            edges.setdefault(module(i.importer), set()).add(module(i.imported))
    assert find_cycle(edges) is None, "modules import each other in a circle"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def _sql_in(path: Path) -> Iterator[tuple[int, str]]:
    """SQL text in string literals (docstrings aside), and calls that run SQL from a variable."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in _walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and SQL.search(node.value)
        ):
            yield node.lineno, node.value[:60]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("executemany", "executescript")
        ):
            yield node.lineno, ast.unparse(node)[:60]


def test_sql_only_in_the_store() -> None:
    offences = []
    for path in source_files():
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("hub", "store"):
            continue
        offences += [f"{relative}:{line}: {text}" for line, text in _sql_in(path)]
        offences += [
            f"{relative}:{i.line}: imports {i.imported}"
            for i in imports_of(path)
            if i.imported.split(".")[0] in DRIVERS
        ]
    assert offences == [], "SQL or a database driver outside hub/store/"


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Rows go in with INSERT INTO t (a docstring may say so)."""\n'
        "conn.execute('SELECT a FROM t')\nconn.execute(f'UPDATE t SET x = {v}')\n"
        "protocol.execute(command)\nconn.executemany(sql, rows)\n"
        "select = 'select the folder'\nSQL = 'DELETE FROM queue WHERE id = ?'\n"
    )
    assert [line for line, _ in _sql_in(sample)] == [2, 3, 5, 7]
    assert len(list(_sql_in(ROOT / "hub" / "store" / "sql.py"))) > 40  # the real thing


@pytest.mark.parametrize(
    ("importer", "forbidden", "why"),
    [
        ("envelopes", ("hub", "adapters", "monitoring"), "the envelope library stands alone"),
        ("hub", ("adapters", "monitoring"), "the core finds adapters and observers by name"),
    ],
)
def test_layers(importer: str, forbidden: tuple[str, ...], why: str) -> None:
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.importer.split(".")[0] == importer
        and unit(i.importer) not in COMPOSITION_ROOTS
        and i.imported.split(".")[0] in forbidden
    ]
    assert offences == [], why


def test_adapters_know_only_hub_abc() -> None:
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.importer.startswith("adapters.")
        and i.imported.split(".")[0] in ("hub", "monitoring")
        and i.imported != "hub.abc"
    ]
    assert offences == [], "an adapter gets what it needs of the hub through its context"


# GOST R 34.10/34.11-2012 and certificates: the SMEV adapter's, shared with MEDO's detached CMS
# signatures (decision 0022) rather than written twice
SHARED_ADAPTER_LIBRARIES = ("adapters.smev.crypto", "adapters.smev.errors")


def test_adapters_do_not_know_each_other() -> None:
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.importer.startswith("adapters.")
        and i.imported.startswith("adapters.")
        and unit(i.importer) != unit(i.imported)
        and not i.imported.startswith(SHARED_ADAPTER_LIBRARIES)
    ]
    assert offences == []


def test_no_module_holds_too_much() -> None:
    """A module over ~700 lines is a sign it holds more than one concept; the few that are one
    concept say so here, with the reason."""
    one_concept = {
        # the SMEV 3 simulator's server: the six operations over one set of queues
    }
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in source_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 750
        and str(path.relative_to(ROOT)) not in one_concept
    ]
    assert long == []


def test_the_api_is_an_extension_of_the_core() -> None:
    """The core never imports the HTTP API (``hub serve`` finds it as an extension); only the
    command line, the API itself, the managers' page (served by it) and the demo (the
    composition of the whole product) do."""
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.imported.startswith("hub.api")
        and not i.importer.startswith(("hub.api", "hub.cli", "hub.ui"))
        and unit(i.importer) not in COMPOSITION_ROOTS
    ]
    assert offences == []


def test_the_page_is_a_plug_in_of_the_api() -> None:
    """Nothing imports the managers' page: the API server finds it (entry point ``hub.pages``)."""
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.imported.startswith("hub.ui") and not i.importer.startswith("hub.ui")
        and unit(i.importer) not in COMPOSITION_ROOTS
    ]  # fmt: skip
    assert offences == []


def test_the_api_client_needs_no_server() -> None:
    """``hub send --url`` on a department's machine loads the client, not the web framework."""
    server_side = ("fastapi", "starlette", "uvicorn")
    offences = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for name in ("client", "models")
        for i in imports_of(ROOT / "hub" / "api" / f"{name}.py")
        if i.imported.split(".")[0] in server_side
        or (i.imported.startswith("hub.api.") and i.imported not in ("hub.api.models",))
    ]
    assert offences == []
