"""Moved: this lives in ``pydcap.trust.lru`` (edit it there). This module re-exports it for code written before the
move, and goes away once nothing imports it."""

from pydcap.trust.lru import BoundedCache

__all__ = ["BoundedCache"]
