"""The package surface: verification needs no HTTP or database stack; lazy exports resolve."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pydcap


def test_importing_pydcap_does_not_load_the_io_stack() -> None:
    code = "import sys, pydcap; print(any(m in sys.modules for m in ('sqlalchemy', 'httpx', 'starlette')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lazy_exports_resolve() -> None:
    from pydcap.cache import CollateralService
    from pydcap.sources import PcsClient

    assert pydcap.CollateralService is CollateralService
    assert pydcap.PcsClient is PcsClient
    for name in pydcap.__all__:
        assert getattr(pydcap, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = pydcap.Nope  # type: ignore[attr-defined]
