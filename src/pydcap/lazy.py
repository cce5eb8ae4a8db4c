"""For the hot paths of parsing and verification: ``computed_once``, ``functools.cached_property`` without its lock;
``maker``, a frozen dataclass's ``__init__`` at less cost; and ``remember``, the bound of the small memos they keep.

Before Python 3.12, ``cached_property`` takes a lock on every first access, which costs more than most of the
values it computes here (a certificate's names, dates, digest). The values are pure functions of immutable
input, so two threads racing at worst compute one twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, Generic, Self, TypeVar, overload

K = TypeVar("K")
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


def remember(table: dict[K, T], key: K, value: T, limit: int) -> T:
    """``table[key] = value``, emptied first when it already holds ``limit`` entries; returns ``value``. The bound of
    a small memo whose entries are as cheap to make again as to track by use (an LRU's bookkeeping would cost more)."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value


def maker(cls: type[T]) -> Callable[..., T]:
    """What the frozen dataclass ``cls``'s ``__init__`` does with every field given (in order, or by name), at a
    fraction of its cost, which every quote verified pays on some eighty fields: the generated ``__init__`` goes
    through ``object.__setattr__`` for each field. The instance is made as a draft of ``cls`` (a class with the same
    bases and slots, but without the frozen ``__setattr__``), filled by plain assignments, then given its class:
    Python allows that between classes whose instances are laid out alike. An instance with a ``__dict__`` gets one
    that shares its keys with every other made here, as instances of one class do. For classes without
    ``__post_init__``."""
    if hasattr(cls, "__post_init__") or not is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass (slotted or not) without __post_init__")
    names = [f.name for f in fields(cls)]
    namespace: dict[str, Any] = {"__setattr__": object.__setattr__, "__module__": cls.__module__}
    if "__slots__" in vars(cls):
        namespace["__slots__"] = vars(cls)["__slots__"]
    draft = type(f"{cls.__name__}Draft", cls.__bases__, namespace)
    scope: dict[str, Any] = {"_new": object.__new__, "_draft": draft, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    made = _new(_draft)"]
    lines += [f"    made.{name} = {name}" for name in names]
    exec("\n".join([*lines, "    made.__class__ = _cls", "    return made"]), scope)  # the code above, for cls
    return scope["make"]  # type: ignore[no-any-return]
