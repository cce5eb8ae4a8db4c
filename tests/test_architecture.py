"""The import rule of docs/architecture.md, checked on the source: imports run one way, from the command line down
to Intel's vocabulary, never back up; nothing but the command line and the demo imports the simulator; no module
cycle; no ``_private`` name imported from another package (outside ``trust`` and ``verify``, which share theirs)."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

from tests.support.imports import Import, area, cycles, imports

# The floors, lowest first: a part imports only itself and the floors below it.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "exports", "jsonc", "lazy"),
    ("pki", "quote"),  # formats: certificates, CRLs, quotes
    ("intel",),  # Intel's words
    ("collateral",),  # signed documents
    ("trust",),  # authenticity of collateral under a root
    ("results",),  # what verification returns
    ("policy",),  # whether to trust a result
    ("verify",),  # Intel's appraisal
    ("platform", "sources"),  # I/O: quotes from the machine, collateral from services
    ("cache",),
    ("provider",),
    ("serving",),
    ("attest", "doctor", "host", "pccs", "sim"),  # services, the host API, the machine's diagnosis, the simulated Intel
    ("pydcap",),  # the package's face (it never imports the simulator: see MAY_IMPORT_SIM)
    ("demo",),
    ("cli",),
    ("__main__",),
)
FLOOR = {part: number for number, parts in enumerate(FLOORS) for part in parts}
MAY_IMPORT_SIM = {"sim", "demo", "cli"}
FACE_ONLY = {"verify"}  # other parts use the package (``pydcap.verify``), never its modules
SHARE_PRIVATE_NAMES = {"trust", "verify"}  # the verification core may reach into the formats it checks


def _violation(i: Import) -> str | None:
    source, target = area(i.importer), area(i.imported)
    if source == target:
        return None
    if source not in FLOOR or target not in FLOOR:
        return (
            f"{source if source not in FLOOR else target} has no floor: add it to FLOORS in tests/test_architecture.py"
        )
    if target == "sim" and source not in MAY_IMPORT_SIM:
        return f"only {', '.join(sorted(MAY_IMPORT_SIM - {'sim'}))} may import the simulator"
    if FLOOR[target] >= FLOOR[source]:
        return f"{source} (floor {FLOOR[source]}) may not import {target} (floor {FLOOR[target]})"
    if target in FACE_ONLY and i.imported != f"pydcap.{target}":
        return f"{target}'s modules are its own: import pydcap.{target}"
    return None


@cache
def _all_imports() -> list[Import]:
    return sorted(imports())


def test_every_part_has_a_floor() -> None:
    parts = {area(i.importer) for i in _all_imports()} | {area(i.imported) for i in _all_imports()}
    assert parts <= set(FLOOR), f"parts without a floor in FLOORS: {sorted(parts - set(FLOOR))}"


def test_imports_run_one_way() -> None:
    wrong = [
        f"  {i.importer} (line {i.line}) imports {i.imported}: {why}"
        for i in _all_imports()
        if (why := _violation(i)) is not None
    ]
    assert not wrong, "imports against the rule of docs/architecture.md:\n" + "\n".join(wrong)


def test_no_module_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for i in _all_imports():
        if i.imported != i.importer:
            edges[i.importer].add(i.imported)
    assert cycles(edges) == []


def _private_uses(found: list[Import]) -> list[str]:
    return [
        f"{i.importer} (line {i.line}) uses {i.name} of {i.imported}"
        for i in found
        if i.name is not None
        and i.name.startswith("_")
        and not i.name.startswith("__")
        and area(i.importer) != area(i.imported)
        and area(i.importer) not in SHARE_PRIVATE_NAMES
    ]


def test_no_private_name_from_another_package() -> None:
    private = _private_uses(_all_imports())
    assert not private, "\n".join(private)


def test_a_private_name_is_seen_imported_or_through_its_module(tmp_path: Path) -> None:
    package = tmp_path / "pydcap"
    for part in ("cache", "pccs"):
        (package / part).mkdir(parents=True)
        (package / part / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "cache" / "store.py").write_text("_engine = None\n_shared = None\n")
    (package / "pccs" / "service.py").write_text(
        "from pydcap.cache.store import _engine\n"
        "from pydcap.cache import store\n"
        "import pydcap.cache.store as kept\n"
        "store._shared, kept._engine, store.__name__\n"
    )
    assert sorted(_private_uses(list(imports(tmp_path)))) == [
        "pydcap.pccs.service (line 1) uses _engine of pydcap.cache.store",
        "pydcap.pccs.service (line 4) uses _engine of pydcap.cache.store",
        "pydcap.pccs.service (line 4) uses _shared of pydcap.cache.store",
    ]


def test_tests_import_helpers_from_support_never_a_conftest_or_a_test_module() -> None:
    """Only pytest imports a conftest, and a test module is no library: what tests share lives in tests/support."""
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                last = name.rpartition(".")[2]
                if last == "conftest" or last.startswith("test_"):
                    wrong.append(f"{path.relative_to(tests.parent)}:{node.lineno} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_a_fixture_name_has_one_meaning() -> None:
    """Fixtures of one name, wherever defined, give the same kind of thing (their return annotations agree, a
    generator's ``Iterator[X]`` read as ``X``; ``Any`` agrees with anything)."""
    meanings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    tests = Path(__file__).resolve().parent
    for path in sorted(tests.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                kind = ast.unparse(node.returns) if node.returns else "Any"
                if kind.startswith("Iterator[") and kind.endswith("]"):
                    kind = kind[len("Iterator[") : -1]
                meanings[node.name][kind].append(str(path.relative_to(tests)))
    several = {name: dict(kinds) for name, kinds in meanings.items() if len(set(kinds) - {"Any"}) > 1}
    assert not several, f"fixture names with several meanings: {several}"
