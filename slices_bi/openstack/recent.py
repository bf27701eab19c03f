"""Answers of the cloud kept for a short time, shared by the threads of a process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

T = TypeVar("T")


class Recent(Generic[T]):
    """`load()`'s answer per key, kept for `ttl` seconds when `keep(answer)`; an error raised
    by `load` is never kept, so a fixed cloud is seen at the next try."""

    def __init__(self, ttl: float, maxsize: int = 1024) -> None:
        self._answers: TTLCache[Hashable, T] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, load: Callable[[], T], keep: Callable[[T], bool] = lambda _: True
    ) -> T:
        with self._lock:
            found = self._answers.get(key)
        if found is not None:
            return found
        value = load()
        if keep(value):
            with self._lock:
                self._answers[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
