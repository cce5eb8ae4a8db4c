"""pydcap's import graph, read from the source with ``ast`` (every import counts: at module level, inside functions
and under ``TYPE_CHECKING``), for the architecture tests."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True, order=True)
class Import:
    """``importer`` imports ``name`` from module ``imported`` (``name`` is None for a plain ``import``)."""

    importer: str
    imported: str
    name: str | None
    line: int


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the ``pydcap`` package: dotted name -> file (a package by its ``__init__``)."""
    found = {}
    for path in sorted((src / "pydcap").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The module ``name`` refers to: itself, or the package that defines it as an attribute."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for an attribute chain over a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def imports(src: Path = SRC) -> Iterator[Import]:
    """Every import of a pydcap module, and every use of a module's ``_private`` attribute through a name bound to
    the module (``from pydcap.cache import store`` ... ``store._engine``) as an import of that name."""
    known = modules(src)
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        bound: dict[str, str] = {}  # a local name -> the pydcap module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "pydcap":
                        if alias.asname:
                            bound[alias.asname] = alias.name
                        else:
                            bound["pydcap"] = "pydcap"
                        yield Import(module, _resolve(alias.name, known), None, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                if source.split(".")[0] != "pydcap":
                    continue
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    imported = target if target in known else _resolve(source, known)
                    if target in known:
                        bound[alias.asname or alias.name] = target
                    yield Import(module, imported, alias.name, node.lineno)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                dotted = _dotted(node.value)
                if dotted is None or dotted.split(".")[0] not in bound:
                    continue
                head, _, rest = dotted.partition(".")
                name = bound[head] + (f".{rest}" if rest else "")
                if name in known:
                    yield Import(module, name, node.attr, node.lineno)


def area(module: str) -> str:
    """The part of pydcap a module belongs to: its first package or top-level module (``pydcap`` for the face)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pydcap"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)
