"""The portal's import graph, read from the source with `ast` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def portal_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PORTAL.rglob("*.py") if "migrations" not in p.parts}


def _imported(node: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The portal modules one import statement names (`from portal.x import y` names portal.x.y when
    that is a module, else portal.x)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found = set()
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            if sub in modules:
                found.add(sub)
            elif node.module in modules:
                found.add(node.module)
        return found
    return set()


def import_graph() -> dict[str, set[str]]:
    """Every portal module -> the portal modules it imports, at the top or inside a function (a cycle
    dodged by a function-level import is still a cycle). Imports only for type checkers are left out."""
    modules = portal_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        graph[name] = {
            target
            for node in ast.walk(tree)
            if id(node) not in type_only
            for target in _imported(node, modules)
            if target != name
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == WHITE and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE and (cycle := visit(start)):
            return cycle
    return None
