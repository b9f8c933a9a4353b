"""One registry helper: things chosen by name (policies, trace loaders, export targets,
API routers), each kept in an explicit :class:`Registry` whose unknown-name error lists the
valid names (STYLE.md habit 3).

It sits beside :mod:`gpufleet.errors` in the innermost ring: it imports nothing of ours but
the error tree, so every layer may keep its own registries with it.

>>> colours = Registry[int]("colour")
>>> _ = colours.add("red", 1)
>>> colours.get("red")
1
>>> colours.get("blue")
Traceback (most recent call last):
...
gpufleet.errors.UnknownNameError: unknown colour 'blue'; valid names: red
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from gpufleet.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind, in the order they were added.

    Adding a name twice is a programming error (two modules claiming one name), so it raises
    ``ValueError`` at import time rather than letting the later one win silently."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@loaders.register("philly-2017")``."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._entries)) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
