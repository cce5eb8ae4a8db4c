"""The error tree drawn in ``pydcap/errors.py``'s docstring is the code's: every ``PydcapError`` subclass pydcap
defines, under its parent, and nothing else; bad data and no data are two families."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pydcap
from pydcap import errors
from pydcap.errors import CollateralError, CollateralUnavailableError, PydcapError

_BRANCH = re.compile(r"^((?:│   |    )*)(?:├── |└── )(\w+)")


def _drawn() -> list[tuple[int, str]]:
    """(depth, name) of each class in the docstring's drawing, in order; the root at depth 0."""
    doc = errors.__doc__ or ""
    lines = doc[doc.index("\nPydcapError\n") + 1 :].splitlines()
    drawn = [(0, lines[0].strip())]
    for line in lines[1:]:
        match = _BRANCH.match(line)
        if match is None:
            break
        drawn.append((len(match.group(1)) // 4 + 1, match.group(2)))
    return drawn


def _defined() -> list[tuple[int, str]]:
    """(depth, name) of every PydcapError subclass defined in pydcap, depth-first in the drawing's order: each
    class under its first base that is a PydcapError, siblings in the order the drawing gives them."""
    for module in pkgutil.walk_packages(pydcap.__path__, "pydcap."):
        if module.name != "pydcap.__main__":
            importlib.import_module(module.name)
    order: dict[tuple[str, ...], int] = {}  # the drawing's position of each class, by its path from the root
    path: list[str] = []
    for i, (depth, name) in enumerate(_drawn()):
        path[depth:] = [name]
        order[tuple(path)] = i
    found: list[tuple[int, str]] = []

    def visit(cls: type[PydcapError], above: tuple[str, ...]) -> None:
        here = (*above, cls.__name__)
        found.append((len(above), cls.__name__))
        children = [
            c
            for c in cls.__subclasses__()
            if c.__module__.startswith("pydcap.") and next(b for b in c.__bases__ if issubclass(b, PydcapError)) is cls
        ]
        for child in sorted(children, key=lambda c: (order.get((*here, c.__name__), len(order)), c.__name__)):
            visit(child, here)

    visit(PydcapError, ())
    return found


def test_the_drawn_tree_is_the_code() -> None:
    drawn, defined = _drawn(), _defined()
    assert len(drawn) > 50, "the drawing was not found in pydcap/errors.py's docstring"
    missing = sorted({n for _, n in defined} - {n for _, n in drawn})
    assert not missing, f"draw these in pydcap/errors.py's docstring: {missing}"
    assert drawn == defined


def test_names_end_in_error_but_for_answers_named_after_external_codes() -> None:
    from pydcap.attest import AttestError
    from pydcap.pccs import PccsError
    from pydcap.provider import ProviderError

    _defined()  # every module imported
    named_after_codes = (ProviderError, PccsError, AttestError)
    seen: list[type[PydcapError]] = []
    todo: list[type[PydcapError]] = [PydcapError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__.startswith("pydcap."))
    wrong = sorted(
        f"{c.__module__}.{c.__name__}"
        for c in seen
        if not c.__name__.endswith("Error") and not issubclass(c, named_after_codes)
    )
    assert not wrong, f"name these ...Error: {wrong}"


def test_bad_data_and_no_data_are_two_families() -> None:
    from pydcap.cache import OutdatedCollateralError, UntrustedCollateralError
    from pydcap.sources import CollateralNotFoundError, TlsVerificationError, UpstreamUnreachableError

    for bad in (UntrustedCollateralError, OutdatedCollateralError):
        assert issubclass(bad, CollateralError) and not issubclass(bad, CollateralUnavailableError)
    for none in (CollateralNotFoundError, UpstreamUnreachableError, TlsVerificationError):
        assert issubclass(none, CollateralUnavailableError) and not issubclass(none, UntrustedCollateralError)
    assert pydcap.CollateralUnavailableError is CollateralUnavailableError
    assert pydcap.UntrustedCollateralError is UntrustedCollateralError
