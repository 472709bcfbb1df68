"""The layers hold: no import circles in ``app/`` and ``crypto/``, and no web code below the views.

The import graph is read with ``ast`` from the source (imports inside functions count too: a
circle that only works because one side imports late is still a circle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "crypto")
# Services and models are used by the CLI, the importer and both apps: no request, no app.
LOWER_LAYERS = ("app.services", "app.models")
WEB_MODULES = ("flask", "app.web", "app.disclosures", "app.public", "app.console", "app.cli")


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    names = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module ``name`` imports (ours and third-party), as dotted names."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from app.services import units`` imports the module ``app.services.units``.
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = module_names(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative: the graph is deep enough to matter for recursion.
        work = [(start, iter(sorted(graph[start] & graph.keys())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor] & graph.keys()))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def web_imports_below_views(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{name} imports {imported}"
        for name, imported_modules in graph.items()
        if name.startswith(LOWER_LAYERS)
        for imported in imported_modules
        if any(imported == web or imported.startswith(web + ".") for web in WEB_MODULES)
    )


def test_no_import_circles():
    assert circles(import_graph(ROOT, PACKAGES)) == []


def test_services_and_models_import_no_web_code():
    assert web_imports_below_views(import_graph(ROOT, PACKAGES)) == []


def test_the_checks_see_a_late_circle_and_a_flask_import(tmp_path):
    package = tmp_path / "app"
    (package / "services").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "services" / "__init__.py").write_text("")
    (package / "services" / "a.py").write_text("from app.services import b\n")
    # A circle closed by an import inside a function, through a relative import.
    (package / "services" / "b.py").write_text("def f():\n    from . import a\n")
    (package / "services" / "c.py").write_text(
        "from flask import g\nimport app.public.search.views\n"
    )
    graph = import_graph(tmp_path, ("app",))
    assert circles(graph) == [["app.services.a", "app.services.b"]]
    assert web_imports_below_views(graph) == [
        "app.services.c imports app.public.search.views",
        "app.services.c imports flask",
    ]


def test_create_all_builds_the_search_table_from_the_models_alone(tmp_path):
    # A fresh interpreter that imports the models and nothing else: the schema is complete.
    script = (
        "import sqlite3, sys\n"
        "from sqlalchemy import create_engine\n"
        "from app.db import Base\n"
        "import app.models\n"
        "assert not [m for m in sys.modules if m.startswith('app.services')], 'services loaded'\n"
        f"Base.metadata.create_all(create_engine('sqlite:///{tmp_path / 'db.sqlite3'}'))\n"
        f"names = sqlite3.connect('{tmp_path / 'db.sqlite3'}').execute(\n"
        "    \"SELECT name FROM sqlite_master WHERE type = 'table'\").fetchall()\n"
        "print(sorted(n for (n,) in names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "'disclosure_search'" in done.stdout and "'disclosures'" in done.stdout
