"""How the code hangs together: blueprints import shared modules, never each other, and no
module imports itself back through others. Read from the source with ast (imports inside
functions count too), so a lazy import cannot hide a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "portal"


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ("portal", *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> set[str]:
    """The portal modules `module` imports, anywhere in it."""
    imported = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module).split(".")
                base = base[:len(base) - node.level + 1]
                if node.module:
                    base += node.module.split(".")
            else:
                base = (node.module or "").split(".")
            prefix = ".".join(base)
            # `from package import name`: a submodule if there is one, else the package.
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix
                     for a in node.names]
        else:
            continue
        imported.update(name for name in names if name in MODULES)
    imported.discard(module)
    return imported


def _blueprint_packages() -> set[str]:
    return {name for name, path in MODULES.items()
            if path.name == "__init__.py" and "Blueprint(" in path.read_text(encoding="utf-8")}


def _blueprint_of(module: str, blueprints: set[str]) -> str | None:
    return next((b for b in blueprints if module == b or module.startswith(b + ".")), None)


def test_the_blueprints_are_found():
    assert {"portal.advisor", "portal.auth", "portal.call", "portal.citizen",
            "portal.health", "portal.netcheck", "portal.pages"} <= _blueprint_packages()


def test_no_blueprint_imports_another_blueprint():
    blueprints = _blueprint_packages()
    crossings = []
    for module in MODULES:
        home = _blueprint_of(module, blueprints)
        if home is None:
            continue
        for imported in _imports(module):
            other = _blueprint_of(imported, blueprints)
            if other is not None and other != home:
                crossings.append(f"{module} imports {imported}")
    assert crossings == [], "shared rules belong in a shared module (e.g. portal/access.py)"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    # A package's __init__ importing its own submodules registers them (a blueprint's routes,
    # create_app's blueprints); that they import the package back is how packages work.
    graph = {module: {m for m in _imports(module)
                      if not (MODULES[module].name == "__init__.py"
                              and m.startswith(module + "."))}
             for module in MODULES}
    assert _cycles(graph) == []


def test_the_checks_see_a_crossing_and_a_cycle():
    """The two checks above would notice what they guard against."""
    assert "portal.access" in _imports("portal.call.routes")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    blueprints = _blueprint_packages()
    assert _blueprint_of("portal.citizen.waiting_room", blueprints) == "portal.citizen"
