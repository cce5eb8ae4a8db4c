"""Moved: this lives in ``pydcap.trust.memo`` (edit it there). This module re-exports it for code written before the
move, and goes away once nothing imports it."""

from pydcap.trust.memo import PkiMemo

__all__ = ["PkiMemo"]
