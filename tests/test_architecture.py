"""The layers hold: no import circles in ``app/`` and ``crypto/``, and no import upwards.

Every module belongs to one layer, from the bottom: ``crypto``, pure helpers, the database
module, models, services, the web's infrastructure, the two apps, and the entry points (the
factory, the CLI, the servers). A module imports only from its own layer or those below it,
so services and models import only services, models, the database module, pure helpers and
``crypto``. A module that no layer names fails the check: a new package must be placed.

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
# Lowest first. A name stands for the module and everything below it; "app" is the factory.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crypto", ("crypto",)),
    ("helpers", ("app.memo",)),
    ("database", ("app.db",)),
    ("models", ("app.models",)),
    ("services", ("app.services",)),
    (
        "web",
        (
            "app.config",
            "app.devserver",
            "app.errors",
            "app.extensions",
            "app.form_choices",
            "app.health",
            "app.i18n",
            "app.logging_setup",
            "app.migrate",
            "app.resources",
            "app.security",
            "app.urls",
            "app.web",
        ),
    ),
    ("apps", ("app.public", "app.console")),
    (
        "entry",
        (
            "app",
            "app.cli",
            "app.gunicorn_hooks",
            "app.gunicorn_worker",
            "app.main",
            "app.migrations",
            "app.serving",
        ),
    ),
)
# Code of these layers runs in the CLI, the importer and both apps: no request, no app. The
# database module alone binds a session to the request, for the layers above it.
NO_FLASK = ("crypto", "helpers", "models", "services")
# The two apps are built apart: neither imports the other's views.
APART = ("app.public", "app.console")


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


def _within(name: str, prefix: str) -> bool:
    if prefix == "app":
        return name == "app"
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> int | None:
    """The index of the layer whose longest name covers ``name``, or None."""
    best: tuple[int, int] | None = None
    for index, (_layer, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(name, prefix) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def unplaced(graph: dict[str, set[str]]) -> list[str]:
    return sorted(name for name in graph if layer_of(name) is None)


def imports_upwards(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher layer, of flask below the web, across the apps."""
    ours = graph.keys()
    found = []
    for name, imported_modules in graph.items():
        level = layer_of(name)
        if level is None:
            continue
        for imported in imported_modules:
            if imported in ours or imported.split(".")[0] in PACKAGES:
                target = layer_of(imported)
                if target is not None and target > level:
                    found.append(f"{name} imports {imported} ({LAYERS[target][0]})")
                apps = [a for a in APART if _within(name, a) or _within(imported, a)]
                if len(apps) == 2 and not (_within(name, apps[0]) and _within(imported, apps[0])):
                    found.append(f"{name} imports {imported} (the other app)")
            elif LAYERS[level][0] in NO_FLASK and (
                imported == "flask" or imported.startswith("flask.")
            ):
                found.append(f"{name} imports {imported} (web)")
    return sorted(set(found))


def test_no_import_circles():
    assert circles(import_graph(ROOT, PACKAGES)) == []


def test_every_module_has_a_layer():
    assert unplaced(import_graph(ROOT, PACKAGES)) == []


def test_no_module_imports_a_higher_layer():
    assert imports_upwards(import_graph(ROOT, PACKAGES)) == []


def test_the_checks_see_a_late_circle_an_upward_import_and_an_unplaced_module(tmp_path):
    package = tmp_path / "app"
    for folder in ("services", "models", "security", "public", "console", "stray"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "services" / "a.py").write_text("from app.services import b\n")
    # A circle closed by an import inside a function, through a relative import.
    (package / "services" / "b.py").write_text("def f():\n    from . import a\n")
    (package / "services" / "c.py").write_text(
        "from flask import g\nfrom app.security.sanitize import clean\n"
    )
    (package / "security" / "sanitize.py").write_text("import flask\n")
    (package / "models" / "m.py").write_text("def f():\n    from app.services import c\n")
    (package / "public" / "v.py").write_text("import app.console.w\n")
    (package / "console" / "w.py").write_text("from app.services import a\n")
    graph = import_graph(tmp_path, ("app",))
    assert circles(graph) == [["app.services.a", "app.services.b"]]
    assert imports_upwards(graph) == [
        "app.models.m imports app.services.c (services)",
        "app.public.v imports app.console.w (the other app)",
        "app.services.c imports app.security.sanitize (web)",
        "app.services.c imports flask (web)",
    ]
    assert unplaced(graph) == ["app.stray"]


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
