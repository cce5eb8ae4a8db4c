"""``computed_once``: ``functools.cached_property`` without its lock, for the hot paths of parsing and verification.

Before Python 3.12, ``cached_property`` takes a lock on every first access, which costs more than most of the
values it computes here (a certificate's names, dates, digest). The values are pure functions of immutable
input, so two threads racing at worst compute one twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar, overload

T = TypeVar("T")


class computed_once(Generic[T]):
    """A method computed on first access and then stored in the instance's ``__dict__`` under its own name."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | Self:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value
